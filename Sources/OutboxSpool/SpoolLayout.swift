import Glibc
import OutboxCore

/// Where everything lives below `spool_directory` (see outbox-spool(5)).
///
///     maildrop/tmp   drop files being written by the drop helper (never read by anyone else)
///     maildrop/new   complete drop files and flush requests, waiting for outboxd
///     queue/…        outboxd's private queue (delivery work)
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
    public var publicDirectory: String { root + "/public" }
    public var publicQueueSummary: String { root + "/public/mailq" }

    /// How long a file may sit in maildrop/tmp before it is treated as abandoned (a writer
    /// killed by SIGKILL or a crash); as maildir and DESIGN say, 36 hours.
    public static let staleTemporaryAge = 36 * 3600

    /// Creates the drop directories that are missing: mode 0700 for an unprivileged
    /// instance (tests, development), 1730 (the Postfix maildrop mode) when `groupWritable`.
    public func createDropDirectories(groupWritable: Bool) throws(SystemError) {
        let mode: mode_t = groupWritable ? 0o1730 : 0o700
        for path in [root, maildrop, maildropTmp, maildropNew] {
            if mkdir(path, path == root ? 0o755 : mode) != 0 {
                if errno == EEXIST { continue }
                throw SystemError("mkdir", path: path)
            }
            if groupWritable && path != root { _ = chmod(path, mode) }
        }
    }

    /// Removes files in maildrop/tmp older than `staleTemporaryAge`; returns their names.
    /// Run by whoever may list the directory (outboxd; root).
    @discardableResult
    public func removeStaleTemporaryFiles(now: Int = MailDate.now()) throws(SystemError) -> [String] {
        guard let dir = opendir(maildropTmp) else { throw SystemError("opendir", path: maildropTmp) }
        defer { closedir(dir) }
        var removed: [String] = []
        let dfd = dirfd(dir)
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name == "." || name == ".." { continue }
            var st = stat()
            guard fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR { continue }
            if now - Int(st.st_mtim.tv_sec) > SpoolLayout.staleTemporaryAge, unlinkat(dfd, name, 0) == 0 {
                removed.append(name)
            }
        }
        return removed
    }

    /// Names of the complete drop files in maildrop/new, oldest first.
    public func dropFileNames() throws(SystemError) -> [String] {
        guard let dir = opendir(maildropNew) else { throw SystemError("opendir", path: maildropNew) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.first != "." { names.append(name) }
        }
        return names.sorted()
    }
}
