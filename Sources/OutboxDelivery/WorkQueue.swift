import Glibc

/// The messages due now, shared by the delivery threads (mutex + condition variable).
final class WorkQueue: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()
    private var due: [QueueItem] = []
    private(set) var active = 0
    private var stopping = false
    /// Set when no smarthost could be reached in this round: the rest is deferred at once.
    private var unreachableReason: String?
    /// Finished items and new ones (bounces), collected for the main loop.
    private var finished: [QueueItem] = []
    private var created: [QueueItem] = []

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&changed, nil)
    }

    func add(_ items: [QueueItem]) {
        pthread_mutex_lock(&mutex)
        due += items
        unreachableReason = nil
        pthread_cond_broadcast(&changed)
        pthread_mutex_unlock(&mutex)
    }

    /// The next item, or nil when stopping. `waitIfEmpty` false returns nil at once.
    func take() -> (item: QueueItem, unreachable: String?)? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while due.isEmpty && !stopping { pthread_cond_wait(&changed, &mutex) }
        if stopping { return nil }
        active += 1
        return (due.removeFirst(), unreachableReason)
    }

    /// Waits up to `seconds` for something to become due; true when something is due or
    /// the queue is stopping (the caller then takes or ends), false on time-out.
    func waitForWork(seconds: Double) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let total = Int(now.tv_nsec) + Int(seconds * 1e9)
        var deadline = timespec(tv_sec: now.tv_sec + total / 1_000_000_000, tv_nsec: total % 1_000_000_000)
        while due.isEmpty && !stopping {
            if pthread_cond_timedwait(&changed, &mutex, &deadline) == ETIMEDOUT { break }
        }
        return !due.isEmpty || stopping
    }

    var isEmpty: Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return due.isEmpty
    }

    func markUnreachable(_ reason: String) {
        pthread_mutex_lock(&mutex)
        unreachableReason = reason
        pthread_mutex_unlock(&mutex)
    }

    func done(_ item: QueueItem, created new: [QueueItem]) {
        pthread_mutex_lock(&mutex)
        active -= 1
        finished.append(item)
        created += new
        due += new
        pthread_cond_broadcast(&changed)
        pthread_mutex_unlock(&mutex)
    }

    /// Results collected since the last call.
    func drainResults() -> (finished: [QueueItem], created: [QueueItem]) {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        let r = (finished, created)
        finished = []
        created = []
        return r
    }

    /// Blocks until nothing is due and no item is in flight.
    func waitUntilIdle() {
        pthread_mutex_lock(&mutex)
        while !(due.isEmpty && active == 0) { pthread_cond_wait(&changed, &mutex) }
        pthread_mutex_unlock(&mutex)
    }

    /// Wakes every thread; `take` returns nil from now on (items in flight finish).
    func stop() {
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_cond_broadcast(&changed)
        pthread_mutex_unlock(&mutex)
    }
}

/// A joinable thread running a closure.
final class WorkerThread: @unchecked Sendable {
    private var handle = pthread_t()
    private let body: () -> Void

    init(_ body: @escaping () -> Void) { self.body = body }

    func start() {
        let box = Unmanaged.passRetained(self)
        pthread_create(&handle, nil, { context in
            let thread = Unmanaged<WorkerThread>.fromOpaque(context!).takeRetainedValue()
            thread.body()
            return nil
        }, box.toOpaque())
    }

    func join() { pthread_join(handle, nil) }
}
