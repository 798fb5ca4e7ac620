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
    /// What waits on disk, for the gauges and public/mailq: the last scan's count, kept
    /// up to date as messages move between the window and the disk.
    private(set) var messages = 0
    private(set) var bytes = 0
    private(set) var neverTried = 0
    private(set) var oldest: String?

    /// Names of due messages to load, at most `room`; scans first when none is left from
    /// the last scan and one may be due. `held(id)`: in memory. Each scan makes progress:
    /// what it finds due is loaded, or stamped with its real due time, or moved away.
    mutating func next(_ room: Int, store: QueueStore, now: Int, held: (String) -> Bool) -> ArraySlice<String> {
        guard room > 0 else { return [] }
        if taken == due.count && nextDue <= now {
            let scan = QueueScan.run(store, skipping: held, now: now, flushedAt: flushedAt, limit: DiskBacklog.scanLimit)
            due = scan.due
            taken = 0
            // Left out by the limit: due still; otherwise the earliest of the others.
            nextDue = scan.complete ? scan.nextDue ?? Int.max : now
            (messages, bytes, neverTried, oldest) = (scan.messages, scan.bytes, scan.neverTried, scan.oldest)
        }
        let names = due[taken..<min(due.count, taken + room)]
        taken += names.count
        return names
    }

    /// Due names kept from one scan: later scans start from these (a scan reads every
    /// name in queue/msg; 50 000 names cost about 1 MB).
    static let scanLimit = 50_000

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
    mutating func lookAgain() { nextDue = 0 }
}
