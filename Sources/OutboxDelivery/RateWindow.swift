/// message_rate_limit: at most `count` messages handed to a route's smarthost in any
/// `unit` seconds, as the smarthost counts them. A message may start only `unit` after
/// the count-th latest finish among those before it (one still in flight counts as not
/// yet finished): the server sees a message before it answers it, so no window of `unit`
/// seconds at the server ever holds more than `count` (a token bucket allows twice that
/// across a refill).
public struct RateWindow: Equatable, Sendable {
    public let count: Int
    public let unit: Double
    /// Finish times of recent messages, `.infinity` while one is in flight, by ticket.
    private var finishes: [Int: Double] = [:]
    private var nextTicket = 0
    /// When the messages parked for this window are due again (`parkSlot`).
    private var parked: [Double] = []

    public init(count: Int, unit: Double) {
        self.count = count
        self.unit = unit
    }

    /// A window for a changed limit that still counts what `previous` saw (a reload must
    /// not open an empty window: found by review). Messages still in flight under the old
    /// window count as finishing `now` (they finish there, not here).
    public init(count: Int, unit: Double, carrying previous: RateWindow, now: Double) {
        self.init(count: count, unit: unit)
        let finishes = previous.finishes.values.map { $0 == .infinity ? now : $0 }.sorted(by: >).prefix(count)
        for time in finishes {
            finish(start(), at: time)
        }
    }

    /// When a message may start: `now`, a later time, or nil while too many are in flight.
    public func earliestStart(now: Double) -> Double? {
        guard finishes.count >= count else { return now }
        let bound = finishes.values.sorted(by: >)[count - 1]
        return bound == .infinity ? nil : max(now, bound + unit)
    }

    /// Records a message starting now; `finish(_:at:)` closes it.
    public mutating func start() -> Int {
        nextTicket += 1
        finishes[nextTicket] = .infinity
        return nextTicket
    }

    /// Forgets a message that was not handed over after all.
    public mutating func cancel(_ ticket: Int) {
        finishes.removeValue(forKey: ticket)
    }

    public mutating func finish(_ ticket: Int, at time: Double) {
        guard finishes[ticket] != nil else { return }
        finishes[ticket] = time
        // Only the `count` latest finishes can bound a start: forget the rest.
        let done = finishes.filter { $0.value != .infinity }.sorted { $0.value > $1.value }
        for (old, _) in done.dropFirst(count) { finishes.removeValue(forKey: old) }
    }

    /// When a message that cannot start before `earliest` is due again. Parked messages
    /// are spread `count` to a unit behind those parked before them, so a backlog does not
    /// come due in the same second (each would find the window full again, be parked again
    /// and rewrite its state: a thundering herd and n²/count writes; found by review).
    public mutating func parkSlot(earliest: Double, now: Double) -> Double {
        parked.removeAll { $0 <= now }
        let slot = earliest + Double(parked.count / count) * unit
        parked.append(slot)
        return slot
    }

    /// The earliest start when `earliestStart` has none yet (as many messages in flight as
    /// the count): not before a unit from now, as none of them has finished.
    public func earliestBound(now: Double) -> Double { earliestStart(now: now) ?? now + unit }
}
