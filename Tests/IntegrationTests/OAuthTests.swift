import Foundation
import Testing

/// The OAuth2 side of the shared smarthost: Postfix ports +9 (STARTTLS) and +10 (implicit
/// TLS) authenticate through Dovecot's oauth2 passdb, which introspects every token at
/// the emulator (Tests/Scripts/oauth-emulator.py) on https://127.0.0.1:+11. Started once
/// per test process.
final class OAuthEndpoint: Sendable {
    let directory: String
    let port: Int

    static let available =
        Smarthost.available && FileManager.default.isExecutableFile(atPath: "/usr/sbin/dovecot")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")

    static let shared: OAuthEndpoint = {
        let smarthost = Smarthost.shared
        let r = try! run("/bin/bash", [Repository.root + "/Tests/Scripts/smarthost.sh", "oauth", smarthost.directory, String(smarthost.port)])
        precondition(r.code == 0, "OAuth smarthost failed to start: \(r.stdout) \(r.stderr)")
        return OAuthEndpoint(directory: smarthost.directory + "/oauth", port: smarthost.port)
    }()

    private init(directory: String, port: Int) {
        self.directory = directory
        self.port = port
    }

    var tokenURL: String { "https://127.0.0.1:\(port + 11)/token" }
    var deviceURL: String { "https://127.0.0.1:\(port + 11)/devicecode" }
    var startTLSPort: Int { port + 9 }
    var implicitTLSPort: Int { port + 10 }
    var tlsDirectory: String { Smarthost.shared.directory + "/tls" }

    func write(_ name: String, _ value: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: value)
        try data.write(to: URL(fileURLWithPath: directory + "/" + name + ".tmp"))
        rename(directory + "/" + name + ".tmp", directory + "/" + name)
    }

    func read(_ name: String) -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: directory + "/" + name),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        return object
    }

    /// The fault switches and lifetimes for the next requests.
    func control(_ settings: [String: Any] = [:]) throws { try write("control.json", settings) }

    func counter(_ name: String) -> Int { read("counters.json")[name] as? Int ?? 0 }

    /// Registers a client; with a certificate, one is made (signed by the test CA) and
    /// its PEM paths returned.
    func register(_ id: String, secret: String? = nil, certificate: String? = nil) throws {
        var clients = read("clients.json")
        var entry: [String: Any] = [:]
        if let secret { entry["secret"] = secret }
        if let certificate { entry["certificate"] = certificate }
        clients[id] = entry
        try write("clients.json", clients)
    }

    /// A refresh token the endpoint will honour, in a chain of its own.
    func seedRefreshToken() throws -> String {
        let value = "rt-" + UUID().uuidString
        var tokens = read("refresh.json")
        tokens[value] = ["chain": UUID().uuidString, "used": false, "revoked": false]
        try write("refresh.json", tokens)
        return value
    }

    func refreshToken(_ value: String) -> [String: Any]? { read("refresh.json")[value] as? [String: Any] }

    func revoke(_ value: String) throws {
        var tokens = read("refresh.json")
        if var entry = tokens[value] as? [String: Any] {
            entry["revoked"] = true
            tokens[value] = entry
        }
        try write("refresh.json", tokens)
    }
}

extension Instance {
    /// An instance relaying to the OAuth2 ports with `auth` (the token keys) set.
    static func oauth(implicitTLS: Bool = false, auth: String) throws -> Instance {
        let endpoint = OAuthEndpoint.shared
        let port = implicitTLS ? endpoint.implicitTLSPort : endpoint.startTLSPort
        return try Instance(
            extraConfig: """
                smarthost = \(implicitTLS ? "smtps" : "smtp")://127.0.0.1:\(port)
                tls_ca_file = \(Smarthost.shared.caFile)
                auth_username = user@smarthost.test
                oauth_ca_file = \(Smarthost.shared.caFile)
                connect_timeout = 5s
                command_timeout = 15s
                minimal_backoff_time = 1s
                maximal_backoff_time = 2s

                """ + auth)
    }

