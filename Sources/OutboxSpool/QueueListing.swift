import Glibc
import OutboxCore
import OutboxDrop
import OutboxSupport

/// One message as `mailq` shows it.
public struct QueueEntry: Equatable, Sendable {
    public var id: String
    /// ' ' waiting, '*' being delivered, '!' on hold (Postfix's markers).
    public var status: Character
    public var size: Int
    public var arrival: Int
    public var sender: String
    public var recipients: [String]
    /// The last deferral reason, if any.
    public var reason: String?
    /// Postfix's queue names as `postqueue -j` reports them: maildrop (not yet adopted),
    /// active (never tried), deferred (tried and due again later), hold.
    public var queueName: String
    /// Per recipient, the last deferral reply (nil when never tried).
    public var recipientReasons: [String?]
    /// The `[route NAME]` the message takes, when the configuration has routes and it
    /// takes one (set by the caller, which knows the configuration).
    public var route: String?
    /// The submitting uid (not shown: public/mailq bounds the entries per user by it).
    public var uid = -1

    public init(
        id: String, status: Character = " ", size: Int, arrival: Int, sender: String, recipients: [String],
        reason: String? = nil, queueName: String = "maildrop", recipientReasons: [String?]? = nil
    ) {
        self.id = id
        self.status = status
        self.size = size
        self.arrival = arrival
        self.sender = sender
        self.recipients = recipients
        self.reason = reason
        self.queueName = queueName
        self.recipientReasons = recipientReasons ?? recipients.map { _ in nil }
    }
}

/// What a listing found: the entries, and how many files could not be read as valid
/// queue or drop files (shown as a count, never as their raw bytes).
public struct QueueSnapshot: Sendable {
    public var entries: [QueueEntry] = []
    public var unreadable = 0
    /// Messages left out of a bounded listing, and their bytes (still in the total).
    public var omitted = 0
    public var omittedBytes = 0

    public init(entries: [QueueEntry] = [], unreadable: Int = 0) {
        self.entries = entries
        self.unreadable = unreadable
    }

    public mutating func add(_ other: QueueSnapshot) {
        entries += other.entries
        unreadable += other.unreadable
        omitted += other.omitted
        omittedBytes += other.omittedBytes
    }

    /// Leaves out the files of `names` (in `directory`) beyond `limit`, counting them
    /// and their sizes; returns the names to read.
    mutating func bound(_ names: [String], in directory: String, limit: Int) -> ArraySlice<String> {
        guard names.count > limit else { return names[...] }
        let sorted = names.sorted()
        for name in sorted.dropFirst(limit) {
            var st = stat()
            guard lstat(directory + "/" + name, &st) == 0, st.isRegularFile else { continue }
            omitted += 1
            omittedBytes += Int(st.st_size)
        }
        return sorted.prefix(limit)
    }
}

/// The queue listing in the exact layout of Postfix's `mailq`, which monitoring plugins
/// parse. Rendered by `mailq` for readers of the spool and by outboxd into public/mailq.
/// Every entry comes from a file that passed the envelope validator (`EnvelopeSyntax`), so
/// no address can carry a line break or a terminal escape; free text (the last reply) is
/// escaped; files that fail validation are counted on a line of their own.
public enum QueueListing {
    /// Postfix's text for `entries`. `recipientLimit` shortens long recipient lists (the
    /// public summary, which every local user reads).
    /// `omitted` messages of `omittedBytes` were left out (a bounded listing): they count
    /// in the total line all the same.
    public static func render(
        _ entries: [QueueEntry], unreadable: Int = 0, omitted: Int = 0, omittedBytes: Int = 0, recipientLimit: Int? = nil
    ) -> String {
        var out = entries.isEmpty ? "" : header
        for e in entries { out += renderEntry(e, recipientLimit: recipientLimit) }
        return out
            + footer(
                total: entries.reduce(omittedBytes) { $0 + $1.size }, requests: entries.count + omitted, unreadable: unreadable,
                omitted: omitted)
    }

    /// The column heading above the first entry.
    static let header = "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"

    /// The blanks before a recipient (Postfix's column).
    static let recipientIndent = String(repeating: " ", count: 41)

