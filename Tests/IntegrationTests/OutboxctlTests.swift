import Foundation
import OutboxConfig
import OutboxSupport
import Testing

extension Instance {
    /// Runs outboxctl against this instance.
    func outboxctl(_ arguments: [String]) throws -> RunResult {
        try run(Binaries.directory + "/outboxctl", arguments, environment: ["OUTBOX_CONFIG": configPath])
    }

    /// Messages in queue/hold.
    func held() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: layout.root + "/queue/hold").sorted()) ?? []
    }
}

@Suite("outboxctl: queue, show, hold, release, delete, requeue, config", .serialized)
struct OutboxctlTests {
    /// An instance whose smarthost refuses connections at once: every attempt defers.
    func unreachable() throws -> Instance {
        try Instance(extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\nminimal_backoff_time = 1h\n")
    }

    /// The installed outboxd is the outboxctl executable under another name (Makefile).
    @Test("the outboxctl executable started as outboxd is the daemon: it delivers, and its options are outboxd's")
    func multiCall() throws {
        let server = try CaptureServer()
        let instance = try Instance(extraConfig: server.config)
        _ = try instance.sendmail(["-i", "a@remote.test"], "Subject: multi-call\n\nbody\n")
        let env = ["OUTBOX_CONFIG": instance.configPath]
        let daemon = try run(Binaries.directory + "/outboxctl", ["--once", "--no-syslog"], environment: env, argv0: "outboxd")
        #expect(daemon.code == 0 && server.await(messages: 1) && instance.deferred().isEmpty, "\(daemon.stderr)")
        #expect(daemon.stderr.contains("daemon started:") && daemon.stderr.contains("status=sent"), "\(daemon.stderr)")
        let help = try run(Binaries.directory + "/outboxctl", ["--help"], argv0: "outboxd")
        #expect(help.code == 0 && help.stdout.hasPrefix("usage: outboxd "), "\(help.stdout)")
        let ctl = try run(Binaries.directory + "/outboxctl", ["--once"], environment: env)
        #expect(ctl.code == 64 && ctl.stderr.contains("unknown option '--once'"), "as outboxctl: \(ctl.stderr)")
    }

    @Test("queue lists maildrop and deferred mail as mailq does, and as postqueue -j JSON")
    func queue() throws {
        let instance = try unreachable()
        #expect(try instance.outboxctl(["queue"]).stdout == "Mail queue is empty\n")
        _ = try instance.sendmail(["-i", "-f", "s@example.net", "a@remote.test", "b@remote.test"], "Subject: q\n\nbody\n")
        let id = try #require(instance.queued().first)
        var r = try instance.outboxctl(["queue"])
        #expect(r.code == 0 && r.stdout.contains(id) && r.stdout.contains("s@example.net") && r.stdout.hasSuffix("in 1 Request.\n"), "\(r.stdout)")
        #expect(r.stdout == (try instance.sendmail(["-bp"])).stdout, "the same text as mailq")
        #expect(try instance.outboxdOnce().code == 0)
        r = try instance.outboxctl(["queue", "--json"])
        let lines = r.stdout.split(separator: "\n")
        try #require(lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["queue_name"] as? String == "deferred" && object["queue_id"] as? String == id)
        #expect(object["sender"] as? String == "s@example.net" && (object["message_size"] as? Int ?? 0) > 0)
        let recipients = try #require(object["recipients"] as? [[String: Any]])
        #expect(recipients.map { $0["address"] as? String } == ["a@remote.test", "b@remote.test"])
        #expect((recipients[0]["delay_reason"] as? String)?.contains("Connection refused") == true, "\(recipients)")
    }

    @Test("show prints envelope, state, replies and headers, never the body")
    func show() throws {
        let instance = try unreachable()
        _ = try instance.sendmail(["-i", "a@remote.test"], "Subject: shown\nX-Tag: 1\n\nSECRET BODY\n")
        let id = try #require(instance.queued().first)
        _ = try instance.outboxdOnce()
        let r = try instance.outboxctl(["show", id])
        #expect(r.code == 0, "\(r.stderr)")
        for part in [
            "queue_id: \(id)", "queue: deferred", "attempts: 1", "recipient: <a@remote.test> deferred dsn=4.4.1", "Subject: shown", "X-Tag: 1",
        ] {
            #expect(r.stdout.contains(part), "\(part) in \(r.stdout)")
        }
        #expect(!r.stdout.contains("SECRET BODY") && !r.stdout.contains("\r"))
        let missing = try instance.outboxctl(["show", "M1LC11JW1V3NGT"])
        #expect(missing.code == 66 && missing.stderr == "outboxctl: M1LC11JW1V3NGT: no such message in the queue\n")
        #expect(try instance.outboxctl(["show", "../../etc/passwd"]).code == 66, "only queue IDs name files")
    }

    @Test("cat prints the content as it will be sent, from the maildrop or the queue; a damaged file ends with status 65")
    func cat() throws {
        let instance = try unreachable()
        let body = (0..<3000).map { "line \($0) of the body" }.joined(separator: "\n") + "\n"
        _ = try instance.sendmail(["-i", "a@remote.test"], "Subject: cat\nX-Tag: 1\n\n" + body)
        let id = try #require(instance.queued().first)
        let dropped = try instance.outboxctl(["cat", id])
        #expect(dropped.code == 0 && dropped.stdout.hasSuffix("\n\n" + body) && dropped.stdout.contains("Subject: cat\n"), "\(dropped.stderr)")
        #expect(!dropped.stdout.contains("\r"))
        _ = try instance.outboxdOnce()
        let queued = try instance.outboxctl(["cat", id]).stdout
        #expect(queued.hasSuffix("\n\n" + body) && queued.contains("Subject: cat\n"), "from the queue (outboxd may add header fields)")
        #expect(try instance.outboxctl(["cat", "M1LC11JW1V3NGT"]).code == 66)
        // Cut the queue file short: the content so far, then an error.
        let path = instance.directory + "/spool/queue/msg/" + id
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        truncate(path, off_t(size - 100))
        let damaged = try instance.outboxctl(["cat", id])
        #expect(damaged.code == 65 && damaged.stderr.hasPrefix("outboxctl: cat \(id): "), "\(damaged.code) \(damaged.stderr)")
    }

    /// Regression (review): show printed the smarthost's reply, the user's header bytes
    /// and addresses as they were, so escape sequences and bidi overrides reached the
    /// operator's terminal.
    @Test("show prints no terminal controls or bidi overrides from headers, addresses or a smarthost's reply")
    func showIsTerminalSafe() throws {
        let server = try CaptureServer(rcptReply: "450 4.2.0 \u{1b}]0;owned\u{7} busy \u{1b}[2J\u{202e}reversed")
        let instance = try Instance(extraConfig: server.config)
        let r = try instance.sendmail(
            ["-i", "a\u{202e}b@remote.test"], "Subject: \u{1b}[31mred\u{1b}[0m \u{9b}31m \u{200f}x\u{feff}\nX-Bell: \u{7}\u{8}\n\nbody\n")
        #expect(r.code == 0, "\(r.stderr)")
        let id = try #require(instance.queued().first)
        _ = try instance.outboxdOnce()
        let show = try instance.outboxctl(["show", id]).stdout
        #expect(show.contains("busy") && show.contains("Subject: ") && show.contains("recipient: <a"), "\(show)")
        let hazards = show.unicodeScalars.filter {
            ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || $0.value == 0x7F || (0x80...0x9F).contains($0.value) || $0 == "\u{202e}"
                || $0 == "\u{200f}"
                || $0 == "\u{feff}"
        }
        #expect(hazards.isEmpty, "\(hazards.map { String($0.value, radix: 16) }) in \(show)")
    }

    @Test("without a daemon: hold keeps a message from delivery, release and requeue make it due, delete removes it")
    func editsWithoutDaemon() throws {
        let instance = try unreachable()
        _ = try instance.sendmail(["-i", "a@remote.test"], "Subject: one\n\nb\n")
        _ = try instance.sendmail(["-i", "b@remote.test"], "Subject: two\n\nb\n")
        let ids = instance.queued()
        try #require(ids.count == 2)
        var r = try instance.outboxctl(["hold", ids[0]])
        #expect(r.code == 0 && r.stdout == "\(ids[0]): held\n", "\(r.stderr)")
        #expect(instance.held() == [ids[0]] && instance.queued().isEmpty, "hold adopts the maildrop first")
        #expect(try instance.sendmail(["-bp"]).stdout.contains("\(ids[0])!"), "mailq marks held mail with !")
        var log = try instance.outboxdOnce().stderr
        #expect(!log.contains("\(ids[0]): to=") && log.contains("\(ids[1]): to=<b@remote.test>"), "\(log)")

        r = try instance.outboxctl(["release", ids[0], ids[1]])
        #expect(r.code == 66 && r.stdout == "\(ids[0]): released\n" && r.stderr == "outboxctl: \(ids[1]): not on hold\n")
        log = try instance.outboxdOnce().stderr
        #expect(log.contains("\(ids[0]): to=") && !log.contains("\(ids[1]): to="), "released is due, the other waits for its backoff: \(log)")

        r = try instance.outboxctl(["requeue", ids[1]])
        #expect(r.code == 0 && r.stdout == "\(ids[1]): requeued\n")
        #expect(try instance.outboxctl(["show", ids[1]]).stdout.contains("attempts: 0"))
        log = try instance.outboxdOnce().stderr
        #expect(log.contains("\(ids[1]): to=<b@remote.test>") && log.contains("), tries=1"), "retry count restarted: \(log)")

        r = try instance.outboxctl(["delete", "ALL"])
        #expect(r.code == 0 && r.stdout == ids.map { "\($0): deleted\n" }.joined(), "\(r.stdout)")
        #expect(instance.deferred().isEmpty && instance.held().isEmpty)
        #expect(try instance.sendmail(["-bp"]).stdout == "Mail queue is empty\n")
        #expect(try instance.outboxctl(["delete", ids[0]]).code == 66)
    }

    @Test(
        "with outboxd running: edits go through its control socket; a released message is delivered at once",
        .enabled(if: Smarthost.available, "needs root, postfix and sasl2-bin"))
    func editsWithDaemon() throws {
        let instance = try Instance.relaying()
        let t = token("held")
        _ = try instance.sendmail(["-i", "rcpt@remote.test"], "Subject: \(t)\n\nb\n")
        let id = try #require(instance.queued().first)
        #expect(try instance.outboxctl(["hold", id]).code == 0)
        let (daemon, errors) = try DaemonModeTests().startDaemon(instance)
        defer {
            if daemon.isRunning {
                kill(daemon.processIdentifier, SIGTERM)
                daemon.waitUntilExit()
            }
        }
        #expect(Smarthost.shared.await(t, count: 1, seconds: 1.5).isEmpty, "held mail is not delivered")

        let second = try instance.outboxdOnce()
        #expect(second.code == 75 && second.stderr.contains("another outboxd is already running"), "\(second.stderr)")

        let r = try instance.outboxctl(["release", id])
        #expect(r.code == 0 && r.stdout == "\(id): released\n", "\(r.stderr)")
        #expect(Smarthost.shared.await(t, count: 1, seconds: 10).count == 1, "released mail goes at once")

        _ = try instance.sendmail(["-i", "rcpt@remote.test"], "Subject: gone\n\nb\n")
        let d = try instance.outboxctl(["delete", "ALL"])
        #expect(d.code == 0, "\(d.stderr)")
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("\(id): released (requested by uid \(getuid()))"), "\(log)")
        #expect(instance.deferred().isEmpty)
    }

