// outboxctl(8): the operator's tool. Runs as root or outbox.
import ArgumentParser
import Glibc
import OutboxConfig
import OutboxCore
import OutboxDelivery

struct OutboxCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outboxctl", abstract: "Inspect and control the outbox relay.",
        subcommands: [Check.self])
}

struct ConfigOption: ParsableArguments {
    @Option(name: [.customShort("C"), .long], help: "Configuration file (default /etc/outbox/outbox.conf).")
    var config: String?

    func load() throws -> Config {
        do {
            return try ConfigLoader.load(try ConfigLoader.source(commandLine: config))
        } catch {
            FileDescriptorOutput.error("outboxctl: \(error)")
            throw ExitCode(error.exitCode.rawValue)
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect to each smarthost: TLS, certificate, AUTH mechanisms, and whether AUTH succeeds.")
    @OptionGroup var options: ConfigOption

    func run() throws {
        let (lines, ok) = SmarthostCheck.run(try options.load())
        print(lines.joined(separator: "\n"))
        if !ok { throw ExitCode(75) }
    }
}

enum FileDescriptorOutput {
    static func error(_ line: String) {
        try? FileDescriptor.standardError.writeAll(line + "\n")
    }
}

OutboxCtl.main()
