import Glibc
import OutboxCore

/// A report file readers must never see half-written (status files, the Prometheus
/// textfile): a temporary file beside it, then rename. Not fsync'd: a report is rewritten
/// from memory, nothing depends on it surviving a crash.
public enum ReportFile {
    /// Replaces `path` with `text`; the temporary name does not end in the target's
    /// suffix, so node_exporter's textfile collector (which reads `*.prom`) never reads it.
    public static func replace(_ path: String, with text: String, mode: mode_t) throws(SystemError) {
        let temporary = path + ".tmp"
        do throws(SystemError) {
            // Never opened if present: in a directory others may write, a FIFO or a link
            // left there would block or redirect the write. Ours from a crash is removed.
            unlink(temporary)
            let fd = try FileDescriptor.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: mode)
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
