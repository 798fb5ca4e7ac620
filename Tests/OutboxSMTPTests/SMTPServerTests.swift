import Testing

@testable import OutboxSMTP

@Suite("SMTP server side (sendmail -bs): commands, parameters, DATA, and round trips with the client")
struct SMTPServerTests {
    @Test("DATA dot-unstuffing finds the end marker across chunk boundaries")
    func dataDecoder() {
        let input = Array("a\r\n..b\r\n.c\r\n\r\n.\r\nNEXT".utf8)
        for split in 0...input.count {
            var d = SMTPDataDecoder()
            var out: [UInt8] = []
            let first = d.decode(input[..<split], into: &out)
            var total = first.used
            var ended = first.ended
            if !ended {
                let second = d.decode(input[split...], into: &out)
                total += second.used
                ended = second.ended
            }
            #expect(ended)
            #expect(String(decoding: out, as: UTF8.self) == "a\r\n.b\r\nc\r\n\r\n", "split at \(split)")
            #expect(total == input.count - 4)
        }
    }

    @Test(
        "only CRLF . CRLF ends DATA: a bare-LF or bare-CR dot line is data (issue 10, finding 9)",
        arguments: ["a\n.\nMAIL FROM:<ceo@x>\r\n", "a\r.\r\nRSET\r\n", "a\r\n.\nRCPT TO:<x@y>\r\n", "a\n.\r\nX\r\n"])
    func dataDecoderBareLineEnds(_ text: String) {
        let input = Array(text.utf8)
        var d = SMTPDataDecoder()
        var out: [UInt8] = []
        let result = d.decode(input[...], into: &out)
        #expect(!result.ended, "\(text.debugDescription) must not end DATA")
        #expect(result.used == input.count)
        // The real end still works after such lines.
        let end = d.decode(Array("\r\n.\r\n".utf8)[...], into: &out)
        #expect(end.ended)
    }

    @Test("xtext and SMTP path parsing")
    func smtpHelpers() {
        #expect(XText.decode("a+2Bb+3Dc") == "a+b=c")
        #expect(XText.decode("bad=") == nil)
        #expect(XText.decode("+4") == nil)
        let p = SMTPServerCommand.pathAndParameters("FROM:<\"a>b\"@x> BODY=8BITMIME SIZE=10", keyword: "FROM:")
        #expect(p?.path == "\"a>b\"@x" && p?.parameters == ["BODY=8BITMIME", "SIZE=10"])
        #expect(SMTPServerCommand.pathAndParameters("from: <>", keyword: "FROM:")?.path == "")
        #expect(SMTPServerCommand.pathAndParameters("TO <a@x>", keyword: "TO:") == nil)
    }

    static let commands: [(String, SMTPServerCommand)] = [
        ("EHLO client.test", .ehlo("client.test")), ("helo  c.test extra", .helo("c.test")), ("EHLO", .refused("501 5.5.4 Syntax: EHLO hostname")),
        (
            "MAIL FROM:<a@x> BODY=8BITMIME SIZE=10 RET=HDRS ENVID=q+2B1 SMTPUTF8 AUTH=<>",
            .mail(.success(.init(path: "a@x", .init(body: "8BITMIME", ret: "HDRS", envid: "q+2B1", smtpUTF8: true, size: 10))))
        ),
        ("mail from: <>", .mail(.success(.init(path: "", .init())))),
        ("MAIL FROM:<a@x> BODY=8BITMIME BODY=7BIT", .mail(.failure(.init(reply: "501 5.5.4 Duplicate parameter: BODY=7BIT")))),
        ("MAIL FROM:<a@x> X-FOO=1", .mail(.failure(.init(reply: "555 5.5.4 Unsupported option: X-FOO=1")))),
        ("MAIL FROM:<a@x> SIZE=big", .mail(.failure(.init(reply: "555 5.5.4 Unsupported option: SIZE=big")))),
        ("MAIL TO:<a@x>", .mail(.failure(.init(reply: "501 5.5.4 Syntax: MAIL FROM:<address>")))),
        (
            "RCPT TO:<b@y> NOTIFY=failure,delay ORCPT=rfc822;b+2Bx@y",
            .rcpt(.success(.init(path: "b@y", .init(notify: "FAILURE,DELAY", original: "b+x@y"))))
        ),
        ("RCPT TO:<b@y> NOTIFY=NEVER,FAILURE", .rcpt(.failure(.init(reply: "501 5.5.4 Bad NOTIFY parameter syntax")))),
        ("RCPT TO:<b@y> ORCPT=x400;b", .rcpt(.failure(.init(reply: "501 5.5.4 Bad ORCPT parameter syntax")))),
        ("RCPT TO:<b@y> NOTIFY=NEVER NOTIFY=NEVER", .rcpt(.failure(.init(reply: "501 5.5.4 Duplicate parameter: NOTIFY=NEVER")))),
        ("DATA", .data), ("DATA x", .refused("501 5.5.4 Syntax: DATA")), ("rset", .rset), ("NOOP", .noop), ("QUIT", .quit),
        ("STARTTLS", .notImplemented), ("BDAT 10 LAST", .notImplemented), ("XYZZY", .unrecognized), ("", .refused("500 5.5.2 Error: bad syntax")),
        ("MAIL FROM:<a@x> ENVID=\u{7}", .mail(.failure(.init(reply: "555 5.5.4 Unsupported option: ENVID=?")))),
    ]

