import OutboxConfig
import OutboxDrop
import OutboxSpool
import Testing

@testable import OutboxDelivery

@Suite("rate windows: message_rate_limit and user_rate_limit")
struct LimitCoreTests {
    @Test("RateWindow: a start waits for the count-th latest finish plus the unit; in-flight messages block")
    func rateWindow() {
        var w = RateWindow(count: 2, unit: 1)
        #expect(w.earliestStart(now: 0) == 0)
        let a = w.start()
        let b = w.start()
        #expect(w.earliestStart(now: 0.1) == nil, "both in flight")
        w.finish(b, at: 0.2)
        #expect(w.earliestStart(now: 0.3) == 1.2, "a in flight counts as latest; the 2nd latest is b's 0.2")
        w.finish(a, at: 0.5)
        #expect(w.earliestStart(now: 0.6) == 1.2)
        let c = w.start()
        #expect(w.earliestStart(now: 1.3) == 1.5, "c in flight: the 2nd latest is a's 0.5")
        w.cancel(c)
        #expect(w.earliestStart(now: 1.3) == 1.3)
    }

    @Test("RateWindow keeps every window of the unit within the count however the finishes interleave")
    func rateWindowProperty() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            var w = RateWindow(count: 3, unit: 1)
            var now = 0.0
            var inFlight: [(ticket: Int, ends: Double, arrives: Double)] = []
            var arrivals: [Double] = []
            while arrivals.count + inFlight.count < 40 {
                // Up to 4 concurrent senders; transfers of 0-0.5 s; the server sees a
                // message somewhere inside its transfer.
                inFlight.sort { $0.ends < $1.ends }
                if let first = inFlight.first, inFlight.count == 4 || w.earliestStart(now: now) == nil {
                    now = max(now, first.ends)
                    w.finish(first.ticket, at: first.ends)
                    arrivals.append(first.arrives)
                    inFlight.removeFirst()
                    continue
                }
                now = max(now, w.earliestStart(now: now)!)
                let length = Double.random(in: 0...0.5, using: &generator)
                inFlight.append((w.start(), now + length, now + Double.random(in: 0...length, using: &generator)))
                now += Double.random(in: 0...0.05, using: &generator)
            }
            arrivals += inFlight.map(\.arrives)
            arrivals.sort()
            #expect(arrivals.indices.dropLast(3).allSatisfy { arrivals[$0 + 3] - arrivals[$0] >= 1 - 1e-9 }, "\(arrivals)")
        }
    }

    @Test("RateWindow parks a backlog count to a unit, in the order first parked; in flight bounds a unit away")
    func parkSlots() {
        var w = RateWindow(count: 2, unit: 60)
        let slots = ["A", "B", "C", "D", "E"].map { w.parkSlot(for: $0, earliest: 100, now: 0) }
        #expect(slots == [100, 100, 160, 160, 220])
        w.unpark("A")
        w.unpark("B")
        let c = w.parkSlot(for: "C", earliest: 160, now: 160)
        let f = w.parkSlot(for: "F", earliest: 160, now: 160)
        #expect(c == 160, "C and D lead the line now")
        #expect(f == 220, "a newcomer goes behind C, D and E")
        _ = w.start()
        _ = w.start()
        #expect(w.earliestStart(now: 10) == nil && w.earliestBound(now: 10) == 70, "both in flight: not before a unit")
    }

    /// Regression (review): parked places were not the message's, so a message parked
    /// again (after `sendmail -q`, which any user may run) queued behind itself and pushed
    /// the backlog back by a unit per count of messages each time.
    @Test("a message parked again keeps its place; places of messages that never came back are forgotten")
    func parkAgainKeepsPlace() {
        var w = RateWindow(count: 2, unit: 60)
        let first = ["A", "B", "C", "D"].map { w.parkSlot(for: $0, earliest: 100, now: 0) }
        // A flush: every parked message comes due at once and is parked again.
        let again = ["A", "B", "C", "D"].map { w.parkSlot(for: $0, earliest: 100, now: 5) }
        #expect(first == [100, 100, 160, 160] && again == first, "\(again)")
        #expect(w.parkedCount == 4)
        // None of them came back (deleted, say): long after, a newcomer leads the line.
        let e = w.parkSlot(for: "E", earliest: 1000, now: 1000)
        #expect(e == 1000 && w.parkedCount == 1)
    }

    /// Regression (review): a reload that changed message_rate_limit started an empty
    /// window, then one apart from the messages in flight.
    @Test("a changed message_rate_limit keeps counting the messages the window saw, in flight and parked")
    func relimited() {
        var w = RateWindow(count: 3, unit: 60)
        for time in [10.0, 20, 30] { w.finish(w.start(), at: time) }
        let inFlight = w.start()
        _ = w.parkSlot(for: "P", earliest: 100, now: 40)
        var fewer = w
        fewer.relimit(count: 1, unit: 30)
        #expect(fewer.earliestStart(now: 41) == nil, "the message in flight bounds the start")
        fewer.finish(inFlight, at: 45)
        #expect(fewer.earliestStart(now: 46) == 75, "its finish, plus the new unit")
        let q = fewer.parkSlot(for: "Q", earliest: 100, now: 46)
        #expect(q == 130 && fewer.parkedCount == 2, "P keeps its place ahead")
        var more = w
        more.relimit(count: 5, unit: 60)
        #expect(more.earliestStart(now: 41) == 41, "four seen, five allowed")
    }

    @Test("UserRateWindow: per uid, sliding, the refused message not counted")
    func userWindow() {
        var w = UserRateWindow(count: 2, seconds: 3600)
        let first = w.admit(0, now: 0)
        let second = w.admit(0, now: 10)
        #expect(first && second)
        let third = w.admit(0, now: 20)
        #expect(!third && w.isFull(0, now: 20))
        let other = w.admit(1000, now: 20)
        #expect(other, "another uid")
        let later = w.admit(0, now: 3600)
        #expect(later && w.isFull(0, now: 3601), "the first left the window; 10 and 3600 fill it")
        w.prune(now: 100_000)
        #expect(!w.isFull(0, now: 100_000))
    }

    /// Regression (review): adoption or hold times ahead of the clock (a clock set back,
    /// a damaged queue/monitor) kept the user held and the incident open until then.
    @Test("kept user_rate_limit times far ahead of the clock do not count")
    func futureTimes() {
        let now = 1_800_000_000
        var window = UserRateWindow(count: 1, seconds: 60, times: [1000: [now + 86400]])
        let admitted = window.admit(1000, now: now)
        let again = window.admit(1000, now: now + 1)
        #expect(admitted, "a time a day ahead is not in the window")
        #expect(!again, "the admitted one counts")
        var near = UserRateWindow(count: 1, seconds: 60, times: [1000: [now + 30]])
        let nearAdmitted = near.admit(1000, now: now)
        #expect(!nearAdmitted, "a little ahead (clock jitter) still counts")
        var bursts = RateBursts(lastHeld: [1000: now + 86400])
        bursts.endQuiet(UserRateWindow(count: 1, seconds: 60), now: now)
        #expect(bursts.isEmpty)
    }

    /// Regression (review): each counted adoption took its own number in queue/monitor,
    /// read with a 1 MiB limit: a high user_rate_limit made the whole file unreadable
    /// (counters, incidents and all).
    @Test("a user_rate_limit window of 200 000 adoptions is kept compactly, rounded up, and never costs the rest of the file")
    func compactUserRate() {
        var state = MonitorState()
        state.add("outbox_deliveries_total{status=\"sent\",dsn_class=\"2\"}", 12)
        let start = 1_800_000_000
        let times = (0..<200_000).map { start + $0 / 3 }
        state.userRateCounted = [1000: times, 1001: [start, start]]
        let text = state.encoded()
        #expect(text.utf8.count < 16384, "\(text.utf8.count) bytes")
        let back = MonitorState.decode(text)
        #expect(back.counters == state.counters)
        let kept = back.userRateCounted[1000] ?? []
        #expect(kept.count == times.count && kept.last == times.last)
        #expect(zip(kept.sorted(), times).allSatisfy { $0 >= $1 && $0 - $1 < 300 }, "rounded up, by less than a step")
        #expect(back.userRateCounted[1001] == [start, start])
        #expect(MonitorState.decode("u 1000 5*99999999999\nc x 1\n").userRateCounted.isEmpty, "a damaged count is skipped")
    }

    @Test("rates parse as N/unit with the key's units only")
    func parse() {
        let perMinute = RateLimit.parse("30/min", allowed: ["s", "min", "h"])
        #expect(perMinute?.count == 30 && perMinute?.seconds == 60 && perMinute?.description == "30/min")
        #expect(RateLimit.parse("5/s", allowed: ["s", "min", "h"])?.description == "5/s")
        for bad in ["30", "30/m", "0/s", "-1/s", "/s", "1e3/s", "30/d", "+5/s", "5/s/s", " 5/s"] {
            #expect(RateLimit.parse(bad, allowed: ["s", "min", "h"]) == nil, "\(bad)")
        }
        #expect(RateLimit.parse("100/d", allowed: ["min", "h", "d"])?.seconds == 86400)
    }
}

