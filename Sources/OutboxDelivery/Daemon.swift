import Glibc
import OutboxConfig
import OutboxCore
import OutboxDrop
import OutboxSMTP
import OutboxSpool
import OutboxSupport
import Synchronization

/// The write end of the self-pipe the signal handlers use (async-signal-safe: write(2)).
nonisolated(unsafe) var signalPipeWrite: Int32 = -1

/// Writes the signal number to the self-pipe; the main loop acts on it.
let forwardSignal: @convention(c) (Int32) -> Void = { sig in
    var byte = UInt8(truncatingIfNeeded: sig)
    _ = write(signalPipeWrite, &byte, 1)
}

/// outboxd: adopts drop files, delivers due messages on up to `max_connections` threads,
/// retries, bounces, and reacts at once to new mail (inotify), signals and flush requests.
public final class Daemon: @unchecked Sendable {
    private var config: Config
    private let configSource: ConfigLoader.Source
    private let log: DeliveryLog
    private let store: QueueStore
    /// Replaced on SIGHUP by the main thread, read by delivery threads per message.
    private let relays: Mutex<Relays>
    private let work = WorkQueue()
    private var queue = LiveQueue(items: [], limit: Daemon.windowLimit)
    /// flock'd queue/lock: one daemon per spool; outboxctl edits files only without one.
    private var queueLock: FileDescriptor?
    private var workers: [WorkerThread] = []
    private let wakePipe: PipePair
    /// The signal handlers' self-pipe. Kept open as long as the daemon (the handlers stay
    /// installed while in-flight messages finish after SIGTERM): closed with serve()'s
    /// scope, its numbers were reused by state files, and a second signal wrote into one
    /// (found by review).
    private var signalPipe: PipePair?
    private var lastSummary = 0
    /// How long a delivery thread keeps an idle session open.
    static let sessionIdleTime = 2.0
    /// message_rate_limit waits longer than this park the message instead of a thread.
    static let rateParkThreshold = 5.0
    /// When a flush request from an unprivileged user was last honoured.
    private var lastUserFlush = 0
    /// The shortest time between two flushes that unprivileged users' `sendmail -q` cause.
    static let userFlushInterval = 60
    /// adopt() left files in maildrop/new for the next round.
    private var adoptionBacklog = false
    /// The messages not held in memory (see `windowLimit`).
    private var disk = DiskBacklog()
    /// Messages and bytes queued per submitting uid, outboxd's own bounces excluded: the
    /// census of queue/msg (`stepCensus`, at start and every queue_scan_interval) plus the
    /// messages adopted and finished since.
    private var usage: [Int: UserQueueUsage] = [:]
    /// The census is due again (an operator's edit, queue_scan_interval), and when it ran.
    private var usageStale = false
    private var lastCensus = 0
    /// The shortest time between two censuses.
    static let censusInterval = 10
    /// At most this many messages are held in memory (Postfix's active queue); the rest
    /// wait on disk and are read when due (DiskBacklog). Tests lower it with
    /// OUTBOX_WINDOW_LIMIT (debug builds only).
    static let windowLimit: Int = {
        #if DEBUG
        if let text = getenv("OUTBOX_WINDOW_LIMIT"), let n = Int(String(cString: text)), n > 1 { return n }
        #endif
        return 2000
    }()
    /// uids whose queue-limit hold was logged; cleared when they are below again.
    private var overLimitLogged = Set<Int>()
    /// user_rate_limit's window (nil: no limit), and the uids whose burst was logged.
    private var userRate: UserRateWindow?
    private var rateBursts = RateBursts()
    /// The last public/overlimit written.
    private var lastOverLimit: String?
    /// Counters, smarthost health and incidents (queue/monitor).
    private let monitor: Monitor
    private let alerts: Alerts
    private let notify = SystemdNotify()
    /// When the reports (metrics_file, STATUS=, queue/monitor, alert checks) were last
    /// refreshed, and the metrics text last written.
    private var lastReport = 0.0
    private var lastMetrics: String?
    /// How often the reports are refreshed.
    static let reportInterval = 5

    /// Messages and bytes queued per submitting uid (outboxd's own bounces excluded).
    private func usageByUID() -> [Int: UserQueueUsage] { usage }

    /// Whether `file` counts against its submitter (outboxd's own bounces do not).
    private static func counts(_ file: DropFile) -> Bool { file.parameter("BOUNCE") == nil || file.uid != Int(getuid()) }

    /// Adds (or with -1 removes) a message to its submitter's usage.
    private func count(_ file: DropFile, bytes: Int, _ sign: Int = 1) {
        guard Daemon.counts(file) else { return }
        if census != nil {
            // Also for the census in progress, which replaces `usage` when it completes
            // (review: what changed meanwhile was lost). A message adopted now is skipped
            // by it and added; a finished one is subtracted (if the census had not reached
            // it yet, that undercounts: a limit then holds a little late, never early).
            if sign > 0 {
                adoptedDuringCensus[file.queueID] = (file.uid, bytes)
            } else if adoptedDuringCensus.removeValue(forKey: file.queueID) == nil {
                finishedDuringCensus.append((file.uid, bytes))
            }
        }
        usage.record(uid: file.uid, bytes: bytes, sign)
    }

