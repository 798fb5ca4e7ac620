import Foundation
import OutboxDrop
import Testing

/// Every sample of a Prometheus text exposition, parsed by python3-prometheus-client's
/// parser (the reference implementation's), as `name{label="v",…}` → value.
func prometheusSamples(_ text: String) throws -> [String: Double] {
    let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        out = {}
        for family in text_string_to_metric_families(sys.stdin.read()):
            for s in family.samples:
                labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
                out[s.name + ("{" + labels + "}" if labels else "")] = s.value
        print(json.dumps(out))
        """
    let r = try run("/usr/bin/python3", ["-c", script], stdin: Array(text.utf8))
    guard r.code == 0, let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Double] else {
        throw POSIXError(.EINVAL, userInfo: ["parser": r.stderr])
    }
    return object
}

/// A syslog receiver as rsyslog is one: a datagram socket outboxd writes to (syslog_socket),
/// turning each RFC 3164 datagram into the line a syslog daemon files in mail.log
/// (`Mmm dd hh:mm:ss HOST TAG[PID]: text`).
final class SyslogReceiver: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [String] = []
    private var thread: Thread?

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        unlink(path)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw POSIXError(.EADDRINUSE) }
        chmod(path, 0o666)
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let t = Thread { [self] in receive() }
        thread = t
        t.start()
    }

    private func receive() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                return
            }
            let text = String(decoding: buffer[0..<n], as: UTF8.self)
            lock.withLock { received.append(text) }
        }
    }

    /// The datagrams so far, as a syslog daemon's file: the priority dropped, the host
    /// name inserted after the time stamp.
    var logFile: String {
        lock.withLock { received }.map { datagram in
            guard datagram.hasPrefix("<"), let close = datagram.firstIndex(of: ">") else { return datagram }
            let rest = datagram[datagram.index(after: close)...]
            return rest.prefix(15) + " testhost" + rest.dropFirst(15)
        }.joined(separator: "\n") + "\n"
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        unlink(path)
    }
}

/// pflogsumm's "Grand Totals" counts from a report.
func pflogsummTotals(_ report: String) -> [String: Int] {
    var totals: [String: Int] = [:]
    for line in report.split(separator: "\n") {
        let words = line.split(separator: " ")
        guard words.count >= 2, let n = Int(words[0]) else { continue }
        let what = words[1].hasPrefix("(") ? "" : String(words[1])
        if ["received", "delivered", "deferred", "bounced"].contains(what), totals[what] == nil { totals[what] = n }
    }
    return totals
}

@Suite(
    "observability: Postfix-shaped logs pflogsumm reads, metrics, status, alerts", .serialized,
    .enabled(if: Smarthost.available && FileManager.default.isExecutableFile(atPath: "/usr/sbin/pflogsumm"), "needs root, postfix and pflogsumm"))
struct ObservabilityTests {
    @Test("pflogsumm counts what happened in a real run: received, delivered, deferred, bounced")
    func pflogsumm() throws {
        let smarthost = Smarthost.shared
        // PORT+7 has a SIZE limit of 20000: the large message bounces there.
        let instance = try Instance.relaying(port: 7)
        let receiver = try SyslogReceiver(path: instance.directory + "/log.sock")
        let config = try String(contentsOfFile: instance.configPath, encoding: .utf8)
        // First round: the smarthost is down (nothing listens on port 1), all defer.
        try (config + "syslog_socket = \(receiver.path)\nsmarthost = smtp://127.0.0.1:1\n").write(
            toFile: instance.configPath, atomically: true, encoding: .utf8)
        let word = token("pflogsumm")
        for i in 0..<4 {
            let r = try instance.sendmail(["-i", "-f", "sender@client.test", "rcpt\(i)@remote.test"], "Subject: \(word) \(i)\n\nbody\n")
            #expect(r.code == 0, "\(r.stderr)")
        }
        let big = String(repeating: "x", count: 70) + "\n"
        #expect(
            try instance.sendmail(
                ["-i", "-f", "sender@client.test", "big@remote.test"], "Subject: \(word) big\n\n" + String(repeating: big, count: 500)
            ).code == 0)
        let daemon = ["--once"]
        var r = try run(Binaries.directory + "/outboxd", daemon, environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(r.code == 0 && instance.deferred().count == 5, "\(r.stderr)")
        // Second round: the smarthost is back.
        try (config + "syslog_socket = \(receiver.path)\n").write(toFile: instance.configPath, atomically: true, encoding: .utf8)
        #expect(try instance.outboxctl(["flush"]).code == 0)
        r = try run(Binaries.directory + "/outboxd", daemon, environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(r.code == 0, "\(r.stderr)")
        #expect(smarthost.await(word, count: 5).count >= 5, "4 messages and the bounce of the fifth")
        usleep(300_000)
        let log = receiver.logFile
        try log.write(toFile: instance.directory + "/mail.log", atomically: true, encoding: .utf8)
        // The shapes Postfix's tools key on.
        #expect(log.contains("outbox/pickup[") && log.contains(": uid=") && log.contains("outbox/qmgr[") && log.contains("(queue active)"), "\(log)")
        #expect(log.contains("outbox/smtp[") && log.contains(", delays=") && log.contains("status=sent (250 "), "\(log)")
        #expect(log.contains("Verified TLS connection established to 127.0.0.1[127.0.0.1]:"), "\(log)")
        #expect(log.contains("outbox/bounce[") && log.contains(": sender non-delivery notification: "), "\(log)")
        #expect(!log.contains("outboxd["), "no line under the old tag: \(log)")
        let report = try run("/usr/sbin/pflogsumm", ["--syslog_name=outbox", instance.directory + "/mail.log"])
        #expect(report.code == 0, "\(report.stderr)")
        let totals = pflogsummTotals(report.stdout)
        // Received: the five picked up (the bounce is outbox's own). Delivered: four and the
        // non-delivery notification. Deferred: all five in the first round. Bounced: one.
        #expect(totals == ["received": 5, "delivered": 5, "deferred": 5, "bounced": 1], "\(totals)\n\(report.stdout)\n\(log)")
        // Kept for a look by hand (and the closing note's example).
        try report.stdout.write(toFile: NSTemporaryDirectory() + "outbox-pflogsumm-report.txt", atomically: true, encoding: .utf8)
        try log.write(toFile: NSTemporaryDirectory() + "outbox-pflogsumm-mail.log", atomically: true, encoding: .utf8)
    }

    @Test("outboxctl metrics and metrics_file: a real Prometheus parser reads them, and the values match the queue")
    func metrics() throws {
        let instance = try Instance(
            extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\nminimal_backoff_time = 1h\nmetrics_file = DIR/node/outbox.prom\n")
        var config = try String(contentsOfFile: instance.configPath, encoding: .utf8)
        config = config.replacingOccurrences(of: "DIR", with: instance.directory)
        try config.write(toFile: instance.configPath, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: instance.directory + "/node", withIntermediateDirectories: true)
        var samples = try prometheusSamples(try instance.outboxctl(["metrics"]).stdout)
        #expect(samples["outbox_queue_messages{state=\"deferred\"}"] == 0 && samples["outbox_build_info{version=\"0.1.0\"}"] == 1, "\(samples)")
        for i in 0..<3 { _ = try instance.sendmail(["-i", "-f", "s@example.net", "r\(i)@remote.test"], "Subject: m\(i)\n\nbody\n") }
        samples = try prometheusSamples(try instance.outboxctl(["metrics"]).stdout)
        #expect(samples["outbox_queue_messages{state=\"maildrop\"}"] == 3, "not yet adopted: \(samples)")
        #expect(try instance.outboxdOnce().code == 0)
        let ids = instance.deferred()
        try #require(ids.count == 3)
        #expect(try instance.outboxctl(["hold", ids[0]]).code == 0)
        let text = try instance.outboxctl(["metrics"]).stdout
        samples = try prometheusSamples(text)
        #expect(samples["outbox_queue_messages{state=\"deferred\"}"] == 2 && samples["outbox_queue_messages{state=\"hold\"}"] == 1, "\(text)")
        #expect(samples["outbox_queue_messages{state=\"maildrop\"}"] == 0 && samples["outbox_queue_messages{state=\"active\"}"] == 0)
        #expect((samples["outbox_queue_bytes{state=\"deferred\"}"] ?? 0) > 100)
        #expect(samples["outbox_deliveries_total{dsn_class=\"4\",status=\"deferred\"}"] == 3, "\(text)")
        #expect(samples["outbox_messages_received_total"] == 3)
        #expect(samples["outbox_delivery_delay_seconds_count{stage=\"connection_setup\"}"] == 3)
        #expect(samples["outbox_smarthost_up{smarthost=\"smtp://127.0.0.1:1\"}"] == 0, "\(text)")
        #expect(samples["outbox_daemon_running"] == 0 && (samples["outbox_spool_free_bytes"] ?? 0) > 0)
        #expect((samples["outbox_queue_oldest_message_age_seconds"] ?? -1) >= 0)
        // A running daemon writes the same into metrics_file, readable by node_exporter
        // (the --once run above wrote one too).
        let file = instance.directory + "/node/outbox.prom"
        #expect(FileManager.default.fileExists(atPath: file))
        try FileManager.default.removeItem(atPath: file)
        let (daemon, _) = try instance.startDaemon()
        defer {
            daemon.terminate()
            daemon.waitUntilExit()
        }
        for _ in 0..<50 where !FileManager.default.fileExists(atPath: file) { usleep(100_000) }
        let written = try String(contentsOfFile: file, encoding: .utf8)
        samples = try prometheusSamples(written)
        #expect(samples["outbox_queue_messages{state=\"deferred\"}"] == 2 && samples["outbox_daemon_running"] == 1, "\(written)")
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o644)
        let left = try FileManager.default.contentsOfDirectory(atPath: instance.directory + "/node")
        #expect(left == ["outbox.prom"], "no temporary file left: \(left)")
    }

    @Test("a queue file that cannot be read: mailq notes it, metrics count it, status is WARNING however young the queue")
    func unreadableQueueFile() throws {
        let instance = try Instance(extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\nminimal_backoff_time = 1h\n")
        _ = try instance.sendmail(["-i", "r@remote.test"], "Subject: s\n\nbody\n")
        #expect(try instance.outboxdOnce().code == 0)
        try Data("damaged by a disk fault".utf8).write(to: URL(fileURLWithPath: instance.layout.queueMessages + "/" + QueueID.generate().text))
        let samples = try prometheusSamples(try instance.outboxctl(["metrics"]).stdout)
        #expect(samples["outbox_queue_unreadable_files"] == 1 && samples["outbox_queue_messages{state=\"deferred\"}"] == 1, "\(samples)")
        let status = try instance.outboxctl(["status"])
        #expect(
            status.code == 1 && status.stdout.hasPrefix("OUTBOX WARNING - ") && status.stdout.contains("1 queue file unreadable"), "\(status.stdout)")
        #expect(try instance.sendmail(["-bp"]).stdout.contains("-- 1 unreadable file not shown"))
    }

    @Test("metrics_file: a FIFO or file planted at its temporary name neither blocks outboxd nor receives the metrics")
    func metricsFileTemporary() throws {
        let instance = try Instance(extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\n")
        let file = instance.directory + "/outbox.prom"
        try (try String(contentsOfFile: instance.configPath, encoding: .utf8) + "metrics_file = \(file)\n").write(
            toFile: instance.configPath, atomically: true, encoding: .utf8)
        #expect(mkfifo(file + ".tmp", 0o600) == 0)
        let r = try run(
            "/usr/bin/timeout", ["10", Binaries.directory + "/outboxd", "--once", "--no-syslog"], environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(r.code == 0, "outboxd must not block opening a FIFO: exit \(r.code) \(r.stderr)")
        #expect((try? String(contentsOfFile: file, encoding: .utf8))?.contains("outbox_build_info") == true)
    }

    @Test("outboxctl status: OK when empty, WARNING and CRITICAL by the oldest message's age, CRITICAL on an AUTH refusal, UNKNOWN on bad thresholds")
    func status() throws {
        let instance = try Instance(extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\nminimal_backoff_time = 1h\n")
        var r = try instance.outboxctl(["status"])
        #expect(r.code == 0 && r.stdout.hasPrefix("OUTBOX OK - queue empty | waiting=0;;;0 "), "\(r.stdout)\(r.stderr)")
        _ = try instance.sendmail(["-i", "r@remote.test"], "Subject: s\n\nbody\n")
        #expect(try instance.outboxdOnce().code == 0)
        r = try instance.outboxctl(["status"])
        #expect(r.code == 0 && r.stdout.contains("1 message waiting") && r.stdout.contains("delivery failing for"), "\(r.stdout)")
        #expect(r.stdout.contains("outboxd is not running"), "said, without changing the verdict: \(r.stdout)")
        sleep(2)
        r = try instance.outboxctl(["status", "-w", "1s", "-c", "1h"])
        #expect(r.code == 1 && r.stdout.hasPrefix("OUTBOX WARNING - "), "\(r.stdout)")
        r = try instance.outboxctl(["status", "-w", "1", "-c", "1"])
        #expect(r.code == 2 && r.stdout.hasPrefix("OUTBOX CRITICAL - "), "\(r.stdout)")
        r = try instance.outboxctl(["status", "-w", "soon"])
        #expect(r.code == 3 && r.stdout.hasPrefix("OUTBOX UNKNOWN - bad threshold 'soon'"), "\(r.stdout)")
        // A user who cannot read the queue gets UNKNOWN, never an "empty" OK.
        r = try run(
            "/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", Binaries.directory + "/outboxctl", "status"],
            environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(r.code == 3 && r.stdout.hasPrefix("OUTBOX UNKNOWN - cannot read ") && r.stdout.contains("as uid 65534"), "\(r.stdout)\(r.stderr)")
        // The smarthost refuses the password: CRITICAL at once, whatever the age.
        let refused = try Instance.relaying(password: "wrong")
        _ = try refused.sendmail(["-i", "r@remote.test"], "Subject: s\n\nbody\n")
        #expect(try refused.outboxdOnce().code == 0)
        r = try refused.outboxctl(["status"])
        #expect(r.code == 2 && r.stdout.hasPrefix("OUTBOX CRITICAL - AUTH refused since ") && r.stdout.contains("535"), "\(r.stdout)")
    }

    @Test("alert_command runs once when the smarthost refuses AUTH (however many attempts) and once when it accepts again")
    func alerts() throws {
        let smarthost = Smarthost.shared
        let instance = try Instance.relaying(password: "wrong")
        let alerts = instance.directory + "/alerts"
        let command = "{ echo ---; cat; echo \"env: $OUTBOX_ALERT_EVENT $OUTBOX_ALERT_KIND $OUTBOX_ALERT_WAITING\"; } >> \(alerts)"
        let passwordFile = try #require(
            try String(contentsOfFile: instance.configPath, encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("auth_password_file") }?
                .split(separator: "=").last?.trimmingCharacters(in: .whitespaces))
        try (try String(contentsOfFile: instance.configPath, encoding: .utf8) + "alert_command = \(command)\n").write(
            toFile: instance.configPath, atomically: true, encoding: .utf8)
        let word = token("alert")
        _ = try instance.sendmail(["-i", "r@remote.test"], "Subject: \(word)\n\nbody\n")
        for _ in 0..<2 {
            #expect(try instance.outboxctl(["flush"]).code == 0)
            let r = try instance.outboxdOnce()
            #expect(r.stderr.contains("535"), "\(r.stderr)")
        }
        var text = (try? String(contentsOfFile: alerts, encoding: .utf8)) ?? ""
        #expect(text.components(separatedBy: "---").count == 2, "one alert for two refused runs: \(text)")
        #expect(text.contains("event: incident") && text.contains("kind: auth") && text.contains("waiting: 1") && text.contains("535"), "\(text)")
        #expect(text.contains("env: incident auth 1"), "\(text)")
        #expect(!text.contains("secret"), "no password in the facts")
        // Fixed: the message goes out and the recovery is announced, once.
        try "secret".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        chmod(passwordFile, 0o600)
        #expect(try instance.outboxctl(["flush"]).code == 0)
        #expect(try instance.outboxdOnce().code == 0)
        #expect(smarthost.await(word, count: 1).count == 1)
        _ = try instance.outboxdOnce()
        text = (try? String(contentsOfFile: alerts, encoding: .utf8)) ?? ""
        #expect(text.components(separatedBy: "---").count == 3 && text.contains("event: recovery") && text.contains("env: recovery auth"), "\(text)")
        #expect(try instance.outboxctl(["status"]).code == 0)
    }

    @Test(
        "check_mailq -M postfix (monitoring-plugins) reads outbox's mailq",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/lib/nagios/plugins/check_mailq"), "needs monitoring-plugins-standard"))
    func checkMailq() throws {
        let instance = try Instance(extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\nminimal_backoff_time = 1h\n")
        // check_mailq runs /usr/bin/mailq: outbox's, bound over it in a mount namespace.
        func check() throws -> RunResult {
            try run(
                "/usr/bin/unshare",
                [
                    "-m", "/bin/sh", "-c", "mount --bind \"$0\" /usr/bin/mailq && exec /usr/lib/nagios/plugins/check_mailq -M postfix -w 2 -c 4",
                    Binaries.sendmail,
                ],
                environment: ["OUTBOX_CONFIG": instance.configPath])
        }
        var r = try check()
        #expect(r.code == 0 && r.stdout.hasPrefix("OK: postfix mailq reports queue is empty"), "\(r.stdout)\(r.stderr)")
        for i in 0..<3 { _ = try instance.sendmail(["-i", "r\(i)@remote.test"], "Subject: q\(i)\n\nbody\n") }
        #expect(try instance.outboxdOnce().code == 0)
        r = try check()
        #expect(r.code == 1 && r.stdout.hasPrefix("WARNING: postfix mailq is 3 "), "\(r.stdout)\(r.stderr)")
    }

    @Test("outboxd tells systemd READY=1 and keeps STATUS= at the status line")
    func systemdNotify() throws {
        let instance = try Instance(extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\n")
        let receiver = try SyslogReceiver(path: instance.directory + "/notify.sock")
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: Binaries.directory + "/outboxd")
        daemon.arguments = ["--no-syslog"]
        daemon.environment = ProcessInfo.processInfo.environment.merging(["OUTBOX_CONFIG": instance.configPath, "NOTIFY_SOCKET": receiver.path]) {
            $1
        }
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer {
            daemon.terminate()
            daemon.waitUntilExit()
        }
        var datagrams = ""
        for _ in 0..<50 {
            datagrams = receiver.logFile
            if datagrams.contains("READY=1") { break }
            usleep(100_000)
        }
        #expect(datagrams.contains("READY=1\nSTATUS=OUTBOX OK - queue empty"), "\(datagrams)")
    }
}

@Suite("who sent it: the submitting program, recorded from /proc by sendmail")
struct OriginTests {
    @Test("from a shell: the shell, its command line and its parent, in the pickup line, outboxctl show and the optional header")
    func shell() throws {
        let instance = try Instance(extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\norigin_header = yes\n")
        let r = try run(
            "/bin/sh",
            [
                "-c",
                "PGPASSWORD=hunter2 true; printf 'X-Outbox-Origin: login=root job=cron\\nSubject: origin\\n\\nbody\\n' | \"$0\" -i r@remote.test",
                Binaries.sendmail,
            ],
            environment: ["OUTBOX_CONFIG": instance.configPath])
        #expect(r.code == 0, "\(r.stderr)")
        let id = try #require(instance.queued().first)
        let d = try instance.outboxdOnce()
        let login = String(cString: getpwuid(getuid())!.pointee.pw_name)
        let pickup = try #require(d.stderr.split(separator: "\n").first { $0.hasPrefix("\(id): uid=\(getuid()) from=<") }, "\(d.stderr)")
        #expect(pickup.contains(" login=\(login) exe=/usr/bin/dash comm=sh cmd=\"/bin/sh -c PGPASSWORD=*** true; printf "), "\(pickup)")
        #expect(!d.stderr.contains("hunter2"), "a secret on the caller's command line is masked: \(pickup)")
        #expect(pickup.contains(" parent_exe=") && !(pickup.split(separator: "\"").last ?? "").contains("job="), "\(pickup)")
        let show = try instance.outboxctl(["show", id]).stdout
        #expect(show.contains("origin: login=\(login) exe=/usr/bin/dash comm=sh"), "\(show)")
        #expect(show.contains("X-Outbox-Origin: login=\(login)\n\texe=/usr/bin/dash\n\tcomm=sh\n\tparent_exe="), "\(show)")
        #expect(!show.split(separator: "\n").contains { $0.hasPrefix("\tcmd=") }, "the command line stays out of the header: \(show)")
        #expect(!show.contains("parameters: ORIGIN"), "shown once, as origin: \(show)")
        let originHeaders = show.split(separator: "\n").filter { $0.hasPrefix("X-Outbox-Origin:") }
        #expect(originHeaders.count == 1 && !originHeaders[0].contains("job=cron"), "the sender's own copy is dropped: \(show)")
    }

    @Test(
        "from a cron job: job=cron (a real cron daemon runs the job)",
        .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/cron"), "needs root and cron"))
    func cron() throws {
        let instance = try Instance(extraConfig: "smarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\n")
        // cron.d names may not contain dots; the job runs at the next full minute.
        let name = "/etc/cron.d/outboxtest\(getpid())"
        let job = "* * * * * root printf 'Subject: cron\\n\\nbody\\n' | OUTBOX_CONFIG=\(instance.configPath) \(Binaries.sendmail) -i r@remote.test\n"
        try job.write(toFile: name, atomically: true, encoding: .utf8)
        chmod(name, 0o644)
        defer { unlink(name) }
        // A cron already running reads /etc/cron.d each minute; otherwise start one here,
        // detached with an empty signal mask (the test runner blocks SIGTERM, and cron
        // would inherit that and never stop).
        let running =
            (try? String(contentsOfFile: "/run/crond.pid", encoding: .utf8)).flatMap {
                Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }.map { kill($0, 0) == 0 } ?? false
        var started: Int32?
        if !running {
            let r = try run(
                "/usr/bin/python3",
                [
                    "-c",
                    "import signal, subprocess; signal.pthread_sigmask(signal.SIG_SETMASK, []); "
                        + "print(subprocess.Popen(['/usr/sbin/cron', '-f'], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, "
                        + "stderr=subprocess.DEVNULL, start_new_session=True).pid)",
                ])
            started = Int32(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        defer {
            if let pid = started {
                kill(pid, SIGTERM)
                for _ in 0..<50 where kill(pid, 0) == 0 { usleep(100_000) }
            }
        }
        // cron runs a job at a minute's start, from the minute after it (re)reads the file:
        // up to two minute boundaries away when cron has just started (CI once waited 75 s
        // in vain; locally the job ran after 44-60 s).
        for _ in 0..<135 where instance.queued().isEmpty { sleep(1) }
        unlink(name)
        let id = try #require(instance.queued().first, "the cron job ran within 135 s")
        let d = try instance.outboxdOnce()
        let pickup = try #require(d.stderr.split(separator: "\n").first { $0.hasPrefix("\(id): uid=0 from=<") }, "\(d.stderr)")
        #expect(pickup.contains(" login=root ") && pickup.contains(" comm=sh ") && pickup.hasSuffix(" job=cron"), "\(pickup)")
        #expect(try instance.outboxctl(["show", id]).stdout.contains(" job=cron\n"))
    }
}
