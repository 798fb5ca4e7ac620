import Foundation
import Testing

extension DaemonModeTests {
    @Test("the password never shows in logs, argv or environment, and the password command gets no other descriptor")
    func passwordNeverShown() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-secret-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The command records what it was given, then prints the password ("secret", the
        // only one the test smarthost knows; no other text in these tests contains it).
        let script = """
            env > \(dir)/env; echo "$0 $*" > \(dir)/argv; ls /proc/self/fd > \(dir)/fds; ls -l /proc/self/fd > \(dir)/fds-long
            printf 'secret\\n'
            """
        try script.write(toFile: dir + "/pw.sh", atomically: true, encoding: .utf8)
        let instance = try Instance.relaying(extra: "auth_password_command = /bin/sh \(dir)/pw.sh\nauth_mechanisms = PLAIN\n")
        var config = try String(contentsOfFile: instance.configPath, encoding: .utf8)
        config = config.split(separator: "\n").filter { !$0.hasPrefix("auth_password_file") }.joined(separator: "\n") + "\n"
        try config.write(toFile: instance.configPath, atomically: true, encoding: .utf8)

        let (daemon, errors) = try startDaemon(instance)
        defer {
            if daemon.isRunning {
                kill(daemon.processIdentifier, SIGTERM)
                daemon.waitUntilExit()
            }
        }
        let t = token("secret")
        _ = try instance.sendmail(["-i", "rcpt@remote.test"], "Subject: \(t)\n\nb\n")
        #expect(Smarthost.shared.await(t, count: 1, seconds: 10).count == 1, "AUTH PLAIN with the command's password works")
        let pid = daemon.processIdentifier
        let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
        #expect(!cmdline.isEmpty && !environ.isEmpty, "could read the daemon's argv and environment")
        #expect(cmdline.range(of: Data("secret".utf8)) == nil && environ.range(of: Data("secret".utf8)) == nil)
        let ps = try run("/bin/ps", ["-eo", "args"])
        let ours = ps.stdout.split(separator: "\n").filter { $0.contains("outbox") }
        #expect(!ours.isEmpty && !ours.contains { $0.contains("secret") }, "ps shows no password")
        kill(pid, SIGTERM)
        daemon.waitUntilExit()
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("AUTH PLAIN") && !log.contains("secret") && !log.contains("c2VjcmV0"), "no password, plain or base64, in the log")
        let childEnv = try String(contentsOfFile: dir + "/env", encoding: .utf8)
        #expect(!childEnv.contains("secret"))
        let fds = try String(contentsOfFile: dir + "/fds", encoding: .utf8).split(separator: "\n").compactMap { Int($0) }.filter { $0 > 2 }
        // ls itself opens one descriptor for the listing.
        #expect(
            fds.count <= 1, "descriptors leaked to the password command: \((try? String(contentsOfFile: dir + "/fds-long", encoding: .utf8)) ?? "")")
        let check = try instance.outboxctl(["check"])
        #expect(check.code == 0 && !check.stdout.contains("secret") && !check.stderr.contains("secret"), "\(check.stdout)")
    }
}
