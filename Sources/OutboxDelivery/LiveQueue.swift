import OutboxCore

/// The queue as outboxd holds it in memory: the messages it knows and which of them a
/// delivery thread has right now. outboxctl builds one from the files when no daemon runs.
public struct LiveQueue {
    public var items: [String: QueueItem]
    public var inFlight: Set<String> = []
    /// Requests that wait for the attempt in progress to end (a file a thread is reading
    /// is not moved or deleted under it).
    public var afterFlight: [String: QueueRequest.Action] = [:]

    /// At most this many items are held (outboxd's window); an edited message beyond it
    /// stays on disk, where the daemon's next scan finds it.
    public var limit = Int.max

    public init(items: [QueueItem], limit: Int = .max) {
        self.items = Dictionary(items.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.limit = limit
    }

    /// Holds `item` (released or requeued) when it is held already or there is room.
    public mutating func take(_ item: QueueItem) {
        if items[item.id] != nil || items.count < limit { items[item.id] = item }
    }
}
