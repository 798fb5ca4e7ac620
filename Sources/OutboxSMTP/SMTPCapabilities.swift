/// What a server announced in its EHLO reply.
public struct SMTPCapabilities: Equatable, Sendable {
    /// Keyword (uppercased) → parameters.
    public private(set) var keywords: [String: [String]] = [:]

    public init(ehloReply: SMTPReply) {
        for line in ehloReply.lines.dropFirst() {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "=" }).map(String.init)
            guard let keyword = words.first?.uppercased() else { continue }
            keywords[keyword, default: []] += words.dropFirst()
        }
    }

    public init() {}

    public func has(_ keyword: String) -> Bool { keywords[keyword] != nil }

    public var startTLS: Bool { has("STARTTLS") }
    public var pipelining: Bool { has("PIPELINING") }
    public var eightBitMIME: Bool { has("8BITMIME") }
    public var smtpUTF8: Bool { has("SMTPUTF8") }
    public var dsn: Bool { has("DSN") }
    public var enhancedStatusCodes: Bool { has("ENHANCEDSTATUSCODES") }

    /// The SIZE limit, nil when not announced or announced without a number (or 0).
    public var sizeLimit: Int? {
        guard let value = keywords["SIZE"]?.first, let n = Int(value), n > 0 else { return nil }
        return n
    }

    /// SASL mechanisms offered (AUTH, or the old AUTH= form), uppercased.
    public var authMechanisms: [String] {
        var seen: [String] = []
        for m in (keywords["AUTH"] ?? []).map({ $0.uppercased() }) where !seen.contains(m) { seen.append(m) }
        return seen
    }
}
