import Glibc
import OutboxCore
import OutboxNet

/// The messages due now, shared by the delivery threads, with each route's connection
/// limit: a thread holds a route from the message it takes until it closes its session
/// there, and at most `max_connections` threads hold one route at a time.
final class WorkQueue: @unchecked Sendable {
    /// Guards every field below.
    private let lock = ConditionLock()
    private var due: [(item: QueueItem, route: String)] = []
    private var activeCount = 0
    private var stopping = false
    /// Per route ("" is the global settings): threads holding it, and how many may.
    private var holders: [String: Int] = [:]
    private var limits: [String: Int] = ["": .max]
    /// Routes whose smarthost asked us to slow down (see `throttle`).
    private var throttles: [String: RouteThrottle] = [:]
    private var router: @Sendable (QueueItem) -> String = { _ in "" }
    /// Routes none of whose smarthosts could be reached in this round: the rest of their
    /// mail is deferred at once.
    private var unreachable: [String: String] = [:]
    /// The configuration (Relays.generation) marks and throttle signals must come from:
    /// a session of the configuration a SIGHUP replaced still fails or is throttled for up
    /// to a connect timeout, about a smarthost the route may no longer use (found by review).
    private var generation = 0
    /// Finished items and new ones (bounces), collected for the main loop.
    private var finished: [QueueItem] = []
    private var created: [QueueItem] = []

    /// Items being delivered now.
    var active: Int { lock.withLock { activeCount } }

    /// How items map to routes and how many threads each route may have (at start and on
    /// SIGHUP). Items already due are routed again (a renamed or removed route's mail
    /// must not go out under another's settings); what a route learnt in the old
    /// configuration is forgotten: unreachable marks always, the pacing of routes that
    /// went or moved to other smarthosts (only those in `keepPacing` keep it).
    func configure(
        limits: [String: Int], generation: Int = 0, keepPacing: Set<String> = [], router: @escaping @Sendable (QueueItem) -> String
    ) {
        lock.withLock {
            self.limits = limits
            self.router = router
            self.generation = generation
            due = due.map { ($0.item, router($0.item)) }
            unreachable = [:]
            throttles = throttles.filter { limits[$0.key] != nil && keepPacing.contains($0.key) }
            lock.broadcast()
        }
    }

    /// Gives back an item taken under a route the configuration no longer has (a SIGHUP
    /// came between take() and its delivery): it is routed again and taken first.
    func putBack(_ item: QueueItem) {
        lock.withLock {
            activeCount -= 1
            due.insert((item, router(item)), at: 0)
            lock.broadcast()
        }
    }

    func add(_ items: [QueueItem]) {
        lock.withLock {
            due += items.map { ($0, router($0)) }
            unreachable = [:]
            lock.broadcast()
        }
    }

    /// The next item this thread may take, and the route it is for, or nil when
    /// stopping. `holding` is the route the thread keeps a session for: its mail comes
    /// first; taking another route's mail gives that one up (the caller closes the session).
    func take(holding: String?) -> (item: QueueItem, route: String, unreachable: String?)? {
        lock.withLock {
            while !stopping {
                if let i = eligible(holding: holding) {
                    let (item, route) = due.remove(at: i)
                    if route != holding {
                        if let h = holding { holders[h, default: 1] -= 1 }
                        holders[route, default: 0] += 1
                        lock.broadcast()
                    }
                    activeCount += 1
                    return (item, route, unreachable[route])
                }
                if let deadline = pauseDeadline() { _ = lock.wait(until: deadline) } else { lock.wait() }
            }
            return nil
        }
    }

    /// The index of the item a thread holding `holding` takes next: its own route's
    /// first, else the first whose route has a free connection and is not paused.
    private func eligible(holding: String?) -> Int? {
        if let h = holding, let i = due.firstIndex(where: { $0.route == h }) { return i }
        let now = WorkQueue.now()
        return due.firstIndex { holders[$0.route, default: 0] < limit($0.route, now: now) && (throttles[$0.route]?.pausedUntil ?? 0) <= now }
    }

    /// A route's connection limit now: max_connections, lowered while it is throttled.
    private func limit(_ route: String, now: Double) -> Int {
        let configured = limits[route, default: limits[""] ?? 1]
        return throttles[route].map { min(configured, $0.limit(now: now)) } ?? configured
    }

