import Glibc
import OutboxConfig
import OutboxCore
import OutboxDrop
import OutboxNet
import OutboxSMTP
import OutboxSpool
import OutboxTLS
import Synchronization

/// Turns attempt outcomes into durable facts: state, log lines, bounces, removal.
public final class Relay: @unchecked Sendable {
    public let config: Config
    let store: QueueStore
    let log: DeliveryLog
    /// Created at the first session: OpenSSL's initialisation and the CA store are not
    /// paid by an idle daemon (measured: 3.9 MB of libcrypto resident).
    private let tlsContext = Mutex<TLSContext?>(nil)
    let schedule: RetrySchedule
    let bouncer: BounceBuilder
    /// The shared OAuth2 access token, when AUTH uses one.
    let tokens: AccessTokenCache?
    /// The tally for metrics, status and alerts (outboxd's; nil elsewhere).
    let monitor: Monitor?
    /// The `[route NAME]` these settings are, named in the delivery lines; nil: global.
    public let routeName: String?

    /// `previous`: the relay these settings replace (SIGHUP); its message_rate_limit
    /// window goes on when the limit is unchanged (a reload must not allow twice the
    /// limit, and its messages in flight finish in the same window); a changed limit
    /// starts from the messages the old window saw.
    public init(
        config: Config, store: QueueStore, log: DeliveryLog, monitor: Monitor? = nil, routeName: String? = nil, previous: Relay? = nil
    ) throws {
        self.config = config
        self.routeName = routeName
        if let previous {
            // The same window object, the limit changed in place: threads of the old
            // relay waiting to start, and its messages in flight, count in the new one.
            rate = previous.rate
            if previous.config.messageRateLimit != config.messageRateLimit {
                rate.window.withLock { window in
                    guard let limit = config.messageRateLimit else { return window = nil }
                    if window == nil { window = RateWindow(count: limit.count, unit: Double(limit.seconds)) }
                    window?.relimit(count: limit.count, unit: Double(limit.seconds))
                }
            }
        } else {
            rate = SharedRateWindow(config.messageRateLimit.map { RateWindow(count: $0.count, unit: Double($0.seconds)) })
        }
        self.store = store
        self.log = log
        self.monitor = monitor
        // Fail at start, not at the first message, when a configured file is unreadable.
        let files = [
            ("tls_ca_file", config.tlsCAFile), ("tls_cert_file", config.tlsCertFile), ("tls_key_file", config.tlsKeyFile),
            ("oauth_client_certificate", config.oauthClientCertificate), ("oauth_client_key", config.oauthClientKey),
        ]
        for (key, path) in files {
            if let path, access(path, R_OK) != 0 {
                throw ConfigError(path: config.sourcePath ?? "outbox.conf", line: nil, "\(key) \(path): \(String(cString: strerror(errno)))")
            }
        }
        let statusPath = OAuthStatusFile.path(spool: config.spoolDirectory, route: routeName)
        tokens = try AccessTokenCache.configured(config) { [log] status, event, failed in
            if failed { log.error(event) } else { log.info(event) }
            OAuthStatusFile.write(status, to: statusPath)
        }
        schedule = RetrySchedule(minimum: config.minimalBackoffTime, maximum: config.maximalBackoffTime)
        let host = config.heloName ?? HeloName.local
        bouncer = BounceBuilder(reportingHost: host, domain: config.domain ?? host)
    }

    func tls() throws(SessionError) -> TLSContext {
        let result: Result<TLSContext, TransportError> = tlsContext.withLock { cached in
            if let existing = cached { return .success(existing) }
            do throws(TransportError) {
                let made = try TLSContext.configured(config)
                cached = made
                return .success(made)
            } catch { return .failure(error) }
        }
        switch result {
        case .success(let context): return context
        case .failure(let error): throw .transport(error)
        }
    }

    /// message_rate_limit's window (nil: no limit), shared with the relays that replace
    /// this one on SIGHUP.
    private let rate: SharedRateWindow

