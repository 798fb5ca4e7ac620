import Glibc
import OutboxCore

/// unlink(2) of a queue or drop file, reachable by fault injection ("unlink"): a file that
/// cannot be removed may be delivered or adopted again, so the callers must hear of it.
/// A file that is already gone is not an error.
public func removeFile(_ path: String) throws(SystemError) {
    if let injected = FaultInjection.check("unlink") { throw SystemError("unlink", path: path, errno: injected) }
    guard unlink(path) == 0 || Errno.current == ENOENT else { throw SystemError("unlink", path: path) }
}