    /// The census of queue/msg (UsageCensus) one slice further, started when due: at
    /// start, and after operators' edits and every queue_scan_interval (at most every
    /// censusInterval). When complete it replaces the usage table, and state files whose
    /// message is gone (a removal a crash interrupted) are removed.
    private func stepCensus() {
        let now = MailDate.now()
        if census == nil && (!usageKnown || (usageStale && now - lastCensus >= Daemon.censusInterval)) {
            census = UsageCensus(directory: store.messages)
            usageStale = false
            (adoptedDuringCensus, finishedDuringCensus) = ([:], [])
            if census == nil {
                usageKnown = true  // no queue/msg to count
                return
            }
        }
        let skipped = adoptedDuringCensus
        guard let running = census,
            running.step(until: MailDate.precise() + Daemon.censusSlice, skipping: { skipped[$0] != nil }, counts: Daemon.counts)
        else { return }
        var table = running.table
        for (uid, bytes) in adoptedDuringCensus.values { table.record(uid: uid, bytes: bytes) }
        for (uid, bytes) in finishedDuringCensus { table.record(uid: uid, bytes: bytes, -1) }
        usage = table
        census = nil
        (adoptedDuringCensus, finishedDuringCensus) = ([:], [])
        (usageKnown, lastCensus) = (true, MailDate.now())
        store.removeOrphanStates()
    }

    /// The census in progress, and how long one slice of it may take.
    private var census: UsageCensus?
    static let censusSlice = 0.05
    /// What changed while the census ran (see `count`).
    private var adoptedDuringCensus: [String: (uid: Int, bytes: Int)] = [:]
    private var finishedDuringCensus: [(uid: Int, bytes: Int)] = []
    /// The first census has completed: until then user_queue_limit cannot be judged, so
    /// nothing is adopted and public/overlimit is left as it was (review: an empty table
    /// let every user past the limit for the first half minute at 1 000 000 queued).
    private var usageKnown = false
    /// A summary was skipped by the once-a-second limit: write it within a second, or an
    /// unprivileged mailq would show a stale queue until the next event.
    private var summaryPending = false

    public init(config: Config, source: ConfigLoader.Source, log: DeliveryLog) throws {
        self.config = config
        self.configSource = source
        self.log = log
        store = try QueueStore(layout: SpoolLayout(root: config.spoolDirectory))
        monitor = Monitor(spool: config.spoolDirectory)
        alerts = Alerts(log: log)
        // user_rate_limit goes on where the last run left it (queue/monitor).
        let kept = monitor.state
        userRate = config.userRateLimit.map { UserRateWindow(count: $0.count, seconds: $0.seconds, times: kept.userRateCounted) }
        rateBursts = RateBursts(lastHeld: kept.userRateHeld)
        let built = try Relays(config: config, store: store, log: log, monitor: monitor)
        relays = Mutex(built)
        work.configure(limits: built.connectionLimits, generation: built.generation) { built.routeName(of: $0) }
        wakePipe = try FileDescriptor.pipe()
        _ = fcntl(wakePipe.read.rawValue, F_SETFL, O_NONBLOCK)
        _ = fcntl(wakePipe.write.rawValue, F_SETFL, O_NONBLOCK)
    }