    /// Waits until message_rate_limit lets one more message start and returns its ticket
    /// for `finishedMessage` (nil without a limit); `.park(seconds)` when the wait is
    /// longer than `parkAfter` (the caller parks the message and frees its thread: a
    /// thread is never held for a long wait, including one that only shows once the
    /// messages in flight finish); `.stopped` when `running` turns false meanwhile (the
    /// daemon stops: the message stays queued, untried).
    /// `id`: the message's queue ID, its place in the line of parked messages.
    func admitMessage(_ id: String, parkAfter: Double, running: () -> Bool) -> RateAdmission {
        while true {
            let now = Deadline.now().seconds
            let step: RateStep = rate.window.withLock { window in
                // No limit (or a reload removed it meanwhile).
                guard var limit = window else { return .admitted(nil) }
                defer { window = limit }
                // With as many in flight as the count, the start is a unit away at least.
                let earliest = limit.earliestBound(now: now)
                if earliest - now > parkAfter { return .park(limit.parkSlot(for: id, earliest: earliest, now: now) - now) }
                if limit.earliestStart(now: now) == now {
                    limit.unpark(id)
                    return .admitted(limit.start())
                }
                // Messages in flight bound the start: look again shortly.
                return .wait(limit.earliestStart(now: now) == nil ? 0.1 : earliest - now)
            }
            let wait: Double
            switch step {
            case .admitted(let ticket): return .admitted(ticket)
            case .park(let seconds): return .park(seconds)
            case .wait(let seconds): wait = seconds
            }
            guard running() else { return .stopped }
            usleep(useconds_t(min(wait, 0.25) * 1_000_000))
        }
    }

    /// Saves the item's state; a failure is logged and marked on the item (outboxd then
    /// keeps it in memory, where the state is right).
    func saveState(_ item: inout QueueItem) {
        do {
            try store.save(item.state, for: item.id)
            item.stateUnsaved = false
        } catch {
            item.stateUnsaved = true
            log.error(.qmgr, "\(item.id): cannot save delivery state: \(error); the message stays queued")
        }
    }

    /// What mailq says of a message that waits for this route's limits.
    func waitingReason(_ what: String, until time: Int) -> String {
        "waiting for \(routeName.map { "route \($0)'s" } ?? "the smarthost's") \(what), next try \(MailDate.queueListing(time))"
    }

    /// Parks a message that would wait long for message_rate_limit: due again when the
    /// window allows, no attempt counted, its pending recipients saying why (mailq).
    func park(_ item: inout QueueItem, until time: Int) {
        let reason = waitingReason("message_rate_limit \(config.messageRateLimit.map(\.description) ?? "")", until: time)
        for index in item.envelope.recipients.indices where item.state.isPending(index) {
            item.state.recipients[index] = DeliveryState.Entry(status: .deferred, reply: reason, dsn: "4.7.0")
        }
        item.state.nextAttempt = time
        saveState(&item)
    }

    /// Closes a ticket of `admitMessage`: the message's transaction ended (`sent`), or
    /// no session could be opened for it (it does not count).
    func finishedMessage(_ ticket: Int?, sent: Bool) {
        guard let ticket else { return }
        rate.window.withLock { sent ? $0?.finish(ticket, at: Deadline.now().seconds) : $0?.cancel(ticket) }
    }

    enum RateAdmission {
        case admitted(Int?)
        /// The wait, in seconds, is too long to spend in a thread.
        case park(Double)
        case stopped
    }

    /// One look at the window: start, park, or wait this long in the thread.
    private enum RateStep {
        case admitted(Int?)
        case park(Double)
        case wait(Double)
    }

    /// Smarthosts whose last session failed at the connection level (connect, TLS, a
    /// refusing greeting), and when: for `downTime` seconds they are tried after the
    /// others, so a new session does not first wait on a dead host (still tried last:
    /// when every host is down, one may be back).
    private let down = Mutex<[String: Double]>([:])
    static let downTime = 60.0

    /// The smarthosts in the order to try them: configured order, hosts down last.
    func smarthostsInOrder(now: Double = MailDate.precise()) -> [Smarthost] {
        let downNow = down.withLock { table in
            table = table.filter { now - $0.value < Relay.downTime }
            return Set(table.keys)
        }
        return config.smarthosts.filter { !downNow.contains($0.description) } + config.smarthosts.filter { downNow.contains($0.description) }
    }

    /// Whether a failed session setup says the host itself is unusable (not this
    /// session's credentials or a policy of ours).
    static func isConnectionLevel(_ error: SessionError) -> Bool {
        switch error {
        case .transport: true
        // A throttling greeting (421 too many connections) is pacing, not a dead host.
        case .rejected(let stage, let reply): stage == "greeting" && !DeliveryPolicy.isThrottle(reply)
        default: false
        }
    }

