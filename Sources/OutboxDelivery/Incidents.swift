import OutboxCore

/// One piece of bad (or good) news for the admin: an incident opened or recovered.
public struct AlertEvent: Equatable, Sendable {
    public enum Phase: String, Sendable { case incident, recovery }
    public var phase: Phase
    public var kind: MonitorState.IncidentKind
    /// When the trouble began.
    public var since: Int
    public var reason: String
    /// Messages waiting when it was raised.
    public var waiting: Int
}

/// The incident rules, as mutations of MonitorState (pure; the daemon feeds it events and
/// acts on what it returns):
/// - auth: the smarthost refused AUTH or no credential could be had; opens at once,
///   recovers when a session authenticates.
/// - certificate: the smarthost's certificate did not verify; opens at once, recovers
///   when a TLS session verifies.
/// - delivery: mail has waited while every attempt failed for alert_after; recovers with
///   the next delivery, or when nothing waits any more.
/// - user_rate: a submitting user passed user_rate_limit; recovers when no user is over
///   it any more.
extension MonitorState {
    /// What a failed session says about the smarthost.
    public static func incidentKind(of error: SessionError) -> IncidentKind? {
        switch error {
        case .rejected(let stage, let reply) where stage.hasPrefix("AUTH") && reply.code >= 500: .auth
        case .tokenRejected, .sasl, .credentials: .auth
        case .transport(.tls(let text)) where text.hasPrefix("certificate verify failed"): .certificate
        default: nil
        }
    }

    /// A session could not be had (or a message could not be sent).
    public mutating func failed(_ reason: String, kind: IncidentKind?, now: Int, waiting: Int) -> [AlertEvent] {
        if failingSince == nil { failingSince = now }
        lastFailure = reason
        guard let kind, incidents[kind] == nil else { return [] }
        incidents[kind] = Incident(since: now, announced: true, reason: reason)
        return [AlertEvent(phase: .incident, kind: kind, since: now, reason: reason, waiting: waiting)]
    }

    /// A session authenticated (and verified its certificate, when required).
    public mutating func sessionSucceeded(now: Int, waiting: Int) -> [AlertEvent] {
        close([.auth, .certificate], now: now, waiting: waiting)
    }

    /// A recipient was accepted by the smarthost.
    public mutating func delivered(now: Int, waiting: Int) -> [AlertEvent] {
        failingSince = nil
        lastFailure = ""
        return close([.auth, .certificate, .delivery], now: now, waiting: waiting)
    }

    /// user_rate_limit held a user's mail: opens the incident (once until it ends).
    public mutating func userRateExceeded(_ reason: String, now: Int, waiting: Int) -> [AlertEvent] {
        guard incidents[.userRate] == nil else { return [] }
        incidents[.userRate] = Incident(since: now, announced: true, reason: reason)
        return [AlertEvent(phase: .incident, kind: .userRate, since: now, reason: reason, waiting: waiting)]
    }

    /// No user is over user_rate_limit any more.
    public mutating func userRateEnded(now: Int, waiting: Int) -> [AlertEvent] {
        close([.userRate], now: now, waiting: waiting)
    }

    /// The clock's part: delivery failing for `alertAfter` with mail waiting opens an
    /// incident; an empty queue ends one.
    public mutating func tick(now: Int, waiting: Int, alertAfter: Int) -> [AlertEvent] {
        if waiting == 0 {
            failingSince = nil
            return close([.delivery], now: now, waiting: 0)
        }
        guard let since = failingSince, now - since >= alertAfter, incidents[.delivery] == nil else { return [] }
        incidents[.delivery] = Incident(since: since, announced: true, reason: lastFailure)
        return [AlertEvent(phase: .incident, kind: .delivery, since: since, reason: lastFailure, waiting: waiting)]
    }

    private mutating func close(_ kinds: [IncidentKind], now: Int, waiting: Int) -> [AlertEvent] {
        var events: [AlertEvent] = []
        for kind in kinds {
            guard let open = incidents.removeValue(forKey: kind) else { continue }
            events.append(AlertEvent(phase: .recovery, kind: kind, since: open.since, reason: open.reason, waiting: waiting))
        }
        return events
    }
}