    /// Delivers everything due and exits (`--once`), or serves until SIGTERM.
    public func run(once: Bool) -> Int32 {
        // The parent may have left signals blocked or ignored (found by the tests: a
        // SIGTERM stayed pending forever); threads created below inherit this clean mask.
        var empty = sigset_t()
        sigemptyset(&empty)
        sigprocmask(SIG_SETMASK, &empty, nil)
        for sig in [SIGTERM, SIGINT, SIGHUP] { signal(sig, SIG_DFL) }
        do {
            queueLock = try store.lock(wait: false)
            guard queueLock?.rawValue != nil else {
                log.error("another outboxd is already running on \(store.layout.root) (it holds \(store.layout.queueLock))")
                return ExitCode.tempFail.rawValue
            }
        } catch {
            log.error("cannot lock the queue: \(error)")
            return error.exitCode.rawValue
        }
        // The queue is not read whole: the first messages due are loaded by the first
        // dispatch, the rest when their turn comes (DiskBacklog).
        store.removeTemporaries()
        // A first look for the oldest messages due (a whole scan of 1 000 000 takes
        // seconds), and those loaded; the whole scan follows the first dispatch.
        disk.start(store: store, now: MailDate.now(), limit: Daemon.windowLimit)
        fillWindow(now: MailDate.now())
        _ = try? store.layout.removeStaleTemporaryFiles()
        // What a crash between create and rename left beside the report files.
        var reports = [MonitorState.path(spool: config.spoolDirectory), OAuthStatusFile.path(spool: config.spoolDirectory)]
        reports += config.routes.map { OAuthStatusFile.path(spool: config.spoolDirectory, route: $0.name) }
        if let metrics = config.metricsFile { reports.append(metrics) }
        for path in reports { ReportFile.removeStaleTemporaries(of: path) }
        let relays = config.smarthosts.isEmpty ? "none configured (mail stays queued)" : config.smarthosts.map(\.description).joined(separator: ", ")
        let routes = config.routes.isEmpty ? "" : ", routes \(config.routes.map(\.name).joined(separator: ", "))"
        log.info("daemon started: \(queue.items.count + disk.messages) queued, smarthost \(relays), \(config.maxConnections) connections\(routes)")
        startThreads(self.relays.withLock { $0 }.threadCount)
        guard !workers.isEmpty else {
            log.error("no delivery thread could be started; stopping")
            return ExitCode.osError.rawValue
        }
        // The first messages go out before the whole scan and the census, which stat and
        // read every message.
        _ = dispatchDue(now: MailDate.now())
        if disk.partial {
            disk.scan(store: store, now: MailDate.now(), held: heldNames())
        }
        stepCensus()
        let status = once ? runOnce() : serve()
        work.stop()
        for w in workers { w.join() }
        collectResults()
        writeSummary(force: true)
        report(force: true)
        alerts.finish()
        log.info("daemon stopped: \(queue.items.count + disk.messages) queued")
        return status
    }

    private func runOnce() -> Int32 {
        while true {
            stepCensus()
            let adopted = adoptAndDispatch(flushAll: false)
            // The first census must end before the maildrop is adopted.
            if !usageKnown {
                collectResults()
                continue
            }
            if !adopted && work.isEmpty && work.active == 0 {
                // Due on disk, the next scan not yet allowed; with no room (a window full
                // of messages whose state could not be saved) nothing more can go.
                guard disk.mayHaveDue(now: MailDate.now()) && queue.items.count < Daemon.windowLimit else { break }
                usleep(100_000)
                continue
            }
            // A large maildrop is adopted batch by batch while the threads deliver the
            // batches before it.
            if adoptionBacklog {
                collectResults()
                continue
            }
            work.waitUntilIdle()
            collectResults()
            report(force: false)
        }
        return 0
    }

    private func serve() -> Int32 {
        do { signalPipe = try FileDescriptor.pipe() } catch {
            log.error("cannot create the signal pipe: \(error)")
            return ExitCode.osError.rawValue
        }
        let signalRead = signalPipe?.read.rawValue ?? -1
        signalPipeWrite = signalPipe?.write.rawValue ?? -1
        for sig in [SIGTERM, SIGINT, SIGHUP] { signal(sig, forwardSignal) }
        signal(SIGPIPE, SIG_IGN)
        let inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if inotify < 0 || inotify_add_watch(inotify, store.layout.maildropNew, UInt32(IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE)) < 0 {
            log.warning("inotify unavailable (\(String(cString: strerror(errno)))); rescanning every \(config.queueScanInterval)s")
        }
        var control: FileDescriptor? = nil
        do { control = try ControlSocket.listen(at: store.layout.controlSocket) } catch {
            log.warning("no control socket, outboxctl can edit the queue only while outboxd is stopped: \(error)")
        }
        var lastScan = MailDate.now()
        var buffer = [UInt8](repeating: 0, count: 65536)
        report(force: true)
        notify.send(["READY=1", "STATUS=" + health().line])
        while true {
            collectResults()
            _ = adoptAndDispatch(flushAll: false)
            writeSummary(force: false)
            report(force: false)
            let now = MailDate.now()
            if now - lastScan >= config.queueScanInterval {
                lastScan = now
                _ = try? store.layout.removeStaleTemporaryFiles()
                usageStale = true
                disk.lookAgain()
            }
            stepCensus()
            // Disk is looked at when the window has room (threads that finish wake us).
            let nextDue = min(
                queue.items.values.filter { !queue.inFlight.contains($0.id) }.map(\.state.nextAttempt).min() ?? Int.max,
                queue.items.count < Daemon.windowLimit ? disk.wakeTime(now: now) : Int.max)
            let timeout = max(
                0,
                min(
                    nextDue - now, config.queueScanInterval, lastScan + config.queueScanInterval - now, summaryPending ? 1 : Int.max,
                    adoptionBacklog || census != nil ? 0 : Int.max, Daemon.reportInterval))
            var fds = [
                pollfd(fd: inotify, events: Int16(POLLIN), revents: 0),
                pollfd(fd: signalRead, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakePipe.read.rawValue, events: Int16(POLLIN), revents: 0),
                pollfd(fd: control?.rawValue ?? -1, events: Int16(POLLIN), revents: 0),
            ]
            let rc = poll(&fds, nfds_t(fds.count), Int32(min(timeout, 3600) * 1000))
            if rc < 0 && errno != EINTR { log.warning("poll: \(String(cString: strerror(errno)))") }
            // Events only say "look again"; an overflow (IN_Q_OVERFLOW) too: adoption rescans.
            if fds[0].revents != 0 { while read(inotify, &buffer, buffer.count) > 0 {} }
            if fds[2].revents != 0 { while read(wakePipe.read.rawValue, &buffer, buffer.count) > 0 {} }
            if fds[3].revents != 0 {
                switch control {
                case .some(let listener): serveControlRequest(listener)
                case .none: break
                }
            }
            if fds[1].revents != 0 {
                let n = read(signalRead, &buffer, 64)
                for sig in buffer.prefix(max(0, n)) {
                    switch Int32(sig) {
                    case SIGHUP: reload()
                    default:
                        log.info("received signal \(sig): finishing messages in flight")
                        return 0
                    }
                }
            }
        }
    }