    @Test("command lines parse into commands, or the one reply that says what was wrong", arguments: commands)
    func parse(_ line: String, _ expected: SMTPServerCommand) {
        #expect(SMTPServerCommand.parse(line) == expected)
    }

    /// The client machine's command lines, parsed back by the server side.
    static func roundTrip(_ envelope: SMTPEnvelope, _ capabilities: SMTPCapabilities) -> (mail: SMTPServerCommand, rcpts: [SMTPServerCommand]) {
        let line = { (c: SMTPCommand) in String(c.line.dropLast()) }  // "\r\n" is one Character
        return (
            SMTPServerCommand.parse(line(envelope.mailCommand(capabilities))),
            envelope.recipients.map { SMTPServerCommand.parse(line(SMTPEnvelope.rcptCommand($0, capabilities))) }
        )
    }

    @Test("round trip: what the client emits, the server parses back to the same envelope")
    func clientToServer() {
        let ehlo = SMTPReply(code: 250, lines: ["mx", "PIPELINING", "SIZE 1000000", "8BITMIME", "DSN", "SMTPUTF8"])
        let envelope = SMTPEnvelope(
            sender: "\"odd local\"@example.org",
            recipients: [
                SMTPEnvelope.Recipient(index: 0, address: "a@example.net", original: "Ünï=+x@example.net", notify: "SUCCESS,FAILURE"),
                SMTPEnvelope.Recipient(index: 1, address: "b@[192.0.2.1]", notify: "NEVER"),
                SMTPEnvelope.Recipient(index: 2, address: "jörg@bücher.example"),
            ],
            size: 4242, eightBit: true, smtpUTF8: true, ret: "HDRS", envid: "id+2B42")
        let (mail, rcpts) = Self.roundTrip(envelope, SMTPCapabilities(ehloReply: ehlo))
        #expect(
            mail == .mail(.success(.init(path: envelope.sender, .init(body: "8BITMIME", ret: "HDRS", envid: "id+2B42", smtpUTF8: true, size: 4242)))))
        #expect(rcpts == envelope.recipients.map { .rcpt(.success(.init(path: $0.address, .init(notify: $0.notify, original: $0.original)))) })
        // A server without DSN gets neither NOTIFY nor ORCPT; nor BODY without 8BITMIME.
        let plain = Self.roundTrip(envelope, SMTPCapabilities(ehloReply: SMTPReply(code: 250, lines: ["mx", "SMTPUTF8"])))
        #expect(plain.mail == .mail(.success(.init(path: envelope.sender, .init(smtpUTF8: true)))))
        #expect(plain.rcpts[0] == .rcpt(.success(.init(path: "a@example.net", .init()))))
        // The null sender.
        var bounce = envelope
        bounce.sender = ""
        #expect(Self.roundTrip(bounce, SMTPCapabilities()).mail == .mail(.success(.init(path: "", .init(smtpUTF8: true)))))
    }
}
