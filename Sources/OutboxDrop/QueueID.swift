import Glibc
import OutboxCore

/// A queue ID: 10 base-32 digits of the submission time in microseconds, then 4 random
/// digits. Short enough for log lines, sortable by arrival, and unique without a lock
/// (collisions also fail O_EXCL, and the writer then draws another).
public struct QueueID: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The ID text, e.g. "0KQ3T9V1XB4F2M".
    public let text: String

    public static let alphabet = Array("0123456789BCDFGHJKLMNPQRSTVWXYZa".utf8)  // 32 symbols, no vowels: no words in IDs

    public init?(_ text: String) {
        guard text.utf8.count == 14, text.utf8.allSatisfy({ QueueID.alphabet.contains($0) }) else { return nil }
        self.text = text
    }

    /// A fresh ID from the clock and getrandom(2).
    public static func generate() -> QueueID {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let micros = UInt64(ts.tv_sec) &* 1_000_000 &+ UInt64(ts.tv_nsec / 1000)
        let random = randomBytes(3)
        let noise = UInt64(random[0]) << 16 | UInt64(random[1]) << 8 | UInt64(random[2])
        var digits = [UInt8](repeating: 0, count: 14)
        for i in 0..<10 { digits[9 - i] = alphabet[Int((micros >> (5 * UInt64(i))) & 31)] }
        for i in 0..<4 { digits[13 - i] = alphabet[Int((noise >> (5 * UInt64(i))) & 31)] }
        return QueueID(unchecked: String(decoding: digits, as: UTF8.self))
    }

    private init(unchecked: String) { self.text = unchecked }

    public var description: String { text }
    public static func < (a: QueueID, b: QueueID) -> Bool { a.text < b.text }
}