    /// One entry and the blank line after it.
    static func renderEntry(_ e: QueueEntry, recipientLimit: Int? = nil) -> String {
        let idStatus = pad(e.id + String(e.status), 11)
        let size = leftPad(String(e.size), 7)
        // asctime() text cut to 20 columns keeps a trailing blank: two before the sender.
        let time = MailDate.queueListing(e.arrival) + " "
        var out = "\(idStatus) \(size) \(time) \(e.sender.isEmpty ? "MAILER-DAEMON" : EnvelopeSyntax.printable(e.sender, limit: 1024))\n"
        // The reason line names the route (Postfix parsers read "(...)" as the reason).
        let reason = e.reason.map { EnvelopeSyntax.printable($0, limit: 300) }
        if let route = e.route {
            out += "(route \(route)\(reason.map { ": " + $0 } ?? ""))\n"
        } else if let reason {
            out += "(\(reason))\n"
        }
        let shown = recipientLimit.map { min($0, e.recipients.count) } ?? e.recipients.count
        for r in e.recipients.prefix(shown) { out += recipientIndent + EnvelopeSyntax.printable(r, limit: 1024) + "\n" }
        if shown < e.recipients.count { out += recipientIndent + "(and \(e.recipients.count - shown) more recipients)\n" }
        return out + "\n"
    }

    /// The notes and the total line (or Postfix's empty-queue line).
    static func footer(total: Int, requests: Int, unreadable: Int, omitted: Int) -> String {
        var note = unreadable > 0 ? "-- \(unreadable) unreadable file\(unreadable == 1 ? "" : "s") not shown (see the outboxd log)\n" : ""
        if omitted > 0 {
            note += "-- \(omitted) more message\(omitted == 1 ? "" : "s") not shown (root's mailq and outboxctl queue list every message)\n"
        }
        if requests == 0 { return note + "Mail queue is empty\n" }
        return note + "-- \((total + 1023) / 1024) Kbytes in \(requests) Request\(requests == 1 ? "" : "s").\n"
    }

    /// The messages waiting in maildrop/new (flush requests are not messages).
    /// `limit`: at most that many files are read, the oldest (the rest are counted).
    public static func dropEntries(_ layout: SpoolLayout, limit: Int = .max) throws(SystemError) -> QueueSnapshot {
        var snapshot = QueueSnapshot()
        for name in snapshot.bound(try layout.dropFileNames(), in: layout.maildropNew, limit: limit) {
            guard let (file, size) = try? DropFile.readEnvelope(path: layout.maildropNew + "/" + name), file.queueID == name else {
                snapshot.unreadable += 1
                continue
            }
            if file.isFlushRequest { continue }
            snapshot.entries.append(dropEntry(file, size: size))
        }
        return snapshot
    }

    /// Messages in outboxd's queue (held ones marked '!'), with their pending recipients
    /// and last deferral reason. Only envelopes are read, never the messages.
    /// `heldLimit` bounds how many held messages are read (the rest are counted in
    /// `omitted`): outboxd rebuilds public/mailq up to once a second.
    public static func queueEntries(_ layout: SpoolLayout, includeActive: Bool = true, heldLimit: Int = .max) throws(SystemError) -> QueueSnapshot {
        var snapshot = QueueSnapshot()
        for (directory, held) in [(layout.queueMessages, false), (layout.queueHeld, true)] where includeActive || held {
            let names: [String]
            do { names = try layout.fileNames(in: directory) } catch  where held && error.errno == ENOENT { continue }
            for name in snapshot.bound(names, in: directory, limit: held ? heldLimit : .max) {
                guard let (file, size) = try? DropFile.readEnvelope(path: directory + "/" + name), file.queueID == name else {
                    snapshot.unreadable += 1
                    continue
                }
                let state = DeliveryState.load(path: layout.queueStates + "/" + name)
                if let entry = entry(file, size: size, state: state, held: held) { snapshot.entries.append(entry) }
            }
        }
        snapshot.entries.sort { $0.id < $1.id }
        return snapshot
    }

    /// The listing entry of a message not yet adopted.
    static func dropEntry(_ file: DropFile, size: Int) -> QueueEntry {
        var entry = QueueEntry(id: file.queueID, size: size, arrival: file.time, sender: file.sender, recipients: file.recipients.map { $0.address })
        entry.uid = file.uid
        return entry
    }

    /// The listing entry of a queued message, nil when nothing is pending.
    public static func entry(_ file: DropFile, size: Int, state: DeliveryState, held: Bool) -> QueueEntry? {
        let pending = file.recipients.indices.filter { state.isPending($0) }
        guard !pending.isEmpty else { return nil }
        let reasons = pending.map { state.recipients[$0]?.reply }
        var entry = QueueEntry(
            id: file.queueID, status: held ? "!" : " ", size: size, arrival: file.time,
            sender: file.sender, recipients: pending.map { file.recipients[$0].address },
            reason: reasons.compactMap { $0 }.first,
            queueName: held ? "hold" : state.attempts > 0 ? "deferred" : "active",
            recipientReasons: reasons)
        entry.uid = file.uid
        return entry
    }

