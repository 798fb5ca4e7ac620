/// The client side of one message's delivery on an open session, as a value: it says
/// which commands to send and, fed the server's replies one by one, what became of each
/// recipient. No I/O: RelaySession moves the bytes; `DeliveryPolicy` judges every reply.
///
/// It covers RSET before a transaction that follows an unfinished one, MAIL/RCPT/DATA
/// pipelined in one write when the server offers PIPELINING (RFC 2920) and one by one
/// otherwise, 452 continuation (recipients refused for "too many" go again at once in a
/// new transaction, RFC 5321 §4.5.3.1.10), a 354 after every recipient was refused (ended
/// with a lone "." and the session given up), 421 anywhere (the session ends; recipients
/// without a reply are deferred), and the final reply after the content.
///
///     var t = SMTPTransaction(envelope: e, capabilities: caps, peer: "mx", needsReset: false)
///     var action = t.start()
///     while action != .finished { … send what `action` says, then action = t.receive(reply) … }
///     t.verdicts   // one per recipient
public struct SMTPTransaction: Sendable {
    public enum Action: Equatable, Sendable {
        /// Write these commands (in one write), then feed each reply in order.
        case send([SMTPCommand])
        /// Feed the next reply.
        case awaitReply
        /// Stream the content, dot-stuffed, with the final ".", then feed the reply (with
        /// the DATA timeout).
        case sendContent
        /// The server said 354 but no recipient is left: send a lone "." (nothing can be
        /// delivered), feed its reply; the session is given up afterwards.
        case abandonData
        /// Nothing more to send for this message: read `verdicts`.
        case finished
    }

    /// What each sent command waits for.
    private enum Expected: Equatable, Sendable {
        case rset, mail, rcpt(SMTPEnvelope.Recipient), data, endOfData, abandonedData

        /// The policy's stage for a transaction command's reply.
        var stage: DeliveryPolicy.Stage? {
            switch self {
            case .mail: .mailFrom
            case .rcpt: .rcptTo
            case .data: .data
            case .endOfData: .endOfData
            case .rset, .abandonedData: nil
            }
        }
    }

    public let envelope: SMTPEnvelope
    public let capabilities: SMTPCapabilities
    let peer: String
    /// One per recipient once finished, in the order decided.
    public private(set) var verdicts: [RecipientVerdict] = []
    /// False once the server ends the session or a transaction broke mid-way.
    public private(set) var sessionUsable = true
    /// The next transaction on this session must start with RSET (this one ended without
    /// a final reply to DATA).
    public private(set) var needsReset: Bool

    private var expected: [Expected] = []
    private var roundRecipients: [SMTPEnvelope.Recipient] = []
    private var unsent: [SMTPEnvelope.Recipient] = []
    private var accepted: [SMTPEnvelope.Recipient] = []
    private var retry: [SMTPEnvelope.Recipient] = []
    private var retryReply: SMTPReply?
    private var mailRefused = false
    private var done = false

    public init(envelope: SMTPEnvelope, capabilities: SMTPCapabilities, peer: String, needsReset: Bool) {
        self.envelope = envelope
        self.capabilities = capabilities
        self.peer = peer
        self.needsReset = needsReset
    }

    /// The first action. Facts known before any command (size, SMTPUTF8) finish at once.
    public mutating func start() -> Action {
        if let limit = capabilities.sizeLimit, envelope.size > limit {
            return finish(all: .sizeOverLimit(size: envelope.size, limit: limit, peer: peer))
        }
        if envelope.smtpUTF8 && !capabilities.smtpUTF8 {
            return finish(all: .smtpUTF8Unsupported(peer: peer))
        }
        return begin(envelope.recipients)
    }

