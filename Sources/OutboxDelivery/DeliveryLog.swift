import Glibc
import OutboxCore
import Synchronization

/// One line per event, to syslog (facility mail) and stderr, in the key=value shape admins
/// grep for in Postfix logs: `ID: to=<rcpt>, relay=host[ip]:port, delay=…, status=sent (…)`.
/// Never given a secret.
public final class DeliveryLog: @unchecked Sendable {
    private let toStderr: Bool
    private let toSyslog: Bool
    /// One line at a time on stderr, from every thread.
    private let lock = Mutex(())

    public init(stderr: Bool = true, syslog: Bool = true, identity: String = "outboxd") {
        toStderr = stderr
        toSyslog = syslog
        if syslog { openlog(strdup(identity), LOG_PID | LOG_NDELAY, LOG_MAIL) }
    }

    public enum Level { case info, warning, error }

    public func line(_ level: Level, _ text: String) {
        let clean = String(text.map { $0.isLineBreak ? " " : $0 })
        lock.withLock { _ in write(level, clean) }
    }

    private func write(_ level: Level, _ clean: String) {
        if toStderr {
            let prefix = level == .warning ? "warning: " : level == .error ? "error: " : ""
            let bytes = Array((prefix + clean + "\n").utf8)
            _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
        }
        if toSyslog {
            let priority = level == .info ? LOG_INFO : level == .warning ? LOG_WARNING : LOG_ERR
            clean.withCString { text in withVaList([text]) { vsyslog(priority, "%s", $0) } }
        }
    }

    public func info(_ text: String) { line(.info, text) }
    public func warning(_ text: String) { line(.warning, text) }
    public func error(_ text: String) { line(.error, text) }
}
