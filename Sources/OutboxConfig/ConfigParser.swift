import Glibc
import OutboxCore
import OutboxSupport

/// Parses outbox.conf: `key = value` logical lines in the style of Postfix's main.cf. A
/// line starting with whitespace continues the previous one; a line whose first non-blank
/// character is `#` is a comment. Unknown keys and bad values are errors naming file:line.
public enum ConfigParser {
    /// Every key name, sorted (for documentation checks and `outboxctl config`).
    public static var keyNames: [String] { ConfigKey.all.map { $0.name }.sorted() }

    /// Parses configuration text; `path` is used in error messages.
    ///
    /// The global keys come first; each `[route NAME]` line starts a section that runs to
    /// the next one or the end, whose delivery keys override the global values for mail
    /// from the section's `senders`.
    public static func parse(_ text: String, path: String) throws(ConfigError) -> Config {
        var config = Config()
        config.sourcePath = path
        var routes: [Route] = []
        /// The current route's `key = value` lines, applied when its section ends (which
        /// global credential it inherits depends on every key it sets).
        var routeLines: [(line: Int, key: String, value: String)] = []
        func finish(_ entry: (line: Int, text: String)) throws(ConfigError) {
            if entry.text.hasPrefix("[") {
                let header = ASCII.trimmed(Substring(entry.text))
                let words = header.dropFirst().prefix { $0 != "]" }.split(separator: " ")
                guard header.hasSuffix("]"), words.count == 2, words[0] == "route", Route.isName(words[1]) else {
                    throw ConfigError(
                        path: path, line: entry.line, "expected '[route NAME]' (a name of letters, digits, '.', '-', '_', at most 32)")
                }
                let name = String(words[1])
                if let other = routes.first(where: { $0.name == name }) {
                    throw ConfigError(path: path, line: entry.line, "route \(name) is already defined at line \(other.line)")
                }
                try endRoute()
                // Every route starts from the global settings as they stand here.
                routes.append(Route(name: name, config: config, line: entry.line))
                return
            }
            guard let eq = entry.text.firstIndex(of: "=") else {
                throw ConfigError(path: path, line: entry.line, "expected 'key = value'")
            }
            let key = String(ASCII.trimmed(entry.text[..<eq]))
            let value = String(ASCII.trimmed(entry.text[entry.text.index(after: eq)...]))
            if !routes.isEmpty {
                let route = routes.count - 1
                if key == "senders" {
                    var patterns: [SenderPattern] = []
                    for item in value.split(whereSeparator: { $0 == "," || $0.isBlankOrLineBreak }) {
                        guard let p = SenderPattern.parse(item) else {
                            throw ConfigError(
                                path: path, line: entry.line, "senders: bad pattern '\(item)' (want user@domain, @domain, *@domain, * or <>)")
                        }
                        patterns.append(p)
                    }
                    guard !patterns.isEmpty else { throw ConfigError(path: path, line: entry.line, "senders needs at least one pattern") }
                    routes[route].senders = patterns
                    return
                }
                guard ConfigKey.byName[key] == nil || Route.deliveryKeys.contains(key) else {
                    throw ConfigError(
                        path: path, line: entry.line, "\(key) cannot be set in a route (only delivery keys can); set it before the first [route]")
                }
                routeLines.append((entry.line, key, value))
                return
            }
            if key == "senders" { throw ConfigError(path: path, line: entry.line, "senders belongs in a [route NAME] section") }
            try apply(key, value, to: &config, line: entry.line)
        }
        /// Applies the current route's lines over the global settings it started from, and
        /// checks the result.
        func endRoute() throws(ConfigError) {
            guard let route = routes.indices.last else { return }
            defer { routeLines = [] }
            Route.dropInheritedCredential(&routes[route].config, routeSets: Set(routeLines.map { $0.key }))
            for line in routeLines { try apply(line.key, line.value, to: &routes[route].config, line: line.line) }
            try check(routes[route], setKeys: Set(routeLines.map { $0.key }))
        }
        func apply(_ key: String, _ value: String, to config: inout Config, line: Int) throws(ConfigError) {
            guard let definition = ConfigKey.byName[key] else {
                throw ConfigError(path: path, line: line, "unknown key '\(key)'")
            }
            if value.isEmpty {
                guard let reset = definition.reset else { throw ConfigError(path: path, line: line, "\(key) needs a value") }
                reset(&config)
                return
            }
            if let problem = definition.apply(&config, value) {
                throw ConfigError(path: path, line: line, "\(key): \(problem)")
            }
        }
        func check(_ route: Route, setKeys: Set<String>) throws(ConfigError) {
            guard !route.senders.isEmpty else {
                throw ConfigError(path: path, line: route.line, "route \(route.name) has no senders = line")
            }
            if let problem = consistencyProblem(route.config) ?? Route.problem(route.config, routeSets: setKeys, global: config) {
                throw ConfigError(path: path, line: route.line, "route \(route.name): \(problem)")
            }
        }
        let lines = try LogicalLines.split(text) { (number: Int) throws(ConfigError) in
            throw ConfigError(path: path, line: number, "continuation line without a key before it")
        }
        for line in lines { try finish((line.number, line.text)) }
        if let problem = consistencyProblem(config) { throw ConfigError(path: path, line: nil, problem) }
        try endRoute()
        config.routes = routes
        return config
    }

