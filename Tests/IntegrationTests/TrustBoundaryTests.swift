import Foundation
import OutboxCore
import OutboxDrop
import OutboxSpool
import Testing

/// Issue 10: nothing a local user submits can be lost, replaced, or turned against the
/// relay session. Each test here failed on the code before the fix (see the issue's
/// closing note); the wire is checked on a CaptureServer, which records every octet.
@Suite("trust boundary: the maildrop is hostile input, the wire stays clean")
struct TrustBoundaryTests {
    /// An instance relaying to a fresh capture server.
    func capturing(_ extra: String = "", offersAuth: Bool = false) throws -> (Instance, CaptureServer) {
        let server = try CaptureServer(offersAuth: offersAuth)
        return (try Instance(extraConfig: server.config + extra), server)
    }

    /// The record framing the drop helper reads: type, 4-octet length, payload.
    static func record(_ type: String, _ payload: [UInt8]) -> [UInt8] {
        Array(type.utf8) + [
            UInt8(payload.count >> 24), UInt8(payload.count >> 16 & 255), UInt8(payload.count >> 8 & 255), UInt8(payload.count & 255),
        ] + payload
    }

    static func record(_ type: String, _ payload: String) -> [UInt8] { record(type, Array(payload.utf8)) }

    /// Writes a record stream straight to the drop helper, as a local user can.
    func dropDirectly(_ instance: Instance, _ stream: [UInt8]) throws {
        _ = try instance.sendmail(["-q"])  // creates the spool
        let r = try run(Binaries.outboxdrop, [], stdin: stream, environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(r.code == 0, "the helper does not parse: it accepts the bytes (\(r.stdout))")
    }

    /// Places a complete drop file (header + `stream`) in maildrop/new, as a member of the
    /// drop group can without the helper.
    func placeDirectly(_ instance: Instance, _ stream: [UInt8]) throws {
        _ = try instance.sendmail(["-q"])  // creates the spool
        let id = QueueID.generate().text
        let staging = instance.directory + "/staging"
        try Data(RecordEncoder.encode(DropFile.header(queueID: id, uid: getuid(), time: Int(time(nil)))) + stream)
            .write(to: URL(fileURLWithPath: staging))
        rename(staging, instance.layout.maildropNew + "/" + id)
    }

    func corrupt(_ instance: Instance) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: instance.layout.root + "/queue/corrupt")) ?? []
    }

    // MARK: Finding 1: accepted, then silently lost

    static let acceptedCases: [(String, [String], String, [String])] = [
        ("quoted local part with a blank", ["-i", "\"john doe\"@example.com"], "", ["RCPT TO:<\"john doe\"@example.com>"]),
        ("quoted local part with <>", ["-i", "\"a<b>c\"@example.com"], "", ["RCPT TO:<\"a<b>c\"@example.com>"]),
        (
            "quoted sender", ["-i", "-f", "\"x y\"@example.org", "ok@example.com"], "",
            ["MAIL FROM:<\"x y\"@example.org>", "RCPT TO:<ok@example.com>"]
        ),
        (
            "-bs ORCPT with an xtext blank", ["-bs"],
            "EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.net> ORCPT=rfc822;bob+20smith@example.net\r\nDATA\r\nSubject: s\r\n\r\nb\r\n.\r\nQUIT\r\n",
            ["RCPT TO:<bob@example.net> ORCPT=rfc822;bob+20smith@example.net"]
        ),
        (
            "-bs quoted recipient", ["-bs"],
            "EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<\"x y\"@example.net>\r\nDATA\r\nSubject: s\r\n\r\nb\r\n.\r\nQUIT\r\n",
            ["RCPT TO:<\"x y\"@example.net>"]
        ),
    ]

    @Test("what sendmail accepts, outboxd delivers (these were accepted, then moved to queue/corrupt)", arguments: acceptedCases)
    func acceptedIsDelivered(_ name: String, _ arguments: [String], _ input: String, _ expected: [String]) throws {
        let (instance, server) = try capturing()
        let r = try instance.sendmail(arguments, input.isEmpty ? "Subject: \(name)\n\nbody\n" : input)
        #expect(r.code == 0 && r.stderr.isEmpty, "\(name): \(r.stderr)")
        if arguments == ["-bs"] { #expect(!r.stdout.contains("\r\n5"), "\(r.stdout)") }
        let d = try instance.outboxdOnce()
        #expect(server.await(messages: 1), "\(name): \(d.stderr)")
        for line in expected { #expect(server.commandLines.contains { $0.hasPrefix(line) }, "\(name): \(line) in \(server.commandLines)") }
        #expect(corrupt(instance).isEmpty && !d.stderr.contains("rejected"), "\(d.stderr)")
    }

    @Test(
        "what outboxd would refuse, sendmail refuses at once: one line, nothing queued",
        arguments: [["-i", "a..b@example.com"], ["-i", "-f", "x.@example.org", "ok@example.com"], ["-i", "a@exa mple.com"]])
    func refusedAtOnce(_ arguments: [String]) throws {
        let instance = try Instance()
        let r = try instance.sendmail(arguments, "Subject: s\n\nb\n")
        #expect(r.code == 64 || r.code == 65 || r.code == 67, "\(arguments): \(r.code) \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(instance.queued().isEmpty && instance.unfinished().isEmpty)
    }

    @Test("-bs refuses at RCPT what outboxd would refuse, and an ORCPT carrying a control character")
    func bsRefuses() throws {
        let instance = try Instance()
        let r = try instance.sendmail(
            ["-bs"],
            "EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<a..b@example.net>\r\nRCPT TO:<b@example.net> ORCPT=rfc822;b+0D+0Ax@example.net\r\nRCPT TO:<ok@example.net>\r\nRSET\r\nMAIL FROM:<> RET=FULL RET=HDRS\r\nQUIT\r\n"
        )
        let codes = r.stdout.split(separator: "\r\n").filter { $0.dropFirst(3).first == " " }.map { String($0.prefix(3)) }
        #expect(codes == ["220", "250", "250", "501", "501", "250", "250", "501", "221"], "\(r.stdout)")
    }

    @Test("a drop file the daemon refuses is moved aside and reported to its sender, never parked silently")
    func refusedIsReported() throws {
        let (instance, server) = try capturing()
        let t = token("refused")
        let stream =
            Self.record("S", "victim@example.com") + Self.record("R", "a@remote.test>\r\nRSET")
            + Self.record("M", "Subject: \(t)\r\n\r\nb\r\n") + Self.record("E", "")
        // The helper refuses it at once, with outboxd's words.
        _ = try instance.sendmail(["-q"])
        let h = try run(Binaries.outboxdrop, [], stdin: stream, environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(h.code == 65 && h.stdout.contains("control character 0x0D"), "\(h.code) \(h.stdout)")
        #expect(instance.queued().filter { !((try? DropFile.read(path: instance.layout.maildropNew + "/" + $0).isFlushRequest) ?? false) }.isEmpty)
        // Placed in maildrop/new without the helper, outboxd refuses and reports it.
        try placeDirectly(instance, stream)
        let d = try instance.outboxdOnce()
        #expect(d.stderr.contains("rejected") && d.stderr.contains("notice"), "\(d.stderr)")
        #expect(corrupt(instance).count == 1)
        #expect(server.await(messages: 1), "\(d.stderr)")
        #expect(
            server.commandLines.contains("RCPT TO:<victim@example.com>") && server.commandLines.contains { $0.hasPrefix("MAIL FROM:<>") },
            "\(server.commandLines)")
        #expect(!server.commandLines.contains { $0.contains("RSET") || $0.contains("a@remote.test") }, "\(server.commandLines)")
        let notice = String(decoding: server.contents.first ?? [], as: UTF8.self)
        #expect(notice.contains("refused by outboxd") && notice.contains("control character 0x0D"), "\(notice)")
    }

    @Test("with an unusable sender the notice goes to admin_address")
    func refusedToAdmin() throws {
        let (instance, server) = try capturing()
        try placeDirectly(
            instance,
            Self.record("S", "bad sender@example.com") + Self.record("R", "a@remote.test")
                + Self.record("M", "Subject: s\r\n\r\nb\r\n") + Self.record("E", ""))
        let d = try instance.outboxdOnce()
        #expect(server.await(messages: 1), "\(d.stderr)")
        #expect(server.commandLines.contains("RCPT TO:<admin@example.net>"), "\(server.commandLines)")
        #expect(!server.commandLines.contains("RCPT TO:<a@remote.test>"))
    }

    // MARK: Finding 2: SMTP smuggling through the helper; the uid in the message

    @Test("bare LF and bare CR written to the helper never reach the wire; the dot after them is stuffed; the uid is in a Received line")
    func noSmugglingThroughHelper() throws {
        let (instance, server) = try capturing()
        let t = token("smuggle")
        let content =
            "Subject: \(t)\r\n\r\nline1\n.\r\nMAIL FROM:<ceo@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nforged\r\nx\r.\r\nRSET\r\nend\r\n"
        try dropDirectly(
            instance,
            Self.record("S", "u@example.org") + Self.record("R", "rcpt@remote.test")
                + Self.record("M", content) + Self.record("E", ""))
        let d = try instance.outboxdOnce()
        #expect(server.await(messages: 1), "\(d.stderr)")
        usleep(200_000)
        #expect(hasOnlyCRLFLineEndings(server.received), "a bare CR or LF reached the smarthost")
        #expect(server.commandLines.filter { $0.hasPrefix("MAIL FROM") }.count == 1, "\(server.commandLines)")
        #expect(!server.commandLines.contains { $0.contains("victim") || $0 == "RSET" }, "\(server.commandLines)")
        let message = String(decoding: server.contents[0], as: UTF8.self)
        #expect(message.contains("line1\r\n..\r\nMAIL FROM:<ceo@example.com>\r\n") && message.contains("x\r\n..\r\nRSET\r\n"), "\(message)")
        #expect(message.hasPrefix("Received: by ") && message.contains("(outbox, from userid \(getuid()))"), "\(message)")
    }

    // MARK: Findings 3 and 4: replaced or rewritten after adoption

    /// An instance whose smarthost refuses connections, so that mail stays queued.
    func unreachable() throws -> Instance {
        try Instance(extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\n")
    }

    func queueContent(_ instance: Instance, _ id: String) throws -> String {
        var bytes: [UInt8] = []
        _ = try DropFile.read(path: instance.layout.queueMessages + "/" + id) { bytes += $0 }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("a drop file named after a queued message's ID is adopted under a new ID and replaces nothing")
    func adoptionNeverReplaces() throws {
        let instance = try unreachable()
        let original = token("original")
        _ = try instance.sendmail(["-i", "a@remote.test"], "Subject: \(original)\n\nb\n")
        let id = try #require(instance.queued().first)
        _ = try instance.outboxdOnce()
        try #require(instance.deferred() == [id])
        // A member of the drop group names a file after the public queue ID.
        let forged = token("forged")
        let bytes = RecordEncoder.encode(
            DropFile.header(queueID: id, uid: getuid(), time: Int(time(nil)))
                + [
                    Record(.sender, "x@example.org"), Record(.recipient, "b@remote.test"), Record(.content, "Subject: \(forged)\r\n\r\nb\r\n"),
                    Record(.end),
                ])
        try Data(bytes).write(to: URL(fileURLWithPath: instance.layout.maildropNew + "/" + id))
        let d = try instance.outboxdOnce()
        #expect(d.stderr.contains("queue ID already in use"), "\(d.stderr)")
        #expect(instance.deferred().count == 2, "\(instance.deferred())")
        #expect(try queueContent(instance, id).contains(original), "the queued message is intact")
        let other = try #require(instance.deferred().first { $0 != id })
        #expect(try queueContent(instance, other).contains(forged))
    }

    @Test("a submitter holding its drop file open cannot rewrite the message after adoption")
    func rewriteAfterAdoption() throws {
        let instance = try unreachable()
        let original = token("kept")
        _ = try instance.sendmail(["-i", "a@remote.test"], "Subject: \(original)\n\nb\n")
        let id = try #require(instance.queued().first)
        let fd = open(instance.layout.maildropNew + "/" + id, O_RDWR)
        try #require(fd >= 0)
        defer { close(fd) }
        _ = try instance.outboxdOnce()
        try #require(instance.deferred() == [id])
        // Rewrite through the descriptor kept open: a forged uid and an injected command.
        let forged = RecordEncoder.encode(
            DropFile.header(queueID: id, uid: 0, time: Int(time(nil)))
                + [
                    Record(.sender, "ceo@example.org"),
                    Record(.recipient, "a@remote.test>\r\nRSET\r\nMAIL FROM:<ceo@example.org>\r\nRCPT TO:<injected@remote.test"),
                    Record(.content, "Subject: forged\r\n\r\nb\r\n"), Record(.end),
                ])
        _ = forged.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        _ = ftruncate(fd, off_t(forged.count))
        let text = try queueContent(instance, id)
        #expect(text.contains(original) && !text.contains("forged"), "the queue holds outboxd's own copy")
        let d = try instance.outboxdOnce()
        #expect(d.stderr.contains("daemon started: 1 queued") && !d.stderr.contains("injected"), "\(d.stderr)")
    }

    @Test("a queue file that fails validation when read again is moved aside and not sent")
    func queueFileValidatedOnRead() throws {
        let (instance, server) = try capturing()
        _ = try instance.sendmail(["-q"])
        _ = try instance.outboxdOnce()  // creates the queue
        let id = QueueID.generate().text
        let bad = RecordEncoder.encode(
            DropFile.header(queueID: id, uid: getuid(), time: Int(time(nil)))
                + [
                    Record(.sender, "x@example.org"), Record(.recipient, "a@remote.test>\r\nRCPT TO:<injected@remote.test"),
                    Record(.content, "Subject: s\r\n\r\nb\r\n"), Record(.end),
                ])
        try Data(bad).write(to: URL(fileURLWithPath: instance.layout.queueMessages + "/" + id))
        let d = try instance.outboxdOnce()
        #expect(d.stderr.contains("queue/msg/\(id): refused on reading"), "\(d.stderr)")
        #expect(corrupt(instance).contains { $0.hasPrefix(id) } && instance.deferred().isEmpty)
        #expect(!server.commandLines.contains { $0.contains("injected") })
    }

    // MARK: Finding 6: raw drop entries in listings

    @Test("mailq, outboxctl queue and public/mailq never print a drop file's raw bytes: no forged lines, no terminal escapes")
    func listingsEscape() throws {
        let instance = try unreachable()
        _ = try instance.sendmail(["-i", "good@remote.test"], "Subject: g\n\nb\n")
        let id = QueueID.generate().text
        let hostile = "x@example.org\nM1FORGED000000  9999 Mon Jan  1 00:00:00  ceo@example.com\u{1b}]2;pwned\u{07}"
        let bytes = RecordEncoder.encode(
            DropFile.header(queueID: id, uid: getuid(), time: Int(time(nil)))
                + [Record(.sender, hostile), Record(.recipient, "r@remote.test\u{1b}[2J"), Record(.content, "Subject: s\r\n\r\nb\r\n"), Record(.end)])
        try Data(bytes).write(to: URL(fileURLWithPath: instance.layout.maildropNew + "/" + id))
        QueueListing.publish(instance.layout)
        let listings = [
            try instance.sendmail(["-bp"]).stdout, try instance.outboxctl(["queue"]).stdout,
            try String(contentsOfFile: instance.layout.publicQueueSummary, encoding: .utf8),
        ]
        for text in listings {
            #expect(!text.utf8.contains(27) && !text.utf8.contains(7), "no escape or bell: \(text.debugDescription)")
            #expect(!text.contains("M1FORGED") && !text.contains("ceo@example.com"), "no forged line: \(text)")
            #expect(text.contains("1 unreadable file not shown") && text.contains("good@remote.test"), "\(text)")
            #expect(text.hasSuffix("-- 1 Kbytes in 1 Request.\n"), "the summary line monitoring parses stays last: \(text)")
        }
    }

    /// mailq reads a drop file's envelope only, up to its first content record; the header
    /// is still checked then (DropFile.readEnvelope), in the Embedded sendmail too.
    @Test("mailq counts a drop file with a bad header (an unknown version, an arrival time out of range) as unreadable")
    func listingChecksHeader() throws {
        let instance = try unreachable()
        _ = try instance.sendmail(["-i", "good@remote.test"], "Subject: g\n\nb\n")
        let envelope = [
            Record(.sender, "s@example.org"), Record(.recipient, "bad@remote.test"), Record(.content, "Subject: s\r\n\r\nb\r\n"), Record(.end),
        ]
        for header in [
            { (id: String) in [Record(.version, "99"), Record(.queueID, id), Record(.uid, String(getuid())), Record(.time, "0")] },
            { (id: String) in DropFile.header(queueID: id, uid: getuid(), time: MailDate.latest + 1) },
        ] {
            let id = QueueID.generate().text
            try Data(RecordEncoder.encode(header(id) + envelope)).write(to: URL(fileURLWithPath: instance.layout.maildropNew + "/" + id))
        }
        let listing = try instance.sendmail(["-bp"])
        #expect(listing.code == 0)
        #expect(listing.stdout.contains("2 unreadable files not shown") && listing.stdout.contains("good@remote.test"), "\(listing.stdout)")
        #expect(!listing.stdout.contains("bad@remote.test"), "\(listing.stdout)")
    }

    /// Regression (issue 15): public/mailq listed every message (17.7 MB for 100 000), so
    /// every local user's mailq read it whole and one user's flood hid everyone else's.
    @Test("public/mailq shows at most 100 messages per user (oldest first), the rest counted in the total line")
    func publicListingBounded() throws {
        let instance = try unreachable()
        _ = try instance.sendmail(["-q"])  // creates the spool
        let now = Int(time(nil))
        for (uid, count) in [(1001, 150), (1002, 5)] {
            for _ in 0..<count {
                let id = QueueID.generate().text
                let bytes = RecordEncoder.encode(
                    DropFile.header(queueID: id, uid: uid_t(uid), time: now)
                        + [
                            Record(.sender, "u\(uid)@example.org"), Record(.recipient, "r@remote.test"), Record(.content, "Subject: s\r\n\r\nb\r\n"),
                            Record(.end),
                        ])
                try Data(bytes).write(to: URL(fileURLWithPath: instance.layout.maildropNew + "/" + id))
            }
        }
        QueueListing.publish(instance.layout)
        let text = try String(contentsOfFile: instance.layout.publicQueueSummary, encoding: .utf8)
        #expect(text.components(separatedBy: "u1001@example.org").count - 1 == 100, "\(text.prefix(300))")
        #expect(text.components(separatedBy: "u1002@example.org").count - 1 == 5)
        #expect(text.contains("-- 50 more messages not shown (root's mailq and outboxctl queue list every message)\n"))
        #expect(text.hasSuffix(" Kbytes in 155 Requests.\n"), "\(text.suffix(200))")
        let root = try instance.sendmail(["-bp"]).stdout
        #expect(root.components(separatedBy: "u1001@example.org").count - 1 == 150 && root.hasSuffix(" in 155 Requests.\n"))
    }

    // MARK: Finding 7: a credential command cannot hang the daemon

    @Test(
        "a password command that floods or hangs is killed; the mail is deferred with a clear line",
        arguments: [
            ("/usr/bin/yes", "printed more than 65536 bytes; killed"),
            ("sleep 600; echo late", "did not finish within 2 s; killed"),
        ])
    func credentialCommandBounded(_ command: String, _ expected: String) throws {
        let (instance, _) = try capturing(
            "auth_username = u@example.org\nauth_password_command = \(command)\nauth_over_plaintext = yes\ncredential_command_timeout = 2s\n",
            offersAuth: true)
        _ = try instance.sendmail(["-i", "a@remote.test"], "Subject: c\n\nb\n")
        let started = Date()
        let d = try instance.outboxdOnce()
        #expect(Date().timeIntervalSince(started) < 20, "outboxd --once returned")
        #expect(d.stderr.contains(expected) && d.stderr.contains("status=deferred"), "\(d.stderr)")
        #expect(instance.deferred().count == 1)
    }

    // MARK: Finding 10: unprivileged flush requests are rate-limited

    @Test(
        "five flush requests from an unprivileged user cause one flush, not five connection attempts",
        .enabled(if: getuid() == 0, "needs root to make files owned by nobody"))
    func userFlushRateLimited() throws {
        let instance = try unreachable()
        _ = try instance.sendmail(["-i", "a@remote.test"], "Subject: f\n\nb\n")
        _ = try instance.outboxdOnce()  // tried once: next attempt in minutes
        let nobody = getpwnam("nobody")!.pointee.pw_uid
        let (daemon, errors) = try instance.startDaemon()
        defer {
            if daemon.isRunning {
                kill(daemon.processIdentifier, SIGTERM)
                daemon.waitUntilExit()
            }
        }
        usleep(500_000)
        // Five `sendmail -q` by nobody, one after another, as the drop helper writes them.
        let staging = instance.directory + "/staging"
        for _ in 0..<5 {
            let id = QueueID.generate().text
            try Data(RecordEncoder.encode(DropFile.header(queueID: id, uid: nobody, time: Int(time(nil))) + [Record(.flush), Record(.end)]))
                .write(to: URL(fileURLWithPath: staging))
            chown(staging, nobody, gid_t(0))
            rename(staging, instance.layout.maildropNew + "/" + id)
            usleep(600_000)
        }
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.components(separatedBy: "status=deferred").count - 1 == 1, "one attempt, not five: \(log)")
        #expect(log.components(separatedBy: "flush requested").count - 1 == 1 && log.contains("flush request from uid \(nobody) ignored"), "\(log)")
        #expect(instance.queued().isEmpty, "every request consumed")
    }

    // MARK: Wire rule: no line over 998 octets

    static func longestLine(_ bytes: [UInt8]) -> Int {
        bytes.split(separator: 10, omittingEmptySubsequences: false).map { $0.last == 13 ? $0.count - 1 : $0.count }.max() ?? 0
    }

    @Test("a 1200-octet token in Subject or an X- header leaves as RFC 2047 words; a queue file's long header lines are limited by outboxd too")
    func noLongHeaderLines() throws {
        let (instance, server) = try capturing()
        let token = String(repeating: "abcdefghij", count: 120)
        let r = try instance.sendmail(["-i", "a@remote.test"], "Subject: \(token)\nX-Tracking: \(token)\n\nbody\n")
        #expect(r.code == 0)
        // And one written straight to the helper, whose header nobody folded.
        try dropDirectly(
            instance,
            Self.record("S", "u@example.org") + Self.record("R", "b@remote.test")
                + Self.record("M", "X-Raw: \(token)\(token)\r\nReferences: <\(token)@x>\r\n\r\nbody\r\n") + Self.record("E", ""))
        let d = try instance.outboxdOnce()
        #expect(server.await(messages: 2), "\(d.stderr)")
        for content in server.contents {
            #expect(Self.longestLine(content) <= 998, "\(String(decoding: content.prefix(3000), as: UTF8.self))")
        }
        let first = String(
            decoding: server.contents.first { String(decoding: $0, as: UTF8.self).contains("Subject: =?us-ascii?B?") } ?? [], as: UTF8.self)
        #expect(first.contains("X-Tracking: =?us-ascii?B?"), "\(first.prefix(400))")
    }

    // MARK: Finding 8: resource caps

    @Test("an envelope over 1 MiB is refused at submission: by the helper, and by -bs at RCPT")
    func envelopeCapped() throws {
        let instance = try Instance()
        let local = String(repeating: "a", count: 250)
        let domain = (0..<3).map { _ in String(repeating: "d", count: 60) }.joined(separator: ".") + ".test"
        var stream = Self.record("S", "u@example.org")
        for i in 0..<2400 { stream += Self.record("R", "\(local)\(i)@\(domain)") }
        stream += Self.record("M", "Subject: big\r\n\r\nb\r\n") + Self.record("E", "")
        _ = try instance.sendmail(["-q"])
        let r = try run(Binaries.outboxdrop, [], stdin: stream, environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(r.code == 65 && r.stdout.contains("envelope (sender, recipients, parameters) exceeds 1048576 bytes"), "\(r.code) \(r.stdout)")
        #expect(
            instance.queued().filter { !$0.isEmpty }.allSatisfy { name in
                (try? DropFile.read(path: instance.layout.maildropNew + "/" + name).isFlushRequest) ?? false
            }, "nothing but the flush request queued")
        var bs = "EHLO x\r\nMAIL FROM:<u@example.org>\r\n"
        for i in 0..<2400 { bs += "RCPT TO:<\(local)\(i)@\(domain)>\r\n" }
        bs += "QUIT\r\n"
        let s = try instance.sendmail(["-bs"], bs)
        #expect(s.stdout.contains("452 4.5.3 Error: too many recipients"), "\(s.stdout.suffix(300))")
    }

    @Test("a user at user_queue_limit: sendmail says so and exits 75, -bs answers 452, and what bypasses sendmail is held, logged once")
    func userQueueLimit() throws {
        let instance = try Instance(extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\nuser_queue_limit = 3\n")
        for i in 0..<3 { #expect(try instance.sendmail(["-i", "a@remote.test"], "Subject: \(i)\n\nb\n").code == 0) }
        _ = try instance.outboxdOnce()
        #expect(instance.deferred().count == 3)
        let overlimit = try String(contentsOfFile: instance.layout.publicDirectory + "/overlimit", encoding: .utf8)
        #expect(overlimit.hasPrefix("\(getuid()) 3 "), "\(overlimit)")
        let r = try instance.sendmail(["-i", "a@remote.test"], "Subject: more\n\nb\n")
        #expect(r.code == 75 && r.stderr.contains("queue limit reached: uid \(getuid()) has 3 messages"), "\(r.code) \(r.stderr)")
        #expect(instance.queued().isEmpty && instance.unfinished().isEmpty, "\(instance.unfinished())")
        let bs = try instance.sendmail(["-bs"], "EHLO x\r\nMAIL FROM:<u@example.org>\r\nQUIT\r\n")
        #expect(bs.stdout.contains("452 4.3.1 Error: queue limit reached"), "\(bs.stdout)")
        // Straight to the helper, twice: both held, one log line.
        for i in 0..<2 {
            try dropDirectly(
                instance,
                Self.record("S", "u@example.org") + Self.record("R", "a@remote.test")
                    + Self.record("M", "Subject: bypass \(i)\r\n\r\nb\r\n") + Self.record("E", ""))
        }
        let d = try instance.outboxdOnce()
        #expect(d.stderr.components(separatedBy: "reached its queue limit").count - 1 == 1, "\(d.stderr)")
        let held = (try? FileManager.default.contentsOfDirectory(atPath: instance.layout.queueHeld)) ?? []
        #expect(held.count == 2 && instance.deferred().count == 3, "\(held)")
    }

    // MARK: Found by the outside review of this work (each failed before its fix)

    /// A drop file as a member of the drop group writes it, with any header values.
    func forgedDropFile(
        _ instance: Instance, id: String = QueueID.generate().text, time: Int = Int(Glibc.time(nil)),
        content: [Record], parameters: [Record] = [], sender: String = "u@example.org"
    ) throws -> String {
        let bytes = RecordEncoder.encode(
            DropFile.header(queueID: id, uid: getuid(), time: time)
                + [Record(.sender, sender), Record(.recipient, "a@remote.test")] + parameters + content + [Record(.end)])
        let staging = instance.directory + "/staging"
        try Data(bytes).write(to: URL(fileURLWithPath: staging))
        rename(staging, instance.layout.maildropNew + "/" + id)
        return id
    }

    @Test(
        "a forged arrival time (Int.min, year 2 billion) neither crashes outboxd nor is queued",
        arguments: [Int.min, 67_768_036_191_676_799, Int(Glibc.time(nil)) + 10 * 86400])
    func forgedTime(_ forged: Int) throws {
        let (instance, server) = try capturing()
        _ = try instance.sendmail(["-q"])
        _ = try forgedDropFile(instance, time: forged, content: [Record(.content, "Subject: t\r\n\r\nb\r\n")])
        let d = try instance.outboxdOnce()
        #expect(d.code == 0, "outboxd survived: \(d.stderr)")
        #expect(d.stderr.contains("rejected") && d.stderr.contains("arrival time"), "\(d.stderr)")
        #expect(server.await(messages: 1), "the sender got a notice")
        let again = try instance.outboxdOnce()
        #expect(instance.deferred().isEmpty && again.code == 0, "nothing left that crashes the next start")
    }

    @Test("content in one-octet records is stored in full records, and a header line over 998 octets without a blank line still leaves limited")
    func tinyRecords() throws {
        let (instance, server) = try capturing()
        _ = try instance.sendmail(["-q"])
        let header = "X-Long: " + String(repeating: "h", count: 3000) + "\r\nSubject: tiny\r\n"  // no blank line, no body
        _ = try forgedDropFile(instance, content: Array(header.utf8).map { Record(.content, [$0]) })
        let d = try instance.outboxdOnce()
        #expect(server.await(messages: 1), "\(d.stderr)")
        #expect(Self.longestLine(server.contents.first ?? []) <= 998)
        // The queued copy, kept by a smarthost that is down: a few full records.
        let held = try unreachable()
        _ = try held.sendmail(["-q"])
        let id = try forgedDropFile(held, content: Array(header.utf8).map { Record(.content, [$0]) })
        _ = try held.outboxdOnce()
        var records = 0
        _ = try DropFile.read(path: held.layout.queueMessages + "/" + id) { _ in records += 1 }
        #expect(records >= 1 && records <= 2, "re-chunked: \(records) content records")
    }

    @Test("a declared BODY=7BIT is not trusted for 8-bit content")
    func bodyNotTrusted() throws {
        let (instance, server) = try capturing()
        _ = try instance.sendmail(["-q"])
        _ = try forgedDropFile(
            instance, content: [Record(.content, Array("Subject: 8\r\n\r\ncaf\u{e9}\r\n".utf8))],
            parameters: [Record(.parameter, "BODY=7BIT")])
        _ = try instance.outboxdOnce()
        #expect(server.await(messages: 1))
        #expect(server.commandLines.contains { $0.hasPrefix("MAIL FROM:") && $0.contains("BODY=8BITMIME") }, "\(server.commandLines)")
    }

    @Test("a parameter a later outbox writes is kept and shown, never sent; an ORIGIN that reads as extra fields is refused")
    func laterParameters() throws {
        let later = [Record(.parameter, "X-LATER=1"), Record(.parameter, "ORIGIN=login=u cmd=\"a b\"")]
        let held = try unreachable()
        _ = try held.sendmail(["-q"])
        let id = try forgedDropFile(held, content: [Record(.content, "Subject: later\r\n\r\nb\r\n")], parameters: later)
        _ = try held.outboxdOnce()
        let show = try held.outboxctl(["show", id])
        #expect(show.stdout.contains("parameters: X-LATER=1") && show.stdout.contains("origin: login=u cmd=\"a b\""), "\(show.stdout)")
        let (instance, server) = try capturing()
        _ = try instance.sendmail(["-q"])
        _ = try forgedDropFile(instance, content: [Record(.content, "Subject: later\r\n\r\nb\r\n")], parameters: later)
        let d = try instance.outboxdOnce()
        #expect(server.await(messages: 1), "\(d.stderr)")
        #expect(d.stderr.contains("uid=\(getuid()) from=<u@example.org> login=u cmd=\"a b\""), "\(d.stderr)")
        #expect(!server.commandLines.joined().contains("LATER"), "\(server.commandLines)")
        _ = try forgedDropFile(
            instance, content: [Record(.content, "Subject: forged\r\n\r\nb\r\n")],
            parameters: [Record(.parameter, "ORIGIN=login=u\" job=cron")])
        let forged = try instance.outboxdOnce()
        let pickup = forged.stderr.split(separator: "\n").filter { $0.contains(" uid=") }
        #expect(forged.stderr.contains("rejected") && !pickup.contains { $0.contains("job=cron") }, "\(forged.stderr)")
        #expect(server.await(messages: 2), "the sender got a notice")
    }

    @Test("a smarthost's reply reaches the log as one printable line: no ESC, C1 or bidi control from the remote side")
    func replyTextInLog() throws {
        let server = try CaptureServer(
            rcptReply: "550 5.1.1 <\u{1b}[2J\u{1b}]0;owned\u{07}x@remote.test>: \u{9b}31m unknown \u{202e}txt.exe\t\u{7f}caf\u{e9}")
        let instance = try Instance(extraConfig: server.config)
        #expect(try instance.sendmail(["-i", "x@remote.test"], "Subject: r\n\nb\n").code == 0)
        let d = try instance.outboxdOnce()
        let line = d.stderr.split(separator: "\n").first { $0.contains("status=bounced") }.map(String.init) ?? ""
        #expect(line.contains("550 5.1.1 <?[2J?]0;owned?x@remote.test>: ?31m unknown ?txt.exe??caf\u{e9}"), "\(d.stderr)")
        #expect(!d.stderr.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x9B || $0.value == 0x202E || $0.value == 7 }, "\(d.stderr)")
    }

    @Test("two refused files whose names differ only in characters the corrupt name drops both stay in queue/corrupt")
    func corruptNeverReplaced() throws {
        let instance = try unreachable()
        _ = try instance.sendmail(["-q"])
        for suffix in ["!", "?"] {
            let path = instance.layout.maildropNew + "/M1AAAAAAAAAAAA" + suffix
            try Data("garbage \(suffix)".utf8).write(to: URL(fileURLWithPath: path))
        }
        _ = try instance.outboxdOnce()
        #expect(corrupt(instance).count == 2, "\(corrupt(instance))")
    }

    @Test("more than a batch of drop files that cannot be adopted (storage fault): outboxd --once still ends")
    func failingBacklogEnds() throws {
        let instance = try unreachable()
        for i in 0..<130 { _ = try instance.sendmail(["-i", "a@remote.test"], "Subject: \(i)\n\nb\n") }
        let started = Date()
        let d = try instance.outboxdOnce(environment: ["OUTBOX_FAULT": "outboxd:fsync=EIO@*"])
        #expect(Date().timeIntervalSince(started) < 60, "ended")
        #expect(d.stderr.contains("cannot adopt") && instance.queued().count == 130, "every file left in place")
    }
}
