import Glibc
import OutboxCore
import OutboxSupport

/// Parses outbox.conf: `key = value` logical lines in the style of Postfix's main.cf. A
/// line starting with whitespace continues the previous one; a line whose first non-blank
/// character is `#` is a comment. Unknown keys and bad values are errors naming file:line.
public enum ConfigParser {
    /// Every key, its setter and the value check: the single table of what is allowed.
    typealias Setter = @Sendable (inout Config, String) -> String?

    static let keys: [String: Setter] = [
        "spool_directory": { c, v in absolutePath(v).map { c.spoolDirectory = $0; return nil } ?? "must be an absolute path" },
        "smarthost": { c, v in
            var hosts: [Smarthost] = []
            for item in v.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
                guard let h = Smarthost.parse(item) else { return "bad smarthost '\(item)' (want [smtp://|smtps://]host[:port])" }
                hosts.append(h)
            }
            guard !hosts.isEmpty else { return "needs at least one host" }
            c.smarthosts = hosts
            return nil
        },
        "tls_security_level": { c, v in
            guard let level = TLSSecurityLevel(rawValue: v) else { return "must be one of verify, encrypt, may, none" }
            c.tlsSecurityLevel = level
            return nil
        },
        "tls_ca_file": { c, v in absolutePath(v).map { c.tlsCAFile = $0; return nil } ?? "must be an absolute path" },
        "tls_cert_file": { c, v in absolutePath(v).map { c.tlsCertFile = $0; return nil } ?? "must be an absolute path" },
        "tls_key_file": { c, v in absolutePath(v).map { c.tlsKeyFile = $0; return nil } ?? "must be an absolute path" },
        "auth_username": { c, v in c.authUsername = v; return nil },
        "auth_password_file": { c, v in absolutePath(v).map { c.authPasswordFile = $0; return nil } ?? "must be an absolute path" },
        "auth_password_command": { c, v in c.authPasswordCommand = v; return nil },
        "auth_mechanisms": { c, v in
            // SASL mechanism names (RFC 4422 §3.1): 1-20 of A-Z 0-9 - _ (found by fuzzing:
            // anything used to be accepted, tabs and control characters included).
            let names = v.split(whereSeparator: { $0 == "," || $0.isBlankOrLineBreak }).map { ASCII.uppercased(String($0)) }
            for name in names where name.utf8.count > 20 || !name.utf8.allSatisfy({ ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }) {
                return "'\(name)' is not a SASL mechanism name"
            }
            c.authMechanisms = names
            return nil
        },
        "auth_over_plaintext": { c, v in boolean(v).map { c.authOverPlaintext = $0; return nil } ?? "must be yes or no" },
        "domain": { c, v in
            guard isDomain(v) else { return "'\(v)' is not a domain name" }
            c.domain = ASCII.lowercased(v)
            return nil
        },
        "admin_address": { c, v in
            guard let at = v.lastIndex(of: "@"), at != v.startIndex, isDomain(String(v[v.index(after: at)...])),
                !v.contains(where: { $0 == " " || $0 == "<" || $0 == ">" || $0 == "," }),
                EnvelopeSyntax.mailboxProblem(v) == nil  // the rule every envelope address meets
            else { return "'\(v)' is not a user@domain address" }
            c.adminAddress = v
            return nil
        },
        "aliases_file": { c, v in absolutePath(v).map { c.aliasesFile = $0; return nil } ?? "must be an absolute path" },
        "local_domains": { c, v in
            let names = v.split(whereSeparator: { $0 == "," || $0.isBlankOrLineBreak }).map { ASCII.lowercased(String($0)) }
            if let bad = names.first(where: { !isDomain($0) }) { return "'\(bad)' is not a domain name" }
            c.localDomains = names
            return nil
        },
        "helo_name": { c, v in isDomain(v) ? { c.heloName = v; return nil }() : "'\(v)' is not a host name" },
        "max_connections": { c, v in
            guard let n = Int(v), n >= 1, n <= 64 else { return "must be an integer from 1 to 64" }
            c.maxConnections = n
            return nil
        },
        "connect_timeout": { c, v in duration(v).map { c.connectTimeout = $0; return nil } ?? durationProblem },
        "command_timeout": { c, v in duration(v).map { c.commandTimeout = $0; return nil } ?? durationProblem },
        "credential_command_timeout": { c, v in duration(v).map { c.credentialCommandTimeout = max(1, $0); return nil } ?? durationProblem },
        "minimal_backoff_time": { c, v in duration(v).map { c.minimalBackoffTime = $0; return nil } ?? durationProblem },
        "maximal_backoff_time": { c, v in duration(v).map { c.maximalBackoffTime = $0; return nil } ?? durationProblem },
        "maximal_queue_lifetime": { c, v in duration(v).map { c.maximalQueueLifetime = $0; return nil } ?? durationProblem },
        "queue_scan_interval": { c, v in duration(v).map { c.queueScanInterval = $0; return nil } ?? durationProblem },
        "user_queue_limit": { c, v in
            guard let n = Int(v), n >= 0, n <= 100_000_000 else { return "must be a number of messages (0: no limit)" }
            c.userQueueLimit = n
            return nil
        },
        "user_queue_size_limit": { c, v in size(v).map { c.userQueueSizeLimit = $0; return nil } ?? "must be a size like 500M or 2G (0: no limit)" },
    ]

    /// Every key name, sorted (for documentation checks and `outboxctl config`).
    public static var keyNames: [String] { keys.keys.sorted() }

    static let durationProblem = "must be a time like 30s, 5m, 1h or 5d (at most 10 years)"

    /// Parses configuration text; `path` is used in error messages.
    public static func parse(_ text: String, path: String) throws(ConfigError) -> Config {
        var config = Config()
        config.sourcePath = path
        func finish(_ entry: (line: Int, text: String)) throws(ConfigError) {
            guard let eq = entry.text.firstIndex(of: "=") else {
                throw ConfigError(path: path, line: entry.line, "expected 'key = value'")
            }
            let key = String(ASCII.trimmed(entry.text[..<eq]))
            let value = String(ASCII.trimmed(entry.text[entry.text.index(after: eq)...]))
            guard let setter = keys[key] else {
                throw ConfigError(path: path, line: entry.line, "unknown key '\(key)'")
            }
            if value.isEmpty, key != "smarthost" {
                // An empty value restores the default, as in Postfix's main.cf.
                let defaults = Config()
                switch key {
                case "domain": config.domain = defaults.domain
                case "admin_address": config.adminAddress = nil
                case "local_domains": config.localDomains = nil
                case "auth_username": config.authUsername = nil
                case "auth_password_file": config.authPasswordFile = nil
                case "auth_password_command": config.authPasswordCommand = nil
                case "tls_ca_file": config.tlsCAFile = nil
                case "tls_cert_file": config.tlsCertFile = nil
                case "tls_key_file": config.tlsKeyFile = nil
                case "auth_mechanisms": config.authMechanisms = []
                case "helo_name": config.heloName = nil
                default: throw ConfigError(path: path, line: entry.line, "\(key) needs a value")
                }
                return
            }
            if let problem = setter(&config, value) {
                throw ConfigError(path: path, line: entry.line, "\(key): \(problem)")
            }
        }
        let lines = try LogicalLines.split(text) { (number: Int) throws(ConfigError) in
            throw ConfigError(path: path, line: number, "continuation line without a key before it")
        }
        for line in lines { try finish((line.number, line.text)) }
        if config.authPasswordFile != nil && config.authPasswordCommand != nil {
            throw ConfigError(path: path, line: nil, "set auth_password_file or auth_password_command, not both")
        }
        return config
    }

    static func absolutePath(_ v: String) -> String? { v.hasPrefix("/") ? v : nil }

    static func boolean(_ v: String) -> Bool? {
        switch ASCII.lowercased(v) {
        case "yes", "true", "on", "1": true
        case "no", "false", "off", "0": false
        default: nil
        }
    }

    /// The longest duration accepted: ten years, far beyond any sensible setting, and small
    /// enough that adding it to a clock cannot overflow.
    public static let maximumDuration = 10 * 366 * 86400

    /// Bytes, with an optional k, M, G or T suffix (powers of 1024); at most 1 PiB.
    public static func size(_ v: String) -> Int? {
        let units: [Character: Int] = ["k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(v)
        var unit = 1
        if let last = v.last, let u = units[last] {
            unit = u
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), digits.count <= 16, let n = Int(digits) else { return nil }
        let (total, overflow) = n.multipliedReportingOverflow(by: unit)
        guard !overflow, total <= 1 << 50 else { return nil }
        return total
    }

    /// Seconds from "300", "300s", "5m", "1h", "5d", "1w"; nil beyond `maximumDuration`
    /// (found by fuzzing: "99999999999999999w" overflowed and crashed the parser).
    public static func duration(_ v: String) -> Int? {
        guard let last = v.last else { return nil }
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        let unit = units[last]
        guard let n = Int(unit == nil ? Substring(v) : v.dropLast()), n >= 0 else { return nil }
        let (seconds, overflow) = n.multipliedReportingOverflow(by: unit ?? 1)
        return overflow || seconds > maximumDuration ? nil : seconds
    }

    /// A DNS host name, as EHLO and outbox.conf take it: ASCII, at most 253 octets, no
    /// address literal; the labels are checked by the envelope validator (one place).
    public static func isDomain(_ v: String) -> Bool {
        let bytes = Array(v.utf8)
        guard bytes.count <= 253, bytes.first != UInt8(ascii: "["), bytes.allSatisfy({ $0 < 0x80 }) else { return false }
        return EnvelopeSyntax.domainProblem(bytes[...]) == nil
    }
}
