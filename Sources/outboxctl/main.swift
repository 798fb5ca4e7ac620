// outboxctl(8): the operator's tool. Runs as root or outbox; as root it switches to the
// spool's owner before touching the queue, so nothing it writes is unreadable to outboxd.
//
// One executable is both outboxctl and outboxd (installed as outboxd with outboxctl a
// symbolic link to it, or the other way round: the name it is started under decides).
// They share the Swift runtime, OpenSSL, Cyrus SASL and most of the code, so one file
// saves the 9 MB a second static Swift runtime and copy of the delivery code cost.
import Glibc
import OutboxConfig
import OutboxCore
import OutboxDelivery
import OutboxDrop
import OutboxOAuth
import OutboxSpool
import OutboxSupport

if (CommandLine.arguments.first?.split(separator: "/").last ?? "").hasPrefix("outboxd") {
    DaemonProgram.main(CommandLine.arguments)
}

let configOption = CommandLineSpec.Option("config", short: "C", value: "config", help: "Configuration file (default /etc/outbox/outbox.conf).")
let idsOperand = CommandLineSpec.Operand("ids", .oneOrMore, help: "Queue IDs, or ALL.")

let commands = CommandLineSpec(
    "outboxctl", abstract: "Inspect and control the outbox relay.",
    subcommands: [
        .init(
            "queue", aliases: ["list"], abstract: "List the queue in Postfix's mailq format.",
            options: [configOption, .init("json", help: "One JSON object per message and line, as Postfix's postqueue -j.")]),
        .init(
            "show", abstract: "Show one message: envelope, delivery state, last replies and headers (never the body).", options: [configOption],
            operands: [.init("id", help: "Queue ID.")]),
        .init(
            "cat", abstract: "Print one message's content, headers and body, as it will be sent (Postfix's postcat -q).",
            options: [configOption], operands: [.init("id", help: "Queue ID.")]),
        .init("hold", abstract: "Put messages on hold: kept, not delivered, not expired.", options: [configOption], operands: [idsOperand]),
        .init("release", abstract: "Release held messages; they are due at once.", options: [configOption], operands: [idsOperand]),
        .init("delete", abstract: "Delete messages without delivering or bouncing them.", options: [configOption], operands: [idsOperand]),
        .init(
            "requeue", abstract: "Start messages afresh: due now, retry count and queue lifetime restarted.", options: [configOption],
            operands: [idsOperand]),
        .init(
            "flush", abstract: "Make every deferred message due now (a flush request outboxd acts on at once, or at its next start).",
            options: [configOption]),
        .init(
            "config", abstract: "Validate the configuration and print every key with its effective value, then each route's.",
            options: [
                configOption, .init("defaults", help: "Print the built-in defaults instead (ignore the file)."),
                .init("non-default", help: "Print only keys whose value differs from the default."),
            ], operands: [.init("keys", .any, help: "Keys to print (default: all).")]),
        .init("check", abstract: "Connect to each smarthost: TLS, certificate, AUTH mechanisms, and whether AUTH succeeds.", options: [configOption]),
        .init(
            "send-test", abstract: "Send a short test message straight through the smarthost (nothing is queued) and print its answer.",
            options: [configOption, .init("from", short: "f", value: "from", help: "Envelope sender (default: admin_address, else root@domain).")],
            operands: [.init("recipient", help: "Recipient address.")]),
        .init(
            "oauth", abstract: "OAuth2: sign in with a device code to obtain the refresh token, or show the token's state.",
            subcommands: [
                .init(
                    "login", abstract: "Sign in (device-code flow at oauth_device_url) and store the refresh token in oauth_refresh_token_file.",
                    options: [configOption, .init("route", value: "route", help: "Sign in for this [route NAME]'s oauth_* settings.")]),
                .init(
                    "status", abstract: "Show the access token's expiry, the last refresh and the last error, as outboxd last saw them.",
                    options: [configOption, .init("route", value: "route", help: "Show this [route NAME]'s token.")]),
            ]),
        .init(
            "metrics", abstract: "Print the metrics in Prometheus text format (what metrics_file holds): queue, deliveries, delays, smarthosts.",
            options: [configOption]),
        .init(
            "status", abstract: "One line of health, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, as a monitoring plugin.",
            options: [
                configOption,
                .init("warning", short: "w", value: "warning", help: "WARNING when the oldest waiting message is this old (default 1h)."),
                .init("critical", short: "c", value: "critical", help: "CRITICAL when the oldest waiting message is this old (default 4h)."),
            ]),
    ])

