import Glibc
import OutboxCore
import OutboxDrop
import OutboxSpool

/// How many messages and bytes the spool holds per state, and how old the oldest waiting
/// message is: from outboxd's memory (plus directory counts) or from the files.
public struct QueueGauges: Equatable, Sendable {
    /// Postfix's queue names plus corrupt (files outboxd refused).
    public static let states = ["maildrop", "active", "deferred", "hold", "corrupt"]
    public var messages: [String: Int] = [:]
    public var bytes: [String: Int] = [:]
    /// Arrival of the oldest message not on hold (maildrop, active, deferred).
    public var oldestWaiting: Int?
    /// Files the listing could not read as queue or drop files (not counted above).
    public var unreadable = 0

    public init() {}

    public init(entries: [QueueEntry]) {
        for e in entries { add(e.queueName, size: e.size, arrival: e.arrival) }
    }

    public mutating func add(_ state: String, size: Int, arrival: Int? = nil) {
        messages[state, default: 0] += 1
        bytes[state, default: 0] += size
        if let arrival, state != "hold", state != "corrupt" { oldestWaiting = min(oldestWaiting ?? arrival, arrival) }
    }

    /// Messages still to deliver (not held, not corrupt).
    public var waiting: Int { ["maildrop", "active", "deferred"].reduce(0) { $0 + (messages[$1] ?? 0) } }

    /// Counts the files of `directory` as `state` (their sizes; no arrival time).
    public mutating func count(directory: String, as state: String) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        messages[state, default: 0] += 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard !name.hasPrefix(".") else { continue }
            var st = stat()
            guard fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            add(state, size: Int(st.st_size))
        }
    }

    /// From the files, as root's mailq reads them (outboxctl metrics and status).
    public static func read(_ layout: SpoolLayout) -> QueueGauges {
        let snapshot = QueueListing.allEntries(layout)
        var gauges = QueueGauges(entries: snapshot.entries)
        gauges.unreadable = snapshot.unreadable
        gauges.count(directory: layout.queueCorrupt, as: "corrupt")
        return gauges
    }
}

/// Free bytes for unprivileged writers on the spool's file system.
public func spoolFreeBytes(_ layout: SpoolLayout) -> Int? {
    var fs = statvfs()
    guard statvfs(layout.root, &fs) == 0 else { return nil }
    return Int(fs.f_bavail) * Int(fs.f_frsize)
}

/// What outboxctl metrics and status read from the spool: the files, queue/monitor, and
/// whether outboxd (or an `outboxd --once`) holds the queue lock.
public struct SpoolObservation: Sendable {
    public var state: MonitorState
    public var queue: QueueGauges
    public var daemonRunning: Bool
    public var freeBytes: Int?

    /// Why the queue cannot be read by this user (nil when it can): counting nothing from
    /// a queue one may not list would report an empty queue that is not.
    public static func unreadable(_ layout: SpoolLayout) -> String? {
        for directory in [layout.queueMessages, layout.queueStates, layout.queueHeld] {
            var st = stat()
            // A spool not created yet holds nothing: fine. Any other failure (EACCES on
            // the private queue) means this user cannot know.
            if stat(directory, &st) != 0 && errno == ENOENT { continue }
            if access(directory, R_OK | X_OK) != 0 {
                return "cannot read \(directory) as uid \(geteuid()): \(String(cString: strerror(errno))) (run as root or as the spool's owner)"
            }
        }
        return nil
    }

    public static func read(_ layout: SpoolLayout) -> SpoolObservation {
        var running = false
        if let store = try? QueueStore(layout: layout) {
            switch Result(catching: { try store.lock(wait: false) }) {
            case .success(let lock?): lock.close()
            case .success(nil): running = true
            case .failure: break
            }
        }
        return SpoolObservation(
            state: MonitorState.read(spool: layout.root) ?? MonitorState(), queue: QueueGauges.read(layout), daemonRunning: running,
            freeBytes: spoolFreeBytes(layout))
    }
}
