import OutboxCore

/// One command line a client sent to outbox's SMTP server side (`sendmail -bs`), parsed:
/// the verb, and for MAIL and RCPT the path and the parameters, validated and decoded
/// (RFC 5321 §4.1.1, RFC 1870 SIZE, RFC 6152 BODY, RFC 3461 DSN, RFC 6531 SMTPUTF8).
/// No I/O and no policy: what to do with an address is the session's business.
public enum SMTPServerCommand: Equatable, Sendable {
    case helo(String)
    case ehlo(String)
    /// MAIL, or the reply for its bad syntax (the session checks the sequence first, as
    /// Postfix does: a nested MAIL is 503 whatever its parameters).
    case mail(Result<Mail, SMTPParameterRefusal>)
    case rcpt(Result<Rcpt, SMTPParameterRefusal>)
    case data
    case rset
    case noop
    case vrfy
    case help
    case quit
    /// A command outbox knows but does not offer (EXPN, ETRN, TURN, STARTTLS, AUTH, BDAT).
    case notImplemented
    case unrecognized
    /// A known command with bad syntax: the reply says what was wrong.
    case refused(String)

    /// A MAIL or RCPT command's path and parameters.
    public struct Addressed<Parameters: Equatable & Sendable>: Equatable, Sendable {
        public var path: String
        public var parameters: Parameters
        public init(path: String, _ parameters: Parameters) {
            self.path = path
            self.parameters = parameters
        }
    }

    public typealias Mail = Addressed<MailParameters>
    public typealias Rcpt = Addressed<RecipientParameters>

    /// MAIL FROM parameters outbox accepts.
    public struct MailParameters: Equatable, Sendable {
        /// BODY=7BIT or 8BITMIME.
        public var body: String?
        /// RET=FULL or HDRS.
        public var ret: String?
        /// ENVID as sent (xtext).
        public var envid: String?
        public var smtpUTF8 = false
        /// SIZE=, as declared.
        public var size: UInt64?

        public init(body: String? = nil, ret: String? = nil, envid: String? = nil, smtpUTF8: Bool = false, size: UInt64? = nil) {
            self.body = body
            self.ret = ret
            self.envid = envid
            self.smtpUTF8 = smtpUTF8
            self.size = size
        }
    }

    /// RCPT TO parameters outbox accepts.
    public struct RecipientParameters: Equatable, Sendable {
        /// NOTIFY=…, uppercased.
        public var notify: String?
        /// ORCPT's rfc822 address, xtext-decoded.
        public var original: String?

        public init(notify: String? = nil, original: String? = nil) {
            self.notify = notify
            self.original = original
        }
    }

    /// Parses one command line (without its CRLF).
    public static func parse(_ line: String) -> SMTPServerCommand {
        let verbEnd = line.firstIndex(of: " ") ?? line.endIndex
        let verb = line[..<verbEnd].uppercased()
        let argument = String(line[verbEnd...].drop(while: { $0 == " " }))
        switch verb {
        case "HELO", "EHLO":
            guard let name = argument.split(separator: " ").first.map(String.init) else { return .refused("501 5.5.4 Syntax: \(verb) hostname") }
            return verb == "EHLO" ? .ehlo(name) : .helo(name)
        case "MAIL":
            guard let (path, words) = pathAndParameters(argument, keyword: "FROM:") else {
                return .mail(.failure(.init(reply: "501 5.5.4 Syntax: MAIL FROM:<address>")))
            }
            return .mail(MailParameters.parse(words).map { Mail(path: path, $0) })
        case "RCPT":
            guard let (path, words) = pathAndParameters(argument, keyword: "TO:") else {
                return .rcpt(.failure(.init(reply: "501 5.5.4 Syntax: RCPT TO:<address>")))
            }
            return .rcpt(RecipientParameters.parse(words).map { Rcpt(path: path, $0) })
        case "DATA": return argument.isEmpty ? .data : .refused("501 5.5.4 Syntax: DATA")
        case "RSET": return .rset
        case "NOOP": return .noop
        case "VRFY": return .vrfy
        case "HELP": return .help
        case "QUIT": return .quit
        case "EXPN", "ETRN", "TURN", "STARTTLS", "AUTH", "BDAT": return .notImplemented
        case "": return .refused("500 5.5.2 Error: bad syntax")
        default: return .unrecognized
        }
    }

