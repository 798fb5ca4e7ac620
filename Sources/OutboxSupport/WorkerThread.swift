import Glibc
import OutboxCore

/// A joinable thread running a closure (outboxd's delivery threads; the listings' second
/// reader).
public final class WorkerThread: @unchecked Sendable {
    #if OUTBOX_MUSL
    private var handle: pthread_t?  // musl's pthread_t is a pointer (the Embedded sendmail)
    #else
    private var handle = pthread_t()
    #endif
    private let body: () -> Void
    private var stackSize: Int?

    /// `stackSize` instead of 8 MiB for a body that needs little (sendmail's ORIGIN
    /// reader: its buffers are on the heap), so that the stack's mapping does not count
    /// 8 MiB against a small RLIMIT_DATA or RLIMIT_AS (review, helper-17).
    public init(stackSize: Int? = nil, sendable body: @escaping @Sendable () -> Void) {
        self.body = body
        self.stackSize = stackSize
    }

    /// For a body the compiler cannot prove safe to run on another thread, whose caller
    /// says why it is (adoption's parallel fsync: each writer is touched by one thread).
    public init(unchecked body: @escaping () -> Void) { self.body = body }

    /// Fails when the system refuses another thread (EAGAIN at TasksMax or RLIMIT_NPROC):
    /// then there is nothing to join.
    public func start() throws(SystemError) {
        let box = Unmanaged.passRetained(self)
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if let stackSize {
            pthread_attr_setstacksize(&attributes, stackSize)
        } else {
            #if OUTBOX_MUSL
            // musl's threads get 128 KiB of stack; glibc's the stack limit, 8 MiB by
            // default. The same code runs on both, so it gets glibc's default.
            pthread_attr_setstacksize(&attributes, 8 << 20)
            #endif
        }
        let result = pthread_create(
            &handle, &attributes,
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

    public func join() {
        #if OUTBOX_MUSL
        guard let handle else { return }
        #endif
        pthread_join(handle, nil)
    }
}
