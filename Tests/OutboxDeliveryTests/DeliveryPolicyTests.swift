import OutboxCore
import OutboxMessage
import OutboxSMTP
import OutboxSpool
import Testing

@testable import OutboxDelivery

@Suite("Delivery policy: outcomes, retries, state, encodings, DSNs")
struct DeliveryPolicyTests {
    static let table: [(DeliveryPolicy.Stage, Int, String?, DeliveryVerdict.Action, String)] = [
        (.mailFrom, 250, nil, .proceed, "2.0.0"), (.mailFrom, 451, nil, .deferred, "4.0.0"), (.mailFrom, 550, "5.7.1", .bounced, "5.7.1"),
        (.mailFrom, 503, "5.5.1", .deferred, "4.5.1"), (.mailFrom, 421, nil, .deferred, "4.0.0"), (.mailFrom, 354, nil, .deferred, "4.0.0"),
        (.rcptTo, 250, nil, .proceed, "2.0.0"), (.rcptTo, 452, nil, .retryInNewTransaction, "4.0.0"),
        (.rcptTo, 451, "4.5.3", .retryInNewTransaction, "4.5.3"), (.rcptTo, 451, "4.7.1", .deferred, "4.7.1"),
        (.rcptTo, 452, "4.2.2", .deferred, "4.2.2"), (.rcptTo, 452, "4.5.3", .retryInNewTransaction, "4.5.3"),
        (.rcptTo, 550, "5.1.1", .bounced, "5.1.1"), (.rcptTo, 503, nil, .deferred, "4.0.0"),
        (.data, 354, nil, .proceed, "3.0.0"), (.data, 250, nil, .deferred, "4.0.0"), (.data, 451, nil, .deferred, "4.0.0"),
        (.data, 554, "5.5.1", .bounced, "5.5.1"),
        (.endOfData, 250, "2.0.0", .sent, "2.0.0"), (.endOfData, 421, nil, .deferred, "4.0.0"), (.endOfData, 552, "5.3.4", .bounced, "5.3.4"),
        (.endOfData, 354, nil, .deferred, "4.0.0"),
    ]

    @Test("one classification table for replies", arguments: table)
    func replies(_ stage: DeliveryPolicy.Stage, _ code: Int, _ enhanced: String?, _ action: DeliveryVerdict.Action, _ dsn: String) {
        let reply = SMTPReply(code: code, enhancedStatus: enhanced, lines: [enhanced.map { "\($0) x" } ?? "x"])
        let verdict = DeliveryPolicy.verdict(.reply(stage, reply))
        #expect(verdict.action == action && verdict.dsn == dsn && verdict.reply == reply.description, "\(verdict)")
    }

    static let localFacts: [(DeliveryPolicy.Fact, DeliveryVerdict)] = [
        (
            .allRecipientsRetried(SMTPReply(code: 452, enhancedStatus: "4.5.3", lines: ["4.5.3 too many"])),
            DeliveryVerdict(.deferred, dsn: "4.5.3", "452 4.5.3 too many")
        ),
        (
            .sizeOverLimit(size: 2000, limit: 1000, peer: "mx"),
            DeliveryVerdict(.bounced, dsn: "5.3.4", "552 5.3.4 message size 2000 exceeds size limit 1000 of mx")
        ),
        (
            .smtpUTF8Unsupported(peer: "mx"),
            DeliveryVerdict(.bounced, dsn: "5.6.7", "555 5.6.7 mx does not support SMTPUTF8, which this message needs")
        ),
        (.sessionFailed("connect to mx: refused"), DeliveryVerdict(.deferred, dsn: "4.4.1", "connect to mx: refused")),
        (.sessionEnded(peer: "mx"), DeliveryVerdict(.deferred, dsn: "4.4.2", "session with mx ended before this recipient was tried")),
    ]

    @Test("one table for outbox's own facts", arguments: localFacts)
    func facts(_ fact: DeliveryPolicy.Fact, _ expected: DeliveryVerdict) {
        #expect(DeliveryPolicy.verdict(fact) == expected)
    }