    /// What is inconsistent among the keys of one set of delivery settings, if anything.
    static func consistencyProblem(_ c: Config) -> String? {
        if c.authPasswordFile != nil && c.authPasswordCommand != nil { return "set auth_password_file or auth_password_command, not both" }
        return oauthProblem(c)
    }

    /// What is inconsistent among the token keys, if anything.
    static func oauthProblem(_ c: Config) -> String? {
        let oauthKeys: [(String, Bool)] = [
            ("oauth_client_id", c.oauthClientID != nil), ("oauth_client_secret_file", c.oauthClientSecretFile != nil),
            ("oauth_client_certificate", c.oauthClientCertificate != nil), ("oauth_client_key", c.oauthClientKey != nil),
            ("oauth_scope", c.oauthScope != nil), ("oauth_refresh_token_file", c.oauthRefreshTokenFile != nil),
            ("oauth_device_url", c.oauthDeviceURL != nil),
        ]
        if c.authTokenCommand != nil && c.oauthTokenURL != nil { return "set auth_token_command or oauth_token_url, not both" }
        if c.usesToken && (c.authPasswordFile != nil || c.authPasswordCommand != nil) {
            return
                "a token source (auth_token_command or oauth_token_url) and a password (auth_password_file or auth_password_command) exclude each other"
        }
        if c.usesToken && (c.tlsSecurityLevel != .verify || c.authOverPlaintext) {
            // A bearer token is replayable by whoever receives it: only a verified server.
            return "XOAUTH2 and OAUTHBEARER send a replayable token: they need tls_security_level = verify and auth_over_plaintext = no"
        }
        if c.usesToken && c.authUsername == nil { return "XOAUTH2 and OAUTHBEARER need auth_username (the mailbox the token is for)" }
        guard c.oauthTokenURL != nil else {
            if let set = oauthKeys.first(where: { $0.1 }) { return "\(set.0) is set but oauth_token_url is not" }
            return nil
        }
        if c.oauthClientID == nil { return "oauth_token_url needs oauth_client_id" }
        if (c.oauthClientCertificate != nil) != (c.oauthClientKey != nil) { return "oauth_client_certificate and oauth_client_key go together" }
        if c.oauthClientCertificate != nil && c.oauthClientSecretFile != nil {
            return "set oauth_client_secret_file or oauth_client_certificate, not both"
        }
        if c.oauthRefreshTokenFile == nil {
            if c.oauthClientSecretFile == nil && c.oauthClientCertificate == nil {
                return
                    "oauth_token_url needs a grant: oauth_refresh_token_file, or oauth_client_secret_file or oauth_client_certificate (client credentials)"
            }
            if c.oauthScope == nil { return "the client credentials grant needs oauth_scope (Microsoft 365: https://outlook.office365.com/.default)" }
        }
        return nil
    }

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
