import Glibc
import OutboxCore
import Synchronization

/// The Postfix service a log line belongs to: Postfix's tools (pflogsumm, the Postfix
/// exporters) key on `NAME/SERVICE[pid]:` and on the service to read the rest.
public enum LogService: String, Sendable {
    /// Adoption of a drop file (`ID: uid=N from=<…>`), Postfix's pickup.
    case pickup
    /// Queue manager: `from=<…>, size=…, nrcpt=… (queue active)`, `removed`, `expired`.
    case qmgr
    /// Delivery attempts and smarthost sessions.
    case smtp
    /// Non-delivery notifications.
    case bounce
    /// The daemon's own life: start, stop, reload, signals (Postfix's master).
    case master
    /// outboxctl's queue edits (Postfix's postsuper).
    case postsuper
}

/// One line per event, to syslog (facility mail) and stderr, in Postfix's shapes: the tag
/// is `syslog_name/SERVICE[pid]`, warnings start with `warning: `. Never given a secret.
///
/// Syslog is spoken directly on the local datagram socket (RFC 3164 framing, as glibc's
/// syslog(3) does) because syslog(3)'s tag is one per process, and each line needs its
/// service's.
public final class DeliveryLog: @unchecked Sendable {
    private struct Target {
        var stderr: Bool
        var syslog: Bool
        var name: String
        var socketPath: String
        var socket: Int32 = -1
    }
    private let target: Mutex<Target>
    private let defaultService: LogService

    /// `stderr` is skipped when it is the journal and syslog is on (systemd sets
    /// JOURNAL_STREAM): journald receives the syslog line already.
    public init(stderr: Bool = true, syslog: Bool = true, service: LogService = .master, name: String = "outbox") {
        let duplicate = syslog && DeliveryLog.stderrIsJournal()
        target = Mutex(Target(stderr: stderr && !duplicate, syslog: syslog, name: name, socketPath: "/dev/log"))
        defaultService = service
    }

    deinit { target.withLock { if $0.socket >= 0 { close($0.socket) } } }

    /// Applies syslog_name and syslog_socket once the configuration is known.
    public func configure(name: String, socketPath: String) {
        target.withLock { t in
            if t.socketPath != socketPath, t.socket >= 0 {
                close(t.socket)
                t.socket = -1
            }
            t.name = name
            t.socketPath = socketPath
        }
    }

    public enum Level { case info, warning, error }

    public func line(_ level: Level, _ service: LogService? = nil, _ text: String) {
        let clean = EnvelopeSyntax.logLine(text)
        let prefix = level == .warning ? "warning: " : level == .error ? "error: " : ""
        let service = service ?? defaultService
        target.withLock { t in
            if t.stderr {
                let bytes = Array((prefix + clean + "\n").utf8)
                _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            }
            if t.syslog {
                let priority = (level == .info ? LOG_INFO : level == .warning ? LOG_WARNING : LOG_ERR) | LOG_MAIL
                send(&t, SyslogFormat.datagram(priority: priority, tag: "\(t.name)/\(service.rawValue)", pid: getpid(), text: prefix + clean))
            }
        }
    }

    /// One datagram; reconnects once when the receiver went away (journald restarted).
    private func send(_ t: inout Target, _ datagram: [UInt8]) {
        for _ in 0..<2 {
            if t.socket < 0 { t.socket = DeliveryLog.connect(t.socketPath) }
            guard t.socket >= 0 else { return }
            let sent = datagram.withUnsafeBytes { Glibc.send(t.socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent >= 0 { return }
            close(t.socket)
            t.socket = -1
        }
    }

    private static func connect(_ path: String) -> Int32 {
        // The control socket's address builder: the same sockaddr_un, the same length check.
        guard var address = try? ControlSocket.socketAddress(path) else { return -1 }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return -1 }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 {
            close(fd)
            return -1
        }
        return fd
    }

    /// systemd's documented test: JOURNAL_STREAM names the device and inode of stderr.
    private static func stderrIsJournal() -> Bool {
        guard let value = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return value == "\(st.st_dev):\(st.st_ino)"
    }

    public func info(_ text: String) { line(.info, nil, text) }
    public func warning(_ text: String) { line(.warning, nil, text) }
    public func error(_ text: String) { line(.error, nil, text) }
    public func info(_ service: LogService, _ text: String) { line(.info, service, text) }
    public func warning(_ service: LogService, _ text: String) { line(.warning, service, text) }
    public func error(_ service: LogService, _ text: String) { line(.error, service, text) }
}

/// RFC 3164 framing as glibc's syslog(3) writes it to the local socket:
/// `<PRI>Mmm dd hh:mm:ss TAG[PID]: TEXT` (local time; the receiver adds the host name).
public enum SyslogFormat {
    /// Longer lines are cut: datagram receivers truncate or drop them anyway.
    static let maximumText = 8000

    /// `text` cut to `maximumText` octets at a character boundary (a split UTF-8 sequence
    /// makes journald store the whole line as a blob).
    static func cut(_ text: String) -> ArraySlice<UInt8> {
        let bytes = Array(text.utf8)
        guard bytes.count > maximumText else { return bytes[...] }
        var end = maximumText
        while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
        return bytes[..<end]
    }

    public static func datagram(priority: Int32, tag: String, pid: Int32, text: String, time: time_t = time(nil)) -> [UInt8] {
        var t = time
        var parts = tm()
        localtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let n = strftime(&buffer, buffer.count, "%b %e %H:%M:%S", &parts)
        let stamp = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var out = Array("<\(priority)>\(stamp) \(tag)[\(pid)]: ".utf8)
        out += cut(text)
        return out
    }
}
