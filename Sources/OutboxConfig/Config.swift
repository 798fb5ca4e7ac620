import OutboxCore
import OutboxSupport

/// How TLS is used towards the smarthost (Postfix's smtp_tls_security_level words).
public enum TLSSecurityLevel: String, Sendable, CaseIterable {
    /// TLS required, chain and host name verified.
    case verify
    /// TLS required, certificate not verified.
    case encrypt
    /// STARTTLS when the server offers it.
    case may
    /// Never TLS.
    case none
}

/// One configured smarthost.
public struct Smarthost: Equatable, Sendable, CustomStringConvertible {
    /// How the TLS session starts.
    public enum Mode: String, Sendable {
        /// Plain connection upgraded by STARTTLS (`smtp://`).
        case startTLS = "smtp"
        /// TLS from the first byte (`smtps://`).
        case implicitTLS = "smtps"
    }

    public var mode: Mode
    public var host: String
    public var port: UInt16

    public init(mode: Mode, host: String, port: UInt16) {
        self.mode = mode
        self.host = host
        self.port = port
    }

    public var description: String { "\(mode.rawValue)://\(authority)" }

    /// `host:port`, an IPv6 address in brackets.
    public var authority: String { "\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    /// Parses `[smtp://|smtps://]host[:port]`, `[v6addr]:port` included; nil if malformed.
    public static func parse(_ text: Substring) -> Smarthost? {
        var rest = text
        var mode = Mode.startTLS
        if rest.hasPrefix("smtps://") {
            mode = .implicitTLS
            rest = rest.dropFirst(8)
        } else if rest.hasPrefix("smtp://") {
            rest = rest.dropFirst(7)
        } else if ASCII.contains("://", in: rest) {
            return nil
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        if host.hasSuffix("/") { host = host.dropLast() }
        guard !host.isEmpty,
            host.utf8.allSatisfy({ b in
                (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 46 || b == 58 || b == 95
            })
        else { return nil }
        var port: UInt16 = mode == .implicitTLS ? 465 : 587
        if let portText {
            guard let p = UInt16(portText), p > 0 else { return nil }
            port = p
        }
        return Smarthost(mode: mode, host: String(host), port: port)
    }
}

/// The effective configuration: defaults overlaid with outbox.conf.
public struct Config: Equatable, Sendable {
    public var spoolDirectory = InstalledPaths.spoolDirectory
    public var smarthosts: [Smarthost] = []
    public var tlsSecurityLevel = TLSSecurityLevel.verify
    public var tlsCAFile: String?
    public var tlsCertFile: String?
    public var tlsKeyFile: String?
    public var authUsername: String?
    public var authPasswordFile: String?
    public var authPasswordCommand: String?
    public var authMechanisms: [String] = []
    /// A command printing an OAuth2 access token (XOAUTH2/OAUTHBEARER).
    public var authTokenCommand: String?
    /// The built-in OAuth2 client (all https:// URLs and absolute paths, checked).
    public var oauthTokenURL: String?
    public var oauthClientID: String?
    public var oauthClientSecretFile: String?
    public var oauthClientCertificate: String?
    public var oauthClientKey: String?
    public var oauthScope: String?
    public var oauthRefreshTokenFile: String?
    public var oauthDeviceURL: String?
    public var oauthCAFile: String?
    public var authOverPlaintext = false
    /// Qualifies bare names; nil means the host's FQDN, looked up when first needed.
    public var domain: String?
    public var adminAddress: String?
    /// Domains whose recipients are local besides localhost; nil means `domain`, the host
    /// name and its FQDN (DESIGN's rule).
    public var localDomains: [String]?
    public var aliasesFile = "/etc/aliases"
    public var heloName: String?
    public var maxConnections = 2
    /// At most this many messages handed to the smarthost per unit (per route).
    public var messageRateLimit: RateLimit?
    /// At most this many messages adopted per submitting uid per unit; the rest are held.
    public var userRateLimit: RateLimit?
    public var connectTimeout = 30
    public var commandTimeout = 300
    /// Deadline for auth_password_command (and later token commands), seconds.
    public var credentialCommandTimeout = 30
    public var minimalBackoffTime = 300
    public var maximalBackoffTime = 3600
    public var maximalQueueLifetime = 5 * 86400
    public var queueScanInterval = 300
    /// Most messages one submitting uid may have queued (0: no limit).
    public var userQueueLimit = 20_000
    /// Most message bytes one submitting uid may have queued (0: no limit).
    public var userQueueSizeLimit = 1 << 30
    /// The syslog tag's first part: lines go out as `NAME/SERVICE[pid]` (Postfix's shape).
    public var syslogName = "outbox"
    /// The local syslog socket (datagram).
    public var syslogSocket = "/dev/log"
    /// A Prometheus textfile outboxd rewrites (node_exporter's textfile collector).
    public var metricsFile: String?
    /// Run once per incident and once on recovery (facts on stdin and in the environment).
    public var alertCommand: String?
    /// How long delivery must have been failing before it is an incident.
    public var alertAfter = 3600
    /// Add an X-Outbox-Origin header naming the submitting program.
    public var originHeader = false
    /// `[route NAME]` sections, in file order (the first match wins).
    public var routes: [Route] = []

    /// Whether AUTH uses a bearer token (XOAUTH2/OAUTHBEARER) rather than a password.
    public var usesToken: Bool { authTokenCommand != nil || oauthTokenURL != nil }

    /// The file it was read from, or nil for built-in defaults only.
    public var sourcePath: String?

    public init() {}

    /// The configuration file used when none is named.
    public static let defaultPath = InstalledPaths.configuration
}
