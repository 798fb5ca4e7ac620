import COutboxDaemon
import Glibc
import OutboxConfig
import OutboxCore
import OutboxDrop
import OutboxSpool

/// outboxd(8)'s command line and start. Both executables that can be outboxd call it:
/// `outboxd` itself (the development and test build) and the installed multi-call
/// `outboxctl`, when it is started under the name outboxd.
///
/// Three options do not need an argument parser library, which would bring
/// FoundationEssentials into a long-running process (measured: idle RSS 16.2 vs 11 MB).
public enum DaemonProgram {
    static let usage = "usage: outboxd [-C config | --config config] [--once] [--no-syslog]"

    public static func main(_ arguments: [String]) -> Never {
        var configPath: String?
        var once = false
        var syslog = true
        var args = arguments.dropFirst()
        while let arg = args.popFirst() {
            switch arg {
            case "-C", "--config":
                guard let value = args.popFirst() else {
                    try? FileDescriptor.standardError.writeAll("outboxd: \(arg) needs a file\n\(usage)\n")
                    exit(ExitCode.usage.rawValue)
                }
                configPath = value
            case "--once": once = true
            case "--no-syslog": syslog = false
            case "-h", "--help":
                try? FileDescriptor.standardOutput.writeAll("\(usage)\nRelay queued mail to the configured smarthost(s); see outboxd(8).\n")
                exit(0)
            default:
                try? FileDescriptor.standardError.writeAll("outboxd: unknown argument '\(arg)'\n\(usage)\n")
                exit(ExitCode.usage.rawValue)
            }
        }

        let log = DeliveryLog(stderr: true, syslog: syslog)
        // Passwords and OAuth2 tokens live in this process's memory: no core file may carry them.
        if coutbox_forbid_core_dumps() != 0 { log.warning("cannot disable core dumps: \(String(cString: strerror(errno)))") }
        do {
            let source = try ConfigLoader.source(commandLine: configPath)
            let config = try ConfigLoader.load(source)
            log.configure(name: config.syslogName, socketPath: config.syslogSocket)
            // Started by root (by hand, from a script) on a spool that belongs to user outbox: act
            // as outbox, as the unit does, so that nothing root-owned lands in the queue where the
            // service could not read or replace it.
            try SpoolOwner.become(SpoolLayout(root: config.spoolDirectory))
            let daemon = try Daemon(config: config, source: source, log: log)
            exit(daemon.run(once: once))
        } catch let error as any AdminError {
            log.error("\(error)")
            exit(error.exitCode.rawValue)
        } catch {
            log.error("\(error)")
            exit(ExitCode.software.rawValue)
        }
    }
}
