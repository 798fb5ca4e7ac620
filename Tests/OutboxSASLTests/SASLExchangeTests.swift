import CSASL
import Glibc
import OutboxSASL
import Testing

/// SASLClient against an in-process Cyrus SASL server reading a sasldb file (DESIGN,
/// Testing): every mechanism the smarthost offers, wrong passwords, the allow-list, and
/// the plaintext rule, without any SMTP server in between.
@Suite("SMTP AUTH through Cyrus SASL against an in-process libsasl2 server", .serialized)
struct SASLExchangeTests {
    static let mechanisms = ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]

    @Test("each mechanism authenticates user@smarthost.test with the right password", arguments: mechanisms)
    func succeeds(_ mechanism: String) throws {
        let server = try SASLServer(tls: true)
        #expect(server.offered.contains(mechanism), "server offers \(server.offered)")
        let outcome = try server.authenticate(allowed: [mechanism], password: SASLServer.password)
        #expect(outcome.mechanism == mechanism)
        #expect(outcome.result == SASL_OK, "\(outcome.detail)")
        #expect(outcome.user == SASLServer.user)
    }

    @Test("each mechanism is refused by the server (SASL_BADAUTH) with a wrong password", arguments: mechanisms)
    func wrongPassword(_ mechanism: String) throws {
        let server = try SASLServer(tls: true)
        let outcome = try server.authenticate(allowed: [mechanism], password: "not-the-password")
        #expect(outcome.result == SASL_BADAUTH, "\(mechanism): \(outcome.detail)")
        #expect(outcome.user == nil)
    }

    @Test("with no allow-list Cyrus picks the strongest mechanism offered, never a plaintext one")
    func strongestByDefault() throws {
        let server = try SASLServer(tls: true)
        let outcome = try server.authenticate(allowed: [], password: SASLServer.password)
        #expect(outcome.result == SASL_OK, "\(outcome.detail)")
        #expect(!["PLAIN", "LOGIN"].contains(outcome.mechanism), "chose \(outcome.mechanism)")
    }

    @Test("auth_mechanisms restricts the choice; an allow-list the server does not meet is a clear error")
    func allowList() throws {
        let server = try SASLServer(tls: true)
        #expect(try server.authenticate(allowed: ["CRAM-MD5", "LOGIN"], password: SASLServer.password).mechanism == "CRAM-MD5")
        #expect {
            try server.authenticate(allowed: ["XOAUTH2"], password: SASLServer.password)
        } throws: { error in
            (error as? SASLError).map { "\($0)".contains("no usable SASL mechanism") && "\($0)".contains("auth_mechanisms XOAUTH2") } ?? false
        }
    }

    @Test("PLAIN and LOGIN are refused by the client outside TLS unless plaintext is allowed")
    func plaintextRule() throws {
        let server = try SASLServer(tls: false, offering: "PLAIN LOGIN")
        #expect(throws: SASLError.self) {
            try server.authenticate(allowed: [], password: SASLServer.password, plaintextAllowed: false)
        }
        let allowed = try server.authenticate(allowed: [], password: SASLServer.password, plaintextAllowed: true)
        #expect(allowed.result == SASL_OK && ["PLAIN", "LOGIN"].contains(allowed.mechanism), "\(allowed.detail)")
    }
}

/// One server-side SASL connection, as smtpd would hold it, over a sasldb made once per run.
final class SASLServer {
    static let user = "user@smarthost.test"
    static let password = "s3cret pass"
    private var connection: OpaquePointer?
    let offered: [String]
    let tls: Bool

    struct Outcome {
        var mechanism: String
        var result: Int32
        var user: String?
        var detail: String
    }

    init(tls: Bool, offering: String? = nil) throws {
        guard SASLServerSetup.initialised == SASL_OK else { throw SetupError("sasl_server_init: \(SASLServerSetup.initialised)") }
        var conn: OpaquePointer?
        let rc = sasl_server_new("smtp", "smarthost.test", nil, nil, nil, nil, 0, &conn)
        guard rc == SASL_OK, let conn else { throw SetupError("sasl_server_new: \(rc)") }
        connection = conn
        self.tls = tls
        var ssf: sasl_ssf_t = tls ? 256 : 0
        sasl_setprop(conn, SASL_SSF_EXTERNAL, &ssf)
        var props = sasl_security_properties_t()
        props.security_flags = UInt32(SASL_SEC_NOANONYMOUS)
        sasl_setprop(conn, SASL_SEC_PROPS, &props)
        if let offering {
            offered = offering.split(separator: " ").map(String.init)
        } else {
            var list: UnsafePointer<CChar>?
            var length: UInt32 = 0
            var count: Int32 = 0
            sasl_listmech(conn, nil, "", " ", "", &list, &length, &count)
            offered = list.map { String(cString: $0).split(separator: " ").map(String.init) } ?? []
        }
    }

