import COutboxDaemon
import Glibc
import OutboxConfig
import OutboxCore
import OutboxNet
import OutboxOAuth
import OutboxSupport

/// The SMTP AUTH password, read when a session needs it and never logged.
public enum Credentials {
    /// Reads the password per config: the first line of `auth_password_file` (refused when
    /// other users may read it), or the standard output of `auth_password_command`.
    public static func password(_ config: Config) throws(SessionError) -> [UInt8] {
        if let path = config.authPasswordFile {
            do { return try SecretFile.firstLine(path, key: "auth_password_file") } catch { throw .credentials("\(error)") }
        }
        if let command = config.authPasswordCommand {
            return try run(command, deadline: Double(config.credentialCommandTimeout))
        }
        throw .credentials("auth_username is set but neither auth_password_file nor auth_password_command is")
    }

    static func firstLine(_ bytes: [UInt8]) -> [UInt8] {
        var line = Array(bytes.prefix { $0 != 10 })
        if line.last == 13 { line.removeLast() }
        return line
    }

    /// How long a credential command may take, and how much it may print: a command that
    /// hangs or floods (`/usr/bin/yes`) is killed and the mail deferred, never a worker
    /// blocked for good.
    public static let commandDeadline = 30.0
    public static let commandOutputLimit = 65536

    /// Runs `/bin/sh -c command` with stdout on a pipe; the only child that ever sees a
    /// secret. It runs in a process group of its own, so that on a deadline or an
    /// oversized output everything it started is killed, not just the shell.
    static func run(
        _ command: String, key: String = "auth_password_command",
        deadline seconds: Double = commandDeadline
    ) throws(SessionError) -> [UInt8] {
        let pipe: PipePair
        do { pipe = try FileDescriptor.pipe() } catch { throw .credentials("\(key): \(error)") }
        let pid: pid_t
        do { pid = try ChildCommand.spawn(command, standardOutput: pipe.write.rawValue) } catch { throw .credentials("\(key): \(error.text)") }
        // Only the child keeps the write end: end of file when it exits.
        let fromChild = pipe.keepingRead()

        let deadline = Deadline.after(seconds: seconds)
        var output: [UInt8] = []
        // Never reallocated (the limit is the capacity), so no unwiped copy of the secret
        // is left behind in freed memory.
        output.reserveCapacity(commandOutputLimit)
        defer { output.wipe() }
        var failure: String?
        var chunk = [UInt8](repeating: 0, count: 4096)
        defer { chunk.wipe() }
        _ = fcntl(fromChild.rawValue, F_SETFL, O_NONBLOCK)
        reading: while true {
            let remaining = deadline.remainingMilliseconds
            guard remaining > 0 else {
                failure = "did not finish within \(Int(seconds)) s; killed"
                break
            }
            var pfd = pollfd(fd: fromChild.rawValue, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(remaining, 1000)))
            if ready < 0 && errno != EINTR {
                failure = "poll: \(String(cString: strerror(errno)))"
                break
            }
            if ready <= 0 { continue }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fromChild.rawValue, $0.baseAddress, $0.count) }
            if n == 0 { break reading }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                failure = "read: \(String(cString: strerror(errno)))"
                break
            }
            guard output.count + n <= commandOutputLimit else {
                failure = "printed more than \(commandOutputLimit) bytes; killed"
                break
            }
            output += chunk[0..<n]
        }
        // The output is complete (or abandoned): the command gets what is left of the
        // deadline to exit; otherwise its whole process group is killed.
        let (status, exitFailure) = ChildCommand.wait(pid, deadline: deadline, seconds: seconds, kill: failure != nil)
        failure = failure ?? exitFailure
        if let failure { throw .credentials("\(key) \(failure)") }
        guard status == 0 else { throw .credentials("\(key) exited with status \((status >> 8) & 0xFF)") }
        return firstLine(output)
    }
}

/// A `/bin/sh -c` child of outboxd (credential and alert commands): its own process group,
/// so that a deadline kills everything it started; default signal dispositions and an
/// empty mask; no descriptor of outboxd's beyond 0-2; the environment outboxd has (which
/// holds no secret) plus `extraEnvironment`.
enum ChildCommand {
    struct Failure: Error {
        let text: String
    }

    /// Starts the command with stdin from `standardInput` (-1: /dev/null), stdout to
    /// `standardOutput`, stderr shared with outboxd's.
    static func spawn(
        _ command: String, standardInput: Int32 = -1, standardOutput: Int32, extraEnvironment: [String] = []
    ) throws(Failure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if standardInput >= 0 {
            posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, standardOutput, 1)
        // Nothing else outboxd holds (sessions, the queue lock, descriptors its parent left
        // open: found by the tests) reaches the command.
        guard coutbox_spawn_close_from(&actions, 3) == 0 else { throw Failure(text: "cannot prepare the child's descriptors") }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Default dispositions and an empty mask (outboxd ignores SIGPIPE), own group.
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var environment: [UnsafeMutablePointer<CChar>?] = []
        var cursor = environ
        while let entry = cursor.pointee {
            environment.append(strdup(entry))
            cursor += 1
        }
        environment += extraEnvironment.map { strdup($0) }
        environment.append(nil)
        defer { for p in environment { free(p) } }
        var pid: pid_t = 0
        let rc = ChildProcess.withCStringArray(["/bin/sh", "-c", command]) {
            posix_spawn(&pid, "/bin/sh", &actions, &attributes, $0, environment)
        }
        guard rc == 0 else { throw Failure(text: "cannot run /bin/sh: \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Waits for `pid` until `deadline`, then kills its process group; `kill` kills at
    /// once. Returns the wait status and what went wrong, if anything.
    static func wait(_ pid: pid_t, deadline: Deadline, seconds: Double, kill killNow: Bool) -> (status: Int32, failure: String?) {
        var failure: String?
        var killed = killNow
        if killed { kill(-pid, SIGKILL) }
        var status: Int32 = 0
        while true {
            // Once killed, a blocking wait: no polling loop while the kernel reaps it.
            let r = waitpid(pid, &status, killed ? 0 : WNOHANG)
            if r == pid { break }
            if r < 0 {
                if errno == EINTR { continue }
                failure = "waitpid: \(String(cString: strerror(errno)))"
                break
            }
            if deadline.remainingMilliseconds <= 0 {
                failure = "did not exit within \(Int(seconds)) s; killed"
                kill(-pid, SIGKILL)
                killed = true
                continue
            }
            usleep(10_000)
        }
        return (status, failure)
    }
}
