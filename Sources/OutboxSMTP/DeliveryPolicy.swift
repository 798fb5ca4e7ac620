import OutboxCore
import OutboxSupport

/// The one failure policy (Postfix's smtp_trouble.c is the model): every fact about an
/// attempt goes in, one `DeliveryVerdict` comes out. Protocol code and the daemon only
/// report facts; nothing else decides what happens to a recipient.
///
/// | fact                                   | verdict                         | DSN            |
/// |----------------------------------------|---------------------------------|----------------|
/// | MAIL FROM 2xx                          | proceed                         |                |
/// | RCPT TO 2xx                            | proceed (recipient accepted)    |                |
/// | DATA 354                               | proceed (send the content)      |                |
/// | end of data 2xx                        | sent                            | reply's, 2.0.0 |
/// | RCPT TO 452, or 4xx with x.5.3         | retry now, in a new transaction | reply's        |
/// | any stage 503 (bad sequence)           | deferred (the session's fault)  | reply's, 4.0.0 |
/// | any stage other 4xx (421 too)          | deferred                        | reply's, 4.0.0 |
/// | any stage 5xx                          | bounced                         | reply's, 5.0.0 |
/// | a reply class that does not belong     | deferred (a server bug)         | 4.0.0          |
/// | 452 for every recipient of a round     | deferred (session closed)       | reply's, 4.5.3 |
/// | message over the server's SIZE         | bounced, headers returned only  | 5.3.4          |
/// | SMTPUTF8 needed, not offered           | bounced                         | 5.6.7          |
/// | session failed before a message (connect, greeting, EHLO, STARTTLS, AUTH, TLS, timeout) | deferred | 4.4.1 |
/// | smarthost unreachable (recent failure) | deferred                        | 4.4.1          |
/// | session ended before a recipient was tried | deferred                    | 4.4.2          |
/// | deferred past maximal_queue_lifetime   | bounced                         | 4.4.7          |
///
/// A 421 anywhere, or a transport failure, also ends the session (`endsSession`); so do a
/// 503 and an out-of-place reply (`desynchronised`).
/// A reply that says the smarthost is limiting this client (`isThrottle`: Microsoft's
/// `432 4.3.2` thread limit, or a 421/x.7.x/x.3.2 reply naming too many connections, a
/// rate, a limit or concurrency) slows the whole route, not just this message (outboxd's
/// WorkQueue).
/// Who hears about a bounce is `notice(...)`, the second half of the table.
public enum DeliveryPolicy {
    /// Where in a mail transaction a reply came from.
    public enum Stage: String, Sendable { case mailFrom = "MAIL FROM", rcptTo = "RCPT TO", data = "DATA", endOfData = "end of data" }

    /// Everything the policy decides on.
    public enum Fact: Equatable, Sendable {
        case reply(Stage, SMTPReply)
        /// Every recipient of a round got 452 / x.5.3: no progress is possible now.
        case allRecipientsRetried(SMTPReply)
        case sizeOverLimit(size: Int, limit: Int, peer: String)
        case smtpUTF8Unsupported(peer: String)
        /// The session failed as a whole (or could not be opened): the reason as logged.
        case sessionFailed(String)
        /// The session ended (421, closed, or broken mid-transaction) before this
        /// recipient had a reply.
        case sessionEnded(peer: String)
    }

    public static func verdict(_ fact: Fact) -> DeliveryVerdict {
        switch fact {
        case .reply(let stage, let reply): replyVerdict(stage, reply)
        case .allRecipientsRetried(let reply): DeliveryVerdict(.deferred, dsn: reply.enhancedStatus ?? "4.5.3", reply.description)
        case .sizeOverLimit(let size, let limit, let peer):
            DeliveryVerdict(.bounced, dsn: "5.3.4", "552 5.3.4 message size \(size) exceeds size limit \(limit) of \(peer)")
        case .smtpUTF8Unsupported(let peer):
            DeliveryVerdict(.bounced, dsn: "5.6.7", "555 5.6.7 \(peer) does not support SMTPUTF8, which this message needs")
        case .sessionFailed(let reason): DeliveryVerdict(.deferred, dsn: "4.4.1", reason)
        case .sessionEnded(let peer): DeliveryVerdict(.deferred, dsn: "4.4.2", "session with \(peer) ended before this recipient was tried")
        }
    }