    /// Opens a session to the first smarthost that works, in configured order (hosts
    /// that failed lately last), and logs it as Postfix's smtp client does.
    func openSession() -> Result<RelaySession, SessionError> {
        let tls: TLSContext
        do { tls = try self.tls() } catch { return .failure(error) }
        var last = SessionError.policy("no smarthost configured (set smarthost in \(config.sourcePath ?? "outbox.conf"))")
        for host in smarthostsInOrder() {
            // A refused token is dropped by the session; one more try fetches a new one
            // (the token had expired early or was revoked; a second refusal is final).
            for attempt in 1...2 {
                do {
                    let session = try RelaySession.open(host, config: config, tls: tls, tokens: tokens)
                    if let line = session.tlsLogLine { log.info(.smtp, line) }
                    if let mechanism = session.authMechanism {
                        log.info(
                            .smtp, "\(session.peer): authenticated with AUTH \(mechanism) as \(EnvelopeSyntax.printable(config.authUsername ?? ""))")
                    }
                    monitor?.sessionOpened(host.description, tls: session.tlsVersion.flatMap { v in session.tlsTrust.map { (v, $0) } })
                    _ = down.withLock { $0.removeValue(forKey: host.description) }
                    return .success(session)
                } catch {
                    // Postfix's own line for an unreachable host (pflogsumm lists these).
                    if case .transport(.connect) = error { log.info(.smtp, "\(error)") } else { log.warning(.smtp, "\(host): \(error)") }
                    monitor?.sessionFailed(host.description, error: error)
                    if Relay.isConnectionLevel(error) { down.withLock { $0[host.description] = MailDate.precise() } }
                    last = error
                    if case .tokenRejected = error, attempt == 1 { continue }
                    break
                }
            }
        }
        return .failure(last)
    }

    /// Records the verdicts of one attempt on `item`; returns new queue items (bounces).
    /// `retryIn` replaces the backoff for what stays queued (a throttled route's pause).
    func record(
        _ item: inout QueueItem, verdicts: [RecipientVerdict], relay: String, timing: PostfixLogLine.Timing, retryIn: Int? = nil
    ) -> [QueueItem] {
        let now = MailDate.now()
        let preciseNow = MailDate.precise()
        if item.state.firstAttempt == 0 { item.state.firstAttempt = now }
        item.state.attempts += 1
        var failures: [BounceBuilder.Failure] = []
        var failedIndices: [Int] = []
        let expired = now - max(item.envelope.time, item.state.lifetimeStart) > config.maximalQueueLifetime
        let stages = timing.stages(now: preciseNow)
        for v in verdicts {
            let r = item.envelope.recipients[v.index]
            let verdict = expired ? DeliveryPolicy.expire(v.verdict, afterDays: config.maximalQueueLifetime / 86400) : v.verdict
            let status = verdict.status ?? .deferred
            item.state.recipients[v.index] = DeliveryState.Entry(status: status, reply: verdict.reply, dsn: verdict.dsn)
            log.info(
                .smtp,
                PostfixLogLine.delivery(
                    id: item.id, to: r.address, original: r.original, relay: relay, timing: timing, now: preciseNow, dsn: verdict.dsn,
                    status: status.rawValue, reply: verdict.reply, attempts: item.state.attempts, route: routeName))
            monitor?.recipient(status: status, dsn: verdict.dsn, stages: [stages.a, stages.b, stages.c, stages.d], reply: verdict.reply)
            if status == .bounced && DeliveryPolicy.wantsFailureNotice(r.notify ?? item.outgoing.parameter("NOTIFY")) {
                failedIndices.append(v.index)
                failures.append(
                    BounceBuilder.Failure(
                        recipient: r.address, original: r.original,
                        status: DeliveryPolicy.failureStatus(verdict.dsn), diagnostic: verdict.reply))
            }
        }
        if expired && verdicts.contains(where: { $0.verdict.status != .sent }) {
            log.info(.qmgr, PostfixLogLine.expired(id: item.id, sender: item.envelope.sender))
        }
        var created: [QueueItem] = []
        if !failures.isEmpty {
            do {
                if let bounce = try makeBounce(for: item, failures: failures, relay: relay) { created.append(bounce) }
            } catch {
                // No notification on disk, so the failure is not final yet: those
                // recipients stay deferred and the bounce is tried again at the next attempt.
                log.error(.bounce, "\(item.id): cannot queue the non-delivery notification: \(error); keeping the message for another try")
                // By index (an address may be listed twice), with a 4.x.x code: a deferral.
                for (index, f) in zip(failedIndices, failures) {
                    let entry = item.state.recipients[index]
                    item.state.recipients[index] = DeliveryState.Entry(
                        status: .deferred, reply: entry?.reply ?? f.diagnostic, dsn: "4" + (entry?.dsn ?? f.status).dropFirst())
                }
            }
        }
        if item.isFinished {
            do { try store.remove(item.id) } catch {
                log.warning(.qmgr, "\(item.id): removal failed or may not be durable: \(error); the message could be sent again")
            }
            log.info(.qmgr, "\(item.id): removed")
        } else {
            item.state.nextAttempt =
                now
                + (retryIn ?? schedule.delay(afterAttempts: item.state.attempts, unit: Double(UInt32.random(in: 0...UInt32.max)) / 4_294_967_296))
            if retryIn != nil {
                // A paced route: mailq says so (the smarthost's reply follows).
                let pacing = waitingReason("pacing", until: item.state.nextAttempt)
                for index in item.envelope.recipients.indices where item.state.recipients[index]?.status == .deferred {
                    item.state.recipients[index]!.reply = pacing + ": " + item.state.recipients[index]!.reply
                }
            }
            saveState(&item)
        }
        return created
    }

