import Glibc
import OutboxCore
import OutboxDrop
import OutboxSpool

/// Root's tools act on the queue as the spool's owner (Postfix's postsuper runs as
/// mail_owner): files root created there would be unreadable to outboxd, which runs as
/// user outbox.
public enum SpoolOwner {
    /// Switches to the owner of the spool root when running as root and the spool belongs
    /// to someone else; does nothing otherwise (or when the spool does not exist yet).
    public static func become(_ layout: SpoolLayout) throws(SystemError) {
        guard geteuid() == 0 else { return }
        var st = stat()
        guard stat(layout.root, &st) == 0, st.st_uid != 0 else { return }
        guard setgroups(0, nil) == 0, setgid(st.st_gid) == 0, setuid(st.st_uid) == 0 else {
            throw SystemError("switch to the spool owner (uid \(st.st_uid))", path: layout.root)
        }
    }
}
