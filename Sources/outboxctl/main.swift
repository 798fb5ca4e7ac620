// outboxctl(8): the operator's tool. Runs as root or outbox; as root it switches to the
// spool's owner before touching the queue, so nothing it writes is unreadable to outboxd.
import ArgumentParser
import Glibc
import OutboxConfig
import OutboxCore
import OutboxDelivery
import OutboxDrop
import OutboxSpool
import OutboxSupport

struct OutboxCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outboxctl", abstract: "Inspect and control the outbox relay.",
        subcommands: [
            Queue.self, Show.self, Hold.self, Release.self, Delete.self, Requeue.self, Flush.self,
            ConfigCommand.self, Check.self, SendTest.self,
        ])
}

struct ConfigOption: ParsableArguments {
    @Option(name: [.customShort("C"), .long], help: "Configuration file (default /etc/outbox/outbox.conf).")
    var config: String?

    func load() throws -> Config {
        do {
            return try ConfigLoader.load(try ConfigLoader.source(commandLine: config))
        } catch {
            fail("\(error)", error.exitCode)
        }
    }

    /// The spool layout, after becoming the spool's owner when running as root.
    func spool() throws -> SpoolLayout {
        let layout = SpoolLayout(root: try load().spoolDirectory)
        do { try SpoolOwner.become(layout) } catch { fail("\(error)", error.exitCode) }
        return layout
    }
}

/// Prints one line to stderr and exits with `code`.
func fail(_ message: String, _ code: OutboxCore.ExitCode) -> Never {
    try? FileDescriptor.standardError.writeAll("outboxctl: \(message)\n")
    exit(code.rawValue)
}

struct Queue: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the queue in Postfix's mailq format.", aliases: ["list"])
    @OptionGroup var options: ConfigOption
    @Flag(help: "One JSON object per message and line, as Postfix's postqueue -j.") var json = false

    func run() throws {
        let snapshot = QueueListing.allEntries(try options.spool())
        print(
            json ? QueueListing.renderJSON(snapshot.entries) : QueueListing.render(snapshot.entries, unreadable: snapshot.unreadable), terminator: "")
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one message: envelope, delivery state, last replies and headers (never the body).")
    @OptionGroup var options: ConfigOption
    @Argument(help: "Queue ID.") var id: String

    func run() throws {
        let layout = try options.spool()
        do {
            guard let report = try MessageReport.render(id, store: try QueueStore(layout: layout)) else {
                fail("\(id): no such message in the queue", .noInput)
            }
            print(report, terminator: "")
        } catch let error as any AdminError {
            fail("show \(id): \(error)", error.exitCode)
        }
    }
}

/// hold, release, delete and requeue: the same shape, one action each.
protocol QueueEdit: ParsableCommand {
    static var action: QueueRequest.Action { get }
    var options: ConfigOption { get }
    var ids: [String] { get }
}

extension QueueEdit {
    func run() throws {
        let config = try options.load()
        _ = try options.spool()
        let replies: [QueueReply]
        do {
            replies = try QueueControlClient.perform(QueueRequest(Self.action, ids: ids), config: config)
        } catch let error as any AdminError {
            fail("\(Self.action.rawValue): \(error)", error.exitCode)
        }
        for reply in replies where reply.ok { print(reply.text) }
        let failed = replies.filter { !$0.ok }
        for reply in failed { try? FileDescriptor.standardError.writeAll("outboxctl: \(reply.text)\n") }
        if replies.isEmpty { fail("\(Self.action.rawValue): no answer from outboxd", .tempFail) }
        if !failed.isEmpty { throw ArgumentParser.ExitCode(OutboxCore.ExitCode.noInput.rawValue) }
    }
}

struct Hold: QueueEdit {
    static let configuration = CommandConfiguration(abstract: "Put messages on hold: kept, not delivered, not expired.")
    static let action = QueueRequest.Action.hold
    @OptionGroup var options: ConfigOption
    @Argument(help: "Queue IDs, or ALL.") var ids: [String]
}

