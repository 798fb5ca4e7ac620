/// The two SASL mechanisms that carry an OAuth2 access token, outbox's own because
/// Debian's Cyrus SASL has neither (cyrus-sasl#890). Client side only; both are one
/// message, plus an answer to the error challenge a server may send before its 535.
public enum BearerMechanism: String, Sendable, CaseIterable {
    /// Google's and Microsoft's: `user=U ^A auth=Bearer T ^A ^A`.
    case xoauth2 = "XOAUTH2"
    /// RFC 7628: a GS2 header naming the user, then host, port and the token.
    case oauthBearer = "OAUTHBEARER"

    /// Which mechanism to use among those the server offers: the order of
    /// `auth_mechanisms` when it names bearer mechanisms, otherwise OAUTHBEARER (the
    /// standard) before XOAUTH2. nil when the server offers neither, or the allow-list
    /// excludes both.
    public static func choose(offered: [String], allowed: [String]) -> BearerMechanism? {
        let preference = allowed.isEmpty ? [.oauthBearer, .xoauth2] : allowed.compactMap(BearerMechanism.init(rawValue:))
        return preference.first { offered.contains($0.rawValue) }
    }

    /// The client's first message (the caller base64-encodes it). The token goes in as
    /// it is: access tokens are base64url or JWT text, never containing ^A.
    public func initialResponse(user: String, token: [UInt8], host: String, port: UInt16) -> [UInt8] {
        let bearer = Array("auth=Bearer ".utf8) + token + [0x01, 0x01]
        switch self {
        case .xoauth2:
            return Array("user=\(user)".utf8) + [0x01] + bearer
        case .oauthBearer:
            // RFC 7628 §3.1: the authzid in the GS2 header, "," and "=" escaped as in
            // RFC 5801 §4. Dovecot requires a=.
            let name = user.utf8.flatMap { b -> [UInt8] in
                switch b {
                case UInt8(ascii: "="): Array("=3D".utf8)
                case UInt8(ascii: ","): Array("=2C".utf8)
                default: [b]
                }
            }
            return Array("n,a=".utf8) + name + [UInt8(ascii: ",")] + [0x01] + Array("host=\(host)".utf8) + [0x01] + Array("port=\(port)".utf8) + [
                0x01
            ] + bearer
        }
    }

    /// The answer to the server's error challenge (a JSON status in a 334), after which
    /// the server ends the exchange with its failure reply: an empty line for XOAUTH2
    /// (Google's documentation), ^A for OAUTHBEARER (RFC 7628 §3.2.3).
    public var errorAnswer: [UInt8] {
        switch self {
        case .xoauth2: []
        case .oauthBearer: [0x01]
        }
    }

    /// The error challenge as one printable log fragment (`{"status":"401",…}`), at most
    /// 200 characters; nil when it is not printable text.
    public static func errorDetail(_ challenge: [UInt8]) -> String? {
        guard !challenge.isEmpty, challenge.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        return String(decoding: challenge.prefix(200), as: UTF8.self)
    }
}
