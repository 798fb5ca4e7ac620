import Glibc
import OutboxCore
import OutboxDrop

/// public/overlimit: the submitting uids that have reached `user_queue_limit` or
/// `user_queue_size_limit`, as outboxd last counted its queue, one `uid messages bytes`
/// line each. outboxd writes it (temporary file + rename) whenever the set changes;
/// `sendmail` reads it before it queues anything, so a user over the limit gets one clear
/// line and exit 75 at once instead of filling the spool. It is advisory: a user who
/// bypasses `sendmail` is caught by outboxd, which holds such messages instead of
/// queueing them for delivery.
public struct UserQueueUsage: Equatable, Sendable {
    public var messages = 0
    public var bytes = 0

    public init(messages: Int = 0, bytes: Int = 0) {
        self.messages = messages
        self.bytes = bytes
    }

    /// Whether this usage has reached either limit (0 means no limit).
    public func reaches(messageLimit: Int, sizeLimit: Int) -> Bool {
        (messageLimit > 0 && messages >= messageLimit) || (sizeLimit > 0 && bytes >= sizeLimit)
    }

    /// The path of the list below `layout`.
    public static func path(_ layout: SpoolLayout) -> String { layout.publicOverLimit }

    /// The text of the list for `over` (sorted by uid).
    public static func render(_ over: [Int: UserQueueUsage]) -> String {
        over.keys.sorted().map { "\($0) \(over[$0]!.messages) \(over[$0]!.bytes)\n" }.joined()
    }

    /// Replaces the list atomically (outboxd).
    public static func publish(_ over: [Int: UserQueueUsage], layout: SpoolLayout) {
        layout.publish(render(over), to: layout.publicOverLimit)
    }

    /// `uid`'s line in the list, if it is there (a missing or unreadable list: none).
    public static func listed(_ uid: Int, layout: SpoolLayout) -> UserQueueUsage? {
        guard let fd = try? FileDescriptor.open(path(layout), flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { return nil }
        guard let bytes = try? fd.readToEnd(limit: 1 << 20) else { return nil }
        for line in bytes.split(separator: 10) {
            let fields = line.split(separator: 32).map { Int(String(decoding: $0, as: UTF8.self)) }
            guard fields.count == 3, let u = fields[0], let m = fields[1], let b = fields[2] else { continue }
            if u == uid { return UserQueueUsage(messages: m, bytes: b) }
        }
        return nil
    }
}

extension [Int: UserQueueUsage] {
    /// Adds (`sign` 1) or removes (-1) one message of `bytes` from `uid`'s usage; never
    /// below zero, and a uid with nothing queued has no entry.
    public mutating func record(uid: Int, bytes: Int, _ sign: Int = 1) {
        var u = self[uid, default: UserQueueUsage()]
        u.messages = Swift.max(0, u.messages + sign)
        u.bytes = Swift.max(0, u.bytes + sign * bytes)
        self[uid] = u.messages == 0 ? nil : u
    }
}
