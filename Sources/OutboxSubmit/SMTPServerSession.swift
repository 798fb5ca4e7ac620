import OutboxCore
import OutboxMessage
import OutboxSpool

/// `sendmail -bs`: an SMTP server dialogue on stdin/stdout, as Symfony Mailer, Laravel and
/// others use it. Several transactions per process; every reply is written at once;
/// nothing ever goes to stderr (those clients treat any stderr output as failure); end of
/// input inside DATA queues nothing.
public final class SMTPServerSession {
    private let context: SubmissionContext
    private let reader: ByteReader
    private let output: FileDescriptor
    private let makeHelper: () throws -> DropHelperClient
    private var helo: (name: String, esmtp: Bool)?
    private var sender: String?
    private var senderParameters: [String] = []
    private var declaredBody: String?
    private var recipients: [ResolvedRecipient] = [] {
        didSet { if recipients.isEmpty { seenRecipients = []; recipientBytes = 0 } }
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

    public init(context: SubmissionContext, input: FileDescriptor, output: FileDescriptor,
                makeHelper: @escaping () throws -> DropHelperClient) {
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
            let line = String(decoding: lineBytes, as: UTF8.self)
            let verbEnd = line.firstIndex(of: " ") ?? line.endIndex
            let verb = line[..<verbEnd].uppercased()
            let argument = String(line[verbEnd...].drop(while: { $0 == " " }))
            switch verb {
            case "HELO", "EHLO":
                guard !argument.isEmpty else {
                    reply("501 5.5.4 Syntax: \(verb) hostname")
                    continue
                }
                resetTransaction()
                helo = (argument.split(separator: " ").first.map(String.init) ?? argument, verb == "EHLO")
                if verb == "EHLO" {
                    reply("250-\(context.host.fqdn)\r\n250-PIPELINING\r\n250-SIZE\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES")
                } else {
                    reply("250 \(context.host.fqdn)")
                }
            case "MAIL": mail(argument)
            case "RCPT": rcpt(argument)
            case "DATA":
                if !argument.isEmpty {
                    reply("501 5.5.4 Syntax: DATA")
                } else if sender == nil {
                    reply("503 5.5.1 Error: need MAIL command")
                } else if recipients.isEmpty {
                    reply("503 5.5.1 Error: need RCPT command")
                } else if !data() {
                    return .ok
                }
            case "RSET":
                resetTransaction()
                reply("250 2.0.0 Ok")
            case "NOOP": reply("250 2.0.0 Ok")
            case "VRFY": reply("252 2.0.0 Cannot VRFY user; try RCPT")
            case "HELP": reply("214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP VRFY QUIT")
            case "QUIT":
                reply("221 2.0.0 Bye")
                return .ok
            case "EXPN", "ETRN", "TURN", "STARTTLS", "AUTH", "BDAT":
                reply("502 5.5.1 Error: command not implemented")
            case "":
                reply("500 5.5.2 Error: bad syntax")
            default:
                reply("502 5.5.2 Error: command not recognized")
            }
        }
    }

