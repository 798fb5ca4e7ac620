// The drop record reader outboxd and the helper use (RecordReader, with reads of 1 to 7
// octets so that every record boundary falls inside a read) and the drop-file validator
// (DropFile.read: grammar, limits, header, envelope). Invariants: whatever is read
// re-encodes to the same octets (no record is read two ways), and nothing crashes.
import FuzzSupport
import Glibc
import OutboxCore
import OutboxDrop
import OutboxSpool

let scratch = scratchFile("records")
let file = FileDescriptor(unowned: scratch, path: "fuzz input")

func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fill(scratch, data, size)
    var reader = RecordReader(readLimit: 1 + size % 7)
    var records: [Record] = []
    do {
        while try reader.next(from: file, { type, payload in records.append(Record(type, Array(payload))) }) {}
        precondition(RecordEncoder.encode(records) == Array(UnsafeBufferPointer(start: data, count: size)), "read/encode round trip differs")
    } catch {
        // A refused stream: the records before the fault must still re-encode to a prefix.
        precondition(Array(UnsafeBufferPointer(start: data, count: size)).starts(with: RecordEncoder.encode(records)), "prefix differs")
    }
    lseek(scratch, 0, SEEK_SET)
    var envelope = DropFile()
    _ = try? DropFile.read(file, path: "fuzz input", into: &envelope) { _, _ in }
    return 0
}

// SwiftPM gives every executable its own main; it hands the inputs to libFuzzer's driver.
exit(runFuzzer(fuzz))
