import Foundation
import OutboxSpool
import Testing

/// Starts sendmail with a pipe on stdin that the test keeps open.
final class RunningSendmail {
    let process = Process()
    let input = Pipe()

    init(_ instance: Instance, _ arguments: [String]) throws {
        // Writing to a sendmail that has already failed must not kill the test runner.
        signal(SIGPIPE, SIG_IGN)
        process.executableURL = URL(fileURLWithPath: Binaries.sendmail)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["OUTBOX_CONFIG"] = instance.configPath
        process.environment = env
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Writes to sendmail's stdin, ignoring EPIPE once it has exited.
    func write(_ bytes: [UInt8]) {
        try? input.fileHandleForWriting.write(contentsOf: Data(bytes))
    }

    /// The drop helper's pid (sendmail's only child).
    func helperPID() -> pid_t? {
        let path = "/proc/\(process.processIdentifier)/task/\(process.processIdentifier)/children"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { pid_t($0) }
    }
}

/// Polls `condition` for up to five seconds.
func eventually(_ condition: () -> Bool) -> Bool {
    for _ in 0..<500 {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

@Suite("an interrupted submission leaves nothing queued and nothing partial")
struct InterruptionTests {
    @Test("SIGKILL of sendmail mid-input")
    func killSendmail() throws {
        let instance = try Instance()
        let s = try RunningSendmail(instance, ["-i", "a@x.test"])
        s.write(Array("Subject: killed\n\n".utf8) + Array(repeating: UInt8(ascii: "x"), count: 200_000))
        #expect(eventually { !instance.unfinished().isEmpty }, "the helper should have started its file")
        kill(s.process.processIdentifier, SIGKILL)
        s.process.waitUntilExit()
        // The helper sees its input end without the end record and removes its file.
        #expect(eventually { instance.unfinished().isEmpty })
        #expect(instance.queued().isEmpty)
    }

    @Test("SIGKILL of the drop helper mid-input fails the submission and queues nothing")
    func killHelper() throws {
        let instance = try Instance()
        let s = try RunningSendmail(instance, ["-i", "a@x.test"])
        s.write(Array("Subject: killed\n\nbody\n".utf8))
        #expect(eventually { !instance.unfinished().isEmpty })
        let helper = try #require(s.helperPID())
        kill(helper, SIGKILL)
        s.write(Array(repeating: UInt8(ascii: "y"), count: 300_000))
        try? s.input.fileHandleForWriting.close()
        s.process.waitUntilExit()
        #expect(s.process.terminationStatus == 75)
        #expect(instance.queued().isEmpty)
        // SIGKILL cannot be caught: the file stays in tmp/, invisible, until it is stale.
        let leftovers = instance.unfinished()
        #expect(leftovers.count == 1)
        var old = [timeval(tv_sec: time(nil) - 37 * 3600, tv_usec: 0), timeval(tv_sec: time(nil) - 37 * 3600, tv_usec: 0)]
        utimes(instance.layout.maildropTmp + "/" + leftovers[0], &old)
        #expect(try instance.layout.removeStaleTemporaryFiles() == leftovers)
        #expect(instance.unfinished().isEmpty)
    }

    @Test("SIGTERM of the drop helper removes its unfinished file")
    func termHelper() throws {
        let instance = try Instance()
        let s = try RunningSendmail(instance, ["-i", "a@x.test"])
        s.write(Array("Subject: t\n\nbody\n".utf8))
        #expect(eventually { !instance.unfinished().isEmpty })
        let helper = try #require(s.helperPID())
        kill(helper, SIGTERM)
        #expect(eventually { instance.unfinished().isEmpty })
        try? s.input.fileHandleForWriting.close()
        s.process.waitUntilExit()
        #expect(s.process.terminationStatus != 0)
        #expect(instance.queued().isEmpty)
    }

    @Test("a fresh stale-file sweep keeps recent unfinished files")
    func recentFilesKept() throws {
        let instance = try Instance()
        _ = try instance.sendmail(["a@x.test"], "Subject: x\n\nb\n")  // creates the spool
        let path = instance.layout.maildropTmp + "/INPROGRESS"
        FileManager.default.createFile(atPath: path, contents: Data("x".utf8))
        #expect(try instance.layout.removeStaleTemporaryFiles().isEmpty)
        #expect(FileManager.default.fileExists(atPath: path))
    }
}

@Suite("a full spool filesystem", .serialized, .enabled(if: getuid() == 0, "needs root to mount a tmpfs"))
struct FullFilesystemTests {
    @Test("gives exit 75 with one line and leaves nothing partial; small mail still fits")
    func enospc() throws {
        let instance = try Instance()
        try FileManager.default.createDirectory(atPath: instance.layout.root, withIntermediateDirectories: true)
        let mount = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "outbox-test", instance.layout.root])
        try #require(mount.code == 0, "mount: \(mount.stderr)")
        defer { _ = try? run("/bin/umount", [instance.layout.root]) }
        let small = try instance.sendmail(["a@x.test"], "Subject: small\n\nfits\n")
        #expect(small.code == 0)
        let big = try instance.sendmail(
            ["-i", "a@x.test"], stdin: Array("Subject: big\n\n".utf8) + Array(repeating: UInt8(ascii: "z"), count: 1_000_000))
        #expect(big.code == 75)
        #expect(big.stderr.contains("No space left on device"), "stderr: \(big.stderr)")
        #expect(big.stderr.split(separator: "\n").count == 1)
        #expect(instance.queued().count == 1)
        #expect(instance.unfinished().isEmpty)
    }
}

@Suite("outboxd shutdown")
struct DaemonShutdownTests {
    /// Open pipe descriptors of process `pid`.
    static func pipes(of pid: Int32) -> Int {
        let dir = "/proc/\(pid)/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { ((try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + $0)) ?? "").hasPrefix("pipe:") }.count
    }

    @Test("the signal pipe stays open while in-flight messages finish after SIGTERM (its number was reused by a state file)")
    func signalPipeOutlivesServe() throws {
        // A smarthost that accepts the connection and never greets: the delivery stays in
        // flight for command_timeout.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        try #require(bound == 0 && listen(listener, 4) == 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let instance = try Instance(extraConfig: "smarthost = smtp://127.0.0.1:\(port)\ntls_security_level = none\ncommand_timeout = 4s\n")
        _ = try instance.sendmail(["-i", "a@x.test"], "Subject: in flight\n\nb\n")
        let (daemon, _) = try instance.startDaemon()
        defer {
            if daemon.isRunning {
                kill(daemon.processIdentifier, SIGKILL)
                daemon.waitUntilExit()
            }
        }
        usleep(1_000_000)  // adopted, connected, waiting for the greeting
        let before = Self.pipes(of: daemon.processIdentifier)
        kill(daemon.processIdentifier, SIGTERM)
        usleep(500_000)
        #expect(daemon.isRunning, "the delivery in flight keeps outboxd running until its timeout")
        #expect(
            before >= 4 && Self.pipes(of: daemon.processIdentifier) == before,
            "pipes before SIGTERM \(before), after \(Self.pipes(of: daemon.processIdentifier))")
        daemon.waitUntilExit()
    }
}
