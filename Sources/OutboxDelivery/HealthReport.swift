import OutboxCore

/// The one-line health verdict of `outboxctl status` and systemd's STATUS=, shaped like a
/// monitoring plugin's output (`OUTBOX OK - … | perfdata`) with its exit code: 0 OK,
/// 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Pure.
public struct HealthReport: Equatable, Sendable {
    public enum Level: Int32, Sendable, Comparable {
        case ok = 0, warning = 1, critical = 2, unknown = 3
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
        var word: String {
            switch self {
            case .ok: "OK"
            case .warning: "WARNING"
            case .critical: "CRITICAL"
            case .unknown: "UNKNOWN"
            }
        }
    }

    public var level: Level
    public var line: String

    /// Default thresholds on the oldest waiting message's age, seconds.
    public static let defaultWarning = 3600
    public static let defaultCritical = 4 * 3600

    /// CRITICAL on an open AUTH or certificate incident, or when the oldest waiting
    /// message passed `critical` seconds; WARNING past `warning` seconds, or while
    /// user_rate_limit holds mail. That outboxd is
    /// not running is said, but does not change the verdict: a stopped daemon shows as
    /// mail growing old, and `outboxd --once` setups have none running.
    public static func evaluate(
        state: MonitorState, queue: QueueGauges, now: Int, warning: Int, critical: Int, daemonRunning: Bool
    ) -> HealthReport {
        let waiting = queue.waiting
        let age = queue.oldestWaiting.map { max(0, now - $0) } ?? 0
        var level = Level.ok
        var problems: [String] = []
        for kind in [MonitorState.IncidentKind.auth, .certificate] {
            guard let incident = state.incidents[kind] else { continue }
            level = .critical
            let what = kind == .auth ? "AUTH refused" : "certificate not verified"
            problems.append("\(what) since \(duration(now - incident.since)) ago: \(EnvelopeSyntax.printable(incident.reason, limit: 160))")
        }
        // Storm control holds mail until an admin looks: worth a WARNING, not a page.
        if let incident = state.incidents[.userRate] {
            level = max(level, .warning)
            problems.append(
                "mail held by user_rate_limit since \(duration(now - incident.since)) ago: \(EnvelopeSyntax.printable(incident.reason, limit: 160))")
        }
        if age >= critical {
            level = .critical
        } else if age >= warning {
            level = max(level, .warning)
        }
        if !daemonRunning && waiting > 0 { problems.append("outboxd is not running") }
        // What could not be read cannot be vouched for: never an OK over it.
        if queue.unreadable > 0 {
            level = max(level, .warning)
            problems.append("\(queue.unreadable) queue file\(queue.unreadable == 1 ? "" : "s") unreadable (see mailq)")
        }
        var summary = waiting == 0 ? "queue empty" : "\(waiting) message\(waiting == 1 ? "" : "s") waiting, oldest \(duration(age))"
        let held = queue.messages["hold"] ?? 0
        if held > 0 { summary += ", \(held) on hold" }
        if let since = state.failingSince, waiting > 0, state.incidents[.auth] == nil, state.incidents[.certificate] == nil {
            summary += ", delivery failing for \(duration(now - since)): \(EnvelopeSyntax.printable(state.lastFailure, limit: 160))"
        }
        let text = (problems + [summary]).joined(separator: "; ")
        let perf = "waiting=\(waiting);;;0 oldest=\(age)s;\(warning);\(critical);0 hold=\(held);;;0 corrupt=\(queue.messages["corrupt"] ?? 0);;;0"
        return HealthReport(level: level, line: "OUTBOX \(level.word) - \(String(text.map { $0 == "|" ? "/" : $0 })) | \(perf)")
    }

    /// "42s", "5m", "3h12m", "2d4h".
    public static func duration(_ seconds: Int) -> String {
        let s = max(0, seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86400 { return s % 3600 / 60 == 0 ? "\(s / 3600)h" : "\(s / 3600)h\(s % 3600 / 60)m" }
        return s % 86400 / 3600 == 0 ? "\(s / 86400)d" : "\(s / 86400)d\(s % 86400 / 3600)h"
    }
}
