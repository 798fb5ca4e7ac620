import Glibc
import OutboxCore

/// The messages due now, shared by the delivery threads.
final class WorkQueue: @unchecked Sendable {
    /// Guards every field below.
    private let lock = ConditionLock()
    private var due: [QueueItem] = []
    private var activeCount = 0
    private var stopping = false
    /// Set when no smarthost could be reached in this round: the rest is deferred at once.
    private var unreachableReason: String?
    /// Finished items and new ones (bounces), collected for the main loop.
    private var finished: [QueueItem] = []
    private var created: [QueueItem] = []

    /// Items being delivered now.
    var active: Int { lock.withLock { activeCount } }

    func add(_ items: [QueueItem]) {
        lock.withLock {
            due += items
            unreachableReason = nil
            lock.broadcast()
        }
    }

    /// The next item, or nil when stopping.
    func take() -> (item: QueueItem, unreachable: String?)? {
        lock.withLock {
            while due.isEmpty && !stopping { lock.wait() }
            if stopping { return nil }
            activeCount += 1
            return (due.removeFirst(), unreachableReason)
        }
    }

    /// Waits up to `seconds` for something to become due; true when something is due or
    /// the queue is stopping (the caller then takes or ends), false on time-out.
    func waitForWork(seconds: Double) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let total = Int(now.tv_nsec) + Int(seconds * 1e9)
        let deadline = timespec(tv_sec: now.tv_sec + total / 1_000_000_000, tv_nsec: total % 1_000_000_000)
        return lock.withLock {
            while due.isEmpty && !stopping {
                if !lock.wait(until: deadline) { break }
            }
            return !due.isEmpty || stopping
        }
    }

    var isEmpty: Bool { lock.withLock { due.isEmpty } }

    func markUnreachable(_ reason: String) {
        lock.withLock { unreachableReason = reason }
    }

    func done(_ item: QueueItem, created new: [QueueItem]) {
        lock.withLock {
            activeCount -= 1
            finished.append(item)
            created += new
            due += new
            lock.broadcast()
        }
    }

    /// Results collected since the last call.
    func drainResults() -> (finished: [QueueItem], created: [QueueItem]) {
        lock.withLock {
            let r = (finished, created)
            finished = []
            created = []
            return r
        }
    }

    /// Blocks until nothing is due and no item is in flight.
    func waitUntilIdle() {
        lock.withLock {
            while !(due.isEmpty && activeCount == 0) { lock.wait() }
        }
    }

    /// Wakes every thread; `take` returns nil from now on (items in flight finish).
    func stop() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
    }
}

/// A joinable thread running a closure.
final class WorkerThread: @unchecked Sendable {
    private var handle = pthread_t()
    private let body: () -> Void

    init(_ body: @escaping () -> Void) { self.body = body }

    /// Fails when the system refuses another thread (EAGAIN at TasksMax or RLIMIT_NPROC):
    /// then there is nothing to join.
    func start() throws(SystemError) {
        let box = Unmanaged.passRetained(self)
        let result = pthread_create(
            &handle, nil,
            { context in
                let thread = Unmanaged<WorkerThread>.fromOpaque(context!).takeRetainedValue()
                thread.body()
                return nil
            }, box.toOpaque())
        guard result == 0 else {
            box.release()
            throw SystemError("pthread_create", errno: result)
        }
    }

    func join() { pthread_join(handle, nil) }
}
