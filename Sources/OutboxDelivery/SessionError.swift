import OutboxCore
import OutboxNet
import OutboxSASL
import OutboxSMTP

/// Why a smarthost session failed as a whole (before or between messages). Every case is
/// temporary for the messages involved: they are retried, and the next smarthost is tried.
public enum SessionError: Error, Equatable, Sendable, CustomStringConvertible {
    case transport(TransportError)
    case protocolError(SMTPProtocolError)
    /// The server answered a session command (greeting, EHLO, STARTTLS, AUTH) negatively.
    case rejected(stage: String, reply: SMTPReply)
    /// Policy forbids going on (no STARTTLS offered with TLS required; AUTH without TLS).
    case policy(String)
    case sasl(SASLError)
    case credentials(String)
    /// The server refused the OAuth2 access token (535 after XOAUTH2/OAUTHBEARER);
    /// `detail` is the server's JSON error challenge, when it sent one.
    case tokenRejected(mechanism: String, reply: SMTPReply, detail: String?)

    public var description: String {
        switch self {
        case .transport(let e): "\(e)"
        case .protocolError(let e): "\(e)"
        case .rejected(let stage, let reply): "\(stage) rejected: \(reply.fullText)"
        case .policy(let text): text
        case .sasl(let e): "SASL authentication failed: \(e)"
        case .credentials(let text): text
        case .tokenRejected(let mechanism, let reply, let detail):
            "AUTH \(mechanism) refused the access token: \(reply.fullText)\(detail.map { " (server said \($0))" } ?? "")"
        }
    }
}
