import Glibc
import OutboxCore
import OutboxSpool

/// A message in outboxd's queue: its envelope (from the queue file) and its state.
public struct QueueItem: Sendable {
    public var id: String
    public var envelope: DropFile
    public var state: DeliveryState
    public var path: String

    /// Recipients still to deliver, as the relay sends them.
    public var outgoing: OutgoingMessage {
        let pending = envelope.recipients.enumerated().filter { state.isPending($0.offset) }.map { i, r in
            OutgoingMessage.Recipient(index: i, address: r.address, original: r.original, notify: r.notify)
        }
        return OutgoingMessage(queueID: id, sender: envelope.sender, recipients: pending,
                               parameters: envelope.parameters, size: envelope.contentSize, path: path)
    }

    public var isFinished: Bool { envelope.recipients.indices.allSatisfy { !state.isPending($0) } }
}

/// outboxd's private queue below `spool_directory` (mode 0700, user outbox):
///
///     queue/msg/ID     adopted queue files (renamed from maildrop/new, never copied)
///     queue/state/ID   delivery state (see DeliveryState)
///     queue/tmp/       state and bounce files being written
///     queue/corrupt/   drop files that failed validation, kept for the admin
///     queue/hold/ID    messages put on hold by `outboxctl hold` (state stays in state/)
///     queue/lock       flock'd by the running outboxd, or by outboxctl editing the queue
///     queue/control    the running outboxd's control socket
public final class QueueStore: @unchecked Sendable {
    public let layout: SpoolLayout
    public var messages: String { layout.root + "/queue/msg" }
    public var states: String { layout.root + "/queue/state" }
    public var temporary: String { layout.root + "/queue/tmp" }
    public var corrupt: String { layout.root + "/queue/corrupt" }
    public var held: String { layout.queueHeld }
    /// Largest queue file adopted (a sanity limit against a hostile drop file).
    public static let maximumFileSize = 1 << 31

