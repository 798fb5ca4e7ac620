import Glibc
import OutboxConfig
import OutboxCore
import OutboxDrop
import OutboxMessage
import OutboxSpool
import OutboxSupport
import Synchronization

/// What outboxd needs to know to adopt drop files: its host name for the Received: line
/// it adds, and whom to tell about a file it refuses.
public struct AdoptionPolicy: Sendable {
    public let hostName: String
    public let adminAddress: String?
    let bouncer: BounceBuilder

    public init(hostName: String, domain: String, adminAddress: String?) {
        self.hostName = hostName
        self.adminAddress = adminAddress
        bouncer = BounceBuilder(reportingHost: hostName, domain: domain)
    }

    /// The policy `config` gives (helo_name or the host name, domain, admin_address).
    public init(config: Config) {
        let host = config.heloName ?? HeloName.local
        self.init(hostName: host, domain: config.domain ?? host, adminAddress: config.adminAddress)
    }
}

/// The adoption of maildrop/new into outboxd's queue, Postfix's pickup → cleanup: every
/// drop file is hostile input. It is read once, validated record by record with the same
/// validator `sendmail` uses, and *copied* into a new file that outboxd creates and owns
/// (the submitter may still hold the original open and could rewrite it after a rename);
/// the copy keeps the drop file's queue ID only when that ID is in use nowhere (not in
/// queue/msg, hold or state, not known to the running daemon) and otherwise gets a fresh
/// one; it never replaces an existing file (RENAME_NOREPLACE). It carries
/// - the message as strict CRLF lines (bare CR, bare LF, CR CR LF, NUL normalised as
///   `sendmail` does), so that no bare line end can reach the smarthost whatever bytes
///   were written to the drop helper;
/// - a Received: line naming the submitting uid, stamped by the helper and checked
///   against the file's owner, so a message that bypassed `sendmail` is still traceable;
/// - envelope facts recomputed from the content (8BITMIME, SMTPUTF8, long lines),
///   never taken on trust; BOUNCE (outboxd's own marker) is dropped.
/// Only after the copy and its directory are fsync'd is the drop file removed (a crash in
/// between sends the message twice, never zero times). A refused file is moved to
/// queue/corrupt, logged, and reported to its sender or to admin_address.
extension QueueStore {
    /// What adoption found in maildrop/new.
    public struct Adoption {
        public var adopted: [QueueItem] = []
        /// Copied straight to queue/hold (the submitter is over a queue limit): ID, uid.
        public var held: [(id: String, uid: Int)] = []
        /// Adopted under another ID than their drop file's name (that ID was in use).
        public var renamed: [(dropName: String, id: String)] = []
        public var flushRequested: Bool { !flushRequesters.isEmpty }
        /// The uids that asked for a flush (`sendmail -q`).
        public var flushRequesters: [Int] = []
        /// More files wait in maildrop/new than one call takes.
        public var more = false
        /// Refused files: drop file name, reason, and the notice sent about it (or why none).
        public var rejected: [(name: String, reason: String, notice: String)] = []
        /// Valid files that could not be copied in (a storage fault): left in place.
        public var failed: [(name: String, reason: String)] = []
        /// Drop files adopted whose original could not be removed (each may be adopted again).
        public var unremoved: [(name: String, id: String, reason: String)] = []
        /// A directory fsync after the batch failed: adopted messages may not survive a crash.
        public var syncFailure: String?

        /// One line per file adopted or not; pickup lines in Postfix's shape.
        public func logProblems(to log: DeliveryLog) {
            for (name, reason, notice) in rejected {
                log.error(
                    "maildrop/new/\(EnvelopeSyntax.printable(name)): rejected: \(EnvelopeSyntax.printable(reason)); moved to queue/corrupt; \(notice)"
                )
            }
            for (name, reason) in failed {
                log.error("maildrop/new/\(EnvelopeSyntax.printable(name)): cannot adopt: \(reason); left in place for the next scan")
            }
            for (name, id) in renamed { log.warning("maildrop/new/\(EnvelopeSyntax.printable(name)): queue ID already in use; adopted as \(id)") }
            for (name, id, reason) in unremoved {
                log.error(
                    "maildrop/new/\(EnvelopeSyntax.printable(name)): adopted as \(id) but not removed: \(reason); retried at each scan (a restart before then adopts it again: a duplicate)"
                )
            }
            if let syncFailure { log.error("adoption: \(syncFailure): the messages just adopted may not survive a crash of the machine") }
        }
    }

