import Foundation
import OutboxCore
import OutboxNet
import OutboxSMTP
import OutboxSpool
import OutboxSupport
import Testing

@testable import OutboxDelivery

@Suite("Postfix log lines, metrics state, incidents and the health line (pure)")
struct ObservabilityCoreTests {
    @Test("delays are printed at Postfix's resolution")
    func seconds() {
        let cases: [(Double, String)] = [
            (0, "0"), (0.004, "0"), (0.005, "0.01"), (0.05, "0.05"), (0.1, "0.1"), (0.456, "0.46"), (0.999, "1"),
            (1, "1"), (1.04, "1"), (1.25, "1.3"), (9.94, "9.9"), (10, "10"), (13.9, "13"), (3600.5, "3600"), (-1, "0"), (.nan, "0"),
        ]
        for (value, text) in cases { #expect(PostfixLogLine.seconds(value) == text, "\(value)") }
    }

    @Test("the delivery line has Postfix's fields in Postfix's order; delays add up to delay")
    func deliveryLine() {
        let timing = PostfixLogLine.Timing(arrival: 100, adopted: 100.25, setup: 0.5, transfer: 0.125, connectionUse: 3)
        let line = PostfixLogLine.delivery(
            id: "ID1", to: "a@example.net", original: "root", relay: "smtp.example.com[192.0.2.1]:587", timing: timing, now: 110,
            dsn: "2.0.0", status: "sent", reply: "250 2.0.0 Ok", attempts: 2)
        #expect(
            line
                == "ID1: to=<a@example.net>, orig_to=<root>, relay=smtp.example.com[192.0.2.1]:587, conn_use=3, delay=10, delays=0.25/9.1/0.5/0.13, dsn=2.0.0, status=sent (250 2.0.0 Ok), tries=2"
        )
        let first = PostfixLogLine.Timing(arrival: 100, adopted: 100, connectionUse: 1)
        #expect(
            !PostfixLogLine.delivery(
                id: "I", to: "a@b", original: nil, relay: "none", timing: first, now: 100, dsn: "4.4.1", status: "deferred", reply: "x", attempts: 1
            ).contains("conn_use"))
        // A clock step backwards never yields negative stages.
        let s = PostfixLogLine.Timing(arrival: 200, adopted: 250, setup: 5, transfer: 5).stages(now: 201)
        #expect(s.total == 1 && s.a == 1 && s.b == 0 && s.c == 5 && s.d == 5)
    }

    @Test("queue/monitor round-trips; damaged lines are skipped")
    func monitorStateText() {
        var state = MonitorState()
        state.add("outbox_deliveries_total{status=\"sent\",dsn_class=\"2\"}", 3)
        state.delays["transmission", default: .init()].observe(0.3)
        state.delays["transmission", default: .init()].observe(700)
        state.smarthosts["smtp://relay.example:587"] = .init(up: true, lastSuccess: 1000, lastFailure: 900, lastError: "connect to x: refused")
        _ = state.failed("535 5.7.8 bad\ncredentials", kind: .auth, now: 950, waiting: 2)
        state.userRateCounted = [1000: [940, 945, 949], 0: [900]]
        state.userRateHeld = [1000: 950]
        let decoded = MonitorState.decode(
            state.encoded() + "garbage line\nc broken\nh transmission 1 2\nh queue_manager nan 1 1e300 inf 0 0 0 0 0 0 0\n"
                + "i delivery -9223372036854775808 1 x\nu -1 5\nu 7 x\nb 8 -3\nb 9\n")
        #expect(decoded.userRateCounted == state.userRateCounted && decoded.userRateHeld == state.userRateHeld)
        #expect(decoded.counters == state.counters)
        #expect(decoded.delays == state.delays)
        #expect(decoded.smarthosts == state.smarthosts)
        #expect(
            decoded.incidents[.auth]?.since == 950 && decoded.incidents[.auth]?.reason.contains("\n") == false
                && decoded.incidents[.auth]?.reason.hasSuffix("credentials") == true)
        #expect(decoded.failingSince == 950 && decoded.delays["queue_manager"] == nil && decoded.incidents[.delivery] == nil)
        #expect(state.delays["transmission"]!.buckets == [0, 1, 1, 1, 1, 1, 1, 2, 2] && state.delays["transmission"]!.count == 2)
    }

    @Test("incidents: AUTH at once and once; delivery after alert_after; each recovers once")
    func incidents() {
        var s = MonitorState()
        var events = s.failed("535 refused", kind: .auth, now: 100, waiting: 1)
        #expect(events.map(\.phase) == [.incident] && events[0].kind == .auth)
        #expect(s.failed("535 refused", kind: .auth, now: 160, waiting: 1).isEmpty, "not again while open")
        #expect(s.tick(now: 200, waiting: 1, alertAfter: 3600).isEmpty)
        events = s.tick(now: 3700, waiting: 1, alertAfter: 3600)
        #expect(events.map(\.kind) == [.delivery] && events[0].since == 100)
        #expect(s.tick(now: 3800, waiting: 1, alertAfter: 3600).isEmpty)
        events = s.sessionSucceeded(now: 3900, waiting: 1)
        #expect(events.map(\.kind) == [.auth] && events[0].phase == .recovery)
        events = s.delivered(now: 3901, waiting: 0)
        #expect(events.map(\.kind) == [.delivery] && s.incidents.isEmpty && s.failingSince == nil)
        // Failures with an empty queue are no incident; an emptied queue ends one.
        _ = s.failed("451 later", kind: nil, now: 4000, waiting: 0)
        #expect(s.tick(now: 9000, waiting: 0, alertAfter: 60).isEmpty && s.failingSince == nil)
    }

    @Test("which session failures are incidents")
    func incidentKinds() {
        let reply = SMTPReply(code: 535, lines: ["5.7.8 no"])
        #expect(MonitorState.incidentKind(of: .rejected(stage: "AUTH PLAIN", reply: reply)) == .auth)
        #expect(MonitorState.incidentKind(of: .rejected(stage: "AUTH PLAIN", reply: SMTPReply(code: 454, lines: ["4.7.0 later"]))) == nil)
        #expect(MonitorState.incidentKind(of: .credentials("no access token")) == .auth)
        #expect(MonitorState.incidentKind(of: .transport(.tls("certificate verify failed: hostname mismatch for x (y)"))) == .certificate)
        #expect(MonitorState.incidentKind(of: .transport(.connect(peer: "x", reason: "refused"))) == nil)
    }

    @Test("the health line: levels, thresholds, perfdata")
    func health() {
        var queue = QueueGauges()
        let empty = HealthReport.evaluate(state: MonitorState(), queue: queue, now: 1000, warning: 60, critical: 120, daemonRunning: true)
        #expect(empty.level == .ok && empty.line == "OUTBOX OK - queue empty | waiting=0;;;0 oldest=0s;60;120;0 hold=0;;;0 corrupt=0;;;0")
        queue.add("deferred", size: 10, arrival: 900)
        queue.add("hold", size: 10)
        #expect(HealthReport.evaluate(state: MonitorState(), queue: queue, now: 950, warning: 60, critical: 120, daemonRunning: true).level == .ok)
        let warning = HealthReport.evaluate(state: MonitorState(), queue: queue, now: 1000, warning: 60, critical: 120, daemonRunning: false)
        #expect(warning.level == .warning && warning.line.contains("outboxd is not running; 1 message waiting, oldest 1m, 1 on hold"))
        #expect(
            HealthReport.evaluate(state: MonitorState(), queue: queue, now: 1020, warning: 60, critical: 120, daemonRunning: true).level == .critical)
        var state = MonitorState()
        _ = state.failed("cert | bad", kind: .certificate, now: 990, waiting: 1)
        let critical = HealthReport.evaluate(state: state, queue: queue, now: 1000, warning: 600, critical: 1200, daemonRunning: true)
        #expect(critical.level == .critical && critical.line.hasPrefix("OUTBOX CRITICAL - certificate not verified since 10s ago: cert / bad;"))
        #expect(critical.line.components(separatedBy: "|").count == 2, "one | only: the perfdata separator")
        var unread = QueueGauges()
        unread.unreadable = 2
        let vouch = HealthReport.evaluate(state: MonitorState(), queue: unread, now: 0, warning: 60, critical: 120, daemonRunning: true)
        #expect(vouch.level == .warning && vouch.line.contains("2 queue files unreadable"), "\(vouch.line)")
        #expect(HealthReport.duration(3 * 3600 + 12 * 60) == "3h12m" && HealthReport.duration(2 * 86400) == "2d")
    }

    @Test("Prometheus text: label escaping, numbers, every family typed")
    func prometheus() {
        #expect(PrometheusText.label("a\"b\\c\nd") == "\"a\\\"b\\\\c\\nd\"")
        #expect(PrometheusText.number(3) == "3" && PrometheusText.number(0.25) == "0.25" && PrometheusText.number(.infinity) == "+Inf")
        let text = PrometheusText.render(.init(state: MonitorState(), queue: QueueGauges(), now: 0, freeBytes: 5, daemonRunning: true))
        let families = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(Set(families).count == families.count && families.count >= 15)
        #expect(text.contains("outbox_deliveries_total{status=\"sent\",dsn_class=\"2\"} 0\n"))
    }
}

