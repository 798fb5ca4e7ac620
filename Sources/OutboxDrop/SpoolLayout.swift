import Glibc
import OutboxCore

/// Where everything lives below `spool_directory` (see outbox-spool(5)).
///
///     maildrop/tmp   drop files being written by the drop helper (never read by anyone else)
///     maildrop/new   complete drop files and flush requests, waiting for outboxd
///     queue/…        outboxd's private queue (delivery work); queue/hold: held messages
///     public/mailq   the envelope summary outboxd publishes for unprivileged `mailq`
public struct SpoolLayout: Sendable, Equatable {
    /// The spool root (`spool_directory`).
    public let root: String

    public init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    public var maildrop: String { root + "/maildrop" }
    public var maildropTmp: String { root + "/maildrop/tmp" }
    public var maildropNew: String { root + "/maildrop/new" }
    public var queueMessages: String { root + "/queue/msg" }
    public var queueStates: String { root + "/queue/state" }
    public var queueHeld: String { root + "/queue/hold" }
    public var queueTemporary: String { root + "/queue/tmp" }
    public var queueCorrupt: String { root + "/queue/corrupt" }
    /// Held (flock) by the running outboxd, or by outboxctl while it edits the queue.
    public var queueLock: String { root + "/queue/lock" }
    /// The running outboxd's control socket (inside the 0700 queue: root and outbox only).
    public var controlSocket: String { root + "/queue/control" }
    public var publicDirectory: String { root + "/public" }
    public var publicQueueSummary: String { root + "/public/mailq" }
    /// uids over a queue limit, which sendmail checks before it queues (outboxd writes it).
    public var publicOverLimit: String { root + "/public/overlimit" }

    /// How long a file may sit in maildrop/tmp before it is treated as abandoned (a writer
    /// killed by SIGKILL or a crash); as maildir and DESIGN say, 36 hours.
    public static let staleTemporaryAge = 36 * 3600

    /// The installed mode of each drop directory (group `outboxdrop`, the helper's own).
    /// tmp/ is 1730 as Postfix's maildrop: the drop group may create and remove names it
    /// knows but not list. new/ must also be group-readable (1770), because the helper has
    /// to open it to fsync the rename (a directory cannot be opened for fsync without read
    /// permission); the files in it are 0604, so listing them gives the group no content.
    /// Users outside the group can reach neither.
    public static let installedModes: [(relativePath: String, mode: mode_t)] = [
        ("maildrop", 0o755), ("maildrop/tmp", 0o1730), ("maildrop/new", 0o1770),
    ]

    /// Creates the drop directories that are missing: owner-only (0700) for an
    /// unprivileged instance (tests, development), `installedModes` when `groupWritable`.
    public func createDropDirectories(groupWritable: Bool) throws(SystemError) {
        if mkdir(root, 0o755) != 0 && Errno.current != EEXIST { throw SystemError("mkdir", path: root) }
        for (relative, installed) in SpoolLayout.installedModes {
            let path = root + "/" + relative
            let mode = groupWritable ? installed : 0o700
            if mkdir(path, mode) != 0 {
                // Existing directories keep the modes the installer gave them.
                if Errno.current == EEXIST { continue }
                throw SystemError("mkdir", path: path)
            }
            _ = chmod(path, mode)  // mkdir's mode is filtered by umask
        }
    }
}