    /// Adopts every complete file in maildrop/new (see the type's comment). `inUse` says
    /// whether the caller still knows a message by that ID (one just removed, in flight).
    /// At most `limit` files are taken per call (`more` says whether others wait), so that
    /// delivery starts while a large backlog is still being adopted.
    /// `hold(uid, size)` says whether a message goes to queue/hold instead (its submitter is
    /// over a queue limit); such messages are in `held`, not in `adopted`.
    public func adopt(
        policy: AdoptionPolicy, limit: Int = 100, hold: (_ uid: Int, _ size: Int) -> Bool = { _, _ in false },
        inUse: (String) -> Bool = { _ in false }
    ) -> Adoption {
        var result = Adoption()
        guard let names = try? layout.dropFileNames() else { return result }
        result.more = names.count > limit
        var pending: [CopiedFile] = []
        for name in names.prefix(limit) {
            let source = layout.maildropNew + "/" + name
            if unremovedDropFiles.withLock({ $0.contains(name) }) {
                if (try? removeFile(source)) != nil { _ = unremovedDropFiles.withLock { $0.remove(name) } }
                continue
            }
            var envelope = DropFile()
            let copy: CopiedFile?
            do {
                copy = try copyIn(source, name: name, envelope: &envelope, policy: policy, hold: hold, inUse: inUse)
            } catch let failure as AdoptionFailure {
                result.failed.append((name, failure.reason))
                continue
            } catch let error as SystemError where !QueueStore.hostileErrnos.contains(error.errno) {
                // Out of descriptors, an I/O error …: this host's trouble, not the file's;
                // it stays in maildrop/new (found by review: such a file was bounced).
                result.failed.append((name, "\(error)"))
                continue
            } catch {
                let notice = reportRejection(of: name, reason: "\(error)", envelope: envelope, policy: policy, into: &result)
                result.rejected.append((name, "\(error)", notice))
                moveToCorrupt(source, name: name)
                continue
            }
            guard let copy else {  // a flush request
                unlink(source)
                result.flushRequesters.append(envelope.uid)
                continue
            }
            pending.append(copy)
        }
        // Every copy is made durable before it is named in the queue. In parallel: the
        // file system commits concurrent fsyncs together (measured here: 200 fsyncs took
        // 150 ms one after another, 25 ms from 16 threads).
        let syncFailures = QueueFileWriter.syncAll(pending.map(\.writer))
        var copied = 0
        for (i, copy) in pending.enumerated() {
            if let error = syncFailures[i] {
                copy.writer.discard()
                result.failed.append((copy.dropName, "\(error)"))
                continue
            }
            guard renameNoReplace(copy.writer.path, copy.target) == 0 else {
                result.failed.append((copy.dropName, "\(SystemError("rename", path: copy.target))"))
                unlink(copy.writer.path)
                continue
            }
            if copy.held {
                result.held.append((copy.item.id, copy.item.envelope.uid))
            } else {
                result.adopted.append(copy.item)
            }
            if copy.item.id != copy.dropName { result.renamed.append((copy.dropName, copy.item.id)) }
            // The original goes at once, so that a killed daemon re-adopts nothing. Its
            // unlink is journalled after the rename that named the copy (ext4, XFS and
            // btrfs commit metadata in order), so a power cut cannot keep the unlink and
            // lose the rename; at worst it keeps the rename and loses the unlink, and the
            // file is adopted twice. The directories are fsync'd once per batch below,
            // before anything is delivered.
            do { try removeFile(copy.source) } catch {
                result.unremoved.append((copy.dropName, copy.item.id, "\(error)"))
                _ = unremovedDropFiles.withLock { $0.insert(copy.dropName) }
            }
            copied += 1
        }
        // More files wait; but only report it when this batch made progress, or a batch
        // of files that keep failing (a full disk) would spin the caller.
        result.more = result.more && (copied > 0 || !result.rejected.isEmpty || !result.flushRequesters.isEmpty)
        do throws(SystemError) {
            if copied > 0 {
                try syncDirectory(messages)
                try syncDirectory(held)
            }
            if copied > 0 || !result.rejected.isEmpty { try syncDirectory(layout.maildropNew) }
        } catch {
            // The copies are in place and the drop files gone; only their durability is in
            // doubt, and nothing can be undone: the admin must hear of it.
            result.syncFailure = "\(error)"
        }
        return result
    }

