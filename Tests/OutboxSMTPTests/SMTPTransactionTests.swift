import OutboxSMTP
import Testing

/// Replies as a server sends them, parsed by the production parser.
func replies(_ text: String) -> [SMTPReply] {
    var parser = SMTPReplyParser()
    parser.feed(Array(text.utf8))
    var out: [SMTPReply] = []
    while let r = try? parser.next() { out.append(r) }
    return out
}

/// Drives an `SMTPTransaction` through scripted replies the way RelaySession does, and
/// records what went on the wire. `closeAfter` replies, the connection is lost.
struct TransactionScript {
    var wire: [String] = []
    var transaction: SMTPTransaction

    init(_ envelope: SMTPEnvelope, ehlo: String = "250-mx\r\n250-PIPELINING\r\n250-DSN\r\n250 SIZE 100000\r\n", needsReset: Bool = false) {
        transaction = SMTPTransaction(
            envelope: envelope, capabilities: SMTPCapabilities(ehloReply: replies(ehlo)[0]), peer: "mx[127.0.0.1]:25", needsReset: needsReset)
    }

    mutating func run(_ server: String, closeAfter: Int? = nil) {
        var queue = replies(server)[...]
        var used = 0
        var action = transaction.start()
        while true {
            switch action {
            case .send(let commands): wire += commands.map { String($0.line.dropLast()) }  // "\r\n" is one Character
            case .sendContent: wire.append("<content>")
            case .abandonData: wire.append(".")
            case .awaitReply: break
            case .finished: return
            }
            guard used != closeAfter, let reply = queue.popFirst() else {
                transaction.connectionLost("connection closed by mx[127.0.0.1]:25")
                return
            }
            used += 1
            action = transaction.receive(reply)
        }
    }

    func verdict(_ index: Int) -> DeliveryVerdict? { transaction.verdicts.first { $0.index == index }?.verdict }
    func actions() -> [DeliveryVerdict.Action] { (0..<transaction.envelope.recipients.count).compactMap { verdict($0)?.action } }
}

@Suite("SMTP client transaction machine: scripted replies")
struct SMTPTransactionTests {
    static func envelope(_ count: Int, size: Int = 1000, smtpUTF8: Bool = false) -> SMTPEnvelope {
        SMTPEnvelope(
            sender: "s@example.org", recipients: (0..<count).map { SMTPEnvelope.Recipient(index: $0, address: "r\($0)@example.net") },
            size: size, smtpUTF8: smtpUTF8)
    }

    @Test("pipelined: MAIL, every RCPT and DATA leave in one write; every recipient sent")
    func pipelined() {
        var s = TransactionScript(Self.envelope(2))
        s.run("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n250 2.0.0 Ok: queued as X\r\n")
        #expect(s.wire == ["MAIL FROM:<s@example.org> SIZE=1000", "RCPT TO:<r0@example.net>", "RCPT TO:<r1@example.net>", "DATA", "<content>"])
        #expect(s.actions() == [.sent, .sent] && s.verdict(0)?.reply == "250 2.0.0 Ok: queued as X")
        #expect(s.transaction.sessionUsable && !s.transaction.needsReset)
    }

    @Test("421 in the middle of a pipelined batch: the session ends; recipients without a reply are deferred 4.4.2")
    func closingMidBatch() {
        var s = TransactionScript(Self.envelope(3))
        s.run("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n421 4.3.2 shutting down\r\n")
        #expect(s.actions() == [.deferred, .deferred, .deferred])
        #expect(s.verdict(1)?.reply == "421 4.3.2 shutting down" && s.verdict(0)?.dsn == "4.4.2" && s.verdict(2)?.dsn == "4.4.2")
        #expect(!s.transaction.sessionUsable && !s.wire.contains("<content>"))
    }

    @Test("452 for every recipient: deferred 4.5.3 at once, no second transaction, the session given up")
    func tooManyForAll() {
        var s = TransactionScript(Self.envelope(2))
        s.run("250 2.1.0 Ok\r\n452 4.5.3 Too many recipients\r\n452 4.5.3 Too many recipients\r\n554 5.5.1 no valid recipients\r\n")
        #expect(s.actions() == [.deferred, .deferred] && s.verdict(0)?.dsn == "4.5.3")
        #expect(s.wire.filter { $0.hasPrefix("MAIL") }.count == 1 && s.transaction.needsReset && !s.transaction.sessionUsable)
    }

