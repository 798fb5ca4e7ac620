import Foundation
import Testing

@Suite("sendmail -bs speaks SMTP on stdin/stdout and queues each transaction")
struct SMTPDialogueTests {
    func codes(_ stdout: String) -> [String] {
        stdout.components(separatedBy: "\r\n").filter { line in Array(line.utf8).count >= 4 && Array(line.utf8)[3] == UInt8(ascii: " ") }
            .map { String($0.prefix(3)) }
    }

    @Test("pipelined EHLO dialogue with two transactions, a null sender and a refused recipient")
    func twoTransactions() throws {
        let instance = try Instance()
        let script =
            "EHLO client.test\r\nMAIL FROM:<app@x.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<a@@x.test>\r\nRCPT TO:<b@x.test> NOTIFY=FAILURE\r\nDATA\r\n"
            + "Subject: one\r\nBcc: hidden@x.test\r\n\r\n..leading dot\r\nbody\r\n.\r\n"
            + "MAIL FROM:<>\r\nRCPT TO:<root>\r\nDATA\r\nSubject: two\r\n\r\nbody\r\n.\r\nQUIT\r\n"
        let r = try instance.sendmail(["-bs"], script)
        #expect(r.code == 0)
        #expect(r.stderr.isEmpty)
        #expect(codes(r.stdout) == ["220", "250", "250", "250", "501", "250", "354", "250", "250", "250", "354", "250", "221"])
        #expect(r.stdout.contains("250-PIPELINING\r\n") && r.stdout.contains("250-DSN\r\n"))
        let files = try instance.dropFiles().sorted { $0.file.queueID < $1.file.queueID }
        try #require(files.count == 2)
        #expect(r.stdout.contains("queued as \(files[0].file.queueID)"))
        #expect(files[0].file.sender == "app@x.test")
        #expect(files[0].file.recipients.map(\.address) == ["a@x.test", "b@x.test"])
        let first = String(decoding: files[0].message, as: UTF8.self)
        #expect(first.contains("\r\n\r\n.leading dot\r\nbody\r\n"), "dot-stuffing must be removed")
        #expect(!first.contains("Bcc:") && !first.contains("hidden"))
        #expect(first.hasPrefix("Received: from client.test ("))
        #expect(files[1].file.sender == "")
        #expect(files[1].file.recipients.map(\.address) == ["admin@example.net"])
    }

    @Test("HELO works, errors do not end the session, and unknown commands are refused")
    func heloAndErrors() throws {
        let instance = try Instance()
        let script =
            "HELO h\r\nRCPT TO:<a@x.test>\r\nDATA\r\nMAIL FROM:<a@x.test> BOGUS=1\r\nMAIL FROM:<a@x.test>\r\nMAIL FROM:<b@x.test>\r\nDATA\r\nNOOP\r\nVRFY root\r\nRSET\r\nFOO\r\nEXPN x\r\n\r\nQUIT\r\n"
        let r = try instance.sendmail(["-bs"], script)
        #expect(codes(r.stdout) == ["220", "250", "503", "503", "555", "250", "503", "503", "250", "252", "250", "502", "502", "500", "221"])
        #expect(r.stderr.isEmpty)
        #expect(instance.queued().isEmpty)
    }

    @Test("end of input inside DATA queues nothing and writes nothing to stderr")
    func eofInData() throws {
        let instance = try Instance()
        let r = try instance.sendmail(["-bs"], "EHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nSubject: cut\r\n\r\nhalf a mess")
        #expect(r.stderr.isEmpty)
        #expect(codes(r.stdout) == ["220", "250", "250", "250", "354"])
        #expect(instance.queued().isEmpty)
        #expect(instance.unfinished().isEmpty)
    }

