import OutboxConfig
import Testing

@Suite("outbox.conf parsing")
struct ConfigParserTests {
    @Test("every fixed key, comments, continuation lines and defaults")
    func fullConfig() throws {
        let text = """
            # outbox.conf
            spool_directory = /var/spool/outbox-test
            smarthost = smtp://mail.example.com, smtps://backup.example.com,
                [2001:db8::1]:2525
            tls_security_level = encrypt
            tls_ca_file = /etc/ssl/ca.pem
            auth_username = user@example.com
            auth_password_file = /etc/outbox/password
            domain = Example.ORG
            admin_address = ops@example.org
            aliases_file = /etc/outbox/aliases
            auth_over_plaintext = no
            maximal_queue_lifetime = 3d
            """
        let c = try ConfigParser.parse(text, path: "/etc/outbox/outbox.conf")
        #expect(c.spoolDirectory == "/var/spool/outbox-test")
        #expect(
            c.smarthosts == [
                Smarthost(mode: .startTLS, host: "mail.example.com", port: 587),
                Smarthost(mode: .implicitTLS, host: "backup.example.com", port: 465),
                Smarthost(mode: .startTLS, host: "2001:db8::1", port: 2525),
            ])
        #expect(c.tlsSecurityLevel == .encrypt && c.tlsCAFile == "/etc/ssl/ca.pem")
        #expect(c.authUsername == "user@example.com" && c.authPasswordFile == "/etc/outbox/password")
        #expect(c.domain == "example.org" && c.adminAddress == "ops@example.org" && c.aliasesFile == "/etc/outbox/aliases")
        #expect(c.maximalQueueLifetime == 3 * 86400)
        let d = try ConfigParser.parse("", path: "x")
        #expect(d.tlsSecurityLevel == .verify && !d.authOverPlaintext && d.spoolDirectory == "/var/spool/outbox" && d.aliasesFile == "/etc/aliases")
    }

    static let badInputs: [(String, String)] = [
        ("domain = x.test\nbogus_key = 2", "f.conf:2: unknown key 'bogus_key'"),
        ("\n\ntls_security_level = strict", "f.conf:3: tls_security_level: must be one of verify, encrypt, may, none"),
        ("spool_directory = relative/path", "f.conf:1: spool_directory: must be an absolute path"),
        ("smarthost = imap://x", "f.conf:1: smarthost: bad smarthost 'imap://x' (want [smtp://|smtps://]host[:port])"),
        ("smarthost = host:99999", "f.conf:1: smarthost: bad smarthost 'host:99999' (want [smtp://|smtps://]host[:port])"),
        ("domain = bad domain!", "f.conf:1: domain: 'bad domain!' is not a domain name"),
        ("admin_address = root", "f.conf:1: admin_address: 'root' is not a user@domain address"),
        ("local_domains = localhost, no!domain", "f.conf:1: local_domains: 'no!domain' is not a domain name"),
        ("auth_over_plaintext = maybe", "f.conf:1: auth_over_plaintext: must be yes or no"),
        ("connect_timeout = soon", "f.conf:1: connect_timeout: must be a time like 30s, 5m, 1h or 5d (at most 10 years)"),
        ("  indented = 1", "f.conf:1: continuation line without a key before it"),
        ("just words", "f.conf:1: expected 'key = value'"),
        ("max_connections = 0", "f.conf:1: max_connections: must be an integer from 1 to 64"),
    ]

    @Test("bad input names file:line", arguments: badInputs)
    func badInput(_ text: String, _ message: String) {
        #expect {
            _ = try ConfigParser.parse(text, path: "f.conf")
        } throws: { error in
            (error as? ConfigError)?.description == message
        }
    }

    @Test("durations")
    func durations() {
        #expect(ConfigParser.duration("300") == 300)
        #expect(ConfigParser.duration("5m") == 300)
        #expect(ConfigParser.duration("2h") == 7200)
        #expect(ConfigParser.duration("1w") == 604_800)
        #expect(ConfigParser.duration("-1s") == nil)
        #expect(ConfigParser.duration("") == nil)
    }

    @Test("a file with CR LF line endings (edited on Windows) reads line by line")
    func crlf() throws {
        let c = try ConfigParser.parse(
            "# comment\r\nsmarthost = smtps://mail.example.com\r\ndomain = example.org\r\n  \r\nadmin_address = ops@example.org\r\n", path: "/x")
        #expect(c.smarthosts == [Smarthost(mode: .implicitTLS, host: "mail.example.com", port: 465)])
        #expect(c.domain == "example.org" && c.adminAddress == "ops@example.org")
        #expect(throws: ConfigError(path: "/x", line: 2, "unknown key 'nonsense'")) {
            try ConfigParser.parse("domain = example.org\r\nnonsense = 1\r\n", path: "/x")
        }
    }

    @Test("auth_mechanisms takes SASL mechanism names only, separated by commas or any blanks")
    func mechanisms() throws {
        let c = try ConfigParser.parse("auth_mechanisms = plain,\tscram-sha-256  login", path: "/x")
        #expect(c.authMechanisms == ["PLAIN", "SCRAM-SHA-256", "LOGIN"])
        #expect(throws: ConfigError(path: "/x", line: 1, "auth_mechanisms: 'PL\u{1}AIN' is not a SASL mechanism name")) {
            try ConfigParser.parse("auth_mechanisms = pl\u{1}ain", path: "/x")
        }
        #expect(throws: ConfigError.self) { try ConfigParser.parse("auth_mechanisms = ÄPLAIN", path: "/x") }
    }

    @Test(
        "durations beyond ten years, or that overflow, are errors, not crashes",
        arguments: ["99999999999999999w", "9223372036854775807", "11000d", "-1s", "5x"])
    func hugeDurations(_ value: String) {
        #expect(throws: ConfigError(path: "/x", line: 1, "maximal_queue_lifetime: must be a time like 30s, 5m, 1h or 5d (at most 10 years)")) {
            try ConfigParser.parse("maximal_queue_lifetime = \(value)", path: "/x")
        }
    }
}
