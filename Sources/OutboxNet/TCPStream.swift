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

    /// Resolves `host` and connects to its addresses as RFC 8305 (Happy Eyeballs) does:
    /// when an attempt has not answered within `stagger` seconds the next address is
    /// tried beside it, and the first that connects wins. An address that swallows SYNs
    /// (a dead IPv6 path) then costs `stagger`, not the whole connect timeout. Addresses
    /// that failed lately are tried last (`AddressOrder`).
    public static func connect(host: String, port: UInt16, deadline: Deadline, stagger: Double = 0.25) throws(TransportError) -> TCPStream {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw .resolve(host: host, reason: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(first) }
        var resolved: [UnsafeMutablePointer<addrinfo>] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let ai = cursor {
            resolved.append(ai)
            cursor = ai.pointee.ai_next
        }
        let numeric = resolved.map { numericAddress($0.pointee.ai_addr, $0.pointee.ai_addrlen) }
        let order = AddressOrder.arrange(
            resolved.indices.map { (numeric[$0], resolved[$0].pointee.ai_family == AF_INET6) }, failedLately: AddressOrder.shared.failed(port: port))

        var lastError = TransportError.connect(peer: "\(host):\(port)", reason: "no address")
        var attempts: [(fd: Int32, index: Int)] = []
        func fail(_ index: Int, _ error: TransportError) {
            lastError = error
            AddressOrder.shared.noteFailure(numeric[index], port: port)
        }
        var next = 0
        while true {
            if next < order.count {
                let index = order[next]
                next += 1
                let ai = resolved[index]
                let peer = "\(host)[\(numeric[index])]:\(port)"
                let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                if fd < 0 {
                    fail(index, .io("socket", errno: errno))
                    continue
                }
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 {
                    for a in attempts { Glibc.close(a.fd) }
                    AddressOrder.shared.noteSuccess(numeric[index], port: port)
                    return TCPStream(fd: fd, peer: peer, address: numeric[index])
                }
                if errno != EINPROGRESS {
                    fail(index, .connect(peer: peer, reason: String(cString: strerror(errno))))
                    Glibc.close(fd)
                    continue
                }
                attempts.append((fd, index))
            }
            if attempts.isEmpty { throw lastError }
            let remaining = deadline.remainingMilliseconds
            let wait = next < order.count ? min(remaining, Int32(stagger * 1000)) : remaining
            var fds = attempts.map { pollfd(fd: $0.fd, events: Int16(POLLOUT), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), wait)
            if ready < 0 && errno != EINTR {
                let error = TransportError.io("poll", errno: errno)
                for a in attempts { Glibc.close(a.fd) }
                throw error
            }
            let round = ConnectRound(attempts: attempts) { k, a in
                guard fds[k].revents != 0 else { return nil }
                var soError: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(a.fd, SOL_SOCKET, SO_ERROR, &soError, &len)
                return soError
            }
            for (a, error) in round.failed {
                fail(a.index, .connect(peer: "\(host)[\(numeric[a.index])]:\(port)", reason: String(cString: strerror(error))))
            }
            for a in round.toClose { Glibc.close(a.fd) }
            if let a = round.winner {
                AddressOrder.shared.noteSuccess(numeric[a.index], port: port)
                return TCPStream(fd: a.fd, peer: "\(host)[\(numeric[a.index])]:\(port)", address: numeric[a.index])
            }
            attempts = round.pending
            if deadline.remainingMilliseconds == 0 {
                for a in attempts {
                    fail(a.index, .timeout("connecting to \(host)[\(numeric[a.index])]:\(port)"))
                    Glibc.close(a.fd)
                }
                throw lastError
            }
        }
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

/// What one poll round over the pending connection attempts decided: the attempt that
/// connected, the ones that failed, the ones still pending, and the descriptors to close
/// now, each exactly once (a descriptor closed twice may by then belong to another
/// thread's file).
struct ConnectRound<Attempt> {
    var winner: Attempt?
    var failed: [(Attempt, Int32)] = []
    var pending: [Attempt] = []
    var toClose: [Attempt] = []

    /// `outcome` (given an attempt and its position) is nil for an attempt still in progress, 0 for one that connected and
    /// the errno for one that failed. The first to connect wins; every other attempt,
    /// failed or pending or not yet looked at, is closed.
    init(attempts: [Attempt], outcome: (Int, Attempt) -> Int32?) {
        for (k, a) in attempts.enumerated() {
            if winner != nil {
                toClose.append(a)
                continue
            }
            switch outcome(k, a) {
            case nil: pending.append(a)
            case 0?: winner = a
            case let error?:
                failed.append((a, error))
                toClose.append(a)
            }
        }
        if winner != nil {
            toClose += pending
            pending = []
        }
    }
}