    /// Turns on the built-in OAuth2 client against the emulator's token endpoint for
    /// `clientID`, with the grant's own keys.
    func useOAuth(clientID: String, _ keys: String) throws {
        try "oauth_token_url = \(OAuthEndpoint.shared.tokenURL)\noauth_client_id = \(clientID)\n\(keys)\n".appendLine(to: configPath)
    }

    /// A file only the owner may read, in the instance's directory.
    func secretFile(_ name: String, _ content: String, mode: mode_t = 0o600) throws -> String {
        let path = directory + "/" + name
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode)
        return path
    }
}

@Suite(
    "OAuth2: XOAUTH2 and OAUTHBEARER against Postfix+Dovecot, tokens from a real HTTPS token endpoint", .serialized,
    .enabled(if: OAuthEndpoint.available, "needs root, postfix, dovecot-core and python3-cryptography"))
struct OAuthTests {
    let endpoint = OAuthEndpoint.shared

    /// Sends one message and runs `outboxd --once`; returns the token word and the log.
    func deliverOnce(_ instance: Instance, _ name: String) throws -> (token: String, log: String) {
        let t = token(name)
        let submitted = try instance.sendmail(["-i", "-f", "app@example.org", "rcpt@remote.test"], "Subject: \(t)\n\nbody\n")
        #expect(submitted.code == 0, "\(submitted.stderr)")
        let once = try instance.outboxdOnce()
        return (t, once.stderr)
    }

    @Test("client credentials with a secret: XOAUTH2 over STARTTLS delivers, the token checked by Dovecot")
    func xoauth2ClientSecret() throws {
        try endpoint.control()
        try endpoint.register("app-secret", secret: "s3cret-value-\(UUID().uuidString.prefix(6))")
        let secret = (endpoint.read("clients.json")["app-secret"] as! [String: Any])["secret"] as! String
        let instance = try Instance.oauth(auth: "")
        let secretPath = try instance.secretFile("client-secret", secret + "\n", mode: 0o640)
        try instance.useOAuth(
            clientID: "app-secret",
            """
            oauth_client_secret_file = \(secretPath)
            oauth_scope = https://outlook.office365.com/.default
            auth_mechanisms = XOAUTH2
            """)
        let before = endpoint.counter("client_credentials")
        let active = endpoint.counter("introspections_active")
        let (t, log) = try deliverOnce(instance, "xoauth2")
        #expect(Smarthost.shared.await(t, count: 1).count == 1, "\(log)")
        #expect(log.contains("AUTH XOAUTH2"), "\(log)")
        #expect(endpoint.counter("client_credentials") == before + 1)
        #expect(endpoint.counter("introspections_active") > active, "Dovecot validated the token at the endpoint")
        #expect(!log.contains(secret))
        let check = try instance.outboxctl(["check"])
        #expect(check.code == 0 && check.stdout.contains("token: obtained from client_credentials (secret)"), "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("AUTH: XOAUTH2 as user@smarthost.test succeeded"), "\(check.stdout)")
    }