    private static func replyVerdict(_ stage: Stage, _ reply: SMTPReply) -> DeliveryVerdict {
        let text = reply.description
        let dsn = reply.enhancedStatus ?? "\(reply.replyClass).0.0"
        switch (stage, reply.replyClass) {
        case (.data, 3), (.mailFrom, 2), (.rcptTo, 2): return DeliveryVerdict(.proceed, dsn: dsn, text)
        case (.endOfData, 2): return DeliveryVerdict(.sent, dsn: dsn, text)
        // 503 (bad sequence) is the session's state, not the message's fault.
        case (_, 5) where reply.code == 503: return DeliveryVerdict(.deferred, dsn: "4" + dsn.dropFirst(), text)
        // "Too many recipients": 452 without an enhanced code or with x.5.3; a 452 4.2.2
        // (mailbox full) is an ordinary deferral (found by review).
        case (.rcptTo, 4) where reply.enhancedStatus == "4.5.3" || (reply.code == 452 && reply.enhancedStatus == nil):
            return DeliveryVerdict(.retryInNewTransaction, dsn: dsn, text)
        // Pacing is judged on every line of the reply; the verdict keeps the first.
        case (_, 4): return DeliveryVerdict(.deferred, dsn: dsn, text, asksToSlowDown: isThrottle(reply))
        case (_, 5): return DeliveryVerdict(.bounced, dsn: dsn, text)
        // A positive reply where none belongs (250 to DATA, 354 to RCPT) is a server bug.
        default: return DeliveryVerdict(.deferred, dsn: "4.0.0", text)
        }
    }

    /// Whether the server is closing the session (421, or a reply it sends before hanging up).
    public static func endsSession(_ reply: SMTPReply) -> Bool { reply.code == 421 }

    /// Whether a transient reply asks this client to slow down (rather than refusing this
    /// message or saying the server is down): Microsoft 365's `432 4.3.2` thread limit,
    /// and a 421, x.7.x, x.3.2 or x.4.5 (congestion) reply, or one without an enhanced
    /// code, whose text says so: too many connections, sessions, messages, recipients or
    /// new TLS sessions (anything "too many" but errors and the like); too much mail; a
    /// rate; a limit; throttling; concurrency; busy; slow down (Postfix's anvil "421 4.7.0
    /// … too many connections", Gmail's "421 4.7.28 … unusual rate", Microsoft's "421 4.3.2
    /// … concurrent connections … exceeded a limit", Amazon SES's "454 Throttling failure:
    /// Maximum sending rate exceeded").
    ///
    /// A bare 421 is not enough: it is also how a server that is shutting down, timed us
    /// out or is broken closes the session, and a route treating an outage as pacing would
    /// drain one message per pause instead of deferring the whole site (found by review).
    /// A daily quota is not pacing either: slowing down does not help until tomorrow, so
    /// it takes the usual backoff. RFC 4954's `432 4.7.12` (a password transition is
    /// needed) is a credential problem.
    public static func isThrottle(_ reply: SMTPReply) -> Bool {
        guard reply.isTransient else { return false }
        let status = reply.enhancedStatus
        if status == "4.7.12" { return false }
        if reply.code == 432 && status?.hasPrefix("4.3.") == true { return true }
        // Google Workspace's relay: "450 4.2.1 Peak SMTP relay limit exceeded for customer"
        // (its other 4.2.1, a recipient receiving too fast, is that recipient's).
        let relayLimit = status == "4.2.1" && ASCII.contains("relay limit", in: ASCII.lowercased(reply.lines.first ?? ""))
        if let status, !relayLimit, !(reply.code == 421 || status.hasPrefix("4.7.") || status.hasPrefix("4.3.2") || status == "4.4.5") {
            return false
        }
        // "busy" only where the server speaks of itself (421, or an enhanced code that is
        // not about a mailbox): RFC 5321's own 450 text says "mailbox busy".
        let serverWords = reply.code == 421 || status != nil
        return mentionsThrottling(reply.lines.joined(separator: " "), enhancedStatus: status, busyCounts: serverWords)
    }