    /// Answers one outboxctl request on the control socket.
    private func serveControlRequest(_ listener: borrowing FileDescriptor) {
        // The connection is owned by `accepted` and closed when this returns (it used to
        // stay open: one descriptor per outboxctl request for the daemon's lifetime).
        guard let accepted = ControlSocket.accept(on: listener) else { return }
        let line = accepted.line, peerUID = accepted.peerUID
        let requester = peerUID >= 0 ? "uid \(peerUID)" : "unknown uid"
        var replies: [QueueReply]
        if let request = QueueRequest.parse(line) {
            collectResults()
            _ = adoptAndDispatch(flushAll: false)
            replies = QueueAdministration.apply(request, store: store, queue: &queue, log: log, requester: requester)
            // An edit of messages on disk (or one left there for want of room) shows in
            // the next scan; the census follows within seconds (it reads every envelope:
            // one per request made a script of N edits cost N censuses; found by review).
            disk.lookAgain()
            usageStale = true
            writeSummary(force: true)
        } else {
            replies = [QueueReply(ok: false, "bad request '\(line.prefix(80))'")]
        }
        try? accepted.connection.writeAll(replies.map { $0.line + "\n" }.joined())
    }

    /// Starts delivery threads until `count` run (never stops any: extra ones wait).
    private func startThreads(_ count: Int) {
        while workers.count < count {
            let thread = WorkerThread(sendable: { [self] in deliveryLoop() })
            do {
                try thread.start()
                workers.append(thread)
            } catch {
                log.warning("cannot start a delivery thread: \(error); \(workers.count) of \(count) running")
                return
            }
        }
    }

    private func reload() {
        do {
            let fresh = try ConfigLoader.load(configSource)
            guard fresh.spoolDirectory == config.spoolDirectory else {
                log.warning("reload: spool_directory cannot change while running; keeping \(config.spoolDirectory)")
                return
            }
            // Built before taking the lock: a failure keeps the running relay. Threads
            // pick the new one up with their next message.
            let freshRelays = try Relays(config: fresh, store: store, log: log, monitor: monitor, previous: relays.withLock { $0 })
            relays.withLock { $0 = freshRelays }
            // Mail waiting for its route's share of the window is routed again.
            disk.forgetWaiting()
            work.configure(limits: freshRelays.connectionLimits, generation: freshRelays.generation, keepPacing: freshRelays.samePlace) {
                freshRelays.routeName(of: $0)
            }
            // A route added by the reload gets threads of its own (they are never fewer).
            startThreads(freshRelays.threadCount)
            if fresh.userRateLimit != config.userRateLimit {
                // The adoptions already counted still count under the new limit.
                let counted = userRate?.counted ?? [:]
                userRate = fresh.userRateLimit.map { UserRateWindow(count: $0.count, seconds: $0.seconds, times: counted) }
            }
            config = fresh
            log.configure(name: fresh.syslogName, socketPath: fresh.syslogSocket)
            log.info("reloaded \(fresh.sourcePath ?? "configuration")")
        } catch {
            log.error("reload failed, keeping the running configuration: \(error)")
        }
    }

