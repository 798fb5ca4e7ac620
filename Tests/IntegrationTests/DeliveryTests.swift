import Foundation
import OutboxDrop
import OutboxSpool
import Testing

@Suite(
    "outboxd relays to a real Postfix smarthost with TLS and Cyrus SASL", .serialized,
    .enabled(if: Smarthost.available, "needs root, postfix and sasl2-bin"))
struct DeliveryTests {
    static let modesAndMechanisms: [(String, Int, String)] = ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]
        .flatMap { m in [("smtp", 0, m), ("smtps", 1, m)] }

    @Test("each TLS mode with each SASL mechanism delivers", arguments: modesAndMechanisms)
    func modeAndMechanism(_ scheme: String, _ port: Int, _ mechanism: String) throws {
        let instance = try Instance.relaying(port: port, scheme: scheme, mechanism: mechanism)
        let t = token("\(scheme)-\(mechanism)")
        #expect(try instance.sendmail(["-i", "-f", "sender@client.test", "rcpt@remote.test"], "Subject: \(t)\n\n.dot line\nbody \(t)\n").code == 0)
        let r = try instance.outboxdOnce()
        #expect(r.code == 0, "\(r.stderr)")
        #expect(r.stderr.contains("status=sent (250 2.0.0 Ok"), "\(r.stderr)")
        let got = Smarthost.shared.await(t, count: 1)
        try #require(got.count == 1)
        #expect(got[0].sender == "sender@client.test" && got[0].recipient == "rcpt@remote.test")
        #expect(got[0].content.contains("\n.dot line\n"), "dot-stuffing must round-trip")
        #expect(Smarthost.shared.log.contains("sasl_method=\(mechanism)"), "Postfix should log the mechanism used")
        #expect(instance.deferred().isEmpty)
    }

    @Test("a wrong password defers with the server's reply in the log")
    func wrongPassword() throws {
        let instance = try Instance.relaying(password: "wrong")
        let t = token("wrongpw")
        _ = try instance.sendmail(["-i", "rcpt@remote.test"], "Subject: \(t)\n\nb\n")
        let r = try instance.outboxdOnce()
        #expect(r.stderr.contains("535 5.7.8"), "\(r.stderr)")
        #expect(r.stderr.contains("status=deferred"))
        #expect(instance.deferred().count == 1)
        #expect(Smarthost.shared.await(t, count: 1, seconds: 2).isEmpty)
        #expect(try instance.sendmail(["-bp"]).stdout.contains("535 5.7.8"), "mailq shows the reason")
    }

    static let badCertificates: [(Int, String)] = [
        (3, "IP address mismatch for 127.0.0.1"), (4, "self-signed certificate"), (5, "certificate has expired"),
    ]

    @Test("a certificate for another host, a self-signed and an expired one: deferred, never delivered", arguments: badCertificates)
    func certificates(_ port: Int, _ reason: String) throws {
        let instance = try Instance.relaying(port: port)
        let t = token("cert\(port)")
        _ = try instance.sendmail(["-i", "rcpt@remote.test"], "Subject: \(t)\n\nb\n")
        let r = try instance.outboxdOnce()
        #expect(r.stderr.contains("certificate verify failed: \(reason)"), "\(r.stderr)")
        #expect(instance.deferred().count == 1)
        #expect(Smarthost.shared.await(t, count: 1, seconds: 2).isEmpty)
    }

    @Test("a server without STARTTLS on smtp:// gets no AUTH and nothing is sent")
    func noStartTLS() throws {
        let instance = try Instance.relaying(port: 2)
        let t = token("nostarttls")
        _ = try instance.sendmail(["-i", "rcpt@remote.test"], "Subject: \(t)\n\nb\n")
        let before = Smarthost.shared.log.count
        let r = try instance.outboxdOnce()
        #expect(r.stderr.contains("does not offer STARTTLS"), "\(r.stderr)")
        #expect(instance.deferred().count == 1)
        usleep(500_000)
        let session = String(Smarthost.shared.log.dropFirst(before))
        #expect(session.contains("disconnect from"), "\(session)")
        // The log is shared with the tests running beside this one (their sessions, kept
        // open for a moment, end in this window too): no session may have had AUTH
        // without STARTTLS.
        let clear = session.split(separator: "\n").filter { $0.contains("disconnect from") && $0.contains("auth=") && !$0.contains("starttls=") }
        #expect(clear.isEmpty, "no AUTH may be sent in the clear: \(clear)")
    }

    @Test("a greeting slower than command_timeout defers")
    func slowGreeting() throws {
        let instance = try Instance.relaying(port: 6, extra: "command_timeout = 2s\n")
        _ = try instance.sendmail(["-i", "rcpt@remote.test"], "Subject: slow\n\nb\n")
        let r = try instance.outboxdOnce()
        #expect(r.stderr.contains("timed out"), "\(r.stderr)")
        #expect(instance.deferred().count == 1)
    }

    @Test("451 on one of three recipients: two delivered once, the third after the fault is lifted")
    func partialTempfail() throws {
        let smarthost = Smarthost.shared
        try smarthost.setAccess("recipient", ["later@remote.test 451 4.7.1 try again later"])
        defer { try? smarthost.setAccess("recipient", []) }
        let instance = try Instance.relaying()
        let t = token("451")
        _ = try instance.sendmail(["-i", "-f", "s@client.test", "a@remote.test", "later@remote.test", "b@remote.test"], "Subject: \(t)\n\nb\n")
        let first = try instance.outboxdOnce()
        #expect(first.stderr.contains("to=<later@remote.test>") && first.stderr.contains("status=deferred (451 4.7.1"), "\(first.stderr)")
        #expect(Set(smarthost.await(t, count: 2).map(\.recipient)) == ["a@remote.test", "b@remote.test"])
        #expect(instance.deferred().count == 1)
        try smarthost.setAccess("recipient", [])
        #expect(try instance.sendmail(["-q"]).code == 0)
        let second = try instance.outboxdOnce()
        #expect(second.stderr.contains("to=<later@remote.test>") && second.stderr.contains("status=sent"), "\(second.stderr)")
        let all = smarthost.await(t, count: 3)
        #expect(all.map(\.recipient).sorted() == ["a@remote.test", "b@remote.test", "later@remote.test"], "each recipient exactly once")
        #expect(instance.deferred().isEmpty)
    }

    @Test("550 sends an RFC 3464 DSN to the sender from <>")
    func permanentFailure() throws {
        let smarthost = Smarthost.shared
        try smarthost.setAccess("recipient", ["nosuch@remote.test 550 5.1.1 no such user here"])
        defer { try? smarthost.setAccess("recipient", []) }
        let instance = try Instance.relaying()
        let t = token("550")
        _ = try instance.sendmail(["-i", "-f", "author@client.test", "nosuch@remote.test"], "Subject: \(t)\n\nbody \(t)\n")
        let r = try instance.outboxdOnce()
        #expect(r.stderr.contains("status=bounced (550 5.1.1"), "\(r.stderr)")
        #expect(r.stderr.contains("sender non-delivery notification"))
        let dsn = smarthost.await(t, count: 1)
        try #require(dsn.count == 1)
        #expect(dsn[0].sender == "" && dsn[0].recipient == "author@client.test", "\(dsn[0])")
        #expect(dsn[0].content.contains("multipart/report; report-type=delivery-status"))
        #expect(dsn[0].content.contains("Final-Recipient: rfc822; nosuch@remote.test"))
        #expect(dsn[0].content.contains("Status: 5.1.1"))
        #expect(instance.deferred().isEmpty)
    }

    @Test("null sender + 550: no bounce at all")
    func nullSenderNoBounce() throws {
        let smarthost = Smarthost.shared
        try smarthost.setAccess("recipient", ["nosuch@remote.test 550 5.1.1 no such user here"])
        defer { try? smarthost.setAccess("recipient", []) }
        let instance = try Instance.relaying()
        let t = token("null550")
        _ = try instance.sendmail(["-i", "-f", "<>", "nosuch@remote.test"], "Subject: \(t)\n\nbody \(t)\n")
        let r = try instance.outboxdOnce()
        #expect(r.stderr.contains("no non-delivery notification: null sender"), "\(r.stderr)")
        #expect(smarthost.await(t, count: 1, seconds: 3).isEmpty)
        #expect(instance.deferred().isEmpty)
    }

    @Test("421 after DATA: retried and delivered once")
    func disconnectAfterData() throws {
        let smarthost = Smarthost.shared
        try smarthost.setAccess("data", ["dropper@client.test 421 4.7.0 closing now"])
        defer { try? smarthost.setAccess("data", []) }
        let instance = try Instance.relaying()
        let t = token("421")
        _ = try instance.sendmail(["-i", "-f", "dropper@client.test", "rcpt@remote.test"], "Subject: \(t)\n\nb\n")
        let first = try instance.outboxdOnce()
        #expect(first.stderr.contains("status=deferred (421 4.7.0"), "\(first.stderr)")
        try smarthost.setAccess("data", [])
        _ = try instance.sendmail(["-q"])
        let second = try instance.outboxdOnce()
        #expect(second.stderr.contains("status=sent"), "\(second.stderr)")
        #expect(smarthost.await(t, count: 1).count == 1)
    }

    @Test("SIZE smaller than the message: no DATA, a DSN to the sender")
    func sizeLimit() throws {
        let smarthost = Smarthost.shared
        let instance = try Instance.relaying(port: 7)
        let t = token("size")
        let body = String(repeating: "0123456789 abcdefghijklmnopqrstuvwxyz\n", count: 800)  // ~30 KB
        _ = try instance.sendmail(["-i", "-f", "big@client.test", "rcpt@remote.test"], "Subject: \(t)\n\n\(body)")
        let r = try instance.outboxdOnce()
        #expect(r.stderr.contains("status=bounced (552 5.3.4 message size"), "\(r.stderr)")
        let got = smarthost.await(t, count: 1)
        try #require(got.count == 1)
        #expect(got[0].recipient == "big@client.test" && got[0].sender == "", "only the DSN arrives")
        #expect(got[0].content.contains("text/rfc822-headers"))
    }
}

