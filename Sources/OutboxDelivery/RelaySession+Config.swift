import OutboxConfig
import OutboxNet
import OutboxTLS

extension TLSContext {
    /// The TLS context the configuration asks for: verification per tls_security_level,
    /// the CA file and client certificate if set. One place for outboxd and outboxctl.
    static func configured(_ config: Config) throws(TransportError) -> TLSContext {
        try TLSContext(
            policy: TLSPolicy(
                verify: config.tlsSecurityLevel == .verify, caFile: config.tlsCAFile,
                certificateFile: config.tlsCertFile, keyFile: config.tlsKeyFile))
    }
}

extension RelaySession {
    /// Opens a session to `smarthost` with the configured credentials (read only when the
    /// server's AUTH step needs them).
    static func open(_ smarthost: Smarthost, config: Config, tls: TLSContext, tokens: AccessTokenCache?) throws(SessionError) -> RelaySession {
        try open(smarthost, config: config, tls: tls, tokens: tokens) { () throws(SessionError) -> [UInt8] in try Credentials.password(config) }
    }
}
