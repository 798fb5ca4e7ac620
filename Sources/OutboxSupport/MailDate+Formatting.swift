import Glibc
import OutboxCore

/// RFC 5322 date-time text, formatted by hand: DateFormatter would pull in ICU (+2 ms and
/// +11 MB per start, see DESIGN).
extension MailDate {
    /// The latest time the formatters accept (9999-12-31T23:59:59Z): beyond it glibc's
    /// tm_year + 1900 overflows Int32 (found by review: a forged arrival time crashed
    /// outboxd whenever it formatted it).
    public static let latest = 253_402_300_799

    static func clamped(_ seconds: Int) -> Int { min(max(seconds, 0), latest) }

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// "Mon, 23 Nov 2026 10:04:05 +0100" for `seconds` since the epoch, in local time.
    public static func rfc5322(_ seconds: Int) -> String {
        var t = time_t(clamped(seconds))
        var tm = Glibc.tm()
        localtime_r(&t, &tm)
        let offset = tm.tm_gmtoff / 60
        let sign = offset < 0 ? "-" : "+"
        let abs = offset < 0 ? -offset : offset
        return "\(days[Int(tm.tm_wday)]), \(tm.tm_mday) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) "
            + "\(pad2(tm.tm_hour)):\(pad2(tm.tm_min)):\(pad2(tm.tm_sec)) \(sign)\(pad2(Int32(abs / 60)))\(pad2(Int32(abs % 60)))"
    }

    /// "Mon Nov 23 10:04:05" as Postfix's mailq prints arrival times.
    public static func queueListing(_ seconds: Int) -> String {
        var t = time_t(clamped(seconds))
        var tm = Glibc.tm()
        localtime_r(&t, &tm)
        let day = tm.tm_mday < 10 ? " \(tm.tm_mday)" : "\(tm.tm_mday)"
        return "\(days[Int(tm.tm_wday)]) \(months[Int(tm.tm_mon)]) \(day) \(pad2(tm.tm_hour)):\(pad2(tm.tm_min)):\(pad2(tm.tm_sec))"
    }

    /// "20261123100405" (local time), used inside Message-IDs.
    public static func compact(_ seconds: Int) -> String {
        var t = time_t(clamped(seconds))
        var tm = Glibc.tm()
        localtime_r(&t, &tm)
        return "\(tm.tm_year + 1900)\(pad2(tm.tm_mon + 1))\(pad2(tm.tm_mday))\(pad2(tm.tm_hour))\(pad2(tm.tm_min))\(pad2(tm.tm_sec))"
    }

    private static func pad2(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
}
