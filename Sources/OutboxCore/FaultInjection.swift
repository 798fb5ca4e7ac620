import COutboxSys
import Glibc

/// Test-only failure injection for the calls that make mail durable (write, fsync,
/// rename), in the spirit of swift-system's mocking: the storage-fault tests make the
/// Nth call fail with a chosen errno and check that nothing is lost or half-written.
///
/// Compiled into debug builds only; release builds (what is installed) contain no hook at
/// all, and even in a debug build it is read through `Privilege.trustedEnvironment`, so a
/// set-id process never sees it.
///
///     OUTBOX_FAULT="fsync=EIO@2"                   the 2nd fsync of every process fails
///     OUTBOX_FAULT="outboxd:rename=ENOSPC@1,3"     only in outboxd: the 1st and 3rd rename
///     OUTBOX_FAULT="outboxdrop:write=ENOSPC@*;outboxd:fsync=EIO@1"   rules joined by ';'
public enum FaultInjection {
    /// Returns the errno `operation` must fail with now, or nil to run it for real.
    @inline(__always)
    public static func check(_ operation: StaticString) -> Int32? {
        #if DEBUG
        guard let plan = plan, let rule = plan.rules["\(operation)"] else { return nil }
        let count = plan.count("\(operation)")
        return rule.every || rule.calls.contains(count) ? rule.errno : nil
        #else
        return nil
        #endif
    }

    #if DEBUG
    final class Plan: @unchecked Sendable {
        struct Rule {
            var errno: Int32
            var calls: Set<Int>
            var every: Bool
        }
        var rules: [String: Rule] = [:]
        /// Calls so far per operation, under `lock` (a pthread mutex: Synchronization's
        /// Mutex is not in the Embedded Swift the drop helper and sendmail are built with).
        private var counts: [String: Int] = [:]
        private let lock: UnsafeMutablePointer<pthread_mutex_t> = {
            let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
            pthread_mutex_init(lock, nil)
            return lock
        }()

        /// Counts one more call of `operation` and returns the count.
        func count(_ operation: String) -> Int {
            pthread_mutex_lock(lock)
            defer { pthread_mutex_unlock(lock) }
            counts[operation, default: 0] += 1
            return counts[operation]!
        }
    }

    static let names: [String: Int32] = ["EIO": EIO, "ENOSPC": ENOSPC, "EDQUOT": EDQUOT, "EROFS": EROFS, "EACCES": EACCES]

    static let plan: Plan? = {
        guard let text = Privilege.trustedEnvironment("OUTBOX_FAULT"), !text.isEmpty else { return nil }
        let program = ProgramArguments.all.first.map { String($0.split(separator: "/").last ?? "") } ?? ""
        let plan = Plan()
        for item in text.split(separator: ";") {
            var spec = Substring(item)
            if let colon = spec.firstIndex(of: ":") {
                guard spec[..<colon] == program else { continue }
                spec = spec[spec.index(after: colon)...]
            }
            guard let eq = spec.firstIndex(of: "="), let at = spec.firstIndex(of: "@"), eq < at,
                let number = names[String(spec[spec.index(after: eq)..<at])]
            else { continue }
            let calls = spec[spec.index(after: at)...]
            plan.rules[String(spec[..<eq])] = Plan.Rule(
                errno: number, calls: Set(calls.split(separator: ",").compactMap { Int($0) }), every: calls == "*")
        }
        return plan.rules.isEmpty ? nil : plan
    }()
    #endif
}

/// Wraps `renameat(2)` (AT_FDCWD for plain paths), with fault injection in debug builds.
public func durableRename(_ from: String, _ to: String, fromDirectory: Int32 = AT_FDCWD, toDirectory: Int32 = AT_FDCWD) -> Int32 {
    if let injected = FaultInjection.check("rename") {
        Errno.current = injected
        return -1
    }
    return renameat(fromDirectory, from, toDirectory, to)
}
