/// Byte-level helpers for mail text, which is octets, not Unicode.
public enum ASCII {
    /// Uppercased copy of an ASCII string (non-ASCII bytes unchanged).
    public static func uppercased(_ s: String) -> String {
        String(decoding: s.utf8.map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 }, as: UTF8.self)
    }

    /// Trims SP, HTAB, CR and LF at both ends.
    public static func trimmed(_ s: Substring) -> Substring {
        var lo = s.startIndex
        var hi = s.endIndex
        while lo < hi, s[lo].isBlankOrLineBreak { lo = s.index(after: lo) }
        while hi > lo, s[s.index(before: hi)].isBlankOrLineBreak { hi = s.index(before: hi) }
        return s[lo..<hi]
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
