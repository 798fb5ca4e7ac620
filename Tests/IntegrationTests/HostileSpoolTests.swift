import Foundation
import OutboxDrop
import OutboxSpool
import Testing

extension DaemonModeTests {
    /// A drop file in the record format with the given records (no helper involved).
    static func dropFile(_ records: [Record]) -> Data { Data(RecordEncoder.encode(records)) }

    @Test(
        "a running outboxd rejects oversized, unknown-record, forged-owner and absurd-length files, follows no link, and keeps delivering",
        .enabled(if: getuid() == 0, "needs root to chown a file to another user"))
    func hostileWhileRunning() throws {
        let instance = try Instance.relaying()
        _ = try instance.sendmail(["-q"])  // creates the spool
        let (daemon, errors) = try startDaemon(instance)
        defer {
            if daemon.isRunning {
                kill(daemon.processIdentifier, SIGTERM)
                daemon.waitUntilExit()
            }
        }
        usleep(300_000)
        let new = instance.layout.maildropNew
        let t = token("hostile-running")
        func header(_ id: String, uid: Int = Int(getuid())) -> [Record] {
            DropFile.header(queueID: id, uid: uid_t(uid), time: Int(time(nil)))
        }
        // Each file is made outside and renamed in whole, as the daemon watches new/.
        let staging = instance.directory + "/staging"
        func place(_ name: String, _ make: (String) throws -> Void) throws {
            try make(staging)
            rename(staging, new + "/" + name)
        }
        let envelope = [
            Record(.sender, "x@client.test"), Record(.recipient, "rcpt@remote.test"), Record(.content, "Subject: \(t)\r\n\r\nforged\r\n"),
        ]
        // 1. Oversized: a sparse file beyond the 2 GiB limit is refused by its size alone.
        let big = "M1LC11JW1V3NG0"
        try place(big) { path in
            FileManager.default.createFile(atPath: path, contents: nil)
            truncate(path, off_t(1 << 31) + 1)  // QueueStore.maximumFileSize + 1
        }
        // 2. An unknown record type in an otherwise valid file.
        let unknown = QueueID.generate().text
        var bytes = RecordEncoder.encode(header(unknown) + envelope)
        bytes += [UInt8(ascii: "Z"), 0, 0, 0, 1, 0x41] + RecordEncoder.encode([Record(.end)])
        try place(unknown) { try Data(bytes).write(to: URL(fileURLWithPath: $0)) }
        // 3. A length field far beyond any limit (a reader trusting it would allocate 4 GiB).
        let absurd = QueueID.generate().text
        try place(absurd) {
            try Data(RecordEncoder.encode(header(absurd)) + [UInt8(ascii: "S"), 0xFF, 0xFF, 0xFF, 0xFF]).write(to: URL(fileURLWithPath: $0))
        }
        // 4. A valid file owned by another user than the uid it claims (a forged identity).
        let forged = QueueID.generate().text
        let nobody = getpwnam("nobody")!.pointee.pw_uid
        try place(forged) { path in
            try Self.dropFile(header(forged, uid: 0) + envelope + [Record(.end)]).write(to: URL(fileURLWithPath: path))
            chown(path, nobody, gid_t(0))
        }
        // 5. A symlink to a valid drop file elsewhere, and a directory.
        let outside = instance.directory + "/outside"
        let linked = QueueID.generate().text
        try Self.dropFile(header(linked) + envelope + [Record(.end)]).write(to: URL(fileURLWithPath: outside))
        symlink(outside, new + "/" + linked)
        mkdir(new + "/" + QueueID.generate().text, 0o700)
        // Then good mail, which must still go.
        _ = try instance.sendmail(["-i", "rcpt@remote.test"], "Subject: \(t) good\n\nb\n")
        #expect(Smarthost.shared.await("\(t) good", count: 1, seconds: 10).count == 1)
        #expect(eventually { instance.queued().isEmpty }, "every hostile file moved aside: \(instance.queued())")
        #expect(daemon.isRunning, "outboxd keeps running")
        let log = instance.stopDaemon(daemon, errors)
        for (name, reason) in [
            (big, "exceeds"), (unknown, "unknown record type 0x5a"), (absurd, "exceeds"),
            (forged, "file owned by uid \(nobody) claims uid 0"), (linked, "rejected"),
        ] {
            #expect(log.contains("maildrop/new/\(name): rejected") && log.contains(reason), "\(name) \(reason): \(log)")
        }
        #expect(Smarthost.shared.deliveries(containing: "forged").isEmpty, "no hostile file was delivered")
        #expect(FileManager.default.fileExists(atPath: outside), "the symlink's target is untouched")
    }
}
