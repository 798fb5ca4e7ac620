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
    /// Only some messages were looked at (`first`): `bytes`, `neverTried` and `nextDue`
    /// cover those, and a whole scan is still owed.
    var partial = false
    /// Every message seen was read into `due` (none was left out by the limit).
    var complete: Bool { !partial && (due.count < limit || dueSeen == due.count) }
    private var limit = 0
    private var dueSeen = 0

    /// `skipping`: messages outboxd already holds. `waiting`: messages counted as on disk
    /// but not returned as due (they wait in their route's line; review: leaving them out
    /// of the counts under-reported a stuck route's backlog and its oldest message).
    /// `flushedAt`: see `due(_:flushedAt:)`. `limit`: at most this many names in `due`.
    static func run(
        _ store: QueueStore, skipping: (String) -> Bool, waiting: Set<String> = [], now: Int, flushedAt: Double?, limit: Int
    ) -> QueueScan {
        var scan = QueueScan()
        scan.limit = limit
        let messages = open(store.messages, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard messages >= 0 else { return scan }
        defer { close(messages) }
        let states = open(store.states, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if states >= 0 { close(states) } }
        var oldestDue = OldestNames(limit: limit)
        try? store.layout.forEachFileName(in: store.messages) { name in
            guard !skipping(name) else { return }
            var st = stat()
            guard fstatat(messages, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return }
            scan.messages += 1
            scan.bytes += Int(st.st_size)
            if scan.oldest.map({ name < $0 }) ?? true { scan.oldest = name }
            var due = 0
            if states >= 0 && fstatat(states, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                due = QueueScan.due(st, flushedAt: flushedAt)
            } else {
                scan.neverTried += 1
            }
            guard due <= now else {
                scan.nextDue = min(scan.nextDue ?? due, due)
                return
            }
            guard !waiting.contains(name) else { return }
            scan.dueSeen += 1
            oldestDue.add(name)
        }
        scan.due = oldestDue.names
        return scan
    }

    /// The first look at start-up, which must not take as long as a scan of a large
    /// queue (two stat calls per message: 5 s for 1 000 000): one pass over the names that
    /// stats only the state files of names older than the `limit` oldest due ones found so
    /// far, in directory order (stat calls in name order were 15 times slower here, on a
    /// directory of 1 000 000). `due` is exact; `messages` and `oldest` count every name;
    /// `bytes`, `neverTried` and `nextDue` are left to the whole scan that follows
    /// (`partial`).
    static func first(_ store: QueueStore, now: Int, flushedAt: Double?, limit: Int) -> QueueScan {
        var scan = QueueScan()
        scan.limit = limit
        scan.partial = true
        let states = open(store.states, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if states >= 0 { close(states) } }
        var oldestDue = OldestNames(limit: limit)
        try? store.layout.forEachFileName(in: store.messages) { name in
            scan.messages += 1
            if scan.oldest.map({ name < $0 }) ?? true { scan.oldest = name }
            guard oldestDue.accepts(name) else { return }
            var st = stat()
            if states >= 0 && fstatat(states, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && QueueScan.due(st, flushedAt: flushedAt) > now { return }
            oldestDue.add(name)
        }
        scan.due = oldestDue.names
        return scan
    }

    /// When a message whose state file has status `st` is due: the file's mtime, or now
    /// after a flush that made every message whose state has not changed since due (ctime
    /// before it, to the nanosecond: a state written in the same second as the flush,
    /// before it, is flushed too).
    static func due(_ st: stat, flushedAt: Double?) -> Int {
        if let flushedAt, seconds(st.st_ctim) <= flushedAt { return 0 }
        return Int(st.st_mtim.tv_sec)
    }

    static func seconds(_ time: timespec) -> Double { Double(time.tv_sec) + Double(time.tv_nsec) / 1e9 }
}

/// The `limit` smallest names (the oldest queue IDs) of many, in order, without keeping
/// them all (n log limit overall): once the first `2 × limit` are trimmed, a name at or
/// above the largest kept is refused with one comparison.
struct OldestNames {
    let limit: Int
    private var kept: [String] = []
    private var worst: String?

    init(limit: Int) { self.limit = limit }

    /// Whether `name` would be kept now (false: older names than it are kept already).
    func accepts(_ name: String) -> Bool { worst.map { name < $0 } ?? true }

    mutating func add(_ name: String) {
        guard accepts(name) else { return }
        kept.append(name)
        if kept.count >= 2 * limit {
            trim()
            worst = kept.last
        }
    }

    /// The kept names, oldest first.
    var names: [String] {
        mutating get {
            trim()
            return kept
        }
    }

    private mutating func trim() {
        kept.sort()
        if kept.count > limit { kept.removeLast(kept.count - limit) }
    }
}