@Suite("syslog datagrams")
struct SyslogDatagramTests {
    /// Regression (review): the 8000-octet cut could split a UTF-8 sequence, and journald
    /// then stores the whole line as "[blob data]".
    @Test("a long line is cut at a character boundary", arguments: [0, 1, 2, 3])
    func cutAtBoundary(_ shift: Int) {
        let text = String(repeating: "x", count: shift) + String(repeating: "€", count: 4000)
        let cut = SyslogFormat.cut(text)
        #expect(cut.count <= SyslogFormat.maximumText && cut.count > SyslogFormat.maximumText - 3)
        #expect(String(validating: Array(cut), as: UTF8.self) != nil, "valid UTF-8 after a cut at \(cut.count)")
        #expect(SyslogFormat.cut("short é") == Array("short é".utf8)[...])
    }
}

@Suite("report files")
struct ReportFileTests {
    /// Review: a crash between create and rename left NAME.tmp.XXXXXXXXXX for ever.
    @Test("outboxd removes its own stale temporaries beside a report file, and nothing else")
    func staleTemporaries() throws {
        var template = Array("/tmp/outbox-report-XXXXXX".utf8CString)
        let directory = String(cString: try #require(mkdtemp(&template)))
        defer { _ = try? FileManager.default.removeItem(atPath: directory) }
        let target = directory + "/outbox.prom"
        for name in ["outbox.prom", "outbox.prom.tmp.abcdefghij", "outbox.prom.tmp.ABCDEFGH12", "outbox.prom.tmp.short", "other.tmp.abcdefghij"] {
            #expect(FileManager.default.createFile(atPath: directory + "/" + name, contents: Data("x".utf8)))
        }
        symlink("/etc/passwd", directory + "/outbox.prom.tmp.zzzzzzzzzz")
        // All but the fresh one are two minutes old.
        var old = [timeval(tv_sec: time(nil) - 120, tv_usec: 0), timeval(tv_sec: time(nil) - 120, tv_usec: 0)]
        for name in ["outbox.prom.tmp.abcdefghij", "outbox.prom.tmp.short", "other.tmp.abcdefghij"] { utimes(directory + "/" + name, &old) }
        ReportFile.removeStaleTemporaries(of: target)
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: directory))
        #expect(
            left == ["outbox.prom", "outbox.prom.tmp.ABCDEFGH12", "outbox.prom.tmp.short", "other.tmp.abcdefghij", "outbox.prom.tmp.zzzzzzzzzz"])
    }
}