    /// Adopts new drop files and hands every due message to the delivery threads; returns
    /// whether anything was adopted or dispatched.
    private func adoptAndDispatch(flushAll: Bool) -> Bool {
        // New mail waits in the maildrop (durable there) until the first census is done.
        guard usageKnown else { return dispatchDue(now: MailDate.now()) }
        // Per-uid queue limits: a message beyond them is held, not queued for delivery
        // (sendmail refuses it earlier from public/overlimit; this catches the rest).
        var usage = usageByUID()
        let (messageLimit, sizeLimit) = (config.userQueueLimit, config.userQueueSizeLimit)
        var rateHeld = Set<Int>()
        let adoptionTime = MailDate.now()
        let adoption = store.adopt(
            policy: AdoptionPolicy(config: config),
            hold: { uid, size in
                if usage[uid, default: UserQueueUsage()].reaches(messageLimit: messageLimit, sizeLimit: sizeLimit) { return true }
                // Storm control: root is not exempt (cron runs as root).
                if userRate != nil && !userRate!.admit(uid, now: adoptionTime) {
                    rateHeld.insert(uid)
                    return true
                }
                usage.record(uid: uid, bytes: size)
                return false
            }
        ) { [queue] in queue.items[$0] != nil }
        adoption.logProblems(to: log)
        for (uid, ids) in Dictionary(grouping: adoption.held, by: \.uid) {
            // One line per user and burst, not one per message.
            if rateHeld.contains(uid), let rate = config.userRateLimit {
                guard rateBursts.held(uid, now: adoptionTime) else { continue }
                log.warning(
                    "uid \(uid) reached user_rate_limit \(rate) (\(rate.count) messages in the last \(rate.unitWord)): new messages are held, first \(ids[0].id); outboxctl release sends them"
                )
                monitor.userRate(exceeded: "uid \(uid) reached user_rate_limit \(rate); first held \(ids[0].id)")
                continue
            }
            guard overLimitLogged.insert(uid).inserted else { continue }
            let u = usage[uid, default: UserQueueUsage()]
            log.warning(
                "uid \(uid) reached its queue limit (\(u.messages) messages, \(u.bytes) bytes queued; user_queue_limit \(messageLimit), user_queue_size_limit \(sizeLimit)): new messages are held, first \(ids[0].id); outboxctl release sends them"
            )
        }
        let current = relays.withLock { $0 }
        var shares: WindowShares?
        for item in adoption.adopted {
            count(item.envelope, bytes: item.envelope.contentSize)
            store.handedOver(item.id)  // a notice about a refused drop file
            // Into memory while the window has room and the route its share; otherwise on
            // disk, due, in the route's waiting line or for a scan.
            if shares == nil && queue.items.count < Daemon.windowLimit { shares = windowShares(current, now: adoptionTime) }
            let route = shares?.share == nil ? "" : current.routeName(of: item)
            if queue.items.count < Daemon.windowLimit && shares?.room(for: route) ?? 0 > 0 {
                queue.items[item.id] = item
                shares?.add(route)
            } else {
                disk.stored(bytes: item.envelope.contentSize, dueAt: 0, id: item.id)
                if queue.items.count < Daemon.windowLimit { disk.wait(item.id, route: route) }
            }
            let e = item.envelope
            log.info(.pickup, PostfixLogLine.pickup(id: item.id, uid: e.uid, sender: e.sender, origin: e.parameter("ORIGIN")))
            log.info(.qmgr, PostfixLogLine.active(id: item.id, sender: e.sender, size: e.contentSize, recipients: e.recipients.count))
            monitor.received()
        }
        let now = MailDate.now()
        adoptionBacklog = adoption.more
        var flush = flushAll
        if !adoption.flushRequesters.isEmpty {
            // root and outboxd's own user flush at once; anyone else at most once per
            // userFlushInterval, or five `sendmail -q` would make five connection attempts
            // against a smarthost the backoff is protecting.
            let privileged = adoption.flushRequesters.contains { $0 == 0 || $0 == Int(getuid()) }
            if privileged || now - lastUserFlush >= Daemon.userFlushInterval {
                if !privileged { lastUserFlush = now }
                flush = true
            } else {
                let uids = Set(adoption.flushRequesters).sorted().map(String.init).joined(separator: ", ")
                log.info(
                    "flush request from uid \(uids) ignored: users may flush once per \(Daemon.userFlushInterval)s (last \(now - lastUserFlush)s ago)"
                )
            }
        }
        if flush {
            log.info("flush requested: every deferred message is due now")
            for id in queue.items.keys { queue.items[id]!.state.nextAttempt = 0 }
            disk.flushedAt = store.flushTime()
            disk.lookAgain()
        }
        let dispatched = dispatchDue(now: now)
        return !adoption.adopted.isEmpty || dispatched || adoption.more
    }

    /// Loads what is due from disk while there is room and hands every due message in
    /// memory to the delivery threads, oldest first; whether there was any.
    private func dispatchDue(now: Int) -> Bool {
        fillWindow(now: now)
        let due = queue.items.values.filter { !queue.inFlight.contains($0.id) && $0.state.nextAttempt <= now }.sorted { $0.id < $1.id }
        for item in due { queue.inFlight.insert(item.id) }
        if !due.isEmpty { work.add(due) }
        return !due.isEmpty
    }

    private func collectResults() {
        let (finished, created) = work.drainResults()
        for item in created {
            queue.items[item.id] = item
            queue.inFlight.insert(item.id)  // already queued for delivery by the thread that made it
        }
        for item in created {
            count(item.envelope, bytes: item.envelope.contentSize)
            store.handedOver(item.id)
        }
        for item in finished {
            queue.inFlight.remove(item.id)
            if item.isFinished {
                queue.items.removeValue(forKey: item.id)
                count(item.envelope, bytes: item.envelope.contentSize, -1)
            } else if queue.items.count > Daemon.windowLimit / 2 && queue.afterFlight[item.id] == nil && !item.stateUnsaved {
                // A large queue: the message waits on disk (its state's mtime says when
                // it is due) and leaves room for the messages due now.
                queue.items.removeValue(forKey: item.id)
                disk.stored(bytes: item.envelope.contentSize, dueAt: item.state.nextAttempt, id: item.id)
            } else {
                queue.items[item.id] = item
            }
            QueueAdministration.finishFlight(of: item.id, store: store, queue: &queue, log: log)
        }
    }

