/// Byte-level helpers for mail text, which is octets, not Unicode.
public enum ASCII {
    public static let cr: UInt8 = 13
    public static let lf: UInt8 = 10
    public static let space: UInt8 = 32
    public static let tab: UInt8 = 9
    public static let crlf: [UInt8] = [13, 10]

    /// Lowercases ASCII letters only.
    @inline(__always)
    public static func lower(_ b: UInt8) -> UInt8 { (b >= 65 && b <= 90) ? b + 32 : b }

    /// Case-insensitive ASCII comparison of a byte slice with a lowercase literal.
    public static func equalsIgnoringCase<C: Collection>(_ bytes: C, _ lowercase: String) -> Bool
    where C.Element == UInt8 {
        var it = bytes.makeIterator()
        for expected in lowercase.utf8 {
            guard let b = it.next(), lower(b) == expected else { return false }
        }
        return it.next() == nil
    }

    /// Lowercased copy of an ASCII string (non-ASCII bytes unchanged).
    public static func lowercased(_ s: String) -> String {
        String(decoding: s.utf8.map(lower), as: UTF8.self)
    }

    /// Uppercased copy of an ASCII string (non-ASCII bytes unchanged).
    public static func uppercased(_ s: String) -> String {
        String(decoding: s.utf8.map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 }, as: UTF8.self)
    }

    /// Whitespace per RFC 5322 (SP, HTAB).
    @inline(__always)
    public static func isWSP(_ b: UInt8) -> Bool { b == space || b == tab }

    /// Trims SP, HTAB, CR and LF at both ends.
    public static func trimmed(_ s: Substring) -> Substring {
        var lo = s.startIndex
        var hi = s.endIndex
        while lo < hi, s[lo].isBlankOrLineBreak { lo = s.index(after: lo) }
        while hi > lo, s[s.index(before: hi)].isBlankOrLineBreak { hi = s.index(before: hi) }
        return s[lo..<hi]
    }

    /// Splits on a separator byte without Foundation.
    public static func split(_ s: Substring, on separator: Character) -> [Substring] {
        s.split(separator: separator, omittingEmptySubsequences: false)
    }
}

extension Character {
    /// CR, LF, or the pair CR LF, which Swift counts as one Character: comparing a
    /// Character with "\r" or "\n" alone misses it (found by fuzzing: a CRLF config file
    /// read as one line, and CR LF passing through a quoted display name).
    public var isLineBreak: Bool { self == "\n" || self == "\r" || self == "\r\n" }

    /// SP, HTAB or a line break.
    public var isBlankOrLineBreak: Bool { self == " " || self == "\t" || isLineBreak }
}
