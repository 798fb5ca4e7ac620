import Foundation

/// A minimal SMTP server on 127.0.0.1 that records every octet it receives, for tests that
/// must see exactly what outboxd puts on the wire (SMTP smuggling, envelope syntax). It is
/// strict where a smarthost should be: a line ends only with CRLF and DATA ends only with
/// CRLF "." CRLF; it advertises PIPELINING, 8BITMIME, DSN and SMTPUTF8, and accepts
/// everything (no TLS, no AUTH: outbox runs with tls_security_level = none against it).
final class CaptureServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var raw: [UInt8] = []
    private var commands: [String] = []
    private var messages: [[UInt8]] = []
    private var arrivals: [Double] = []

    /// Whether EHLO offers AUTH PLAIN LOGIN (any credentials are accepted).
    private let offersAuth: Bool

    /// The reply to every RCPT TO (a refusal, for tests of what outbox makes of it).
    private let rcptReply: String

    /// The loopback address it listens on.
    let address: String
    /// Sessions beyond this many at once get Microsoft 365's thread-limit reply to MAIL.
    private let concurrentLimit: Int
    /// Seconds the server takes before accepting a message's content (a slow smarthost).
    private let dataDelay: Double
    private var connected = 0
    /// How often MAIL was answered with the thread-limit reply.
    var throttled: Int { lock.withLock { throttleCount } }
    private var throttleCount = 0

    init(
        offersAuth: Bool = false, rcptReply: String = "250 2.0.0 Ok", address listenAddress: String = "127.0.0.1", concurrentLimit: Int = .max,
        dataDelay: Double = 0
    )
        throws
    {
        self.address = listenAddress
        self.concurrentLimit = concurrentLimit
        self.dataDelay = dataDelay
        self.offersAuth = offersAuth
        self.rcptReply = rcptReply
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(listenAddress)
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    deinit { close(listener) }

    /// outbox.conf lines that send to this server.
    var config: String {
        "smarthost = smtp://\(address):\(port)\ntls_security_level = none\nconnect_timeout = 5s\ncommand_timeout = 10s\n"
    }

    /// Every octet received so far, all connections in order of arrival.
    var received: [UInt8] { lock.withLock { raw } }
    /// The command lines the server acted on (outside DATA), without CRLF.
    var commandLines: [String] { lock.withLock { commands } }
    /// The content of each message received (still dot-stuffed, as on the wire).
    var contents: [[UInt8]] { lock.withLock { messages } }

    /// When each message's final "." arrived (before the reply), in arrival order.
    var arrivalTimes: [Double] { lock.withLock { arrivals } }

    /// Waits until `count` messages have arrived.
    func await(messages count: Int, seconds: Double = 15) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if contents.count >= count { return true }
            usleep(50_000)
        }
        return contents.count >= count
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            let thread = Thread { [self] in serve(fd) }
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        let position = lock.withLock {
            connected += 1
            return connected
        }
        defer {
            lock.withLock { connected -= 1 }
            close(fd)
        }
        func send(_ text: String) { _ = text.withCString { write(fd, $0, strlen($0)) } }
        send("220 capture.test ESMTP\r\n")
        var buffer: [UInt8] = []
        var inData = false
        // A transaction as a real server keeps it: RCPT and DATA need an accepted MAIL
        // (and DATA a recipient), else 503.
        var mailAccepted = false
        var recipients = 0
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { return }
            lock.withLock { raw += chunk[0..<n] }
            buffer += chunk[0..<n]
            while true {
                if inData {
                    // The end marker is CRLF "." CRLF (the data starts at a line start).
                    let marker: [UInt8] = [13, 10, 46, 13, 10]
                    var end: Int?
                    if buffer.starts(with: [46, 13, 10]) { end = 0 }
                    if end == nil, buffer.count >= 5 {
                        for i in 0...(buffer.count - 5) where buffer[i] == 13 && Array(buffer[i..<i + 5]) == marker {
                            end = i + 2
                            break
                        }
                    }
                    guard let end else { break }
                    let content = Array(buffer[..<end])
                    buffer.removeFirst(end + 3)
                    lock.withLock {
                        messages.append(content)
                        arrivals.append(Date().timeIntervalSince1970)
                    }
                    inData = false
                    if dataDelay > 0 { usleep(UInt32(dataDelay * 1_000_000)) }
                    send("250 2.0.0 Ok: queued\r\n")
                    continue
                }
                guard let crlf = (0..<max(0, buffer.count - 1)).first(where: { buffer[$0] == 13 && buffer[$0 + 1] == 10 }) else { break }
                let line = String(decoding: buffer[..<crlf], as: UTF8.self)
                buffer.removeFirst(crlf + 2)
                lock.withLock { commands.append(line) }
                let verb = line.prefix(4).uppercased()
                switch verb {
                case "EHLO":
                    send(
                        "250-capture.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n\(offersAuth ? "250-AUTH PLAIN LOGIN\r\n" : "")250 SIZE 100000000\r\n"
                    )
                case "AUTH": send("235 2.7.0 Authentication successful\r\n")
                case "RCPT" where !mailAccepted: send("503 5.5.1 Error: need MAIL command\r\n")
                case "RCPT":
                    if rcptReply.hasPrefix("2") { recipients += 1 }
                    send(rcptReply + "\r\n")
                case "MAIL" where position > concurrentLimit:
                    lock.withLock { throttleCount += 1 }
                    send("432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=capture.test]\r\n")
                case "MAIL":
                    mailAccepted = true
                    recipients = 0
                    send("250 2.0.0 Ok\r\n")
                case "RSET":
                    mailAccepted = false
                    recipients = 0
                    send("250 2.0.0 Ok\r\n")
                case "HELO", "NOOP": send("250 2.0.0 Ok\r\n")
                case "DATA" where !mailAccepted || recipients == 0: send("503 5.5.1 Error: need RCPT command\r\n")
                case "DATA":
                    inData = true
                    mailAccepted = false
                    send("354 End data with <CR><LF>.<CR><LF>\r\n")
                case "QUIT":
                    send("221 2.0.0 Bye\r\n")
                    return
                default: send("502 5.5.2 Error: command not recognized\r\n")
                }
            }
        }
    }
}
