import Glibc
import OutboxCore
import OutboxDrop

/// Directory listings and clean-up below the spool root (outboxd, outboxctl, root).
extension SpoolLayout {
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
        try fileNames(in: maildropNew)
    }

    /// Names in `directory` not starting with ".", sorted (queue IDs sort by arrival).
    public func fileNames(in directory: String) throws(SystemError) -> [String] {
        var names: [String] = []
        try forEachFileName(in: directory) { names.append($0) }
        return names.sorted()
    }

    /// Calls `body` with each name in `directory` not starting with ".", in directory
    /// order, holding no list (a queue of a million names is not copied into memory).
    public func forEachFileName(in directory: String, _ body: (String) -> Void) throws(SystemError) {
        guard let dir = opendir(directory) else { throw SystemError("opendir", path: directory) }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.first != "." { body(name) }
        }
    }
}
