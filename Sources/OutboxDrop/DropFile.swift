import Glibc
import OutboxCore

/// The decoded envelope of a drop file, plus the size of its message: the drop format's
/// one record decoder (`absorb`) and envelope check (`envelopeProblem`), shared by the
/// helper and outboxd. Reading whole files is outboxd's (OutboxSpool, DropFile+Reading).
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

    /// The version string every drop file starts with.
    public static let currentVersion = "outbox-drop 1"

    /// The records only a trusted writer stamps at the start of a file: version, queue
    /// ID, uid and arrival time (the drop helper, outboxctl, outboxd's own bounces).
    public static func header(queueID: String, uid: uid_t, time: Int) -> [Record] {
        [Record(.version, currentVersion), Record(.queueID, queueID), Record(.uid, String(uid)), Record(.time, String(time))]
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
                Recipient(
                    parts[0], original: parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil,
                    notify: parts.count > 2 && !parts[2].isEmpty ? parts[2] : nil))
        case .parameter: parameters.append(String(decoding: payload, as: UTF8.self))
        case .content: contentSize += payload.count
        case .flush: isFlushRequest = true
        default: break
        }
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
        guard parameters.count <= EnvelopeSyntax.maxParameters else { return "more than \(EnvelopeSyntax.maxParameters) envelope parameters" }
        var keys = Set<Substring>()
        for p in parameters {
            if let problem = EnvelopeSyntax.parameterProblem(p) { return problem }
            guard keys.insert(p.prefix { $0 != "=" }).inserted else { return "envelope parameter '\(EnvelopeSyntax.printable(p))' given twice" }
        }
        return nil
    }
}