@Suite("a throttled route: fewer connections, a pause, and which messages wait for it")
struct RouteThrottleTests {
    @Test("each signal lowers the limit below what was open and doubles the pause; a connection comes back per 30 s")
    func signals() {
        var t = RouteThrottle()
        t.signal(now: 100, open: 4, configured: 4)
        #expect(t.limit(now: 100) == 3 && t.pause == 2 && t.pausedUntil == 102)
        t.signal(now: 101, open: 3, configured: 4)
        #expect(t.limit(now: 101) == 2 && t.pause == 4)
        #expect(t.limit(now: 131) == 3 && t.limit(now: 161) == 4)
        for _ in 0..<10 { t.signal(now: 200, open: 1, configured: 4) }
        #expect(t.limit(now: 200) == 1 && t.pause == 64, "never below one connection, never more than 64 s")
    }

    /// Regression (review): the cutoff counted signals per route and a delivery reset it,
    /// so on a busy route a message the smarthost kept throttling was retried every pause
    /// for ever. Now the message's own attempts decide.
    @Test("a message already tried 8 times takes the usual backoff even while others are delivered")
    func perMessage() {
        let work = WorkQueue()
        work.configure(limits: ["": 2, "r": 2]) { _ in "r" }
        #expect(work.throttle("r", priorAttempts: 0).retryIn == 2)
        work.delivered(on: "r")
        #expect(work.throttle("r", priorAttempts: 7).retryIn != nil)
        work.delivered(on: "r")
        let late = work.throttle("r", priorAttempts: 8)
        #expect(late.retryIn == nil && late.pause == 2, "the route still pauses; this message backs off")
    }

