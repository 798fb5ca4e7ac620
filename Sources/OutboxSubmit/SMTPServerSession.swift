import OutboxCore
import OutboxDrop
import OutboxMessage
import OutboxSMTP
import OutboxSpool
import OutboxSupport

/// `sendmail -bs`: an SMTP server dialogue on stdin/stdout, as Symfony Mailer, Laravel and
/// others use it. Several transactions per process; every reply is written at once;
/// nothing ever goes to stderr (those clients treat any stderr output as failure); end of
/// input inside DATA queues nothing.
public final class SMTPServerSession {
    private let context: SubmissionContext
    private let reader: ByteReader
    private let output: FileDescriptor
    private let makeHelper: () throws(SubmissionError) -> DropHelperClient
    private var helo: (name: String, esmtp: Bool)?
    private var sender: String?
    private var senderParameters: [String] = []
    private var declaredBody: String?
    private var recipients: [ResolvedRecipient] = [] {
        didSet {
            if recipients.isEmpty {
                seenRecipients = []
                recipientBytes = 0
            }
        }
    }
    /// Lowercased addresses in `recipients` (duplicates are sent once).
    private var seenRecipients = Set<String>()
    /// What the recipient records of this transaction will take with their framing.
    private var recipientBytes = 0
    /// What the envelope records will take (RecordLimits.maxEnvelopeBytes bounds it; the
    /// helper refuses more): checked at each RCPT, so a client learns it there, with a
    /// 452, and not after sending the whole message.
    private var envelopeBytes: Int { (sender?.utf8.count ?? 0) + 5 + recipientBytes }
    static let commandLimit = 4096

    public init(
        context: SubmissionContext, input: consuming FileDescriptor, output: consuming FileDescriptor,
        makeHelper: @escaping () throws(SubmissionError) -> DropHelperClient
    ) {
        self.context = context
        self.reader = ByteReader(input)
        self.output = output
        self.makeHelper = makeHelper
    }

    private func reply(_ text: String) {
        // A client that went away is not an error worth reporting anywhere.
        try? output.writeAll(text + "\r\n")
    }

    private func resetTransaction() {
        sender = nil
        senderParameters = []
        declaredBody = nil
        recipients = []
    }

    /// Runs the dialogue to QUIT or end of input; returns the exit code.
    public func run() -> ExitCode {
        reply("220 \(context.host.fqdn) ESMTP outbox")
        while true {
            guard let (lineBytes, tooLong) = (try? reader.readLine(limit: Self.commandLimit)) ?? nil else { return .ok }
            if tooLong {
                reply("500 5.5.2 Error: line too long")
                continue
            }
            switch SMTPServerCommand.parse(String(decoding: lineBytes, as: UTF8.self)) {
            case .helo(let name): greet(name, esmtp: false)
            case .ehlo(let name): greet(name, esmtp: true)
            case .mail(let command): mail(command)
            case .rcpt(let command): rcpt(command)
            case .data:
                if sender == nil {
                    reply("503 5.5.1 Error: need MAIL command")
                } else if recipients.isEmpty {
                    reply("503 5.5.1 Error: need RCPT command")
                } else if !data() {
                    return .ok
                }
            case .rset:
                resetTransaction()
                reply("250 2.0.0 Ok")
            case .noop: reply("250 2.0.0 Ok")
            case .vrfy: reply("252 2.0.0 Cannot VRFY user; try RCPT")
            case .help: reply("214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP VRFY QUIT")
            case .quit:
                reply("221 2.0.0 Bye")
                return .ok
            case .notImplemented: reply("502 5.5.1 Error: command not implemented")
            case .unrecognized: reply("502 5.5.2 Error: command not recognized")
            case .refused(let text): reply(text)
            }
        }
    }

    private func greet(_ name: String, esmtp: Bool) {
        resetTransaction()
        helo = (name, esmtp)
        if esmtp {
            reply("250-\(context.host.fqdn)\r\n250-PIPELINING\r\n250-SIZE\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES")
        } else {
            reply("250 \(context.host.fqdn)")
        }
    }

