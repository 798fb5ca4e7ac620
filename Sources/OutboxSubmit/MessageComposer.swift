import Glibc
import OutboxCore
import OutboxDrop
import OutboxMessage
import OutboxSpool
import OutboxSupport

/// The envelope a composer starts with.
public struct EnvelopeInput: Sendable {
    /// Envelope sender; "" is the null sender.
    public var sender: String
    /// Recipients already resolved (command line or RCPT TO).
    public var recipients: [ResolvedRecipient]
    /// -t: add the recipients of To/Cc/Bcc (or Resent-*).
    public var extractFromHeaders: Bool
    /// Envelope parameters known up front (NOTIFY, RET, ENVID, BODY).
    public var parameters: [String]
    /// -B / BODY= as declared by the caller, if any.
    public var declaredBodyType: String?
    /// -F: full name for an added From:.
    public var fullName: String?
    /// The HELO/EHLO name and protocol for Received: in -bs.
    public var smtpClient: (helo: String, esmtp: Bool)?

    public init(
        sender: String, recipients: [ResolvedRecipient], extractFromHeaders: Bool, parameters: [String] = [],
        declaredBodyType: String? = nil, fullName: String? = nil, smtpClient: (helo: String, esmtp: Bool)? = nil
    ) {
        self.sender = sender
        self.recipients = recipients
        self.extractFromHeaders = extractFromHeaders
        self.parameters = parameters
        self.declaredBodyType = declaredBodyType
        self.fullName = fullName
        self.smtpClient = smtpClient
    }
}

/// Turns a CRLF-normalised message into the drop record stream, streaming: the header
/// section is held (bounded), rewritten, and sent with the envelope; body octets are
/// passed on as they come, with only their 8-bit and line-length facts remembered.
public final class MessageComposer {
    private let context: SubmissionContext
    private var envelope: EnvelopeInput
    private let helper: DropHelperClient
    private var headers = HeaderSectionParser()
    private var inBody = false
    private var pendingBody: [UInt8] = []
    private var bodyStatistics = LineStatistics()
    private var headersHaveEightBit = false
    /// Body lines longer than this violate RFC 5321 §4.5.3.1.6.
    static let smtpLineLimit = 998

    public init(context: SubmissionContext, envelope: EnvelopeInput, helper: DropHelperClient) {
        self.context = context
        self.envelope = envelope
        self.helper = helper
    }

    /// Consumes normalised octets.
    public func consume(_ bytes: [UInt8]) throws(SubmissionError) {
        if bytes.isEmpty { return }
        if inBody {
            try body(bytes)
            return
        }
        let progress: HeaderSectionParser.Progress
        do throws(HeaderSectionParser.TooLarge) {
            progress = try bytes.withBytes { (raw) throws(HeaderSectionParser.TooLarge) in try headers.feed(raw) }
        } catch {
            throw SubmissionError(.dataError, "message header section exceeds \(HeaderSectionParser.maxHeaderBytes) bytes")
        }
        if case .complete(let rest) = progress {
            try beginBody()
            try body(rest)
        }
    }

    /// Ends the message and waits for the helper's commit; returns the queue ID.
    public func finish() throws(SubmissionError) -> String {
        if !inBody {
            let rest = headers.finish()
            try beginBody()
            try body(rest)
        }
        try helper.sendContent(pendingBody)
        pendingBody.removeAll()
        let longestLine = bodyStatistics.longestLine
        if envelope.declaredBodyType == nil && (bodyStatistics.hasEightBit || headersHaveEightBit) {
            try helper.send(.parameter, "BODY=8BITMIME")
        }
        if longestLine > Self.smtpLineLimit {
            try helper.send(.parameter, "LONGLINES=\(longestLine)")
        }
        return try helper.finish()
    }

