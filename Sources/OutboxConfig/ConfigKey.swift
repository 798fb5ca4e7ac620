import OutboxCore
import OutboxSupport

/// One outbox.conf key, defined once: how a value is checked and applied, how the
/// effective value is shown (`outboxctl config`), and what an empty value means. Adding a
/// key is one entry in `ConfigKey.all` plus its field in `Config` and its man page line.
struct ConfigKey: Sendable {
    let name: String
    /// Applies a non-empty value; returns what is wrong with it, or nil.
    let apply: @Sendable (inout Config, String) -> String?
    /// The effective value in outbox.conf syntax (parsing it gives the value back).
    let show: @Sendable (Config) -> String
    /// Restores the built-in value for an empty `key =`, as Postfix's main.cf does; nil
    /// when the key needs a value.
    let reset: (@Sendable (inout Config) -> Void)?

    /// Where a key's value lives in `Config`. Closures rather than key paths: building this
    /// table instantiated 33 key paths at every start of sendmail, each demangling its
    /// value type in the Swift runtime (about a tenth of sendmail's own CPU time).
    struct Field<T>: Sendable {
        let get: @Sendable (Config) -> T
        let set: @Sendable (inout Config, T) -> Void

        init(_ get: @escaping @Sendable (Config) -> T, _ set: @escaping @Sendable (inout Config, T) -> Void) {
            self.get = get
            self.set = set
        }
    }

