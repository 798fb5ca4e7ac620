import COutboxSys
import Glibc

/// An open file descriptor that owns its descriptor number: it is closed exactly once,
/// by `close()` (which consumes it) or when it goes out of scope, so neither a double close
/// nor a leak can be written (swift-system's newer owned API is the model). The handful of
/// calls outbox needs are methods, each retried on EINTR, failing with a `SystemError`
/// that names the path, and reachable by fault injection.
public struct FileDescriptor: ~Copyable, @unchecked Sendable {
    /// The kernel's descriptor number, for calls that take one (poll, flock, posix_spawn).
    public let rawValue: Int32
    /// The path it was opened from, for error messages only.
    public let path: String?
    /// False only for the standard streams, which this process does not own.
    private var owned: Bool

    /// Takes ownership of `rawValue`.
    public init(owning rawValue: Int32, path: String? = nil) {
        self.rawValue = rawValue
        self.path = path
        self.owned = true
    }

    /// A view of a descriptor someone else owns (the standard streams, a test harness's
    /// file): it is never closed through this value.
    public init(unowned rawValue: Int32, path: String? = nil) {
        self.rawValue = rawValue
        self.path = path
        self.owned = false
    }

    /// The standard streams, not owned: closing or dropping one leaves it open.
    public static var standardInput: FileDescriptor { FileDescriptor(unowned: 0, path: "standard input") }
    public static var standardOutput: FileDescriptor { FileDescriptor(unowned: 1, path: "standard output") }
    public static var standardError: FileDescriptor { FileDescriptor(unowned: 2, path: "standard error") }

    deinit {
        if owned { Self.closeNumber(rawValue, path: path) }
    }

    /// Closes now. Errors are ignored because every durable write is fsync'd first.
    public consuming func close() {
        // deinit runs here: ownership ends with this call.
    }

    /// Gives up ownership without closing (the number now belongs to the caller).
    public consuming func release() -> Int32 {
        owned = false
        return rawValue
    }

    private static func closeNumber(_ number: Int32, path: String?) {
        let rc = Glibc.close(number)
        #if DEBUG
        // A second close of the same number would close whatever reused it (in a threaded
        // outboxd, another thread's file): debug builds, which the tests run, stop here.
        if rc != 0 && Errno.current == EBADF { fatalError("close of a descriptor that is not open: \(number) (\(path ?? "no path"))") }
        #endif
    }

    /// Wraps `openat(2)`; always adds O_CLOEXEC.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0, displayPath: String? = nil) throws(SystemError) -> FileDescriptor {
        try FileDescriptor(unowned: AT_FDCWD).open(path, flags: flags, mode: mode, displayPath: displayPath)
    }

    /// Opens `name` in this directory (see `open`).
    public func open(_ name: String, flags: Int32, mode: mode_t = 0, displayPath: String? = nil) throws(SystemError) -> FileDescriptor {
        let fd = try retryingEINTR("open", path: displayPath ?? name) { coutbox_openat(rawValue, name, flags | O_CLOEXEC, mode) }
        return FileDescriptor(owning: fd, path: displayPath ?? name)
    }

    /// Removes `name` from this directory (`unlinkat(2)`).
    public func unlink(_ name: String) throws(SystemError) {
        _ = try retryingEINTR("unlink", path: name) { unlinkat(rawValue, name, 0) }
    }

    /// Renames `name` in this directory to `newName` in `directory` (fault injection: rename).
    public func rename(_ name: String, to newName: String, in directory: borrowing FileDescriptor, path: String) throws(SystemError) {
        guard durableRename(name, newName, fromDirectory: rawValue, toDirectory: directory.rawValue) == 0 else {
            throw SystemError("rename", path: path)
        }
    }

    /// Wraps `read(2)`: returns 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        try retryingEINTR("read", path: path) { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
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
        try bytes.withBytes { (raw) throws(SystemError) in try writeAll(raw) }
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

    /// open(2)'s O_PATH: a descriptor usable only as an anchor for *at() calls, which needs
    /// no read permission on the directory.
    public static let pathOnly: Int32 = coutbox_o_path

    /// Reads into the whole of `buffer` at most once; returns the count (0 at end of file).
    public func read(into buffer: inout [UInt8]) throws(SystemError) -> Int {
        try buffer.withUnsafeMutableBytes { raw in Result { () throws(SystemError) in try read(into: raw) } }.get()
    }

    /// Reads the rest of the file, failing with EFBIG beyond `limit` octets.
    public func readToEnd(limit: Int) throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8].unfilled(16384)
        while true {
            let n = try read(into: &chunk)
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > limit { throw SystemError("read", path: path, errno: EFBIG) }
        }
    }
}

extension [UInt8] {
    /// `count` bytes that are not zeroed first, for buffers of which only what was read
    /// into them is looked at. Zeroing 128 KiB cost the set-id helper 3.7 ms of each
    /// submission when it was built -Onone, where zeroing is a loop.
    public static func unfilled(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }
}

extension [UInt8] {
    /// `withUnsafeBytes` for a body with a typed error. The standard library's rethrows
    /// untyped (`any Error`), which Embedded Swift (the installed sendmail and drop helper)
    /// cannot carry: the error travels in a Result.
    public func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try withUnsafeBytes { raw in Result { () throws(E) in try body(raw) } }.get()
    }
}
