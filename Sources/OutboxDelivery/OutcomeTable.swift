import OutboxSMTP

/// The single failure policy (Postfix's smtp_trouble.c in spirit): protocol code only
/// reports the stage and the reply; this table says what happens to the message.
///
/// | stage        | 2xx (3xx for DATA) | 452 / x.5.3           | other 4xx | 5xx    |
/// |--------------|--------------------|-----------------------|-----------|--------|
/// | MAIL FROM    | go on              | defer message         | defer     | bounce (503: defer, session bug) |
/// | RCPT TO      | recipient accepted | retry in a new transaction now | defer recipient | bounce recipient |
/// | DATA         | send content       | defer accepted        | defer     | bounce accepted |
/// | end of data  | sent               | defer accepted        | defer     | bounce accepted |
///
/// Session stages (connect, greeting, EHLO, STARTTLS, AUTH, timeouts, TLS errors) never
/// bounce: every message of the session is deferred and the next smarthost is tried.
/// A 421 anywhere also ends the session.
public enum OutcomeTable {
    public enum Stage: String, Sendable { case mailFrom = "MAIL FROM", rcptTo = "RCPT TO", data = "DATA", endOfData = "end of data" }

    public enum Verdict: Equatable, Sendable {
        case proceed
        case retryInNewTransaction
        case deferred
        case bounced
    }

    public static func verdict(_ stage: Stage, _ reply: SMTPReply) -> Verdict {
        switch (stage, reply.replyClass) {
        case (.data, 3): return .proceed
        case (.data, 2), (_, 3): return .deferred  // a positive reply where none belongs is a server bug: retry later
        case (_, 2): return .proceed
        // 503 (bad sequence) is the session's state, not the message's fault.
        case (_, 5) where reply.code == 503: return .deferred
        case (.rcptTo, 4) where reply.code == 452 || reply.enhancedStatus == "4.5.3": return .retryInNewTransaction
        case (_, 4): return .deferred
        case (_, 5): return .bounced
        default: return .deferred
        }
    }

    /// Whether the server is closing the session (421, or a reply it sends before hanging up).
    public static func endsSession(_ reply: SMTPReply) -> Bool { reply.code == 421 }
}
