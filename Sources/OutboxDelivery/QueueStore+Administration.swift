import Glibc
import OutboxCore
import OutboxDrop
import OutboxSpool

/// The operator's edits of the queue (outboxctl hold, release, delete, requeue). They run
/// either inside outboxd (asked over its control socket) or in outboxctl itself while it
/// holds the queue lock because no outboxd is running: one implementation for both.
extension QueueStore {
    /// Where a message is.
    public enum Location: String, Sendable {
        case maildrop, queue, hold
    }

    /// The path and location of message `id`, or nil when there is none (or `id` is not
    /// a queue ID: nothing outside the spool can be named).
    public func locate(_ id: String) -> (path: String, location: Location)? {
        guard QueueID(id) != nil else { return nil }
        for (directory, location) in [(messages, Location.queue), (held, .hold), (layout.maildropNew, .maildrop)] {
            var st = stat()
            if lstat(directory + "/" + id, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { return (directory + "/" + id, location) }
        }
        return nil
    }

    /// Takes the queue lock (flock on queue/lock): outboxd holds it while it runs, so
    /// at most one daemon delivers from a spool and outboxctl edits files only when none
    /// does. Returns nil when someone else holds it and `wait` is false.
    public func lock(wait: Bool) throws(SystemError) -> FileDescriptor? {
        let fd = try FileDescriptor.open(layout.queueLock, flags: O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
        while flock(fd.rawValue, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
            if errno == EINTR { continue }
            let error = errno
            fd.close()
            if error == EWOULDBLOCK { return nil }
            throw SystemError("flock", path: layout.queueLock, errno: error)
        }
        return fd
    }

    /// Moves a queued message to queue/hold, where outboxd does not deliver it.
    public func hold(_ id: String) throws(SystemError) {
        try move(id, from: messages, to: held)
    }

    /// Moves a held message back into the queue, due now; returns it.
    public func release(_ id: String) throws -> QueueItem {
        try move(id, from: held, to: messages)
        var state = DeliveryState.load(path: states + "/" + id)
        state.nextAttempt = 0
        try save(state, for: id)
        return try item(id)
    }

    /// Deletes a message wherever it is (queue, hold or a maildrop file not yet adopted);
    /// false when there is none.
    @discardableResult
    public func delete(_ id: String) -> Bool {
        guard let (path, _) = locate(id), unlink(path) == 0 else { return false }
        unlink(states + "/" + id)
        // Deleted in any case; a failed directory sync could only bring it back.
        try? syncDirectory(String(path[..<path.lastIndex(of: "/")!]))
        return true
    }

    /// Starts a queued message afresh (see `DeliveryState.restart`); returns it.
    public func requeue(_ id: String, now: Int = MailDate.now()) throws -> QueueItem {
        var item = try item(id)
        item.state.restart(now: now)
        try save(item.state, for: id)
        return item
    }

    /// A message of queue/msg with its state.
    public func item(_ id: String) throws -> QueueItem {
        let path = messages + "/" + id
        return QueueItem(id: id, envelope: try DropFile.read(path: path), state: DeliveryState.load(path: states + "/" + id), path: path)
    }

    /// Queued (not held) message IDs, in queue ID order.
    public func queuedIDs() -> [String] { ((try? layout.fileNames(in: messages)) ?? []).sorted() }

    /// Held message IDs.
    public func heldIDs() -> [String] { (try? layout.fileNames(in: held)) ?? [] }

    private func move(_ id: String, from: String, to: String) throws(SystemError) {
        guard QueueID(id) != nil else { throw SystemError("rename", path: id, errno: ENOENT) }
        guard durableRename(from + "/" + id, to + "/" + id) == 0 else { throw SystemError("rename", path: from + "/" + id) }
        try syncDirectory(to)
        try syncDirectory(from)
    }
}