struct Release: QueueEdit {
    static let configuration = CommandConfiguration(abstract: "Release held messages; they are due at once.")
    static let action = QueueRequest.Action.release
    @OptionGroup var options: ConfigOption
    @Argument(help: "Queue IDs, or ALL.") var ids: [String]
}

struct Delete: QueueEdit {
    static let configuration = CommandConfiguration(abstract: "Delete messages without delivering or bouncing them.")
    static let action = QueueRequest.Action.delete
    @OptionGroup var options: ConfigOption
    @Argument(help: "Queue IDs, or ALL.") var ids: [String]
}

struct Requeue: QueueEdit {
    static let configuration = CommandConfiguration(
        abstract: "Start messages afresh: due now, retry count and queue lifetime restarted.")
    static let action = QueueRequest.Action.requeue
    @OptionGroup var options: ConfigOption
    @Argument(help: "Queue IDs, or ALL.") var ids: [String]
}

struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make every deferred message due now (a flush request outboxd acts on at once, or at its next start).")
    @OptionGroup var options: ConfigOption

    func run() throws {
        let layout = try options.spool()
        do {
            let writer = try DropWriter(layout: layout)
            for record in DropFile.header(queueID: writer.queueID.text, uid: getuid(), time: MailDate.now()) + [Record(.flush), Record(.end)] {
                try writer.append(record)
            }
            try writer.commit()
        } catch let error as any AdminError {
            fail("flush: \(error)", error.exitCode)
        }
    }
}

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Validate the configuration and print every key with its effective value.")
    @OptionGroup var options: ConfigOption
    @Flag(help: "Print the built-in defaults instead (ignore the file).") var defaults = false
    @Flag(name: .customLong("non-default"), help: "Print only keys whose value differs from the default.") var nonDefault = false
    @Argument(help: "Keys to print (default: all).") var keys: [String] = []

    func run() throws {
        let config = defaults ? Config() : try options.load()
        let builtIn = Dictionary(uniqueKeysWithValues: Config().settings.map { ($0.key, $0.value) })
        var settings = config.settings
        if !keys.isEmpty {
            let known = Set(settings.map(\.key))
            for key in keys where !known.contains(key) { fail("unknown key '\(key)'", .usage) }
            settings = settings.filter { keys.contains($0.key) }
        }
        if nonDefault { settings = settings.filter { builtIn[$0.key] != $0.value } }
        for (key, value) in settings { print(value.isEmpty ? "\(key) =" : "\(key) = \(value)") }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect to each smarthost: TLS, certificate, AUTH mechanisms, and whether AUTH succeeds.")
    @OptionGroup var options: ConfigOption

    func run() throws {
        let (lines, ok) = SmarthostCheck.run(try options.load())
        print(lines.joined(separator: "\n"))
        if !ok { throw ArgumentParser.ExitCode(75) }
    }
}

struct SendTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send-test",
        abstract: "Send a short test message straight through the smarthost (nothing is queued) and print its answer.")
    @OptionGroup var options: ConfigOption
    @Option(name: [.customShort("f"), .long], help: "Envelope sender (default: admin_address, else root@domain).") var from: String?
    @Argument(help: "Recipient address.") var recipient: String

    func run() throws {
        let config = try options.load()
        let sender = from ?? config.adminAddress ?? "root@\(config.domain ?? HostName.current())"
        for address in [sender, recipient]
        where !address.contains("@") || address.contains(where: { $0.isBlankOrLineBreak || $0 == "<" || $0 == ">" }) {
            fail("'\(address)' is not a user@domain address", .dataError)
        }
        let (lines, ok) = SmarthostSendTest.run(config, recipient: recipient, sender: sender)
        print(lines.joined(separator: "\n"))
        if !ok { throw ArgumentParser.ExitCode(OutboxCore.ExitCode.tempFail.rawValue) }
    }
}

OutboxCtl.main()
