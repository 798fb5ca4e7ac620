import Glibc
import OutboxCore
import OutboxDrop
import OutboxSpool
import OutboxSupport
import Synchronization

/// A message in outboxd's queue: its envelope (from the queue file) and its state.
public struct QueueItem: Sendable {
    public var id: String
    public var envelope: DropFile
    public var state: DeliveryState
    public var path: String
    /// When outboxd adopted it (with the fraction, for delays=); the arrival time for
    /// messages found in the queue at start.
    public var adopted: Double = 0

    /// The Postfix stages of an attempt that starts now.
    func timing(setup: Double = 0, transfer: Double = 0, connectionUse: Int = 1) -> PostfixLogLine.Timing {
        PostfixLogLine.Timing(
            arrival: Double(envelope.time), adopted: adopted == 0 ? Double(envelope.time) : adopted, setup: setup, transfer: transfer,
            connectionUse: connectionUse)
    }

    /// Recipients still to deliver, as the relay sends them.
    public var outgoing: OutgoingMessage {
        let pending = envelope.recipients.enumerated().filter { state.isPending($0.offset) }.map { i, r in
            OutgoingMessage.Recipient(index: i, address: r.address, original: r.original, notify: r.notify)
        }
        return OutgoingMessage(
            queueID: id, sender: envelope.sender, recipients: pending,
            parameters: envelope.parameters, size: envelope.contentSize, path: path)
    }

    public var isFinished: Bool { envelope.recipients.indices.allSatisfy { !state.isPending($0) } }
    /// The last save of `state` failed: the file says less than memory (sent recipients,
    /// the next attempt), so outboxd keeps the item in memory (found by review: evicted,
    /// it was read back as due and sent again).
    public var stateUnsaved = false
}

/// outboxd's private queue below `spool_directory` (mode 0700, user outbox):
///
///     queue/msg/ID     adopted queue files (copied from maildrop/new under a new ID)
///     queue/state/ID   delivery state (see DeliveryState)
///     queue/tmp/       state and bounce files being written
///     queue/corrupt/   drop files that failed validation, kept for the admin
///     queue/hold/ID    messages put on hold by `outboxctl hold` (state stays in state/)
///     queue/lock       flock'd by the running outboxd, or by outboxctl editing the queue
///     queue/control    the running outboxd's control socket
public final class QueueStore: @unchecked Sendable {
    public let layout: SpoolLayout
    public var messages: String { layout.queueMessages }
    public var states: String { layout.queueStates }
    public var temporary: String { layout.queueTemporary }
    public var corrupt: String { layout.queueCorrupt }
    public var held: String { layout.queueHeld }
    /// Drop files adopted whose removal failed: not adopted again by this process (their
    /// removal is retried at each scan); a restart before it succeeds adopts them again.
    let unremovedDropFiles = Mutex<Set<String>>([])
    /// Largest queue file adopted (a sanity limit against a hostile drop file).
    public static let maximumFileSize = RecordLimits.maxFileSize + 4096  // plus the helper's header records

