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
    private var envelopeBytes = 0

    public init() {}

    /// True once the end record has been accepted.
    public var isComplete: Bool { state == .done }

    /// The whole check of one record of a stream, the same for the helper as it writes and
    /// outboxd as it reads (the header records aside): the grammar, the envelope's size,
    /// and the envelope validator before the first content octet is passed on; `file`
    /// takes the record. `finish` checks the end.
    public mutating func accept(_ type: RecordType, _ payload: UnsafeRawBufferPointer, into file: inout DropFile) throws(RecordError) {
        let contentBegins = type == .content && state == .envelope
        try accept(type)
        if type != .content {
            envelopeBytes += payload.count + RecordLimits.headerSize
            guard envelopeBytes <= RecordLimits.maxEnvelopeBytes else { throw .envelopeTooLarge(limit: RecordLimits.maxEnvelopeBytes) }
        } else if contentBegins, let problem = file.envelopeProblem {
            throw .badEnvelope(problem)
        }
        file.absorb(type, payload)
    }

    /// At the end of the input: complete, and the whole envelope valid.
    public func finish(_ file: DropFile, offset: Int) throws(RecordError) {
        guard isComplete else { throw .truncated(offset: offset) }
        if let problem = file.envelopeProblem { throw .badEnvelope(problem) }
    }

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