    /// Every key, in the order of etc/outbox.conf.
    static let all: [ConfigKey] = [
        absolutePath("spool_directory", .init({ $0.spoolDirectory }, { $0.spoolDirectory = $1 })),
        ConfigKey(
            name: "smarthost",
            apply: { c, v in
                var hosts: [Smarthost] = []
                for item in v.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
                    guard let h = Smarthost.parse(item) else { return "bad smarthost '\(item)' (want [smtp://|smtps://]host[:port])" }
                    hosts.append(h)
                }
                guard !hosts.isEmpty else { return "needs at least one host" }
                c.smarthosts = hosts
                return nil
            }, show: { $0.smarthosts.map { $0.description }.joined(separator: ", ") },
            // Empty is a valid state (mail stays queued), and what `outboxctl config` prints
            // for a configuration whose smarthosts are all in routes.
            reset: { $0.smarthosts = [] }),
        ConfigKey(
            name: "tls_security_level",
            apply: { c, v in
                guard let level = TLSSecurityLevel(rawValue: v) else { return "must be one of verify, encrypt, may, none" }
                c.tlsSecurityLevel = level
                return nil
            }, show: { $0.tlsSecurityLevel.rawValue }, reset: nil),
        optionalAbsolutePath("tls_ca_file", .init({ $0.tlsCAFile }, { $0.tlsCAFile = $1 })),
        optionalAbsolutePath("tls_cert_file", .init({ $0.tlsCertFile }, { $0.tlsCertFile = $1 })),
        optionalAbsolutePath("tls_key_file", .init({ $0.tlsKeyFile }, { $0.tlsKeyFile = $1 })),
        optionalText("auth_username", .init({ $0.authUsername }, { $0.authUsername = $1 })),
        optionalAbsolutePath("auth_password_file", .init({ $0.authPasswordFile }, { $0.authPasswordFile = $1 })),
        optionalText("auth_password_command", .init({ $0.authPasswordCommand }, { $0.authPasswordCommand = $1 })),
        ConfigKey(
            name: "auth_mechanisms",
            apply: { c, v in
                // SASL mechanism names (RFC 4422 §3.1): 1-20 of A-Z 0-9 - _ (found by fuzzing:
                // anything used to be accepted, tabs and control characters included).
                let names = v.split(whereSeparator: { $0 == "," || $0.isBlankOrLineBreak }).map { ASCII.uppercased(String($0)) }
                for name in names
                where name.utf8.count > 20 || !name.utf8.allSatisfy({ ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }) {
                    return "'\(name)' is not a SASL mechanism name"
                }
                c.authMechanisms = names
                return nil
            }, show: { $0.authMechanisms.joined(separator: ", ") }, reset: { $0.authMechanisms = [] }),
        optionalText("auth_token_command", .init({ $0.authTokenCommand }, { $0.authTokenCommand = $1 })),
        httpsURL("oauth_token_url", .init({ $0.oauthTokenURL }, { $0.oauthTokenURL = $1 })),
        printableText("oauth_client_id", .init({ $0.oauthClientID }, { $0.oauthClientID = $1 }), spaces: false),
        optionalAbsolutePath("oauth_client_secret_file", .init({ $0.oauthClientSecretFile }, { $0.oauthClientSecretFile = $1 })),
        optionalAbsolutePath("oauth_client_certificate", .init({ $0.oauthClientCertificate }, { $0.oauthClientCertificate = $1 })),
        optionalAbsolutePath("oauth_client_key", .init({ $0.oauthClientKey }, { $0.oauthClientKey = $1 })),
        printableText("oauth_scope", .init({ $0.oauthScope }, { $0.oauthScope = $1 }), spaces: true),
        optionalAbsolutePath("oauth_refresh_token_file", .init({ $0.oauthRefreshTokenFile }, { $0.oauthRefreshTokenFile = $1 })),
        httpsURL("oauth_device_url", .init({ $0.oauthDeviceURL }, { $0.oauthDeviceURL = $1 })),
        optionalAbsolutePath("oauth_ca_file", .init({ $0.oauthCAFile }, { $0.oauthCAFile = $1 })),
        boolean("auth_over_plaintext", .init({ $0.authOverPlaintext }, { $0.authOverPlaintext = $1 }), resettable: false),
        ConfigKey(
            name: "domain",
            apply: { c, v in
                guard ConfigParser.isDomain(v) else { return "'\(v)' is not a domain name" }
                c.domain = ASCII.lowercased(v)
                return nil
            }, show: { $0.domain ?? "" }, reset: { $0.domain = nil }),
        ConfigKey(
            name: "admin_address",
            apply: { c, v in
                guard let at = v.lastIndex(of: "@"), at != v.startIndex, ConfigParser.isDomain(String(v[v.index(after: at)...])),
                    !v.contains(where: { $0 == " " || $0 == "<" || $0 == ">" || $0 == "," }),
                    EnvelopeSyntax.mailboxProblem(v) == nil  // the rule every envelope address meets
                else { return "'\(v)' is not a user@domain address" }
                c.adminAddress = v
                return nil
            }, show: { $0.adminAddress ?? "" }, reset: { $0.adminAddress = nil }),
        ConfigKey(
            name: "local_domains",
            apply: { c, v in
                let names = v.split(whereSeparator: { $0 == "," || $0.isBlankOrLineBreak }).map { ASCII.lowercased(String($0)) }
                if let bad = names.first(where: { !ConfigParser.isDomain($0) }) { return "'\(bad)' is not a domain name" }
                c.localDomains = names
                return nil
            }, show: { $0.localDomains?.joined(separator: ", ") ?? "" }, reset: { $0.localDomains = nil }),
        absolutePath("aliases_file", .init({ $0.aliasesFile }, { $0.aliasesFile = $1 })),
        ConfigKey(
            name: "helo_name",
            apply: { c, v in
                ConfigParser.isDomain(v)
                    ? {
                        c.heloName = v
                        return nil
                    }() : "'\(v)' is not a host name"
            }, show: { $0.heloName ?? "" }, reset: { $0.heloName = nil }),
        ConfigKey(
            name: "max_connections",
            apply: { c, v in
                guard let n = Int(v), n >= 1, n <= 64 else { return "must be an integer from 1 to 64" }
                c.maxConnections = n
                return nil
            }, show: { String($0.maxConnections) }, reset: nil),
        rate("message_rate_limit", .init({ $0.messageRateLimit }, { $0.messageRateLimit = $1 }), units: ["s", "min", "h"]),
        duration("connect_timeout", .init({ $0.connectTimeout }, { $0.connectTimeout = $1 })),
        duration("command_timeout", .init({ $0.commandTimeout }, { $0.commandTimeout = $1 })),
        duration("credential_command_timeout", .init({ $0.credentialCommandTimeout }, { $0.credentialCommandTimeout = $1 }), minimum: 1),
        duration("minimal_backoff_time", .init({ $0.minimalBackoffTime }, { $0.minimalBackoffTime = $1 })),
        duration("maximal_backoff_time", .init({ $0.maximalBackoffTime }, { $0.maximalBackoffTime = $1 })),
        duration("maximal_queue_lifetime", .init({ $0.maximalQueueLifetime }, { $0.maximalQueueLifetime = $1 })),
        duration("queue_scan_interval", .init({ $0.queueScanInterval }, { $0.queueScanInterval = $1 })),
        ConfigKey(
            name: "user_queue_limit",
            apply: { c, v in
                guard let n = Int(v), n >= 0, n <= 100_000_000 else { return "must be a number of messages (0: no limit)" }
                c.userQueueLimit = n
                return nil
            }, show: { String($0.userQueueLimit) }, reset: nil),
        ConfigKey(
            name: "user_queue_size_limit",
            apply: { c, v in
                ConfigParser.size(v).map {
                    c.userQueueSizeLimit = $0
                    return nil
                } ?? "must be a size like 500M or 2G (0: no limit)"
            }, show: { sizeText($0.userQueueSizeLimit) }, reset: nil),
        rate("user_rate_limit", .init({ $0.userRateLimit }, { $0.userRateLimit = $1 }), units: ["min", "h", "d"]),
        ConfigKey(
            name: "syslog_name",
            apply: { c, v in
                // It becomes the syslog tag: the characters Postfix's syslog_name allows.
                guard v.utf8.count <= 32,
                    v.utf8.allSatisfy({
                        (($0 | 0x20) >= 97 && ($0 | 0x20) <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 || $0 == 95 || $0 == 47
                    })
                else {
                    return "must be a name of letters, digits, '.', '-', '_' or '/' (at most 32)"
                }
                c.syslogName = v
                return nil
            }, show: { $0.syslogName }, reset: { $0.syslogName = "outbox" }),
        absolutePath("syslog_socket", .init({ $0.syslogSocket }, { $0.syslogSocket = $1 })),
        optionalAbsolutePath("metrics_file", .init({ $0.metricsFile }, { $0.metricsFile = $1 })),
        optionalText("alert_command", .init({ $0.alertCommand }, { $0.alertCommand = $1 })),
        duration("alert_after", .init({ $0.alertAfter }, { $0.alertAfter = $1 })),
        boolean("origin_header", .init({ $0.originHeader }, { $0.originHeader = $1 })),
    ]

