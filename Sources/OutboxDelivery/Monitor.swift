import Glibc
import OutboxCore
import OutboxSupport
import Synchronization

/// outboxd's running tally for metrics, status and alerts: delivery threads report what
/// happened, the main loop takes the alert events, refreshes the reports and saves the
/// state (queue/monitor) when it changed.
public final class Monitor: Sendable {
    private struct Shared {
        var state: MonitorState
        var events: [AlertEvent] = []
        var changed = false
        /// Messages waiting, as the main loop last counted them (for alert facts).
        var waiting = 0
    }
    private let shared: Mutex<Shared>
    public let path: String

    public init(spool: String) {
        path = MonitorState.path(spool: spool)
        shared = Mutex(Shared(state: MonitorState.read(spool: spool) ?? MonitorState()))
    }

    public var state: MonitorState { shared.withLock { $0.state } }

    private func update(_ body: (inout MonitorState, Int, Int) -> [AlertEvent]) {
        let now = MailDate.now()
        shared.withLock { s in
            s.events += body(&s.state, now, s.waiting)
            s.changed = true
        }
    }

    public func received() {
        update { s, _, _ in
            s.add("outbox_messages_received_total")
            return []
        }
    }

    public func bounceCreated() {
        update { s, _, _ in
            s.add("outbox_bounces_total")
            return []
        }
    }

    /// One recipient's outcome, with the attempt's stages (delays=a/b/c/d).
    public func recipient(status: DeliveryStatus, dsn: String, stages: [Double], reply: String) {
        update { s, now, waiting in
            let dsnClass = dsn.first.map(String.init) ?? "4"
            s.add("outbox_deliveries_total{status=\"\(status.rawValue)\",dsn_class=\"\(dsnClass)\"}")
            for (name, value) in zip(MonitorState.stageNames, stages) { s.delays[name, default: MonitorState.Histogram()].observe(value) }
            switch status {
            case .sent: return s.delivered(now: now, waiting: waiting)
            case .deferred: return s.failed(reply, kind: nil, now: now, waiting: waiting)
            default: return []
            }
        }
    }

    /// A session was established with `smarthost` (`tls`: version and Verified/Trusted/
    /// Untrusted, nil without TLS).
    public func sessionOpened(_ smarthost: String, tls: (version: String, trust: String)?) {
        update { s, now, waiting in
            if let tls {
                s.add("outbox_tls_connections_total{version=\(PrometheusText.label(tls.version)),verification=\"\(tls.trust.lowercased())\"}")
            }
            s.smarthosts[smarthost, default: MonitorState.SmarthostHealth()].up = true
            s.smarthosts[smarthost]!.lastSuccess = now
            return s.sessionSucceeded(now: now, waiting: waiting)
        }
    }

    /// A session with `smarthost` failed.
    public func sessionFailed(_ smarthost: String, error: SessionError) {
        update { s, now, waiting in
            s.smarthosts[smarthost, default: MonitorState.SmarthostHealth()].up = false
            s.smarthosts[smarthost]!.lastFailure = now
            s.smarthosts[smarthost]!.lastError = "\(error)"
            switch error {
            case .rejected(let stage, let reply) where stage.hasPrefix("AUTH"):
                s.add(Monitor.authSeries(mechanism: String(stage.dropFirst(5)), code: String(reply.code)))
            case .tokenRejected(let mechanism, let reply, _):
                s.add(Monitor.authSeries(mechanism: mechanism, code: String(reply.code)))
            case .sasl: s.add(Monitor.authSeries(mechanism: "none", code: "sasl"))
            case .credentials: s.add(Monitor.authSeries(mechanism: "none", code: "credentials"))
            default: break
            }
            return s.failed("\(smarthost): \(error)", kind: MonitorState.incidentKind(of: error), now: now, waiting: waiting)
        }
    }

    static func authSeries(mechanism: String, code: String) -> String {
        "outbox_auth_failures_total{mechanism=\(PrometheusText.label(mechanism.isEmpty ? "none" : mechanism)),code=\(PrometheusText.label(code))}"
    }

    /// user_rate_limit held mail (`reason` names the user), or no user is over it any more.
    public func userRate(exceeded reason: String?) {
        update { s, now, waiting in
            reason.map { s.userRateExceeded($0, now: now, waiting: waiting) } ?? s.userRateEnded(now: now, waiting: waiting)
        }
    }

    /// Keeps user_rate_limit's window and bursts for the next run (saved with the rest).
    public func keepUserRate(counted: [Int: [Int]], held: [Int: Int]) {
        shared.withLock { s in
            guard s.state.userRateCounted != counted || s.state.userRateHeld != held else { return }
            s.state.userRateCounted = counted
            s.state.userRateHeld = held
            s.changed = true
        }
    }

    /// The main loop's clock tick; returns the alert events due (and clears them).
    public func tick(waiting: Int, alertAfter: Int) -> [AlertEvent] {
        let now = MailDate.now()
        return shared.withLock { s in
            s.waiting = waiting
            let before = s.state
            s.events += s.state.tick(now: now, waiting: waiting, alertAfter: alertAfter)
            if s.state != before { s.changed = true }
            defer { s.events = [] }
            return s.events
        }
    }

    /// Writes queue/monitor when something changed since the last save.
    public func save() {
        let text: String? = shared.withLock { s in
            guard s.changed else { return nil }
            s.changed = false
            return s.state.encoded()
        }
        guard let text else { return }
        // 0600: the last replies may name recipients.
        try? ReportFile.replace(path, with: text, mode: 0o600)
    }
}