    deinit { sasl_dispose(&connection) }

    /// Runs the whole exchange: the client's initial response, then challenges and answers
    /// until the server decides. As over SMTP (no SASL_SUCCESS_DATA), the server's final data
    /// (SCRAM's signature, DIGEST-MD5's rspauth) comes as one more challenge, which the
    /// client checks and answers empty.
    func authenticate(allowed: [String], password: String, plaintextAllowed: Bool = true) throws -> Outcome {
        let client = try SASLClient(
            serverName: "smarthost.test", username: Self.user, password: Array(password.utf8),
            plaintextAllowed: plaintextAllowed, tlsActive: tls)
        let initial = try client.start(offered: offered, allowed: allowed)
        var out: UnsafePointer<CChar>?
        var outLength: UInt32 = 0
        var rc = withBytes(initial) { sasl_server_start(connection, client.mechanism, $0, $1, &out, &outLength) }
        var rounds = 0
        while rc == SASL_CONTINUE && rounds < 10 {
            let answer = try client.step(bytes(out, outLength))
            rc = withBytes(answer) { sasl_server_step(connection, $0, $1, &out, &outLength) }
            rounds += 1
        }
        var user: String?
        if rc == SASL_OK {
            var value: UnsafeRawPointer?
            if sasl_getprop(connection, SASL_USERNAME, &value) == SASL_OK, let value {
                user = String(cString: value.assumingMemoryBound(to: CChar.self))
            }
        }
        let detail = sasl_errdetail(connection).map { String(cString: $0) } ?? ""
        return Outcome(mechanism: client.mechanism, result: rc, user: user, detail: "\(client.mechanism) rc=\(rc) \(detail)")
    }

    private func bytes(_ pointer: UnsafePointer<CChar>?, _ length: UInt32) -> [UInt8] {
        guard let pointer else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: Int(length)))
    }

    /// nil → no data (the client sent none); [] → an empty response, as "=" over SMTP.
    private func withBytes(_ data: [UInt8]?, _ body: (UnsafePointer<CChar>?, UInt32) -> Int32) -> Int32 {
        guard let data else { return body(nil, 0) }
        return (data + [0]).withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { body($0, UInt32(data.count)) }
        }
    }
}

struct SetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// libsasl2's once-per-process server set-up: options come from a getopt callback that
/// points the sasldb auxprop plugin at a private file made with saslpasswd2.
enum SASLServerSetup {
    nonisolated(unsafe) static var options: [String: UnsafeMutablePointer<CChar>] = [:]

    static let directory = String(cString: mkdtemp(strdup("/tmp/outbox-sasl.XXXXXX")))

    static let initialised: Int32 = {
        atexit {
            _ = unlink(SASLServerSetup.directory + "/sasldb2")
            _ = rmdir(SASLServerSetup.directory)
        }
        let sasldb = directory + "/sasldb2"
        let local = SASLServer.user.split(separator: "@")
        let command = "printf '%s' '\(SASLServer.password)' | saslpasswd2 -p -f \(sasldb) -u \(local[1]) -c \(local[0])"
        guard system(command) == 0 else { return SASL_FAIL }
        for (key, value) in [
            ("pwcheck_method", "auxprop"), ("auxprop_plugin", "sasldb"), ("sasldb_path", sasldb),
            ("mech_list", SASLExchangeTests.mechanisms.joined(separator: " ")),
        ] {
            options[key] = strdup(value)
        }
        let callbacks = UnsafeMutablePointer<sasl_callback_t>.allocate(capacity: 2)
        callbacks[0] = sasl_callback_t(id: UInt(SASL_CB_GETOPT), proc: unsafeBitCast(getOption, to: (@convention(c) () -> Int32).self), context: nil)
        callbacks[1] = sasl_callback_t(id: UInt(SASL_CB_LIST_END), proc: nil, context: nil)
        return sasl_server_init(callbacks, "outbox-tests")
    }()

    static let getOption:
        @convention(c) (
            UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?,
            UnsafeMutablePointer<UnsafePointer<CChar>?>?, UnsafeMutablePointer<UInt32>?
        ) -> Int32 = {
            _, _, option, result, length in
            guard let option, let value = options[String(cString: option)] else { return SASL_FAIL }
            result?.pointee = UnsafePointer(value)
            length?.pointee = UInt32(strlen(value))
            return SASL_OK
        }
}