    public init(layout: SpoolLayout) throws {
        self.layout = layout
        // An empty spool_directory is a valid fresh spool: create what is missing, the
        // drop directories first (they create the root).
        try layout.createDropDirectories(groupWritable: false)
        for dir in [layout.root + "/queue", messages, states, temporary, corrupt, held] {
            if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw SystemError("mkdir", path: dir) }
        }
    }

    /// What adoption found in maildrop/new.
    public struct Adoption {
        public var adopted: [QueueItem] = []
        public var flushRequested = false
        public var rejected: [(name: String, reason: String)] = []
        /// Valid files that could not be moved in (a storage fault): left in place.
        public var failed: [(name: String, reason: String)] = []

        /// One line per file that was not adopted.
        public func logProblems(to log: DeliveryLog) {
            for (name, reason) in rejected { log.warning("maildrop/new/\(name): rejected: \(reason); moved to queue/corrupt") }
            for (name, reason) in failed { log.error("maildrop/new/\(name): cannot adopt: \(reason); left in place for the next scan") }
        }
    }

    /// Validates every file in maildrop/new as hostile input and moves the good ones into
    /// queue/msg (rename + fsync of the directory: durable before it counts as adopted);
    /// flush requests are consumed, bad files moved to queue/corrupt.
    public func adopt() -> Adoption {
        var result = Adoption()
        guard let names = try? layout.dropFileNames() else { return result }
        for name in names {
            let source = layout.maildropNew + "/" + name
            var st = stat()
            guard lstat(source, &st) == 0 else { continue }
            let file: DropFile
            do {
                guard (st.st_mode & S_IFMT) == S_IFREG else { throw RecordError.unexpected(.version, state: "(not a regular file)") }
                guard Int(st.st_size) <= QueueStore.maximumFileSize else { throw RecordError.oversized(type: .content, length: Int(st.st_size)) }
                file = try DropFile.read(path: source)
                guard file.queueID == name else { throw RecordError.unexpected(.queueID, state: "(queue ID \(file.queueID) does not match file name)") }
                if let problem = QueueStore.envelopeProblem(file) { throw RecordError.unexpected(.recipient, state: "(\(problem))") }
                // The helper stamps the caller's real uid, and the file it creates belongs
                // to that same uid (it is set-gid only): a mismatch is a forged file.
                guard Int(st.st_uid) == file.uid else {
                    throw RecordError.unexpected(.uid, state: "(file owned by uid \(st.st_uid) claims uid \(file.uid))")
                }
            } catch {
                result.rejected.append((name, "\(error)"))
                let target = corrupt + "/" + name.filter { $0.isLetter || $0.isNumber || $0 == "." }.prefix(64) + "-\(time(nil))"
                if durableRename(source, target) != 0 { unlink(source) }
                continue
            }
            if file.isFlushRequest {
                unlink(source)
                result.flushRequested = true
                continue
            }
            let target = messages + "/" + name
            guard durableRename(source, target) == 0 else {
                result.failed.append((name, "\(SystemError("rename", path: source))"))
                continue
            }
            result.adopted.append(QueueItem(id: name, envelope: file, state: DeliveryState(), path: target))
        }
        if !result.adopted.isEmpty { syncDirectory(messages) }
        return result
    }

    /// The drop helper does not parse, so a local user can hand it any bytes: every
    /// envelope field that goes into an SMTP command is checked here, or CR/LF in an
    /// address would inject commands into outboxd's session.
    static func envelopeProblem(_ file: DropFile) -> String? {
        func clean(_ s: String, allowEmpty: Bool) -> Bool {
            (allowEmpty || !s.isEmpty) && s.utf8.count <= 1024 && s.utf8.allSatisfy { $0 > 32 && $0 != 127 && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") }
        }
        if !clean(file.sender, allowEmpty: true) { return "bad sender" }
        for r in file.recipients {
            guard clean(r.address, allowEmpty: false), r.original.map({ clean($0, allowEmpty: false) }) ?? true else { return "bad recipient" }
            if let n = r.notify, !n.utf8.allSatisfy({ ($0 >= 65 && $0 <= 90) || $0 == 44 }) { return "bad NOTIFY" }
        }
        let known: Set<String> = ["BODY", "RET", "ENVID", "NOTIFY", "SMTPUTF8", "LONGLINES", "BOUNCE"]
        for p in file.parameters {
            let key = String(p.prefix { $0 != "=" })
            guard known.contains(key), p.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { return "bad parameter" }
        }
        return nil
    }

    /// Every message already in the queue, with its state (at start-up).
    public func load() -> [QueueItem] {
        var items: [QueueItem] = []
        for name in (try? layout.fileNames(in: messages)) ?? [] {
            let path = messages + "/" + name
            guard let file = try? DropFile.read(path: path) else {
                _ = rename(path, corrupt + "/" + name)
                continue
            }
            items.append(QueueItem(id: name, envelope: file, state: DeliveryState.load(path: states + "/" + name), path: path))
        }
        // A state file whose message is gone belongs to a removal interrupted by a crash.
        let present = Set(items.map(\.id))
        for name in (try? layout.fileNames(in: states)) ?? [] where !present.contains(name) { unlink(states + "/" + name) }
        return items
    }

    /// Replaces the state of `id` atomically and durably.
    public func save(_ state: DeliveryState, for id: String) throws {
        try writeDurably(Array(state.encoded().utf8), to: states + "/" + id)
    }

    /// Removes a finished message: the queue file first (a leftover state file is
    /// cleaned at the next start), then its state.
    public func remove(_ id: String) {
        unlink(messages + "/" + id)
        unlink(states + "/" + id)
        syncDirectory(messages)
    }

    /// Writes a new queue file (a bounce) durably under a fresh queue ID.
    public func enqueue(sender: String, recipient: String, parameters: [String], content: [UInt8]) throws -> QueueItem {
        let id = QueueID.generate().text
        var records = DropFile.header(queueID: id, uid: getuid(), time: MailDate.now())
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
        return QueueItem(id: id, envelope: file, state: DeliveryState(), path: path)
    }

    /// tmp → write → fsync → rename → fsync(directory).
    func writeDurably(_ bytes: [UInt8], to path: String) throws {
        let tmp = temporary + "/" + QueueID.generate().text
        let fd = try FileDescriptor.open(tmp, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
        do {
            try fd.writeAll(bytes)
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
        syncDirectory(String(path[..<path.lastIndex(of: "/")!]))
    }

    func syncDirectory(_ path: String) {
        if let fd = try? FileDescriptor.open(path, flags: O_RDONLY | O_DIRECTORY) {
            try? fd.sync()
            fd.close()
        }
    }
}
