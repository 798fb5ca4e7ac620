// The drop record codec and the helper's grammar: whatever decodes must re-encode to the
// same octets (no record is read two ways), and the grammar never crashes on any order.
import FuzzSupport
import Glibc
import OutboxSpool

func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let records = try? RecordDecoder.decodeAll(bytes) else { return 0 }
    precondition(RecordEncoder.encode(records) == bytes, "decode/encode round trip differs")
    var grammar = DropStreamGrammar()
    for record in records {
        do { try grammar.accept(record.type) } catch { break }
    }
    return 0
}

// SwiftPM gives every executable its own main; it hands the inputs to libFuzzer's driver.
exit(runFuzzer(fuzz))
