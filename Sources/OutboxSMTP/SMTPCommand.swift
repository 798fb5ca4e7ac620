/// Encodes client commands (RFC 5321, RFC 3461 DSN, RFC 6152, RFC 6531).
public enum SMTPCommand: Equatable, Sendable {
    case ehlo(String)
    case helo(String)
    case startTLS
    case auth(mechanism: String, initialResponse: String?)
    case authContinuation(String)
    /// "*": cancels an AUTH exchange (RFC 4954 §4).
    case authCancel
    case mailFrom(String, parameters: [String])
    case rcptTo(String, parameters: [String])
    case data
    case rset
    case noop
    case quit

    /// The command line with CRLF.
    public var line: String {
        switch self {
        case .ehlo(let name): "EHLO \(name)\r\n"
        case .helo(let name): "HELO \(name)\r\n"
        case .startTLS: "STARTTLS\r\n"
        case .auth(let mechanism, let initial): initial.map { "AUTH \(mechanism) \($0.isEmpty ? "=" : $0)\r\n" } ?? "AUTH \(mechanism)\r\n"
        case .authContinuation(let response): "\(response)\r\n"
        case .authCancel: "*\r\n"
        case .mailFrom(let sender, let parameters): (["MAIL FROM:<\(sender)>"] + parameters).joined(separator: " ") + "\r\n"
        case .rcptTo(let recipient, let parameters): (["RCPT TO:<\(recipient)>"] + parameters).joined(separator: " ") + "\r\n"
        case .data: "DATA\r\n"
        case .rset: "RSET\r\n"
        case .noop: "NOOP\r\n"
        case .quit: "QUIT\r\n"
        }
    }

    /// The line as logged: AUTH payloads are never shown.
    public var logLine: String {
        switch self {
        case .auth(let mechanism, _): "AUTH \(mechanism) …"
        case .authContinuation: "…"
        default: String(line.dropLast())  // "\r\n" is one Character
        }
    }
}

/// RFC 3461 xtext.
public enum XText {
    /// Encodes octets outside "!" … "~", and "+" and "=", as "+XX".
    public static func encode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if b >= 33 && b <= 126 && b != UInt8(ascii: "+") && b != UInt8(ascii: "=") {
                out.append(Character(Unicode.Scalar(b)))
            } else {
                let hex = String(b, radix: 16, uppercase: true)
                out += "+" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}