    /// Words (matched at the start of a word, without case: "rate" is not in "generated")
    /// that servers use when they pace a client.
    static let throttleWords = [
        "too much mail", "too much email", "too much traffic", "rate", "ratelimit", "limit", "throttl", "concurren", "slow down",
    ]
    /// "too many X" is pacing unless X is one of these: a client's mistakes, or a message's
    /// own recipient count (452 "too many recipients", RFC 5321's per-message limit, unless
    /// an x.7.x code says it is per client, as Postfix's anvil does). "too many AUTH
    /// commands" (Postfix's smtpd_client_auth_rate_limit) is pacing; failed ones are not.
    static let notPacingAfterTooMany = [
        "error", "bad", "invalid", "unknown", "fail", "hop", "authentication fail", "auth fail", "recipient",
    ]
    /// A day's quota: pacing does not help, unless the reply also names a shorter period
    /// (Outlook.com: "limits for how many messages can be sent per hour and per day").
    static let quotaWords = ["daily", "quota", "per day"]
    static let shortPeriodWords = ["per hour", "per minute", "per second", "hourly", "rate"]
    /// How much of a reply is judged: a long reply (up to the parser's 4 MB) must not cost
    /// a delivery thread more than a glance (found by review).
    static let judgedLength = 2048

    static func mentionsThrottling(_ text: String, enhancedStatus: String? = nil, busyCounts: Bool = true) -> Bool {
        // Host names, addresses and codes ("mx.limitless.example", "4.7.0") are no words.
        let words = ASCII.lowercased(String(text.prefix(judgedLength))).split(whereSeparator: { $0.isWhitespace }).filter { word in
            let core = word.drop { !$0.isLetter && !$0.isNumber }.reversed().drop { !$0.isLetter && !$0.isNumber }
            return !core.contains { $0 == "." || $0 == "@" || $0 == ":" || $0 == "[" }
        }
        let scalars = Array(words.joined(separator: " ").unicodeScalars)
        func isWordScalar(_ s: Unicode.Scalar) -> Bool { s.properties.isAlphabetic || s.properties.numericType != nil }
        /// Whether `word` starts a word at `start` (not "rate" inside "generated").
        func matches(_ word: [Unicode.Scalar], at start: Int) -> Bool {
            start + word.count <= scalars.count && (start == 0 || !isWordScalar(scalars[start - 1]))
                && scalars[start..<start + word.count].elementsEqual(word)
        }
        func starts(_ word: String) -> [Int] {
            let w = Array(word.unicodeScalars)
            guard scalars.count >= w.count else { return [] }
            return (0...(scalars.count - w.count)).filter { matches(w, at: $0) }
        }
        func mentions(_ word: String) -> Bool {
            let w = Array(word.unicodeScalars)
            return scalars.count >= w.count && (0...(scalars.count - w.count)).contains { matches(w, at: $0) }
        }
        if quotaWords.contains(where: mentions) && !shortPeriodWords.contains(where: mentions) { return false }
        if throttleWords.contains(where: mentions) || (busyCounts && mentions("busy") && !mentions("mailbox busy")) { return true }
        let exceptions = (enhancedStatus?.hasPrefix("4.7.") == true ? notPacingAfterTooMany.filter { $0 != "recipient" } : notPacingAfterTooMany)
            .map { Array($0.unicodeScalars) }
        let tooMany = "too many ".unicodeScalars.count
        return starts("too many ").contains { start in
            let next = start + tooMany
            return next < scalars.count
                && !exceptions.contains { exception in
                    next + exception.count <= scalars.count && scalars[next..<next + exception.count].elementsEqual(exception)
                }
        }
    }

    /// The same, for a reply already rendered as text ("432 4.3.2 …", as verdicts keep it).
    public static func isThrottle(replyText text: String) -> Bool {
        let words = text.split(separator: " ", maxSplits: 1)
        guard let first = words.first, first.count == 3, let code = Int(first) else { return false }
        var rest = words.count > 1 ? words[1] : ""
        var enhanced: String?
        if let word = rest.split(separator: " ", maxSplits: 1).first, word.first?.isNumber == true, word.contains(".") {
            enhanced = String(word)
            rest = rest.dropFirst(word.count).drop { $0 == " " }
        }
        return isThrottle(SMTPReply(code: code, enhancedStatus: enhanced, lines: [String(rest)]))
    }

