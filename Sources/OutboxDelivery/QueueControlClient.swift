import Glibc
import OutboxCore
import OutboxSpool

/// outboxctl's side of queue edits: through the running outboxd when there is one (it
/// knows what is in flight), otherwise directly on the files while holding the queue lock
/// so that no outboxd starts in between.
public enum QueueControlClient {
    /// Why a request could not be carried out at all.
    public struct Unavailable: AdminError {
        public let reason: String
        public var description: String { reason }
        public var exitCode: ExitCode { .tempFail }
    }

    /// Carries out `request` and returns one reply per message.
    public static func perform(_ request: QueueRequest, layout: SpoolLayout, waitSeconds: Int = 30) throws -> [QueueReply] {
        let store = try QueueStore(layout: layout)
        // An `outboxd --once` run holds the lock without a control socket: wait for it.
        for attempt in 0...(waitSeconds * 10) {
            if let lock = try store.lock(wait: false) {
                defer { lock.close() }
                return performDirectly(request, store: store)
            }
            if let lines = try ControlSocket.send(request.line, to: layout.controlSocket) {
                return lines.compactMap { QueueReply.parse(Substring($0)) }
            }
            if attempt < waitSeconds * 10 { usleep(100_000) }
        }
        throw Unavailable(reason: "outboxd holds \(layout.queueLock) but does not answer on \(layout.controlSocket); try again when it has finished")
    }

    static func performDirectly(_ request: QueueRequest, store: QueueStore) -> [QueueReply] {
        let log = DeliveryLog(stderr: false, syslog: true, identity: "outboxctl")
        let adoption = store.adopt()
        adoption.logProblems(to: log)
        var queue = LiveQueue(items: store.load())
        if adoption.flushRequested {
            // Consumed here, so carried out here: the next outboxd finds these due.
            for id in queue.items.keys where queue.items[id]!.state.nextAttempt != 0 {
                queue.items[id]!.state.nextAttempt = 0
                try? store.save(queue.items[id]!.state, for: id)
            }
        }
        let replies = QueueAdministration.apply(request, store: store, queue: &queue, log: log, requester: "uid \(getuid())")
        QueueListing.publish(store.layout)
        return replies
    }
}
