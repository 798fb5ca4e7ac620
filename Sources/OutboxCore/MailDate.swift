import Glibc

/// Times as seconds since the epoch; the RFC 5322 and mailq texts are in OutboxSupport
/// (MailDate+Formatting), which the set-id helper does not link.
public enum MailDate {
    /// Seconds since the epoch, now.
    public static func now() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int(ts.tv_sec)
    }

    /// Seconds since the epoch with the fraction, for the delays= stages of log lines.
    public static func precise() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
