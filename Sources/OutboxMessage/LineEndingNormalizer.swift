import OutboxCore
import OutboxSupport

/// Turns raw submission input into CRLF lines, streaming, in constant memory:
/// LF, CRLF, and any run of CRs followed by LF (`\r\r\n`, which Windows tools produce by
/// converting twice) each end one line; a CR not followed by LF ends a line by itself;
/// NUL octets are removed (SMTP forbids them in DATA, RFC 5321 §4.1.4); a missing final
/// line ending is added. When `dotEndsInput` is set (no `-i`), a line consisting of a
/// single `.` ends the input, as in Postfix, sendmail 8 and Exim. outboxd runs every
/// adopted message through this too, so no bare CR or LF ever reaches the smarthost.
public struct LineEndingNormalizer {
    public let dotEndsInput: Bool
    /// CRs seen but not yet written: one line end if an LF follows, one each otherwise.
    private var pendingCRs = 0
    private var atLineStart = true
    private var heldDot = false
    public private(set) var ended = false
    public private(set) var sawNUL = false

    public init(dotEndsInput: Bool) { self.dotEndsInput = dotEndsInput }

    /// Normalises `input`, appending to `output`; returns false once the input has ended
    /// (lone dot), after which further input is ignored. Runs of ordinary octets are
    /// copied in bulk: this loop sees every octet of a 50 MB message.
    @discardableResult
    public mutating func feed(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) -> Bool {
        if ended { return false }
        guard let base = input.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return true }
        let n = input.count
        output.reserveCapacity(output.count + n + n / 16 + 4)
        var i = 0
        while i < n {
            let b = base[i]
            if heldDot {
                heldDot = false
                if b == ASCII.cr || b == ASCII.lf {
                    ended = true
                    return false
                }
                output.append(UInt8(ascii: "."))
                atLineStart = false
            }
            if pendingCRs > 0 {
                if b == ASCII.cr {
                    pendingCRs += 1
                    i += 1
                    continue
                }
                let lineEnds = b == ASCII.lf ? 1 : pendingCRs
                pendingCRs = 0
                for _ in 0..<lineEnds {
                    output.append(ASCII.cr)
                    output.append(ASCII.lf)
                }
                atLineStart = true
                if b == ASCII.lf {
                    i += 1
                    continue
                }
            }
            if atLineStart && dotEndsInput && b == UInt8(ascii: ".") {
                heldDot = true
                atLineStart = false
                i += 1
                continue
            }
            var j = i
            while j < n {
                let c = base[j]
                if c == ASCII.cr || c == ASCII.lf || c == 0 { break }
                j += 1
            }
            if j > i {
                output.append(contentsOf: UnsafeBufferPointer(start: base + i, count: j - i))
                atLineStart = false
                i = j
                continue
            }
            switch b {
            case ASCII.cr:
                pendingCRs = 1
            case ASCII.lf:
                output.append(ASCII.cr)
                output.append(ASCII.lf)
                atLineStart = true
            default:
                sawNUL = true
            }
            i += 1
        }
        return true
    }

    /// Ends the input: an unterminated last line gets its CRLF.
    public mutating func finish(into output: inout [UInt8]) {
        if ended { return }
        ended = true
        // A lone "." as the last, unterminated line also ends the input (fgets semantics).
        if heldDot { return }
        if pendingCRs > 0 {
            for _ in 0..<pendingCRs {
                output.append(ASCII.cr)
                output.append(ASCII.lf)
            }
            return
        }
        if !atLineStart {
            output.append(ASCII.cr)
            output.append(ASCII.lf)
        }
    }
}
