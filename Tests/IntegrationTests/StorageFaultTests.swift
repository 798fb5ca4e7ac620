import Foundation
import Testing

/// Storage that fails: injected errors on the calls that make mail durable (debug builds'
/// OUTBOX_FAULT hook, see FaultInjection), a full tmpfs, and a read-only spool. The rule
/// everywhere: the right exit code and one line, nothing partial, nothing accepted lost.
@Suite("storage faults: injected EIO/ENOSPC on write, fsync and rename")
struct StorageFaultTests {
    static let submissionFaults: [(String, Int32, String)] = [
        ("outboxdrop:write=ENOSPC@*", 75, "write "),
        ("outboxdrop:fsync=EIO@1", 74, "fsync "),  // the file
        ("outboxdrop:fsync=EIO@2", 74, "maildrop/new: "),  // the directory, after the rename
        ("outboxdrop:rename=ENOSPC@1", 75, "rename "),
        ("outboxdrop:rename=EROFS@1", 73, "rename "),
    ]

    @Test(
        "a failing write, fsync or rename in the drop helper: sysexits code, one line, nothing queued or left in tmp/",
        arguments: submissionFaults)
    func submission(_ fault: String, _ code: Int32, _ what: String) throws {
        let instance = try Instance()
        for args in [["-i", "a@x.test"], ["-t", "-i"]] {
            let r = try instance.sendmail(args, stdin: Array("To: b@x.test\nSubject: fault\n\nbody\n".utf8), environment: ["OUTBOX_FAULT": fault])
            #expect(r.code == code, "\(fault): \(r.stderr)")
            #expect(r.stderr.hasPrefix("sendmail: ") && r.stderr.contains(what) && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(instance.queued().isEmpty && instance.unfinished().isEmpty, "\(fault) left \(instance.queued()) \(instance.unfinished())")
        }
        // -bs: the client hears a 4xx/5xx for the message, and the next one still goes.
        let dialogue = "HELO c\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\nSubject: bs\r\n\r\nbody\r\n.\r\nQUIT\r\n"
        let bs = try instance.sendmail(["-bs"], stdin: Array(dialogue.utf8), environment: ["OUTBOX_FAULT": fault])
        let replies = bs.stdout.split(separator: "\r\n")
        #expect(replies.count >= 6 && (replies[5].hasPrefix("4") || replies[5].hasPrefix("5")), "\(bs.stdout)")
        #expect(bs.stderr.isEmpty && instance.queued().isEmpty && instance.unfinished().isEmpty)
        #expect(try instance.sendmail(["-i", "a@x.test"], "Subject: after\n\nok\n").code == 0)
        #expect(instance.queued().count == 1)
    }