    @Test("a route with its own OAuth2 client: its mail goes with a token, the rest with the global password; oauth status --route")
    func routeToken() throws {
        try endpoint.control()
        try endpoint.register("route-app", secret: "route-secret-\(UUID().uuidString.prefix(6))")
        let secret = (endpoint.read("clients.json")["route-app"] as! [String: Any])["secret"] as! String
        let probe = try Instance(extraConfig: "")
        let secretPath = try probe.secretFile("client-secret", secret, mode: 0o600)
        let password = try probe.secretFile("password", "secret", mode: 0o600)
        let instance = try Instance(
            extraConfig: """
                smarthost = smtp://127.0.0.1:\(Smarthost.shared.port)
                tls_ca_file = \(Smarthost.shared.caFile)
                auth_username = user@smarthost.test
                auth_password_file = \(password)
                connect_timeout = 5s

                [route app]
                senders = @app.example
                smarthost = smtp://127.0.0.1:\(endpoint.startTLSPort)
                oauth_token_url = \(endpoint.tokenURL)
                oauth_client_id = route-app
                oauth_client_secret_file = \(secretPath)
                oauth_scope = https://outlook.office365.com/.default
                oauth_ca_file = \(Smarthost.shared.caFile)
                auth_mechanisms = XOAUTH2

                """)
        let t = token("route-oauth")
        #expect(try instance.sendmail(["-i", "-f", "orders@app.example", "a@remote.test"], "Subject: \(t) app\n\nb\n").code == 0)
        #expect(try instance.sendmail(["-i", "-f", "cron@host.example", "b@remote.test"], "Subject: \(t) cron\n\nb\n").code == 0)
        let d = try instance.outboxdOnce()
        #expect(Smarthost.shared.await(t, count: 2).count == 2, "\(d.stderr)")
        #expect(d.stderr.contains("authenticated with AUTH XOAUTH2 as user@smarthost.test"), "\(d.stderr)")
        #expect(d.stderr.contains("to=<a@remote.test>") && d.stderr.contains(", route=app"), "\(d.stderr)")
        let status = try instance.outboxctl(["oauth", "status", "--route", "app"])
        #expect(status.code == 0 && status.stdout.contains("token source: client_credentials (secret)"), "\(status.stdout)\(status.stderr)")
        let global = try instance.outboxctl(["oauth", "status"])
        #expect(global.code == 78 && global.stderr.contains("routes with one: app (use --route NAME)"), "\(global.stderr)")
        #expect(try instance.outboxctl(["oauth", "status", "--route", "nope"]).code == 64)
        #expect(!d.stderr.contains(secret))
    }

