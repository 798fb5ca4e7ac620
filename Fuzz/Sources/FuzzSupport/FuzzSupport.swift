import Glibc

/// libFuzzer's entry for programs that keep their own main (LLVM ≥ 11).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The target under test; set once before the driver starts.
nonisolated(unsafe) var currentTarget: ((UnsafePointer<UInt8>, Int) -> CInt)?

/// Runs libFuzzer with the process's arguments on `target`.
public func runFuzzer(_ target: @escaping (UnsafePointer<UInt8>, Int) -> CInt) -> CInt {
    currentTarget = target
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        let empty: [UInt8] = [0]
        return empty.withUnsafeBufferPointer { fallback in currentTarget!(data ?? fallback.baseAddress!, size) }
    }
}

/// An unlinked file in /dev/shm (memory, as memfd_create would be, which Glibc's module
/// does not export), reused for every input.
public func scratchFile(_ name: String) -> Int32 {
    var template = Array("/dev/shm/outbox-fuzz-\(name).XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    precondition(fd >= 0, "mkstemp in /dev/shm")
    template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    return fd
}

/// Replaces the scratch file's content with the input, positioned at its start.
public func fill(_ fd: Int32, _ data: UnsafePointer<UInt8>, _ size: Int) {
    ftruncate(fd, 0)
    lseek(fd, 0, SEEK_SET)
    precondition(write(fd, data, size) == size, "short write")
    lseek(fd, 0, SEEK_SET)
}