    /// Loads due messages from disk while the window has room. A message the last
    /// scan saw as due but whose state says otherwise (its mtime was not the next attempt)
    /// is stamped and left; one that does not read as a valid queue file is moved to
    /// queue/corrupt, never sent.
    private func fillWindow(now: Int) {
        guard queue.items.count < Daemon.windowLimit else { return }
        let current = relays.withLock { $0 }
        // Counted when there is something to load (it routes every message in the window).
        var counted: WindowShares?
        func shares() -> WindowShares { counted ?? windowShares(current, now: now) }
        // Until the window is full or no name is left: a name that does not load (stamped,
        // gone, corrupt) takes no room (found by review: the rest waited for the next pass).
        while queue.items.count < Daemon.windowLimit {
            // First the routes' waiting mail, then what the scans find.
            var names: ArraySlice<String> = []
            if disk.hasWaiting {
                let s = shares()
                counted = s
                names = ArraySlice(disk.takeWaiting { s.room(for: $0) })
            }
            if names.isEmpty {
                names = disk.next(Daemon.windowLimit - queue.items.count, store: store, now: now, held: heldNames())
            }
            if names.isEmpty { return }
            var s = shares()
            load(names, now: now, routes: current, shares: &s)
            counted = s
        }
    }

    /// Names a scan must leave alone: held in memory now, or a bounce being handed over.
    /// A snapshot of the window, so that the scan may run while `disk` changes.
    private func heldNames() -> (String) -> Bool {
        { [queue, store] in queue.items[$0] != nil || store.isBeingHandedOver($0) }
    }

    /// The routes' shares of the window, counting what is due or in flight now.
    private func windowShares(_ current: Relays, now: Int) -> WindowShares {
        WindowShares(windowLimit: Daemon.windowLimit, routes: current.config.routes.count + 1) {
            queue.items.values.filter { queue.inFlight.contains($0.id) || $0.state.nextAttempt <= now }.map { current.routeName(of: $0) }
        }
    }

    /// Loads `names` (due, on disk) into the window; a message whose route has its full
    /// share waits on disk for that route.
    private func load(_ names: ArraySlice<String>, now: Int, routes: Relays, shares: inout WindowShares) {
        for name in names where queue.items[name] == nil && !store.isBeingHandedOver(name) && !disk.isWaiting(name) {
            let item: QueueItem
            do {
                item = try store.item(name)
                guard item.envelope.queueID == name else {
                    throw RecordError.unexpected(.queueID, state: "(queue ID \(item.envelope.queueID) in file \(name))")
                }
            } catch let error as SystemError where error.errno == ENOENT {
                continue  // delivered, deleted or held since the scan
            } catch let error as SystemError where !QueueStore.hostileErrnos.contains(error.errno) {
                // Out of descriptors, an I/O error: this host's trouble, not the file's.
                log.error("queue/msg/\(name): cannot read: \(error); left for a later scan")
                continue
            } catch {
                log.error("queue/msg/\(name): refused on reading: \(EnvelopeSyntax.printable("\(error)")); moved to queue/corrupt, not sent")
                store.moveToCorrupt(store.messages + "/" + name, name: name)
                continue
            }
            let flushed = disk.flushedAt.map { store.stateUnchanged(name, since: $0) } ?? false
            if item.state.nextAttempt > now && !flushed {
                store.stamp(name, due: item.state.nextAttempt)
                disk.dueLater(at: item.state.nextAttempt)
                continue
            }
            if shares.share != nil {
                let route = routes.routeName(of: item)
                // Over its share: stays on disk, counted there, in its route's line (when
                // the lines are full, a later scan finds it again).
                guard shares.room(for: route) > 0 else {
                    disk.wait(name, route: route)
                    continue
                }
                shares.add(route)
            }
            disk.loaded(bytes: item.envelope.contentSize, neverTried: item.state.attempts == 0)
            var loaded = item
            if flushed { loaded.state.nextAttempt = 0 }
            queue.items[name] = loaded
        }
    }