    @Test("client credentials with a certificate (RS256 JWT, x5t#S256): OAUTHBEARER over implicit TLS delivers")
    func oauthbearerCertificate() throws {
        try endpoint.control()
        let instance = try Instance.oauth(implicitTLS: true, auth: "")
        let cert = instance.directory + "/app.pem", key = instance.directory + "/app.key"
        let made = try run(
            "/usr/bin/openssl",
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=outbox test app", "-keyout", key, "-out", cert])
        #expect(made.code == 0, "\(made.stderr)")
        chmod(key, 0o600)
        try endpoint.register("app-cert", certificate: cert)
        try instance.useOAuth(
            clientID: "app-cert",
            """
            oauth_client_certificate = \(cert)
            oauth_client_key = \(key)
            oauth_scope = https://outlook.office365.com/.default
            """)
        let before = endpoint.counter("client_credentials_jwt")
        let (t, log) = try deliverOnce(instance, "oauthbearer")
        #expect(Smarthost.shared.await(t, count: 1).count == 1, "\(log)")
        #expect(log.contains("AUTH OAUTHBEARER"), "\(log)")
        #expect(endpoint.counter("client_credentials_jwt") == before + 1, "the endpoint verified the assertion's signature and thumbprint")
    }

    @Test("auth_token_command: its token is used, a refused one (535) is dropped and the command run again")
    func tokenCommand() throws {
        try endpoint.control()
        try endpoint.register("app-command", secret: "command-secret")
        let instance = try Instance.oauth(auth: "")
        // First run: a token Dovecot refuses; later runs: a real one from the endpoint.
        let script = """
            n=$(cat \(instance.directory)/runs 2>/dev/null || echo 0); echo $((n+1)) > \(instance.directory)/runs
            env > \(instance.directory)/env
            if [ "$n" = 0 ]; then echo not-a-valid-token; exit 0; fi
            exec /usr/bin/python3 -c 'import json,ssl,urllib.request,urllib.parse
            ctx = ssl.create_default_context(cafile="\(Smarthost.shared.caFile)")
            body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "app-command", "client_secret": "command-secret", "scope": "x"}).encode()
            print(json.load(urllib.request.urlopen("\(endpoint.tokenURL)", body, context=ctx))["access_token"])'
            """
        try script.write(toFile: instance.directory + "/token.sh", atomically: true, encoding: .utf8)
        try "auth_token_command = /bin/sh \(instance.directory)/token.sh\n".appendLine(to: instance.configPath)
        let (t, log) = try deliverOnce(instance, "command")
        #expect(Smarthost.shared.await(t, count: 1).count == 1, "\(log)")
        #expect(log.contains("refused the access token: 535"), "\(log)")
        #expect(try String(contentsOfFile: instance.directory + "/runs", encoding: .utf8).hasPrefix("2"), "ran once more after the 535")
        #expect(!log.contains("not-a-valid-token"))
    }

    @Test(
        "refresh tokens, rotated: four waves of mail over four connections across three expiries; one refresh per expiry, each rotated token stored and never reused"
    )
    func rotationAcrossExpiries() throws {
        // Long enough that a wave (16 submissions, four sessions) ends before the token's
        // refresh window opens even on a loaded machine; each wave starts after the
        // previous token expired.
        let lifetime = 10
        try endpoint.control(["lifetime": lifetime, "rotate": true])
        try endpoint.register("app-public")
        let first = try endpoint.seedRefreshToken()
        let instance = try Instance.oauth(auth: "max_connections = 4\n")
        let tokenFile = try instance.secretFile("refresh-token", first + "\n")
        try instance.useOAuth(
            clientID: "app-public",
            """
            oauth_refresh_token_file = \(tokenFile)
            oauth_scope = https://mail.google.com/
            """)
        let refreshes = endpoint.counter("refresh_token"), reuse = endpoint.counter("reuse_detected")
        let introspections = endpoint.counter("introspections_active")
        let (daemon, errors) = try instance.startDaemon()
        defer {
            if daemon.isRunning {
                kill(daemon.processIdentifier, SIGTERM)
                daemon.waitUntilExit()
            }
        }
        var seen: Set<String> = [first]
        for wave in 0..<4 {
            let waveStart = Date()
            let before = endpoint.counter("refresh_token")
            let t = token("wave\(wave)")
            let config = instance.configPath
            DispatchQueue.concurrentPerform(iterations: 16) { i in
                _ = try? run(
                    Binaries.sendmail, ["-i", "-f", "app@example.org", "rcpt\(i)@remote.test"], stdin: Array("Subject: \(t)\n\nbody\n".utf8),
                    environment: ["OUTBOX_CONFIG": config])
            }
            #expect(Smarthost.shared.await(t, count: 16, seconds: 20).count == 16, "wave \(wave)")
            let waveEnd = Date()
            // One refresh per wave; a second only when the wave outlasted the token's
            // refresh window on a loaded machine (then renewing early is right).
            let took = waveEnd.timeIntervalSince(waveStart)
            let renewedAt = Double(lifetime - lifetime / 5)  // AccessTokenCache.refreshWindow: a fifth
            let waveRefreshes = endpoint.counter("refresh_token") - before
            #expect(waveRefreshes == 1 || (took >= renewedAt && waveRefreshes == 2), "wave \(wave): \(waveRefreshes) refreshes in \(took) s")
            let stored = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!seen.contains(stored), "wave \(wave): a new, rotated refresh token is on disk")
            seen.insert(stored)
            var st = stat()
            stat(tokenFile, &st)
            #expect(st.st_mode & 0o777 == 0o600)
            // Past the access token's expiry before the next wave: it was issued during this
            // wave, so by its end. Counting from the wave's start failed once on a loaded
            // machine: the next wave found the token still valid and asked for none.
            Thread.sleep(until: waveEnd.addingTimeInterval(Double(lifetime) + 1))
        }
        let log = instance.stopDaemon(daemon, errors)
        #expect(endpoint.counter("refresh_token") - refreshes >= 4, "one refresh per expiry, not one per connection: \(log)")
        #expect(endpoint.counter("reuse_detected") == reuse, "no rotated-out refresh token was ever presented again")
        #expect(endpoint.counter("introspections_active") - introspections >= 8, "several connections authenticated per token")
        #expect(log.contains("Verified TLS connection established to") && log.contains("authenticated with AUTH OAUTHBEARER"))
        let status = try instance.outboxctl(["oauth", "status"])
        #expect(status.code == 0 && status.stdout.contains("access token:"), "\(status.stdout)\(status.stderr)")
    }

