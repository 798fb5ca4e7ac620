import Glibc
import OutboxCore
import OutboxDrop
import OutboxSupport

/// Directory listings and clean-up below the spool root (outboxd, outboxctl, root).
extension SpoolLayout {
    /// Removes files in maildrop/tmp older than `staleTemporaryAge`; returns their names.
    /// Run by whoever may list the directory (outboxd; root).
    @discardableResult
    public func removeStaleTemporaryFiles(now: Int = MailDate.now()) throws(SystemError) -> [String] {
        let names = try DirectoryNames(maildropTmp)
        var removed: [String] = []
        let dfd = names.descriptor
        while let name = names.next() {
            var st = stat()
            guard fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if st.isDirectory { continue }
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
        let names = try DirectoryNames(directory)
        while let name = names.next() {
            if name.first != "." { body(name) }
        }
    }
}

/// The names in one directory, read as a stream in directory order ("." and ".." left
/// out), for listings that must not hold a million names and for work taken a slice at a
/// time (outboxd's census). The directory is closed when the value goes.
public final class DirectoryNames {
    private var stream: OpaquePointer?

    public init(_ directory: String) throws(SystemError) {
        guard let dir = opendir(directory) else { throw SystemError("opendir", path: directory) }
        stream = dir
    }

    deinit { if let stream { closedir(stream) } }

    /// The directory's descriptor, for calls relative to it.
    public var descriptor: Int32 { stream.map { dirfd($0) } ?? -1 }

    /// The next name; nil at the end (the directory is then closed).
    public func next() -> String? {
        guard let dir = stream else { return nil }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { return name }
        }
        closedir(dir)
        stream = nil
        return nil
    }
}
