import Glibc
import OutboxCore
import OutboxNet
import OutboxSupport

/// Tells the admin about an incident and its recovery by a path that does not depend on
/// the smarthost: `alert_command` (facts on stdin and in OUTBOX_ALERT_* variables), or,
/// without one, a warning line. Commands run one at a time on a thread of their own, so a
/// slow pager never holds up delivery.
public final class Alerts: @unchecked Sendable {
    private let log: DeliveryLog
    private let lock = ConditionLock()
    private var pending: [(event: AlertEvent, command: String?, status: String)] = []
    private var thread: WorkerThread?
    private var stopping = false
    /// How long one alert command may run.
    static let deadline = 60.0

    public init(log: DeliveryLog) { self.log = log }

    /// Announces `event`: the log line at once, the command on the alert thread.
    public func raise(_ event: AlertEvent, command: String?, status: String) {
        let what = Alerts.describe(event)
        switch event.phase {
        case .incident:
            log.warning(.qmgr, "alert: \(what)" + (command == nil ? " (no alert_command set)" : ""))
        case .recovery:
            log.info(.qmgr, "alert: \(what)")
        }
        guard let command else { return }
        lock.withLock {
            pending.append((event, command, status))
            if thread == nil {
                let t = WorkerThread(sendable: { [self] in runPending() })
                do {
                    try t.start()
                    thread = t
                } catch {
                    // Kept pending: the next alert tries again.
                    log.error(.qmgr, "alert_command not run yet: cannot start its thread: \(error)")
                }
            }
            lock.broadcast()
        }
    }

    /// Runs what is queued, then lets the thread end (at daemon stop). When the thread
    /// could never be started, what is queued runs here: an alert is never dropped
    /// silently.
    public func finish() {
        let t: WorkerThread? = lock.withLock {
            stopping = true
            lock.broadcast()
            return thread
        }
        if let t {
            t.join()
        } else {
            runPending()
        }
    }

    private func runPending() {
        while true {
            let next: (event: AlertEvent, command: String?, status: String)? = lock.withLock {
                while pending.isEmpty && !stopping { lock.wait() }
                return pending.isEmpty ? nil : pending.removeFirst()
            }
            guard let next, let command = next.command else { return }
            run(command, next.event, status: next.status)
        }
    }

    private func run(_ command: String, _ event: AlertEvent, status: String) {
        let facts = Alerts.facts(event, status: status, host: HostName.current())
        let input: PipePair
        do { input = try FileDescriptor.pipe() } catch {
            log.error(.qmgr, "alert_command: \(error)")
            return
        }
        // The facts fit the pipe's buffer (a few hundred bytes of 64 KiB): written before
        // the command starts, so a command that never reads stdin cannot block outboxd.
        try? input.write.writeAll(facts.map { "\($0.key): \($0.value)\n" }.joined())
        let reader = input.keepingRead()
        let pid: pid_t
        do {
            pid = try ChildCommand.spawn(
                command, standardInput: reader.rawValue, standardOutput: 2,
                extraEnvironment: facts.map { "OUTBOX_ALERT_\($0.key.uppercased())=\($0.value)" })
        } catch {
            log.error(.qmgr, "alert_command: \(error.text)")
            return
        }
        let (status, failure) = ChildCommand.wait(pid, deadline: .after(seconds: Alerts.deadline), seconds: Alerts.deadline, kill: false)
        if let failure {
            log.error(.qmgr, "alert_command \(failure)")
        } else if status != 0 {
            log.error(.qmgr, "alert_command exited with status \((status >> 8) & 0xFF) for the \(event.phase.rawValue) of \(event.kind.rawValue)")
        }
    }

    /// "AUTH refused by the smarthost since …", one line.
    static func describe(_ event: AlertEvent) -> String {
        let what: String =
            switch event.kind {
            case .auth: "the smarthost refuses AUTH"
            case .certificate: "the smarthost's certificate does not verify"
            case .delivery: "no mail delivered"
            case .userRate: "a user's mail is held by user_rate_limit"
            }
        let since = MailDate.queueListing(event.since)
        switch event.phase {
        case .incident:
            return
                "\(what) since \(since); \(event.waiting) message\(event.waiting == 1 ? "" : "s") waiting; last reply: \(EnvelopeSyntax.printable(event.reason, limit: 300))"
        case .recovery:
            return "recovered: \(what) since \(since) is over; \(event.waiting) message\(event.waiting == 1 ? "" : "s") waiting"
        }
    }

    /// The facts, in the order they are printed; values are printable single lines.
    static func facts(_ event: AlertEvent, status: String, host: String) -> [(key: String, value: String)] {
        [
            ("event", event.phase.rawValue),
            ("kind", event.kind.rawValue),
            ("host", EnvelopeSyntax.printable(host)),
            ("since", String(event.since)),
            ("since_text", MailDate.queueListing(event.since)),
            ("waiting", String(event.waiting)),
            ("reason", EnvelopeSyntax.printable(event.reason, limit: 500)),
            ("summary", describe(event)),
            ("status", EnvelopeSyntax.printable(status, limit: 500)),
        ]
    }
}
