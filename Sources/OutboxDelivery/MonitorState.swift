import OutboxCore
import OutboxSupport

/// What outboxd has counted and noticed, for `outboxctl metrics`, `metrics_file`,
/// `outboxctl status` and the alerts: counters since the spool was created, per-smarthost
/// health, open incidents. Kept in queue/monitor (private to outbox) as text, so that
/// counters survive restarts and outboxctl reads what the daemon saw. Pure value.
///
///     c outbox_deliveries_total{status="sent",dsn_class="2"} 12
///     h connection_setup 3 0.42 0 1 3 3 3 3 3 3 3     (count, sum, cumulative buckets)
///     s smtp://smarthost.test:587 1 1795420000 1795410000 last error text
///     i auth 1795420000 1 535 5.7.8 Authentication failed
///     f 1795420000 451 4.3.0 reply of the first failure since the last success
///     b 1000 1795419999                               (uid, last message held: an open burst)
///     u 1000 1795419990 1795419995*3                  (uid, adoptions user_rate_limit counted: time*n)
public struct MonitorState: Equatable, Sendable {
    /// Counter series (`name{labels}`) → value.
    public var counters: [String: Double] = [:]
    /// Delivery delay per Postfix stage.
    public var delays: [String: Histogram] = [:]
    public var smarthosts: [String: SmarthostHealth] = [:]
    /// Open incidents by kind: since when, whether announced, the reply that opened it.
    public var incidents: [IncidentKind: Incident] = [:]
    /// Delivery has been failing since (cleared by a success), with the last reply.
    public var failingSince: Int?
    public var lastFailure = ""
    /// user_rate_limit's window and open bursts (UserRateWindow, RateBursts), kept so that
    /// a restart neither opens a fresh window nor closes an incident that is still going.
    public var userRateCounted: [Int: [Int]] = [:]
    public var userRateHeld: [Int: Int] = [:]

    public init() {}

    public struct Histogram: Equatable, Sendable {
        /// Upper bounds, seconds (Prometheus `le`); +Inf is the count.
        public static let bounds: [Double] = [0.1, 0.5, 1, 5, 10, 60, 300, 3600, 86400]
        public var count = 0
        public var sum = 0.0
        public var buckets = [Int](repeating: 0, count: bounds.count)

        public mutating func observe(_ value: Double) {
            count += 1
            sum += value
            for (i, bound) in Histogram.bounds.enumerated() where value <= bound { buckets[i] += 1 }
        }
    }

    public struct SmarthostHealth: Equatable, Sendable {
        public var up = false
        public var lastSuccess = 0
        public var lastFailure = 0
        public var lastError = ""
    }

    public enum IncidentKind: String, Sendable, CaseIterable, Comparable {
        /// The smarthost refused AUTH (or no token could be had).
        case auth
        /// The smarthost's certificate did not verify.
        case certificate
        /// Nothing delivered for alert_after while mail waits.
        case delivery
        /// A submitting user passed user_rate_limit: their new mail is held.
        case userRate = "user_rate"

        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    public struct Incident: Equatable, Sendable {
        public var since: Int
        public var announced: Bool
        public var reason: String
    }

    /// The stages of Postfix's delays=, with the Postfix exporters' label values.
    public static let stageNames = ["before_queue_manager", "queue_manager", "connection_setup", "transmission"]

    public mutating func add(_ series: String, _ amount: Double = 1) { counters[series, default: 0] += amount }

    // MARK: - Text form

    public func encoded() -> String {
        var out = ""
        for (series, value) in counters.sorted(by: { $0.key < $1.key }) { out += "c \(series) \(PrometheusText.number(value))\n" }
        for (stage, h) in delays.sorted(by: { $0.key < $1.key }) {
            out += "h \(stage) \(h.count) \(PrometheusText.number(h.sum)) " + h.buckets.map(String.init).joined(separator: " ") + "\n"
        }
        for (host, s) in smarthosts.sorted(by: { $0.key < $1.key }) {
            out += "s \(host) \(s.up ? 1 : 0) \(s.lastSuccess) \(s.lastFailure) \(MonitorState.oneLine(s.lastError))\n"
        }
        for (kind, i) in incidents.sorted(by: { $0.key < $1.key }) {
            out += "i \(kind.rawValue) \(i.since) \(i.announced ? 1 : 0) \(MonitorState.oneLine(i.reason))\n"
        }
        if let since = failingSince { out += "f \(since) \(MonitorState.oneLine(lastFailure))\n" }
        for (uid, last) in userRateHeld.sorted(by: { $0.key < $1.key }) { out += "b \(uid) \(last)\n" }
        // Last, and compact: a high user_rate_limit counts many adoptions, and the file is
        // read with a size limit (a line per time made it unreadable whole: found by review).
        for (uid, times) in userRateCounted.sorted(by: { $0.key < $1.key }) where !times.isEmpty {
            out +=
                "u \(uid) " + MonitorState.grouped(times).map { $0.count == 1 ? "\($0.time)" : "\($0.time)*\($0.count)" }.joined(separator: " ")
                + "\n"
        }
        return out
    }

