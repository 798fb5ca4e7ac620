import Glibc

/// A mutex with a condition variable, for the delivery threads' work queue (Swift's
/// `Mutex` has no condition variable). The pthread objects live in memory allocated once:
/// a Swift stored property has no stable address, so passing `&storedMutex` to pthread
/// functions is undefined behaviour.
final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        // Timed waits on the monotonic clock: a wall-clock step (NTP, an admin's `date`)
        // neither cuts a pause short nor stretches it.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits for a `broadcast` (inside `withLock`; spurious wake-ups happen: loop on the
    /// condition).
    func wait() { pthread_cond_wait(condition, mutex) }

    /// The CLOCK_MONOTONIC time `seconds` from now, for `wait(until:)`.
    static func deadline(after seconds: Double) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let total = Int(now.tv_nsec) + Int(max(0, seconds) * 1e9)
        return timespec(tv_sec: now.tv_sec + total / 1_000_000_000, tv_nsec: total % 1_000_000_000)
    }

    /// Like `wait`, until `deadline` (CLOCK_MONOTONIC); false when it passed.
    func wait(until deadline: timespec) -> Bool {
        var deadline = deadline
        return pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT
    }

    /// Wakes every waiter (inside `withLock`).
    func broadcast() { pthread_cond_broadcast(condition) }
}
