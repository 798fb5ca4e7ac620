import Glibc

/// A non-blocking TCP socket driven with poll(2) deadlines. TCP_NODELAY is set: the final
/// ".\r\n" of a message must not wait for a delayed ACK (≈40 ms per message, see DESIGN).
public final class TCPStream: ByteStream {
    public let fd: Int32
    public let peerDescription: String
    /// The numeric address connected to.
    public let peerAddress: String
    private var closed = false

    init(fd: Int32, peer: String, address: String) {
        self.fd = fd
        self.peerDescription = peer
        self.peerAddress = address
    }

    deinit { close() }

    /// Resolves `host` and connects to the first address that answers before `deadline`.
    public static func connect(host: String, port: UInt16, deadline: Deadline) throws(TransportError) -> TCPStream {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw .resolve(host: host, reason: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(first) }
        var lastError = TransportError.connect(peer: "\(host):\(port)", reason: "no address")
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let ai = cursor {
            cursor = ai.pointee.ai_next
            let address = numericAddress(ai.pointee.ai_addr, ai.pointee.ai_addrlen)
            let peer = "\(host)[\(address)]:\(port)"
            let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 {
                lastError = .io("socket", errno: errno)
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
                lastError = .connect(peer: peer, reason: String(cString: strerror(errno)))
                Glibc.close(fd)
                continue
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&pfd, 1, deadline.remainingMilliseconds)
            if ready <= 0 {
                lastError = ready == 0 ? .timeout("connecting to \(peer)") : .io("poll", errno: errno)
                Glibc.close(fd)
                continue
            }
            var soError: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
            if soError != 0 {
                lastError = .connect(peer: peer, reason: String(cString: strerror(soError)))
                Glibc.close(fd)
                continue
            }
            return TCPStream(fd: fd, peer: peer, address: address)
        }
        throw lastError
    }

    static func numericAddress(_ sa: UnsafeMutablePointer<sockaddr>?, _ len: socklen_t) -> String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard let sa, getnameinfo(sa, len, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { return "?" }
        return String(decoding: host.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Waits until the socket is readable or writable.
    public func wait(for events: Int16, deadline: Deadline, what: String) throws(TransportError) {
        var pfd = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let rc = poll(&pfd, 1, deadline.remainingMilliseconds)
            if rc > 0 { return }
            if rc == 0 { throw .timeout(what) }
            if errno != EINTR { throw .io("poll", errno: errno) }
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws(TransportError) -> Int {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            switch errno {
            case EAGAIN, EWOULDBLOCK: try wait(for: Int16(POLLIN), deadline: deadline, what: "waiting for \(peerDescription)")
            case EINTR: continue
            default: throw .io("read from \(peerDescription)", errno: errno)
            }
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) throws(TransportError) {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n >= 0 {
                offset += n
                continue
            }
            switch errno {
            case EAGAIN, EWOULDBLOCK: try wait(for: Int16(POLLOUT), deadline: deadline, what: "writing to \(peerDescription)")
            case EINTR: continue
            default: throw .io("write to \(peerDescription)", errno: errno)
            }
        }
    }

    public func close() {
        if closed { return }
        closed = true
        Glibc.close(fd)
    }
}
