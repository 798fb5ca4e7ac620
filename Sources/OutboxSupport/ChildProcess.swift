import Glibc
import OutboxCore

/// What every posix_spawn caller here writes the same way: the C string array for argv
/// (sendmail's helper and getent, outboxd's credential commands) and the wait for an exit.
public enum ChildProcess {
    /// `strings` as the NULL-terminated array of C strings posix_spawn takes, for the
    /// duration of `body`: pointers into one buffer of Swift's (strdup's C heap, freed
    /// again at once, cost sendmail an munmap per argument).
    public static func withCStringArray<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        var buffer: [CChar] = []
        var offsets: [Int] = []
        for s in strings {
            offsets.append(buffer.count)
            buffer += s.utf8.map { CChar(bitPattern: $0) }
            buffer.append(0)
        }
        return buffer.withUnsafeMutableBufferPointer { storage in
            body(offsets.map { storage.baseAddress! + $0 } + [nil])
        }
    }

    /// Waits for `pid` (again after EINTR): its exit code; nil when a signal ended it or
    /// the wait found no such child. A caller that ignored SIGCHLD leaves the kernel to
    /// reap its children (ECHILD): no status is not a success.
    public static func exitCode(of pid: pid_t) -> Int32? {
        var status: Int32 = -1
        var waited: pid_t
        repeat { waited = waitpid(pid, &status, 0) } while waited < 0 && Errno.current == EINTR
        guard waited == pid, status & 0x7F == 0 else { return nil }
        return (status >> 8) & 0xFF
    }
}
