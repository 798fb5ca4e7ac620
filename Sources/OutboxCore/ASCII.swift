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

    /// The first occurrence of `needle` in `text`, compared byte for byte. The standard
    /// library's `contains(_:)` and `firstRange(of:)` for strings live in _StringProcessing,
    /// which Embedded Swift (the installed sendmail and drop helper) does not have; mail and
    /// configuration text is octets anyway.
    public static func firstRange<S: StringProtocol>(of needle: String, in text: S) -> Range<String.Index>? {
        let haystack = text.utf8
        let pattern = needle.utf8
        guard let first = pattern.first else { return haystack.startIndex..<haystack.startIndex }
        var from = haystack.startIndex
        while let start = haystack[from...].firstIndex(of: first) {
            var h = start
            var p = pattern.startIndex
            while p != pattern.endIndex, h != haystack.endIndex, haystack[h] == pattern[p] {
                h = haystack.index(after: h)
                p = pattern.index(after: p)
            }
            if p == pattern.endIndex { return start..<h }
            if h == haystack.endIndex { return nil }
            from = haystack.index(after: start)
        }
        return nil
    }

    /// Whether `needle` occurs in `text`, byte for byte (see `firstRange(of:in:)`).
    public static func contains<S: StringProtocol>(_ text: S, _ needle: String) -> Bool {
        firstRange(of: needle, in: text) != nil
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
