import Foundation
import OutboxSpool
import Testing

@Suite("mailq, newaliases, -bv, -q and process edge cases")
struct ModeTests {
    @Test("mailq prints Postfix's layout, and 'Mail queue is empty' when empty")
    func mailq() throws {
        let instance = try Instance()
        let empty = try instance.sendmail([], argv0: "mailq")
        #expect(empty.code == 0)
        #expect(empty.stdout == "Mail queue is empty\n")
        _ = try instance.sendmail(["-f", "s@x.test", "a@x.test", "b@x.test"], "Subject: 1\n\nb\n")
        _ = try instance.sendmail(["-f", "<>", "c@x.test"], "Subject: 2\n\nb\n")
        let r = try instance.sendmail(["-bp"])
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------")
        let ids = try instance.dropFiles().map(\.file).sorted { $0.queueID < $1.queueID }
        #expect(lines[1].hasPrefix(ids[0].queueID + "  "))
        #expect(
            lines[1].range(of: #"^\S+ +\d+ [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d  s@x\.test$"#, options: .regularExpression) != nil,
            "\(lines[1])")
        #expect(lines[2] == String(repeating: " ", count: 41) + "a@x.test")
        #expect(lines[3] == String(repeating: " ", count: 41) + "b@x.test")
        #expect(lines[4] == "")
        #expect(lines[5].hasSuffix("  MAILER-DAEMON"))
        #expect(lines.contains { $0.hasPrefix("-- ") && $0.hasSuffix(" Kbytes in 2 Requests.") }, "\(lines)")
        #expect(try instance.sendmail([], argv0: "mailq").stdout == r.stdout)
    }

    @Test("newaliases and -bi warn with file:line and exit 0")
    func newaliases() throws {
        let instance = try Instance()
        try "root: ops@x.test\nbroken line\nbob: |/usr/bin/foo\n".write(toFile: instance.directory + "/aliases", atomically: true, encoding: .utf8)
        let r = try instance.sendmail([], argv0: "newaliases")
        #expect(r.code == 0)
        #expect(r.stderr.contains("aliases:2: missing ':'"))
        #expect(r.stderr.contains("aliases:3: '|/usr/bin/foo'"))
        #expect(try instance.sendmail(["-bi"]).code == 0)
        #expect(try instance.sendmail(["-I"]).code == 0)
        #expect(instance.queued().isEmpty)
    }

    @Test("-bv shows where each address goes and sends nothing")
    func verify() throws {
        let instance = try Instance()
        let r = try instance.sendmail(["-bv", "team", "x@remote.test"])
        #expect(r.code == 0)
        #expect(r.stdout.contains("team... deliverable: alias team → ops@remote.test, relayed, relay to <ops@remote.test>"))
        #expect(r.stdout.contains("team... deliverable: local name team → helper → root → admin_address admin@example.net"))
        #expect(r.stdout.contains("x@remote.test... deliverable: relayed"))
        #expect(instance.queued().isEmpty)
        #expect(try instance.sendmail(["-bv", "a@@b"]).code == 67)
    }

    @Test("-q leaves a flush request for outboxd and exits 0")
    func flush() throws {
        let instance = try Instance()
        for args in [["-q"], ["-q30m"]] {
            let r = try instance.sendmail(args)
            #expect(r.code == 0 && r.stderr.isEmpty)
        }
        let files = try instance.dropFiles()
        #expect(files.count == 2 && files.allSatisfy { $0.file.isFlushRequest && $0.message.isEmpty })
        #expect(try instance.sendmail(["-bp"]).stdout == "Mail queue is empty\n")

        // -q also sweeps drop files abandoned for more than 36 hours, and only those.
        let stale = instance.layout.maildropTmp + "/STALE", fresh = instance.layout.maildropTmp + "/FRESH"
        FileManager.default.createFile(atPath: stale, contents: Data("x".utf8))
        FileManager.default.createFile(atPath: fresh, contents: Data("x".utf8))
        var old = [timeval(tv_sec: time(nil) - 37 * 3600, tv_usec: 0), timeval(tv_sec: time(nil) - 37 * 3600, tv_usec: 0)]
        utimes(stale, &old)
        #expect(try instance.sendmail(["-q"]).code == 0)
        #expect(instance.unfinished() == ["FRESH"])
    }

    @Test("outboxctl flush leaves the same flush request")
    func outboxctlFlush() throws {
        let instance = try Instance()
        _ = try instance.sendmail(["-q"])  // creates the spool
        let r = try run(Binaries.directory + "/outboxctl", ["flush", "-C", instance.configPath])
        #expect(r.code == 0, "\(r.stderr)")
        let files = try instance.dropFiles()
        #expect(files.count == 2 && files.allSatisfy { $0.file.isFlushRequest })
    }

