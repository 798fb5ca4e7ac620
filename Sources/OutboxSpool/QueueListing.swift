import Glibc
import OutboxCore

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

    public init(id: String, status: Character = " ", size: Int, arrival: Int, sender: String, recipients: [String],
                reason: String? = nil, queueName: String = "maildrop", recipientReasons: [String?]? = nil) {
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

/// The queue listing in the exact layout of Postfix's `mailq`, which monitoring plugins
/// parse. Rendered by `mailq` for readers of the spool and by outboxd into public/mailq.
public enum QueueListing {
    /// Postfix's text for `entries`.
    public static func render(_ entries: [QueueEntry]) -> String {
        if entries.isEmpty { return "Mail queue is empty\n" }
        var out = "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
        var total = 0
        for e in entries {
            total += e.size
            let idStatus = pad(e.id + String(e.status), 11)
            let size = leftPad(String(e.size), 7)
            // asctime() text cut to 20 columns keeps a trailing blank: two before the sender.
            let time = MailDate.queueListing(e.arrival) + " "
            out += "\(idStatus) \(size) \(time) \(e.sender.isEmpty ? "MAILER-DAEMON" : e.sender)\n"
            if let reason = e.reason { out += "(\(reason))\n" }
            for r in e.recipients { out += String(repeating: " ", count: 41) + r + "\n" }
            out += "\n"
        }
        let requests = entries.count
        out += "-- \((total + 1023) / 1024) Kbytes in \(requests) Request\(requests == 1 ? "" : "s").\n"
        return out
    }

    /// The messages waiting in maildrop/new (flush requests are not messages).
    public static func dropEntries(_ layout: SpoolLayout) throws -> [QueueEntry] {
        var entries: [QueueEntry] = []
        for name in try layout.dropFileNames() {
            guard let file = try? DropFile.read(path: layout.maildropNew + "/" + name), !file.isFlushRequest else { continue }
            entries.append(QueueEntry(id: file.queueID, size: file.contentSize, arrival: file.time, sender: file.sender,
                                      recipients: file.recipients.map(\.address)))
        }
        return entries
    }

    /// Messages in outboxd's queue (held ones marked '!'), with their pending recipients
    /// and last deferral reason.
    public static func queueEntries(_ layout: SpoolLayout) throws(SystemError) -> [QueueEntry] {
        var entries: [QueueEntry] = []
        for (directory, held) in [(layout.queueMessages, false), (layout.queueHeld, true)] {
            let names: [String]
            do { names = try layout.fileNames(in: directory) } catch where held && error.errno == ENOENT { continue }
            for name in names {
                guard let file = try? DropFile.read(path: directory + "/" + name) else { continue }
                let state = DeliveryState.load(path: layout.queueStates + "/" + name)
                let pending = file.recipients.indices.filter { state.isPending($0) }
                guard !pending.isEmpty else { continue }
                let reasons = pending.map { state.recipients[$0]?.reply }
                entries.append(QueueEntry(id: file.queueID, status: held ? "!" : " ", size: file.contentSize, arrival: file.time,
                                          sender: file.sender, recipients: pending.map { file.recipients[$0].address },
                                          reason: reasons.compactMap { $0 }.first,
                                          queueName: held ? "hold" : state.attempts > 0 ? "deferred" : "active",
                                          recipientReasons: reasons))
            }
        }
        return entries.sorted { $0.id < $1.id }
    }

    /// Every message: maildrop/new, then outboxd's queue, in queue ID order.
    public static func allEntries(_ layout: SpoolLayout) -> [QueueEntry] {
        var entries = (try? dropEntries(layout)) ?? []
        entries += (try? queueEntries(layout)) ?? []
        return entries.sorted { $0.id < $1.id }
    }

    /// One JSON object per line in the shape of Postfix's `postqueue -j`, for scripts and
    /// monitoring that already parse it.
    public static func renderJSON(_ entries: [QueueEntry]) -> String {
        var out = ""
        for e in entries {
            let recipients = zip(e.recipients, e.recipientReasons).map { address, reason in
                "{\"address\": \(JSON.string(address))" + (reason.map { ", \"delay_reason\": \(JSON.string($0))" } ?? "") + "}"
            }
            out += "{\"queue_name\": \(JSON.string(e.queueName)), \"queue_id\": \(JSON.string(e.id)), "
                + "\"arrival_time\": \(e.arrival), \"message_size\": \(e.size), \"forced_expire\": false, "
                + "\"sender\": \(JSON.string(e.sender)), \"recipients\": [\(recipients.joined(separator: ", "))]}\n"
        }
        return out
    }

    /// Writes the listing for unprivileged `mailq` to public/mailq (temporary file +
    /// rename, so a reader never sees half of it). Run by outboxd and by outboxctl.
    public static func publish(_ layout: SpoolLayout) {
        guard mkdir(layout.publicDirectory, 0o755) == 0 || errno == EEXIST else { return }
        let text = render(allEntries(layout))
        let tmp = layout.publicDirectory + "/.mailq.tmp"
        guard let fd = try? FileDescriptor.open(tmp, flags: O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: 0o644) else { return }
        try? fd.writeAll(text)
        _ = fchmod(fd.rawValue, 0o644)
        fd.close()
        rename(tmp, layout.publicQueueSummary)
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    static func leftPad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}
