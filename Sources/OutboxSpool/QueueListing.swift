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

    public init(id: String, status: Character = " ", size: Int, arrival: Int, sender: String, recipients: [String], reason: String? = nil) {
        self.id = id
        self.status = status
        self.size = size
        self.arrival = arrival
        self.sender = sender
        self.recipients = recipients
        self.reason = reason
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

    /// Messages in outboxd's queue, with their pending recipients and last deferral reason.
    public static func queueEntries(_ layout: SpoolLayout) throws(SystemError) -> [QueueEntry] {
        var entries: [QueueEntry] = []
        for name in try layout.fileNames(in: layout.queueMessages) {
            guard let file = try? DropFile.read(path: layout.queueMessages + "/" + name) else { continue }
            let state = DeliveryState.load(path: layout.queueStates + "/" + name)
            let pending = file.recipients.indices.filter { state.isPending($0) }
            guard !pending.isEmpty else { continue }
            let reason = pending.compactMap { state.recipients[$0]?.reply }.first
            entries.append(QueueEntry(id: file.queueID, size: file.contentSize, arrival: file.time, sender: file.sender,
                                      recipients: pending.map { file.recipients[$0].address }, reason: reason))
        }
        return entries
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    static func leftPad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}
