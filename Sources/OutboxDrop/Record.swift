import OutboxCore

/// The kinds of record in a drop stream and a drop file (see outbox-spool(5)).
///
/// Every record is framed as one type octet, a 4-octet big-endian payload length, and the
/// payload, so a reader always knows where a record ends and a truncated file is detected.
public enum RecordType: UInt8, Sendable, CaseIterable {
    /// File format version; first record of every drop file (written by the drop helper).
    case version = 0x56  // V
    /// Queue ID (drop helper).
    case queueID = 0x49  // I
    /// Submitting user's real uid, decimal (drop helper).
    case uid = 0x55  // U
    /// Arrival time, decimal seconds since the epoch (drop helper).
    case time = 0x54  // T
    /// Envelope sender; empty payload is the null sender `<>`.
    case sender = 0x53  // S
    /// Envelope recipient: address, optionally NUL and the original (ORCPT) address.
    case recipient = 0x52  // R
    /// Envelope parameter `KEY=value` (BODY, RET, ENVID, NOTIFY, SMTPUTF8, LONGLINES …).
    case parameter = 0x50  // P
    /// A chunk of the message, CRLF line endings, not dot-stuffed.
    case content = 0x4D  // M
    /// A flush request (`sendmail -q`): no envelope, no content.
    case flush = 0x46  // F
    /// End of the stream; a file without it is incomplete.
    case end = 0x45  // E

    /// The largest payload this type may carry.
    public var maxPayload: Int {
        switch self {
        case .content: RecordLimits.maxContentPayload
        default: RecordLimits.maxEnvelopePayload
        }
    }

    /// The record types only the drop helper may write: a client that sends one is lying
    /// about its identity or the time.
    public var isStampedByHelper: Bool {
        switch self {
        case .version, .queueID, .uid, .time: true
        default: false
        }
    }
}

/// Size limits shared by writer and readers.
public enum RecordLimits {
    public static let maxEnvelopePayload = 4096
    public static let maxContentPayload = 65536
    public static let maxRecipients = 10_000
    public static let maxParameters = 64
    /// All envelope records of one message together (sender, recipients, parameters,
    /// with their framing): bounds what one message can make outboxd hold in memory
    /// (1 000 recipients of 1 KB each, or 30 000 ordinary ones).
    public static let maxEnvelopeBytes = 1 << 20
    /// The largest drop or queue file (the helper refuses to write more; outboxd refuses
    /// to adopt more). Header records add well under 1 KiB to the records counted.
    public static let maxFileSize = (1 << 31) - 4096
    public static let headerSize = 5
}

/// One decoded record.
public struct Record: Equatable, Sendable {
    public var type: RecordType
    public var payload: [UInt8]

    public init(_ type: RecordType, _ payload: [UInt8] = []) {
        self.type = type
        self.payload = payload
    }

    public init(_ type: RecordType, _ text: String) {
        self.init(type, Array(text.utf8))
    }

    /// The payload as UTF-8 text (invalid sequences replaced).
    public var text: String { String(decoding: payload, as: UTF8.self) }
}

/// Why a record stream or drop file was refused.
public enum RecordError: AdminError, Equatable {
    case truncated(offset: Int)
    case oversized(type: RecordType, length: Int)
    case unknownType(UInt8, offset: Int)
    case unexpected(RecordType, state: String)
    case tooMany(RecordType)
    case missingRecipients
    case envelopeTooLarge(limit: Int)
    case badEnvelope(String)

    public var description: String {
        switch self {
        case .truncated(let offset): "record stream truncated at offset \(offset)"
        case .oversized(let type, let length):
            "record '\(Character(Unicode.Scalar(type.rawValue)))' of \(length) bytes exceeds \(type.maxPayload)"
        case .unknownType(let byte, let offset): "unknown record type 0x\(String(byte, radix: 16)) at offset \(offset)"
        case .unexpected(let type, let state):
            "unexpected record '\(Character(Unicode.Scalar(type.rawValue)))' \(state)"
        case .tooMany(let type): "too many '\(Character(Unicode.Scalar(type.rawValue)))' records"
        case .missingRecipients: "message has no recipients"
        case .envelopeTooLarge(let limit): "envelope (sender, recipients, parameters) exceeds \(limit) bytes"
        case .badEnvelope(let problem): problem
        }
    }

    public var exitCode: ExitCode { .dataError }
}