    /// Every message: maildrop/new, then outboxd's queue, in queue ID order.
    public static func allEntries(_ layout: SpoolLayout) -> QueueSnapshot {
        var snapshot = (try? dropEntries(layout)) ?? QueueSnapshot()
        if let queued = try? queueEntries(layout) { snapshot.add(queued) }
        snapshot.entries.sort { $0.id < $1.id }
        return snapshot
    }

    /// `entries` with `route` set from `routeOf(sender, recipients)` (the configuration's
    /// route choice; nil for the global settings).
    public static func namingRoutes(_ entries: [QueueEntry], _ routeOf: (String, [String]) -> String?) -> [QueueEntry] {
        entries.map { e in
            var e = e
            e.route = routeOf(e.sender, e.recipients)
            return e
        }
    }

    /// One JSON object per line in the shape of Postfix's `postqueue -j`, for scripts and
    /// monitoring that already parse it.
    public static func renderJSON(_ entries: [QueueEntry]) -> String { entries.map(renderJSONLine).joined() }

    /// One message's line of `renderJSON`.
    static func renderJSONLine(_ e: QueueEntry) -> String {
        let recipients = zip(e.recipients, e.recipientReasons).map { address, reason in
            "{\"address\": \(JSON.string(address))" + (reason.map { ", \"delay_reason\": \(JSON.string($0))" } ?? "") + "}"
        }
        return "{\"queue_name\": \(JSON.string(e.queueName)), \"queue_id\": \(JSON.string(e.id)), "
            + "\"arrival_time\": \(e.arrival), \"message_size\": \(e.size), \"forced_expire\": false, "
            + "\"sender\": \(JSON.string(e.sender)), \"recipients\": [\(recipients.joined(separator: ", "))]"
            + (e.route.map { ", \"route\": \(JSON.string($0))" } ?? "") + "}\n"
    }

    /// Recipients shown per message in public/mailq: every local user reads it, and one
    /// message may have thousands.
    public static let publicRecipientLimit = 100
    /// Messages shown in public/mailq, in all and per submitting user, oldest first: it
    /// is rewritten up to once a second and read by every local user, so it must not grow
    /// with the queue (17.7 MB for 100 000 messages), and one user's flood must not hide
    /// the others' mail. The total line counts every message.
    public static let publicEntryLimit = 1000
    public static let publicEntriesPerUser = 100

    /// The entries public/mailq shows (`sorted` in queue ID order).
    static func publicSelection(_ sorted: [QueueEntry]) -> (shown: [QueueEntry], omitted: Int, omittedBytes: Int) {
        var perUser: [Int: Int] = [:]
        var shown: [QueueEntry] = []
        var omittedBytes = 0
        for e in sorted {
            if shown.count < publicEntryLimit && perUser[e.uid, default: 0] < publicEntriesPerUser {
                perUser[e.uid, default: 0] += 1
                shown.append(e)
            } else {
                omittedBytes += e.size
            }
        }
        return (shown, sorted.count - shown.count, omittedBytes)
    }

    /// Writes the listing for unprivileged `mailq` to public/mailq (temporary file +
    /// rename, so a reader never sees half of it). Run by outboxd, which passes what it
    /// already knows about its queue (`queued`: nothing is read again), and by outboxctl.
    /// `notInMemory`: the queued messages outboxd does not hold (not shown, counted).
    public static func publish(_ layout: SpoolLayout, queued: [QueueEntry]? = nil, notInMemory: (messages: Int, bytes: Int) = (0, 0)) {
        var snapshot = (try? dropEntries(layout, limit: publicEntryLimit)) ?? QueueSnapshot()
        if let queued {
            snapshot.entries += queued
            snapshot.omitted += notInMemory.messages
            snapshot.omittedBytes += notInMemory.bytes
            // Held messages are not in outboxd's memory: their envelopes are read.
            if let held = try? queueEntries(layout, includeActive: false, heldLimit: publicEntryLimit) { snapshot.add(held) }
        } else if let all = try? queueEntries(layout) {
            snapshot.add(all)
        }
        snapshot.entries.sort { $0.id < $1.id }
        let (shown, omitted, omittedBytes) = publicSelection(snapshot.entries)
        let text = render(
            shown, unreadable: snapshot.unreadable, omitted: snapshot.omitted + omitted, omittedBytes: snapshot.omittedBytes + omittedBytes,
            recipientLimit: publicRecipientLimit)
        layout.publish(text, to: layout.publicQueueSummary)
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    static func leftPad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}
