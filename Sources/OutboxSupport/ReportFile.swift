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

    /// The file's text, at most `limit` bytes; nil when it cannot be read.
    public static func read(_ path: String, limit: Int = 1 << 20) -> String? {
        guard let fd = try? FileDescriptor.open(path, flags: O_RDONLY | O_NOFOLLOW | O_CLOEXEC), let bytes = try? fd.readToEnd(limit: limit) else {
            return nil
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
