import OutboxSMTP
import Testing

@Suite("SMTP reply parsing")
struct SMTPReplyParserTests {
    func parse(_ text: String, split: Int? = nil) throws -> [SMTPReply] {
        var p = SMTPReplyParser()
        let bytes = Array(text.utf8)
        var out: [SMTPReply] = []
        let cut = split ?? bytes.count
        p.feed(bytes[..<cut])
        while let r = try p.next() { out.append(r) }
        p.feed(bytes[cut...])
        while let r = try p.next() { out.append(r) }
        return out
    }

    @Test("multiline EHLO, pipelined batches and odd spacing, at every split")
    func replies() throws {
        let text =
            "250-smarthost.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n250 ENHANCEDSTATUSCODES\r\n250 2.1.0 Ok\r\n451 4.7.1 <c@x>: try later\n354 End data\r\n250\r\n"
        for split in 0...text.utf8.count {
            let r = try parse(text, split: split)
            #expect(r.count == 5, "split \(split)")
            #expect(r[0].code == 250 && r[0].lines.count == 5 && r[0].lines[3] == "AUTH PLAIN LOGIN")
            #expect(r[1].enhancedStatus == "2.1.0")
            #expect(r[2].code == 451 && r[2].isTransient && r[2].enhancedStatus == "4.7.1")
            #expect(r[3].isIntermediate && r[3].enhancedStatus == nil)
            #expect(r[4].code == 250 && r[4].lines == [""])
        }
    }

    @Test("enhanced status must match the reply class")
    func enhancedMismatch() throws {
        #expect(try parse("550 4.1.1 odd\r\n")[0].enhancedStatus == nil)
        #expect(try parse("550 5.1.1 <a@x>: unknown\r\n")[0].enhancedStatus == "5.1.1")
        #expect(try parse("250 2.0.0\r\n")[0].enhancedStatus == "2.0.0")
    }

    static let malformed = ["25 short\r\n", "abc text\r\n", "250_underscore\r\n", "250-first\r\n251 changed\r\n", "650 bad class\r\n", "\r\n"]

    @Test("bad codes and broken multiline replies are protocol errors", arguments: malformed)
    func bad(_ text: String) {
        #expect(throws: SMTPProtocolError.self) { try parse(text) }
    }

    @Test("an endless line is refused")
    func endless() {
        var p = SMTPReplyParser()
        p.feed(Array(repeating: UInt8(ascii: "2"), count: 5000))
        #expect(throws: SMTPProtocolError.self) { try p.next() }
    }
}

@Suite("Capabilities, commands, xtext and dot-stuffing")
struct SMTPEncodingTests {
    @Test("capabilities from an EHLO reply")
    func capabilities() {
        let caps = SMTPCapabilities(
            ehloReply: SMTPReply(
                code: 250, lines: ["host", "PIPELINING", "SIZE 1000", "AUTH PLAIN LOGIN", "AUTH=PLAIN", "8BITMIME", "DSN", "STARTTLS", "smtputf8"]))
        #expect(caps.pipelining && caps.eightBitMIME && caps.dsn && caps.startTLS && caps.smtpUTF8)
        #expect(caps.sizeLimit == 1000)
        #expect(caps.authMechanisms == ["PLAIN", "LOGIN"])
        #expect(SMTPCapabilities(ehloReply: SMTPReply(code: 250, lines: ["h", "SIZE"])).sizeLimit == nil)
    }

