import Glibc
import OutboxCore
import OutboxDrop

/// The listing for root's `mailq` and `outboxctl queue`, streamed: the names are listed
/// and sorted first (a few bytes each), then one envelope at a time is read, rendered and
/// written, so memory does not grow with the queue (the whole listing was built in
/// memory: 90 MB for 100 000 messages).
public struct QueueListingStream {
    public enum Format: Sendable { case text, json }

    /// Where a message is: not yet adopted, in outboxd's queue, or on hold.
    enum Place { case maildrop, queue, hold }

    let layout: SpoolLayout
    /// The names to list, in queue ID order.
    let names: [(name: String, place: Place)]

    /// Lists the directories; throws what listing maildrop/new throws (EACCES for a user
    /// who may not read the spool: the caller falls back to public/mailq before anything
    /// was written). A queue directory that does not exist yet lists as empty.
    public init(_ layout: SpoolLayout) throws(SystemError) {
        self.layout = layout
        var names = try layout.dropFileNames().map { ($0, Place.maildrop) }
        for (directory, place) in [(layout.queueMessages, Place.queue), (layout.queueHeld, Place.hold)] {
            do { names += try layout.fileNames(in: directory).map { ($0, place) } } catch  where error.errno == ENOENT { continue }
        }
        names.sort { $0.0 < $1.0 }
        self.names = names
    }

    /// Writes the listing to `output`; `routeOf(sender, recipients)` names each message's
    /// route (nil: the global settings).
    public func write(
        to output: borrowing FileDescriptor, format: Format, routeOf: (String, [String]) -> String? = { _, _ in nil }
    ) throws(SystemError) {
        var buffer = ""
        var total = 0
        var requests = 0
        var unreadable = 0
        for (name, place) in names {
            var e: QueueEntry
            switch entry(name, place) {
            case .unreadable:
                unreadable += 1
                continue
            case .nothingPending: continue
            case .entry(let found): e = found
            }
            e.route = routeOf(e.sender, e.recipients)
            if format == .text && requests == 0 { buffer += QueueListing.header }
            buffer += format == .text ? QueueListing.renderEntry(e) : QueueListing.renderJSONLine(e)
            total += e.size
            requests += 1
            if buffer.utf8.count >= 65536 {
                try output.writeAll(buffer)
                buffer = ""
            }
        }
        if format == .text { buffer += QueueListing.footer(total: total, requests: requests, unreadable: unreadable, omitted: 0) }
        try output.writeAll(buffer)
    }

    enum Found {
        /// Not a valid file of its place (counted, never shown).
        case unreadable
        /// A flush request, or a message with no recipient pending.
        case nothingPending
        case entry(QueueEntry)
    }

    /// The listing entry of one file.
    func entry(_ name: String, _ place: Place) -> Found {
        let directory =
            switch place {
            case .maildrop: layout.maildropNew
            case .queue: layout.queueMessages
            case .hold: layout.queueHeld
            }
        guard let (file, size) = try? DropFile.readEnvelope(path: directory + "/" + name), file.queueID == name else { return .unreadable }
        if place == .maildrop {
            if file.isFlushRequest { return .nothingPending }
            return .entry(QueueListing.dropEntry(file, size: size))
        }
        let state = DeliveryState.load(path: layout.queueStates + "/" + name)
        return QueueListing.entry(file, size: size, state: state, held: place == .hold).map { .entry($0) } ?? .nothingPending
    }
}
