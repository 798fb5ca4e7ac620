import OutboxCore
import OutboxDrop

/// What outboxd knows of the queued messages it does not hold in memory. It holds a window
/// of the queue (Postfix's active queue, `Daemon.windowLimit` messages); the rest wait on
/// disk, found by `QueueScan` when due, so a day-long outage does not grow the daemon.
struct DiskBacklog {
    /// Due messages the last scan found and the window has not taken yet, oldest first.
    private(set) var due: [String] = []
    private var taken = 0
    /// When the earliest message on disk is due: a scan is worth it from then (0: now).
    var nextDue = 0
    /// A flush: messages whose state has not changed since are due.
    var flushedAt: Double?
    /// When the next scan may run.
    private var scanAllowedAt = 0.0
    /// The counts are the first look's: bytes and never-tried cover only the messages it
    /// looked at, and the whole scan is still to run.
    private(set) var partial = false
    /// What waits on disk, for the gauges and public/mailq: the last scan's count, kept
    /// up to date as messages move between the window and the disk.
    private(set) var messages = 0
    private(set) var bytes = 0
    private(set) var neverTried = 0
    private(set) var oldest: String?
    /// Due messages read from disk whose route had its full share of the window
    /// (WindowShares): per route, oldest first, loaded again when the route has room.
    /// Scans count them but do not return them as due. At most `scanLimit` names per
    /// route: beyond that a route's due mail is read, found over its share and left on
    /// disk for a later scan (an envelope read each time: the price of a route with more
    /// than 50 000 due while it cannot send; other routes' mail is not held up by it).
    private var waiting: [String: WaitingLine] = [:]
    private var waitingNames: Set<String> = []

    /// One route's waiting names, oldest first, taken from the front without copying the
    /// rest of the line each time (a name at a time from a line of 50 000 was quadratic).
    private struct WaitingLine {
        private var names: [String] = []
        private var head = 0

        var count: Int { names.count - head }

        mutating func append(_ name: String) { names.append(name) }

        /// The first `n` names, removed from the line.
        mutating func take(_ n: Int) -> ArraySlice<String> {
            let front = names[head..<head + n]
            head += n
            // Taken names are dropped once they are half the storage.
            if head * 2 >= names.count {
                names.removeFirst(head)
                head = 0
            }
            return front
        }
    }

    /// Names of due messages to load, at most `room`; scans first when none is left from
    /// the last scan, one may be due and the last scan is far enough behind: a scan reads
    /// every name in queue/msg, so the next waits nine times as long as it took (at most a
    /// tenth of the time goes to scanning however large the queue; found by review: a
    /// backlog with a message due every second was scanned every second). `held(id)`: in
    /// memory or being handed over.
    mutating func next(_ room: Int, store: QueueStore, now: Int, held: (String) -> Bool) -> ArraySlice<String> {
        guard room > 0 else { return [] }
        // After the first look, the whole scan waits for the first dispatch (Daemon.run).
        if taken == due.count && nextDue <= now && MailDate.precise() >= scanAllowedAt && !partial {
            scan(store: store, now: now, held: held)
        }
        let names = due[taken..<min(due.count, taken + room)]
        taken += names.count
        return names
    }

    /// A whole scan now (`next` runs one when it needs names; outboxd also runs one after
    /// the first messages of a start went out, to count what the first look did not).
    mutating func scan(store: QueueStore, now: Int, held: (String) -> Bool) {
        let started = MailDate.precise()
        let scan = QueueScan.run(store, skipping: held, waiting: waitingNames, now: now, flushedAt: flushedAt, limit: DiskBacklog.scanLimit)
        let finished = MailDate.precise()
        scanAllowedAt = finished + 9 * (finished - started)
        take(scan, now: now)
        partial = false
    }

    /// At start-up: the first look (QueueScan.first) instead of a scan, so that delivery
    /// starts within a second whatever the backlog; `partial` until a whole scan ran.
    mutating func start(store: QueueStore, now: Int, limit: Int) {
        let scan = QueueScan.first(store, now: now, flushedAt: flushedAt, limit: limit)
        take(scan, now: now)
        partial = scan.partial
    }

