extension Config {
    /// Every key with its effective value in outbox.conf syntax, in the order of
    /// etc/outbox.conf; an unset optional value is empty. Parsing these lines gives this
    /// configuration back (the unit tests check the round trip for every key).
    public var settings: [(key: String, value: String)] {
        func duration(_ seconds: Int) -> String {
            for (unit, size) in [("w", 604_800), ("d", 86400), ("h", 3600), ("m", 60)] where seconds >= size && seconds % size == 0 {
                return "\(seconds / size)\(unit)"
            }
            return "\(seconds)s"
        }
        func size(_ bytes: Int) -> String {
            for (unit, factor) in [("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("k", 1 << 10)] where bytes >= factor && bytes % factor == 0 {
                return "\(bytes / factor)\(unit)"
            }
            return "\(bytes)"
        }
        return [
            ("spool_directory", spoolDirectory),
            ("smarthost", smarthosts.map(\.description).joined(separator: ", ")),
            ("tls_security_level", tlsSecurityLevel.rawValue),
            ("tls_ca_file", tlsCAFile ?? ""),
            ("tls_cert_file", tlsCertFile ?? ""),
            ("tls_key_file", tlsKeyFile ?? ""),
            ("auth_username", authUsername ?? ""),
            ("auth_password_file", authPasswordFile ?? ""),
            ("auth_password_command", authPasswordCommand ?? ""),
            ("auth_mechanisms", authMechanisms.joined(separator: ", ")),
            ("auth_over_plaintext", authOverPlaintext ? "yes" : "no"),
            ("domain", domain ?? ""),
            ("admin_address", adminAddress ?? ""),
            ("local_domains", localDomains?.joined(separator: ", ") ?? ""),
            ("aliases_file", aliasesFile),
            ("helo_name", heloName ?? ""),
            ("max_connections", String(maxConnections)),
            ("connect_timeout", duration(connectTimeout)),
            ("command_timeout", duration(commandTimeout)),
            ("credential_command_timeout", duration(credentialCommandTimeout)),
            ("minimal_backoff_time", duration(minimalBackoffTime)),
            ("maximal_backoff_time", duration(maximalBackoffTime)),
            ("maximal_queue_lifetime", duration(maximalQueueLifetime)),
            ("queue_scan_interval", duration(queueScanInterval)),
            ("user_queue_limit", String(userQueueLimit)),
            ("user_queue_size_limit", size(userQueueSizeLimit)),
        ]
    }
}
