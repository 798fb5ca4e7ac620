import COutboxSys
import Glibc

/// The tmp/ path to unlink if a signal arrives before the commit. A C string allocated
/// once, because only async-signal-safe calls may run in the handler.
nonisolated(unsafe) var pendingTemporaryPath: UnsafeMutablePointer<CChar>?

/// Removes the unfinished drop file and exits with EX_TEMPFAIL; installed for every
/// catchable signal that would otherwise end the process.
let removeUnfinishedFileAndExit: @convention(c) (Int32) -> Void = { _ in
    if let path = pendingTemporaryPath { unlink(path) }
    _exit(75)
}

/// The signals that end the helper; on each, the unfinished file goes first.
let terminatingSignals: [Int32] = [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGALRM, SIGUSR1, SIGUSR2, SIGVTALRM, SIGPROF]

/// Resets what a hostile parent may have left: blocked and ignored signals.
func resetSignals() {
    var empty = sigset_t()
    sigemptyset(&empty)
    sigprocmask(SIG_SETMASK, &empty, nil)
    for sig in terminatingSignals { coutbox_signal_default(sig) }
    // Writes to a dead sendmail and past RLIMIT_FSIZE must fail with an errno, not kill us.
    coutbox_signal_ignore(SIGPIPE)
    coutbox_signal_ignore(SIGXFSZ)
}

/// Arms the cleanup handler for `path`.
func installCleanup(for path: String) {
    pendingTemporaryPath = strdup(path)
    for sig in terminatingSignals { signal(sig, removeUnfinishedFileAndExit) }
}

/// Blocks every terminating signal so the commit runs to its end once started.
func blockTerminatingSignals() {
    var set = sigset_t()
    sigemptyset(&set)
    for sig in terminatingSignals { sigaddset(&set, sig) }
    sigprocmask(SIG_BLOCK, &set, nil)
}