    /// Regression (review): after a SIGHUP a session of the replaced configuration (say a
    /// connect to the old smarthost, up to connect_timeout) marked the new route
    /// unreachable and paced it; and a route moved to another smarthost kept the old
    /// one's pacing. (The generation API is new: the old code cannot run this test.)
    @Test("what a replaced configuration's sessions learn does not stick to the new one; pacing stays only where the smarthost did")
    func generations() {
        let work = WorkQueue()
        let item = QueueItem(id: "A", envelope: DropFile(), state: DeliveryState(), path: "/nonexistent")
        work.configure(limits: ["": 1, "r": 2], generation: 1) { _ in "r" }
        work.configure(limits: ["": 1, "r": 2], generation: 2) { _ in "r" }
        work.markUnreachable("r", "connect to the old smarthost: refused", generation: 1)
        work.add([item])
        #expect(work.take(holding: nil)?.unreachable == nil)
        work.markUnreachable("r", "connect to the new smarthost: refused", generation: 2)
        work.putBack(item)
        #expect(work.take(holding: "r")?.unreachable == "connect to the new smarthost: refused")
        #expect(work.throttle("r", priorAttempts: 0, generation: 1).pause == 2, "the old session's own message still waits")
        #expect(work.throttle("r", priorAttempts: 0, generation: 2).pause == 2, "the signal of generation 1 does not count")
        work.configure(limits: ["": 1, "r": 2], generation: 3, keepPacing: []) { _ in "r" }
        #expect(work.throttle("r", priorAttempts: 0, generation: 3).pause == 2, "another smarthost: a fresh start")
        work.configure(limits: ["": 1, "r": 2], generation: 4, keepPacing: ["r"]) { _ in "r" }
        #expect(work.throttle("r", priorAttempts: 0, generation: 4).pause == 4, "the same smarthost: its pacing goes on")
    }
}