    @Test("452 continuation: the refused recipients go again at once in a new transaction")
    func continuation() {
        var s = TransactionScript(Self.envelope(3))
        s.run(
            "250 Ok\r\n250 Ok\r\n452 4.5.3 Too many\r\n452 4.5.3 Too many\r\n354 go\r\n250 2.0.0 first\r\n"
                + "250 Ok\r\n250 Ok\r\n250 Ok\r\n354 go\r\n250 2.0.0 second\r\n")
        #expect(s.actions() == [.sent, .sent, .sent])
        #expect(s.verdict(0)?.reply == "250 2.0.0 first" && s.verdict(2)?.reply == "250 2.0.0 second")
        #expect(s.wire.filter { $0.hasPrefix("MAIL") }.count == 2 && !s.wire.contains("RSET"))
        #expect(
            s.wire.suffix(5) == ["MAIL FROM:<s@example.org> SIZE=1000", "RCPT TO:<r1@example.net>", "RCPT TO:<r2@example.net>", "DATA", "<content>"])
    }

    @Test("354 after every RCPT was refused: a lone dot ends it, nothing is delivered, the session is given up")
    func dataAfterAllRefused() {
        var s = TransactionScript(Self.envelope(2))
        s.run("250 Ok\r\n550 5.1.1 unknown\r\n550 5.1.1 unknown\r\n354 go ahead anyway\r\n554 5.5.1 no recipients\r\n")
        #expect(s.actions() == [.bounced, .bounced] && s.verdict(1)?.dsn == "5.1.1")
        #expect(s.wire.last == "." && !s.wire.contains("<content>") && !s.transaction.sessionUsable)
    }

    @Test("MAIL refused under pipelining: the RCPT and DATA replies are read, a 354 is ended with a dot")
    func mailRefusedPipelined() {
        var s = TransactionScript(Self.envelope(1))
        s.run("550 5.7.1 sender rejected\r\n503 5.5.1 need MAIL\r\n354 go\r\n250 ok\r\n")
        #expect(s.actions() == [.bounced] && s.verdict(0)?.reply == "550 5.7.1 sender rejected")
        #expect(s.wire.last == "." && !s.transaction.sessionUsable)
    }

    @Test("a server that closes after DATA: accepted recipients are deferred with the reason, a refused one stays bounced")
    func closesAfterData() {
        var s = TransactionScript(Self.envelope(2))
        s.run("250 Ok\r\n250 Ok\r\n550 5.1.1 unknown\r\n354 go\r\n", closeAfter: 4)
        #expect(s.wire.last == "<content>")
        #expect(s.actions() == [.deferred, .bounced])
        #expect(s.verdict(0)?.dsn == "4.4.1" && s.verdict(0)?.reply == "connection closed by mx[127.0.0.1]:25")
        #expect(!s.transaction.sessionUsable)
    }

    @Test("without PIPELINING: one command per reply, no DATA when every recipient was refused, RSET next time")
    func unpipelined() {
        var s = TransactionScript(Self.envelope(2), ehlo: "250 mx\r\n")
        s.run("250 Ok\r\n550 5.1.1 unknown\r\n451 4.7.1 later\r\n")
        #expect(s.wire == ["MAIL FROM:<s@example.org>", "RCPT TO:<r0@example.net>", "RCPT TO:<r1@example.net>"])
        #expect(s.actions() == [.bounced, .deferred] && s.transaction.needsReset && s.transaction.sessionUsable)
    }

    @Test("RSET opens a transaction after an unfinished one; a refused RSET ends the session with 4.4.2")
    func resetRules() {
        var ok = TransactionScript(Self.envelope(1), needsReset: true)
        ok.run("250 2.0.0 Ok\r\n250 Ok\r\n250 Ok\r\n354 go\r\n250 2.0.0 sent\r\n")
        #expect(ok.wire.first == "RSET" && ok.actions() == [.sent])
        var refused = TransactionScript(Self.envelope(1), needsReset: true)
        refused.run("500 5.5.1 what\r\n")
        #expect(refused.wire == ["RSET"] && refused.verdict(0)?.dsn == "4.4.2" && !refused.transaction.sessionUsable)
    }

    @Test("a reply out of step (250 to DATA, 503) defers and gives the session up; 452 for all gives it up too")
    func outOfStep() {
        var extra = TransactionScript(Self.envelope(1))
        extra.run("250 Ok\r\n250 Ok\r\n250 Ok\r\n")
        #expect(extra.actions() == [.deferred] && extra.verdict(0)?.dsn == "4.0.0" && !extra.transaction.sessionUsable)
        var sequence = TransactionScript(Self.envelope(1))
        sequence.run("250 Ok\r\n503 5.5.1 bad sequence\r\n554 no\r\n")
        #expect(sequence.actions() == [.deferred] && sequence.verdict(0)?.dsn == "4.5.1" && !sequence.transaction.sessionUsable)
        var all = TransactionScript(Self.envelope(1))
        all.run("250 Ok\r\n452 4.5.3 Too many\r\n554 no\r\n")
        #expect(all.actions() == [.deferred] && !all.transaction.sessionUsable)
    }

    @Test("452 4.2.2 (mailbox full) is an ordinary deferral, not 'too many recipients'")
    func mailboxFull() {
        var s = TransactionScript(Self.envelope(2))
        s.run("250 Ok\r\n452 4.2.2 mailbox full\r\n250 Ok\r\n354 go\r\n250 2.0.0 sent\r\n")
        #expect(s.actions() == [.deferred, .sent] && s.verdict(0)?.dsn == "4.2.2")
        #expect(s.wire.filter { $0.hasPrefix("MAIL") }.count == 1, "no second transaction for a full mailbox")
    }

    @Test("over the announced SIZE, or needing SMTPUTF8 the server lacks: bounced before any command")
    func localFacts() {
        var big = TransactionScript(Self.envelope(1, size: 200_000))
        big.run("")
        #expect(big.wire.isEmpty && big.verdict(0)?.dsn == "5.3.4" && big.verdict(0)?.action == .bounced)
        var utf8 = TransactionScript(Self.envelope(1, smtpUTF8: true))
        utf8.run("")
        #expect(utf8.wire.isEmpty && utf8.verdict(0)?.dsn == "5.6.7")
    }

    @Test("DSN parameters go out only to a server that offers DSN; ORCPT as xtext")
    func dsnParameters() {
        var e = Self.envelope(1)
        e.recipients[0].notify = "FAILURE,DELAY"
        e.recipients[0].original = "Ünï+x@example.net"
        e.ret = "HDRS"
        e.envid = "abc+2B"
        var with = TransactionScript(e)
        with.run("421 bye\r\n")
        #expect(with.wire[0] == "MAIL FROM:<s@example.org> SIZE=1000 RET=HDRS ENVID=abc+2B")
        #expect(with.wire[1] == "RCPT TO:<r0@example.net> NOTIFY=FAILURE,DELAY ORCPT=rfc822;+C3+9Cn+C3+AF+2Bx@example.net")
        var without = TransactionScript(e, ehlo: "250-mx\r\n250 PIPELINING\r\n")
        without.run("421 bye\r\n")
        #expect(without.wire[0] == "MAIL FROM:<s@example.org>" && without.wire[1] == "RCPT TO:<r0@example.net>")
    }
}

