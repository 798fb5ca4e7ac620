/// `N/unit`: at most `count` per `seconds` (message_rate_limit, user_rate_limit).
public struct RateLimit: Equatable, Sendable, CustomStringConvertible {
    public var count: Int
    public var seconds: Int
    public var unitName: String

    static let units: [(String, Int)] = [("s", 1), ("min", 60), ("h", 3600), ("d", 86400)]

    /// Parses `N/unit` with one of `allowed` units (s, min, h, d); N from 1 to 1 000 000.
    public static func parse(_ text: String, allowed: [String]) -> RateLimit? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(parts[0]), n >= 1, n <= 1_000_000,
            allowed.contains(String(parts[1])), let unit = units.first(where: { $0.0 == parts[1] })
        else { return nil }
        return RateLimit(count: n, seconds: unit.1, unitName: unit.0)
    }

    public var description: String { "\(count)/\(unitName)" }

    /// The unit as a word: second, minute, hour, day.
    public var unitWord: String { ["s": "second", "min": "minute", "h": "hour", "d": "day"][unitName] ?? unitName }
}
