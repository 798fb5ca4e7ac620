import OutboxCore

/// The byte-level ASCII helpers of the message, SMTP and submission code (the set-id helper
/// links only the string ones in OutboxCore).
extension ASCII {
    public static let cr: UInt8 = 13
    public static let lf: UInt8 = 10
    public static let space: UInt8 = 32
    public static let tab: UInt8 = 9
    public static let crlf: [UInt8] = [13, 10]
    /// The digits of lowercase hexadecimal escapes (JSON's \u00XX, ORIGIN's \xXX).
    public static let lowercaseHexDigits = Array("0123456789abcdef".utf8)

    /// The first occurrence of `needle` in `text`, compared byte for byte, as a range of
    /// `text`'s indices. The standard library's `contains(_:)` and `firstRange(of:)` for
    /// strings live in _StringProcessing, which Embedded Swift (the installed sendmail) does
    /// not have; mail and configuration text is octets anyway.
    public static func firstRange<S: StringProtocol>(of needle: String, in text: S) -> Range<String.Index>? {
        let haystack = text.utf8
        var start = haystack.startIndex
        while true {
            if haystack[start...].starts(with: needle.utf8) {
                return start..<haystack.index(start, offsetBy: needle.utf8.count)
            }
            if start == haystack.endIndex { return nil }
            haystack.formIndex(after: &start)
        }
    }

    /// Whether `needle` occurs in `text`, byte for byte (see `firstRange(of:in:)`).
    public static func contains<S: StringProtocol>(_ needle: String, in text: S) -> Bool {
        firstRange(of: needle, in: text) != nil
    }

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

    /// Whitespace per RFC 5322 (SP, HTAB).
    @inline(__always)
    public static func isWSP(_ b: UInt8) -> Bool { b == space || b == tab }
}
