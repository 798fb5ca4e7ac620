import OutboxCore

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
    /// exactly the inserted CRLF. A run of more than `limit` octets without any blank has
    /// no lossless fold point; it is left whole rather than changed.
    public mutating func foldLongLines(limit: Int = 998) {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count + 16)
        var lineStart = 0
        var lastBlank: Int? = nil  // index in `out` of the last blank usable as a fold point
        var i = 0
        while i < raw.count {
            let b = raw[i]
            if b == ASCII.cr && i + 1 < raw.count && raw[i + 1] == ASCII.lf {
                out.append(ASCII.cr)
                out.append(ASCII.lf)
                i += 2
                lineStart = out.count
                lastBlank = nil
                continue
            }
            // A fold point needs something non-blank before it on its line.
            if ASCII.isWSP(b) && out.count > lineStart && out[out.count - 1] != ASCII.space && out[out.count - 1] != ASCII.tab {
                lastBlank = out.count
            }
            out.append(b)
            i += 1
            if out.count - lineStart > limit, let fold = lastBlank {
                out.insert(contentsOf: ASCII.crlf, at: fold)
                lineStart = fold + 2
                lastBlank = nil
                // Re-scan the carried-over text for a later blank on the new line.
                var j = lineStart + 1
                while j < out.count {
                    if ASCII.isWSP(out[j]) && !ASCII.isWSP(out[j - 1]) { lastBlank = j }
                    j += 1
                }
            }
        }
        raw = out
    }
}