struct ConfigOption {
    var config: String?
    func load() throws -> Config {
        do {
            return try ConfigLoader.load(try ConfigLoader.source(commandLine: config))
        } catch {
            fail("\(error)", error.exitCode)
        }
    }

    /// Root becomes the spool's owner (user outbox) before any OAuth2 step: a refresh
    /// token rotated during `check` must stay outboxd's, and the token endpoint's answers
    /// are then parsed without root.
    func becomeTokenOwner(_ config: Config) {
        // A route's token counts too (review: check and send-test fetched it as root).
        guard config.usesToken || config.routes.contains(where: { $0.config.usesToken }) else { return }
        do { try SpoolOwner.become(SpoolLayout(root: config.spoolDirectory)) } catch { fail("\(error)", error.exitCode) }
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

enum Commands {
    static func queue(_ options: ConfigOption, json: Bool) throws {
        let config = try options.load()
        let listing: QueueListingStream
        do {
            listing = try QueueListingStream(try options.spool())
        } catch let error as SystemError where error.errno == ENOENT {
            // No spool yet: nothing queued.
            return print(json ? "" : QueueListing.render([]), terminator: "")
        }
        try listing.write(to: FileDescriptor.standardOutput, format: json ? .json : .text, routeOf: { config.routeName(sender: $0, recipients: $1) })
    }

    static func show(_ options: ConfigOption, id: String) throws {
        let config = try options.load()
        let layout = try options.spool()
        do {
            guard let report = try MessageReport.render(id, store: try QueueStore(layout: layout), config: config) else {
                fail("\(id): no such message in the queue", .noInput)
            }
            print(report, terminator: "")
        } catch let error as any AdminError {
            fail("show \(id): \(error)", error.exitCode)
        }
    }

    static func cat(_ options: ConfigOption, id: String) throws {
        let layout = try options.spool()
        guard let (path, _) = try QueueStore(layout: layout).locate(id) else { fail("\(id): no such message in the queue", .noInput) }
        // Streamed as read (a message may be large), with CRLF as LF; a file that is not
        // whole and valid ends the output with an error and status 65.
        var lines = LineEndings()
        do {
            _ = try DropFile.read(path: path) { chunk in try FileDescriptor.standardOutput.writeAll(lines.unixLines(chunk)) }
        } catch {
            fail("cat \(id): \(error)", .dataError)
        }
    }

    /// hold, release, delete and requeue: the same shape, one action each.
    static func edit(_ options: ConfigOption, _ action: QueueRequest.Action, ids: [String]) throws {
        let config = try options.load()
        _ = try options.spool()
        let replies: [QueueReply]
        do {
            replies = try QueueControlClient.perform(QueueRequest(action, ids: ids), config: config)
        } catch let error as any AdminError {
            fail("\(action.rawValue): \(error)", error.exitCode)
        }
        for reply in replies where reply.ok { print(reply.text) }
        let failed = replies.filter { !$0.ok }
        for reply in failed { try? FileDescriptor.standardError.writeAll("outboxctl: \(reply.text)\n") }
        if replies.isEmpty { fail("\(action.rawValue): no answer from outboxd", .tempFail) }
        if !failed.isEmpty { exit(OutboxCore.ExitCode.noInput.rawValue) }
    }

    static func flush(_ options: ConfigOption) throws { requestFlush(try options.spool()) }

    /// Drops a flush request that outboxd acts on at once (or at its next start).
    static func requestFlush(_ layout: SpoolLayout) {
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

    /// The settings of `--route NAME`, or the global ones.
    static func routeSettings(_ config: Config, _ route: String?) -> Config {
        guard let route else { return config }
        guard let found = config.routes.first(where: { $0.name == route }) else {
            fail("no [route \(route)] in \(config.sourcePath ?? "outbox.conf")", .usage)
        }
        return found.config
    }

    /// "; the routes with one: a, b (--route NAME)" when the global settings have no token.
    static func tokenRoutesHint(_ config: Config) -> String {
        let names = config.routes.filter(\.config.usesToken).map(\.name)
        return names.isEmpty ? "" : "; routes with one: \(names.joined(separator: ", ")) (use --route NAME)"
    }

    static func oauthLogin(_ options: ConfigOption, route: String?) throws {
        let full = try options.load()
        let config = routeSettings(full, route)
        let settings: OAuthSettings
        do {
            guard let s = try OAuthSettings.configured(config) else {
                fail("oauth_token_url is not set in \(config.sourcePath ?? "outbox.conf")\(route == nil ? tokenRoutesHint(full) : "")", .config)
            }
            settings = s
        } catch { fail("\(error)", .config) }
        // As the spool's owner (user outbox), who refreshes and rotates the token: the file
        // it writes is then outboxd's. Checked before the user is asked to sign in.
        options.becomeTokenOwner(config)
        if let path = settings.refreshTokenFile {
            let directory = RefreshTokenFile(path: path).directory
            if access(directory, W_OK) != 0 {
                fail(
                    "oauth login: cannot write the refresh token into \(directory) as uid \(geteuid()): \(String(cString: strerror(errno))) (install -d -o outbox -g outbox -m 0700 \(directory))",
                    .cantCreate)
            }
        }
        let grant: AccessGrant
        do {
            grant = try OAuthClient(settings: settings).deviceLogin(owner: nil) { print($0) }
        } catch { fail("oauth login: \(error)", .tempFail) }
        print(
            "signed in: refresh token stored in \(settings.refreshTokenFile ?? "?") (mode 0600); first access token valid for \(grant.expiresIn.map { "\($0) s" } ?? "an unstated time")"
        )
        // Mail deferred for want of a token goes out now.
        requestFlush(try options.spool())
    }

    static func oauthStatus(_ options: ConfigOption, route: String?) throws {
        let full = try options.load()
        let config = routeSettings(full, route)
        guard config.usesToken else {
            fail("no token source configured (auth_token_command or oauth_token_url)\(route == nil ? tokenRoutesHint(full) : "")", .config)
        }
        if let path = config.oauthRefreshTokenFile {
            var st = stat()
            if stat(path, &st) == 0 {
                print(
                    "refresh token file: \(path) (mode \(String(st.st_mode & 0o7777, radix: 8)), uid \(st.st_uid), written \(MailDate.queueListing(st.st_mtim.tv_sec)))"
                )
            } else {
                print("refresh token file: \(path): \(String(cString: strerror(errno))) (run outboxctl oauth login)")
            }
        }
        guard let fields = OAuthStatusFile.read(spool: config.spoolDirectory, route: route) else {
            print("outboxd has not needed a token yet")
            return
        }
        let now = Int(time(nil))
        for (key, value) in fields {
            switch key {
            case "expires":
                let t = Int(value) ?? 0
                print("access token: \(t > now ? "valid for \(t - now) s more" : "expired \(now - t) s ago") (until \(MailDate.queueListing(t)))")
            case "last_refresh": print("last refresh: \(MailDate.queueListing(Int(value) ?? 0))")
            case "last_error_time": print("last error at: \(MailDate.queueListing(Int(value) ?? 0))")
            case "last_error": print("last error: \(value)")
            case "source": print("token source: \(value)")
            case "refreshes": print("tokens obtained since outboxd started: \(value)")
            default: break
            }
        }
        if fields.contains(where: { $0.0 == "last_error" }) { exit(1) }
    }

    static func config(_ options: ConfigOption, defaults: Bool, nonDefault: Bool, keys: [String]) throws {
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
        // Each route with its effective delivery settings (--non-default: what it overrides).
        for route in config.routes {
            let own = config.settings(of: route, onlyOverrides: nonDefault).filter { keys.isEmpty || keys.contains($0.key) }
            print("\n[route \(route.name)]")
            for (key, value) in own { print(value.isEmpty ? "\(key) =" : "\(key) = \(value)") }
        }
    }

    static func check(_ options: ConfigOption) throws {
        let config = try options.load()
        options.becomeTokenOwner(config)
        // The global settings (when they name a smarthost or no route exists), then
        // every route.
        var targets: [(String?, Config)] = config.smarthosts.isEmpty && !config.routes.isEmpty ? [] : [(nil, config)]
        targets += config.routes.map { ($0.name, $0.config) }
        var allOK = true
        for (index, (name, settings)) in targets.enumerated() {
            if let name { print((index > 0 ? "\n" : "") + "route \(name):") }
            let (lines, ok) = SmarthostCheck.run(settings)
            print(lines.joined(separator: "\n"))
            allOK = allOK && ok
        }
        if !allOK { exit(75) }
    }

    static func sendTest(_ options: ConfigOption, from: String?, recipient: String) throws {
        let config = try options.load()
        let sender = from ?? config.adminAddress ?? "root@\(config.domain ?? HostName.current())"
        for address in [sender, recipient]
        where !address.contains("@") || address.contains(where: { $0.isBlankOrLineBreak || $0 == "<" || $0 == ">" }) {
            fail("'\(address)' is not a user@domain address", .dataError)
        }
        options.becomeTokenOwner(config)
        // Through the route the sender's mail takes.
        let (lines, ok) = SmarthostSendTest.run(config.delivery(sender: sender, recipients: [recipient]), recipient: recipient, sender: sender)
        print(lines.joined(separator: "\n"))
        if !ok { exit(OutboxCore.ExitCode.tempFail.rawValue) }
    }

    static func metrics(_ options: ConfigOption) throws {
        let layout = try options.spool()
        if let problem = SpoolObservation.unreadable(layout) { fail("metrics: \(problem)", .noPermission) }
        let seen = SpoolObservation.read(layout)
        print(
            PrometheusText.render(
                .init(state: seen.state, queue: seen.queue, now: MailDate.now(), freeBytes: seen.freeBytes, daemonRunning: seen.daemonRunning)),
            terminator: "")
    }

    static func status(_ options: ConfigOption, warning: String, critical: String) throws {
        // Monitoring plugins report their own trouble as UNKNOWN (3), on stdout.
        func unknown(_ text: String) -> Never {
            print("OUTBOX UNKNOWN - \(text)")
            Glibc.exit(HealthReport.Level.unknown.rawValue)
        }
        guard let w = ConfigParser.duration(warning), let c = ConfigParser.duration(critical) else {
            unknown("bad threshold '\(ConfigParser.duration(warning) == nil ? warning : critical)' (want a time like 30m, 1h or 3600)")
        }
        let config: Config
        do { config = try ConfigLoader.load(try ConfigLoader.source(commandLine: options.config)) } catch { unknown("\(error)") }
        let layout = SpoolLayout(root: config.spoolDirectory)
        do { try SpoolOwner.become(layout) } catch { unknown("\(error)") }
        if let problem = SpoolObservation.unreadable(layout) { unknown(problem) }
        let seen = SpoolObservation.read(layout)
        let report = HealthReport.evaluate(
            state: seen.state, queue: seen.queue, now: MailDate.now(), warning: w, critical: c, daemonRunning: seen.daemonRunning)
        print(report.line)
        Glibc.exit(report.level.rawValue)
    }
}

/// CRLF to LF across chunk boundaries.
struct LineEndings {
    private var carriageReturn = false

    mutating func unixLines(_ chunk: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(chunk.count + 1)
        for b in chunk {
            if carriageReturn && b != 10 { out.append(13) }
            carriageReturn = b == 13
            if !carriageReturn { out.append(b) }
        }
        return out
    }
}

let invocation: CommandLineSpec.Invocation
switch commands.parse(Array(CommandLine.arguments.dropFirst())) {
case .run(let parsed): invocation = parsed
case .help(let text):
    print(text, terminator: "")
    exit(0)
case .usage(let line): fail(line, .usage)
}
let options = ConfigOption(config: invocation["config"])
let operands = invocation.operands
let command = invocation.path.joined(separator: " ")
do {
    switch command {
    case "queue": try Commands.queue(options, json: invocation.has("json"))
    case "show": try Commands.show(options, id: operands[0])
    case "cat": try Commands.cat(options, id: operands[0])
    case "hold": try Commands.edit(options, .hold, ids: operands)
    case "release": try Commands.edit(options, .release, ids: operands)
    case "delete": try Commands.edit(options, .delete, ids: operands)
    case "requeue": try Commands.edit(options, .requeue, ids: operands)
    case "flush": try Commands.flush(options)
    case "config": try Commands.config(options, defaults: invocation.has("defaults"), nonDefault: invocation.has("non-default"), keys: operands)
    case "check": try Commands.check(options)
    case "send-test": try Commands.sendTest(options, from: invocation["from"], recipient: operands[0])
    case "oauth login": try Commands.oauthLogin(options, route: invocation["route"])
    case "oauth status": try Commands.oauthStatus(options, route: invocation["route"])
    case "metrics": try Commands.metrics(options)
    case "status": try Commands.status(options, warning: invocation["warning"] ?? "1h", critical: invocation["critical"] ?? "4h")
    default: fail("no such command: \(command)", .software)
    }
} catch let error as any AdminError {
    fail("\(command): \(error)", error.exitCode)
} catch {
    fail("\(command): \(error)", .software)
}
