// A message start through the submission path: line endings normalised, header section
// split (in two chunks), -t recipients and the header rewrite with a hostile full name. Checks the SMTP-smuggling
// invariant on what would be queued: every CR is followed by LF and every LF preceded by CR.
import FuzzSupport
import Glibc
import OutboxMessage

func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Up to the first NUL: the full name (-F, or the user's GECOS); the rest: the message.
    let all = UnsafeRawBufferPointer(start: data, count: size)
    let nul = all.firstIndex(of: 0)
    let fullName = nul.map { String(decoding: all[..<$0], as: UTF8.self) }
    let input = nul.map { UnsafeRawBufferPointer(rebasing: all[($0 + 1)...]) } ?? all
    var normalizer = LineEndingNormalizer(dotEndsInput: size % 2 == 0)
    var normalized: [UInt8] = []
    _ = normalizer.feed(input, into: &normalized)
    normalizer.finish(into: &normalized)
    var parser = HeaderSectionParser()
    let cut = normalized.isEmpty ? 0 : Int(normalized[0]) % normalized.count
    var body: [UInt8] = []
    for chunk in [normalized[..<cut], normalized[cut...]] {
        let progress = chunk.withUnsafeBytes { try? parser.feed($0) }
        if case .complete(let start)? = progress {
            body = start
            break
        }
    }
    if body.isEmpty { body = parser.finish() }
    _ = try? HeaderRewriter.recipients(in: parser.fields)
    _ = try? AddressListParser.parse(Array(input))
    let context = HeaderRewriter.Context(
        domain: "example.org", fromAddress: "user@example.org", fullName: fullName ?? "A User",
        received: "Received: by host (outbox)", date: "Tue, 1 Dec 2026 12:00:00 +0000",
        messageID: "<id@example.org>")
    let header = HeaderRewriter.rewrite(parser.fields, context: context)
    for bytes in [header, normalized] {
        for (i, b) in bytes.enumerated() {
            precondition(b != 13 || (i + 1 < bytes.count && bytes[i + 1] == 10), "bare CR at \(i)")
            precondition(b != 10 || (i > 0 && bytes[i - 1] == 13), "bare LF at \(i)")
        }
    }
    return 0
}

// SwiftPM gives every executable its own main; it hands the inputs to libFuzzer's driver.
exit(runFuzzer(fuzz))