    /// One delivery thread: reuses a session for as long as there is work on its route
    /// (RSET between messages), opens another when it breaks, and closes it when the
    /// route's queue runs dry or it moves to another route.
    private func deliveryLoop() {
        var session: RelaySession?
        var sessionRelay: Relay?
        /// The route this thread holds a connection slot for (see WorkQueue).
        var held: String?
        /// How long the open session took to set up, and how many messages it carried.
        var setupTime = 0.0
        var connectionUse = 0
        while let (taken, route, unreachable) = work.take(holding: held) {
            var item = taken
            // A SIGHUP between take() and here may have renamed or removed the route.
            let current = relays.withLock { $0 }
            let generation = current.generation
            guard current.routeName(of: item) == route, let relay = current.relay(route) else {
                // take() gave this thread the route's slot: given back, with the session of
                // the replaced configuration (an idle slot holder could open a connection
                // during a throttle pause; second review).
                session?.quit()
                session = nil
                work.release(route)
                held = nil
                work.putBack(item)
                continue
            }
            // Another route's mail (take() moved the slot), or a session opened under the
            // configuration before a SIGHUP: the session is not reused.
            if let s = session, route != held || sessionRelay !== relay {
                s.quit()
                session = nil
            }
            held = route
            sessionRelay = relay
            var created: [QueueItem] = []
            if let reason = unreachable, session == nil {
                created = relay.deferAll(&item, reason: reason, timing: item.timing())
            } else {
                // message_rate_limit: a long wait parks the message (due again when the
                // window allows, mailq says why) and frees this thread; a short one is
                // waited out here (a stopping daemon leaves the message untried).
                let admission = relay.admitMessage(item.id, parkAfter: Daemon.rateParkThreshold) { !work.isStopping }
                if case .park(let wait) = admission {
                    relay.park(&item, until: MailDate.now() + Int(wait.rounded(.up)))
                    work.done(item, created: [])
                    var byte: UInt8 = 1
                    _ = write(wakePipe.write.rawValue, &byte, 1)
                    session?.quit()
                    session = nil
                    work.release(route)
                    held = nil
                    continue
                }
                guard case .admitted(let ticket) = admission else {
                    work.done(item, created: [])
                    break
                }
                var setup = 0.0
                if session == nil {
                    let started = MailDate.precise()
                    let opened = relay.openSession()
                    setup = MailDate.precise() - started
                    switch opened {
                    case .success(let s):
                        session = s
                        setupTime = setup
                        connectionUse = 0
                    case .failure(let error):
                        relay.finishedMessage(ticket, sent: false)
                        if let reply = Relay.throttleReply(error) {
                            // Pacing, not an outage: the other sessions go on.
                            let pause = slowDown(
                                route, relay: relay, reply: reply.fullText, priorAttempts: item.state.attempts, generation: generation)
                            created = relay.deferAll(&item, reason: "\(error)", timing: item.timing(setup: setup), retryIn: pause)
                        } else {
                            work.markUnreachable(route, "\(error)", generation: generation)
                            created = relay.deferAll(&item, reason: "\(error)", timing: item.timing(setup: setup))
                        }
                    }
                }
                if let s = session {
                    connectionUse += 1
                    let started = MailDate.precise()
                    let verdicts = s.send(item.outgoing)
                    relay.finishedMessage(ticket, sent: true)
                    let timing = item.timing(
                        setup: connectionUse == 1 ? setupTime : 0, transfer: MailDate.precise() - started, connectionUse: connectionUse)
                    var retryIn: Int?
                    var throttled = false
                    if let signal = verdicts.first(where: { $0.verdict.action == .deferred && $0.verdict.asksToSlowDown }) {
                        retryIn = slowDown(
                            route, relay: relay, reply: signal.verdict.reply, priorAttempts: item.state.attempts, generation: generation)
                        throttled = true
                    } else if verdicts.contains(where: { $0.verdict.action == .sent }) {
                        work.delivered(on: route)
                    }
                    created = relay.record(&item, verdicts: verdicts, relay: s.peer, timing: timing, retryIn: retryIn)
                    // The session that was told to slow down goes (the smarthost counts
                    // sessions); the route's others go on.
                    if !s.usable || throttled {
                        s.quit()
                        session = nil
                    }
                }
            }
            work.done(item, created: created)
            var byte: UInt8 = 1
            _ = write(wakePipe.write.rawValue, &byte, 1)
            // A throttled route has more connections than it may now: this one goes.
            if session != nil && work.isOverLimit(route) {
                session?.quit()
                session = nil
            }
            // An open session is kept for a moment when the route's queue runs dry
            // (Postfix's smtp_connection_cache_time_limit): the next batch reuses it.
            if session != nil && !work.waitForWork(holding: held, seconds: Daemon.sessionIdleTime) {
                session?.quit()
                session = nil
            }
            if session == nil {
                work.release(route)
                held = nil
            }
        }
        session?.quit()
    }

    /// A smarthost asked us to slow down: the route gets fewer connections and a pause
    /// (WorkQueue.throttle), logged once per signal; returns when to retry the message.
    private func slowDown(_ route: String, relay: Relay, reply: String, priorAttempts: Int, generation: Int) -> Int? {
        let (limit, pause, retryIn) = work.throttle(route, priorAttempts: priorAttempts, generation: generation)
        let name = relay.routeName.map { "route \($0)" } ?? "the smarthost"
        let message = retryIn == nil ? "; this message takes the usual backoff (tried \(priorAttempts + 1) times)" : ""
        log.warning(
            .qmgr,
            "\(name) asks to slow down (\(EnvelopeSyntax.logLine(reply))): at most \(limit) connection\(limit == 1 ? "" : "s"), no new connection for \(pause)s\(message)"
        )
        return retryIn
    }

