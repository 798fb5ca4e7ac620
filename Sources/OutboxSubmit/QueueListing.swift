import Glibc
import OutboxCore
import OutboxSpool

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

/// Renders and gathers the queue listing in the exact layout of Postfix's `mailq`, which
/// monitoring plugins parse.
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

    /// The listing for this caller: read directly when the spool is readable (root, the
    /// outbox user, an unprivileged test instance); otherwise the summary outboxd keeps
    /// in public/mailq, which holds envelopes only, never contents.
    public static func text(_ layout: SpoolLayout) throws -> String {
        do {
            return render(try dropEntries(layout))
        } catch let error as SystemError where error.errno == EACCES || error.errno == EPERM {
            if let summary = readPublicSummary(layout) { return summary }
            throw SubmissionError(.unavailable, "cannot read the queue (\(error)) and outboxd has not published \(layout.publicQueueSummary)")
        } catch let error as SystemError where error.errno == ENOENT {
            return render([])
        }
    }

    static func readPublicSummary(_ layout: SpoolLayout) -> String? {
        guard let fd = try? FileDescriptor.open(layout.publicQueueSummary, flags: O_RDONLY | O_NOFOLLOW) else { return nil }
        defer { fd.close() }
        return (try? fd.readToEnd(limit: 64 << 20)).map { String(decoding: $0, as: UTF8.self) }
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    static func leftPad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}