    @Test("a caller that ignores SIGCHLD (inherited across exec) still hears the helper's failure: 75, nothing queued")
    func ignoredChildSignal() throws {
        // With SIGCHLD ignored, waitpid finds no child (ECHILD): sendmail took that for the
        // helper's success and exited 0 with nothing queued (review, helper-15).
        let instance = try Instance()
        let fault = ["OUTBOX_FAULT": "outboxdrop:write=ENOSPC@*", "OUTBOX_CONFIG": instance.configPath]
        let r = try run(
            "/usr/bin/env", ["--ignore-signal=CHLD", Binaries.sendmail, "-i", "a@x.test"], stdin: Array("Subject: x\n\nbody\n".utf8),
            environment: fault)
        #expect(r.code == 75, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("sendmail: ") && r.stderr.contains("write "), "\(r.stderr)")
        let dialogue = "HELO c\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\nSubject: bs\r\n\r\nbody\r\n.\r\nQUIT\r\n"
        let bs = try run("/usr/bin/env", ["--ignore-signal=CHLD", Binaries.sendmail, "-bs"], stdin: Array(dialogue.utf8), environment: fault)
        let replies = bs.stdout.split(separator: "\r\n")
        #expect(replies.count >= 6 && replies[5].hasPrefix("4"), "\(bs.stdout)")
        #expect(instance.queued().isEmpty && instance.unfinished().isEmpty)
        // Control: without the fault the same caller queues.
        let ok = try run(
            "/usr/bin/env", ["--ignore-signal=CHLD", Binaries.sendmail, "-i", "a@x.test"], stdin: Array("Subject: x\n\nbody\n".utf8),
            environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(ok.code == 0 && instance.queued().count == 1, "\(ok.stderr)")
    }

    /// An instance whose smarthost refuses at once: every attempt defers and saves state.
    func unreachable() throws -> Instance {
        try Instance(extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\n")
    }

    @Test("outboxd: adoption failing on rename leaves the drop file in maildrop/new for the next scan")
    func adoption() throws {
        let instance = try unreachable()
        _ = try instance.sendmail(["-i", "a@x.test"], "Subject: a\n\nb\n")
        let id = try #require(instance.queued().first)
        let r = try instance.outboxdOnce(environment: ["OUTBOX_FAULT": "outboxd:rename=EIO@*"])
        #expect(r.code == 0 && r.stderr.contains("maildrop/new/\(id): cannot adopt: rename "), "\(r.stderr)")
        #expect(instance.queued() == [id] && instance.deferred().isEmpty)
        let again = try instance.outboxdOnce()
        #expect(again.stderr.contains("\(id): to=<a@x.test>"), "\(again.stderr)")
        #expect(instance.deferred() == [id])
    }

    @Test("outboxd: a drop file that cannot be removed after adoption is reported, not adopted twice, and removed at a later scan")
    func unremovedDropFile() throws {
        let instance = try unreachable()
        _ = try instance.sendmail(["-i", "a@x.test"], "Subject: u\n\nb\n")
        let id = try #require(instance.queued().first)
        // Every removal fails: the original stays, and the later scans of this run skip it.
        var r = try instance.outboxdOnce(environment: ["OUTBOX_FAULT": "outboxd:unlink=EIO@*"])
        #expect(r.stderr.contains("maildrop/new/\(id): adopted as \(id) but not removed: unlink "), "\(r.stderr)")
        #expect(instance.queued() == [id] && instance.deferred() == [id], "one copy queued; the original stays")
        _ = try FileManager.default.removeItem(atPath: instance.layout.maildropNew + "/" + id)
        // Only the first removal fails: the next scan of the same run removes it.
        _ = try instance.sendmail(["-i", "a@x.test"], "Subject: v\n\nb\n")
        let second = try #require(instance.queued().first)
        r = try instance.outboxdOnce(environment: ["OUTBOX_FAULT": "outboxd:unlink=EIO@1"])
        #expect(r.stderr.contains("maildrop/new/\(second): adopted as \(second) but not removed"), "\(r.stderr)")
        #expect(instance.queued().isEmpty && instance.deferred() == [id, second].sorted(), "no duplicate: \(instance.deferred())")
    }

    @Test(
        "outboxd: a state update failing with ENOSPC or EIO keeps the message queued and says so",
        // fsync@2 is the directory's, after the rename (it used to be ignored).
        arguments: ["outboxd:fsync=ENOSPC@*", "outboxd:fsync=EIO@2", "outboxd:rename=EIO@1", "outboxd:write=ENOSPC@*"])
    func stateUpdate(_ fault: String) throws {
        let instance = try unreachable()
        _ = try instance.sendmail(["-i", "a@x.test"], "Subject: s\n\nb\n")
        let id = try #require(instance.queued().first)
        // Adopted and tried first (adoption writes a copy, which these faults would stop);
        // then a flush request makes it due for the attempt whose state update fails.
        _ = try instance.outboxdOnce()
        #expect(instance.deferred() == [id])
        _ = try instance.sendmail(["-q"])
        let r = try instance.outboxdOnce(environment: ["OUTBOX_FAULT": fault])
        #expect(r.stderr.contains("\(id): cannot save delivery state: "), "\(fault): \(r.stderr)")
        #expect(instance.deferred() == [id], "the message stays in the queue")
        let next = try instance.outboxdOnce()
        #expect(next.stderr.contains("daemon started: 1 queued") && !next.stderr.contains("cannot save"), "\(next.stderr)")
        #expect(FileManager.default.fileExists(atPath: instance.layout.queueStates + "/" + id))
    }
}

@Suite("a full or read-only spool filesystem", .serialized, .enabled(if: getuid() == 0, "needs root to mount a tmpfs"))
struct SpoolFilesystemTests {
    /// Mounts a tmpfs of `size` at the instance's spool root; returns the unmount action.
    func mountSpool(_ instance: Instance, size: String) throws -> () -> Void {
        try FileManager.default.createDirectory(atPath: instance.layout.root, withIntermediateDirectories: true)
        let mount = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "outbox-test", instance.layout.root])
        try #require(mount.code == 0, "mount: \(mount.stderr)")
        return { _ = try? run("/bin/umount", ["-l", instance.layout.root]) }
    }

