import OutboxCore

/// One operator request on queued messages, as outboxctl sends it to outboxd's control
/// socket: a single line `ACTION ID…` (`ALL` for every message); outboxd answers with one
/// `QueueReply` line per message and closes.
public struct QueueRequest: Equatable, Sendable {
    public enum Action: String, Sendable, CaseIterable {
        case hold, release, delete, requeue
    }

    public var action: Action
    /// Queue IDs, or the single word `ALL`.
    public var ids: [String]

    public init(_ action: Action, ids: [String]) {
        self.action = action
        self.ids = ids
    }

    public var line: String { ([action.rawValue] + ids).joined(separator: " ") }

    /// Parses a request line; nil when the action is unknown or no ID is given.
    public static func parse(_ line: String) -> QueueRequest? {
        let words = line.split(whereSeparator: \.isBlankOrLineBreak).map(String.init)
        guard let first = words.first, let action = Action(rawValue: first), words.count > 1 else { return nil }
        return QueueRequest(action, ids: Array(words.dropFirst()))
    }
}

/// The answer about one message: `ok TEXT` or `error TEXT`.
public struct QueueReply: Equatable, Sendable {
    public var ok: Bool
    public var text: String

    public init(ok: Bool, _ text: String) {
        self.ok = ok
        self.text = text
    }

    public var line: String { (ok ? "ok " : "error ") + text }

    public static func parse(_ line: Substring) -> QueueReply? {
        if line.hasPrefix("ok ") { return QueueReply(ok: true, String(line.dropFirst(3))) }
        if line.hasPrefix("error ") { return QueueReply(ok: false, String(line.dropFirst(6))) }
        return nil
    }
}