@Suite("outboxd as a daemon, and hostile drop files", .serialized, .enabled(if: Smarthost.available, "needs root, postfix and sasl2-bin"))
struct DaemonModeTests {
    func startDaemon(_ instance: Instance) throws -> (Process, Pipe) { try instance.startDaemon() }

    @Test("notices new mail at once, reloads on SIGHUP, stops cleanly on SIGTERM")
    func daemon() throws {
        let instance = try Instance.relaying()
        let (daemon, errors) = try startDaemon(instance)
        usleep(500_000)
        let t = token("inotify")
        _ = try instance.sendmail(["-i", "rcpt@remote.test"], "Subject: \(t)\n\nb\n")
        #expect(Smarthost.shared.await(t, count: 1, seconds: 10).count == 1, "delivered without --once or a rescan")
        // Several events within one second must not leave the public summary stale.
        for i in 0..<3 { _ = try instance.sendmail(["-i", "rcpt@remote.test"], "Subject: \(t)-\(i)\n\nb\n") }
        #expect(Smarthost.shared.await("\(t)-", count: 3, seconds: 10).count == 3)
        #expect(
            eventually {
                (try? String(contentsOfFile: instance.layout.publicQueueSummary, encoding: .utf8)) == "Mail queue is empty\n"
            }, "public/mailq (what users' mailq shows) catches up within seconds")
        kill(daemon.processIdentifier, SIGHUP)
        usleep(300_000)
        let log = instance.stopDaemon(daemon, errors)
        #expect(daemon.terminationStatus == 0)
        #expect(log.contains("reloaded "), "\(log)")
        #expect(log.contains("daemon stopped"))
    }

    @Test("symlinks, FIFOs, directories, hard links and truncated files in maildrop/new are rejected; good mail still goes")
    func hostileDropFiles() throws {
        let instance = try Instance.relaying()
        let t = token("hostile")
        _ = try instance.sendmail(["-i", "rcpt@remote.test"], "Subject: \(t)\n\nb\n")
        let new = instance.layout.maildropNew
        let good = try #require(instance.queued().first)
        symlink("/etc/shadow", new + "/LINK")
        mkfifo(new + "/FIFO", 0o600)
        mkdir(new + "/DIR", 0o700)
        try Data("V\0\0\0\u{5}trunc".utf8).write(to: URL(fileURLWithPath: new + "/TRUNC"))
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: instance.directory + "/other"))
        link(instance.directory + "/other", new + "/HARD")
        let r = try instance.outboxdOnce()
        #expect(r.code == 0)
        for name in ["LINK", "FIFO", "DIR", "TRUNC", "HARD"] {
            #expect(r.stderr.contains("maildrop/new/\(name): rejected"), "\(name): \(r.stderr)")
        }
        #expect(instance.queued().isEmpty, "everything adopted or moved aside")
        #expect(FileManager.default.fileExists(atPath: "/etc/shadow"), "a symlink is never followed")
        #expect(Smarthost.shared.await(t, count: 1).count == 1, "\(good) delivered")
    }

    @Test("records sent straight to the helper cannot inject SMTP commands through an address")
    func commandInjection() throws {
        let instance = try Instance.relaying()
        _ = try instance.sendmail(["-q"])  // creates the spool
        func record(_ type: String, _ payload: String) -> [UInt8] {
            let p = Array(payload.utf8)
            return Array(type.utf8) + [UInt8(p.count >> 24), UInt8(p.count >> 16 & 255), UInt8(p.count >> 8 & 255), UInt8(p.count & 255)] + p
        }
        let t = token("inject")
        let stream =
            record("S", "x@client.test") + record("R", "a@remote.test>\r\nRCPT TO:<injected@remote.test")
            + record("M", "Subject: \(t)\r\n\r\nb\r\n") + record("E", "")
        let r = try run(Binaries.outboxdrop, [], stdin: stream, environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(r.code == 65 && r.stdout.contains("control character 0x0D in address"), "the helper checks the envelope: \(r.stdout)")
        #expect(instance.unfinished().isEmpty)
        #expect(
            instance.queued().allSatisfy { (try? DropFile.read(path: instance.layout.maildropNew + "/" + $0).isFlushRequest) ?? false },
            "only the flush request is queued")
        // The same envelope placed in maildrop/new directly (a member of the drop group).
        let id = QueueID.generate().text
        let file =
            RecordEncoder.encode(DropFile.header(queueID: id, uid: getuid(), time: Int(time(nil))))
            + stream
        try Data(file).write(to: URL(fileURLWithPath: instance.layout.maildropNew + "/" + id))
        let d = try instance.outboxdOnce()
        #expect(d.stderr.contains("rejected") && d.stderr.contains("control character 0x0D in address"), "\(d.stderr)")
        #expect(Smarthost.shared.await(t, count: 1, seconds: 3).isEmpty)
        #expect(!Smarthost.shared.log.contains("injected@remote.test"))
    }

    @Test("a body line over 998 octets arrives quoted-printable, recoverable, with no line over 998")
    func longLines() throws {
        let instance = try Instance.relaying()
        let t = token("longline")
        let long = String(repeating: "abcdefghij", count: 250) + " = end"  // 2506 octets
        _ = try instance.sendmail(["-i", "rcpt@remote.test"], "Subject: \(t)\n\n\(long)\nshort line\n")
        _ = try instance.outboxdOnce()
        let got = try #require(Smarthost.shared.await(t, count: 1).first)
        #expect(got.content.split(separator: "\n").allSatisfy { $0.utf8.count <= 998 })
        #expect(got.content.contains("Content-Transfer-Encoding: quoted-printable"))
        let body = String(got.content[got.content.range(of: "\n\n")!.upperBound...])
        let decoded = body.replacingOccurrences(of: "=\n", with: "").replacingOccurrences(of: "=3D", with: "=")
        #expect(decoded == long + "\nshort line\n")
    }

    @Test("a single-part application/json body with a 2506-octet line arrives quoted-printable and decodes to the original")
    func longLinesNonText() throws {
        let instance = try Instance.relaying()
        let t = token("longjson")
        let json = "{\"items\":[" + (0..<250).map { "\"v\($0)=\"" }.joined(separator: ",") + "]}"
        _ = try instance.sendmail(["-i", "rcpt@remote.test"], "Subject: \(t)\nMIME-Version: 1.0\nContent-Type: application/json\n\n\(json)\n")
        _ = try instance.outboxdOnce()
        let got = try #require(Smarthost.shared.await(t, count: 1).first)
        #expect(got.content.split(separator: "\n").allSatisfy { $0.utf8.count <= 998 })
        #expect(got.content.contains("Content-Type: application/json") && got.content.contains("Content-Transfer-Encoding: quoted-printable"))
        let body = String(got.content[got.content.range(of: "\n\n")!.upperBound...])
        #expect(body.replacingOccurrences(of: "=\n", with: "").replacingOccurrences(of: "=3D", with: "=") == json + "\n")
    }

    @Test("a multipart message's 2506-octet HTML line is broken with CRLF SPACE, as Postfix does, its structure intact")
    func longLinesMultipart() throws {
        let instance = try Instance.relaying()
        let t = token("longmime")
        let html = "<p>" + String(repeating: "<b>bold</b> ", count: 208) + "</p>"  // 2503 octets
        let message =
            "Subject: \(t)\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"XX\"\n\n"
            + "--XX\nContent-Type: text/plain\n\nplain\n--XX\nContent-Type: text/html\n\n\(html)\n--XX--\n"
        _ = try instance.sendmail(["-i", "rcpt@remote.test"], message)
        _ = try instance.outboxdOnce()
        let got = try #require(Smarthost.shared.await(t, count: 1).first)
        #expect(got.content.split(separator: "\n").allSatisfy { $0.utf8.count <= 998 })
        #expect(!got.content.contains("quoted-printable"), "a multipart body is not re-encoded")
        let body = String(got.content[got.content.range(of: "\n\n")!.upperBound...])
        #expect(
            body.replacingOccurrences(of: "\n ", with: "")
                == "--XX\nContent-Type: text/plain\n\nplain\n--XX\nContent-Type: text/html\n\n\(html)\n--XX--\n")
    }

    @Test("smtps:// pointed at a STARTTLS port says to write smtp://")
    func implicitTLSAtSTARTTLSPort() throws {
        let instance = try Instance.relaying(scheme: "smtps")
        let check = try instance.outboxctl(["check"])
        #expect(check.code != 0)
        #expect(
            check.stdout.contains(
                "wrong version number (the server speaks plain SMTP first: for STARTTLS write smtp://127.0.0.1:\(Smarthost.shared.port))"),
            "\(check.stdout)")
    }

    @Test("smtp:// pointed at port 465, which waits silently for TLS, says to write smtps://")
    func startTLSAtPort465() throws {
        // A listener on 127.0.0.1:465 that never speaks, as an implicit-TLS server waits for
        // the ClientHello (binding 465 needs root, as the suite runs).
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(465).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(listener, 4) == 0, "cannot listen on 127.0.0.1:465 (errno \(errno))")
        let instance = try Instance(extraConfig: "smarthost = smtp://127.0.0.1:465\ncommand_timeout = 1s\nconnect_timeout = 2s\n")
        let check = try instance.outboxctl(["check"])
        #expect(check.code != 0)
        #expect(check.stdout.contains("(port 465 is implicit TLS: write smtps://127.0.0.1:465)"), "\(check.stdout)")
    }

    @Test("a bounce that cannot be delivered goes once to admin_address, then nowhere")
    func doubleBounce() throws {
        let smarthost = Smarthost.shared
        try smarthost.setAccess("recipient", ["nosuch@remote.test 550 5.1.1 no such user", "gone@client.test 550 5.1.1 sender gone too"])
        defer { try? smarthost.setAccess("recipient", []) }
        let instance = try Instance.relaying()
        let t = token("double")
        _ = try instance.sendmail(["-i", "-f", "gone@client.test", "nosuch@remote.test"], "Subject: \(t)\n\nb \(t)\n")
        let r = try instance.outboxdOnce()
        let got = smarthost.await(t, count: 1)
        #expect(got.count == 1 && got.first?.recipient == "admin@example.net" && got.first?.sender == "", "\(r.stderr)")
        #expect(r.stderr.components(separatedBy: "sender non-delivery notification").count == 3, "exactly two notifications: \(r.stderr)")
        #expect(instance.deferred().isEmpty)
    }

    @Test("a message deferred past maximal_queue_lifetime is bounced")
    func expiry() throws {
        let instance = try Instance.relaying(password: "wrong", extra: "maximal_queue_lifetime = 0s\n")
        _ = try instance.sendmail(["-i", "-f", "old@client.test", "rcpt@remote.test"], "Subject: expiry\n\nb\n")
        usleep(1_100_000)
        let r = try instance.outboxdOnce()
        #expect(r.stderr.contains("status=bounced (delivery time expired"), "\(r.stderr)")
        #expect(r.stderr.contains("sender non-delivery notification"))
    }
}
