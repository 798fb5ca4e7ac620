import Glibc

/// A point in monotonic time after which an operation fails.
public struct Deadline: Sendable, Comparable {
    public let nanoseconds: UInt64

    public static func now() -> Deadline {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Deadline(nanoseconds: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
    }

    /// The monotonic clock in seconds, for intervals (never steps with the wall clock).
    public var seconds: Double { Double(nanoseconds) / 1e9 }

    public static func after(seconds: Double) -> Deadline {
        Deadline(nanoseconds: now().nanoseconds + UInt64(max(0, seconds) * 1e9))
    }

    /// Milliseconds left, for poll(2); 0 when passed.
    public var remainingMilliseconds: Int32 {
        let now = Deadline.now().nanoseconds
        guard nanoseconds > now else { return 0 }
        return Int32(min(UInt64(Int32.max), (nanoseconds - now + 999_999) / 1_000_000))
    }

    public static func < (a: Deadline, b: Deadline) -> Bool { a.nanoseconds < b.nanoseconds }
}