    /// Splits `FROM:<addr> PARAMS` / `TO:<addr> PARAMS` after the keyword. A `>` inside a
    /// quoted local part does not end the path.
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

    /// Client text quoted in a reply, as printable ASCII: a CR or other control octet the
    /// client put inside a command line must not break the framing of what it reads back.
    public static func echo(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7f ? $0 : "?" }))
    }

    /// `KEY=value` → (KEY uppercased, value uppercased, value as sent).
    static func keyValue(_ p: String) -> (key: String, value: String?, raw: String?) {
        guard let eq = p.firstIndex(of: "=") else { return (p.uppercased(), nil, nil) }
        let raw = String(p[p.index(after: eq)...])
        return (p[..<eq].uppercased(), raw.uppercased(), raw)
    }
}

/// Why a parameter was refused: the whole reply line.
public struct SMTPParameterRefusal: Error, Equatable, Sendable {
    public let reply: String
}

extension SMTPServerCommand {
    /// Each `KEY[=value]` of a MAIL or RCPT command, once: `apply` takes (key uppercased,
    /// value uppercased, value as sent) and returns a refusal, or nil when it took it.
    static func eachParameter(
        _ words: [String], _ apply: (String, String?, String?) -> SMTPParameterRefusal?
    ) -> SMTPParameterRefusal? {
        var keys = Set<String>()
        for p in words {
            let (key, value, raw) = keyValue(p)
            guard keys.insert(key).inserted else { return .init(reply: "501 5.5.4 Duplicate parameter: \(echo(p))") }
            if let refusal = apply(key, value, raw) {
                return refusal.reply.isEmpty ? .init(reply: "555 5.5.4 Unsupported option: \(echo(p))") : refusal
            }
        }
        return nil
    }
}

extension SMTPParameterRefusal {
    /// The parameter is unknown or its value unusable: 555 naming it.
    static let unsupported = SMTPParameterRefusal(reply: "")
}

extension SMTPServerCommand.MailParameters {
    static func parse(_ words: [String]) -> Result<Self, SMTPParameterRefusal> {
        var parameters = Self()
        let refusal = SMTPServerCommand.eachParameter(words) { key, value, raw in
            switch key {
            case "SIZE" where value.flatMap { UInt64($0) } != nil: parameters.size = UInt64(value!)
            case "BODY" where value == "7BIT" || value == "8BITMIME": parameters.body = value
            case "RET" where value == "FULL" || value == "HDRS": parameters.ret = value
            case "ENVID" where raw.map { XText.decode($0) != nil && $0.utf8.count <= 100 } ?? false: parameters.envid = raw
            case "SMTPUTF8" where value == nil: parameters.smtpUTF8 = true
            case "AUTH": break
            default: return .unsupported
            }
            return nil
        }
        return refusal.map { .failure($0) } ?? .success(parameters)
    }
}

extension SMTPServerCommand.RecipientParameters {
    static func parse(_ words: [String]) -> Result<Self, SMTPParameterRefusal> {
        var parameters = Self()
        let refusal = SMTPServerCommand.eachParameter(words) { key, value, raw in
            switch key {
            case "NOTIFY" where value != nil:
                let items = value!.split(separator: ",").map(String.init)
                guard items == ["NEVER"] || (!items.isEmpty && items.allSatisfy({ ["SUCCESS", "FAILURE", "DELAY"].contains($0) })) else {
                    return .init(reply: "501 5.5.4 Bad NOTIFY parameter syntax")
                }
                parameters.notify = value
            case "ORCPT" where raw != nil:
                guard let semi = raw!.firstIndex(of: ";"), raw![..<semi].uppercased() == "RFC822",
                    let decoded = XText.decode(String(raw![raw!.index(after: semi)...])),
                    EnvelopeSyntax.originalProblem(decoded) == nil
                else { return .init(reply: "501 5.5.4 Bad ORCPT parameter syntax") }
                parameters.original = decoded
            default: return .unsupported
            }
            return nil
        }
        return refusal.map { .failure($0) } ?? .success(parameters)
    }
}

extension XText {
    /// RFC 3461 xtext: printable ASCII except '+' and '=', with "+XX" escapes; nil when
    /// malformed.
    public static func decode(_ s: String) -> String? {
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
