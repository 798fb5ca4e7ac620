import Glibc
import OutboxCore
import OutboxSupport

/// Per-message delivery state, kept in queue/state/ID and replaced atomically (write a
/// new file, fsync, rename, fsync the directory), so a crash never loses the record that
/// a recipient was accepted and never re-sends to one.
///
/// Text format, one fact per line:
///
///     attempts 3
///     next 1795430000          (epoch seconds of the next attempt; 0 = due)
///     first 1795420000         (epoch seconds of the first attempt)
///     since 1795425000         (queue lifetime counted from here; absent = arrival)
///     r 2 sent 2.0.0 250 2.0.0 Ok    (recipient index, status, DSN code, last reply)
public struct DeliveryState: Equatable, Sendable {
    public typealias Status = DeliveryStatus

    public struct Entry: Equatable, Sendable {
        public var status: Status
        public var reply: String
        public var dsn: String

        public init(status: Status, reply: String, dsn: String) {
            self.status = status
            self.reply = reply
            self.dsn = dsn
        }
    }

    public var attempts = 0
    public var nextAttempt = 0
    public var firstAttempt = 0
    /// When `outboxctl requeue` restarted the queue lifetime; 0 means the arrival time.
    public var lifetimeStart = 0
    /// Recipient index → outcome so far; absent means never tried.
    public var recipients: [Int: Entry] = [:]

    public init() {}

    /// Whether recipient `index` still needs delivery.
    public func isPending(_ index: Int) -> Bool {
        switch recipients[index]?.status {
        case .sent?, .bounced?: false
        default: true
        }
    }

    /// Starts the message afresh as `outboxctl requeue` does: due now, no attempts
    /// counted, the queue lifetime restarted at `now`; recipients already sent or bounced
    /// keep their outcome, deferred ones are tried again as new.
    public mutating func restart(now: Int) {
        attempts = 0
        nextAttempt = 0
        firstAttempt = 0
        lifetimeStart = now
        recipients = recipients.filter { $0.value.status == .sent || $0.value.status == .bounced }
    }

    public func encoded() -> String {
        var out = "attempts \(attempts)\nnext \(nextAttempt)\nfirst \(firstAttempt)\n"
        if lifetimeStart != 0 { out += "since \(lifetimeStart)\n" }
        for index in recipients.keys.sorted() {
            let e = recipients[index]!
            let reply = e.reply.replacingNewlines
            out += "r \(index) \(e.status.rawValue) \(e.dsn) \(reply)\n"
        }
        return out
    }

    /// Parses the text form; unknown lines are ignored (forward compatibility), malformed
    /// numbers make it nil (the caller then treats the message as never tried). Read as
    /// bytes (encoded() writes "\n" and no other line break): by Character, this was
    /// most of the time of root's mailq over a large queue.
    public static func decode(_ text: String) -> DeliveryState? {
        var state = DeliveryState()
        for line in text.utf8.split(separator: UInt8(ascii: "\n")) {
            let f = line.split(separator: UInt8(ascii: " "), maxSplits: 4, omittingEmptySubsequences: false)
            func number(_ i: Int) -> Int? { f.count > i ? decimal(f[i]) : nil }
            switch String(decoding: f[0], as: UTF8.self) {
            case "attempts":
                guard f.count == 2, let n = number(1) else { return nil }
                state.attempts = n
            case "next":
                guard f.count == 2, let n = number(1) else { return nil }
                state.nextAttempt = n
            case "first":
                guard f.count == 2, let n = number(1) else { return nil }
                state.firstAttempt = n
            case "since":
                guard f.count == 2, let n = number(1) else { return nil }
                state.lifetimeStart = n
            case "r":
                guard f.count >= 4, let index = number(1), let status = Status(rawValue: String(decoding: f[2], as: UTF8.self)) else {
                    return nil
                }
                state.recipients[index] = Entry(
                    status: status, reply: f.count > 4 ? String(decoding: f[4], as: UTF8.self) : "", dsn: String(decoding: f[3], as: UTF8.self))
            default: continue
            }
        }
        return state
    }

    /// A decimal integer with an optional minus sign, as Int(String) reads it.
    static func decimal(_ bytes: Substring.UTF8View.SubSequence) -> Int? {
        Int(String(decoding: bytes, as: UTF8.self))
    }
}

extension DeliveryState {
    /// Reads a state file; a missing or unreadable one means "never tried".
    public static func load(path: String, at directory: Int32 = AT_FDCWD, name: String? = nil) -> DeliveryState {
        guard let fd = try? FileDescriptor(unowned: directory).open(name ?? path, flags: O_RDONLY | O_NOFOLLOW, displayPath: path) else {
            return DeliveryState()
        }
        guard let bytes = try? fd.readToEnd(limit: 1 << 24) else { return DeliveryState() }
        return decode(String(decoding: bytes, as: UTF8.self)) ?? DeliveryState()
    }
}

extension String {
    var replacingNewlines: String {
        String(map { $0.isLineBreak ? " " : $0 })
    }
}
