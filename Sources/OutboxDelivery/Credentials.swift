import COutboxDaemon
import Glibc
import OutboxConfig
import OutboxCore

/// The SMTP AUTH password, read when a session needs it and never logged.
public enum Credentials {
    /// Reads the password per config: the first line of `auth_password_file` (refused when
    /// other users may read it), or the standard output of `auth_password_command`.
    public static func password(_ config: Config) throws(SessionError) -> [UInt8] {
        if let path = config.authPasswordFile {
            let fd: FileDescriptor
            do { fd = try FileDescriptor.open(path, flags: O_RDONLY | O_NOFOLLOW) } catch {
                throw .credentials("auth_password_file \(error)")
            }
            defer { fd.close() }
            let st: stat
            var bytes: [UInt8] = []
            defer { bytes.wipe() }
            do {
                st = try fd.status()
                bytes = try fd.readToEnd(limit: 65536)
            } catch { throw .credentials("auth_password_file \(error)") }
            if st.st_mode & 0o007 != 0 {
                throw .credentials("auth_password_file \(path) is accessible to other users (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 0640 and chown root:outbox")
            }
            return firstLine(bytes)
        }
        if let command = config.authPasswordCommand {
            return try run(command)
        }
        throw .credentials("auth_username is set but neither auth_password_file nor auth_password_command is")
    }

    static func firstLine(_ bytes: [UInt8]) -> [UInt8] {
        var line = Array(bytes.prefix { $0 != 10 })
        if line.last == 13 { line.removeLast() }
        return line
    }

    /// Runs `/bin/sh -c command` with stdout on a pipe; the only child that ever sees a secret.
    static func run(_ command: String) throws(SessionError) -> [UInt8] {
        let pipe: (read: FileDescriptor, write: FileDescriptor)
        do { pipe = try FileDescriptor.pipe() } catch { throw .credentials("auth_password_command: \(error)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipe.write.rawValue, 1)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // Nothing else outboxd holds (sessions, the queue lock, descriptors its parent left
        // open: found by the tests) reaches the command.
        guard coutbox_spawn_close_from(&actions, 3) == 0 else { throw .credentials("auth_password_command: cannot prepare the child's descriptors") }
        let args = ["/bin/sh", "-c", command]
        let cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, cargs, environ)
        pipe.write.close()
        defer { pipe.read.close() }
        guard rc == 0 else { throw .credentials("auth_password_command: cannot run /bin/sh: \(String(cString: strerror(rc)))") }
        var output = (try? pipe.read.readToEnd(limit: 65536)) ?? []
        defer { output.wipe() }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else { throw .credentials("auth_password_command exited with status \((status >> 8) & 0xFF)") }
        return firstLine(output)
    }
}
