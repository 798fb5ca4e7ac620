import COutboxDaemon
import Glibc
import OutboxCore

/// `durableRename` that never replaces an existing `to` (EEXIST instead): queue files are
/// only ever added, so a name chosen by a hostile writer cannot overwrite one.
public func renameNoReplace(_ from: String, _ to: String, fromDirectory: Int32 = AT_FDCWD, toDirectory: Int32 = AT_FDCWD) -> Int32 {
    if let injected = FaultInjection.check("rename") {
        errno = injected
        return -1
    }
    return coutbox_rename_noreplace(fromDirectory, from, toDirectory, to)
}