@Suite("SMTP client session set-up machine")
struct SMTPSessionSetupTests {
    static func settings(tls: SMTPSessionSetup.TLSRequirement = .required, auth: Bool = true, tlsActive: Bool = false) -> SMTPSessionSetup.Settings {
        .init(heloName: "client.example.org", tls: tls, tlsLevelName: "encrypt", tlsActive: tlsActive, authenticate: auth, authOverPlaintext: false)
    }

    @Test("greeting, EHLO, STARTTLS, EHLO again, AUTH with an initial response and one challenge round")
    func fullSetup() {
        var m = SMTPSessionSetup(Self.settings())
        #expect(m.start() == .awaitReply)
        #expect(m.receive(replies("220 mx ESMTP\r\n")[0]) == .send(.ehlo("client.example.org")))
        #expect(m.receive(replies("250-mx\r\n250-STARTTLS\r\n250 SIZE 1000\r\n")[0]) == .send(.startTLS))
        #expect(m.receive(replies("220 2.0.0 go\r\n")[0]) == .startTLS)
        #expect(m.tlsEstablished() == .send(.ehlo("client.example.org")))
        #expect(m.receive(replies("250-mx\r\n250-AUTH PLAIN LOGIN\r\n250 PIPELINING\r\n")[0]) == .startAuthentication(offered: ["PLAIN", "LOGIN"]))
        #expect(m.authStarted(mechanism: "LOGIN", initialResponse: nil) == .send(.auth(mechanism: "LOGIN", initialResponse: nil)))
        #expect(m.receive(replies("334 VXNlcm5hbWU6\r\n")[0]) == .answerChallenge(Array("Username:".utf8)))
        #expect(m.authResponse(Array("u".utf8)) == .send(.authContinuation("dQ==")))
        #expect(m.receive(replies("235 2.7.0 ok\r\n")[0]) == .ready)
        #expect(m.capabilities.pipelining && m.tlsActive && m.authMechanism == "LOGIN")
    }

