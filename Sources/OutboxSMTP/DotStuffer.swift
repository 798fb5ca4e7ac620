/// SMTP DATA transparency (RFC 5321 §4.5.2), streaming: a "." at the start of a line is
/// doubled. The input is CRLF text (the spool holds nothing else); `finish` appends the
/// end-of-data marker, with a CRLF first if the text did not end with one.
public struct DotStuffer: Sendable {
    private var atLineStart = true
    private var lastWasCR = false

    public init() {}

    /// Appends the stuffed form of `input` to `output`.
    public mutating func stuff(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) {
        output.reserveCapacity(output.count + input.count + 64)
        var runStart = 0
        for (i, b) in input.enumerated() {
            if atLineStart && b == UInt8(ascii: ".") {
                output.append(contentsOf: input[runStart..<i])
                output.append(UInt8(ascii: "."))
                runStart = i
            }
            atLineStart = b == 10 && lastWasCR
            lastWasCR = b == 13
        }
        output.append(contentsOf: input[runStart...])
    }

    /// Appends the end-of-data marker.
    public mutating func finish(into output: inout [UInt8]) {
        if !atLineStart { output += [13, 10] }
        output += Array(".\r\n".utf8)
        atLineStart = true
        lastWasCR = false
    }
}
