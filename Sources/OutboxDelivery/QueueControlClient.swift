import Glibc
import OutboxConfig
import OutboxCore
import OutboxDrop
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
    public static func perform(_ request: QueueRequest, config: Config, waitSeconds: Int = 30) throws -> [QueueReply] {
        let layout = SpoolLayout(root: config.spoolDirectory)
        let store = try QueueStore(layout: layout)
        // An `outboxd --once` run holds the lock without a control socket: wait for it.
        for attempt in 0...(waitSeconds * 10) {
            if let lock = try store.lock(wait: false) {
                let replies = performDirectly(request, store: store, config: config)
                lock.close()
                return replies
            }
            if let lines = try ControlSocket.send(request.line, to: layout.controlSocket) {
                return lines.compactMap { QueueReply.parse(Substring($0)) }
            }
            if attempt < waitSeconds * 10 { usleep(100_000) }
        }
        throw Unavailable(reason: "outboxd holds \(layout.queueLock) but does not answer on \(layout.controlSocket); try again when it has finished")
    }

    static func performDirectly(_ request: QueueRequest, store: QueueStore, config: Config) -> [QueueReply] {
        let log = DeliveryLog(stderr: false, syslog: true, service: .postsuper)
        log.configure(name: config.syslogName, socketPath: config.syslogSocket)
        let adoption = store.adopt(policy: AdoptionPolicy(config: config))
        adoption.logProblems(to: log)
        let loaded = store.load()
        for (name, reason) in loaded.refused {
            log.error("queue/msg/\(name): refused on reading: \(EnvelopeSyntax.printable(reason)); moved to queue/corrupt, not sent")
        }
        var queue = LiveQueue(items: loaded.items)
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
