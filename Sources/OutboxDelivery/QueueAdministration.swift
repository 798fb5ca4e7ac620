import OutboxCore
import OutboxSpool

/// Carries out operator requests on a live queue: one implementation for outboxd (control
/// socket) and outboxctl (queue lock held, no daemon running).
public enum QueueAdministration {
    /// Applies `request`, logging each change; returns one reply per message.
    public static func apply(
        _ request: QueueRequest, store: QueueStore, queue: inout LiveQueue, log: DeliveryLog?,
        requester: String
    ) -> [QueueReply] {
        var ids = request.ids
        if ids == ["ALL"] {
            switch request.action {
            case .release: ids = store.heldIDs()
            // The files, not memory: outboxd holds only a window of a large queue.
            case .delete: ids = store.queuedIDs() + store.heldIDs()
            case .hold, .requeue: ids = store.queuedIDs()
            }
            if ids.isEmpty { return [QueueReply(ok: true, "no messages to \(request.action.rawValue)")] }
        }
        return ids.map { id in
            let reply = apply(request.action, id: id, store: store, queue: &queue)
            if reply.ok, let log, !reply.text.contains(" already ") { log.info("\(reply.text) (requested by \(requester))") }
            return reply
        }
    }

    static func apply(_ action: QueueRequest.Action, id: String, store: QueueStore, queue: inout LiveQueue) -> QueueReply {
        // In flight first: a thread may have delivered and removed the file a moment ago,
        // and the attempt's end (finishFlight) decides what is left to do.
        if queue.inFlight.contains(id) {
            guard action != .release else { return QueueReply(ok: false, "\(id): not on hold") }
            queue.afterFlight[id] = action
            return QueueReply(ok: true, "\(id): being delivered now; \(action.rawValue) when the attempt ends")
        }
        guard let (_, location) = store.locate(id) else { return QueueReply(ok: false, "\(id): no such message in the queue") }
        do {
            switch (action, location) {
            case (.delete, _):
                guard store.delete(id) else { return QueueReply(ok: false, "\(id): no such message in the queue") }
                queue.items.removeValue(forKey: id)
                return QueueReply(ok: true, "\(id): deleted")
            case (.hold, .hold):
                return QueueReply(ok: true, "\(id): already on hold")
            case (.hold, _):
                try store.hold(id)
                queue.items.removeValue(forKey: id)
                return QueueReply(ok: true, "\(id): held")
            case (.release, .hold):
                queue.take(try store.release(id))
                return QueueReply(ok: true, "\(id): released")
            case (.release, _):
                return QueueReply(ok: false, "\(id): not on hold")
            case (.requeue, .hold):
                return QueueReply(ok: false, "\(id): on hold (release it first)")
            case (.requeue, _):
                queue.take(try store.requeue(id))
                return QueueReply(ok: true, "\(id): requeued")
            }
        } catch {
            return QueueReply(ok: false, "\(id): \(action.rawValue) failed: \(error)")
        }
    }

    /// Applies what waited for an attempt to end; the item was just returned by a thread.
    public static func finishFlight(of id: String, store: QueueStore, queue: inout LiveQueue, log: DeliveryLog?) {
        guard let action = queue.afterFlight.removeValue(forKey: id), queue.items[id] != nil else { return }
        let reply = apply(action, id: id, store: store, queue: &queue)
        log?.line(reply.ok ? .info : .warning, .qmgr, reply.text + " (requested earlier, applied after the attempt)")
    }
}
