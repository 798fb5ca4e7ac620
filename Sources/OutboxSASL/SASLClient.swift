import CSASL
import Glibc

/// Why SMTP AUTH could not start or continue.
public enum SASLError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No mechanism both offered, allowed and loadable; names the likely missing package.
    case noMechanism(offered: [String], allowed: [String])
    case failed(String)

    public var description: String {
        switch self {
        case .noMechanism(let offered, let allowed):
            let within = allowed.isEmpty ? "" : " within auth_mechanisms \(allowed.joined(separator: ","))"
            return
                "no usable SASL mechanism among \(offered.joined(separator: " "))\(within): Cyrus SASL has no client plugin for them (install libsasl2-modules)"
        case .failed(let what): return what
        }
    }
}

/// One SMTP AUTH exchange through Cyrus libsasl2's client API.
///
/// Credentials live in C memory this object owns and wipes; libsasl2 reads them through
/// the C callbacks in CSASL's shim, never through a Swift closure.
public final class SASLClient {
    private var connection: OpaquePointer?
    private let credentials: UnsafeMutablePointer<coutbox_sasl_credentials>
    private let callbacks: UnsafeMutablePointer<sasl_callback_t>
    private let authname: UnsafeMutablePointer<CChar>
    /// The mechanism Cyrus chose.
    public private(set) var mechanism = ""

    /// libsasl2's one-time client initialisation (thread-safe: Swift globals run once).
    static let initialised: Int32 = sasl_client_init(nil)

    /// Creates a client for `serverName`. Plaintext mechanisms (PLAIN, LOGIN) are refused
    /// by Cyrus unless `plaintextAllowed` — set it only under TLS or by explicit config.
    public init(serverName: String, username: String, password: [UInt8], plaintextAllowed: Bool, tlsActive: Bool) throws(SASLError) {
        guard SASLClient.initialised == SASL_OK else { throw .failed("sasl_client_init failed (\(SASLClient.initialised))") }
        authname = strdup(username)
        credentials = .allocate(capacity: 1)
        let secret = password.withUnsafeBufferPointer { buf in
            buf.baseAddress.map { $0.withMemoryRebound(to: CChar.self, capacity: buf.count) { coutbox_sasl_make_secret($0, buf.count) } }
                ?? coutbox_sasl_make_secret("", 0)
        }
        credentials.initialize(to: coutbox_sasl_credentials(authname: authname, secret: secret))
        callbacks = .allocate(capacity: 4)
        coutbox_sasl_fill_callbacks(callbacks, credentials)
        var conn: OpaquePointer?
        let rc = sasl_client_new("smtp", serverName, nil, nil, callbacks, 0, &conn)
        guard rc == SASL_OK, let conn else { throw .failed("sasl_client_new: \(String(cString: sasl_errstring(rc, nil, nil)))") }
        connection = conn
        let sec = coutbox_sasl_set_security(conn, plaintextAllowed ? 1 : 0, tlsActive ? 256 : 0)
        guard sec == SASL_OK else { throw .failed("sasl_setprop: \(detail(sec))") }
    }

    deinit {
        if connection != nil { sasl_dispose(&connection) }
        coutbox_sasl_free_secret(credentials.pointee.secret)
        credentials.deallocate()
        callbacks.deallocate()
        memset(authname, 0, strlen(authname))
        free(authname)
    }

    private func detail(_ rc: Int32) -> String {
        if let conn = connection, let text = sasl_errdetail(conn) { return String(cString: text) }
        return String(cString: sasl_errstring(rc, nil, nil))
    }

    /// Picks a mechanism among `offered` ∩ `allowed` (all offered when `allowed` is
    /// empty); returns the initial response: nil for none, [] for an empty one.
    public func start(offered: [String], allowed: [String]) throws(SASLError) -> [UInt8]? {
        let candidates = allowed.isEmpty ? offered : offered.filter { allowed.contains($0) }
        guard !candidates.isEmpty else { throw .noMechanism(offered: offered, allowed: allowed) }
        var output: UnsafePointer<CChar>?
        var length: UInt32 = 0
        var chosen: UnsafePointer<CChar>?
        let rc = sasl_client_start(connection, candidates.joined(separator: " "), nil, &output, &length, &chosen)
        if rc == SASL_NOMECH { throw .noMechanism(offered: offered, allowed: allowed) }
        guard rc == SASL_OK || rc == SASL_CONTINUE else { throw .failed("SASL start: \(detail(rc))") }
        mechanism = chosen.map { String(cString: $0) } ?? "?"
        guard let output else { return nil }
        return Array(UnsafeRawBufferPointer(start: output, count: Int(length)))
    }

    /// Answers a server challenge (already base64-decoded).
    public func step(_ challenge: [UInt8]) throws(SASLError) -> [UInt8] {
        var output: UnsafePointer<CChar>?
        var length: UInt32 = 0
        let rc = challenge.withUnsafeBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(buf.count, 1)) {
                sasl_client_step(connection, buf.isEmpty ? nil : $0, UInt32(buf.count), nil, &output, &length)
            }
        }
        guard rc == SASL_OK || rc == SASL_CONTINUE else { throw .failed("SASL \(mechanism) step: \(detail(rc))") }
        guard let output else { return [] }
        return Array(UnsafeRawBufferPointer(start: output, count: Int(length)))
    }
}