@Suite("user_rate_limit bursts")
struct RateBurstTests {
    /// Regression (review): a burst ended whenever the user's window had room, so a storm
    /// that kept going opened and recovered the user_rate incident once per window.
    @Test("a storm that goes on for hours is one burst; it ends once the window has room and nothing was held for a while")
    func sustainedStorm() {
        var window = UserRateWindow(count: 3, seconds: 60)
        var bursts = RateBursts()
        var started = 0
        var ended = 0
        // A message every 7 s for three hours, the burst bookkeeping every 5 s.
        for now in 0..<(3 * 3600) {
            if now % 7 == 0 && !window.admit(1000, now: now) && bursts.held(1000, now: now) { started += 1 }
            guard now % 5 == 0 else { continue }
            let wasEmpty = bursts.isEmpty
            bursts.endQuiet(window, now: now)
            if !wasEmpty && bursts.isEmpty { ended += 1 }
        }
        #expect(started == 1 && ended == 0)
        // The storm stops: the burst ends after the window and the quiet spell.
        for now in stride(from: 3 * 3600, to: 3 * 3600 + 120, by: 5) { bursts.endQuiet(window, now: now) }
        #expect(bursts.isEmpty)
        _ = bursts.held(1000, now: 4 * 3600)
        bursts.endQuiet(nil, now: 4 * 3600)
        #expect(bursts.isEmpty, "user_rate_limit removed by a reload: every burst ends")
    }
}

@Suite("the routes' shares of the queue window")
struct WindowShareTests {
    @Test("one route: no share; several: the window divided, counting what is due or in flight")
    func shares() {
        let single = WindowShares(windowLimit: 10, routes: 1) { Array(repeating: "", count: 10) }
        #expect(single.share == nil && single.room(for: "") == Int.max)
        var two = WindowShares(windowLimit: 10, routes: 2) { ["", "", "", "slow", "slow", "slow", "slow"] }
        #expect(two.share == 5 && two.room(for: "slow") == 1 && two.room(for: "") == 2 && two.room(for: "other") == 5)
        two.add("slow")
        #expect(two.room(for: "slow") == 0)
        two.add("slow")
        #expect(two.room(for: "slow") == 0, "never below none")
    }

    @Test("waiting lines: per route, oldest first, each route at most its room; names wait once")
    func waitingLines() {
        var disk = DiskBacklog()
        for name in ["a1", "a2", "a3"] { disk.wait(name, route: "slow") }
        disk.wait("b1", route: "")
        disk.wait("a1", route: "slow")  // already waiting: not added twice
        #expect(disk.isWaiting("a2") && disk.hasWaiting)
        let first = disk.takeWaiting { $0 == "slow" ? 2 : 0 }
        #expect(first == ["a1", "a2"] && !disk.isWaiting("a1") && disk.isWaiting("a3") && disk.isWaiting("b1"))
        let rest = disk.takeWaiting { _ in 5 }.sorted()
        #expect(rest == ["a3", "b1"] && !disk.hasWaiting, "a1 was taken once only")
        disk.wait("c1", route: "x")
        disk.forgetWaiting()
        #expect(!disk.hasWaiting && disk.mayHaveDue(now: 0), "forgotten names are found by the next scan")
    }
}

@Suite("the oldest names of many")
struct OldestNamesTests {
    @Test("the smallest `limit` names in order, whatever the order they come in")
    func oldest() {
        var generator = SystemRandomNumberGenerator()
        // Zero-padded, so that the order of the texts is the order of the numbers.
        let all = (0..<5000).map { n in String(repeating: "0", count: 4 - "\(n)".count) + "\(n)" }
        for limit in [1, 7, 100, 4999, 6000] {
            var names = OldestNames(limit: limit)
            for name in all.shuffled(using: &generator) { names.add(name) }
            let kept = names.names
            #expect(kept == Array(all.prefix(limit)), "limit \(limit)")
        }
    }
}
