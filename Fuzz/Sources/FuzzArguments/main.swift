// sendmail's command line: NUL-separated arguments, argv[0] from the first byte.
import FuzzSupport
import Glibc
import OutboxSubmit

func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let arguments = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    let name = ["sendmail", "mailq", "newaliases", "send-mail"][Int(bytes.first ?? 0) % 4]
    _ = try? SendmailArguments.parse(arguments, invokedAs: name)
    return 0
}

// SwiftPM gives every executable its own main; it hands the inputs to libFuzzer's driver.
exit(runFuzzer(fuzz))
