import Glibc
import OutboxCore

/// Writes one drop file durably: create in maildrop/tmp with O_EXCL, append records,
/// then `commit()` = flush → fsync(file) → rename into maildrop/new → fsync(directory).
///
/// A crash or signal before the rename leaves only a file in tmp/ (nobody reads it; it is
/// removed by the signal handler or after 36 h). After the rename the file is complete,
/// because every byte was fsync'd first and the last record is E.
public final class DropWriter {
    /// The queue ID, which is also the file name.
    public let queueID: QueueID
    /// The full path of the file in tmp/, for the signal handler's unlink.
    public let temporaryPath: String

    private let layout: SpoolLayout
    private let tmpDirectory: FileDescriptor
    private let newDirectory: FileDescriptor
    /// The file being written; nil once committed or abandoned (closed exactly once).
    private var file: FileDescriptor?
    private var buffer: [UInt8] = []
    private var committed = false
    private static let flushThreshold = 1 << 17

    /// Opens both drop directories and creates a fresh file in tmp/.
    /// `fileMode` 0604: the submitter may read its own file, the drop group (the helper's
    /// setgid group, shared by every submission) may not, and outboxd, which is neither
    /// owner nor in the group, reads it as "other"; nobody else can reach maildrop/.
    public init(layout: SpoolLayout, fileMode: mode_t = 0o604) throws(SystemError) {
        self.layout = layout
        // tmp/ is only an anchor for openat/renameat/unlinkat, and the drop group may not
        // read it (1730): O_PATH. new/ is opened for reading because it must be fsync'd.
        tmpDirectory = try FileDescriptor.open(layout.maildropTmp, flags: FileDescriptor.pathOnly | O_DIRECTORY | O_NOFOLLOW)
        newDirectory = try FileDescriptor.open(layout.maildropNew, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        var attempts = 0
        while true {
            let id = QueueID.generate()
            let path = layout.maildropTmp + "/" + id.text
            do throws(SystemError) {
                let created = try tmpDirectory.open(id.text, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: fileMode, displayPath: path)
                // umask must not weaken or widen the mode the daemon relies on.
                try? created.changeMode(fileMode)
                file = consume created
                queueID = id
                temporaryPath = path
                break
            } catch {
                attempts += 1
                if error.errno == EEXIST && attempts < 10 { continue }
                throw error
            }
        }
        buffer.reserveCapacity(DropWriter.flushThreshold + RecordLimits.maxContentPayload + 16)
    }

    deinit {
        if !committed { abandon() }
    }

    /// Appends one record (buffered).
    public func append(_ type: RecordType, _ payload: UnsafeRawBufferPointer) throws(SystemError) {
        RecordEncoder.append(type, payload, to: &buffer)
        if buffer.count >= DropWriter.flushThreshold { try flush() }
    }

    /// Appends one record (buffered).
    public func append(_ record: Record) throws(SystemError) {
        let failure: SystemError? = record.payload.withUnsafeBytes { (raw) -> SystemError? in
            do throws(SystemError) {
                try append(record.type, raw)
                return nil
            } catch { return error }
        }
        if let failure { throw failure }
    }

    private func flush() throws(SystemError) {
        if buffer.isEmpty { return }
        guard file?.rawValue != nil else { throw SystemError("write", path: temporaryPath, errno: EBADF) }
        try file?.writeAll(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Makes the file durable and visible in new/. On failure the tmp file is removed.
    public func commit() throws(SystemError) {
        do throws(SystemError) {
            try flush()
            guard let written = file.take() else { throw SystemError("commit", path: temporaryPath, errno: EBADF) }
            try written.sync()
            written.close()
            try tmpDirectory.rename(queueID.text, to: queueID.text, in: newDirectory, path: temporaryPath)
            committed = true
            do throws(SystemError) {
                try newDirectory.sync()
            } catch {
                // The rename may not be durable: take the file back, so that a non-zero
                // exit means "not queued" and the caller's retry makes no duplicate. (If
                // outboxd was copying it in this instant, the copy completes and is
                // delivered: then the retry is a duplicate, never a loss.)
                try? newDirectory.unlink(queueID.text)
                throw error
            }
        } catch {
            if !committed { abandon() }
            throw error
        }
    }

    /// Removes the unfinished file from tmp/.
    public func abandon() {
        guard !committed else { return }
        committed = true
        file = nil
        try? tmpDirectory.unlink(queueID.text)
    }
}
