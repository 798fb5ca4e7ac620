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
