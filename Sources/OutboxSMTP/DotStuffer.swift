/// SMTP DATA transparency (RFC 5321 §4.5.2), streaming: a "." at the start of a line is
/// doubled, and whatever the input holds, the output is strict CRLF lines: a bare CR or a
/// bare LF becomes CRLF and starts a line like any other. The spool holds only CRLF text
/// (outboxd normalises every message it adopts), so this is the last line of defence:
/// even a damaged or hostile queue file cannot put `\n.\r\n` or `\r.\r\n` on the wire,
/// which a smarthost might read as the end of the message (SMTP smuggling). `finish`
/// appends the end-of-data marker, with a CRLF first if the text did not end with one.
public struct DotStuffer: Sendable {
    private var atLineStart = true
    private var lastWasCR = false

    public init() {}

    /// Appends the stuffed form of `input` to `output`.
    public mutating func stuff(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) {
        output.reserveCapacity(output.count + input.count + 64)
        guard let base = input.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let n = input.count
        var i = 0
        while i < n {
            let b = base[i]
            if lastWasCR {
                lastWasCR = false
                output.append(10)
                atLineStart = true
                if b == 10 {
                    i += 1
                    continue
                }
            }
            if atLineStart && b == UInt8(ascii: ".") { output.append(UInt8(ascii: ".")) }
            // Copy the run of ordinary octets up to the next CR or LF in bulk.
            var j = i
            while j < n && base[j] != 13 && base[j] != 10 { j += 1 }
            if j > i {
                output.append(contentsOf: UnsafeBufferPointer(start: base + i, count: j - i))
                atLineStart = false
                i = j
                continue
            }
            output.append(13)
            if b == 13 {
                lastWasCR = true
            } else {
                output.append(10)  // a bare LF
                atLineStart = true
            }
            i += 1
        }
    }

    /// Appends the end-of-data marker.
    public mutating func finish(into output: inout [UInt8]) {
        if lastWasCR {
            output.append(10)
            atLineStart = true
        }
        if !atLineStart { output += [13, 10] }
        output += Array(".\r\n".utf8)
        atLineStart = true
        lastWasCR = false
    }
}
