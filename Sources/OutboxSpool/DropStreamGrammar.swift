/// The order of records a client (sendmail) may send to the drop helper:
///
///     stream  = message / flush
///     message = S *(P / R) *M *P E      ; at least one R
///     flush   = F E
///
/// Trailing P records after the content carry facts known only at the end (8-bit body,
/// long lines). The helper checks only this grammar and the limits; it never looks inside
/// a payload.
public struct DropStreamGrammar: Sendable, Equatable {
    enum State: String, Sendable {
        case start = "at the start of the stream"
        case envelope = "in the envelope"
        case content = "in the message content"
        case trailer = "after the message content"
        case flush = "after a flush request"
        case done = "after the end record"
    }

    private var state = State.start
    private var recipients = 0
    private var parameters = 0

    public init() {}

    /// True once the end record has been accepted.
    public var isComplete: Bool { state == .done }

    /// Accepts the next record type or throws why it is not allowed here.
    public mutating func accept(_ type: RecordType) throws(RecordError) {
        switch (state, type) {
        case (.start, .sender): state = .envelope
        case (.start, .flush): state = .flush
        case (.envelope, .recipient):
            recipients += 1
            if recipients > RecordLimits.maxRecipients { throw .tooMany(.recipient) }
        case (.envelope, .parameter), (.content, .parameter), (.trailer, .parameter):
            if state == .content { state = .trailer }
            parameters += 1
            if parameters > RecordLimits.maxParameters { throw .tooMany(.parameter) }
        case (.envelope, .content), (.envelope, .end):
            guard recipients > 0 else { throw .missingRecipients }
            state = type == .end ? .done : .content
        case (.content, .content): break
        case (.content, .end), (.trailer, .end), (.flush, .end): state = .done
        default: throw .unexpected(type, state: state.rawValue)
        }
    }
}
