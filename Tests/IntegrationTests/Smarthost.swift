import Foundation
import Testing

/// The private Postfix smarthost (Tests/Scripts/smarthost.sh), started once per test
/// process on ports derived from the pid and stopped at exit.
final class Smarthost: Sendable {
    let directory: String
    let port: Int
    var caFile: String { directory + "/ca.pem" }
    var mailDirectory: String { directory + "/mail" }

    static let available =
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/postfix")
        && FileManager.default.isExecutableFile(atPath: "/usr/sbin/saslpasswd2")

    nonisolated(unsafe) static var stopCommand: String?
    nonisolated(unsafe) static var secondStopCommand: String?

    static let shared: Smarthost = {
        let port = 21000 + Int(getpid() % 390) * 20
        let dir = "/tmp/outbox-smarthost-\(getpid())"
        stopCommand = start(dir, port)
        atexit { if let c = Smarthost.stopCommand { _ = system(c) } }
        return Smarthost(directory: dir, port: port)
    }()

    /// A second, separate Postfix (its own queue, log and mail), for routes. Its ports stay
    /// below the kernel's ephemeral range (32768-60999), where any outgoing connection of
    /// the machine may hold one: 29000 + … reached 36780 and once failed to bind 36682.
    static let second: Smarthost = {
        let port = 13000 + Int(getpid() % 390) * 20
        let dir = "/tmp/outbox-smarthost2-\(getpid())"
        secondStopCommand = start(dir, port)
        atexit { if let c = Smarthost.secondStopCommand { _ = system(c) } }
        return Smarthost(directory: dir, port: port)
    }()

    /// The second SASL account's password (smarthost.sh): a space, quotes, a backslash,
    /// a colon, '%', '#', '=', '&', '$' and non-ASCII.
    static let awkwardPassword = "p@ss w\u{f6}rd:\"%;#=&\\$x"

    /// Starts a smarthost; returns the command that stops it.
    private static func start(_ dir: String, _ port: Int) -> String {
        let r = try! run("/bin/bash", [Repository.root + "/Tests/Scripts/smarthost.sh", "start", dir, String(port)])
        precondition(r.code == 0, "smarthost failed to start: \(r.stdout) \(r.stderr)")
        return "/bin/bash '\(Repository.root)/Tests/Scripts/smarthost.sh' stop '\(dir)' >/dev/null 2>&1; rm -rf '\(dir)'"
    }

    private init(directory: String, port: Int) {
        self.directory = directory
        self.port = port
    }

    /// One captured delivery.
    struct Delivery {
        var sender: String
        var recipient: String
        var content: String
    }

    /// Every delivery whose content contains `token`.
    func deliveries(containing token: String) -> [Delivery] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: mailDirectory)) ?? []
        var out: [Delivery] = []
        for name in names where name.hasSuffix(".eml") {
            let base = mailDirectory + "/" + name.dropLast(4)
            guard let content = try? String(contentsOfFile: base + ".eml", encoding: .utf8), content.contains(token),
                let env = try? String(contentsOfFile: base + ".env", encoding: .utf8)
            else { continue }
            let lines = env.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            out.append(Delivery(sender: lines[0], recipient: lines.count > 1 ? lines[1] : "", content: content))
        }
        return out
    }

    /// Waits up to `seconds` for at least `count` deliveries containing `token`.
    func await(_ token: String, count: Int, seconds: Double = 15) -> [Delivery] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let found = deliveries(containing: token)
            if found.count >= count { return found }
            usleep(100_000)
        }
        return deliveries(containing: token)
    }

    /// Replaces an access map and makes Postfix re-read it.
    func setAccess(_ map: String, _ lines: [String]) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: directory + "/etc/\(map)_access", atomically: true, encoding: .utf8)
        _ = try run("/bin/bash", [Repository.root + "/Tests/Scripts/smarthost.sh", "reload", directory])
        usleep(1_500_000)
    }

    /// Postfix's own log, for checking what the client did.
    var log: String { (try? String(contentsOfFile: directory + "/maillog", encoding: .utf8)) ?? "" }
}

extension Instance {
    /// An instance relaying to the shared smarthost on `port` with `scheme`.
    static func relaying(
        port offset: Int = 0, scheme: String = "smtp", mechanism: String? = nil, password: String = "secret",
        extra: String = ""
    ) throws -> Instance {
        let smarthost = Smarthost.shared
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-pw-\(UUID().uuidString)").path
        try password.write(toFile: dir, atomically: true, encoding: .utf8)
        chmod(dir, 0o600)
        var config = """
            smarthost = \(scheme)://127.0.0.1:\(smarthost.port + offset)
            tls_ca_file = \(smarthost.caFile)
            auth_username = user@smarthost.test
            auth_password_file = \(dir)
            connect_timeout = 5s
            command_timeout = 15s
            minimal_backoff_time = 1s
            maximal_backoff_time = 2s

            """
        if let mechanism { config += "auth_mechanisms = \(mechanism)\n" }
        return try Instance(extraConfig: config + extra)
    }

    /// Starts a running outboxd (foreground, log on the returned pipe).
    func startDaemon(environment: [String: String] = [:]) throws -> (Process, Pipe) {
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: Binaries.directory + "/outboxd")
        daemon.arguments = ["--no-syslog"]
        daemon.environment = ProcessInfo.processInfo.environment.merging(environment.merging(["OUTBOX_CONFIG": configPath]) { $1 }) { $1 }
        let errors = Pipe()
        daemon.standardError = errors
        try daemon.run()
        return (daemon, errors)
    }

    /// Stops a daemon from `startDaemon` with SIGTERM and returns its log.
    func stopDaemon(_ daemon: Process, _ errors: Pipe) -> String {
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        return String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    /// Runs `outboxd --once`, returning its log (stderr).
    func outboxdOnce(environment: [String: String] = [:]) throws -> RunResult {
        try run(Binaries.directory + "/outboxd", ["--once", "--no-syslog"], environment: environment.merging(["OUTBOX_CONFIG": configPath]) { $1 })
    }

    /// Queue IDs still in outboxd's queue.
    func deferred() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: layout.root + "/queue/msg").sorted()) ?? []
    }
}

/// A unique word to find a test's messages among everything the smarthost received.
func token(_ name: String) -> String { "token-\(name)-\(UUID().uuidString.prefix(8))" }