    @Test("a spool that fills up: adoption waits in maildrop, state updates fail, nothing is lost, it resumes when space returns")
    func fullDuringStateUpdate() throws {
        let instance = try Instance(
            extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 1s\n")
        let unmount = try mountSpool(instance, size: "512k")
        defer { unmount() }
        _ = try instance.sendmail(["-i", "a@x.test"], "Subject: full\n\nb\n")
        let id = try #require(instance.queued().first)
        // Fill what is left, as a log file running wild would.
        let filler = instance.layout.root + "/filler"
        func fill() throws { _ = try run("/bin/sh", ["-c", "cat /dev/zero > '\(filler)'"]) }
        try fill()
        // Adoption copies the drop file, which needs space: it stays where it is.
        var r = try instance.outboxdOnce()
        #expect(r.stderr.contains("maildrop/new/\(id): cannot adopt: ") && r.stderr.contains("No space left on device"), "\(r.stderr)")
        #expect(instance.queued() == [id] && instance.deferred().isEmpty)
        try FileManager.default.removeItem(atPath: filler)
        r = try instance.outboxdOnce()
        #expect(instance.queued().isEmpty && instance.deferred() == [id], "\(r.stderr)")
        try fill()
        usleep(1_500_000)  // due again
        r = try instance.outboxdOnce()
        #expect(r.stderr.contains("\(id): cannot save delivery state: ") && r.stderr.contains("No space left on device"), "\(r.stderr)")
        #expect(instance.deferred() == [id])
        try fill()  // what the failed update freed
        #expect(try instance.sendmail(["-i", "a@x.test"], "Subject: more\n\nb\n").code == 75, "a full spool refuses new mail with 75")
        try FileManager.default.removeItem(atPath: filler)
        usleep(1_500_000)
        r = try instance.outboxdOnce()
        #expect(!r.stderr.contains("cannot save"), "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: instance.layout.queueStates + "/" + id))
        #expect(try instance.outboxctl(["show", id]).stdout.contains("attempts: 2"))
    }

    @Test("a read-only spool: sendmail exits 73 with one line, outboxd refuses to start with one line, queued mail stays")
    func readOnly() throws {
        let instance = try Instance(extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\n")
        let unmount = try mountSpool(instance, size: "1m")
        defer { unmount() }
        _ = try instance.sendmail(["-i", "a@x.test"], "Subject: ro\n\nb\n")
        _ = try instance.outboxdOnce()  // adopts it and creates the queue
        let id = try #require(instance.deferred().first)
        let remount = try run("/bin/mount", ["-o", "remount,ro", instance.layout.root])
        try #require(remount.code == 0, "\(remount.stderr)")
        let s = try instance.sendmail(["-i", "a@x.test"], "Subject: ro2\n\nb\n")
        #expect(s.code == 73 && s.stderr.contains("Read-only file system") && s.stderr.split(separator: "\n").count == 1, "\(s.stderr)")
        let d = try instance.outboxdOnce()
        #expect(d.code == 73 && d.stderr.contains("Read-only file system"), "\(d.stderr)")
        #expect(instance.deferred() == [id] && instance.queued().isEmpty)
        #expect(try instance.sendmail(["-bp"]).stdout.contains(id), "mailq still lists it")
    }
}

extension DeliveryTests {
    @Test("a bounce that cannot be written keeps the failed recipient for another try; the DSN goes out then")
    func bounceNotWritten() throws {
        let smarthost = Smarthost.shared
        try smarthost.setAccess("recipient", ["nosuch@remote.test 550 5.1.1 no such user here"])
        defer { try? smarthost.setAccess("recipient", []) }
        let instance = try Instance.relaying()
        let t = token("bouncefault")
        _ = try instance.sendmail(["-i", "-f", "author@client.test", "nosuch@remote.test"], "Subject: \(t)\n\nbody \(t)\n")
        // Renames: 1 adoption, 2 the bounce's queue file (fails), 3 the state.
        var r = try instance.outboxdOnce(environment: ["OUTBOX_FAULT": "outboxd:rename=ENOSPC@2"])
        #expect(r.stderr.contains("cannot queue the non-delivery notification") && r.stderr.contains("keeping the message"), "\(r.stderr)")
        #expect(instance.deferred().count == 1, "the failed message stays until its bounce is on disk")
        #expect(smarthost.await(t, count: 1, seconds: 2).isEmpty)
        _ = try instance.sendmail(["-q"])
        r = try instance.outboxdOnce()
        #expect(r.stderr.contains("sender non-delivery notification"), "\(r.stderr)")
        let dsn = smarthost.await(t, count: 1)
        #expect(dsn.count == 1 && dsn.first?.recipient == "author@client.test")
        #expect(instance.deferred().isEmpty)
    }
}
