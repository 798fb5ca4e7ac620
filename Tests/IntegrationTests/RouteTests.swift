import Foundation
import Testing

@Suite("routes: each sender's mail goes through its route's smarthost and account", .enabled(if: Smarthost.available))
struct RouteDeliveryTests {
    func passwordFile(_ password: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-pw-\(UUID().uuidString)").path
        try password.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    @Test("mail routes by sender and authenticates as the route's user (Postfix logs sasl_username); the rest goes the global way")
    func bySender() throws {
        let first = Smarthost.shared
        let second = Smarthost.second
        let config = """
            smarthost = smtp://127.0.0.1:\(first.port)
            tls_ca_file = \(first.caFile)
            auth_username = user@smarthost.test
            auth_password_file = \(try passwordFile("secret"))
            connect_timeout = 5s
            command_timeout = 15s

            [route app]
            senders = nobody@elsewhere.example, @shop.example
            smarthost = smtp://127.0.0.1:\(second.port)
            tls_ca_file = \(second.caFile)
            auth_username = app@smarthost.test
            auth_password_file = \(try passwordFile(Smarthost.awkwardPassword))
            max_connections = 1

            """
        let instance = try Instance(extraConfig: config)
        let token = "route-\(UUID().uuidString)"
        for i in 0..<3 {
            #expect(try instance.sendmail(["-i", "-f", "orders@shop.example", "r\(i)@remote.test"], "Subject: app \(token)\n\nb\n").code == 0)
        }
        #expect(try instance.sendmail(["-i", "-f", "cron@host.example", "ops@remote.test"], "Subject: cron \(token)\n\nb\n").code == 0)
        let d = try instance.outboxdOnce()
        #expect(d.code == 0, "\(d.stderr)")
        let viaSecond = second.await("app \(token)", count: 3)
        let viaFirst = first.await("cron \(token)", count: 1)
        #expect(viaSecond.count == 3 && Set(viaSecond.map(\.sender)) == ["orders@shop.example"], "\(d.stderr)")
        #expect(viaFirst.count == 1 && viaFirst[0].sender == "cron@host.example")
        #expect(first.deliveries(containing: "app \(token)").isEmpty && second.deliveries(containing: "cron \(token)").isEmpty)
        #expect(second.log.contains("sasl_username=app@smarthost.test"), "the route's account: \(second.log.suffix(2000))")
        let lines = d.stderr.split(separator: "\n")
        #expect(lines.filter { $0.contains("status=sent") && $0.hasSuffix(", route=app") }.count == 3, "\(d.stderr)")
        #expect(lines.contains { $0.contains("to=<ops@remote.test>") && $0.contains("status=sent") && !$0.contains("route=") })
        // One connection for the route's three messages (max_connections = 1): reused.
        #expect(lines.filter { $0.contains("route=app") && $0.contains("conn_use=") }.count == 2, "\(d.stderr)")
    }

    @Test("outboxctl config prints each route's effective settings; a bad route is refused with file:line")
    func configShown() throws {
        let instance = try Instance(
            extraConfig:
                "smarthost = relay.example\nauth_username = a@relay.example\n\n[route app]\nsenders = @shop.example\nsmarthost = smtps://smtp.provider.example\n"
        )
        let r = try instance.outboxctl(["config"])
        let route = r.stdout.components(separatedBy: "[route app]\n")
        #expect(route.count == 2 && route[1].contains("senders = @shop.example\nsmarthost = smtps://smtp.provider.example:465\n"), "\(r.stdout)")
        #expect(route.count == 2 && route[1].contains("auth_username = a@relay.example"), "inherited: \(r.stdout)")
        let overrides = try instance.outboxctl(["config", "--non-default"]).stdout.components(separatedBy: "[route app]\n")
        #expect(overrides.count == 2 && overrides[1] == "senders = @shop.example\nsmarthost = smtps://smtp.provider.example:465\n", "\(overrides)")
        try (try String(contentsOfFile: instance.configPath, encoding: .utf8) + "domain = x.example\n").write(
            toFile: instance.configPath, atomically: true, encoding: .utf8)
        let bad = try instance.outboxctl(["config"])
        #expect(bad.code == 78 && bad.stderr.contains("domain cannot be set in a route"), "\(bad.code) \(bad.stderr)")
    }
}
