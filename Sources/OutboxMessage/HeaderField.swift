import OutboxCore
import OutboxSupport

/// One header field exactly as received: `Name: value` with its folded continuation
/// lines, CRLF line endings, final CRLF included.
public struct HeaderField: Equatable, Sendable {
    /// Every octet of the field, continuation lines and final CRLF included.
    public var raw: [UInt8]
    /// Length of the name (octets before the colon, trailing blanks excluded).
    public let nameLength: Int
    /// Offset of the colon.
    public let colon: Int

    /// Builds a field from its raw octets; nil when it has no `name:`.
    public init?(raw: [UInt8]) {
        guard let colon = raw.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        var end = colon
        while end > 0 && ASCII.isWSP(raw[end - 1]) { end -= 1 }
        guard end > 0 else { return nil }
        self.raw = raw
        self.colon = colon
        self.nameLength = end
    }

    /// A new field `name: value` (value must be a single logical line without CRLF).
    public init(name: String, value: String) {
        self.init(raw: Array("\(name): \(value)\r\n".utf8))!
    }

    /// The field name as written.
    public var name: String { String(decoding: raw[0..<nameLength], as: UTF8.self) }

    /// Whether the name equals `lowercase` ignoring ASCII case.
    public func isNamed(_ lowercase: String) -> Bool { ASCII.equalsIgnoringCase(raw[0..<nameLength], lowercase) }

    /// The value: everything after the colon up to (not including) the final CRLF; inner
    /// folds are kept.
    public var value: [UInt8] {
        var end = raw.count
        if end >= 2 && raw[end - 2] == ASCII.cr && raw[end - 1] == ASCII.lf { end -= 2 }
        return Array(raw[(colon + 1)..<end])
    }

    /// Replaces the value, keeping name and colon as written.
    public mutating func setValue(_ value: [UInt8]) {
        raw = Array(raw[0...colon]) + value + ASCII.crlf
    }

    /// Folds every physical line longer than `limit` octets (excluding CRLF) by inserting
    /// CRLF before a space or tab. This is lossless: unfolding (RFC 5322 §2.2.3) removes
    /// exactly the inserted CRLF. In an address list (`addressList`) a comma between
    /// addresses is a fold point too: CRLF SPACE after it only adds folding white space
    /// where the grammar allows it (`a@x,b@y` is the same list as `a@x,\r\n b@y`), which
    /// keeps a long comma-joined recipient list, as scripts build them, within the limit.
    /// A run of more than `limit` octets without any fold point is left whole.
    public mutating func foldLongLines(limit: Int = 998, addressList: Bool = false) {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count + 16)
        var lineStart = 0
        var fold: FoldPoint? = nil  // the last place on the current line where a fold may go
        var lexer = AddressLexer()
        // Takes out[position] into account: the lexer advances, and a blank (with text
        // before it on its line) or a comma between addresses becomes the fold point.
        func scan(_ position: Int) {
            let b = out[position]
            let before = lexer
            lexer.consume(b)
            if ASCII.isWSP(b) && position > lineStart && !ASCII.isWSP(out[position - 1]) {
                fold = FoldPoint(at: position, addSpace: false, lexer: before)
            } else if addressList && b == UInt8(ascii: ",") && lexer.isBetweenAddresses {
                fold = FoldPoint(at: position + 1, addSpace: true, lexer: lexer)
            }
        }
        var i = 0
        while i < raw.count {
            let b = raw[i]
            if b == ASCII.cr && i + 1 < raw.count && raw[i + 1] == ASCII.lf {
                out.append(ASCII.cr)
                out.append(ASCII.lf)
                i += 2
                lineStart = out.count
                fold = nil
                continue
            }
            out.append(b)
            scan(out.count - 1)
            i += 1
            if out.count - lineStart > limit, let f = fold {
                out.insert(contentsOf: f.addSpace ? [ASCII.cr, ASCII.lf, ASCII.space] : ASCII.crlf, at: f.at)
                lineStart = f.at + 2
                fold = nil
                // Re-scan the carried-over text for a later fold point on the new line.
                lexer = f.lexer
                for position in (f.addSpace ? lineStart + 1 : lineStart)..<out.count { scan(position) }
            }
        }
        raw = out
    }

    private struct FoldPoint {
        var at: Int
        var addSpace: Bool
        var lexer: AddressLexer
    }
}

/// Just enough of RFC 5322's lexical structure to know whether a comma separates
/// addresses: not inside a quoted string, a comment, an angle-bracketed address or a
/// domain literal, and not escaped.
struct AddressLexer {
    private var inQuote = false
    private var escaped = false
    private var commentDepth = 0
    private var inAngle = false
    private var inLiteral = false

    var isBetweenAddresses: Bool { !inQuote && commentDepth == 0 && !inAngle && !inLiteral }

    mutating func consume(_ b: UInt8) {
        if escaped {
            escaped = false
            return
        }
        let outside = !inQuote && commentDepth == 0
        switch b {
        case UInt8(ascii: "\\") where inQuote || commentDepth > 0: escaped = true
        case UInt8(ascii: "\"") where commentDepth == 0: inQuote.toggle()
        case UInt8(ascii: "(") where !inQuote: commentDepth += 1
        case UInt8(ascii: ")") where commentDepth > 0: commentDepth -= 1
        case UInt8(ascii: "<") where outside: inAngle = true
        case UInt8(ascii: ">") where outside: inAngle = false
        case UInt8(ascii: "[") where outside: inLiteral = true
        case UInt8(ascii: "]") where outside: inLiteral = false
        default: break
        }
    }
}