    /// Client text quoted in a reply, as printable ASCII: a CR or other control octet the
    /// client put inside a command line must not break the framing of what it reads back.
    static func echo(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7f ? $0 : "?" }))
    }

    /// Splits `FROM:<addr> PARAMS` / `TO:<addr> PARAMS` after the keyword.
    static func pathAndParameters(_ argument: String, keyword: String) -> (path: String, parameters: [String])? {
        guard argument.uppercased().hasPrefix(keyword) else { return nil }
        var rest = Substring(argument.dropFirst(keyword.count)).drop(while: { $0 == " " })
        var path: Substring
        if rest.first == "<" {
            var quoted = false
            var end: Substring.Index?
            var i = rest.startIndex
            while i < rest.endIndex {
                if rest[i] == "\"" { quoted.toggle() }
                if rest[i] == ">" && !quoted {
                    end = i
                    break
                }
                i = rest.index(after: i)
            }
            guard let close = end else { return nil }
            path = rest[rest.index(after: rest.startIndex)..<close]
            rest = rest[rest.index(after: close)...]
        } else {
            let space = rest.firstIndex(of: " ") ?? rest.endIndex
            path = rest[..<space]
            rest = rest[space...]
        }
        return (String(path), rest.split(separator: " ").map(String.init))
    }

    private func mail(_ argument: String) {
        if sender != nil {
            reply("503 5.5.1 Error: nested MAIL command")
            return
        }
        if let problem = SendmailCommand.queueLimitProblem(context.config) {
            reply("452 4.3.1 Error: \(problem)")
            return
        }
        guard let (path, parameters) = Self.pathAndParameters(argument, keyword: "FROM:") else {
            reply("501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        }
        var accepted: [String] = []
        var body: String?
        var keys = Set<String>()
        for p in parameters {
            let (key, value) = Self.keyValue(p)
            guard keys.insert(key).inserted else {
                reply("501 5.5.4 Duplicate parameter: \(Self.echo(p))")
                return
            }
            switch key {
            case "SIZE" where value.map { UInt64($0) != nil } ?? false: break
            case "BODY" where value == "7BIT" || value == "8BITMIME": body = value
            case "RET" where value == "FULL" || value == "HDRS": accepted.append("RET=\(value!)")
            case "ENVID" where value.map(Self.isXtext) ?? false: accepted.append("ENVID=\(Self.originalValue(p))")
            case "SMTPUTF8" where value == nil: break
            case "AUTH": break
            default:
                reply("555 5.5.4 Unsupported option: \(Self.echo(p))")
                return
            }
        }
        let address: String
        do {
            address = path.isEmpty ? "" : try context.envelopeSender(path)
        } catch {
            reply("501 5.1.7 Bad sender address syntax")
            return
        }
        sender = address
        senderParameters = accepted
        declaredBody = body
        reply("250 2.1.0 Ok")
    }

    private func rcpt(_ argument: String) {
        guard sender != nil else {
            reply("503 5.5.1 Error: need MAIL command")
            return
        }
        guard let (path, parameters) = Self.pathAndParameters(argument, keyword: "TO:") else {
            reply("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        }
        var notify: String?
        var orcpt: String?
        for p in parameters {
            let (key, value) = Self.keyValue(p)
            switch key {
            case "NOTIFY" where value != nil:
                let items = value!.split(separator: ",").map(String.init)
                guard items == ["NEVER"] || (!items.isEmpty && items.allSatisfy({ ["SUCCESS", "FAILURE", "DELAY"].contains($0) })) else {
                    reply("501 5.5.4 Bad NOTIFY parameter syntax")
                    return
                }
                notify = value
            case "ORCPT" where value != nil:
                let original = Self.originalValue(p)
                guard let semi = original.firstIndex(of: ";"), original[..<semi].uppercased() == "RFC822",
                      let decoded = Self.decodeXtext(String(original[original.index(after: semi)...])),
                      EnvelopeSyntax.originalProblem(decoded) == nil
                else {
                    reply("501 5.5.4 Bad ORCPT parameter syntax")
                    return
                }
                orcpt = decoded
            default:
                reply("555 5.5.4 Unsupported option: \(Self.echo(p))")
                return
            }
        }
        let list: [Mailbox]
        do {
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
            r.notify = notify
            if let orcpt { r.original = orcpt }
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
            envelope: EnvelopeInput(sender: sender!, recipients: recipients, extractFromHeaders: false,
                                    parameters: senderParameters, declaredBodyType: declaredBody,
                                    smtpClient: helo.map { ($0.name, $0.esmtp) } ?? ("localhost", false)),
            helper: helper)
        var decoder = DataDecoder()
        var normalizer = LineEndingNormalizer(dotEndsInput: false)
        var failure: (any Error)?
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
            do { try composer.consume(normalized) } catch { failure = error }
        }
        var tail: [UInt8] = []
        normalizer.finish(into: &tail)
        if failure == nil {
            do {
                try composer.consume(tail)
                let id = try composer.finish()
                reply("250 2.0.0 Ok: queued as \(id)")
                resetTransaction()
                return true
            } catch { failure = error }
        }
        helper.abort()
        let admin = failure as? any AdminError
        let text = Self.echo(admin.map { "\($0)" } ?? "\(failure!)")
        switch admin?.exitCode {
        case .dataError?: reply("554 5.6.0 Error: \(text)")
        case .noUser?, .usage?: reply("554 5.1.1 Error: \(text)")
        default: reply("451 4.3.0 Error: queue file write error: \(text)")
        }
        resetTransaction()
        return true
    }

    static func keyValue(_ p: String) -> (String, String?) {
        guard let eq = p.firstIndex(of: "=") else { return (p.uppercased(), nil) }
        return (p[..<eq].uppercased(), String(p[p.index(after: eq)...]).uppercased())
    }

    static func originalValue(_ p: String) -> String {
        guard let eq = p.firstIndex(of: "=") else { return "" }
        return String(p[p.index(after: eq)...])
    }

    /// RFC 3461 xtext: printable ASCII except '+' and '=', with "+XX" escapes.
    static func isXtext(_ s: String) -> Bool { decodeXtext(s) != nil && s.utf8.count <= 100 }

    static func decodeXtext(_ s: String) -> String? {
        var out: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "+") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                out.append(v)
                it = it.dropFirst(2)
            } else {
                guard b > 32, b < 127, b != UInt8(ascii: "=") else { return nil }
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
