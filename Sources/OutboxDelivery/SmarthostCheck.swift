import Glibc
import OutboxConfig
import OutboxTLS

/// `outboxctl check`: connect to each smarthost the way outboxd would and report what
/// happened, step by step, in words an admin can act on.
public enum SmarthostCheck {
    /// An admin is waiting at a terminal: no reply is awaited longer than this.
    static let replyTimeoutCap = 30

    /// Returns the report lines and whether every smarthost passed.
    public static func run(_ configured: Config) -> (lines: [String], ok: Bool) {
        var config = configured
        config.commandTimeout = min(config.commandTimeout, replyTimeoutCap)
        guard !config.smarthosts.isEmpty else { return (["no smarthost configured (set smarthost in outbox.conf)"], false) }
        let tls: TLSContext
        do {
            tls = try TLSContext.configured(config)
        } catch { return (["TLS set-up failed: \(error)"], false) }
        var lines: [String] = []
        var allOK = true
        let tokens: AccessTokenCache?
        do { tokens = try AccessTokenCache.configured(config) } catch { return (["\(error)"], false) }
        if let tokens {
            // The OAuth step on its own line: a dead refresh token or a wrong secret shows
            // here, before any smarthost is involved.
            do {
                let token = try tokens.token()
                lines.append("token: obtained from \(tokens.snapshot.source), valid for \(token.expiresAt - Int(time(nil))) s")
            } catch {
                lines.append("token: FAILED: \(error)")
                return (lines, false)
            }
        }
        for host in config.smarthosts {
            lines.append("\(host):")
            do {
                let session = try RelaySession.open(host, config: config, tls: tls, tokens: tokens)
                lines.append("  connected: \(session.peer)")
                lines.append("  TLS: \(session.tlsDescription ?? "none (tls_security_level = \(config.tlsSecurityLevel.rawValue))")")
                if let cert = session.certificate { lines.append("  certificate: \(cert)") }
                lines.append("  AUTH offered: \(session.offeredMechanisms.isEmpty ? "none" : session.offeredMechanisms.joined(separator: " "))")
                if config.authUsername != nil {
                    lines.append("  AUTH: \(session.authMechanism ?? "?") as \(config.authUsername!) succeeded")
                } else {
                    lines.append("  AUTH: not configured (auth_username unset)")
                }
                if let size = session.capabilities.sizeLimit { lines.append("  SIZE limit: \(size)") }
                lines.append("  result: OK")
                session.quit()
            } catch {
                allOK = false
                lines.append("  result: FAILED: \(error)")
            }
        }
        return (lines, allOK)
    }
}
