import OutboxCore
import OutboxSupport

/// Buffered reading from a descriptor: command lines for -bs, raw octets for DATA.
final class ByteReader {
    private let fd: FileDescriptor
    private(set) var buffer: [UInt8] = []
    private(set) var position = 0
    private(set) var atEOF = false

    init(_ fd: consuming FileDescriptor) { self.fd = fd }

    /// Reads more input; false at end of file.
    func fill() throws(SystemError) -> Bool {
        if atEOF { return false }
        if position > 0 {
            buffer.removeFirst(position)
            position = 0
        }
        var chunk = [UInt8].unfilled(65536)
        let n = try fd.read(into: &chunk)
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
    func readLine(limit: Int) throws(SystemError) -> (line: [UInt8], tooLong: Bool)? {
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
