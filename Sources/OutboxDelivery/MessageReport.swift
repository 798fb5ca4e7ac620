import Glibc
import OutboxConfig
import OutboxCore
import OutboxDrop
import OutboxMessage
import OutboxSpool
import OutboxSupport

/// What `outboxctl show ID` prints: envelope, delivery state, last replies and headers.
/// Never the body: an operator looking at the queue does not need to read the mail.
public enum MessageReport {
    /// Header bytes shown at most.
    static let headerLimit = 65536

    /// The report for `id`, or nil when there is no such message. With `config`'s
    /// routes, the route the message takes is named.
    public static func render(_ id: String, store: QueueStore, config: Config? = nil) throws -> String? {
        guard let (path, location) = store.locate(id) else { return nil }
        var head: [UInt8] = []
        var headerEnd: Int?
        let file = try DropFile.read(path: path) { chunk in
            guard headerEnd == nil, head.count < headerLimit else { return }
            head += chunk.prefix(headerLimit - head.count)
            headerEnd = endOfHeaders(head)
        }
        let state = DeliveryState.load(path: store.states + "/" + id)
        var queueName = location.rawValue
        if location == .queue { queueName = state.attempts > 0 ? "deferred" : "active" }
        var out = "queue_id: \(file.queueID)\nqueue: \(queueName)\n"
        out += "arrival: \(MailDate.rfc5322(file.time))\nsubmitted_by_uid: \(file.uid)\nsize: \(file.contentSize)\n"
        // What a local user or a remote server wrote is shown through logLine: no terminal
        // control or bidi override reaches the operator's screen.
        out += "sender: <\(EnvelopeSyntax.logLine(file.sender))>\n"
        if let config, !config.routes.isEmpty {
            out += "route: \(config.routeName(sender: file.sender, recipients: file.recipients.map(\.address)) ?? "(global settings)")\n"
        }
        if let origin = file.parameter("ORIGIN") { out += "origin: \(origin)\n" }
        let parameters = file.parameters.filter { !$0.hasPrefix("ORIGIN=") }
        if !parameters.isEmpty { out += "parameters: \(parameters.joined(separator: " "))\n" }
        out += "attempts: \(state.attempts)\n"
        if state.firstAttempt > 0 { out += "first_attempt: \(MailDate.rfc5322(state.firstAttempt))\n" }
        // Also for a message parked by message_rate_limit (no attempt yet).
        if state.attempts > 0 || state.nextAttempt > MailDate.now(), location == .queue {
            out += "next_attempt: \(state.nextAttempt == 0 ? "now" : MailDate.rfc5322(state.nextAttempt))\n"
        }
        for (index, recipient) in file.recipients.enumerated() {
            let entry = state.recipients[index]
            var line = "recipient: <\(EnvelopeSyntax.logLine(recipient.address))> \(entry?.status.rawValue ?? "pending")"
            if let original = recipient.original { line += " orig_to=<\(EnvelopeSyntax.logLine(original))>" }
            if let entry, !entry.reply.isEmpty { line += " dsn=\(EnvelopeSyntax.logLine(entry.dsn)) (\(EnvelopeSyntax.logLine(entry.reply)))" }
            out += line + "\n"
        }
        out += "\n"
        let headers = head.prefix(headerEnd ?? head.count)
        for line in String(decoding: headers.filter { $0 != 13 }, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            // Folded lines keep their leading tab.
            out += line.split(separator: "\t", omittingEmptySubsequences: false).map { EnvelopeSyntax.logLine(String($0)) }.joined(separator: "\t")
            out += "\n"
        }
        out.removeLast()
        if headerEnd == nil && head.count >= headerLimit { out += "\n[headers truncated at \(headerLimit) octets]\n" }
        return out
    }

    /// Offset just past the last header line (before the empty line), if present.
    static func endOfHeaders(_ bytes: [UInt8]) -> Int? {
        HeaderSection.bodyStart(in: bytes).map { $0 - 2 }
    }
}
