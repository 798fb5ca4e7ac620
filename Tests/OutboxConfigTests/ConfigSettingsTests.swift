import OutboxConfig
import Testing

@Suite("outboxctl config: every key rendered, and the rendering parses back")
struct ConfigSettingsTests {
    @Test("settings name every key the parser knows, once each")
    func everyKey() {
        let keys = Config().settings.map(\.key)
        #expect(keys.sorted() == ConfigParser.keyNames)
        #expect(Set(keys).count == keys.count)
    }

    @Test(
        "a configuration with every key set survives render then parse",
        arguments: [
            "",
            """
            spool_directory = /srv/spool
            smarthost = smtps://mail.example.com, [2001:db8::1]:2525, smtp://10.0.0.1:26
            tls_security_level = may
            tls_ca_file = /etc/ssl/ca.pem
            tls_cert_file = /etc/outbox/client.pem
            tls_key_file = /etc/outbox/client.key
            auth_username = user@example.com
            auth_password_command = /usr/bin/pass show smtp
            auth_mechanisms = plain, scram-sha-256
            auth_over_plaintext = yes
            domain = example.org
            admin_address = ops@example.org
            local_domains = localhost, Example.org
            aliases_file = /etc/outbox/aliases
            helo_name = host.example.org
            max_connections = 7
            connect_timeout = 90s
            command_timeout = 2h
            minimal_backoff_time = 61
            maximal_backoff_time = 1w
            maximal_queue_lifetime = 3d
            queue_scan_interval = 10m
            """,
        ])
    func roundTrip(_ text: String) throws {
        let config = try ConfigParser.parse(text, path: "/x.conf")
        // An empty value means "the default" in outbox.conf, so unset keys are left out.
        let rendered = config.settings.filter { !$0.value.isEmpty }.map { "\($0.key) = \($0.value)" }.joined(separator: "\n")
        #expect(try ConfigParser.parse(rendered, path: "/x.conf") == config)
    }

    @Test("durations print in the largest exact unit")
    func durations() throws {
        let c = try ConfigParser.parse("connect_timeout = 120\ncommand_timeout = 90\nmaximal_queue_lifetime = 10080m", path: "/x")
        let s = Dictionary(uniqueKeysWithValues: c.settings.map { ($0.key, $0.value) })
        #expect(s["connect_timeout"] == "2m" && s["command_timeout"] == "90s" && s["maximal_queue_lifetime"] == "1w")
    }
}