    @Test("works with stdout and stderr closed, and reads stdin from its current offset")
    func processEdges() throws {
        let instance = try Instance()
        let msg = instance.directory + "/msg"
        try "SKIPPED LINE\nSubject: offset\n\nbody\n".write(toFile: msg, atomically: true, encoding: .utf8)
        let script = "{ read skipped; \"$1\" -i a@x.test; } < \"$2\" >&- 2>&-"
        let r = try run("/bin/sh", ["-c", script, "sh", Binaries.sendmail, msg], environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(r.code == 0)
        let files = try instance.dropFiles()
        try #require(files.count == 1)
        let text = String(decoding: files[0].message, as: UTF8.self)
        #expect(text.contains("Subject: offset\r\n") && !text.contains("SKIPPED"))
    }

    @Test("under a 4 MiB data limit (ulimit -d, as in a limited cron job or service) sendmail still queues")
    func smallDataLimit() throws {
        // The Embedded sendmail's allocator arenas were 8 MiB of bss: exec failed under
        // such a limit (SIGSEGV, exit 139, nothing said, nothing queued; review, helper-16).
        let instance = try Instance()
        let r = try run(
            "/usr/bin/prlimit", ["--data=4194304", "--", Binaries.sendmail, "-i", "a@x.test"], stdin: Array("Subject: limited\n\nbody\n".utf8),
            environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(r.code == 0, "\(r.stderr)")
        #expect(try instance.dropFiles().count == 1)
    }

    @Test("a multi-megabyte message is stored whole")
    func largeMessage() throws {
        let instance = try Instance()
        var body: [UInt8] = Array("Subject: big\n\n".utf8)
        for i in 0..<60_000 { body += Array("line \(i) of a long message body, 8-bit: é\n".utf8) }
        let r = try instance.sendmail(["-i", "a@x.test"], stdin: body)
        #expect(r.code == 0)
        let files = try instance.dropFiles()
        try #require(files.count == 1)
        let stored = String(decoding: files[0].message, as: UTF8.self)
        #expect(stored.hasSuffix("line 59999 of a long message body, 8-bit: é\r\n"))
        #expect(files[0].file.contentSize == files[0].message.count)
        #expect(files[0].file.parameter("BODY") == "8BITMIME")
        #expect(hasOnlyCRLFLineEndings(files[0].message))
    }

    @Test("a bad configuration is exit 78 naming file:line")
    func badConfig() throws {
        let instance = try Instance(extraConfig: "no_such_key = 1\n")
        let r = try instance.sendmail(["a@x.test"], "Subject: x\n\nb\n")
        #expect(r.code == 78)
        #expect(r.stderr.contains("outbox.conf:7: unknown key 'no_such_key'"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        // The drop helper was started before the configuration was read: its file is gone.
        #expect(instance.queued().isEmpty && instance.unfinished().isEmpty, "\(instance.unfinished())")
    }

    @Test("without the drop helper: exit 69 naming it, after a bad configuration's exit 78; nothing queued")
    func missingHelper() throws {
        let instance = try Instance()
        let bin = instance.directory + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Binaries.sendmail, toPath: bin + "/sendmail")
        let r = try run(
            bin + "/sendmail", ["-i", "a@x.test"], stdin: Array("Subject: x\n\nb\n".utf8), environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(r.code == 69, "\(r.stderr)")
        #expect(r.stderr == "sendmail: cannot run drop helper \(bin)/outboxdrop: No such file or directory\n", "\(r.stderr)")
        #expect(instance.queued().isEmpty)
        try "no_such_key = 1\n".write(toFile: instance.configPath, atomically: true, encoding: .utf8)
        let bad = try run(
            bin + "/sendmail", ["-i", "a@x.test"], stdin: Array("Subject: x\n\nb\n".utf8), environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(bad.code == 78 && bad.stderr.contains("unknown key 'no_such_key'"), "\(bad.code) \(bad.stderr)")
    }
}

@Suite("outboxd on a fresh spool")
struct FreshSpoolTests {
    @Test("outboxd --once on an empty spool_directory creates its layout and exits 0")
    func freshSpool() throws {
        let instance = try Instance(extraConfig: "smarthost = smtp://127.0.0.1:1\ntls_security_level = none\n")
        #expect(!FileManager.default.fileExists(atPath: instance.layout.root))
        let r = try run(Binaries.directory + "/outboxd", ["--once", "--no-syslog"], environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(r.code == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: instance.layout.root + "/queue/msg"))
        #expect(FileManager.default.fileExists(atPath: instance.layout.maildropNew))
    }
}
