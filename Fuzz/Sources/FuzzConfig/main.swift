// outbox.conf: any text either fails with file:line or parses; what parses must come back
// unchanged through `outboxctl config`'s rendering.
import FuzzSupport
import Glibc
import OutboxConfig

func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let config = try? ConfigParser.parse(text, path: "/fuzz.conf") else { return 0 }
    let rendered = config.settings.filter { !$0.value.isEmpty }.map { "\($0.key) = \($0.value)" }.joined(separator: "\n")
    let again = try? ConfigParser.parse(rendered, path: "/fuzz.conf")
    precondition(again == config, "render/parse round trip differs:\n\(rendered)")
    return 0
}

// SwiftPM gives every executable its own main; it hands the inputs to libFuzzer's driver.
exit(runFuzzer(fuzz))