    @Test("bare-LF commands work; bare-LF and bare-CR lines in DATA are normalised, and only CRLF . CRLF ends it")
    func bareLF() throws {
        let instance = try Instance()
        let r = try instance.sendmail(
            ["-bs"], "HELO x\nMAIL FROM:<a@x.test>\nRCPT TO:<b@x.test>\nDATA\nSubject: lf\n\nline\rwith CR\n\r\n.\r\nQUIT\n")
        #expect(codes(r.stdout).last == "221")
        let files = try instance.dropFiles()
        try #require(files.count == 1)
        #expect(hasOnlyCRLFLineEndings(files[0].message))
        // The bare LF after "with CR" is data, so the CRLF before the dot adds an empty line.
        #expect(String(decoding: files[0].message, as: UTF8.self).hasSuffix("\r\n\r\nline\r\nwith CR\r\n\r\n"))
    }

    /// Issue 10, finding 9: `\n.\n` ended DATA, and the lines after it were read as a second,
    /// smuggled transaction. Now they are the first message's text.
    @Test("a bare-LF dot line inside DATA does not end it: no smuggled second transaction")
    func noSmuggling() throws {
        let instance = try Instance()
        let r = try instance.sendmail(
            ["-bs"],
            "EHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nSubject: s\r\n\r\nline1\n.\nMAIL FROM:<ceo@x.test>\nRCPT TO:<victim@x.test>\nDATA\nsmuggled\n.\r\n.\r\nQUIT\r\n"
        )
        #expect(codes(r.stdout) == ["220", "250", "250", "250", "354", "250", "221"], "\(r.stdout)")
        let files = try instance.dropFiles()
        try #require(files.count == 1)
        #expect(files[0].file.recipients.map(\.address) == ["b@x.test"])
        let text = String(decoding: files[0].message, as: UTF8.self)
        #expect(text.contains("line1\r\n.\r\nMAIL FROM:<ceo@x.test>\r\n") && text.contains("smuggled\r\n.\r\n"), "\(text)")
        #expect(hasOnlyCRLFLineEndings(files[0].message))
    }
    @Test("client text quoted in a reply cannot carry a CR or other control octet back (found by fuzzing)")
    func repliesStayFramed() throws {
        let instance = try Instance()
        let r = try instance.sendmail(["-bs"], "EHLO x\r\nMAIL FROM:<a@x.test> X=\r250-forged\u{1b}[2J\r\nRCPT TO:<b@x.test> Y=\u{7f}\r\nQUIT\r\n")
        #expect(codes(r.stdout) == ["220", "250", "555", "503", "221"])
        #expect(r.stdout.contains("555 5.5.4 Unsupported option: X=?250-forged?[2J\r\n"), "\(r.stdout)")
        let lines = r.stdout.utf8.split(separator: 10, omittingEmptySubsequences: false).dropLast()
        #expect(lines.allSatisfy { $0.last == 13 && !$0.dropLast().contains(13) && !$0.contains(27) && !$0.contains(127) })
    }

    @Test("a long -bs session holds a fixed number of descriptors (it leaked the helper's pipe per message)")
    func descriptorsPerTransaction() throws {
        let instance = try Instance()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.directory + "/sendmail")
        process.arguments = ["-bs"]
        process.environment = ProcessInfo.processInfo.environment.merging(["OUTBOX_CONFIG": instance.configPath]) { $1 }
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        defer {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
        var replies = ""
        /// Sends `n` transactions and waits for their "queued as" replies.
        func transactions(_ n: Int) {
            let one = "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nSubject: n\r\n\r\nb\r\n.\r\n"
            input.fileHandleForWriting.write(Data(String(repeating: one, count: n).utf8))
            let want = replies.components(separatedBy: "queued as").count - 1 + n
            while replies.components(separatedBy: "queued as").count - 1 < want {
                let data = output.fileHandleForReading.availableData
                if data.isEmpty { break }
                replies += String(decoding: data, as: UTF8.self)
            }
        }
        func descriptors() -> Int {
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd").count) ?? -1
        }
        input.fileHandleForWriting.write(Data("EHLO c.test\r\n".utf8))
        transactions(1)
        let before = descriptors()
        transactions(10)
        #expect(before > 0 && descriptors() == before, "sendmail -bs went from \(before) to \(descriptors()) descriptors")
        input.fileHandleForWriting.write(Data("QUIT\r\n".utf8))
        process.waitUntilExit()
        #expect(instance.queued().count == 11)
    }
}
