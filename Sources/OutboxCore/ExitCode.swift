/// The sysexits(3) codes outbox programs exit with; callers such as cron and PHP act on them.
public enum ExitCode: Int32, Sendable {
    case ok = 0
    case usage = 64
    case dataError = 65
    case noInput = 66
    case noUser = 67
    case unavailable = 69
    case software = 70
    case osError = 71
    case cantCreate = 73
    case ioError = 74
    case tempFail = 75
    case noPermission = 77
    case config = 78
}

/// An error an administrator reads: one line saying what failed, and the exit code it maps to.
public protocol AdminError: Error, CustomStringConvertible {
    /// The sysexits code the program exits with when this error ends it.
    var exitCode: ExitCode { get }
}
