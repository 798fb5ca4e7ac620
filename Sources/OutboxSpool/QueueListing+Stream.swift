import COutboxSys
import Glibc
import OutboxCore
import OutboxDrop
import OutboxSupport

/// The listing for root's `mailq` and `outboxctl queue`, streamed: the names are listed
/// and sorted first (a few bytes each), then one envelope at a time is read, rendered and
/// written, so memory does not grow with the queue (the whole listing was built in
/// memory: 90 MB for 100 000 messages).
public struct QueueListingStream: Sendable {
    public enum Format: Sendable { case text, json }

    /// Where a message is: not yet adopted, in outboxd's queue, or on hold.
    enum Place: Sendable { case maildrop, queue, hold }

    let layout: SpoolLayout
    /// The names to list, in queue ID order.
    let names: [(name: String, place: Place)]
    /// The directories, open: files are opened relative to them (no path walk per file).
    let directories: Directories

    /// Lists the directories; throws what listing maildrop/new throws (EACCES for a user
    /// who may not read the spool: the caller falls back to public/mailq before anything
    /// was written). A queue directory that does not exist yet lists as empty.
    public init(_ layout: SpoolLayout) throws(SystemError) {
        self.layout = layout
        var names = try layout.dropFileNames().map { (name: $0, place: Place.maildrop) }
        for (directory, place) in [(layout.queueMessages, Place.queue), (layout.queueHeld, Place.hold)] {
            do throws(SystemError) {
                names += try layout.fileNames(in: directory).map { (name: $0, place: place) }
            } catch  where error.errno == ENOENT {
                continue
            }
        }
        names.sort { $0.0 < $1.0 }
        self.names = names
        directories = Directories([layout.maildropNew, layout.queueMessages, layout.queueHeld, layout.queueStates])
    }

    /// Open directories, closed with the last listing that uses them.
    final class Directories: @unchecked Sendable {
        let paths: [String]
        /// -1 where a directory could not be opened: its files are opened by path.
        let descriptors: [Int32]

        init(_ paths: [String]) {
            self.paths = paths
            descriptors = paths.map { coutbox_openat(AT_FDCWD, $0, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0) }
        }

        deinit { for fd in descriptors where fd >= 0 { close(fd) } }

        /// Where `name` in directory `index` is: (directory descriptor, name, its full path).
        func locate(_ index: Int, _ name: String) -> (Int32, String, String) {
            let path = paths[index] + "/" + name
            return descriptors[index] >= 0 ? (descriptors[index], name, path) : (AT_FDCWD, path, path)
        }
    }

    /// Writes the listing to `output`; `routeOf(sender, recipients)` names each message's
    /// route (nil: the global settings). The files are read and rendered by two threads,
    /// a batch at a time, and written in order (a listing of 100 000 took 2.9 s on one).
    public func write(
        to output: borrowing FileDescriptor, format: Format, routeOf: @escaping @Sendable (String, [String]) -> String? = { _, _ in nil }
    ) throws(SystemError) {
        var total = Rendered()
        var start = 0
        while start < names.count {
            let batch = names[start..<min(names.count, start + QueueListingStream.batch)]
            start = batch.endIndex
            // The second half on another thread; all on this one if none can be started.
            let middle = batch.startIndex + batch.count / 2
            let second = RenderedHalf()
            let thread = WorkerThread(sendable: { [self] in second.result = render(batch[middle...], format: format, routeOf: routeOf) })
            let started = (try? thread.start()) != nil
            let first = render(started ? batch[..<middle] : batch, format: format, routeOf: routeOf)
            if started { thread.join() }
            for part in [first] + (started ? [second.result] : []) {
                if format == .text && total.requests == 0 && part.requests > 0 { try output.writeAll(QueueListing.header) }
                try output.writeAll(part.text)
                total.add(part)
            }
        }
        if format == .text {
            try output.writeAll(QueueListing.footer(total: total.bytes, requests: total.requests, unreadable: total.unreadable, omitted: 0))
        }
    }

    /// Names listed per batch (two threads, each half of it).
    static let batch = 2048

    /// Listing text for some messages, and what the footer counts.
    struct Rendered {
        var text = ""
        var bytes = 0
        var requests = 0
        var unreadable = 0

        mutating func add(_ other: Rendered) {
            bytes += other.bytes
            requests += other.requests
            unreadable += other.unreadable
        }
    }

    /// What the second thread hands back (it writes before `join`, read after).
    final class RenderedHalf: @unchecked Sendable {
        var result = Rendered()
    }

    /// Reads and renders `names`, in order.
    func render(_ names: ArraySlice<(name: String, place: Place)>, format: Format, routeOf: (String, [String]) -> String?) -> Rendered {
        var out = Rendered()
        for (name, place) in names {
            var e: QueueEntry
            switch entry(name, place) {
            case .unreadable:
                out.unreadable += 1
                continue
            case .nothingPending: continue
            case .entry(let found): e = found
            }
            e.route = routeOf(e.sender, e.recipients)
            out.text += format == .text ? QueueListing.renderEntry(e) : QueueListing.renderJSONLine(e)
            out.bytes += e.size
            out.requests += 1
        }
        return out
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
        let (directory, relative, path) = directories.locate(place == .maildrop ? 0 : place == .queue ? 1 : 2, name)
        guard let (file, size) = try? DropFile.readEnvelope(path: path, at: directory, name: relative), file.queueID == name else {
            return .unreadable
        }
        if place == .maildrop {
            if file.isFlushRequest { return .nothingPending }
            return .entry(QueueListing.dropEntry(file, size: size))
        }
        let (states, stateName, statePath) = directories.locate(3, name)
        let state = DeliveryState.load(path: statePath, at: states, name: stateName)
        return QueueListing.entry(file, size: size, state: state, held: place == .hold).map { .entry($0) } ?? .nothingPending
    }
}
