import Glibc

/// systemd's notification protocol (sd_notify(3)) without libsystemd: one datagram of
/// `KEY=value` lines to the socket named by NOTIFY_SOCKET (a path, or `@name` in the
/// abstract namespace). READY=1 when outboxd serves, STATUS= for `systemctl status`.
public final class SystemdNotify: @unchecked Sendable {
    private let address: [UInt8]?
    private var last: String?

    /// Takes NOTIFY_SOCKET out of the environment (before any thread starts), so that no
    /// child command inherits it.
    public init() {
        if let value = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), value.hasPrefix("/") || value.hasPrefix("@") {
            var bytes = Array(value.utf8)
            if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
            address = bytes
        } else {
            address = nil
        }
        unsetenv("NOTIFY_SOCKET")
    }

    public var isActive: Bool { address != nil }

    /// Sends `fields` (e.g. "READY=1", "STATUS=…"); STATUS is only sent when it changed.
    public func send(_ fields: [String]) {
        guard let address else { return }
        let text = fields.joined(separator: "\n")
        guard text != last else { return }
        last = text
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var sa = sockaddr_un()
        sa.sun_family = sa_family_t(AF_UNIX)
        guard address.count < MemoryLayout.size(ofValue: sa.sun_path) else { return }
        withUnsafeMutableBytes(of: &sa.sun_path) { raw in
            for (i, b) in address.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + address.count + (address.first == 0 ? 0 : 1))
        let bytes = Array(text.utf8)
        _ = withUnsafePointer(to: &sa) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL), $0, length) }
        }
    }
}