    /// Whether the session can no longer be trusted to be in step with the server: 503
    /// (bad sequence) or a reply class that does not belong at this stage (250 to DATA,
    /// 354 to RCPT), which usually means the replies are off by one. Such a session is
    /// closed rather than reused (found by review).
    /// `refusalExpected`: MAIL was refused, or no recipient was accepted before DATA; the
    /// replies that follow (503 "need MAIL/RCPT command" and the like) are then only read.
    public static func desynchronised(_ stage: Stage, _ reply: SMTPReply, refusalExpected: Bool = false) -> Bool {
        if refusalExpected { return false }
        if reply.code == 503 { return true }
        switch (stage, reply.replyClass) {
        case (.data, 2), (.mailFrom, 3), (.rcptTo, 3), (.endOfData, 3): return true
        default: return false
        }
    }

    /// A deferral past the queue lifetime becomes a bounce (4.4.7, as Postfix reports it).
    public static func expire(_ verdict: DeliveryVerdict, afterDays days: Int) -> DeliveryVerdict {
        guard verdict.action == .deferred else { return verdict }
        return DeliveryVerdict(.bounced, dsn: "4.4.7", "delivery time expired after \(days) days; last reply: \(verdict.reply)")
    }

    /// Who is told about a failed recipient.
    public enum Notice: Equatable, Sendable {
        case none
        /// A notification to `recipient`, queued with the null sender and `marker` (so
        /// that its own failure is recognised).
        case notify(recipient: String, marker: String)
    }

    /// | sender                                              | notice                     |
    /// |-----------------------------------------------------|----------------------------|
    /// | an address                                          | to the sender, BOUNCE=1    |
    /// | null, outbox's own notice (BOUNCE=1)                | to admin_address, BOUNCE=2 |
    /// | null, a notice about a notice (BOUNCE=2)            | none (no loops)            |
    /// | null, anyone else's null-sender mail                | none                       |
    ///
    /// A recipient whose NOTIFY lacks FAILURE (NEVER, SUCCESS, DELAY) is not reported
    /// (`wantsFailureNotice`).
    public static func notice(sender: String, bounceMarker: String?, adminAddress: String?) -> Notice {
        guard sender.isEmpty else { return .notify(recipient: sender, marker: "BOUNCE=1") }
        guard bounceMarker == "1", let adminAddress else { return .none }
        return .notify(recipient: adminAddress, marker: "BOUNCE=2")
    }

    /// RFC 3461 NOTIFY: nil (the default) includes FAILURE.
    public static func wantsFailureNotice(_ notify: String?) -> Bool {
        guard let notify else { return true }
        return notify.uppercased().split(separator: ",").contains("FAILURE")
    }

    /// The DSN status of a failed recipient in a notification: always permanent (5.x.x).
    public static func failureStatus(_ dsn: String) -> String {
        dsn.hasPrefix("5.") ? dsn : "5" + dsn.dropFirst()
    }
}

/// What happens to one recipient after a fact.
public struct DeliveryVerdict: Equatable, Sendable {
    public enum Action: Equatable, Sendable {
        /// The transaction goes on (MAIL, RCPT accepted; DATA 354).
        case proceed
        /// Try this recipient again at once in a new transaction (452 too many recipients).
        case retryInNewTransaction
        case sent
        case deferred
        case bounced
    }

    public var action: Action
    /// RFC 3463 status for logs and DSNs ("2.0.0", "4.4.1", "5.1.1" …).
    public var dsn: String
    /// The server's reply, or outbox's own words for a local decision.
    public var reply: String
    /// The server asked this client to slow down (`DeliveryPolicy.isThrottle`, judged on
    /// the whole reply, not only the first line kept in `reply`).
    public var asksToSlowDown: Bool

    public init(_ action: Action, dsn: String, _ reply: String, asksToSlowDown: Bool = false) {
        self.action = action
        self.dsn = dsn
        self.reply = reply
        self.asksToSlowDown = asksToSlowDown
    }

    /// The status recorded in the state file; nil while the transaction goes on.
    public var status: DeliveryStatus? {
        switch action {
        case .sent: .sent
        case .deferred: .deferred
        case .bounced: .bounced
        case .proceed, .retryInNewTransaction: nil
        }
    }
}
