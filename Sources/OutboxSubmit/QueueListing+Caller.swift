import Glibc
import OutboxConfig
import OutboxCore
import OutboxDrop
import OutboxSpool

extension QueueListing {
    /// Writes the listing for this caller to `output`: streamed from the spool when it is
    /// readable (root, the outbox user, an unprivileged test instance); otherwise the
    /// summary outboxd keeps in public/mailq, which holds envelopes only, never contents.
    public static func write(_ layout: SpoolLayout, config: Config? = nil, to output: borrowing FileDescriptor) throws(SubmissionError) {
        let stream: QueueListingStream
        do throws(SystemError) {
            stream = try QueueListingStream(layout)
        } catch {
            let listing = try unreadableSpoolListing(layout, error)
            do throws(SystemError) { try output.writeAll(listing) } catch { throw SubmissionError(error) }
            return
        }
        let routeOf: @Sendable (String, [String]) -> String? = { sender, recipients in
            config?.routeName(sender: sender, recipients: recipients)
        }
        do throws(SystemError) { try stream.write(to: output, format: .text, routeOf: routeOf) } catch { throw SubmissionError(error) }
    }

    /// What a caller who cannot list the spool is shown: public/mailq, or an empty queue
    /// when there is no spool yet.
    static func unreadableSpoolListing(_ layout: SpoolLayout, _ error: SystemError) throws(SubmissionError) -> String {
        if error.errno == ENOENT { return render([]) }
        guard error.errno == EACCES || error.errno == EPERM else { throw SubmissionError(error) }
        guard let summary = readPublicSummary(layout) else {
            throw SubmissionError(.unavailable, "cannot read the queue (\(error)) and outboxd has not published \(layout.publicQueueSummary)")
        }
        return summary
    }

    static func readPublicSummary(_ layout: SpoolLayout) -> String? {
        guard let fd = try? FileDescriptor.open(layout.publicQueueSummary, flags: O_RDONLY | O_NOFOLLOW) else { return nil }
        return (try? fd.readToEnd(limit: 64 << 20)).map { String(decoding: $0, as: UTF8.self) }
    }
}
