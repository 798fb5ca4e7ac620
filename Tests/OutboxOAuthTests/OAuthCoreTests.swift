import Foundation
import OutboxOAuth
import OutboxSupport
import Testing

@Suite("JSON, HTTP and the token endpoint's answers, as values")
struct OAuthCoreTests {
    @Test("JSON: objects, escapes, surrogate pairs, numbers; malformed or trailing input refused")
    func json() {
        let v = JSONValue.parse(Array(#" {"a": [1, 2.5e1, true, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00", "n": -3} "#.utf8))
        #expect(v?["s"]?.string == "x\"\\/\né😀")
        #expect(v?["n"]?.integer == -3)
        #expect(v?["a"] == .array([.number(1), .number(25), .bool(true), .null]))
        for bad in [
            #"{"a":1} x"#, #"{"a":}"#, #"{"a":"\ud800"}"#, "[1,]", #""ab"#, "{\"a\":\"\u{01}\"}",
            String(repeating: "[", count: 40) + String(repeating: "]", count: 40), "",
        ] {
            #expect(JSONValue.parse(Array(bad.utf8)) == nil, "\(bad)")
        }
        #expect(JSONValue.parse(Array(#"{"expires_in":"3599"}"#.utf8))?["expires_in"]?.integer == 3599)
    }

    @Test("HTTP responses: Content-Length, chunked, to the end of the connection; incomplete and invalid ones")
    func httpParser() {
        let plain = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\nabcdEXTRA".utf8)
        #expect(
            HTTPResponseParser.parse(plain, atEnd: false)
                == .complete(HTTPResponse(status: 200, contentType: "application/json", body: Array("abcd".utf8))))
        #expect(HTTPResponseParser.parse(Array(plain.prefix(60)), atEnd: false) == .incomplete)
        let chunked = Array("HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n".utf8)
        #expect(HTTPResponseParser.parse(chunked, atEnd: false) == .complete(HTTPResponse(status: 400, contentType: "", body: Array("abcde".utf8))))
        #expect(HTTPResponseParser.parse(Array(chunked.dropLast(7)), atEnd: false) == .incomplete)
        #expect(HTTPResponseParser.parse(Array(chunked.dropLast(7)), atEnd: true) == .invalid("truncated chunked body"))
        let eof = Array("HTTP/1.0 500 Oops\r\n\r\nall of it".utf8)
        #expect(HTTPResponseParser.parse(eof, atEnd: false) == .incomplete)
        #expect(HTTPResponseParser.parse(eof, atEnd: true) == .complete(HTTPResponse(status: 500, contentType: "", body: Array("all of it".utf8))))
        #expect(HTTPResponseParser.parse(Array("SMTP 220 hi\r\n\r\n".utf8), atEnd: false) == .invalid("not an HTTP response"))
        // A chunk size near Int.max (found by review: size + 2 overflowed and trapped).
        let huge = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nab\r\n".utf8)
        #expect(HTTPResponseParser.parse(huge, atEnd: false) == .invalid("chunk larger than the response limit"))
        #expect(
            HTTPResponseParser.parse(Array("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".utf8), atEnd: false)
                == .invalid("bad Content-Length"))
    }

    @Test("https:// URLs only; host, port and target split as the request needs them")
    func urls() {
        let u = HTTPSURL("https://login.microsoftonline.com/tenant/oauth2/v2.0/token")
        #expect(u?.host == "login.microsoftonline.com" && u?.port == 443 && u?.target == "/tenant/oauth2/v2.0/token")
        #expect(HTTPSURL("https://127.0.0.1:8443?x=1")?.target == "/?x=1")
        #expect(HTTPSURL("https://[::1]:9/t")?.host == "::1")
        #expect(HTTPSURL("https://127.0.0.1:8443/token")?.description == "https://127.0.0.1:8443/token")
        for bad in ["http://x/token", "https://", "https://user@host/", "https://host:0/", "https://host/a b", "https://ho st/"] {
            #expect(HTTPSURL(bad) == nil, "\(bad)")
        }
    }