    private func mail(_ command: Result<SMTPServerCommand.Mail, SMTPParameterRefusal>) {
        if sender != nil {
            reply("503 5.5.1 Error: nested MAIL command")
            return
        }
        if let problem = SendmailCommand.queueLimitProblem(context.config) {
            reply("452 4.3.1 Error: \(problem)")
            return
        }
        let path: String, parameters: SMTPServerCommand.MailParameters
        switch command {
        case .success(let mail): (path, parameters) = (mail.path, mail.parameters)
        case .failure(let refusal): return reply(refusal.reply)
        }
        let address: String
        do {
            address = path.isEmpty ? "" : try context.envelopeSender(path)
        } catch {
            reply("501 5.1.7 Bad sender address syntax")
            return
        }
        sender = address
        senderParameters = (parameters.ret.map { ["RET=\($0)"] } ?? []) + (parameters.envid.map { ["ENVID=\($0)"] } ?? [])
        declaredBody = parameters.body
        reply("250 2.1.0 Ok")
    }

    private func rcpt(_ command: Result<SMTPServerCommand.Rcpt, SMTPParameterRefusal>) {
        guard sender != nil else {
            reply("503 5.5.1 Error: need MAIL command")
            return
        }
        let path: String, parameters: SMTPServerCommand.RecipientParameters
        switch command {
        case .success(let rcpt): (path, parameters) = (rcpt.path, rcpt.parameters)
        case .failure(let refusal): return reply(refusal.reply)
        }
        let list: [Mailbox]
        do throws(AddressError) {
            list = try EnvelopeAddress.parseArgument(path)
            guard list.count == 1 else { throw AddressError(path, "one address per RCPT") }
        } catch {
            reply("501 5.1.3 Bad recipient address syntax")
            return
        }
        if recipients.count >= RecordLimits.maxRecipients || envelopeBytes + 2 * path.utf8.count + 64 > RecordLimits.maxEnvelopeBytes {
            reply("452 4.5.3 Error: too many recipients")
            return
        }
        for var r in context.resolver.resolve(list[0]) where seenRecipients.insert(ASCII.lowercased(r.address)).inserted {
            r.notify = parameters.notify
            if let original = parameters.original { r.original = original }
            recipients.append(r)
            recipientBytes += r.address.utf8.count + (r.original?.utf8.count ?? 0) + (r.notify?.utf8.count ?? 0) + 7
        }
        reply("250 2.1.5 Ok")
    }

    /// Reads DATA; returns false when the input ended inside it (nothing queued).
    private func data() -> Bool {
        let helper: DropHelperClient
        do {
            helper = try makeHelper()
        } catch {
            reply("451 4.3.0 Error: cannot start the drop helper")
            resetTransaction()
            return true
        }
        reply("354 End data with <CR><LF>.<CR><LF>")
        let composer = MessageComposer(
            context: context,
            envelope: EnvelopeInput(
                sender: sender!, recipients: recipients, extractFromHeaders: false,
                parameters: senderParameters, declaredBodyType: declaredBody,
                smtpClient: helo.map { ($0.name, $0.esmtp) } ?? ("localhost", false)),
            helper: helper)
        var decoder = SMTPDataDecoder()
        var normalizer = LineEndingNormalizer(dotEndsInput: false)
        var failure: SubmissionError?
        var ended = false
        while !ended {
            if reader.available.isEmpty {
                let more = (try? reader.fill()) ?? false
                if !more {
                    helper.abort()
                    return false
                }
            }
            var decoded: [UInt8] = []
            let (used, done) = decoder.decode(reader.available, into: &decoded)
            reader.consume(used)
            ended = done
            guard failure == nil else { continue }  // keep reading to the end marker
            var normalized: [UInt8] = []
            decoded.withUnsafeBytes { _ = normalizer.feed($0, into: &normalized) }
            do throws(SubmissionError) { try composer.consume(normalized) } catch { failure = error }
        }
        var tail: [UInt8] = []
        normalizer.finish(into: &tail)
        let queued: Result<String, SubmissionError> =
            if let failure {
                .failure(failure)
            } else {
                Result { () throws(SubmissionError) in
                    try composer.consume(tail)
                    return try composer.finish()
                }
            }
        switch queued {
        case .success(let id):
            reply("250 2.0.0 Ok: queued as \(id)")
        case .failure(let failure):
            helper.abort()
            let text = SMTPServerCommand.echo(failure.description)
            switch failure.exitCode {
            case .dataError: reply("554 5.6.0 Error: \(text)")
            case .noUser, .usage: reply("554 5.1.1 Error: \(text)")
            default: reply("451 4.3.0 Error: queue file write error: \(text)")
            }
        }
        resetTransaction()
        return true
    }
}