    @Test("command lines; AUTH never logged")
    func commands() {
        #expect(SMTPCommand.mailFrom("", parameters: ["BODY=8BITMIME"]).line == "MAIL FROM:<> BODY=8BITMIME\r\n")
        #expect(
            SMTPCommand.rcptTo("a@x", parameters: ["NOTIFY=FAILURE", "ORCPT=rfc822;a+2Bb@x"]).line
                == "RCPT TO:<a@x> NOTIFY=FAILURE ORCPT=rfc822;a+2Bb@x\r\n")
        #expect(SMTPCommand.auth(mechanism: "PLAIN", initialResponse: "AGEAYg==").logLine == "AUTH PLAIN …")
        #expect(SMTPCommand.auth(mechanism: "PLAIN", initialResponse: "").line == "AUTH PLAIN =\r\n")
        #expect(XText.encode("a+b=c d") == "a+2Bb+3Dc+20d")
    }

    func stuff(_ chunks: [String]) -> String { stuff(chunks.map { Array($0.utf8)[...] }) }

    func stuff(_ chunks: [ArraySlice<UInt8>]) -> String {
        var s = DotStuffer()
        var out: [UInt8] = []
        for c in chunks { c.withUnsafeBytes { s.stuff($0, into: &out) } }
        s.finish(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func unstuff(_ wire: String) -> String {
        var lines = wire.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.suffix(2) == [".", ""])
        lines.removeLast(2)
        return lines.map { $0.hasPrefix(".") ? String($0.dropFirst()) : $0 }.joined(separator: "\r\n") + "\r\n"
    }

    @Test("dot-stuffing round trip at every octet boundary, between CR and LF too")
    func dotStuffing() {
        let message = ".leading\r\nmid.dle\r\n.\r\n..two\r\n\r\n.\r\nend\r\n"
        // Octets, not Characters: "\r\n" is one Character, so splitting Characters never
        // cut between CR and LF, the stuffer's trickiest state.
        let bytes = Array(message.utf8)
        for split in 0...bytes.count {
            let wire = stuff([bytes[..<split], bytes[split...]])
            #expect(wire == "..leading\r\nmid.dle\r\n..\r\n...two\r\n\r\n..\r\nend\r\n.\r\n", "split \(split)")
            #expect(unstuff(wire) == message)
        }
        #expect(stuff(["no final newline"]) == "no final newline\r\n.\r\n")
        #expect(stuff([String]()) == ".\r\n")
    }

    /// Issue 10, finding 2: the stuffer treated only CRLF as a line start, so `\n.\r\n` and
    /// `\r.\r\n` in a queue file reached the smarthost as they were.
    @Test(
        "bare CR and bare LF become CRLF line starts, dots after them are stuffed, at every split",
        arguments: [
            ("line1\n.\r\nMAIL FROM:<ceo@x>\r\n", "line1\r\n..\r\nMAIL FROM:<ceo@x>\r\n.\r\n"),
            ("x\r.\r\n", "x\r\n..\r\n.\r\n"),
            ("a\r", "a\r\n.\r\n"),
            ("a\n\r\n.", "a\r\n\r\n..\r\n.\r\n"),
        ])
    func bareLineEnds(_ input: String, _ expected: String) {
        let bytes = Array(input.utf8)
        for split in 0...bytes.count {
            var s = DotStuffer()
            var out: [UInt8] = []
            bytes[..<split].withUnsafeBytes { s.stuff($0, into: &out) }
            bytes[split...].withUnsafeBytes { s.stuff($0, into: &out) }
            s.finish(into: &out)
            #expect(String(decoding: out, as: UTF8.self) == expected, "split \(split)")
        }
    }
}

@Suite("XOAUTH2 and OAUTHBEARER messages")
struct BearerMechanismTests {
    @Test("the exact client messages, with the GS2 name escaped; the error answers")
    func messages() {
        let token = Array("ya29.tok".utf8)
        #expect(
            BearerMechanism.xoauth2.initialResponse(user: "a@b.c", token: token, host: "smtp.gmail.com", port: 587)
                == Array("user=a@b.c\u{1}auth=Bearer ya29.tok\u{1}\u{1}".utf8))
        #expect(
            BearerMechanism.oauthBearer.initialResponse(user: "a,=b@c", token: token, host: "h", port: 465)
                == Array("n,a=a=2C=3Db@c,\u{1}host=h\u{1}port=465\u{1}auth=Bearer ya29.tok\u{1}\u{1}".utf8))
        #expect(BearerMechanism.xoauth2.errorAnswer == [] && BearerMechanism.oauthBearer.errorAnswer == [1])
        #expect(BearerMechanism.errorDetail(Array(#"{"status":"401"}"#.utf8)) == #"{"status":"401"}"#)
        #expect(BearerMechanism.errorDetail([0x1B, 0x5B]) == nil)
    }

    @Test("chosen among the offered: OAUTHBEARER first unless auth_mechanisms orders otherwise")
    func choice() {
        #expect(BearerMechanism.choose(offered: ["LOGIN", "XOAUTH2"], allowed: []) == .xoauth2)
        #expect(BearerMechanism.choose(offered: ["XOAUTH2", "OAUTHBEARER"], allowed: []) == .oauthBearer)
        #expect(BearerMechanism.choose(offered: ["XOAUTH2", "OAUTHBEARER"], allowed: ["XOAUTH2"]) == .xoauth2)
        #expect(BearerMechanism.choose(offered: ["PLAIN", "LOGIN"], allowed: []) == nil)
        #expect(BearerMechanism.choose(offered: ["XOAUTH2"], allowed: ["PLAIN"]) == nil)
    }
}