    @Test("a revoked refresh token defers the mail with one clear line; after outboxctl oauth login (device code) it goes out")
    func revokedThenLogin() throws {
        try endpoint.control(["device_approve_after": 2])
        try endpoint.register("app-device")
        let first = try endpoint.seedRefreshToken()
        try endpoint.revoke(first)
        let instance = try Instance.oauth(auth: "")
        let tokenFile = try instance.secretFile("refresh-token", first + "\n")
        try instance.useOAuth(
            clientID: "app-device",
            """
            oauth_device_url = \(endpoint.deviceURL)
            oauth_refresh_token_file = \(tokenFile)
            oauth_scope = https://mail.google.com/
            """)
        let refusals = endpoint.counter("invalid_grant")
        let t = token("revoked")
        for i in 0..<3 {
            _ = try instance.sendmail(["-i", "-f", "app@example.org", "rcpt\(i)@remote.test"], "Subject: \(t)\n\nbody\n")
        }
        let log = try instance.outboxdOnce().stderr
        #expect(instance.deferred().count == 3, "kept queued: \(log)")
        #expect(log.contains("invalid_grant") && log.contains("outboxctl oauth login"), "\(log)")
        #expect(log.components(separatedBy: "no access token:").count == 2, "one line about the token, not one per message: \(log)")
        #expect(endpoint.counter("invalid_grant") == refusals + 1, "one request with the dead token")
        let status = try instance.outboxctl(["oauth", "status"])
        #expect(status.code == 1 && status.stdout.contains("invalid_grant"), "\(status.stdout)")

        let login = try instance.outboxctl(["oauth", "login"])
        #expect(login.code == 0, "\(login.stdout)\(login.stderr)")
        #expect(login.stdout.contains("enter the code") && login.stdout.contains("signed in"), "\(login.stdout)")
        let stored = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(stored != first && endpoint.refreshToken(stored) != nil)
        var st = stat()
        stat(tokenFile, &st)
        #expect(st.st_mode & 0o777 == 0o600)
        let after = try instance.outboxdOnce().stderr
        #expect(Smarthost.shared.await(t, count: 3).count == 3, "\(after)")
        #expect(instance.deferred().isEmpty)
    }

    @Test("the token endpoint down (HTTP 500) defers the mail; when it is back, the retry delivers")
    func endpointDown() throws {
        try endpoint.register("app-down", secret: "down-secret")
        let instance = try Instance.oauth(auth: "")
        let secretPath = try instance.secretFile("client-secret", "down-secret\n")
        try instance.useOAuth(
            clientID: "app-down",
            """
            oauth_client_secret_file = \(secretPath)
            oauth_scope = https://outlook.office365.com/.default
            """)
        try endpoint.control(["fail": 500])
        defer { try? endpoint.control() }
        let (t, log) = try deliverOnce(instance, "down")
        #expect(instance.deferred().count == 1, "\(log)")
        #expect(log.contains("HTTP 500") && log.contains("status=deferred"), "\(log)")
        try endpoint.control()
        _ = try instance.outboxctl(["flush"])
        let again = try instance.outboxdOnce().stderr
        #expect(Smarthost.shared.await(t, count: 1).count == 1, "\(again)")
    }

