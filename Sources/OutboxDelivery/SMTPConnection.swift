import OutboxNet
import OutboxSMTP

/// Commands out, replies in, over one byte stream, each reply bounded by a deadline.
public final class SMTPConnection {
    public private(set) var stream: any ByteStream
    private var parser = SMTPReplyParser()
    private var readBuffer = [UInt8](repeating: 0, count: 16384)
    let commandTimeout: Double

    init(stream: any ByteStream, commandTimeout: Double) {
        self.stream = stream
        self.commandTimeout = commandTimeout
    }

    /// Replaces the stream after STARTTLS; anything the server sent before the handshake
    /// would be an injection attempt (CVE-2011-0411 class), so the parser must be empty.
    func upgrade(to newStream: any ByteStream) throws(SessionError) {
        var probe = parser
        if (try? probe.next()) != nil { throw .policy("server sent data after STARTTLS before the TLS handshake") }
        parser = SMTPReplyParser()
        stream = newStream
    }

    /// Sends raw octets.
    func send(_ bytes: [UInt8]) throws(SessionError) {
        do { try stream.write(bytes, deadline: .after(seconds: commandTimeout)) } catch { throw .transport(error) }
    }

    func send(_ command: SMTPCommand) throws(SessionError) {
        try send(Array(command.line.utf8))
    }

    /// The next reply.
    func reply(timeout: Double? = nil) throws(SessionError) -> SMTPReply {
        let deadline = Deadline.after(seconds: timeout ?? commandTimeout)
        while true {
            do {
                if let r = try parser.next() { return r }
            } catch { throw .protocolError(error) }
            let stream = self.stream
            let result: Result<Int, TransportError> = readBuffer.withUnsafeMutableBytes { raw in
                do throws(TransportError) { return .success(try stream.read(into: raw, deadline: deadline)) } catch { return .failure(error) }
            }
            let n: Int
            switch result {
            case .success(let count): n = count
            case .failure(let error): throw .transport(error)
            }
            if n == 0 { throw .transport(.closed("(\(stream.peerDescription))")) }
            parser.feed(readBuffer[0..<n])
        }
    }

    /// Sends a command and returns its reply.
    func command(_ command: SMTPCommand) throws(SessionError) -> SMTPReply {
        try send(command)
        return try reply()
    }

    func close() { stream.close() }
}
