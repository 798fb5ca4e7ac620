/// user_rate_limit: how many messages each submitting uid had adopted in the last
/// `seconds`; a message beyond `count` is held (pure; outboxd keeps one in memory).
public struct UserRateWindow: Equatable, Sendable {
    public let count: Int
    public let seconds: Int
    private var times: [Int: [Int]] = [:]

    public init(count: Int, seconds: Int) {
        self.count = count
        self.seconds = seconds
    }

    /// Counts one message from `uid` at `now` and returns true, or returns false when the
    /// uid already reached the limit in the window (the message is not counted).
    public mutating func admit(_ uid: Int, now: Int) -> Bool {
        var recent = times[uid, default: []].filter { now - $0 < seconds }
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
        (times[uid] ?? []).filter { now - $0 < seconds }.count >= count
    }

    /// Forgets uids with nothing in the window (bounded memory).
    public mutating func prune(now: Int) {
        times = times.compactMapValues { list in
            let recent = list.filter { now - $0 < seconds }
            return recent.isEmpty ? nil : recent
        }
    }
}
