/// RFC 2045 §6.7 quoted-printable encoding of CRLF text, streaming: line breaks stay hard
/// breaks, long lines get soft breaks ("=" CRLF) so no encoded line exceeds 76 octets,
/// trailing blanks and octets outside printable ASCII (and "=") become "=XX".
public struct QuotedPrintableEncoder: Sendable {
    private var column = 0
    private var pendingCR = false
    private var pendingBlank: UInt8?
    static let hex = Array("0123456789ABCDEF".utf8)

    public init() {}

    private mutating func put(_ bytes: [UInt8], _ out: inout [UInt8]) {
        if column + bytes.count > 75 {
            out += [UInt8(ascii: "="), 13, 10]
            column = 0
        }
        out += bytes
        column += bytes.count
    }

    private mutating func flushBlank(_ out: inout [UInt8], atLineEnd: Bool) {
        guard let blank = pendingBlank else { return }
        pendingBlank = nil
        put(atLineEnd ? [UInt8(ascii: "="), Self.hex[Int(blank >> 4)], Self.hex[Int(blank & 15)]] : [blank], &out)
    }

    /// Encodes `input` (CRLF line ends) onto `out`.
    public mutating func encode(_ input: [UInt8], into out: inout [UInt8]) {
        for b in input {
            if pendingCR {
                pendingCR = false
                if b == 10 {
                    flushBlank(&out, atLineEnd: true)
                    out += [13, 10]
                    column = 0
                    continue
                }
                flushBlank(&out, atLineEnd: false)
                put([UInt8(ascii: "="), Self.hex[0], Self.hex[13]], &out)
            }
            if b == 13 {
                pendingCR = true
                continue
            }
            flushBlank(&out, atLineEnd: false)
            if b == 32 || b == 9 {
                pendingBlank = b
            } else if b >= 33 && b <= 126 && b != UInt8(ascii: "=") {
                put([b], &out)
            } else {
                put([UInt8(ascii: "="), Self.hex[Int(b >> 4)], Self.hex[Int(b & 15)]], &out)
            }
        }
    }

    /// Ends the text.
    public mutating func finish(into out: inout [UInt8]) {
        if pendingCR {
            pendingCR = false
            flushBlank(&out, atLineEnd: false)
            put([UInt8(ascii: "="), Self.hex[0], Self.hex[13]], &out)
        }
        flushBlank(&out, atLineEnd: true)
        if column > 0 { out += [13, 10] }
        column = 0
    }
}