    /// What opening a drop file fails with when the file itself is wrong: a symlink
    /// (O_NOFOLLOW), not a regular file or more than one link (EINVAL), a device.
    static let hostileErrnos: Set<Int32> = [ELOOP, EINVAL, ENXIO, EISDIR, ENODEV]

    /// A valid file that could not be written into the queue (disk full, I/O error): it
    /// stays in maildrop/new and is tried again.
    struct AdoptionFailure: Error {
        var reason: String
    }

    /// A copy written to queue/tmp, not yet fsync'd or named in the queue.
    struct CopiedFile {
        var item: QueueItem
        var dropName: String
        var source: String
        var writer: QueueFileWriter
        var target: String
        var held = false
    }

    /// Validates `source` while copying it to queue/tmp, then moves the copy into
    /// queue/msg under a fresh ID. Returns nil for a flush request. Throws
    /// `AdoptionFailure` for local storage trouble, anything else for a bad file;
    /// `envelope` holds what was read when it throws.
    private func copyIn(
        _ source: String, name: String, envelope: inout DropFile, policy: AdoptionPolicy,
        hold: (Int, Int) -> Bool, inUse: (String) -> Bool
    ) throws -> CopiedFile? {
        let input = try DropFile.openRegularFile(source)
        let st = try input.status()
        guard Int(st.st_size) <= QueueStore.maximumFileSize else { throw RecordError.oversized(type: .content, length: Int(st.st_size)) }

        // The drop file's name is only a suggestion: anyone in the drop group can name a
        // file after a queue ID they saw in mailq.
        let id = QueueID(name) != nil && !isInUse(name) && !inUse(name) ? name : freshQueueID(inUse: inUse)
        let tmpPath = temporary + "/" + id
        var output: QueueFileWriter?
        defer { if let output { output.discard() } }
        var normalizer = LineEndingNormalizer(dotEndsInput: false)
        var facts = LineStatistics()
        var normalized: [UInt8] = []
        // Content is re-chunked into full records whatever the drop file's record sizes
        // (found by review: a million one-octet records made the sending side quadratic).
        var pendingContent: [UInt8] = []
        // The header the helper stamped must agree with what the kernel says: the file's
        // name, its owner (the helper stamps the caller's effective uid, which owns the
        // file it creates: it is set-gid only), and a time not in the future.
        func checkStamps(_ file: DropFile) throws {
            guard file.queueID == name else {
                throw RecordError.unexpected(.queueID, state: "(queue ID \(EnvelopeSyntax.printable(file.queueID)) does not match file name)")
            }
            guard Int(st.st_uid) == file.uid else {
                throw RecordError.unexpected(.uid, state: "(file owned by uid \(st.st_uid) claims uid \(file.uid))")
            }
            guard file.time <= MailDate.now() + 86400 else {
                throw RecordError.unexpected(.time, state: "(arrival time \(file.time) is in the future)")
            }
        }
        func begin(_ file: DropFile) throws {
            guard output == nil else { return }
            try checkStamps(file)
            do { output = try QueueFileWriter(path: tmpPath) } catch { throw AdoptionFailure(reason: "\(error)") }
            output!.append(DropFile.header(queueID: id, uid: uid_t(file.uid), time: file.time))
            output!.append(Record(.sender, file.sender))
            for r in file.recipients {
                var payload = Array(r.address.utf8)
                if r.original != nil || r.notify != nil { payload += [0] + Array((r.original ?? "").utf8) }
                if let n = r.notify { payload += [0] + Array(n.utf8) }
                output!.append(Record(.recipient, payload))
            }
            let received = "Received: by \(policy.hostName) (outbox, from userid \(file.uid))\r\n\tid \(id); \(MailDate.rfc5322(MailDate.now()))\r\n"
            facts.scan(Array(received.utf8))
            output!.append(Record(.content, received))
        }
        func emit(_ bytes: [UInt8], final: Bool = false) throws {
            facts.scan(bytes)
            pendingContent += bytes
            var offset = 0
            while pendingContent.count - offset >= RecordLimits.maxContentPayload || (final && offset < pendingContent.count) {
                let n = min(RecordLimits.maxContentPayload, pendingContent.count - offset)
                output!.append(Record(.content, Array(pendingContent[offset..<offset + n])))
                offset += n
            }
            pendingContent.removeFirst(offset)
            do { try output!.flushIfFull() } catch { throw AdoptionFailure(reason: "\(error)") }
        }
        let file = try DropFile.read(input, path: source, into: &envelope) { soFar, chunk in
            // Never more than the file held when it was opened: its owner may append.
            guard soFar.contentSize <= Int(st.st_size) else { throw RecordError.oversized(type: .content, length: soFar.contentSize) }
            try begin(soFar)
            normalized.removeAll(keepingCapacity: true)
            normalizer.feed(chunk, into: &normalized)
            try emit(normalized)
        }
        try checkStamps(file)
        if file.isFlushRequest { return nil }
        try begin(file)  // a message without content
        normalized.removeAll(keepingCapacity: true)
        normalizer.finish(into: &normalized)
        try emit(normalized, final: true)

        // Envelope facts from what was actually copied, not from the submitter's claims.
        var parameters = file.parameters.filter { !$0.hasPrefix("LONGLINES=") && !$0.hasPrefix("BOUNCE=") && $0 != "SMTPUTF8" }
        if facts.hasEightBit && file.parameter("BODY") != "8BITMIME" {
            // A declared 7BIT is not taken on trust for 8-bit content.
            parameters.removeAll { $0.hasPrefix("BODY=") }
            parameters.append("BODY=8BITMIME")
        }
        if ([file.sender] + file.recipients.map(\.address)).contains(where: { $0.utf8.contains { $0 >= 0x80 } }) { parameters.append("SMTPUTF8") }
        if facts.longestLine > 998 { parameters.append("LONGLINES=\(facts.longestLine)") }
        for p in parameters { output!.append(Record(.parameter, p)) }
        output!.append(Record(.end))

        let held = hold(file.uid, facts.size)
        let target = (held ? self.held : messages) + "/" + id
        let writer = output!
        do {
            try writer.finishWriting()
        } catch {
            throw AdoptionFailure(reason: "\(error)")
        }
        output = nil
        var adopted = file
        adopted.queueID = id
        adopted.parameters = parameters
        adopted.contentSize = facts.size
        return CopiedFile(
            item: QueueItem(id: id, envelope: adopted, state: DeliveryState(), path: target, adopted: MailDate.precise()), dropName: name,
            source: source, writer: writer, target: target, held: held)
    }