    private func beginBody() throws(SubmissionError) {
        inBody = true
        var recipients = envelope.recipients
        if envelope.extractFromHeaders {
            let found: [Mailbox]
            do throws(HeaderRewriter.RecipientHeaderError) {
                found = try HeaderRewriter.recipients(in: headers.fields)
            } catch {
                throw SubmissionError(.dataError, "\(error)")
            }
            var seen = Set(recipients.map { ASCII.lowercased($0.address) })
            for r in context.resolver.resolveAll(found) where seen.insert(ASCII.lowercased(r.address)).inserted {
                recipients.append(r)
            }
            if recipients.isEmpty {
                throw SubmissionError(.noUser, "no recipient addresses found in message header")
            }
        }
        guard !recipients.isEmpty else { throw SubmissionError(.usage, "no recipients given") }

        // Everything but the queue ID's two fields is composed and the envelope records
        // queued before waiting for the helper's ID: its start-up (exec, configuration,
        // creating its file) then runs beside this work instead of before the rest of it.
        let now = MailDate.now()
        let date = MailDate.rfc5322(now)
        let from = envelope.sender.isEmpty ? "\(context.userName)@\(context.domain)" : envelope.sender
        var rewriteContext = HeaderRewriter.Context(
            domain: context.domain, fromAddress: from, fullName: envelope.fullName ?? context.gecosName,
            received: nil, date: date, messageID: "")
        // With origin_header on, the one X-Outbox-Origin is this host's (a sender's own
        // copy is dropped, even when the origin could not be read).
        if context.config.originHeader { rewriteContext.alsoRemoved = ["x-outbox-origin"] }
        let rewritten = HeaderRewriter.rewriteKnown(headers.fields, context: rewriteContext)
        var originHeader: [UInt8] = []
        let originFields = context.originFields
        if let fields = originFields, context.config.originHeader {
            // Folded between fields (never inside the quoted command line); at most 900
            // octets in all, so no line passes 998.
            // The command line stays on this host (log, queue): it may hold what its
            // author typed there, and a header travels to every recipient.
            let shared = fields.filter { !$0.hasPrefix("cmd=") }
            originHeader = Array(("X-Outbox-Origin: " + shared.joined(separator: "\r\n\t") + "\r\n").utf8)
        }

        var parameters = envelope.parameters
        if let fields = originFields { parameters.append("ORIGIN=" + fields.joined(separator: " ")) }
        if let body = envelope.declaredBodyType { parameters.append("BODY=\(body)") }
        let addresses = [envelope.sender] + recipients.map { $0.address }
        if addresses.contains(where: { $0.utf8.contains { $0 >= 0x80 } }) { parameters.append("SMTPUTF8") }
        // The daemon's own check of the envelope, run here before anything is queued:
        // whatever outboxd would refuse is refused now, with one line naming it.
        var check = DropFile()
        check.sender = envelope.sender
        check.recipients = recipients.map { DropFile.Recipient($0.address, original: $0.original, notify: $0.notify) }
        check.parameters = parameters
        if let problem = check.envelopeProblem { throw SubmissionError(.dataError, problem) }

        try helper.send(.sender, envelope.sender)
        for p in parameters { try helper.send(.parameter, p) }
        for r in recipients {
            var payload = Array(r.address.utf8)
            if r.original != nil || r.notify != nil {
                payload.append(0)
                payload += Array((r.original ?? "").utf8)
            }
            if let notify = r.notify {
                payload.append(0)
                payload += Array(notify.utf8)
            }
            try payload.withBytes { (raw) throws(SubmissionError) in try helper.send(.recipient, raw) }
        }

        let queueID = try helper.queueID()
        // The "by HOST (outbox, from userid N)" line is outboxd's: it adds it to every
        // message it adopts, from the uid the drop helper stamped, so that mail written
        // to the helper directly is traceable too. Only the -bs hop is recorded here.
        let received = envelope.smtpClient.map { client in
            "Received: from \(client.helo) (\(context.userName)@localhost)\r\n\tby \(context.host.fqdn) (outbox) with \(client.esmtp ? "ESMTP" : "SMTP") id \(queueID);\r\n\t\(date)"
        }
        var headerBytes = rewritten.completed(received: received, messageID: "<\(MailDate.compact(now)).\(queueID)@\(context.domain)>")
        headerBytes += originHeader
        headerBytes += ASCII.crlf
        headersHaveEightBit = headerBytes.contains { $0 >= 0x80 }

        pendingBody = headerBytes
    }

    private func body(_ bytes: [UInt8]) throws(SubmissionError) {
        if bytes.isEmpty { return }
        bodyStatistics.scan(bytes)
        if pendingBody.isEmpty && bytes.count >= RecordLimits.maxContentPayload {
            try helper.sendContent(bytes)
            return
        }
        pendingBody += bytes
        if pendingBody.count >= RecordLimits.maxContentPayload {
            try helper.sendContent(pendingBody)
            pendingBody.removeAll(keepingCapacity: true)
        }
    }
}
