import Foundation
import OutboxCore
import OutboxDrop
import OutboxSpool
import OutboxSupport
import Testing

@testable import OutboxDelivery

@Suite("Control socket requests and replies, JSON strings")
struct QueueRequestTests {
    @Test(
        "request lines parse; unknown actions and missing IDs do not",
        arguments: [
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
        #expect(JSON.string("plain <user@example.org> é 😀") == #""plain <user@example.org> é 😀""#)
        #expect(JSON.string("\r\u{1b}\u{7f}\u{1f}x") == #""\r\u001b\u007f\u001fx""#)
        #expect(JSON.string("") == #""""#)
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
        state.recipients = [
            0: .init(status: .sent, reply: "250", dsn: "2.0.0"), 1: .init(status: .deferred, reply: "451", dsn: "4.7.1"),
            2: .init(status: .bounced, reply: "550", dsn: "5.1.1"),
        ]
        state.restart(now: 1000)
        #expect(state.attempts == 0 && state.nextAttempt == 0 && state.firstAttempt == 0 && state.lifetimeStart == 1000)
        #expect(state.isPending(1) && !state.isPending(0) && !state.isPending(2))
        #expect(DeliveryState.decode(state.encoded()) == state)
    }

    /// Found by a fresh-clone CI run: `outboxctl delete ALL` failed with 66 when a thread
    /// finished delivering (and removed) a listed message just before the request reached
    /// it: the file was looked up before the in-flight set.
    @Test("a request for a message in flight whose file is already gone is answered as in flight, not as missing")
    func inFlightWithoutFile() throws {
        let root = "/tmp/outbox-admin-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = try? FileManager.default.removeItem(atPath: root) }
        let store = try QueueStore(layout: SpoolLayout(root: root))
        let id = QueueID.generate().text
        var queue = LiveQueue(items: [])
        queue.inFlight.insert(id)
        let replies = QueueAdministration.apply(QueueRequest(.delete, ids: [id]), store: store, queue: &queue, log: nil, requester: "test")
        #expect(replies.count == 1 && replies[0].ok, "\(replies)")
        #expect(queue.afterFlight[id] == .delete)
    }
}
