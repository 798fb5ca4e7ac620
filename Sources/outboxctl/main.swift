// outboxctl(8): the operator's tool. Runs as root or outbox.
import ArgumentParser
import Glibc
import OutboxConfig
import OutboxCore
import OutboxDelivery
import OutboxSpool

struct OutboxCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outboxctl", abstract: "Inspect and control the outbox relay.",
        subcommands: [Check.self, Flush.self])
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

struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make every deferred message due now (a flush request outboxd acts on at once, or at its next start).")
    @OptionGroup var options: ConfigOption

    func run() throws {
        let config = try options.load()
        do {
            let layout = SpoolLayout(root: config.spoolDirectory)
            let writer = try DropWriter(layout: layout)
            for record in DropFile.header(queueID: writer.queueID.text, uid: getuid(), time: MailDate.now()) + [Record(.flush), Record(.end)] {
                try writer.append(record)
            }
            try writer.commit()
        } catch let error as any AdminError {
            FileDescriptorOutput.error("outboxctl: flush: \(error)")
            throw ExitCode(error.exitCode.rawValue)
        }
    }
}

enum FileDescriptorOutput {
    static func error(_ line: String) {
        try? FileDescriptor.standardError.writeAll(line + "\n")
    }
}

OutboxCtl.main()