    public init(layout: SpoolLayout) throws {
        self.layout = layout
        // An empty spool_directory is a valid fresh spool: create what is missing, the
        // drop directories first (they create the root).
        try layout.createDropDirectories(groupWritable: false)
        for dir in [layout.root + "/queue", messages, states, temporary, corrupt, held] {
            if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw SystemError("mkdir", path: dir) }
        }
    }

    /// Every message already in the queue, with its state (at start-up). Each queue file
    /// is validated again as it is read (framing, grammar, envelope): one that fails is
    /// moved to queue/corrupt and named in `refused`, never sent.
    public func load() -> (items: [QueueItem], refused: [(name: String, reason: String)]) {
        // Unfinished copies and bounces of a crashed run: nothing refers to them (and a
        // link-based no-replace rename may have left a second name for a queue file).
        for name in (try? layout.fileNames(in: temporary)) ?? [] { unlink(temporary + "/" + name) }
        var items: [QueueItem] = []
        var refused: [(String, String)] = []
        for name in (try? layout.fileNames(in: messages)) ?? [] {
            let path = messages + "/" + name
            do {
                let file = try DropFile.read(path: path)
                guard file.queueID == name else { throw RecordError.unexpected(.queueID, state: "(queue ID \(file.queueID) in file \(name))") }
                items.append(QueueItem(id: name, envelope: file, state: DeliveryState.load(path: states + "/" + name), path: path))
            } catch {
                refused.append((name, "\(error)"))
                moveToCorrupt(path, name: name)
            }
        }
        // A state file whose message is gone belongs to a removal interrupted by a crash.
        let present = Set(items.map(\.id))
        for name in (try? layout.fileNames(in: states)) ?? [] where !present.contains(name) && !isHeld(name) { unlink(states + "/" + name) }
        return (items, refused)
    }

    /// Removes the unfinished copies and bounces of a crashed run (nothing refers to
    /// them; a link-based no-replace rename may have left a second name for a queue file).
    public func removeTemporaries() {
        for name in (try? layout.fileNames(in: temporary)) ?? [] { unlink(temporary + "/" + name) }
    }

    /// Removes state files whose message is gone (a removal interrupted by a crash).
    public func removeOrphanStates() {
        try? layout.forEachFileName(in: states) { name in
            var st = stat()
            if lstat(messages + "/" + name, &st) != 0 && errno == ENOENT && !isHeld(name) { unlink(states + "/" + name) }
        }
    }

    /// Whether `id`'s state file was last changed before `time` (a flush at `time` makes
    /// it due); false without one (never tried: due anyway).
    func stateUnchanged(_ id: String, since time: Double) -> Bool {
        var st = stat()
        return lstat(states + "/" + id, &st) == 0 && QueueScan.seconds(st.st_ctim) <= time
    }

    /// Marks a flush: touches queue/flush and returns its ctime, which the state files'
    /// ctimes are compared with (the same clock: the file system's, not the process's;
    /// found by review). The process clock when the file cannot be touched.
    func flushTime() -> Double {
        let path = layout.root + "/queue/flush"
        let fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return MailDate.precise() }
        defer { close(fd) }
        var st = stat()
        guard futimens(fd, nil) == 0, fstat(fd, &st) == 0 else { return MailDate.precise() }
        return QueueScan.seconds(st.st_ctim)
    }

    func isHeld(_ id: String) -> Bool {
        var st = stat()
        return lstat(held + "/" + id, &st) == 0
    }

    /// Replaces the state of `id` atomically and durably; its mtime is the next attempt
    /// (QueueScan finds due messages from it without reading them).
    public func save(_ state: DeliveryState, for id: String) throws {
        try writeDurably(Array(state.encoded().utf8), to: states + "/" + id, modified: state.nextAttempt)
    }

    /// Sets the mtime of `id`'s state file to its next attempt (a state file from before
    /// the mtime said so, or one whose stamp a crash lost; QueueScan then looks again).
    func stamp(_ id: String, due: Int) {
        _ = utimensat(AT_FDCWD, states + "/" + id, QueueStore.modificationTime(due), AT_SYMLINK_NOFOLLOW)
    }

    /// utimensat's times for "mtime `seconds`, atime untouched" (UTIME_OMIT is a macro
    /// Swift does not import: Linux's value).
    static func modificationTime(_ seconds: Int) -> [timespec] {
        [timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2), timespec(tv_sec: seconds, tv_nsec: 0)]
    }

    /// Removes a finished message: the queue file first (a leftover state file is
    /// cleaned at the next start), then its state. Throws when the queue file could not be
    /// removed or the removal may not be durable (the message could be sent again, never
    /// lost).
    public func remove(_ id: String) throws(SystemError) {
        try removeFile(messages + "/" + id)
        unlink(states + "/" + id)
        try syncDirectory(messages)
    }

    /// Writes a new queue file (a bounce) durably under a fresh queue ID.
    /// `uid` is whom the message counts against (outboxd's own by default; a notice about
    /// a refused drop file counts against its submitter).
    /// Messages this process is writing and hands to its delivery threads itself
    /// (bounces): a scan of queue/msg must not take them meanwhile, or they are sent twice
    /// (found by review). By queue ID, with when; `handedOver` ends it, a minute at most.
    private let beingHandedOver = Mutex<[String: Double]>([:])

    /// Whether `id` is a message this process is handing over itself.
    func isBeingHandedOver(_ id: String) -> Bool {
        beingHandedOver.withLock { table in (table[id].map { MailDate.precise() - $0 < 60 }) ?? false }
    }

    /// The main loop now holds `id`.
    func handedOver(_ id: String) { _ = beingHandedOver.withLock { $0.removeValue(forKey: id) } }

    public func enqueue(sender: String, recipient: String, parameters: [String], content: [UInt8], uid: uid_t = getuid()) throws -> QueueItem {
        let id = QueueID.generate().text
        beingHandedOver.withLock { $0[id] = MailDate.precise() }
        var records = DropFile.header(queueID: id, uid: uid, time: MailDate.now())
        records += [Record(.sender, sender), Record(.recipient, recipient)]
        records += parameters.map { Record(.parameter, $0) }
        var offset = 0
        while offset < content.count {
            let n = min(RecordLimits.maxContentPayload, content.count - offset)
            records.append(Record(.content, Array(content[offset..<offset + n])))
            offset += n
        }
        records.append(Record(.end))
        let path = messages + "/" + id
        try writeDurably(RecordEncoder.encode(records), to: path)
        let file = try DropFile.read(path: path)
        return QueueItem(id: id, envelope: file, state: DeliveryState(), path: path, adopted: MailDate.precise())
    }

    /// tmp → write → fsync → rename → fsync(directory).
    func writeDurably(_ bytes: [UInt8], to path: String, modified: Int? = nil) throws {
        let tmp = temporary + "/" + QueueID.generate().text
        let fd = try FileDescriptor.open(tmp, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
        do {
            try fd.writeAll(bytes)
            if let modified {
                _ = futimens(fd.rawValue, QueueStore.modificationTime(modified))
            }
            try fd.sync()
            fd.close()
        } catch {
            fd.close()
            unlink(tmp)
            throw error
        }
        guard durableRename(tmp, path) == 0 else {
            let e = SystemError("rename", path: path)
            unlink(tmp)
            throw e
        }
        try syncDirectory(String(path[..<path.lastIndex(of: "/")!]))
    }

    /// fsync(2) of a directory, which makes the renames and unlinks in it durable. Its
    /// failure is reported: the callers' promise ("durable") depends on it.
    func syncDirectory(_ path: String) throws(SystemError) {
        try FileDescriptor.open(path, flags: O_RDONLY | O_DIRECTORY).sync()
    }
}
