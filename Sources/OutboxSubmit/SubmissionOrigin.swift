import COutboxSys
import Glibc
import OutboxCore
import OutboxSupport

/// Which program submitted the message: the caller of sendmail (its executable, command
/// name and command line), the caller's parent, the systemd unit it runs in, and whether
/// it runs under cron or at. Read from /proc before anything else, while the caller is
/// surely still there. Recorded as the envelope parameter ORIGIN (never sent to the
/// smarthost), logged in outboxd's pickup line and shown by `outboxctl show`.
///
/// It is what sendmail saw as the calling user: a user who writes to the drop helper
/// directly can claim anything here. The uid, which the helper stamps, is the fact.
public struct SubmissionOrigin: Equatable, Sendable {
    public struct Process: Equatable, Sendable {
        public var pid: Int32
        public var executable: String?
        public var command: String?
        public var arguments: [String] = []
        public var parent: Int32?
    }

    public var caller: Process?
    public var callerParent: Process?
    public var unit: String?
    /// "cron" or "at" when an ancestor is that daemon.
    public var job: String?

    /// The longest ORIGIN value: it must leave room in a 998-octet header line.
    public static let maximumLength = 900

    public init(caller: Process? = nil, callerParent: Process? = nil, unit: String? = nil, job: String? = nil) {
        self.caller = caller
        self.callerParent = callerParent
        self.unit = unit
        self.job = job
    }

    /// The caller, pinned: an open /proc/PID directory keeps naming that process even if
    /// its pid is reused, so the reading can wait until the drop helper is starting (a
    /// submission reads on a second thread while the helper's exec runs; before the start
    /// these reads cost 0.2 ms more).
    public final class Pin: @unchecked Sendable {
        let pid: Int32
        let directory: Int32
        let proc: String
        /// The reading begun by `readInBackground`: written by that thread, read by `read`
        /// after the join.
        private var reader: WorkerThread?
        private var result: SubmissionOrigin?

        init(pid: Int32, proc: String) {
            self.pid = pid
            self.proc = proc
            directory = coutbox_openat(AT_FDCWD, "\(proc)/\(pid)", FileDescriptor.pathOnly | O_DIRECTORY | O_CLOEXEC, 0)
        }

        deinit { if directory >= 0 { close(directory) } }

        /// Starts the reading on a thread of its own (256 KiB of stack: every buffer is on
        /// the heap): a submission's /proc reads (0.1 ms) then run beside its work instead
        /// of in it; `then` runs there next, before `read` returns. Without a thread
        /// (RLIMIT_NPROC, TasksMax) `read` reads as before and `then` never runs.
        public func readInBackground(then: @escaping @Sendable () -> Void = {}) {
            guard reader == nil, result == nil, directory >= 0 else { return }
            let thread = WorkerThread(
                stackSize: 256 << 10,
                sendable: { [self] in
                    result = readNow()
                    then()
                })
            if (try? thread.start()) != nil { reader = thread }
        }

        /// The facts, read here or by the thread `readInBackground` started.
        public func read() -> SubmissionOrigin {
            if let reader {
                reader.join()
                self.reader = nil
            }
            if let result { return result }
            let now = readNow()
            result = now
            return now
        }

        /// Reads the facts; what the caller no longer has (it exited) is left out.
        func readNow() -> SubmissionOrigin {
            var origin = SubmissionOrigin()
            guard directory >= 0 else { return origin }
            let caller = SubmissionOrigin.process(pid, directory: directory)
            origin.caller = caller
            if let grand = caller.parent, grand > 0 { origin.callerParent = SubmissionOrigin.process(grand, proc: proc, withArguments: false) }
            origin.unit = unit(fromCGroup: SubmissionOrigin.read(directory, "cgroup") ?? "")
            // cron forks a child per job, which runs the job's shell: a few levels up. Each
            // level is one read of stat (command and parent), the caller's parent none.
            var command = caller.command
            var next = caller.parent
            for _ in 0..<6 {
                switch command {
                case "cron", "crond", "CRON", "anacron": origin.job = "cron"
                case "atd": origin.job = "at"
                default: break
                }
                guard origin.job == nil, let p = next, p > 1 else { break }
                if let known = origin.callerParent, known.pid == p {
                    (command, next) = (known.command, known.parent)
                    continue
                }
                // One read of an ancestor, so no directory to pin it by.
                guard let stat = SubmissionOrigin.read(AT_FDCWD, "\(proc)/\(p)/stat") else { break }
                (command, next) = (statCommand(stat), statParent(stat))
            }
            return origin
        }
    }

    /// Pins the calling process (sendmail's parent); call first, read later.
    public static func pin(proc: String = "/proc") -> Pin { Pin(pid: getppid(), proc: proc) }