    /// Moves a refused file to queue/corrupt under a name of its own (never over another
    /// kept file; found by review).
    func moveToCorrupt(_ source: String, name: String) {
        let base = corrupt + "/" + name.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == ".") }.prefix(64) + "-\(time(nil))"
        for n in 0..<100 where renameNoReplace(source, n == 0 ? base : "\(base).\(n)") == 0 { return }
        unlink(source)
    }

    /// Whether any queue file or state carries `id` (msg/, hold/, state/).
    func isInUse(_ id: String) -> Bool {
        var st = stat()
        return lstat(messages + "/" + id, &st) == 0 || lstat(held + "/" + id, &st) == 0 || lstat(states + "/" + id, &st) == 0
    }

    /// A queue ID in use nowhere; the rename into msg/ refuses to replace in any case.
    func freshQueueID(inUse: (String) -> Bool) -> String {
        while true {
            let id = QueueID.generate().text
            if !isInUse(id) && !inUse(id) { return id }
        }
    }

    /// Queues a notice about a refused drop file: to its sender when that is a usable
    /// address, otherwise to admin_address. Returns what was done, for the log line.
    private func reportRejection(
        of name: String, reason: String, envelope: DropFile, policy: AdoptionPolicy,
        into result: inout Adoption
    ) -> String {
        let senderUsable =
            !envelope.sender.isEmpty && EnvelopeSyntax.senderProblem(envelope.sender) == nil
            && envelope.parameter("BOUNCE") == nil
        guard let recipient = senderUsable ? envelope.sender : policy.adminAddress else {
            return "no notice sent (the sender is unusable and admin_address is not set)"
        }
        let who = envelope.uid >= 0 ? "uid \(envelope.uid)" : "an unknown user"
        let failures = envelope.recipients.prefix(100).map {
            BounceBuilder.Failure(
                recipient: EnvelopeSyntax.printable($0.address), original: nil, status: "5.6.0",
                diagnostic: "message refused by outboxd: \(EnvelopeSyntax.printable(reason))")
        }
        let summary =
            "Drop file \(EnvelopeSyntax.printable(name)) from \(who) was refused and kept in queue/corrupt: \(EnvelopeSyntax.printable(reason))\r\n"
        let bounceID = QueueID.generate().text
        let content = policy.bouncer.build(
            queueID: EnvelopeSyntax.printable(name, limit: 20), sender: recipient,
            arrival: envelope.time > 0 ? envelope.time : MailDate.now(),
            failures: failures.isEmpty
                ? [
                    BounceBuilder.Failure(
                        recipient: "unknown", original: nil, status: "5.6.0",
                        diagnostic: "message refused by outboxd: \(EnvelopeSyntax.printable(reason))")
                ]
                : Array(failures),
            remoteMTA: nil, original: Array(summary.utf8), returnHeadersOnly: false, bounceID: bounceID)
        do {
            // Counted against the submitter's queue limits, not outboxd's (found by review:
            // refused files made uncounted notices to any address).
            let notice = try enqueue(
                sender: "", recipient: recipient, parameters: ["BOUNCE=1"], content: content,
                uid: envelope.uid >= 0 ? uid_t(envelope.uid) : getuid())
            result.adopted.append(notice)
            return "notice \(notice.id) to <\(recipient)>"
        } catch {
            return "cannot queue a notice to <\(recipient)>: \(error)"
        }
    }
}

