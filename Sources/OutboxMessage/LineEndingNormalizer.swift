import OutboxCore

/// Turns raw submission input into CRLF lines, streaming, in constant memory:
/// LF, CRLF and a CR not followed by LF each end one line; NUL octets are removed (SMTP
/// forbids them in DATA, RFC 5321 §4.1.4); a missing final line ending is added. When
/// `dotEndsInput` is set (no `-i`), a line consisting of a single `.` ends the input, as in
/// Postfix, sendmail 8 and Exim.
public struct LineEndingNormalizer {
    public let dotEndsInput: Bool
    private var afterCR = false
    private var atLineStart = true
    private var heldDot = false
    public private(set) var ended = false
    public private(set) var sawNUL = false

    public init(dotEndsInput: Bool) { self.dotEndsInput = dotEndsInput }

    /// Normalises `input`, appending to `output`; returns false once the input has ended
    /// (lone dot), after which further input is ignored.
    @discardableResult
    public mutating func feed(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) -> Bool {
        if ended { return false }
        output.reserveCapacity(output.count + input.count + input.count / 16 + 4)
        for b in input {
            if afterCR {
                afterCR = false
                if b == ASCII.lf { continue }
            }
            if heldDot {
                heldDot = false
                if b == ASCII.cr || b == ASCII.lf {
                    ended = true
                    return false
                }
                output.append(UInt8(ascii: "."))
                atLineStart = false
            }
            switch b {
            case ASCII.cr:
                output.append(ASCII.cr)
                output.append(ASCII.lf)
                afterCR = true
                atLineStart = true
            case ASCII.lf:
                output.append(ASCII.cr)
                output.append(ASCII.lf)
                atLineStart = true
            case 0:
                sawNUL = true
            case UInt8(ascii: ".") where atLineStart && dotEndsInput:
                heldDot = true
                atLineStart = false
            default:
                output.append(b)
                atLineStart = false
            }
        }
        return true
    }

    /// Ends the input: an unterminated last line gets its CRLF.
    public mutating func finish(into output: inout [UInt8]) {
        if ended { return }
        ended = true
        // A lone "." as the last, unterminated line also ends the input (fgets semantics).
        if heldDot { return }
        if !atLineStart {
            output.append(ASCII.cr)
            output.append(ASCII.lf)
        }
    }
}
