import OutboxCore
@testable import OutboxDelivery
import OutboxSpool
import Testing

@Suite("Control socket requests and replies, JSON strings")
struct QueueRequestTests {
    @Test("request lines parse; unknown actions and missing IDs do not", arguments: [
        ("hold M1LC11JW1V3NGT", QueueRequest(.hold, ids: ["M1LC11JW1V3NGT"])),
        ("delete A B\r", QueueRequest(.delete, ids: ["A", "B"])),
        ("release ALL", QueueRequest(.release, ids: ["ALL"])),
        ("requeue  X", QueueRequest(.requeue, ids: ["X"])),
    ])
    func parse(_ line: String, _ expected: QueueRequest) {
        #expect(QueueRequest.parse(line) == expected)
        #expect(QueueRequest.parse(expected.line) == expected)
    }

    @Test("bad request lines", arguments: ["", "hold", "shutdown now", "HOLD X"])
    func bad(_ line: String) { #expect(QueueRequest.parse(line) == nil) }

    @Test("replies round-trip")
    func replies() {
        for reply in [QueueReply(ok: true, "X: held"), QueueReply(ok: false, "Y: no such message in the queue")] {
            #expect(QueueReply.parse(Substring(reply.line)) == reply)
        }
        #expect(QueueReply.parse("garbage") == nil)
    }

    @Test("JSON strings escape quotes, backslashes and control characters, keep UTF-8")
    func json() {
        #expect(JSON.string("a\"b\\c\n\t\u{1}é") == #""a\"b\\c\n\t\u0001é""#)
    }

    @Test("the header block ends at the first empty line")
    func headerEnd() {
        #expect(MessageReport.endOfHeaders(Array("A: b\r\nC: d\r\n\r\nbody".utf8)) == 12)
        #expect(MessageReport.endOfHeaders(Array("\r\nbody".utf8)) == 0)
        #expect(MessageReport.endOfHeaders(Array("A: b\r\n".utf8)) == nil)
    }

    @Test("requeue keeps sent and bounced recipients, restarts the rest and the lifetime")
    func restart() {
        var state = DeliveryState()
        state.attempts = 4
        state.nextAttempt = 99
        state.firstAttempt = 10
        state.recipients = [0: .init(status: .sent, reply: "250", dsn: "2.0.0"), 1: .init(status: .deferred, reply: "451", dsn: "4.7.1"),
                            2: .init(status: .bounced, reply: "550", dsn: "5.1.1")]
        state.restart(now: 1000)
        #expect(state.attempts == 0 && state.nextAttempt == 0 && state.firstAttempt == 0 && state.lifetimeStart == 1000)
        #expect(state.isPending(1) && !state.isPending(0) && !state.isPending(2))
        #expect(DeliveryState.decode(state.encoded()) == state)
    }
}
