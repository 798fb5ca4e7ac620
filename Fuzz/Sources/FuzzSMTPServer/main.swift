// `sendmail -bs`: the SMTP server dialogue fed arbitrary client input (commands, MAIL/RCPT
// paths and parameters, pipelining, overlong lines). No drop helper is started (DATA gets
// its 451), so what is fuzzed is the command parser and state machine. Invariant: every
// reply is a well-formed SMTP reply line ending in CRLF, whatever the client sent, so
// nothing from the input can break the framing of what the caller reads.
import FuzzSupport
import Glibc
import OutboxConfig
import OutboxCore
import OutboxSubmit

let context = SubmissionContext(
    config: try! ConfigParser.parse("domain = example.org\nadmin_address = admin@example.net\n", path: "fuzz.conf"),
    host: HostIdentity(hostname: "host", fqdn: "host.example.org"),
    aliases: AliasTable.parse("postmaster: root\nlist: a@x.test, b@y.test\nloop: loop\n", path: "aliases"),
    uid: 0)

let input = scratchFile("smtp-in")
let output = scratchFile("smtp-out")

func contents(_ fd: Int32) -> [UInt8] {
    let size = Int(lseek(fd, 0, SEEK_END))
    lseek(fd, 0, SEEK_SET)
    var bytes = [UInt8](repeating: 0, count: size)
    let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, size) }
    precondition(got == size, "short read of the reply file")
    return bytes
}

func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fill(input, data, size)
    ftruncate(output, 0)
    lseek(output, 0, SEEK_SET)
    // Not owned: the scratch files outlive each session.
    let session = SMTPServerSession(
        context: context, input: FileDescriptor(unowned: input),
        output: FileDescriptor(unowned: output),
        makeHelper: { () throws(SubmissionError) in throw SubmissionError(.unavailable, "no helper in the fuzzer") })
    _ = session.run()
    let replies = contents(output)
    var start = 0
    for i in replies.indices where replies[i] == 10 {
        precondition(i > start && replies[i - 1] == 13, "reply line without CRLF at \(i)")
        let line = replies[start..<(i - 1)]
        precondition(
            line.count >= 4 && line.prefix(3).allSatisfy { $0 >= 48 && $0 <= 57 }
                && (line[line.startIndex + 3] == 32 || line[line.startIndex + 3] == 45), "malformed reply line")
        precondition(!line.contains(13), "bare CR inside a reply")
        start = i + 1
    }
    precondition(start == replies.count, "unterminated reply")
    return 0
}

// SwiftPM gives every executable its own main; it hands the inputs to libFuzzer's driver.
exit(runFuzzer(fuzz))
