import Glibc
import OutboxCore
import OutboxDrop

/// One pass over queue/msg that reads no message: what is due, when the rest is, and how
/// much waits. A message's due time is its state file's mtime (`QueueStore.save` sets it
/// to the next attempt, Postfix's deferred-queue trick); no state file means never tried,
/// due now. outboxd holds only a window of the queue in memory and finds the rest this
/// way, so its memory does not grow with the backlog.
struct QueueScan {
    /// Due messages, oldest (lowest queue ID) first, at most the limit.
    var due: [String] = []
    /// The earliest due time of the messages not due yet.
    var nextDue: Int?
    /// Messages seen (the skipped ones not counted), their bytes, the oldest queue ID, and
    /// how many were never tried (no state file).
    var messages = 0
    var bytes = 0
    var oldest: String?
    var neverTried = 0
    /// Every message seen was read into `due` (none was left out by the limit).
    var complete: Bool { due.count < limit || dueSeen == due.count }
    private var limit = 0
    private var dueSeen = 0

    /// `skipping`: messages outboxd already holds. `flushedAt`: a flush made every message
    /// whose state has not changed since (ctime before it, to the nanosecond: a state
    /// written in the same second as the flush, before it, is flushed too) due. `limit`: at most this many
    /// names in `due`.
    static func run(_ store: QueueStore, skipping: (String) -> Bool, now: Int, flushedAt: Double?, limit: Int) -> QueueScan {
        var scan = QueueScan()
        scan.limit = limit
        let messages = open(store.messages, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard messages >= 0 else { return scan }
        defer { close(messages) }
        let states = open(store.states, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if states >= 0 { close(states) } }
        try? store.layout.forEachFileName(in: store.messages) { name in
            guard !skipping(name) else { return }
            var st = stat()
            guard fstatat(messages, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return }
            scan.messages += 1
            scan.bytes += Int(st.st_size)
            if scan.oldest.map({ name < $0 }) ?? true { scan.oldest = name }
            var due = 0
            if states >= 0 && fstatat(states, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                due = Int(st.st_mtim.tv_sec)
                if let flushedAt, QueueScan.seconds(st.st_ctim) <= flushedAt { due = 0 }
            } else {
                scan.neverTried += 1
            }
            guard due <= now else {
                scan.nextDue = min(scan.nextDue ?? due, due)
                return
            }
            scan.dueSeen += 1
            scan.due.append(name)
            // Bounded: keep the oldest `limit` (n log limit overall, never every name).
            if scan.due.count >= 2 * limit {
                scan.due.sort()
                scan.due.removeLast(scan.due.count - limit)
            }
        }
        scan.due.sort()
        if scan.due.count > limit { scan.due.removeLast(scan.due.count - limit) }
        return scan
    }

    static func seconds(_ time: timespec) -> Double { Double(time.tv_sec) + Double(time.tv_nsec) / 1e9 }
}