    /// Unknown or malformed lines are skipped: the file is outboxd's own, and a damaged
    /// one costs counts, never the daemon.
    public static func decode(_ text: String) -> MonitorState {
        var state = MonitorState()
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: false)
            switch (f.first, f.count) {
            case ("c", 3):
                if let v = Double(f[2]), v.isFinite { state.counters[String(f[1])] = v }
            case ("h", _) where f.count >= 4:
                let rest = line.split(separator: " ").dropFirst(2)
                let numbers = rest.compactMap { Double($0) }
                // Int(exactly:): nan, inf or 1e300 in a damaged file must not trap outboxd.
                let counts = numbers.map { Int(exactly: $0.rounded(.towardZero)) }
                guard numbers.count == 2 + Histogram.bounds.count, stageNames.contains(String(f[1])), numbers[1].isFinite,
                    counts.enumerated().allSatisfy({ $0.offset == 1 || ($0.element ?? -1) >= 0 })
                else { continue }
                var h = Histogram()
                h.count = counts[0]!
                h.sum = numbers[1]
                h.buckets = counts.dropFirst(2).map { $0! }
                state.delays[String(f[1])] = h
            case ("s", 5), ("s", 6):
                guard let last = Int(f[3]), let failed = Int(f[4]), MonitorState.plausible(last), MonitorState.plausible(failed) else { continue }
                state.smarthosts[String(f[1])] = SmarthostHealth(
                    up: f[2] == "1", lastSuccess: last, lastFailure: failed, lastError: f.count == 6 ? String(f[5]) : "")
            case ("i", _) where f.count >= 4:
                guard let kind = IncidentKind(rawValue: String(f[1])), let since = Int(f[2]), MonitorState.plausible(since) else { continue }
                let reason = line.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: false).dropFirst(4).first.map(String.init) ?? ""
                state.incidents[kind] = Incident(since: since, announced: f[3] == "1", reason: reason)
            case ("f", _) where f.count >= 2:
                guard let since = Int(f[1]), MonitorState.plausible(since) else { continue }
                state.failingSince = since
                state.lastFailure =
                    line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).dropFirst(2).first.map(String.init) ?? ""
            case ("u", _) where f.count >= 3:
                var times: [Int] = []
                for group in line.split(separator: " ").dropFirst(2) {
                    let parts = group.split(separator: "*", maxSplits: 1)
                    guard let time = Int(parts[0]), MonitorState.plausible(time) else { continue }
                    let n = parts.count == 2 ? Int(parts[1]) ?? 0 : 1
                    // A damaged count must not make outboxd allocate without bound.
                    guard n > 0, times.count + n <= MonitorState.maximumKeptAdoptions else { continue }
                    times += repeatElement(time, count: n)
                }
                guard let uid = UInt32(f[1]), !times.isEmpty else { continue }
                state.userRateCounted[Int(uid)] = times
            case ("b", 3):
                guard let uid = UInt32(f[1]), let last = Int(f[2]), MonitorState.plausible(last) else { continue }
                state.userRateHeld[Int(uid)] = last
            default: continue
            }
        }
        return state
    }

    /// At most this many adoptions per uid are read back (user_rate_limit's count is lower).
    static let maximumKeptAdoptions = 10_000_000
    /// At most this many groups per uid are written: beyond, times are rounded up.
    static let maximumGroups = 256

    /// Adoption times as (time, how many) groups, at most `maximumGroups`: when there are
    /// more distinct times, each is rounded up to a coarser step. Rounding up keeps an
    /// adoption counted a little longer, never shorter: the limit is not loosened.
    static func grouped(_ times: [Int]) -> [(time: Int, count: Int)] {
        let sorted = times.sorted()
        guard let first = sorted.first, let last = sorted.last else { return [] }
        let step = max(1, (last - first) / maximumGroups + 1)
        var groups: [(time: Int, count: Int)] = []
        for time in sorted {
            // Rounded up to the step from the last time, so the last stays exact.
            let rounded = last - (last - time) / step * step
            if groups.last?.time == rounded { groups[groups.count - 1].count += 1 } else { groups.append((rounded, 1)) }
        }
        return groups
    }

    /// An epoch time that `now - t` cannot overflow with (0 up to year ~5000).
    static func plausible(_ t: Int) -> Bool { t >= 0 && t < 100_000_000_000 }

    static func oneLine(_ text: String) -> String { EnvelopeSyntax.printable(text, limit: 300) }

    /// queue/monitor below the spool.
    public static func path(spool: String) -> String { spool + "/queue/monitor" }

    public static func read(spool: String) -> MonitorState? {
        // Whatever fits: the lines are written most important first.
        ReportFile.read(path(spool: spool), truncating: true).map(decode)
    }
}
