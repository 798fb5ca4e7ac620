import OutboxCore
import OutboxSupport

/// One `[route NAME]` section: mail whose envelope sender matches `senders` is delivered
/// with `config`, the global settings overlaid with the section's delivery keys
/// (Postfix's sender_dependent_relayhost_maps and password maps in one place).
public struct Route: Equatable, Sendable {
    public var name: String
    public var senders: [SenderPattern] = []
    /// The effective settings for this route's mail (its `routes` are empty).
    public var config: Config
    /// Where the section starts, for messages.
    public var line: Int

    public init(name: String, config: Config, line: Int) {
        self.name = name
        self.config = config
        self.line = line
    }

    /// Whether mail from `sender` takes this route. `*` does not catch bounces (the null
    /// sender) or mail to admin_address (`wildcard` false): they take the global route
    /// unless a route names them (`<>`, or the sender's address or domain).
    public func matches(sender: String, wildcard: Bool) -> Bool {
        senders.contains { $0.matches(sender) || ($0 == .any && wildcard) }
    }

    /// Keys a route may set: how mail is delivered, never where the spool is or how
    /// sendmail rewrites it.
    static let deliveryKeys: Set<String> = [
        "smarthost", "tls_security_level", "tls_ca_file", "tls_cert_file", "tls_key_file", "auth_username",
        "auth_password_file", "auth_password_command", "auth_mechanisms", "auth_token_command", "oauth_token_url",
        "oauth_client_id", "oauth_client_secret_file", "oauth_client_certificate", "oauth_client_key", "oauth_scope",
        "oauth_refresh_token_file", "oauth_device_url", "oauth_ca_file", "auth_over_plaintext", "helo_name",
        "max_connections", "message_rate_limit", "connect_timeout", "command_timeout", "credential_command_timeout",
    ]

    /// The keys that name where the credential comes from.
    static let credentialSourceKeys: Set<String> = [
        "auth_password_file", "auth_password_command", "auth_token_command", "oauth_token_url", "oauth_client_id",
        "oauth_client_secret_file", "oauth_client_certificate", "oauth_client_key", "oauth_scope", "oauth_refresh_token_file",
        "oauth_device_url",
    ]

    /// Drops the global credential a route must not inherit, given the keys it sets.
    ///
    /// A route that sets `smarthost`, `auth_username` or any credential source starts
    /// from no global credential source: the global password or token is never sent to
    /// another host or for another account, and a route's token never combines with the
    /// global password file. A route that moves to another smarthost and sets none of the
    /// AUTH keys does no AUTH (the global auth_username is dropped too).
    static func dropInheritedCredential(_ c: inout Config, routeSets keys: Set<String>) {
        let setsCredential = !keys.isDisjoint(with: credentialSourceKeys)
        guard setsCredential || keys.contains("smarthost") || keys.contains("auth_username") else { return }
        c.authPasswordFile = nil
        c.authPasswordCommand = nil
        c.authTokenCommand = nil
        c.oauthTokenURL = nil
        c.oauthClientID = nil
        c.oauthClientSecretFile = nil
        c.oauthClientCertificate = nil
        c.oauthClientKey = nil
        c.oauthScope = nil
        c.oauthRefreshTokenFile = nil
        c.oauthDeviceURL = nil
        if keys.contains("smarthost") && !setsCredential && !keys.contains("auth_username") { c.authUsername = nil }
    }

    /// What is wrong with the keys a route set, beyond what applies to any settings: an
    /// empty smarthost where the global settings have one, or an account whose credential
    /// the route stopped inheriting (caught when the configuration is read, not at the
    /// first delivery). A route that only restates what the global settings already are
    /// (`outboxctl config` prints every key of a route: no smarthost anywhere, or a global
    /// auth_username without a credential, on the same smarthosts) is not refused for it
    /// (found by review).
    static func problem(_ c: Config, routeSets keys: Set<String>, global: Config) -> String? {
        if keys.contains("smarthost") && c.smarthosts.isEmpty && !global.smarthosts.isEmpty {
            return "smarthost needs at least one host in a route (the global smarthost is set)"
        }
        let globalHasCredential = global.authPasswordFile != nil || global.authPasswordCommand != nil || global.usesToken
        // Waived only for the very account and smarthosts the global settings name.
        let restatesGlobal = !globalHasCredential && c.authUsername == global.authUsername && c.smarthosts == global.smarthosts
        guard c.authUsername != nil, c.authPasswordFile == nil, c.authPasswordCommand == nil, !c.usesToken, !restatesGlobal,
            !keys.isDisjoint(with: credentialSourceKeys.union(["smarthost", "auth_username"]))
        else { return nil }
        return
            "auth_username is set but no credential is: a route that sets smarthost or auth_username inherits no global password or token; set auth_password_file, auth_password_command, auth_token_command or oauth_token_url in the route"
    }

    /// A route name: it appears in logs, mailq and metrics labels.
    static func isName(_ name: Substring) -> Bool {
        !name.isEmpty && name.utf8.count <= 32
            && name.utf8.allSatisfy { ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 || $0 == 95 }
    }
}

/// One entry of a route's `senders =` list.
public enum SenderPattern: Equatable, Sendable, CustomStringConvertible {
    /// `user@domain`: that address (compared without case).
    case address(String)
    /// `@domain` or `*@domain`: every sender in that domain (not its subdomains).
    case domain(String)
    /// `<>`: the null sender (bounces).
    case nullSender
    /// `*`: every sender but the null one (and mail to admin_address; see Route.matches).
    case any

    public static func parse(_ text: Substring) -> SenderPattern? {
        if text == "*" { return .any }
        if text == "<>" { return .nullSender }
        var domain: Substring?
        if text.hasPrefix("*@") {
            domain = text.dropFirst(2)
        } else if text.hasPrefix("@") {
            domain = text.dropFirst()
        }
        if let domain {
            guard ConfigParser.isDomain(String(domain)) else { return nil }
            return .domain(ASCII.lowercased(String(domain)))
        }
        guard EnvelopeSyntax.mailboxProblem(String(text)) == nil else { return nil }
        return .address(ASCII.lowercased(String(text)))
    }

    public func matches(_ sender: String) -> Bool {
        switch self {
        case .address(let a): return !sender.isEmpty && ASCII.lowercased(sender) == a
        case .domain(let d):
            guard let at = sender.lastIndex(of: "@") else { return false }
            return ASCII.lowercased(String(sender[sender.index(after: at)...])) == d
        case .nullSender: return sender.isEmpty
        case .any: return false  // decided by Route.matches
        }
    }

    public var description: String {
        switch self {
        case .address(let a): a
        case .domain(let d): "@" + d
        case .nullSender: "<>"
        case .any: "*"
        }
    }
}

extension Config {
    /// The route for a message, or nil for the global settings: the first route in file
    /// order whose senders match.
    public func route(sender: String, recipients: [String]) -> Route? {
        let toAdmin =
            adminAddress.map { admin in
                !recipients.isEmpty && recipients.allSatisfy { ASCII.lowercased($0) == ASCII.lowercased(admin) }
            } ?? false
        let wildcard = !sender.isEmpty && !toAdmin
        return routes.first { $0.matches(sender: sender, wildcard: wildcard) }
    }

    /// The name of the route a message takes, nil for the global settings.
    public func routeName(sender: String, recipients: [String]) -> String? {
        route(sender: sender, recipients: recipients)?.name
    }

    /// The settings a message is delivered with (its route's, or the global ones).
    public func delivery(sender: String, recipients: [String]) -> Config {
        route(sender: sender, recipients: recipients)?.config ?? self
    }
}
