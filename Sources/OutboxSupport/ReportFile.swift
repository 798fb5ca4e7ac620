import Glibc
import OutboxCore

/// A report file readers must never see half-written (status files, the Prometheus
/// textfile): a temporary file beside it, then rename. Not fsync'd: a report is rewritten
/// from memory, nothing depends on it surviving a crash.
public enum ReportFile {
    /// Replaces `path` with `text`; the temporary name does not end in the target's
    /// suffix, so node_exporter's textfile collector (which reads `*.prom`) never reads it.
    public static func replace(_ path: String, with text: String, mode: mode_t) throws(SystemError) {
        // A new random name each time, created exclusively: in a directory others may
        // write, nothing planted at a fixed name (a FIFO, a link, a file of someone
        // else's in a sticky directory) can block, redirect or stop the write.
        var fd: FileDescriptor?
        var temporary = ""
        for attempt in 1...8 {
            let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            var random = SystemRandomNumberGenerator()
            temporary = path + ".tmp." + String((0..<10).map { _ in letters[Int(random.next(upperBound: UInt(letters.count)))] })
            do {
                fd = try FileDescriptor.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: mode)
                break
            } catch  where error.errno == EEXIST && attempt < 8 {
                continue
            }
        }
        guard let fd else { throw SystemError("open", path: temporary, errno: EEXIST) }
        do throws(SystemError) {
            // The umask (UMask=0077 under systemd) must not narrow what readers need.
            guard fchmod(fd.rawValue, mode) == 0 else { throw SystemError("fchmod", path: temporary) }
            try fd.writeAll(text)
            fd.close()
            guard rename(temporary, path) == 0 else { throw SystemError("rename", path: path) }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Removes the temporary files a crash between create and rename left beside `path`:
    /// `NAME.tmp.` and ten letters, a regular file of this user's, older than a minute (so
    /// not one another process is writing now). Anything else in the directory, which
    /// others may write (node_exporter's), is left alone.
    public static func removeStaleTemporaries(of path: String, now: time_t = time(nil)) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let prefix = (slash.map { String(path[path.index(after: $0)...]) } ?? path) + ".tmp."
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix(prefix), name.utf8.count == prefix.utf8.count + 10,
                name.utf8.suffix(10).allSatisfy({ ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) || ($0 >= 48 && $0 <= 57) })
            else { continue }
            let full = directory + "/" + name
            var st = stat()
            guard lstat(full, &st) == 0, st.isRegularFile, st.st_uid == geteuid(), now - st.st_mtim.tv_sec > 60 else { continue }
            unlink(full)
        }
    }

    /// The file's text, at most `limit` bytes; nil when it cannot be read, or is longer
    /// unless `truncating` (then its whole lines within the limit).
    public static func read(_ path: String, limit: Int = 1 << 20, truncating: Bool = false) -> String? {
        guard let fd = try? FileDescriptor.open(path, flags: O_RDONLY | O_NOFOLLOW | O_CLOEXEC) else { return nil }
        guard truncating else {
            guard let bytes = try? fd.readToEnd(limit: limit) else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        }
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var filled = 0
        while filled < bytes.count {
            let read = bytes.withUnsafeMutableBytes { raw in
                Result { () throws(SystemError) in try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...])) }
            }
            guard case .success(let n) = read else { return nil }
            if n == 0 { break }
            filled += n
        }
        if filled > limit { filled = (bytes[..<limit].lastIndex(of: 10) ?? -1) + 1 }
        return String(decoding: bytes[..<filled], as: UTF8.self)
    }
}
