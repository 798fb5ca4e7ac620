import COutboxSys
import Glibc

/// An open file descriptor with the handful of calls outbox needs, each retried on EINTR
/// and failing with a `SystemError` that names the path.
public struct FileDescriptor: Sendable, Hashable {
    /// The kernel's descriptor number.
    public let rawValue: Int32
    /// The path it was opened from, for error messages only.
    public let path: String?

    public init(rawValue: Int32, path: String? = nil) {
        self.rawValue = rawValue
        self.path = path
    }

    public static let standardInput = FileDescriptor(rawValue: 0, path: "standard input")
    public static let standardOutput = FileDescriptor(rawValue: 1, path: "standard output")
    public static let standardError = FileDescriptor(rawValue: 2, path: "standard error")

    /// Wraps `openat(2)`; always adds O_CLOEXEC.
    public static func open(
        _ path: String, flags: Int32, mode: mode_t = 0, relativeTo directory: FileDescriptor? = nil,
        displayPath: String? = nil
    ) throws(SystemError) -> FileDescriptor {
        let dirfd = directory?.rawValue ?? AT_FDCWD
        let fd = try retryingEINTR("open", path: displayPath ?? path) {
            openat(dirfd, path, flags | O_CLOEXEC, mode)
        }
        return FileDescriptor(rawValue: fd, path: displayPath ?? path)
    }

    /// Wraps `read(2)`: returns 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        try retryingEINTR("read", path: path) { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Reads until `buffer` is full or end of file; returns the count read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        var total = 0
        while total < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
            if n == 0 { break }
            total += n
        }
        return total
    }

    /// Writes every byte, looping over short writes.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        #if DEBUG
        // Faults are for storage: pipes and sockets (no path) are never failed on purpose.
        if path?.first == "/", let injected = FaultInjection.check("write") { throw SystemError("write", path: path, errno: injected) }
        #endif
        var offset = 0
        while offset < bytes.count {
            let n = try retryingEINTR("write", path: path) {
                Glibc.write(rawValue, bytes.baseAddress! + offset, bytes.count - offset)
            }
            offset += n
        }
    }

    /// Writes every byte of `bytes`.
    public func writeAll(_ bytes: [UInt8]) throws(SystemError) {
        let failure: SystemError? = bytes.withUnsafeBytes { (raw) -> SystemError? in
            do throws(SystemError) { try writeAll(raw); return nil } catch { return error }
        }
        if let failure { throw failure }
    }

    /// Writes a string's UTF-8 bytes.
    public func writeAll(_ string: String) throws(SystemError) {
        try writeAll(Array(string.utf8))
    }

    /// Wraps `fsync(2)`.
    public func sync() throws(SystemError) {
        if let injected = FaultInjection.check("fsync") { throw SystemError("fsync", path: path, errno: injected) }
        _ = try retryingEINTR("fsync", path: path) { fsync(rawValue) }
    }

    /// Wraps `fchmod(2)`.
    public func changeMode(_ mode: mode_t) throws(SystemError) {
        _ = try retryingEINTR("chmod", path: path) { fchmod(rawValue, mode) }
    }

    /// Wraps `fstat(2)`.
    public func status() throws(SystemError) -> stat {
        var st = stat()
        _ = try retryingEINTR("stat", path: path) { fstat(rawValue, &st) }
        return st
    }

    /// Wraps `close(2)`; errors are ignored because every durable write is fsync'd first.
    public func close() {
        _ = Glibc.close(rawValue)
    }
}

extension FileDescriptor {
    /// open(2)'s O_PATH: a descriptor usable only as an anchor for *at() calls, which needs
    /// no read permission on the directory.
    public static let pathOnly: Int32 = coutbox_o_path

    /// A close-on-exec pipe: (read end, write end).
    public static func pipe() throws(SystemError) -> (read: FileDescriptor, write: FileDescriptor) {
        var fds: [Int32] = [0, 0]
        guard coutbox_pipe_cloexec(&fds) == 0 else { throw SystemError("pipe") }
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }
}

extension FileDescriptor {
    /// Reads into the whole of `buffer` at most once; returns the count (0 at end of file).
    public func read(into buffer: inout [UInt8]) throws(SystemError) -> Int {
        let result: Result<Int, SystemError> = buffer.withUnsafeMutableBytes { raw in
            do throws(SystemError) { return .success(try read(into: raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Reads the rest of the file, failing with EFBIG beyond `limit` octets.
    public func readToEnd(limit: Int) throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = try read(into: &chunk)
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > limit { throw SystemError("read", path: path, errno: EFBIG) }
        }
    }
}
