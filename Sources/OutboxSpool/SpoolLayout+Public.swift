import Glibc
import OutboxCore
import OutboxDrop

extension SpoolLayout {
    /// Replaces `path` (public/mailq, public/overlimit) with `text` atomically (temporary file, then rename), mode
    /// 0644, so that a reader never sees half of it. Best effort: these files are a view
    /// of the queue for unprivileged readers, rebuilt at the next change.
    func publish(_ text: String, to path: String) {
        guard mkdir(publicDirectory, 0o755) == 0 || Errno.current == EEXIST else { return }
        let tmp = publicDirectory + "/." + path.split(separator: "/").last! + ".tmp"
        do {
            let file = try FileDescriptor.open(tmp, flags: O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: 0o644)
            try file.writeAll(text)
            try file.changeMode(0o644)
        } catch { return }
        _ = durableRename(tmp, path)
    }
}
