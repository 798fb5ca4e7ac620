import Glibc

/// What the envelope needs to know about CRLF message text, gathered while it streams
/// past: its size, whether it has 8-bit octets (BODY=8BITMIME), and its longest line
/// without the CRLF (LONGLINES). sendmail keeps one for the body it composes; outboxd one
/// for every message it adopts, because it does not take the submitter's word for either.
public struct LineStatistics: Sendable {
    public private(set) var size = 0
    public private(set) var hasEightBit = false
    private var longestComplete = 0
    private var lineLength = 0

    public init() {}

    /// The longest line so far, the unfinished last one included.
    public var longestLine: Int { max(longestComplete, lineLength) }

    /// Takes the next octets into account. Runs are handled with memchr: this sees every
    /// octet of a 50 MB message.
    public mutating func scan(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        let n = bytes.count
        size += n
        if !hasEightBit {
            var any: UInt8 = 0
            for b in bytes { any |= b }
            hasEightBit = any >= 0x80
        }
        var start = 0
        while start < n {
            guard let hit = memchr(base + start, 10, n - start) else {
                lineLength += n - start
                break
            }
            let lf = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - base
            let length = lineLength + (lf - start) - 1  // minus the CR before the LF
            if length > longestComplete { longestComplete = length }
            lineLength = 0
            start = lf + 1
        }
    }

    public mutating func scan(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { scan($0) }
    }
}
