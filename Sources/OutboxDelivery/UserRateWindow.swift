/// user_rate_limit: how many messages each submitting uid had adopted in the last
/// `seconds`; a message beyond `count` is held (pure; outboxd keeps one in memory).
public struct UserRateWindow: Equatable, Sendable {
    public let count: Int
    public let seconds: Int
    private var times: [Int: [Int]] = [:]

    /// `times`: adoption times per uid a previous run or the replaced limit counted (kept
    /// across a restart or a reload, so neither opens a fresh window: found by review).
    public init(count: Int, seconds: Int, times: [Int: [Int]] = [:]) {
        self.count = count
        self.seconds = seconds
        self.times = times.mapValues { Array($0.sorted().suffix(count)) }
    }

    /// The adoption times counted, per uid (for queue/monitor).
    public var counted: [Int: [Int]] { times }

    /// Counts one message from `uid` at `now` and returns true, or returns false when the
    /// uid already reached the limit in the window (the message is not counted).
    public mutating func admit(_ uid: Int, now: Int) -> Bool {
        var recent = times[uid, default: []].filter { counts($0, now: now) }
        guard recent.count < count else {
            times[uid] = recent
            return false
        }
        recent.append(now)
        times[uid] = recent
        return true
    }

    /// Whether `uid` has reached the limit in the window ending `now`.
    public func isFull(_ uid: Int, now: Int) -> Bool {
        (times[uid] ?? []).filter { counts($0, now: now) }.count >= count
    }

    /// How far ahead of the clock a kept time may be and still count: a time further
    /// ahead (a clock set back, a damaged queue/monitor) would hold the user's mail until
    /// the clock caught up (found by review).
    public static let clockSlack = 60

    /// Whether an adoption at `time` is in the window ending `now`.
    func counts(_ time: Int, now: Int) -> Bool { now - time < seconds && time - now <= UserRateWindow.clockSlack }

    /// Forgets uids with nothing in the window (bounded memory).
    public mutating func prune(now: Int) {
        times = times.compactMapValues { list in
            let recent = list.filter { counts($0, now: now) }
            return recent.isEmpty ? nil : recent
        }
    }
}

/// The users whose mail user_rate_limit is holding now, one burst each: a burst starts
/// with the first message held and ends when the user's window has room again and
/// nothing of theirs was held for a quiet spell (so a sustained storm is one burst, one
/// log line and one incident, not one per window).
public struct RateBursts: Equatable, Sendable {
    /// uid → when a message of theirs was last held.
    private var lastHeld: [Int: Int] = [:]

    /// `lastHeld`: the bursts a previous run left open (queue/monitor), so a restart in a
    /// storm neither reports a recovery nor opens a new incident (found by review).
    public init(lastHeld: [Int: Int] = [:]) { self.lastHeld = lastHeld }

    /// uid → when a message of theirs was last held (for queue/monitor).
    public var heldAt: [Int: Int] { lastHeld }

    public var isEmpty: Bool { lastHeld.isEmpty }

    /// A message from `uid` was held at `now`; true when this starts a burst.
    public mutating func held(_ uid: Int, now: Int) -> Bool {
        defer { lastHeld[uid] = now }
        return lastHeld[uid] == nil
    }

    /// How long nothing may be held before a burst ends: the window, at most ten minutes.
    public static func quiet(_ window: UserRateWindow) -> Int { min(600, window.seconds) }

    /// Ends the bursts that are over (all of them when the limit is gone).
    public mutating func endQuiet(_ window: UserRateWindow?, now: Int) {
        guard let window else {
            lastHeld = [:]
            return
        }
        lastHeld = lastHeld.filter { uid, last in
            last - now <= UserRateWindow.clockSlack && (window.isFull(uid, now: now) || now - last < RateBursts.quiet(window))
        }
    }
}
