import Glibc
import OutboxConfig
import OutboxCore
import OutboxDrop
import OutboxSpool

extension QueueListing {
    /// The listing for this caller: read directly when the spool is readable (root, the
    /// outbox user, an unprivileged test instance); otherwise the summary outboxd keeps
    /// in public/mailq, which holds envelopes only, never contents.
    public static func text(_ layout: SpoolLayout, config: Config? = nil) throws -> String {
        do {
            var snapshot = try dropEntries(layout)
            if let queued = try? queueEntries(layout) { snapshot.add(queued) }
            let entries = snapshot.entries.sorted { $0.id < $1.id }
            let named = config.map { namingRoutes(entries, $0.routeName) } ?? entries
            return render(named, unreadable: snapshot.unreadable)
        } catch let error as SystemError where error.errno == EACCES || error.errno == EPERM {
            if let summary = readPublicSummary(layout) { return summary }
            throw SubmissionError(.unavailable, "cannot read the queue (\(error)) and outboxd has not published \(layout.publicQueueSummary)")
        } catch let error as SystemError where error.errno == ENOENT {
            return render([])
        }
    }

    static func readPublicSummary(_ layout: SpoolLayout) -> String? {
        guard let fd = try? FileDescriptor.open(layout.publicQueueSummary, flags: O_RDONLY | O_NOFOLLOW) else { return nil }
        return (try? fd.readToEnd(limit: 64 << 20)).map { String(decoding: $0, as: UTF8.self) }
    }
}