    private mutating func take(_ scan: QueueScan, now: Int) {
        due = scan.due
        taken = 0
        // Left out by the limit (or not looked at): due still; otherwise the earliest of
        // the others.
        nextDue = scan.complete ? scan.nextDue ?? Int.max : now
        (messages, bytes, neverTried, oldest) = (scan.messages, scan.bytes, scan.neverTried, scan.oldest)
    }

    /// Whether `name` waits for its route's share of the window.
    func isWaiting(_ name: String) -> Bool { waitingNames.contains(name) }

    var hasWaiting: Bool { !waitingNames.isEmpty }

    /// `name`, due, waits for `route` to have room in the window; when the route's line
    /// is full it is left for a later scan, which may run at once (review: otherwise it
    /// waited for queue_scan_interval, and outboxd --once left it behind).
    mutating func wait(_ name: String, route: String) {
        guard waitingNames.contains(name) || waiting[route, default: WaitingLine()].count < DiskBacklog.scanLimit else {
            nextDue = 0
            return
        }
        guard waitingNames.insert(name).inserted else { return }
        waiting[route, default: WaitingLine()].append(name)
    }

    /// Waiting names of the routes with room, oldest first, each route's at most its room.
    mutating func takeWaiting(room: (String) -> Int) -> [String] {
        var names: [String] = []
        for route in waiting.keys {
            let n = min(waiting[route]!.count, room(route))
            guard n > 0 else { continue }
            names += waiting[route]!.take(n)
            if waiting[route]!.count == 0 { waiting[route] = nil }
        }
        for name in names { waitingNames.remove(name) }
        return names
    }

    /// The routes changed (a reload): the waiting names are on disk and due, and the
    /// next scan finds them again under their new routes.
    mutating func forgetWaiting() {
        waiting = [:]
        waitingNames = []
        // The names of the last scan too, or the forgotten ones (the oldest) would come
        // back only after all of those (review).
        due = []
        taken = 0
        lookAgain()
    }

    /// When a message on disk may be due, for the main loop's sleep: now while names of
    /// the last scan wait; otherwise the next due time, not before the next scan may run.
    func wakeTime(now: Int) -> Int {
        if taken < due.count { return now }
        return max(nextDue, Int(scanAllowedAt.rounded(.up)))
    }

    /// Whether a message on disk may be due now or once the next scan may run (outboxd
    /// --once goes on until none is).
    func mayHaveDue(now: Int) -> Bool { taken < due.count || nextDue <= now || hasWaiting }

    /// Due names kept from one scan: later scans start from these (a scan reads every
    /// name in queue/msg; 50 000 names cost about 1 MB).
    static let scanLimit = 50_000

    /// A message on disk read early (its state's mtime said due): it is due at `time`.
    mutating func dueLater(at time: Int) { nextDue = min(nextDue, time) }

    /// A message of `bytes` went from disk into memory.
    mutating func loaded(bytes size: Int, neverTried wasNew: Bool) {
        messages = max(0, messages - 1)
        bytes = max(0, bytes - size)
        if wasNew { neverTried = max(0, neverTried - 1) }
    }

    /// A message left memory for the disk, due at `time`.
    mutating func stored(bytes size: Int, dueAt time: Int, id: String) {
        messages += 1
        bytes += size
        nextDue = min(nextDue, time)
        if oldest.map({ id < $0 }) ?? true { oldest = id }
    }

    /// Something on disk changed in a way only a scan sees (an operator's edit, mail
    /// adopted while the window was full): look again at the next chance.
    mutating func lookAgain() {
        nextDue = 0
        scanAllowedAt = 0
    }
}

extension QueueID {
    /// The submission time the ID carries, in epoch seconds (the age of a message on disk
    /// without reading it). Here, not beside QueueID: the set-id helper compiles that file.
    var seconds: Int {
        var micros: UInt64 = 0
        for digit in text.utf8.prefix(10) {
            micros = micros << 5 | UInt64(QueueID.alphabet.firstIndex(of: digit) ?? 0)
        }
        return Int(micros / 1_000_000)
    }
}