    @Test("outboxd killed in the middle of a refresh leaves a usable refresh token file")
    func killedDuringRefresh() throws {
        // The endpoint rotates after its delay, when the killed client can no longer
        // receive the new token: as Okta and Auth0 do (Microsoft keeps old refresh tokens
        // valid anyway), it accepts the previous one within a grace period.
        try endpoint.control(["delay": 4, "rotate": true, "reuse_grace": 60])
        defer { try? endpoint.control() }
        try endpoint.register("app-kill")
        let first = try endpoint.seedRefreshToken()
        let instance = try Instance.oauth(auth: "")
        let tokenFile = try instance.secretFile("refresh-token", first + "\n")
        try instance.useOAuth(
            clientID: "app-kill",
            """
            oauth_refresh_token_file = \(tokenFile)
            """)
        let t = token("killed")
        _ = try instance.sendmail(["-i", "-f", "app@example.org", "rcpt@remote.test"], "Subject: \(t)\n\nbody\n")
        let (daemon, _) = try instance.startDaemon()
        Thread.sleep(forTimeInterval: 2)  // inside the endpoint's 4 s delay
        kill(daemon.processIdentifier, SIGKILL)
        daemon.waitUntilExit()
        let stored = try String(contentsOfFile: tokenFile, encoding: .utf8)
        #expect(stored == first + "\n", "the file is whole and still holds the token in use")
        Thread.sleep(forTimeInterval: 3)  // the abandoned request finishes at the endpoint
        try endpoint.control(["rotate": true, "reuse_grace": 60])
        let after = try instance.outboxdOnce().stderr
        #expect(Smarthost.shared.await(t, count: 1).count == 1, "\(after)")
        #expect(!after.contains("invalid_grant"), "\(after)")
        let now = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(now != first && endpoint.refreshToken(now) != nil, "the rotated token was stored")
    }

    @Test("no client secret or access token in the log, ps, /proc/PID/environ or mailq; no core dumps")
    func secretsNeverShown() throws {
        try endpoint.control()
        let secret = "never-shown-secret-\(UUID().uuidString.prefix(8))"
        try endpoint.register("app-secret-check", secret: secret)
        let instance = try Instance.oauth(auth: "")
        let secretPath = try instance.secretFile("client-secret", secret + "\n", mode: 0o640)
        try instance.useOAuth(
            clientID: "app-secret-check",
            """
            oauth_client_secret_file = \(secretPath)
            oauth_scope = https://outlook.office365.com/.default
            """)
        let (daemon, errors) = try instance.startDaemon()
        defer {
            if daemon.isRunning {
                kill(daemon.processIdentifier, SIGTERM)
                daemon.waitUntilExit()
            }
        }
        let t = token("secrets")
        _ = try instance.sendmail(["-i", "-f", "app@example.org", "rcpt@remote.test"], "Subject: \(t)\n\nbody\n")
        #expect(Smarthost.shared.await(t, count: 1).count == 1)
        let pid = daemon.processIdentifier
        let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
        #expect(!environ.isEmpty && environ.range(of: Data(secret.utf8)) == nil)
        let ps = try run("/bin/ps", ["-eo", "args"])
        #expect(!ps.stdout.contains(secret))
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        #expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max core file size") && $0.contains(" 0 ") }, "no core dumps: \(limits)")
        kill(pid, SIGTERM)
        daemon.waitUntilExit()
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // Every access token the endpoint issued is 1600 characters of base64url: no run
        // of 200 such characters may appear in the log.
        #expect(!log.contains(secret) && log.firstMatch(of: /[A-Za-z0-9_-]{200}/) == nil, "\(log)")
        let mailq = try instance.sendmail(["-bp"], "")
        #expect(!mailq.stdout.contains(secret))
    }

    @Test("outbox.conf: contradictory token settings are refused naming the problem")
    func configConsistency() throws {
        for (extra, problem) in [
            ("oauth_client_id = x\n", "oauth_token_url is not"),
            ("oauth_token_url = \(endpoint.tokenURL)\n", "needs oauth_client_id"),
            ("oauth_token_url = \(endpoint.tokenURL)\noauth_client_id = x\n", "needs a grant"),
            ("oauth_token_url = \(endpoint.tokenURL)\noauth_client_id = x\noauth_client_secret_file = /x\n", "needs oauth_scope"),
            ("oauth_token_url = http://127.0.0.1/token\n", "https://"),
            ("auth_token_command = true\nauth_password_file = /x\n", "exclude each other"),
            ("auth_token_command = true\ntls_security_level = encrypt\n", "need tls_security_level = verify"),
        ] {
            let instance = try Instance.oauth(auth: extra)
            let r = try instance.outboxctl(["config"])
            #expect(r.code == 78 && r.stderr.contains(problem), "\(extra): \(r.stderr)")
        }
    }
}

extension String {
    func appendLine(to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(utf8))
        handle.closeFile()
    }
}
