import OutboxCore
import OutboxSupport

/// The OAuth2 token endpoint's protocol as values (RFC 6749 §4.4, §6; RFC 7523 §2.2;
/// RFC 8628 §3.4): which form to send for each grant, and what an answer means. No I/O.
public enum TokenEndpoint {
    /// How the client proves who it is.
    public enum ClientCredential: Sendable {
        case none
        case secret(String)
        /// A signed JWT (RFC 7523): `client_assertion_type` + `client_assertion`.
        case assertion(String)
    }

    public static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    public static let deviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"

    static func authenticate(_ credential: ClientCredential, into form: inout [(String, String)]) {
        switch credential {
        case .none: break
        case .secret(let s): form.append(("client_secret", s))
        case .assertion(let jwt): form += [("client_assertion_type", assertionType), ("client_assertion", jwt)]
        }
    }

    public static func clientCredentialsForm(clientID: String, scope: String, credential: ClientCredential) -> [(String, String)] {
        var form = [("grant_type", "client_credentials"), ("client_id", clientID), ("scope", scope)]
        authenticate(credential, into: &form)
        return form
    }

    public static func refreshForm(clientID: String, refreshToken: String, scope: String?, credential: ClientCredential) -> [(String, String)] {
        var form = [("grant_type", "refresh_token"), ("client_id", clientID), ("refresh_token", refreshToken)]
        if let scope { form.append(("scope", scope)) }
        authenticate(credential, into: &form)
        return form
    }

    public static func deviceTokenForm(clientID: String, deviceCode: String, credential: ClientCredential) -> [(String, String)] {
        var form = [("grant_type", deviceCodeGrant), ("client_id", clientID), ("device_code", deviceCode)]
        authenticate(credential, into: &form)
        return form
    }

    /// A successful answer.
    public struct Grant: Sendable {
        public var accessToken: [UInt8]
        /// Seconds from now; nil when the endpoint did not say.
        public var expiresIn: Int?
        /// A new refresh token (rotation, or the first one from the device grant).
        public var refreshToken: String?
    }

    /// What an answer means for the caller.
    public enum Answer: Sendable {
        case granted(Grant)
        /// The grant itself is dead (invalid_grant: revoked, expired, reused refresh
        /// token; invalid_client: wrong secret or certificate): asking again cannot help
        /// until the admin acts.
        case refused(code: String, description: String)
        /// Worth retrying later: 5xx, 429, temporarily_unavailable, unreadable answers.
        case temporary(String)
        /// RFC 8628 §3.5: the user has not finished yet (or asks us to poll slower).
        case pending(slowDown: Bool)
    }

    /// Longest access or refresh token accepted (real ones are 1.2-2.5 kB; the refresh
    /// token file is read with a 64 KiB limit).
    public static let maximumTokenLength = 16384

    /// Errors that mean "the admin must act" (RFC 6749 §5.2, RFC 8628 §3.5).
    static let permanentErrors: Set<String> = [
        "invalid_grant", "invalid_client", "unauthorized_client", "unsupported_grant_type", "invalid_scope", "invalid_request",
        "access_denied", "expired_token",
    ]

    public static func interpret(status: Int, body: [UInt8]) -> Answer {
        let json = JSONValue.parse(body)
        if status == 200 {
            guard let token = json?["access_token"]?.string, !token.isEmpty, token.utf8.count <= maximumTokenLength,
                token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
            else { return .temporary("HTTP 200 without a usable access_token") }
            if let type = json?["token_type"]?.string, ASCII.lowercased(type) != "bearer" {
                return .refused(code: "unsupported_token_type", description: "token_type \(printable(type)), not Bearer")
            }
            let refresh = json?["refresh_token"]?.string.flatMap { $0.isEmpty ? nil : $0 }
            if let refresh, refresh.utf8.count > maximumTokenLength || !refresh.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
                return .temporary("HTTP 200 with a malformed refresh_token")
            }
            // Bounded: a hostile "expires_in": 9223372036854775807 must not overflow the
            // expiry time (found by review); a day is more than any provider grants.
            let expiresIn = json?["expires_in"]?.integer.map { min(max($0, 1), 86400) }
            return .granted(Grant(accessToken: Array(token.utf8), expiresIn: expiresIn, refreshToken: refresh))
        }
        let code = json?["error"]?.string ?? ""
        let description = printable(json?["error_description"]?.string ?? "")
        if code == "authorization_pending" { return .pending(slowDown: false) }
        if code == "slow_down" { return .pending(slowDown: true) }
        if status >= 400 && status < 500 && status != 429 && permanentErrors.contains(code) {
            return .refused(code: code, description: description)
        }
        let what = code.isEmpty ? "HTTP \(status)" : "HTTP \(status) \(printable(code))"
        return .temporary(description.isEmpty ? what : "\(what): \(description)")
    }

    /// The device-authorization answer (RFC 8628 §3.2).
    public struct DeviceAuthorization: Sendable {
        public var deviceCode: String
        public var userCode: String
        public var verificationURI: String
        public var verificationURIComplete: String?
        public var interval: Int
        public var expiresIn: Int
        public var message: String?
    }

    public static func interpretDevice(status: Int, body: [UInt8]) -> Result<DeviceAuthorization, TokenEndpointError> {
        let json = JSONValue.parse(body)
        guard status == 200 else {
            let code = json?["error"]?.string ?? "HTTP \(status)"
            return .failure(
                TokenEndpointError("device authorization refused: \(printable(code)) \(printable(json?["error_description"]?.string ?? ""))"))
        }
        // Microsoft says verification_uri, Google verification_url.
        guard let device = json?["device_code"]?.string, let user = json?["user_code"]?.string,
            let uri = json?["verification_uri"]?.string ?? json?["verification_url"]?.string
        else { return .failure(TokenEndpointError("device authorization answer lacks device_code, user_code or verification_uri")) }
        return .success(
            DeviceAuthorization(
                deviceCode: device, userCode: printable(user), verificationURI: printable(uri),
                verificationURIComplete: json?["verification_uri_complete"]?.string.map(printable),
                interval: max(1, min(json?["interval"]?.integer ?? 5, 60)), expiresIn: max(1, min(json?["expires_in"]?.integer ?? 900, 3600)),
                message: json?["message"]?.string.map(printable)))
    }

    /// Text from the endpoint as it may appear in a log line or on a terminal: printable
    /// ASCII only, at most 300 characters.
    public static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.prefix(300).map { $0.value >= 0x20 && $0.value < 0x7F ? $0 : "?" }))
    }
}

public struct TokenEndpointError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
