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
    public static func decode(_ text: String) -> DeliveryState? { decode(bytes: Array(text.utf8)) }

    /// The same from the file's bytes: lines split at LF (empty ones skipped), each into
    /// at most five fields at spaces, without a String per line (root's mailq decodes one
    /// state per deferred message: the String splits were 14 % of a 100 000-message listing).
    public static func decode(bytes: [UInt8]) -> DeliveryState? {
        var state = DeliveryState()
        var fields: [Range<Int>] = []
        fields.reserveCapacity(5)
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 10 { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            guard lineEnd > lineStart else { continue }
            fields.removeAll(keepingCapacity: true)
            var fieldStart = lineStart
            var i = lineStart
            while i < lineEnd && fields.count < 4 {
                if bytes[i] == 32 {
                    fields.append(fieldStart..<i)
                    fieldStart = i + 1
                }
                i += 1
            }
            fields.append(fieldStart..<lineEnd)
            func number(_ i: Int) -> Int? { fields.count > i ? decimal(bytes[fields[i]]) : nil }
            func text(_ i: Int) -> String { String(decoding: bytes[fields[i]], as: UTF8.self) }
            let key = bytes[fields[0]]
            if key.elementsEqual("attempts".utf8) {
                guard fields.count == 2, let n = number(1) else { return nil }
                state.attempts = n
            } else if key.elementsEqual("next".utf8) {
                guard fields.count == 2, let n = number(1) else { return nil }
                state.nextAttempt = n
            } else if key.elementsEqual("first".utf8) {
                guard fields.count == 2, let n = number(1) else { return nil }
                state.firstAttempt = n
            } else if key.elementsEqual("since".utf8) {
                guard fields.count == 2, let n = number(1) else { return nil }
                state.lifetimeStart = n
            } else if key.elementsEqual("r".utf8) {
                guard fields.count >= 4, let index = number(1), let status = Status(rawValue: text(2)) else { return nil }
                state.recipients[index] = Entry(status: status, reply: fields.count > 4 ? text(4) : "", dsn: text(3))
            }
        }
        return state
    }

    /// A decimal integer with an optional sign, as Int(String) reads it (nil when empty,
    /// not all digits, or out of range).
    static func decimal(_ bytes: ArraySlice<UInt8>) -> Int? {
        var digits = bytes[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative || digits.first == UInt8(ascii: "+") { digits = digits.dropFirst() }
        guard !digits.isEmpty else { return nil }
        var value = 0
        for b in digits {
            guard b >= 48 && b <= 57 else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = negative ? times.subtractingReportingOverflow(Int(b - 48)) : times.addingReportingOverflow(Int(b - 48))
            guard !o1 && !o2 else { return nil }
            value = sum
        }
        return value
    }
}

extension DeliveryState {
    /// Reads a state file; a missing or unreadable one means "never tried".
    public static func load(path: String, at directory: Int32 = AT_FDCWD, name: String? = nil) -> DeliveryState {
        guard let fd = try? FileDescriptor(unowned: directory).open(name ?? path, flags: O_RDONLY | O_NOFOLLOW, displayPath: path) else {
            return DeliveryState()
        }
        guard let bytes = try? fd.readToEnd(limit: 1 << 24) else { return DeliveryState() }
        return decode(bytes: bytes) ?? DeliveryState()
    }
}

extension String {
    var replacingNewlines: String {
        String(map { $0.isLineBreak ? " " : $0 })
    }
}
