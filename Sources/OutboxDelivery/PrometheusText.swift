import OutboxCore

/// The metrics in Prometheus' text exposition format (version 0.0.4), as node_exporter's
/// textfile collector and every Prometheus parser read it. Pure: everything comes in.
public enum PrometheusText {
    public static let version = "0.1.0"

    public struct Input: Sendable {
        public var state: MonitorState
        public var queue: QueueGauges
        public var now: Int
        public var freeBytes: Int?
        public var daemonRunning: Bool

        public init(state: MonitorState, queue: QueueGauges, now: Int, freeBytes: Int?, daemonRunning: Bool) {
            self.state = state
            self.queue = queue
            self.now = now
            self.freeBytes = freeBytes
            self.daemonRunning = daemonRunning
        }
    }

    /// Counter families and the series shown at 0 before anything happened (so that
    /// rate() and alert rules work from the first scrape).
    static let counters: [(name: String, help: String, zero: [String])] = [
        ("outbox_messages_received_total", "Messages adopted from the maildrop into the queue.", [""]),
        (
            "outbox_deliveries_total", "Delivery attempts per recipient, by status and DSN class.",
            ["{status=\"sent\",dsn_class=\"2\"}", "{status=\"deferred\",dsn_class=\"4\"}", "{status=\"bounced\",dsn_class=\"5\"}"]
        ),
        ("outbox_bounces_total", "Non-delivery notifications generated.", [""]),
        ("outbox_auth_failures_total", "AUTH refusals and credential failures, by mechanism and reply code.", []),
        ("outbox_tls_connections_total", "TLS sessions with the smarthost, by protocol version and verification.", []),
    ]

    public static func render(_ input: Input) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" }
        func sample(_ series: String, _ value: Double) { out += "\(series) \(number(value))\n" }

        family("outbox_queue_messages", "gauge", "Messages in the spool by queue.")
        for state in QueueGauges.states { sample("outbox_queue_messages{state=\"\(state)\"}", Double(input.queue.messages[state] ?? 0)) }
        family("outbox_queue_bytes", "gauge", "Message bytes in the spool by queue.")
        for state in QueueGauges.states { sample("outbox_queue_bytes{state=\"\(state)\"}", Double(input.queue.bytes[state] ?? 0)) }
        family("outbox_queue_oldest_message_age_seconds", "gauge", "Age of the oldest message waiting for delivery (0 when none).")
        sample("outbox_queue_oldest_message_age_seconds", Double(input.queue.oldestWaiting.map { max(0, input.now - $0) } ?? 0))
        family("outbox_queue_unreadable_files", "gauge", "Spool files that could not be read as messages (see mailq and the log).")
        sample("outbox_queue_unreadable_files", Double(input.queue.unreadable))

        for counter in counters {
            family(counter.name, "counter", counter.help)
            var series = input.state.counters.filter { $0.key == counter.name || $0.key.hasPrefix(counter.name + "{") }
            for labels in counter.zero where series[counter.name + labels] == nil { series[counter.name + labels] = 0 }
            for (key, value) in series.sorted(by: { $0.key < $1.key }) { sample(key, value) }
        }

        family("outbox_delivery_delay_seconds", "histogram", "Delivery delay by Postfix stage (delays=a/b/c/d), per recipient.")
        for stage in MonitorState.stageNames {
            let h = input.state.delays[stage] ?? MonitorState.Histogram()
            for (bound, count) in zip(MonitorState.Histogram.bounds, h.buckets) {
                sample("outbox_delivery_delay_seconds_bucket{stage=\"\(stage)\",le=\"\(number(bound))\"}", Double(count))
            }
            sample("outbox_delivery_delay_seconds_bucket{stage=\"\(stage)\",le=\"+Inf\"}", Double(h.count))
            sample("outbox_delivery_delay_seconds_sum{stage=\"\(stage)\"}", h.sum)
            sample("outbox_delivery_delay_seconds_count{stage=\"\(stage)\"}", Double(h.count))
        }

        family("outbox_smarthost_up", "gauge", "1 when the last session with the smarthost was established, 0 when it failed.")
        for (host, s) in input.state.smarthosts.sorted(by: { $0.key < $1.key }) {
            sample("outbox_smarthost_up{smarthost=\(label(host))}", s.up ? 1 : 0)
        }
        family("outbox_smarthost_last_success_timestamp_seconds", "gauge", "When a session with the smarthost was last established.")
        for (host, s) in input.state.smarthosts.sorted(by: { $0.key < $1.key }) where s.lastSuccess > 0 {
            sample("outbox_smarthost_last_success_timestamp_seconds{smarthost=\(label(host))}", Double(s.lastSuccess))
        }
        family("outbox_incident_open", "gauge", "1 while an incident of this kind is open (see alert_command).")
        for kind in MonitorState.IncidentKind.allCases {
            sample("outbox_incident_open{kind=\"\(kind.rawValue)\"}", input.state.incidents[kind] == nil ? 0 : 1)
        }
        if let free = input.freeBytes {
            family("outbox_spool_free_bytes", "gauge", "Bytes available to unprivileged users on the spool's file system.")
            sample("outbox_spool_free_bytes", Double(free))
        }
        family("outbox_daemon_running", "gauge", "1 when outboxd holds the queue lock.")
        sample("outbox_daemon_running", input.daemonRunning ? 1 : 0)
        family("outbox_build_info", "gauge", "The outbox version, as a label.")
        sample("outbox_build_info{version=\"\(version)\"}", 1)
        return out
    }

    /// A label value in quotes with `\`, `"` and line feeds escaped, as the format asks.
    public static func label(_ value: String) -> String {
        var out = "\""
        for c in value.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }

    /// Integers without a fraction, other numbers in Swift's shortest exact form.
    public static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