    static let byName: [String: ConfigKey] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    // MARK: - Kinds of key

    static func absolutePath(_ name: String, _ field: Field<String>) -> ConfigKey {
        ConfigKey(name: name, apply: { c, v in ifAbsolute(v) { field.set(&c, $0) } }, show: { field.get($0) }, reset: nil)
    }

    static func optionalAbsolutePath(_ name: String, _ field: Field<String?>) -> ConfigKey {
        ConfigKey(
            name: name, apply: { c, v in ifAbsolute(v) { field.set(&c, $0) } }, show: { field.get($0) ?? "" },
            reset: { field.set(&$0, nil) })
    }

    /// Sets `v` when it is an absolute path; the problem otherwise.
    static func ifAbsolute(_ v: String, _ set: (String) -> Void) -> String? {
        guard v.hasPrefix("/") else { return "must be an absolute path" }
        set(v)
        return nil
    }

    /// yes or no; an empty value restores the built-in default when `resettable`.
    static func boolean(_ name: String, _ field: Field<Bool>, resettable: Bool = true) -> ConfigKey {
        let builtIn = field.get(Config())
        var reset: (@Sendable (inout Config) -> Void)?
        if resettable { reset = { c in field.set(&c, builtIn) } }
        return ConfigKey(
            name: name,
            apply: { c, v in
                ConfigParser.boolean(v).map {
                    field.set(&c, $0)
                    return nil
                } ?? "must be yes or no"
            }, show: { field.get($0) ? "yes" : "no" }, reset: reset)
    }

    static func optionalText(_ name: String, _ field: Field<String?>) -> ConfigKey {
        ConfigKey(
            name: name,
            apply: { c, v in
                field.set(&c, v)
                return nil
            }, show: { field.get($0) ?? "" },
            reset: { field.set(&$0, nil) })
    }

    /// Text that goes into a token request as it is: printable ASCII, no quote or
    /// backslash, spaces only where the value is a list (scopes).
    static func printableText(_ name: String, _ field: Field<String?>, spaces: Bool) -> ConfigKey {
        ConfigKey(
            name: name,
            apply: { c, v in
                guard v.utf8.allSatisfy({ ($0 > 0x20 || (spaces && $0 == 0x20)) && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) else {
                    return spaces ? "must be printable text (items separated by spaces)" : "must be printable text without spaces"
                }
                field.set(&c, v)
                return nil
            }, show: { field.get($0) ?? "" }, reset: { field.set(&$0, nil) })
    }

    /// An https:// URL (tokens are only ever fetched over TLS); the full parse happens
    /// where it is used (OutboxOAuth's HTTPSURL), this refuses the obvious mistakes early.
    static func httpsURL(_ name: String, _ field: Field<String?>) -> ConfigKey {
        ConfigKey(
            name: name,
            apply: { c, v in
                guard v.hasPrefix("https://"), v.count > 8, v.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                    return "must be an https:// URL (tokens are only fetched over TLS)"
                }
                field.set(&c, v)
                return nil
            }, show: { field.get($0) ?? "" }, reset: { field.set(&$0, nil) })
    }

    /// `N/unit`, or empty for no limit.
    static func rate(_ name: String, _ field: Field<RateLimit?>, units: [String]) -> ConfigKey {
        ConfigKey(
            name: name,
            apply: { c, v in
                guard let limit = RateLimit.parse(v, allowed: units) else {
                    return "must be a rate like 30/\(units[1]): a number, '/', and one of \(units.joined(separator: ", "))"
                }
                field.set(&c, limit)
                return nil
            }, show: { field.get($0)?.description ?? "" }, reset: { field.set(&$0, nil) })
    }

    static let durationProblem = "must be a time like 30s, 5m, 1h or 5d (at most 10 years)"

    static func duration(_ name: String, _ field: Field<Int>, minimum: Int = 0) -> ConfigKey {
        ConfigKey(
            name: name,
            apply: { c, v in
                ConfigParser.duration(v).map {
                    field.set(&c, max(minimum, $0))
                    return nil
                } ?? durationProblem
            },
            show: { durationText(field.get($0)) }, reset: nil)
    }

    static func durationText(_ seconds: Int) -> String {
        for (unit, size) in [("w", 604_800), ("d", 86400), ("h", 3600), ("m", 60)] where seconds >= size && seconds % size == 0 {
            return "\(seconds / size)\(unit)"
        }
        return "\(seconds)s"
    }

    static func sizeText(_ bytes: Int) -> String {
        for (unit, factor) in [("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("k", 1 << 10)] where bytes >= factor && bytes % factor == 0 {
            return "\(bytes / factor)\(unit)"
        }
        return "\(bytes)"
    }
}