    /// The smarthost of `route` asked us to slow down (a 421, 432 4.3.2, 4.7.x "too
    /// many"): one connection fewer than are open now, and no new one for a pause that
    /// doubles while the signals continue (2 s up to 64 s). Returns the new limit and the
    /// pause, which is also when the message is tried again unless it has been tried
    /// `RouteThrottle.pacedAttempts` times already (nil: the usual backoff; a message the
    /// smarthost keeps refusing is not retried every minute while others go through).
    func throttle(_ route: String, priorAttempts: Int, generation: Int = 0) -> (limit: Int, pause: Int, retryIn: Int?) {
        lock.withLock {
            let now = WorkQueue.now()
            var t = throttles[route] ?? RouteThrottle()
            let open = holders[route, default: 1]
            t.signal(now: now, open: open, configured: limits[route, default: limits[""] ?? 1])
            // A signal from a replaced configuration paces only its own message.
            if generation == self.generation { throttles[route] = t }
            lock.broadcast()
            return (t.limit(now: now), t.pause, priorAttempts < RouteThrottle.pacedAttempts ? t.pause : nil)
        }
    }

    /// Whether more threads hold `route` than it may have now (it was throttled): one
    /// of them should close its session and let go.
    func isOverLimit(_ route: String) -> Bool {
        lock.withLock { holders[route, default: 0] > limit(route, now: WorkQueue.now()) }
    }

    /// A message went through on `route`: the pauses start small again.
    func delivered(on route: String) {
        lock.withLock {
            if throttles[route] != nil { throttles[route]!.consecutive = 0 }
        }
    }

    /// When the earliest pause ends, for threads waiting on paused routes only.
    private func pauseDeadline() -> timespec? {
        let now = WorkQueue.now()
        guard let until = throttles.values.map(\.pausedUntil).filter({ $0 > now }).min() else { return nil }
        return ConditionLock.deadline(after: until - now + 0.001)
    }

    static func now() -> Double { Deadline.now().seconds }

    /// The thread no longer keeps a session for `route`.
    func release(_ route: String) {
        lock.withLock {
            holders[route, default: 1] -= 1
            lock.broadcast()
        }
    }

    /// Waits up to `seconds` for something this thread may take; true when there is
    /// something or the queue is stopping (the caller then takes or ends), false on
    /// time-out.
    func waitForWork(holding: String?, seconds: Double) -> Bool {
        let deadline = ConditionLock.deadline(after: seconds)
        return lock.withLock {
            while eligible(holding: holding) == nil && !stopping {
                if !lock.wait(until: deadline) { break }
            }
            return eligible(holding: holding) != nil || stopping
        }
    }

    var isEmpty: Bool { lock.withLock { due.isEmpty } }

    /// Whether stop() was called.
    var isStopping: Bool { lock.withLock { stopping } }

    /// No smarthost of `route` could be reached by a session of configuration
    /// `generation` (ignored when a reload replaced it since).
    func markUnreachable(_ route: String, _ reason: String, generation: Int = 0) {
        lock.withLock { if generation == self.generation { unreachable[route] = reason } }
    }

    func done(_ item: QueueItem, created new: [QueueItem]) {
        lock.withLock {
            activeCount -= 1
            finished.append(item)
            created += new
            due += new.map { ($0, router($0)) }
            lock.broadcast()
        }
    }

    /// Results collected since the last call.
    func drainResults() -> (finished: [QueueItem], created: [QueueItem]) {
        lock.withLock {
            let r = (finished, created)
            finished = []
            created = []
            return r
        }
    }

    /// Blocks until nothing is due and no item is in flight.
    func waitUntilIdle() {
        lock.withLock {
            while !(due.isEmpty && activeCount == 0) { lock.wait() }
        }
    }

    /// Wakes every thread; `take` returns nil from now on (items in flight finish).
    func stop() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
    }
}

/// How a throttled route slows down and recovers (pure).
struct RouteThrottle: Equatable {
    /// The connection limit set at the last signal.
    var lowered = Int.max
    var lastSignal = 0.0
    var pausedUntil = 0.0
    /// Signals since the last delivery (the pause doubles with each).
    var consecutive = 0
    /// A connection is given back for every `recovery` seconds without a signal.
    static let recovery = 30.0
    /// A message tried this often takes the usual backoff when throttled again.
    static let pacedAttempts = 8

    var pause: Int { min(64, 1 << min(6, consecutive)) }

    mutating func signal(now: Double, open: Int, configured: Int) {
        consecutive += 1
        lowered = max(1, min(limit(now: now), open) - 1)
        lowered = min(lowered, configured)
        lastSignal = now
        pausedUntil = now + Double(pause)
    }

    func limit(now: Double) -> Int {
        guard lowered != Int.max else { return Int.max }
        let regained = Int((now - lastSignal) / RouteThrottle.recovery)
        return lowered > Int.max - regained ? Int.max : lowered + regained
    }
}