/// A new queue file written in outboxd's private queue/tmp: O_EXCL, owner-only, buffered
/// records, fsync on commit. `discard` removes an unfinished one.
final class QueueFileWriter: @unchecked Sendable {
    let path: String
    private var fd: FileDescriptor?
    private var buffer: [UInt8] = []

    init(path: String) throws {
        self.path = path
        fd = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
        buffer.reserveCapacity(1 << 17)
    }

    func append(_ record: Record) {
        RecordEncoder.append(record, to: &buffer)
    }

    func append(_ records: [Record]) {
        for r in records { append(r) }
    }

    func flushIfFull() throws {
        if buffer.count >= 1 << 17 { try flush() }
    }

    private func flush() throws {
        try fd?.writeAll(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes what is buffered; the file stays open for `syncAll`.
    func finishWriting() throws {
        try flush()
    }

    /// fsyncs and closes every writer's file, on up to 16 threads at once; the errors by
    /// index. Each writer is touched by one thread only.
    static func syncAll(_ writers: [QueueFileWriter]) -> [Int: SystemError] {
        let failures = FailureList()
        func sync(_ i: Int) {
            do { try writers[i].fd?.sync() } catch { failures.add(i, error) }
            writers[i].fd = nil  // closes it
        }
        let threads = min(16, writers.count)
        if threads <= 1 {
            for i in writers.indices { sync(i) }
            return failures.all
        }
        var started: [WorkerThread] = []
        for k in 0..<threads {
            let share = { for i in stride(from: k, to: writers.count, by: threads) { sync(i) } }
            let w = WorkerThread(unchecked: share)
            // No thread to be had (TasksMax): this share is synced here instead.
            if (try? w.start()) != nil { started.append(w) } else { share() }
        }
        for w in started { w.join() }
        return failures.all
    }

    /// Errors collected from several threads.
    private final class FailureList: @unchecked Sendable {
        private let failures = Mutex<[Int: SystemError]>([:])
        func add(_ index: Int, _ error: SystemError) { failures.withLock { $0[index] = error } }
        var all: [Int: SystemError] { failures.withLock { $0 } }
    }

    func discard() {
        fd = nil
        unlink(path)
    }
}
