import Foundation
import OutboxDrop
import OutboxSpool

/// Where the built binaries are: beside the test bundle (swift build puts every product of
/// the package in one directory), or OUTBOX_BIN_DIR.
enum Binaries {
    static let directory: String = {
        if let dir = ProcessInfo.processInfo.environment["OUTBOX_BIN_DIR"] { return dir }
        var url = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("sendmail").path) { return url.path }
            url = url.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath + "/.build/debug"
    }()

    static var sendmail: String { directory + "/sendmail" }
    static var outboxdrop: String { directory + "/outboxdrop" }
}

/// What a finished process did.
struct RunResult {
    var code: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program with `stdin` bytes, capturing its output through files (no pipe
/// deadlocks whatever the sizes).
func run(
    _ executable: String, _ arguments: [String], stdin: [UInt8] = [], environment: [String: String] = [:],
    argv0: String? = nil
) throws -> RunResult {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let input = dir.appendingPathComponent("in"), out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err")
    try Data(stdin).write(to: input)
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    let process = Process()
    if let argv0 {
        // Run through a symlink named argv0, the way mailq and newaliases are installed.
        let link = dir.appendingPathComponent(argv0)
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: executable)
        process.executableURL = link
    } else {
        process.executableURL = URL(fileURLWithPath: executable)
    }
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "OUTBOX_CONFIG")
    for (k, v) in environment { env[k] = v }
    process.environment = env
    process.standardInput = try FileHandle(forReadingFrom: input)
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    try process.run()
    process.waitUntilExit()
    return RunResult(
        code: process.terminationStatus,
        stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
        stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
}

/// A complete unprivileged outbox instance in a temporary directory: config, aliases and
/// an empty spool, as DESIGN says the test suite runs it.
final class Instance {
    let directory: String
    let configPath: String
    let layout: SpoolLayout

    init(extraConfig: String = "") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Readable by other users, so the privilege tests can run programs from here.
        chmod(directory, 0o755)
        let fixtures = Fixtures.directory
        try FileManager.default.copyItem(atPath: fixtures + "/aliases", toPath: directory + "/aliases")
        var config = try String(contentsOfFile: fixtures + "/outbox.conf", encoding: .utf8)
        config += "spool_directory = \(directory)/spool\naliases_file = \(directory)/aliases\n" + extraConfig
        configPath = directory + "/outbox.conf"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        layout = SpoolLayout(root: directory + "/spool")
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Runs sendmail against this instance.
    func sendmail(_ arguments: [String], stdin: [UInt8] = [], environment: [String: String] = [:], argv0: String? = nil) throws -> RunResult {
        var env = environment
        if env["OUTBOX_CONFIG"] == nil { env["OUTBOX_CONFIG"] = configPath }
        return try run(Binaries.sendmail, arguments, stdin: stdin, environment: env, argv0: argv0)
    }

    func sendmail(_ arguments: [String], _ text: String) throws -> RunResult {
        try sendmail(arguments, stdin: Array(text.utf8))
    }

    /// File names in maildrop/new and maildrop/tmp.
    func queued() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: layout.maildropNew).sorted()) ?? [] }
    func unfinished() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: layout.maildropTmp).sorted()) ?? [] }

    /// Every complete drop file with its message bytes.
    func dropFiles() throws -> [(file: DropFile, message: [UInt8])] {
        try queued().map { name in
            var bytes: [UInt8] = []
            let file = try DropFile.read(path: layout.maildropNew + "/" + name) { bytes += $0 }
            return (file, bytes)
        }
    }
}

enum Fixtures {
    static let directory: String = Bundle.module.resourcePath! + "/Fixtures"
}

/// The host and user facts sendmail puts into added headers, computed the same way.
enum Caller {
    static let user: String = String(cString: getpwuid(getuid())!.pointee.pw_name)
    static let uid = getuid()
    static let from: String = {
        let gecos = String(cString: getpwuid(getuid())!.pointee.pw_gecos)
        let name = gecos.split(separator: ",", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return name.isEmpty ? "\(user)@example.org" : "\(name) <\(user)@example.org>"
    }()
    static let host: String = ProcessInfo.processInfo.hostName.lowercased()
}

/// Asserts the SMTP-safety invariant: every CR is followed by LF and every LF preceded by CR.
func hasOnlyCRLFLineEndings(_ bytes: [UInt8]) -> Bool {
    for (i, b) in bytes.enumerated() {
        if b == 13 && (i + 1 >= bytes.count || bytes[i + 1] != 10) { return false }
        if b == 10 && (i == 0 || bytes[i - 1] != 13) { return false }
    }
    return true
}

/// Splits a fixture's argument line on blanks, honouring single quotes.
func splitArguments(_ line: String) -> [String] {
    var out: [String] = []
    var current = ""
    var quoted = false
    var any = false
    for ch in line {
        if ch == "'" {
            quoted.toggle()
            any = true
        } else if ch == " " && !quoted {
            if any { out.append(current) }
            current = ""
            any = false
        } else {
            current.append(ch)
            any = true
        }
    }
    if any { out.append(current) }
    return out
}
