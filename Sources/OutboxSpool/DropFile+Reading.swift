import Glibc
import OutboxCore
import OutboxDrop
import OutboxSupport

/// Reading and validating whole drop and queue files (outboxd, outboxctl, listings).
extension DropFile {
    /// The value of parameter `key` (e.g. "BODY"), if present.
    public func parameter(_ key: String) -> String? {
        for p in parameters {
            if let eq = p.firstIndex(of: "="), p[..<eq] == key { return String(p[p.index(after: eq)...]) }
            if p == key { return "" }
        }
        return nil
    }

    #if !hasFeature(Embedded)
    /// Reads and validates a whole drop file. `content`, if given, receives the message
    /// bytes. Refuses anything but a regular file with one link (never follows symlinks).
    public static func read(
        path: String, content: ((UnsafeRawBufferPointer) throws -> Void)? = nil
    ) throws -> DropFile {
        let fd = try openRegularFile(path)
        var file = DropFile()
        return try read(fd, path: path, into: &file, content: content.map { body in { _, bytes in try body(bytes) } })
    }

    /// The same over an open file, throwing the reader's SystemError or RecordError, or
    /// what `content` throws, unchanged.
    public static func read(
        _ fd: borrowing FileDescriptor, path: String, into file: inout DropFile, bufferSize: Int = 1 << 17,
        content: ((DropFile, UnsafeRawBufferPointer) throws -> Void)?
    ) throws -> DropFile {
        try read(fd, path: path, into: &file, bufferSize: bufferSize, failure: { failure -> any Error in failure.error }, content: content)
    }
    #endif

    /// Opens `path` for reading without following a symlink or blocking on a FIFO, and
    /// refuses anything but a regular file with exactly one link.
    /// `at`/`name`: the file as `name` in that open directory (`path` then only names it).
    public static func openRegularFile(_ path: String, at directory: Int32 = AT_FDCWD, name: String? = nil) throws(SystemError) -> FileDescriptor {
        let fd = try FileDescriptor(unowned: directory).open(name ?? path, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK, displayPath: path)
        let st = try fd.status()
        guard st.isRegularFile, st.st_nlink == 1 else {
            throw SystemError("open", path: path, errno: EINVAL)
        }
        return fd
    }

    /// Reads and validates the records of an open drop or queue file: framing, grammar,
    /// limits, the header, and the envelope (`envelopeProblem`, checked before the first
    /// content octet is handed out and again at the end). `content` receives each chunk
    /// with the envelope read so far; `file` keeps what was read when this throws. The
    /// reader's own failures reach the caller as `failure` makes them (typed throws: sendmail
    /// is also built as Embedded Swift, which has no `any Error`).
    public static func read<E: Error>(
        _ fd: borrowing FileDescriptor, path: String, into file: inout DropFile, bufferSize: Int = 1 << 17,
        failure: (RecordReaderFailure) -> E, content: ((DropFile, UnsafeRawBufferPointer) throws(E) -> Void)?
    ) throws(E) -> DropFile {
        var reader = RecordReader(bufferSize: bufferSize)
        file = DropFile()
        var stamped = 0
        var grammar = DropStreamGrammar()
        while try reader.next(
            from: fd, failure: failure,
            { (type, payload) throws(E) in
                if type.isStampedByHelper {
                    guard stamped < 4, grammar == DropStreamGrammar() else {
                        throw failure(.record(.unexpected(type, state: "after the header")))
                    }
                    stamped += 1
                    let text = String(decoding: payload, as: UTF8.self)
                    switch type {
                    case .version: file.version = text
                    case .queueID: file.queueID = text
                    case .uid: file.uid = Int(text) ?? -1
                    case .time: file.time = Int(text) ?? 0
                    default: break
                    }
                    return
                }
                do throws(RecordError) { try grammar.accept(type, payload, into: &file) } catch { throw failure(.record(error)) }
                if type == .content { try content?(file, payload) }
            })
        {}
        do throws(RecordError) {
            try grammar.finish(file, offset: reader.offset)
            try file.checkHeader(path: path)
            if let problem = file.envelopeProblem { throw RecordError.badEnvelope(problem) }
        } catch {
            throw failure(.record(error))
        }
        return file
    }

    func checkHeader(path: String) throws(RecordError) {
        guard version == DropFile.currentVersion, QueueID(queueID) != nil, uid >= 0 else {
            throw RecordError.unexpected(.version, state: "(bad header in \(path))")
        }
        // Arithmetic on the arrival time (delays, lifetimes, dates) must not overflow.
        guard time >= 0 && time <= MailDate.latest else {
            throw RecordError.unexpected(.time, state: "(arrival time \(time) out of range in \(path))")
        }
    }

    /// How readEnvelope stops reading: at the first content record, or on a failure.
    private enum EnvelopeRead: Error {
        case complete
        case failed(RecordReaderFailure)
    }

    private static func openForEnvelope(_ path: String, at directory: Int32, name: String?) throws(RecordReaderFailure) -> FileDescriptor {
        do throws(SystemError) { return try openRegularFile(path, at: directory, name: name) } catch { throw .system(error) }
    }

    /// The header and envelope of a drop or queue file, validated, without reading the
    /// message: reading stops at the first content record. For listings, which must not
    /// cost a read of every message (a 100 MB message made each public/mailq rebuild read
    /// 100 MB). `fileSize` stands in for the message size, as in Postfix's mailq.
    public static func readEnvelope(
        path: String, at directory: Int32 = AT_FDCWD, name: String? = nil
    ) throws(RecordReaderFailure) -> (file: DropFile, fileSize: Int) {
        let fd = try openForEnvelope(path, at: directory, name: name)
        let size: Int
        do throws(SystemError) { size = Int(try fd.status().st_size) } catch { throw .system(error) }
        var file = DropFile()
        do throws(EnvelopeRead) {
            // A small first buffer: most envelopes fit in one read.
            _ = try read(fd, path: path, into: &file, bufferSize: 4096, failure: EnvelopeRead.failed) { (_, _) throws(EnvelopeRead) in
                throw .complete
            }
        } catch {
            switch error {
            case .failed(let failure): throw failure
            case .complete:
                // The envelope was checked before the first content record was handed out.
                do throws(RecordError) { try file.checkHeader(path: path) } catch { throw .record(error) }
            }
        }
        return (file, size)
    }
}