    @Test("outboxd closes each control connection: its descriptors do not grow with outboxctl requests")
    func controlConnectionsClosed() throws {
        let instance = try unreachable()
        let (daemon, _) = try instance.startDaemon()
        defer {
            if daemon.isRunning {
                kill(daemon.processIdentifier, SIGTERM)
                daemon.waitUntilExit()
            }
        }
        let socket = instance.layout.root + "/queue/control"
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) { usleep(50_000) }
        func descriptors() -> Int {
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.processIdentifier)/fd").count) ?? -1
        }
        // Through the socket: the daemon holds the queue lock, so outboxctl must ask it.
        #expect(try instance.outboxctl(["hold", "M1LC11JW1V3NGT"]).code == 66)
        let before = descriptors()
        for _ in 0..<10 { _ = try instance.outboxctl(["hold", "M1LC11JW1V3NGT"]) }
        #expect(before > 0 && descriptors() == before, "outboxd's descriptors grew from \(before) to \(descriptors())")
    }

    @Test(
        "send-test relays one message straight through the smarthost and reports its reply; nothing is queued",
        .enabled(if: Smarthost.available, "needs root, postfix and sasl2-bin"))
    func sendTest() throws {
        let instance = try Instance.relaying()
        let t = token("sendtest")
        let r = try instance.outboxctl(["send-test", "-f", "\(t)@client.test", "rcpt@remote.test"])
        #expect(r.code == 0 && r.stdout.contains("-> <rcpt@remote.test>: sent (250 2.0.0 Ok"), "\(r.stdout)\(r.stderr)")
        let got = Smarthost.shared.await(t, count: 1)
        #expect(got.count == 1 && got.first?.sender == "\(t)@client.test" && got.first?.content.contains("outbox test message") == true)
        #expect(instance.queued().isEmpty && instance.deferred().isEmpty)
        let refused = try Instance.relaying(password: "wrong").outboxctl(["send-test", "rcpt@remote.test"])
        #expect(refused.code == 75 && refused.stdout.contains("535 5.7.8"), "\(refused.stdout)")
        #expect(try instance.outboxctl(["send-test", "not an address"]).code == 65)
    }

    @Test("config prints every key, --defaults the built-in values, and a bad file fails with file:line")
    func config() throws {
        let instance = try unreachable()
        var r = try instance.outboxctl(["config"])
        #expect(r.code == 0)
        let keys = r.stdout.split(separator: "\n").map { String($0.prefix { $0 != " " }) }
        #expect(keys.sorted() == ConfigParser.keyNames)
        #expect(r.stdout.contains("smarthost = smtp://127.0.0.1:1\n") && r.stdout.contains("minimal_backoff_time = 1h\n"))
        r = try instance.outboxctl(["config", "--defaults", "spool_directory", "tls_security_level"])
        #expect(r.stdout == "spool_directory = /var/spool/outbox\ntls_security_level = verify\n")
        r = try instance.outboxctl(["config", "--non-default"])
        #expect(!r.stdout.contains("tls_security_level") && r.stdout.contains("connect_timeout = 2s"))
        try "smarthost = mail.example.com\ntls_security_level = sometimes\n".write(toFile: instance.configPath, atomically: true, encoding: .utf8)
        r = try instance.outboxctl(["config"])
        #expect(r.code == 78 && r.stderr == "outboxctl: \(instance.configPath):2: tls_security_level: must be one of verify, encrypt, may, none\n")
    }
    @Test(
        "run by root on a spool another user owns, outboxd and outboxctl act as that user: nothing they create is root's",
        .enabled(if: geteuid() == 0, "needs root"))
    func rootActsAsSpoolOwner() throws {
        let instance = try unreachable()
        let owner: uid_t = 65534  // nobody
        try FileManager.default.createDirectory(atPath: instance.layout.root, withIntermediateDirectories: false)
        #expect(chown(instance.layout.root, owner, gid_t(owner)) == 0)
        let once = try instance.outboxdOnce()
        #expect(once.code == 0, "\(once.stderr)")
        let listing = try instance.outboxctl(["queue"])
        #expect(listing.code == 0 && listing.stdout == "Mail queue is empty\n", "\(listing.stdout)\(listing.stderr)")
        let entries = try FileManager.default.subpathsOfDirectory(atPath: instance.layout.root)
        #expect(entries.contains("queue"), "outboxd made its queue: \(entries)")
        for entry in entries {
            var st = stat()
            #expect(lstat(instance.layout.root + "/" + entry, &st) == 0 && st.st_uid == owner, "\(entry) is owned by uid \(st.st_uid)")
        }
    }
}
