import OutboxCore

/// Buffered reading from a descriptor: command lines for -bs, raw octets for DATA.
final class ByteReader {
    private let fd: FileDescriptor
    private(set) var buffer: [UInt8] = []
    private(set) var position = 0
    private(set) var atEOF = false

    init(_ fd: FileDescriptor) { self.fd = fd }

    /// Reads more input; false at end of file.
    func fill() throws -> Bool {
        if atEOF { return false }
        if position > 0 {
            buffer.removeFirst(position)
            position = 0
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
        if n == 0 {
            atEOF = true
            return false
        }
        buffer += chunk[0..<n]
        return true
    }

    /// The unread octets; `consume(n)` marks them read.
    var available: ArraySlice<UInt8> { buffer[position...] }

    func consume(_ n: Int) { position += n }

    /// One line without its LF or CRLF; nil at end of input. A line longer than `limit` is
    /// returned cut, with `tooLong` set, and the rest of it is skipped.
    func readLine(limit: Int) throws -> (line: [UInt8], tooLong: Bool)? {
        var tooLong = false
        while true {
            if let nl = available.firstIndex(of: ASCII.lf) {
                var line = Array(buffer[position..<nl])
                position = nl + 1
                if line.last == ASCII.cr { line.removeLast() }
                if tooLong || line.count > limit { return (Array(line.prefix(limit)), true) }
                return (line, false)
            }
            if available.count > limit {
                tooLong = true
                position = buffer.count
            }
            if try !fill() {
                if available.isEmpty && !tooLong { return nil }
                let line = Array(available)
                position = buffer.count
                return (Array(line.prefix(limit)), tooLong || line.count > limit)
            }
        }
    }
}

/// Removes SMTP dot-stuffing from DATA and finds the terminating `.` line, streaming
/// (RFC 5321 §4.5.2). Only CRLF starts a line here and only CRLF "." CRLF ends DATA: a
/// bare LF or CR is data (the line-ending normaliser makes it a line end later), so
/// `\n.\n` or `\r.\r\n` can never end one transaction early and smuggle the lines after
/// it in as another (the SMTP-smuggling class; Postfix's smtpd_forbid_bare_newline).
struct DataDecoder {
    private enum State { case lineStart, middle, middleCR, dot, dotCR }
    private var state = State.lineStart

    /// Decodes `input` into `output`; returns the count of input octets used, and whether
    /// the end marker was seen (octets after it belong to the next command).
    mutating func decode(_ input: ArraySlice<UInt8>, into output: inout [UInt8]) -> (used: Int, ended: Bool) {
        var used = 0
        for b in input {
            used += 1
            switch state {
            case .lineStart:
                if b == UInt8(ascii: ".") { state = .dot } else {
                    output.append(b)
                    state = b == ASCII.cr ? .middleCR : .middle
                }
            case .middle:
                output.append(b)
                if b == ASCII.cr { state = .middleCR }
            case .middleCR:
                output.append(b)
                state = b == ASCII.lf ? .lineStart : b == ASCII.cr ? .middleCR : .middle
            case .dot:
                // The leading dot of a CRLF line is transparency: dropped.
                if b == ASCII.cr { state = .dotCR } else {
                    output.append(b)
                    state = .middle
                }
            case .dotCR:
                if b == ASCII.lf { return (used, true) }
                output.append(ASCII.cr)
                output.append(b)
                state = b == ASCII.cr ? .middleCR : .middle
            }
        }
        return (used, false)
    }
}