    @Test("expiry turns only a deferral into a 4.4.7 bounce; the DSN of a failure is permanent")
    func expiry() {
        let deferred = DeliveryVerdict(.deferred, dsn: "4.4.1", "connect refused")
        #expect(
            DeliveryPolicy.expire(deferred, afterDays: 5)
                == DeliveryVerdict(.bounced, dsn: "4.4.7", "delivery time expired after 5 days; last reply: connect refused"))
        let sent = DeliveryVerdict(.sent, dsn: "2.0.0", "250 ok")
        #expect(DeliveryPolicy.expire(sent, afterDays: 5) == sent)
        #expect(DeliveryPolicy.failureStatus("4.4.7") == "5.4.7" && DeliveryPolicy.failureStatus("5.1.1") == "5.1.1")
    }

    static let notices: [(String, String?, String?, DeliveryPolicy.Notice)] = [
        ("alice@example.org", nil, "admin@example.net", .notify(recipient: "alice@example.org", marker: "BOUNCE=1")),
        ("", "1", "admin@example.net", .notify(recipient: "admin@example.net", marker: "BOUNCE=2")),
        ("", "1", nil, .none),
        ("", "2", "admin@example.net", .none),
        ("", nil, "admin@example.net", .none),
    ]

    @Test("who hears about a bounce: sender, admin once for our own notice, never a loop", arguments: notices)
    func notice(_ sender: String, _ marker: String?, _ admin: String?, _ expected: DeliveryPolicy.Notice) {
        #expect(DeliveryPolicy.notice(sender: sender, bounceMarker: marker, adminAddress: admin) == expected)
    }

    @Test("backoff doubles from the minimum, is capped, and jitters within ±20%")
    func backoff() {
        let s = RetrySchedule(minimum: 300, maximum: 3600)
        #expect(s.delay(afterAttempts: 1, unit: 0.5) == 300)
        #expect(s.delay(afterAttempts: 2, unit: 0.5) == 600)
        #expect(s.delay(afterAttempts: 4, unit: 0.5) == 2400)
        #expect(s.delay(afterAttempts: 5, unit: 0.5) == 3600)
        #expect(s.delay(afterAttempts: 50, unit: 0.5) == 3600)
        #expect(s.delay(afterAttempts: 1, unit: 0) == 240)
        #expect(s.delay(afterAttempts: 1, unit: 0.999_999) == 359)
    }

    @Test("delivery state round trip; malformed numbers are refused; sent and bounced are final")
    func state() {
        var st = DeliveryState()
        st.attempts = 3
        st.nextAttempt = 1_795_430_000
        st.firstAttempt = 1_795_420_000
        st.recipients[0] = .init(status: .sent, reply: "250 2.0.0 Ok: queued as X", dsn: "2.0.0")
        st.recipients[2] = .init(status: .deferred, reply: "451 4.7.1 later\nsecond line", dsn: "4.7.1")
        st.recipients[3] = .init(status: .bounced, reply: "550 5.1.1 no", dsn: "5.1.1")
        let decoded = DeliveryState.decode(st.encoded())
        #expect(decoded?.attempts == 3 && decoded?.nextAttempt == 1_795_430_000 && decoded?.recipients[2]?.reply == "451 4.7.1 later second line")
        #expect(decoded?.isPending(0) == false && decoded?.isPending(1) == true && decoded?.isPending(2) == true && decoded?.isPending(3) == false)
        #expect(DeliveryState.decode("attempts many\n") == nil)
        #expect(DeliveryState.decode("r x sent 2.0.0 ok\n") == nil)
    }

    func qp(_ text: String) -> String {
        var e = QuotedPrintableEncoder()
        var out: [UInt8] = []
        e.encode(Array(text.utf8), into: &out)
        e.finish(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func unqp(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        let b = Array(text.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "="), i + 2 < b.count, b[i + 1] == 13, b[i + 2] == 10 {
                i += 3
                continue
            }
            if b[i] == UInt8(ascii: "="), i + 2 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                out.append(v)
                i += 3
                continue
            }
            out.append(b[i])
            i += 1
        }
        return out
    }

    @Test("quoted-printable: lines of at most 76, trailing blanks and 8-bit encoded, decodes to the original")
    func quotedPrintable() {
        let original = String(repeating: "x", count: 2000) + " = café \r\nshort\t\r\n"
        let encoded = qp(original)
        #expect(encoded.split(separator: "\r\n").allSatisfy { $0.utf8.count <= 76 })
        #expect(encoded.contains("=3D") && encoded.contains("caf=C3=A9") && encoded.contains("short=09\r\n"))
        #expect(unqp(encoded) == Array(original.utf8))
    }

    @Test("a DSN is a multipart/report with one status block per failed recipient")
    func dsn() {
        let b = BounceBuilder(reportingHost: "host.example.org", domain: "example.org")
        let message = Array("Subject: hi\r\nFrom: a@x\r\n\r\nbody\r\n".utf8)
        let text = String(
            decoding: b.build(
                queueID: "Q1", sender: "a@x", arrival: 1_795_420_000,
                failures: [.init(recipient: "r@y", original: "root", status: "5.1.1", diagnostic: "550 5.1.1 no such user")],
                remoteMTA: "smtp.example.net", original: message, returnHeadersOnly: false, bounceID: "Q2"), as: UTF8.self)
        #expect(text.contains("Content-Type: multipart/report; report-type=delivery-status;"))
        #expect(text.contains("Final-Recipient: rfc822; r@y\r\nOriginal-Recipient: rfc822; root\r\nAction: failed\r\nStatus: 5.1.1\r\n"))
        #expect(text.contains("Content-Type: message/rfc822\r\n\r\nSubject: hi"))
        let headers = String(
            decoding: b.build(
                queueID: "Q1", sender: "a@x", arrival: 0, failures: [], remoteMTA: nil, original: message,
                returnHeadersOnly: true, bounceID: "Q3"), as: UTF8.self)
        #expect(headers.contains("text/rfc822-headers") && !headers.contains("body\r\n"))
        #expect(
            DeliveryPolicy.wantsFailureNotice(nil) && DeliveryPolicy.wantsFailureNotice("FAILURE,DELAY")
                && !DeliveryPolicy.wantsFailureNotice("NEVER") && !DeliveryPolicy.wantsFailureNotice("SUCCESS"))
    }
    @Test("long lines are broken after 998 octets with CRLF SPACE, across chunk boundaries; shorter ones are untouched")
    func lineBreaker() {
        func run(_ chunks: [String]) -> String {
            var breaker = LineBreaker()
            return chunks.map { String(decoding: breaker.limit(Array($0.utf8)), as: UTF8.self) }.joined()
        }
        let exact = String(repeating: "a", count: 998)
        #expect(run([exact + "\r\n", exact + "\r", "\n"]) == exact + "\r\n" + exact + "\r\n")
        #expect(run([exact + "b\r\n"]) == exact + "\r\n b\r\n")
        let long = String(repeating: "x", count: 2500)
        let split = run([String(long.prefix(700)), String(long.dropFirst(700)) + "\r\nend\r\n"])
        #expect(
            split == String(repeating: "x", count: 998) + "\r\n " + String(repeating: "x", count: 997) + "\r\n " + String(repeating: "x", count: 505)
                + "\r\nend\r\n")
        #expect(split.split(separator: "\r\n").allSatisfy { $0.utf8.count <= 998 })
    }
}
