import COutboxSys
import Glibc

/// The calling thread's errno, read and set through COutboxSys (Swift's Glibc overlay,
/// which has `errno`, is not there when sendmail and the drop helper are built as
/// Embedded Swift).
public enum Errno {
    public static var current: Int32 {
        get { coutbox_errno() }
        set { coutbox_set_errno(newValue) }
    }
}

/// The program's arguments, as the kernel passed them (kept by COutboxSys's constructor:
/// Embedded Swift has no CommandLine).
public enum ProgramArguments {
    public static var all: [String] {
        (0..<coutbox_argc()).compactMap { coutbox_argv($0).map { String(cString: $0) } }
    }
}

/// A failed system call: the operation, the path it concerned, and errno.
public struct SystemError: AdminError, Equatable {
    /// What was attempted ("open", "fsync", "rename" …).
    public let operation: String
    /// The file or directory concerned, when there is one.
    public let path: String?
    /// The errno value the call failed with.
    public let errno: Int32

    public init(_ operation: String, path: String? = nil, errno: Int32 = Errno.current) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        if let path { return "\(operation) \(path): \(reason)" }
        return "\(operation): \(reason)"
    }

    /// Resource shortages are temporary (the caller may retry); permission problems and
    /// everything else are mapped as sendmail(8) callers expect.
    public var exitCode: ExitCode {
        switch errno {
        case ENOSPC, EDQUOT, EAGAIN, ENOMEM, EMFILE, ENFILE, EINTR, EBUSY, EFBIG: .tempFail
        case EACCES, EPERM: .noPermission
        case EIO: .ioError
        default: .cantCreate
        }
    }
}

/// Calls `body` until it does not fail with EINTR; returns its result or throws errno.
@inline(__always)
public func retryingEINTR<T: BinaryInteger>(
    _ operation: String, path: String? = nil, _ body: () -> T
) throws(SystemError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        if Errno.current != EINTR { throw SystemError(operation, path: path) }
    }
}
