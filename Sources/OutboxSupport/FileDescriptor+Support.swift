import COutboxSys
import Glibc
import OutboxCore

extension FileDescriptor {
    /// Wraps `fstat(2)`.
    public func status() throws(SystemError) -> stat {
        var st = stat()
        _ = try retryingEINTR("stat", path: path) { fstat(rawValue, &st) }
        return st
    }

    /// A close-on-exec pipe.
    public static func pipe() throws(SystemError) -> PipePair {
        var fds: [Int32] = [0, 0]
        guard coutbox_pipe_cloexec(&fds) == 0 else { throw SystemError("pipe") }
        return PipePair(read: FileDescriptor(owning: fds[0]), write: FileDescriptor(owning: fds[1]))
    }
}

/// Both ends of a pipe, each owned.
public struct PipePair: ~Copyable, Sendable {
    public var read: FileDescriptor
    public var write: FileDescriptor

    /// The read end; the write end is closed (after a child took its copy).
    public consuming func keepingRead() -> FileDescriptor { read }

    /// The write end; the read end is closed.
    public consuming func keepingWrite() -> FileDescriptor { write }
}

extension stat {
    /// The file type, from st_mode (S_IFMT and its values are mode_t with Swift's Glibc
    /// overlay and Int32 without it, as in the Embedded builds).
    public var isRegularFile: Bool { st_mode & mode_t(S_IFMT) == mode_t(S_IFREG) }
    public var isDirectory: Bool { st_mode & mode_t(S_IFMT) == mode_t(S_IFDIR) }
}
