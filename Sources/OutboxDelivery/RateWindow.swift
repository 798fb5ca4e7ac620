/// message_rate_limit: at most `count` messages handed to a route's smarthost in any
/// `unit` seconds, as the smarthost counts them. A message may start only `unit` after
/// the count-th latest finish among those before it (one still in flight counts as not
/// yet finished): the server sees a message before it answers it, so no window of `unit`
/// seconds at the server ever holds more than `count` (a token bucket allows twice that
/// across a refill).
public struct RateWindow: Equatable, Sendable {
    public private(set) var count: Int
    public private(set) var unit: Double
    /// Finish times of recent messages, `.infinity` while one is in flight, by ticket.
    private var finishes: [Int: Double] = [:]
    private var nextTicket = 0
    /// The messages parked for this window, by queue ID: their place in the line.
    private var parked = ParkedLine()

    public init(count: Int, unit: Double) {
        self.count = count
        self.unit = unit
    }

    /// Takes a changed limit in place (SIGHUP): the finishes, the messages in flight and
    /// the parked line go on counting, so a reload neither opens an empty window nor lets
    /// the messages admitted under the old limit finish somewhere else (found by review).
    public mutating func relimit(count: Int, unit: Double) {
        self.count = count
        self.unit = unit
        trimFinishes()
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
        trimFinishes()
    }

    /// Only the `count` latest finishes can bound a start: forgets the rest.
    private mutating func trimFinishes() {
        let done = finishes.filter { $0.value != .infinity }.sorted { $0.value > $1.value }
        for (old, _) in done.dropFirst(count) { finishes.removeValue(forKey: old) }
    }

    /// When the message `id`, which cannot start before `earliest`, is due again. Parked
    /// messages are spread `count` to a unit in the order they were first parked, so a
    /// backlog does not come due in the same second (each would find the window full
    /// again, be parked again and rewrite its state: a thundering herd; found by review).
    /// A message parked again keeps its place: a flush (`sendmail -q`, any user) or a
    /// slot the window could not honour does not send it, or those behind it, to the back
    /// of the line (found by review: each flush pushed the whole backlog back).
    public mutating func parkSlot(for id: String, earliest: Double, now: Double) -> Double {
        parked.forgetStale(before: now - unit - ParkedLine.grace)
        let ahead = parked.place(of: id)
        let slot = earliest + Double(ahead / count) * unit
        parked.due(id, at: slot)
        return slot
    }

    /// The message `id` starts: it leaves the parked line.
    public mutating func unpark(_ id: String) { parked.remove(id) }

    /// How many messages hold a place in the parked line.
    public var parkedCount: Int { parked.count }

    /// The earliest start when `earliestStart` has none yet (as many messages in flight as
    /// the count): not before a unit from now, as none of them has finished.
    public func earliestBound(now: Double) -> Double { earliestStart(now: now) ?? now + unit }
}

/// The messages parked for a rate window in the order they were first parked, each with
/// the time it is due. A place is kept until the message starts (`remove`) or its due
/// time is long past (a message deleted, expired, held or moved to another route never
/// comes back to give it up).
struct ParkedLine: Equatable, Sendable {
    /// How long after its due time (plus a unit) a place is kept for a message that did
    /// not come back: one that waited for a free thread behind other routes' mail.
    static let grace = 600.0
    /// Queue ID → its sequence number and due time.
    private var entries: [String: (sequence: Int, due: Double)] = [:]
    /// The sequence numbers in the line, ascending (a new message goes at the end).
    private var line: [Int] = []
    private var nextSequence = 0
    private var lastSweep = -Double.infinity

    var count: Int { line.count }

    /// How many messages are ahead of `id`; places it at the end when it has no place.
    mutating func place(of id: String) -> Int {
        if let entry = entries[id] { return firstIndex(notBelow: entry.sequence) }
        nextSequence += 1
        entries[id] = (nextSequence, .infinity)
        line.append(nextSequence)
        return line.count - 1
    }

    mutating func due(_ id: String, at time: Double) { entries[id]?.due = time }

    mutating func remove(_ id: String) {
        guard let entry = entries.removeValue(forKey: id) else { return }
        let index = firstIndex(notBelow: entry.sequence)
        if index < line.count, line[index] == entry.sequence { line.remove(at: index) }
    }

    /// Drops the places whose due time is before `time`; at most once a minute (a sweep
    /// reads every place).
    mutating func forgetStale(before time: Double) {
        guard time - lastSweep >= 60 || lastSweep > time else { return }
        lastSweep = time
        let stale = entries.filter { $0.value.due < time }
        guard !stale.isEmpty else { return }
        let gone = Set(stale.values.map(\.sequence))
        for id in stale.keys { entries.removeValue(forKey: id) }
        line.removeAll { gone.contains($0) }
    }

    private func firstIndex(notBelow sequence: Int) -> Int {
        var low = 0
        var high = line.count
        while low < high {
            let middle = (low + high) / 2
            if line[middle] < sequence { low = middle + 1 } else { high = middle }
        }
        return low
    }

    static func == (a: ParkedLine, b: ParkedLine) -> Bool {
        a.line == b.line && a.entries.mapValues(\.due) == b.entries.mapValues(\.due)
    }
}