    /// Feeds the reply to the oldest command still waiting for one.
    public mutating func receive(_ reply: SMTPReply) -> Action {
        guard !done, !expected.isEmpty else { return .finished }
        let what = expected.removeFirst()
        if DeliveryPolicy.endsSession(reply) { sessionUsable = false }
        // After a refused MAIL, or at DATA without an accepted recipient, a refusal is
        // what a server in step sends.
        let refusalExpected = mailRefused && what != .mail || (what == .data && accepted.isEmpty)
        if let stage = what.stage, DeliveryPolicy.desynchronised(stage, reply, refusalExpected: refusalExpected) { sessionUsable = false }
        switch what {
        case .rset:
            guard reply.isPositive else {
                sessionUsable = false
                return finish()
            }
            needsReset = false
            return begin(roundRecipients)
        case .mail:
            let verdict = DeliveryPolicy.verdict(.reply(.mailFrom, reply))
            if verdict.action != .proceed {
                mailRefused = true
                decide(roundRecipients, verdict)
                if !sessionUsable || expected.isEmpty { return endRound(completed: false) }
            } else if !capabilities.pipelining {
                return sendNextUnpipelined()
            }
            return .awaitReply
        case .rcpt(let recipient):
            if !mailRefused {
                let verdict = DeliveryPolicy.verdict(.reply(.rcptTo, reply))
                switch verdict.action {
                case .proceed: accepted.append(recipient)
                case .retryInNewTransaction:
                    retry.append(recipient)
                    retryReply = reply
                default: decide([recipient], verdict)
                }
            }
            if !sessionUsable { return endRound(completed: false) }
            if !capabilities.pipelining { return sendNextUnpipelined() }
            return .awaitReply
        case .data:
            if reply.isIntermediate && (mailRefused || accepted.isEmpty || !sessionUsable) {
                expected.append(.abandonedData)
                return .abandonData
            }
            if mailRefused || accepted.isEmpty { return endRound(completed: false) }
            let verdict = DeliveryPolicy.verdict(.reply(.data, reply))
            guard verdict.action == .proceed else {
                decide(accepted, verdict)
                return endRound(completed: false)
            }
            expected.append(.endOfData)
            return .sendContent
        case .endOfData:
            decide(accepted, DeliveryPolicy.verdict(.reply(.endOfData, reply)))
            return endRound(completed: true)
        case .abandonedData:
            sessionUsable = false
            return endRound(completed: false)
        }
    }

    /// The connection failed (closed, timed out, TLS error) while this message was under
    /// way: recipients without a verdict are deferred with `reason`, verdicts already
    /// given stand, and the session is not reused.
    public mutating func connectionLost(_ reason: String) {
        sessionUsable = false
        expected = []
        _ = finish(rest: .sessionFailed(reason))
    }

    // MARK: - Rounds

    /// Starts a transaction for `recipients` (RSET first when the last one was left open).
    private mutating func begin(_ recipients: [SMTPEnvelope.Recipient]) -> Action {
        roundRecipients = recipients
        accepted = []
        retry = []
        mailRefused = false
        if needsReset {
            expected = [.rset]
            return .send([.rset])
        }
        let mail = envelope.mailCommand(capabilities)
        if capabilities.pipelining {
            expected = [.mail] + recipients.map { .rcpt($0) } + [.data]
            return .send([mail] + recipients.map { SMTPEnvelope.rcptCommand($0, capabilities) } + [.data])
        }
        unsent = recipients
        expected = [.mail]
        return .send([mail])
    }

    /// Without PIPELINING: the next RCPT, then DATA only if a recipient was accepted.
    private mutating func sendNextUnpipelined() -> Action {
        if !unsent.isEmpty {
            let next = unsent.removeFirst()
            expected = [.rcpt(next)]
            return .send([SMTPEnvelope.rcptCommand(next, capabilities)])
        }
        guard !accepted.isEmpty else { return endRound(completed: false) }
        expected = [.data]
        return .send([.data])
    }

    private mutating func endRound(completed: Bool) -> Action {
        expected = []
        needsReset = !completed
        if !retry.isEmpty && retry.count == roundRecipients.count, let retryReply {
            // 452 for every recipient: no progress is possible now, and a server that
            // limits recipients per session would refuse the next message too.
            sessionUsable = false
            return finish(rest: .allRecipientsRetried(retryReply))
        }
        guard !retry.isEmpty, sessionUsable else { return finish() }
        return begin(retry)
    }

    private mutating func decide(_ recipients: [SMTPEnvelope.Recipient], _ verdict: DeliveryVerdict) {
        verdicts += recipients.map { RecipientVerdict(index: $0.index, verdict: verdict) }
    }

    private mutating func finish(all fact: DeliveryPolicy.Fact) -> Action {
        decide(envelope.recipients, DeliveryPolicy.verdict(fact))
        done = true
        return .finished
    }

    /// Ends the message: every recipient without a verdict gets `rest`'s.
    private mutating func finish(rest: DeliveryPolicy.Fact? = nil) -> Action {
        let decided = Set(verdicts.map { $0.index })
        let verdict = DeliveryPolicy.verdict(rest ?? .sessionEnded(peer: peer))
        decide(envelope.recipients.filter { !decided.contains($0.index) }, verdict)
        done = true
        expected = []
        return .finished
    }
}

/// The verdict on one recipient (by its index in the queue file).
public struct RecipientVerdict: Equatable, Sendable {
    public var index: Int
    public var verdict: DeliveryVerdict

    public init(index: Int, verdict: DeliveryVerdict) {
        self.index = index
        self.verdict = verdict
    }
}
