// SMTP replies as a hostile server could send them, fed in pieces of varying size.
import FuzzSupport
import Glibc
import OutboxSMTP

func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var parser = SMTPReplyParser()
    var offset = 0
    let step = max(1, Int(bytes.first ?? 7) % 64)
    while offset < bytes.count {
        parser.feed(bytes[offset..<min(bytes.count, offset + step)])
        offset += step
        do {
            while let reply = try parser.next() {
                precondition((200...599).contains(reply.code) || (100...199).contains(reply.code), "reply code \(reply.code)")
            }
        } catch { return 0 }
    }
    return 0
}

// SwiftPM gives every executable its own main; it hands the inputs to libFuzzer's driver.
exit(runFuzzer(fuzz))