    @Test("form encoding escapes everything but unreserved characters")
    func form() {
        #expect(
            FormEncoding.encode([("scope", "https://outlook.office365.com/.default offline_access"), ("a", "b+c&d=é")])
                == "scope=https%3A%2F%2Foutlook.office365.com%2F.default%20offline_access&a=b%2Bc%26d%3D%C3%A9")
    }

    @Test("token endpoint answers: granted, refused (the admin must act), temporary, pending")
    func answers() {
        func answer(_ status: Int, _ body: String) -> TokenEndpoint.Answer { TokenEndpoint.interpret(status: status, body: Array(body.utf8)) }
        guard case .granted(let g) = answer(200, #"{"token_type":"Bearer","access_token":"eyJ0","expires_in":3599,"refresh_token":"new"}"#) else {
            Issue.record("not granted")
            return
        }
        #expect(g.accessToken == Array("eyJ0".utf8) && g.expiresIn == 3599 && g.refreshToken == "new")
        // A hostile lifetime is clamped to a day (found by review: Int.max overflowed the
        // expiry time and trapped outboxd); a token of 100 kB is refused.
        if case .granted(let huge) = answer(200, #"{"token_type":"Bearer","access_token":"x","expires_in":"9223372036854775807"}"#) {
            #expect(huge.expiresIn == 86400)
        } else {
            Issue.record("not granted")
        }
        if case .temporary = answer(200, "{\"access_token\":\"\(String(repeating: "a", count: 100_000))\"}") {} else { Issue.record("100 kB token") }
        if case .refused(_, let text) = answer(200, #"{"token_type":"mac\u001b[2J","access_token":"x"}"#) {
            #expect(!text.contains("\u{1B}"), "no terminal escape from the endpoint")
        } else {
            Issue.record("not Bearer")
        }
        if case .refused(let code, let text) = answer(400, #"{"error":"invalid_grant","error_description":"AADSTS700082: expired\u0007"}"#) {
            #expect(code == "invalid_grant" && text == "AADSTS700082: expired?")
        } else {
            Issue.record("invalid_grant is final")
        }
        if case .temporary(let text) = answer(503, "<html>busy</html>") { #expect(text == "HTTP 503") } else { Issue.record("503 is temporary") }
        if case .temporary = answer(429, #"{"error":"invalid_request"}"#) {} else { Issue.record("429 is temporary") }
        if case .temporary = answer(200, #"{"token_type":"Bearer"}"#) {} else { Issue.record("200 without a token") }
        if case .refused = answer(200, #"{"token_type":"mac","access_token":"x"}"#) {} else { Issue.record("not Bearer") }
        if case .pending(false) = answer(400, #"{"error":"authorization_pending"}"#) {} else { Issue.record("pending") }
        if case .pending(true) = answer(400, #"{"error":"slow_down"}"#) {} else { Issue.record("slow_down") }
        let device = TokenEndpoint.interpretDevice(
            status: 200,
            body: Array(
                #"{"device_code":"d","user_code":"AB-CD","verification_url":"https://www.google.com/device","interval":5,"expires_in":1800}"#.utf8))
        #expect((try? device.get())?.verificationURI == "https://www.google.com/device")
        #expect(
            TokenEndpoint.clientCredentialsForm(clientID: "c", scope: "s", credential: .assertion("j.w.t")).map { "\($0.0)=\($0.1)" }
                == [
                    "grant_type=client_credentials", "client_id=c", "scope=s", "client_assertion_type=\(TokenEndpoint.assertionType)",
                    "client_assertion=j.w.t",
                ])
    }

    @Test("a JWT client assertion verifies with the certificate's public key and names it by its SHA-256 thumbprint")
    func assertion() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-jwt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func sh(_ command: String) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", command]
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(command)")
            return String(decoding: data, as: UTF8.self)
        }
        _ = try sh("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=app -keyout key.pem -out cert.pem 2>/dev/null")
        let signer = try ClientAssertionSigner(certificateFile: dir + "/cert.pem", keyFile: dir + "/key.pem")
        let thumb = try sh("openssl x509 -in cert.pem -outform der | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\\n'")
        #expect(signer.thumbprint == thumb)
        let jwt = try signer.assertion(clientID: "client-1", audience: "https://login.example/token", now: 1_800_000_000)
        let parts = jwt.split(separator: ".").map(String.init)
        #expect(parts.count == 3)
        func decode(_ s: String) -> Data {
            var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while t.count % 4 != 0 { t += "=" }
            return Data(base64Encoded: t)!
        }
        let header = try JSONSerialization.jsonObject(with: decode(parts[0])) as! [String: Any]
        let claims = try JSONSerialization.jsonObject(with: decode(parts[1])) as! [String: Any]
        #expect(header["alg"] as? String == "RS256" && header["x5t#S256"] as? String == thumb)
        #expect(
            claims["aud"] as? String == "https://login.example/token" && claims["iss"] as? String == "client-1"
                && claims["sub"] as? String == "client-1")
        #expect(claims["exp"] as? Int == 1_800_000_600 && (claims["jti"] as? String)?.isEmpty == false)
        try Data((parts[0] + "." + parts[1]).utf8).write(to: URL(fileURLWithPath: dir + "/input"))
        try decode(parts[2]).write(to: URL(fileURLWithPath: dir + "/signature"))
        let verified = try sh("openssl x509 -in cert.pem -pubkey -noout > pub.pem && openssl dgst -sha256 -verify pub.pem -signature signature input")
        #expect(verified.contains("Verified OK"))
        // A key that is not the certificate's is refused at load, not at the endpoint.
        _ = try sh("openssl genrsa -out other.pem 2048 2>/dev/null")
        #expect(throws: TokenEndpointError.self) { try ClientAssertionSigner(certificateFile: dir + "/cert.pem", keyFile: dir + "/other.pem") }
    }

    @Test("the refresh token file: replaced whole with mode 0600, read back; refused when others may read it")
    func refreshTokenFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-rt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = RefreshTokenFile(path: dir + "/token")
        try file.withLock { () throws(TokenEndpointError) in try file.replace(with: "first") }
        let a = try file.read()
        #expect(a.token == "first")
        try file.replace(with: "second")
        let b = try file.read()
        #expect(b.token == "second" && b.version != a.version)
        var st = stat()
        stat(dir + "/token", &st)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["token"], "no temporary file left")
        chmod(dir, 0o777)
        #expect(throws: TokenEndpointError.self, "a directory others may write to") { try file.read() }
        chmod(dir, 0o700)
        #expect(try file.read().token == "second")
        if getuid() == 0 {
            // Root (outboxctl) replacing outboxd's file keeps it outboxd's (found by review).
            chown(dir + "/token", 65534, 65534)
            try file.replace(with: "third")
            stat(dir + "/token", &st)
            #expect(st.st_uid == 65534 && st.st_gid == 65534 && st.st_mode & 0o777 == 0o600)
        }
        chmod(dir + "/token", 0o644)
        #expect(throws: TokenEndpointError.self) { try file.read() }
    }
}
