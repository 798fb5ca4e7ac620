import OutboxCore

/// The queue as outboxd holds it in memory: the messages it knows and which of them a
/// delivery thread has right now. outboxctl builds one from the files when no daemon runs.
public struct LiveQueue {
    public var items: [String: QueueItem]
    public var inFlight: Set<String> = []
    /// Requests that wait for the attempt in progress to end (a file a thread is reading
    /// is not moved or deleted under it).
    public var afterFlight: [String: QueueRequest.Action] = [:]

    public init(items: [QueueItem]) {
        self.items = Dictionary(items.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }
}
