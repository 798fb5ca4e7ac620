import OutboxCore

/// The byte-level ASCII helpers of the message and SMTP code (the set-id helper links
/// only the string ones in OutboxCore).
extension ASCII {
    public static let cr: UInt8 = 13
    public static let lf: UInt8 = 10
    public static let space: UInt8 = 32
    public static let tab: UInt8 = 9
    public static let crlf: [UInt8] = [13, 10]
    /// The digits of lowercase hexadecimal escapes (JSON's \u00XX, ORIGIN's \xXX).
    public static let lowercaseHexDigits = Array("0123456789abcdef".utf8)

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
