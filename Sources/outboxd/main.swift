// outboxd(8): relays the outbox queue to the smarthost. Runs as user outbox under systemd
// (foreground, no self-daemonising); `--once` delivers what is due and exits.
import ArgumentParser
import OutboxConfig
import OutboxCore
import OutboxDelivery

struct Outboxd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outboxd", abstract: "Relay queued mail to the configured smarthost(s).")

    @Option(name: [.customShort("C"), .long], help: "Configuration file (default /etc/outbox/outbox.conf, or $OUTBOX_CONFIG).")
    var config: String?

    @Flag(help: "Deliver every message that is due, then exit.")
    var once = false

    @Flag(help: "Do not log to syslog (stderr only).")
    var noSyslog = false

    func run() throws {
        let log = DeliveryLog(stderr: true, syslog: !noSyslog)
        do {
            let source = try ConfigLoader.source(commandLine: config)
            let loaded = try ConfigLoader.load(source)
            let daemon = try Daemon(config: loaded, source: source, log: log)
            let status = daemon.run(once: once)
            if status != 0 { throw ExitCode(status) }
        } catch let error as any AdminError {
            log.error("\(error)")
            throw ExitCode(error.exitCode.rawValue)
        }
    }
}

Outboxd.main()