    /// Defers every pending recipient of `item` because no session could be had.
    func deferAll(_ item: inout QueueItem, reason: String, timing: PostfixLogLine.Timing, retryIn: Int? = nil) -> [QueueItem] {
        let verdict = DeliveryPolicy.verdict(.sessionFailed(reason))
        return record(
            &item, verdicts: item.outgoing.recipients.map { RecipientVerdict(index: $0.index, verdict: verdict) }, relay: "none", timing: timing,
            retryIn: retryIn)
    }

    /// The smarthost's reply when a failed session setup means "slow down" (421 at the
    /// greeting from Postfix's connection limit, 432 4.3.2, 4.7.x too many …).
    static func throttleReply(_ error: SessionError) -> SMTPReply? {
        if case .rejected(_, let reply) = error, DeliveryPolicy.isThrottle(reply) { return reply }
        return nil
    }

    /// Writes the DSN durably before the failure is recorded (a crash in between yields a
    /// duplicate DSN, never a lost one). Null-sender mail never bounces; a failed bounce of
    /// ours goes once to admin_address.
    /// Returns nil when no notification is due (null sender); throws when it could not be
    /// written.
    func makeBounce(for item: QueueItem, failures: [BounceBuilder.Failure], relay: String) throws -> QueueItem? {
        let envelope = item.envelope
        let recipient: String, marker: String
        switch DeliveryPolicy.notice(sender: envelope.sender, bounceMarker: envelope.parameter("BOUNCE"), adminAddress: config.adminAddress) {
        case .none:
            log.info(.bounce, "\(item.id): no non-delivery notification: null sender")
            return nil
        case .notify(let to, let bounceMarker):
            recipient = to
            marker = bounceMarker
        }
        var original: [UInt8] = []
        try? item.outgoing.readContent { chunk in
            if original.count <= BounceBuilder.fullReturnLimit + 65536 { original += chunk }
        }
        let bounceID = QueueID.generate().text
        let content = bouncer.build(
            queueID: item.id, sender: recipient, arrival: envelope.time, failures: failures,
            remoteMTA: relay == "none" ? nil : relay, original: original,
            // A message refused for its size must not come back whole.
            returnHeadersOnly: envelope.parameter("RET") == "HDRS" || envelope.contentSize > BounceBuilder.fullReturnLimit
                || failures.contains { $0.status.hasSuffix(".3.4") },
            bounceID: bounceID)
        let bounce = try store.enqueue(sender: "", recipient: recipient, parameters: [marker], content: content)
        log.info(.bounce, "\(item.id): sender non-delivery notification: \(bounce.id)")
        // Before its delivery line: pflogsumm takes the size from this one.
        log.info(.qmgr, PostfixLogLine.active(id: bounce.id, sender: "", size: bounce.envelope.contentSize, recipients: 1))
        monitor?.bounceCreated()
        return bounce
    }
}

/// A message_rate_limit window that outlives a reload: the relay built on SIGHUP takes
/// over the one it replaces.
final class SharedRateWindow: Sendable {
    let window: Mutex<RateWindow?>
    init(_ window: RateWindow?) { self.window = Mutex(window) }
}