    static func process(_ pid: Int32, proc: String, withArguments: Bool = true) -> Process {
        let directory = coutbox_openat(AT_FDCWD, "\(proc)/\(pid)", FileDescriptor.pathOnly | O_DIRECTORY | O_CLOEXEC, 0)
        guard directory >= 0 else { return Process(pid: pid) }
        defer { close(directory) }
        return process(pid, directory: directory, withArguments: withArguments)
    }

    /// The caller's parent is recorded without its command line (ORIGIN has no field
    /// for it): one read of /proc fewer.
    static func process(_ pid: Int32, directory: Int32, withArguments: Bool = true) -> Process {
        var p = Process(pid: pid)
        p.executable = link(directory, "exe")
        if withArguments { p.arguments = (read(directory, "cmdline") ?? "").split(separator: "\0").map(String.init) }
        let stat = read(directory, "stat") ?? ""
        p.command = statCommand(stat)
        p.parent = statParent(stat)
        return p
    }

    /// The ppid field of /proc/PID/stat (after the command name, which may hold ") ").
    /// Byte by byte: String's Character scanning here was 8 % of sendmail's samples.
    static func statParent(_ stat: String) -> Int32? {
        let bytes = Array(stat.utf8)
        guard let close = bytes.lastIndex(of: 0x29) else { return nil }
        let fields = bytes[(close + 1)...].split(separator: 0x20, maxSplits: 2)
        return fields.count >= 2 ? Int32(String(decoding: fields[1], as: UTF8.self)) : nil
    }

    /// The command name of /proc/PID/stat, as /proc/PID/comm has it: between the first "("
    /// and the last ")" (the name itself may hold either).
    static func statCommand(_ stat: String) -> String? {
        let bytes = Array(stat.utf8)
        guard let open = bytes.firstIndex(of: 0x28), let close = bytes.lastIndex(of: 0x29), open < close else { return nil }
        return String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
    }

    /// The innermost systemd unit of a /proc/PID/cgroup text (cgroup v2 line, or the
    /// name=systemd hierarchy of v1): `…/cron.service` → cron.service.
    static func unit(fromCGroup text: String) -> String? {
        let lines = text.split(separator: "\n")
        let path =
            lines.first { $0.hasPrefix("0::") }.map { $0.dropFirst(3) }
            ?? lines.first { ASCII.contains(":name=systemd:", in: $0) }.map { $0.split(separator: ":", maxSplits: 2).last ?? "" }
        guard let path else { return nil }
        return path.split(separator: "/").last { $0.hasSuffix(".service") || $0.hasSuffix(".scope") }.map(String.init)
    }

    /// `login=… exe=… comm=… cmd="…" parent_exe=… parent_comm=… unit=… job=…`: one line of
    /// printable ASCII, every value without spaces except the quoted command line.
    public func text(login: String) -> String { fields(login: login).joined(separator: " ") }

    /// The fields of `text`, within `maximumLength` together.
    public func fields(login: String) -> [String] {
        var fields = ["login=\(word(login))"]
        if let c = caller {
            if let e = c.executable { fields.append("exe=\(word(e))") }
            if let n = c.command { fields.append("comm=\(word(n))") }
            if !c.arguments.isEmpty { fields.append("cmd=\"\(quoted(CommandLineSecrets.masked(c.arguments), limit: 200))\"") }
        }
        if let p = callerParent {
            if let e = p.executable { fields.append("parent_exe=\(word(e))") }
            if let n = p.command { fields.append("parent_comm=\(word(n))") }
        }
        if let unit { fields.append("unit=\(word(unit))") }
        if let job { fields.append("job=\(job)") }
        var out: [String] = []
        var length = 0
        for f in fields where length + f.utf8.count + 1 <= SubmissionOrigin.maximumLength {
            out.append(f)
            length += f.utf8.count + 1
        }
        return out
    }

    /// Printable ASCII without spaces, quotes or backslashes (those as \xHH).
    func word(_ s: String) -> String { escaped(s, limit: 200, keepSpaces: false) }

    func quoted(_ s: String, limit: Int) -> String { escaped(s, limit: limit, keepSpaces: true) }

    private func escaped(_ s: String, limit: Int, keepSpaces: Bool) -> String {
        var out = ""
        for b in s.utf8.prefix(limit) {
            if b > 0x20 && b < 0x7F && b != 0x22 && b != 0x5C || (keepSpaces && b == 0x20) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let hex = ASCII.lowercaseHexDigits
                out += "\\x" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    private static func read(_ directory: Int32, _ name: String) -> String? {
        // One read of at most 4 KiB: /proc files come whole, and a longer command line is
        // cut anyway.
        let fd = coutbox_openat(directory, name, O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8].unfilled(4096)
        let n = Glibc.read(fd, &buffer, buffer.count)
        return n >= 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    private static func link(_ directory: Int32, _ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlinkat(directory, name, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
