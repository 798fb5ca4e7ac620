import COutboxSys
import Glibc
import OutboxCore
import OutboxDrop
import OutboxSpool
import OutboxSupport

/// Runs the setgid drop helper (outboxdrop) with a pipe on its stdin for the record
/// stream and one on its stdout for its answers: `I <queue-id>` once its file exists,
/// `E <reason>` on failure. It is started before stdin is read so that its start-up
/// overlaps sendmail's parsing.
public final class DropHelperClient {
    private let pid: pid_t
    /// Both pipe ends are owned: each is closed exactly once, when it is set to nil or
    /// when this object goes (a finished transaction used to keep `fromHelper` open, one
    /// descriptor per message of a long `sendmail -bs` session).
    private var toHelper: FileDescriptor?
    private var fromHelper: FileDescriptor?
    private var buffer: [UInt8] = []
    private var answer: [UInt8] = []
    private var finished = false
    private var writeFailed = false

    /// The helper binary: beside this executable (build directory, or /usr/sbin after
    /// install), resolved through /proc/self/exe so symlinks such as /usr/lib/sendmail work.
    public static func defaultHelperPath() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, 4095)
        guard n > 0 else { return "/usr/sbin/outboxdrop" }
        let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = exe.lastIndex(of: "/") else { return "/usr/sbin/outboxdrop" }
        return exe[..<slash] + "/outboxdrop"
    }

    /// Starts the helper. `configPath` is passed as `-C` (the helper refuses it under
    /// set-id unless the caller is root). When the system refuses a task (EAGAIN:
    /// RLIMIT_NPROC, TasksMax) `freeingTasks` ends the caller's own extra thread, and the
    /// start is tried again while the kernel releases that task (up to 20 ms).
    public init(
        helperPath: String = DropHelperClient.defaultHelperPath(), configPath: String?, freeingTasks: (() -> Void)? = nil
    ) throws(SubmissionError) {
        let input = try Self.pipe()
        let output = try Self.pipe()
        var args = [helperPath]
        if let configPath { args += ["-C", configPath] }
        var child: pid_t = 0
        let spawn = {
            ChildProcess.withCStringArray(args) {
                coutbox_spawn_piped(&child, helperPath, $0, coutbox_environment(), input.read.rawValue, output.write.rawValue)
            }
        }
        var rc = spawn()
        if rc == EAGAIN, let freeingTasks {
            freeingTasks()
            rc = spawn()
            for _ in 0..<100 where rc == EAGAIN {
                usleep(200)
                rc = spawn()
            }
        }
        // The child's ends are closed here whatever happened; ours go with `self`, or
        // with these values on a failed start.
        let toChild = input.keepingWrite()
        let fromChild = output.keepingRead()
        guard rc == 0 else {
            throw SubmissionError(.unavailable, "cannot run drop helper \(helperPath): \(String(cString: strerror(rc)))")
        }
        pid = child
        // A larger pipe halves the context switches on big messages (the default is 64 KiB).
        _ = coutbox_set_pipe_size(toChild.rawValue, 1 << 18)
        toHelper = FileDescriptor(owning: toChild.release(), path: "drop helper")
        fromHelper = FileDescriptor(owning: fromChild.release(), path: "drop helper")
    }

    deinit { if !finished { abort() } }

    private static func pipe() throws(SubmissionError) -> PipePair {
        do throws(SystemError) { return try FileDescriptor.pipe() } catch { throw SubmissionError(error) }
    }

    /// Waits for the helper's `I <id>` line; throws its error if it failed instead.
    public func queueID() throws(SubmissionError) -> String {
        while true {
            if let nl = answer.firstIndex(of: ASCII.lf) {
                let line = String(decoding: answer[..<nl], as: UTF8.self)
                if line.hasPrefix("I ") { return String(line.dropFirst(2)) }
                throw failure()
            }
            var chunk = [UInt8].unfilled(512)
            let n = (try? fromHelper?.read(into: &chunk)) ?? 0
            if n == 0 { throw failure() }
            answer += chunk[0..<n]
        }
    }

    /// Queues one record (buffered; written in large pipe writes).
    public func send(_ type: RecordType, _ payload: UnsafeRawBufferPointer) throws(SubmissionError) {
        RecordEncoder.append(type, payload, to: &buffer)
        if buffer.count >= 1 << 17 { try flush() }
    }

    /// Queues one record without a payload (end, flush).
    public func send(_ type: RecordType) throws(SubmissionError) {
        try send(type, UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Queues one record.
    public func send(_ type: RecordType, _ text: String) throws(SubmissionError) {
        try Array(text.utf8).withBytes { (raw) throws(SubmissionError) in try send(type, raw) }
    }

    /// Queues message octets as content records of at most 64 KiB.
    public func sendContent(_ bytes: [UInt8]) throws(SubmissionError) {
        var offset = 0
        while offset < bytes.count {
            let n = min(RecordLimits.maxContentPayload, bytes.count - offset)
            try bytes.withBytes { (raw) throws(SubmissionError) in
                try send(.content, UnsafeRawBufferPointer(rebasing: raw[offset..<offset + n]))
            }
            offset += n
        }
    }

    private func flush() throws(SubmissionError) {
        if buffer.isEmpty || writeFailed { return }
        do throws(SystemError) {
            guard toHelper?.rawValue != nil else { throw SystemError("write", path: "drop helper", errno: EPIPE) }
            try toHelper?.writeAll(buffer)
            buffer.removeAll(keepingCapacity: true)
        } catch {
            // The helper is gone (EPIPE): its own reason is better than ours.
            writeFailed = true
            throw failure()
        }
    }

    /// Sends the end record and waits for the helper to commit; returns the queue ID.
    public func finish() throws(SubmissionError) -> String {
        try send(.end)
        try flush()
        let id = try queueID()
        toHelper = nil
        finished = true
        let status = waitForExit()
        // Its reason (`E …` after the ID) is still to be read from this pipe.
        if status != 0 { throw failure(status: status) }
        fromHelper = nil
        return id
    }

    /// Abandons the message: closes the stream without an end record, so the helper
    /// removes its unfinished file.
    public func abort() {
        guard !finished else { return }
        finished = true
        toHelper = nil
        _ = waitForExit()
        fromHelper = nil
    }

    private var exitStatus: Int32?

    private func waitForExit() -> Int32 {
        if let exitStatus { return exitStatus }
        // No status is no success: 75 (EX_TEMPFAIL) unless the helper's own exit was seen.
        let code = ChildProcess.exitCode(of: pid) ?? 75
        exitStatus = code
        return code
    }

    private func failure(status: Int32? = nil) -> SubmissionError {
        if !finished {
            finished = true
            toHelper = nil
        }
        let code = status ?? waitForExit()
        var chunk = [UInt8].unfilled(4096)
        while let n = try? fromHelper?.read(into: &chunk), n > 0 { answer += chunk[0..<n] }
        fromHelper = nil
        let lines = answer.split(separator: ASCII.lf).map { String(decoding: $0, as: UTF8.self) }
        let reason =
            lines.first(where: { $0.hasPrefix("E ") }).map { String($0.dropFirst(2)) }
            ?? "drop helper failed with status \(code)"
        // A failure is never reported as 0, whatever the helper said.
        return SubmissionError(code == 0 ? .tempFail : ExitCode(rawValue: code) ?? .tempFail, reason)
    }
}
