/// Where the header section of a CRLF message ends: the one scanner for outboxd's long-line
/// conversion, bounces and `outboxctl show` (sendmail's streaming HeaderSectionParser
/// finds it as it parses).
public enum HeaderSection {
    /// The offset just past the empty line that ends the header section (2 when the message
    /// starts with it), searching from `start`; nil when there is none.
    public static func bodyStart(in bytes: [UInt8], from start: Int = 0) -> Int? {
        if bytes.starts(with: [13, 10]) { return 2 }
        var i = max(start, 0)
        while i + 3 < bytes.count {
            if bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 { return i + 4 }
            i += 1
        }
        return nil
    }
}