    /// The queue as the gauges count it: outboxd's memory, the maildrop and the hold and
    /// corrupt directories.
    private func gauges() -> QueueGauges {
        var gauges = QueueGauges()
        for item in queue.items.values {
            let pending = item.envelope.recipients.indices.contains { item.state.isPending($0) }
            guard pending else { continue }
            gauges.add(item.state.attempts > 0 ? "deferred" : "active", size: item.envelope.contentSize, arrival: item.envelope.time)
        }
        // On disk, not read: never tried counts as active, the rest as deferred.
        gauges.messages["active", default: 0] += disk.neverTried
        gauges.messages["deferred", default: 0] += disk.messages - disk.neverTried
        gauges.bytes["deferred", default: 0] += disk.bytes
        if let oldest = disk.oldest.flatMap(QueueID.init) {
            gauges.oldestWaiting = min(gauges.oldestWaiting ?? oldest.seconds, oldest.seconds)
        }
        gauges.count(directory: store.layout.maildropNew, as: "maildrop")
        gauges.count(directory: store.layout.queueHeld, as: "hold")
        gauges.count(directory: store.layout.queueCorrupt, as: "corrupt")
        return gauges
    }

    private func health(_ gauges: QueueGauges? = nil) -> HealthReport {
        HealthReport.evaluate(
            state: monitor.state, queue: gauges ?? self.gauges(), now: MailDate.now(), warning: HealthReport.defaultWarning,
            critical: HealthReport.defaultCritical, daemonRunning: true)
    }

    /// Every few seconds: alert checks, queue/monitor, metrics_file and systemd's STATUS=.
    private func report(force: Bool) {
        let now = MailDate.precise()
        guard force || now - lastReport >= Double(Daemon.reportInterval) else { return }
        lastReport = now
        let gauges = self.gauges()
        endRateBursts(nothingHeld: (gauges.messages["hold"] ?? 0) == 0)
        let health = self.health(gauges)
        for var event in monitor.tick(waiting: gauges.waiting, alertAfter: config.alertAfter) {
            // Counted now: a delivery thread raising it does not know the queue.
            event.waiting = gauges.waiting
            alerts.raise(event, command: config.alertCommand, status: health.line)
        }
        monitor.save()
        notify.send(["STATUS=" + health.line])
        guard let path = config.metricsFile else { return }
        let text = PrometheusText.render(
            .init(state: monitor.state, queue: gauges, now: Int(now), freeBytes: spoolFreeBytes(store.layout), daemonRunning: true))
        guard text != lastMetrics else { return }
        do {
            // 0644: node_exporter runs as a user of its own.
            try ReportFile.replace(path, with: text, mode: 0o644)
            lastMetrics = text
        } catch {
            if lastMetrics != "" { log.warning("metrics_file: \(error)") }
            lastMetrics = ""
        }
    }

    /// Bursts end (RateBursts); the user_rate incident when none is left, including one
    /// a previous run left open. When nothing at all is held (the admin released it), no
    /// mail is held by user_rate_limit either: every burst ends.
    private func endRateBursts(nothingHeld: Bool) {
        let now = MailDate.now()
        userRate?.prune(now: now)
        rateBursts.endQuiet(nothingHeld ? nil : userRate, now: now)
        monitor.keepUserRate(counted: userRate?.counted ?? [:], held: rateBursts.heldAt)
        if rateBursts.isEmpty && monitor.state.incidents[.userRate] != nil { monitor.userRate(exceeded: nil) }
    }

    /// Publishes the envelope summary unprivileged `mailq` reads (at most once a second).
    private func writeSummary(force: Bool) {
        let now = MailDate.now()
        guard force || now != lastSummary else {
            summaryPending = true
            return
        }
        lastSummary = now
        summaryPending = false
        // From what outboxd holds in memory: no queue file is read again for this.
        let queued = queue.items.values.compactMap { QueueListing.entry($0.envelope, size: $0.envelope.contentSize, state: $0.state, held: false) }
        let routes = relays.withLock { $0 }
        QueueListing.publish(
            store.layout, queued: QueueListing.namingRoutes(queued, routes.config.routeName), notInMemory: (disk.messages, disk.bytes))
        guard usageKnown else { return }
        let over = usageByUID().filter { $0.value.reaches(messageLimit: config.userQueueLimit, sizeLimit: config.userQueueSizeLimit) }
        overLimitLogged.formIntersection(over.keys)
        let text = UserQueueUsage.render(over)
        if text != lastOverLimit {
            UserQueueUsage.publish(over, layout: store.layout)
            lastOverLimit = text
        }
    }
}