    @Test("a multiline EHLO reply split across reads is one reply")
    func splitEHLO() {
        var parser = SMTPReplyParser()
        parser.feed(Array("250-mx\r\n250-PIPEL".utf8))
        #expect((try? parser.next()) == .some(nil))
        parser.feed(Array("INING\r\n250 SIZE 1000\r\n".utf8))
        var m = SMTPSessionSetup(Self.settings(tls: .may, auth: false))
        _ = m.receive(replies("220 mx\r\n")[0])
        guard let reply = try? parser.next() else {
            Issue.record("no reply after the second read")
            return
        }
        #expect(reply.lines == ["mx", "PIPELINING", "SIZE 1000"])
        #expect(m.receive(reply) == .ready && m.capabilities.pipelining && m.capabilities.sizeLimit == 1000)
    }

    @Test("EHLO refused permanently falls back to HELO; a temporary refusal or a 554 greeting fails")
    func heloFallback() {
        var m = SMTPSessionSetup(Self.settings(tls: .may, auth: false))
        _ = m.receive(replies("220 mx\r\n")[0])
        #expect(m.receive(replies("502 5.5.2 no EHLO\r\n")[0]) == .send(.helo("client.example.org")))
        #expect(m.receive(replies("250 mx\r\n")[0]) == .ready && !m.capabilities.pipelining)
        var t = SMTPSessionSetup(Self.settings(tls: .may, auth: false))
        _ = t.receive(replies("220 mx\r\n")[0])
        #expect(t.receive(replies("421 4.3.2 busy\r\n")[0]) == .failed(.rejected(stage: "EHLO", reply: replies("421 4.3.2 busy\r\n")[0])))
        var g = SMTPSessionSetup(Self.settings())
        #expect(g.receive(replies("554 5.7.1 go away\r\n")[0]) == .failed(.rejected(stage: "greeting", reply: replies("554 5.7.1 go away\r\n")[0])))
    }

    @Test("TLS required but not offered; AUTH refused without TLS; AUTH configured but not offered")
    func policyFailures() {
        var m = SMTPSessionSetup(Self.settings())
        _ = m.receive(replies("220 mx\r\n")[0])
        #expect(m.receive(replies("250-mx\r\n250 AUTH PLAIN\r\n")[0]) == .failed(.startTLSNotOffered))
        var plain = SMTPSessionSetup(Self.settings(tls: .may))
        _ = plain.receive(replies("220 mx\r\n")[0])
        #expect(plain.receive(replies("250-mx\r\n250 AUTH PLAIN\r\n")[0]) == .failed(.authenticationNeedsTLS))
        var implicit = SMTPSessionSetup(Self.settings(tlsActive: true))
        _ = implicit.receive(replies("220 mx\r\n")[0])
        #expect(implicit.receive(replies("250 mx\r\n")[0]) == .failed(.authenticationNotOffered))
    }

    @Test("a challenge that is not base64 is cancelled with '*'; a SASL failure is cancelled and reported")
    func cancelledAuth() {
        var m = SMTPSessionSetup(Self.settings(tlsActive: true))
        _ = m.receive(replies("220 mx\r\n")[0])
        _ = m.receive(replies("250-mx\r\n250 AUTH PLAIN\r\n")[0])
        _ = m.authStarted(mechanism: "PLAIN", initialResponse: [])
        let bad = replies("334 not*base64!\r\n")[0]
        #expect(m.receive(bad) == .send(.authCancel))
        #expect(m.receive(replies("501 5.7.0 cancelled\r\n")[0]) == .failed(.rejected(stage: "AUTH PLAIN", reply: bad)))
        var s = SMTPSessionSetup(Self.settings(tlsActive: true))
        _ = s.receive(replies("220 mx\r\n")[0])
        _ = s.receive(replies("250-mx\r\n250 AUTH DIGEST-MD5\r\n")[0])
        _ = s.authStarted(mechanism: "DIGEST-MD5", initialResponse: nil)
        #expect(s.receive(replies("334 bm9uY2U=\r\n")[0]) == .answerChallenge(Array("nonce".utf8)))
        #expect(s.cancelAuthentication() == .send(.authCancel))
        #expect(s.receive(replies("501 5.7.0 cancelled\r\n")[0]) == .failed(.authenticationCancelled(replies("501 5.7.0 cancelled\r\n")[0])))
    }
}
