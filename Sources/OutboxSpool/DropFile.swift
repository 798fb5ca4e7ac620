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
        path: String, content: ((UnsafeRawBufferPointer) -> Void)? = nil
    ) throws -> DropFile {
        let fd = try FileDescriptor.open(path, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        defer { fd.close() }
        let st = try fd.status()
        guard (st.st_mode & S_IFMT) == S_IFREG, st.st_nlink == 1 else {
            throw SystemError("open", path: path, errno: EINVAL)
        }
        var reader = RecordReader(fd)
        var file = DropFile()
        var stamped = 0
        var grammar = DropStreamGrammar()
        while try reader.next({ type, payload in
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
            switch type {
            case .sender: file.sender = String(decoding: payload, as: UTF8.self)
            case .recipient:
                let parts = payload.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
                    .map { String(decoding: $0, as: UTF8.self) }
                file.recipients.append(
                    Recipient(parts[0], original: parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil,
                              notify: parts.count > 2 && !parts[2].isEmpty ? parts[2] : nil))
            case .parameter: file.parameters.append(String(decoding: payload, as: UTF8.self))
            case .content:
                file.contentSize += payload.count
                content?(payload)
            case .flush: file.isFlushRequest = true
            default: break
            }
        }) {}
        guard grammar.isComplete else { throw RecordError.truncated(offset: reader.offset) }
        guard file.version == currentVersion, QueueID(file.queueID) != nil, file.uid >= 0 else {
            throw RecordError.unexpected(.version, state: "(bad header in \(path))")
        }
        return file
    }
}
