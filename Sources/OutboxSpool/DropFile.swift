import Glibc
import OutboxCore

/// The decoded envelope of a drop file, plus the size of its message.
public struct DropFile: Equatable, Sendable {
    /// One envelope recipient.
    public struct Recipient: Equatable, Sendable {
        public var address: String
        /// The address as originally given (DSN ORCPT), when alias expansion changed it.
        public var original: String?
        /// DSN NOTIFY for this recipient, when given per recipient (sendmail -bs).
        public var notify: String?

        public init(_ address: String, original: String? = nil, notify: String? = nil) {
            self.address = address
            self.original = original
            self.notify = notify
        }
    }

    public var version: String = ""
    public var queueID: String = ""
    public var uid: Int = -1
    public var time: Int = 0
    public var isFlushRequest = false
    /// Envelope sender; "" is the null sender.
    public var sender: String = ""
    public var recipients: [Recipient] = []
    public var parameters: [String] = []
    /// Total octets of message content.
    public var contentSize = 0

    public init() {}

    /// The value of parameter `key` (e.g. "BODY"), if present.
    public func parameter(_ key: String) -> String? {
        for p in parameters {
            if let eq = p.firstIndex(of: "="), p[..<eq] == key { return String(p[p.index(after: eq)...]) }
            if p == key { return "" }
        }
        return nil
    }

    /// The version string every drop file starts with.
    public static let currentVersion = "outbox-drop 1"

    /// The records only a trusted writer stamps at the start of a file: version, queue
    /// ID, uid and arrival time (the drop helper, outboxctl, outboxd's own bounces).
    public static func header(queueID: String, uid: uid_t, time: Int) -> [Record] {
        [Record(.version, currentVersion), Record(.queueID, queueID), Record(.uid, String(uid)), Record(.time, String(time))]
    }

    /// Reads and validates a whole drop file. `content`, if given, receives the message
    /// bytes. Refuses anything but a regular file with one link (never follows symlinks).
    public static func read(
        path: String, content: ((UnsafeRawBufferPointer) throws -> Void)? = nil
    ) throws -> DropFile {
        let fd = try openRegularFile(path)
        var file = DropFile()
        return try read(fd, path: path, into: &file, content: content.map { body in { _, bytes in try body(bytes) } })
    }

    /// Opens `path` for reading without following a symlink or blocking on a FIFO, and
    /// refuses anything but a regular file with exactly one link.
    public static func openRegularFile(_ path: String) throws -> FileDescriptor {
        let fd = try FileDescriptor.open(path, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        let st = try fd.status()
        guard (st.st_mode & S_IFMT) == S_IFREG, st.st_nlink == 1 else {
            throw SystemError("open", path: path, errno: EINVAL)
        }
        return fd
    }

    /// Reads and validates the records of an open drop or queue file: framing, grammar,
    /// limits, the header, and the envelope (`envelopeProblem`, checked before the first
    /// content octet is handed out and again at the end). `content` receives each chunk
    /// with the envelope read so far; `file` keeps what was read when this throws.
    public static func read(
        _ fd: borrowing FileDescriptor, path: String, into file: inout DropFile, content: ((DropFile, UnsafeRawBufferPointer) throws -> Void)?
    ) throws -> DropFile {
        var reader = RecordReader()
        file = DropFile()
        var stamped = 0
        var grammar = DropStreamGrammar()
        var envelopeBytes = 0
        var envelopeChecked = false
        while try reader.next(from: fd, { type, payload in
            if type.isStampedByHelper {
                guard stamped < 4, grammar == DropStreamGrammar() else {
                    throw RecordError.unexpected(type, state: "after the header")
                }
                stamped += 1
                let text = String(decoding: payload, as: UTF8.self)
                switch type {
                case .version: file.version = text
                case .queueID: file.queueID = text
                case .uid: file.uid = Int(text) ?? -1
                case .time: file.time = Int(text) ?? 0
                default: break
                }
                return
            }
            try grammar.accept(type)
            if type != .content {
                envelopeBytes += payload.count + RecordLimits.headerSize
                guard envelopeBytes <= RecordLimits.maxEnvelopeBytes else { throw RecordError.envelopeTooLarge(limit: RecordLimits.maxEnvelopeBytes) }
            }
            if type == .content && !envelopeChecked {
                envelopeChecked = true
                if let problem = file.envelopeProblem { throw RecordError.badEnvelope(problem) }
            }
            file.absorb(type, payload)
            if type == .content { try content?(file, payload) }
        }) {}
        guard grammar.isComplete else { throw RecordError.truncated(offset: reader.offset) }
        try file.checkHeader(path: path)
        if let problem = file.envelopeProblem { throw RecordError.badEnvelope(problem) }
        return file
    }

    /// Takes one envelope, content, flush or end record into this value (content only
    /// counts its size). The one decoder of record payloads, for outboxd and the helper.
    public mutating func absorb(_ type: RecordType, _ payload: UnsafeRawBufferPointer) {
        switch type {
        case .sender: sender = String(decoding: payload, as: UTF8.self)
        case .recipient:
            let parts = payload.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
                .map { String(decoding: $0, as: UTF8.self) }
            recipients.append(
                Recipient(parts[0], original: parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil,
                          notify: parts.count > 2 && !parts[2].isEmpty ? parts[2] : nil))
        case .parameter: parameters.append(String(decoding: payload, as: UTF8.self))
        case .content: contentSize += payload.count
        case .flush: isFlushRequest = true
        default: break
        }
    }

    func checkHeader(path: String) throws(RecordError) {
        guard version == DropFile.currentVersion, QueueID(queueID) != nil, uid >= 0 else {
            throw RecordError.unexpected(.version, state: "(bad header in \(path))")
        }
        // Arithmetic on the arrival time (delays, lifetimes, dates) must not overflow.
        guard time >= 0 && time <= MailDate.latest else {
            throw RecordError.unexpected(.time, state: "(arrival time \(time) out of range in \(path))")
        }
    }

    private struct EnvelopeComplete: Error {}

    /// The header and envelope of a drop or queue file, validated, without reading the
    /// message: reading stops at the first content record. For listings, which must not
    /// cost a read of every message (a 100 MB message made each public/mailq rebuild read
    /// 100 MB). `fileSize` stands in for the message size, as in Postfix's mailq.
    public static func readEnvelope(path: String) throws -> (file: DropFile, fileSize: Int) {
        let fd = try openRegularFile(path)
        let size = Int(try fd.status().st_size)
        var file = DropFile()
        do {
            _ = try read(fd, path: path, into: &file) { _, _ in throw EnvelopeComplete() }
        } catch is EnvelopeComplete {
            // The envelope was checked before the first content record was handed out.
            try file.checkHeader(path: path)
        }
        return (file, size)
    }
}

extension DropFile {
    /// Why this envelope would not be sent as it is, or nil: the one validator
    /// (`EnvelopeSyntax`) that `sendmail` also applies before it queues anything.
    public var envelopeProblem: String? {
        if let p = EnvelopeSyntax.senderProblem(sender) { return p }
        for r in recipients {
            if let p = EnvelopeSyntax.recipientProblem(r.address, original: r.original, notify: r.notify) { return p }
        }
        var keys = Set<Substring>()
        for p in parameters {
            if let problem = EnvelopeSyntax.parameterProblem(p) { return problem }
            guard keys.insert(p.prefix { $0 != "=" }).inserted else { return "envelope parameter '\(EnvelopeSyntax.printable(p))' given twice" }
        }
        return nil
    }
}
