import COutboxDaemon
import Glibc
import OutboxCore

/// outboxd's control socket, a UNIX stream socket at queue/control. The queue directory is
/// 0700 outbox, so only root and outbox can connect: the socket itself needs no
/// authentication. One request line in, reply lines out, then close.
public enum ControlSocket {
    /// The longest request accepted.
    static let maximumRequest = 1 << 16

    /// Binds and listens (non-blocking) at `path`, replacing a stale socket: only the
    /// holder of the queue lock calls this, so no other daemon is using it.
    public static func listen(at path: String) throws(SystemError) -> FileDescriptor {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket", path: path) }
        let listener = FileDescriptor(owning: fd, path: path)  // closed on every failure below
        var address = try socketAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 8) == 0 else { throw SystemError("bind", path: path) }
        return listener
    }

    /// Accepts one pending connection and reads its request line (within two seconds);
    /// nil when there is none or it sent nothing usable.
    public static func accept(on listener: borrowing FileDescriptor) -> Request? {
        let fd = coutbox_accept_cloexec(listener.rawValue)
        guard fd >= 0 else { return nil }
        let connection = FileDescriptor(owning: fd, path: listener.path)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while request.count < maximumRequest, !request.contains(10) {
            guard let n = try? connection.read(into: &buffer), n > 0 else { break }
            request += buffer.prefix(n)
        }
        guard let newline = request.firstIndex(of: 10) else { return nil }
        return Request(connection: connection, line: String(decoding: request[..<newline], as: UTF8.self), peerUID: coutbox_peer_uid(fd))
    }

    /// Sends `request` to the daemon listening at `path` and returns its reply lines;
    /// nil when no daemon listens there.
    public static func send(_ request: String, to path: String, timeout: Int = 30) throws(SystemError) -> [String]? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket", path: path) }
        let connection = FileDescriptor(owning: fd, path: path)
        var address = try socketAddress(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected != 0 {
            if errno == ECONNREFUSED || errno == ENOENT { return nil }
            throw SystemError("connect", path: path)
        }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        try connection.writeAll(request + "\n")
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try connection.read(into: &buffer)
            if n == 0 { break }
            reply += buffer.prefix(n)
        }
        return String(decoding: reply, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// One accepted request: the connection (closed when this goes) and its line.
    public struct Request: ~Copyable {
        public let connection: FileDescriptor
        public let line: String
        /// The client's uid from SO_PEERCRED, -1 when unknown.
        public let peerUID: Int
    }

    static func socketAddress(_ path: String) throws(SystemError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw SystemError("bind", path: path, errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return address
    }
}
