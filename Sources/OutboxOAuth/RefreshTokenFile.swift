import Glibc
import OutboxCore
import OutboxSupport

/// The file holding the refresh token (`oauth_refresh_token_file`): read before every
/// refresh, and replaced durably when the provider rotates the token — written to a
/// temporary file, fsync'd, renamed over the old one and the directory fsync'd, all
/// before the new access token is used — so that a crash at any instant leaves either the
/// old token or the new one, complete. Refreshes by different processes (outboxd,
/// `outboxctl check`, `outboxctl oauth login`) take an exclusive lock on the directory.
public struct RefreshTokenFile: Sendable {
    public let path: String
    /// The directory holding the file (where the replacement and the lock happen).
    public var directory: String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
    var name: String { String(path[path.index(after: path.lastIndex(of: "/") ?? path.startIndex)...]) }

    public init(path: String) { self.path = path }

    /// What was read, and which file version it came from (to notice a replacement).
    public struct Contents: Sendable, Equatable {
        public var token: String
        public var version: String
    }

    /// The first line. Refused when other users may read it, it is not a regular file, or
    /// its directory lets other users replace it (a world-writable /tmp would let any
    /// local user swap in their own token, and with it their mailbox).
    public func read() throws(TokenEndpointError) -> Contents {
        var dirStatus = stat()
        guard stat(directory, &dirStatus) == 0 else {
            throw TokenEndpointError("oauth_refresh_token_file: \(directory): \(String(cString: strerror(errno)))")
        }
        guard dirStatus.st_mode & 0o022 == 0 else {
            throw TokenEndpointError(
                "oauth_refresh_token_file \(path): its directory \(directory) is writable by other users (mode \(String(dirStatus.st_mode & 0o7777, radix: 8))); use /var/lib/outbox"
            )
        }
        var (line, st) = try SecretFile.read(path, key: "oauth_refresh_token_file", forbiddenMode: 0o077, fix: "chmod 0600")
        defer { line.wipe() }
        guard !line.isEmpty, line.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw TokenEndpointError("oauth_refresh_token_file \(path) holds no refresh token (run outboxctl oauth login)")
        }
        return Contents(token: String(decoding: line, as: UTF8.self), version: "\(st.st_dev):\(st.st_ino):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)")
    }

    /// Replaces the token durably (mode 0600; the owner is the writing user, or `owner`
    /// when given and the writer may chown: root's `outboxctl oauth login` hands the file
    /// to outboxd's user).
    public func replace(with token: String, owner requested: (uid_t, gid_t)? = nil) throws(TokenEndpointError) {
        // Root replacing a file it does not own keeps the owner (outboxd must still read
        // and rotate it; found by review: `outboxctl check` as root left it root's).
        var owner = requested
        var old = stat()
        if owner == nil, geteuid() == 0, lstat(path, &old) == 0, old.st_uid != 0 { owner = (old.st_uid, old.st_gid) }
        let temporary = ".\(name).\(getpid()).tmp"
        do {
            let dir = try FileDescriptor.open(directory, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            _ = try? dir.unlink(temporary)
            let file = try dir.open(
                temporary, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o600, displayPath: directory + "/" + temporary)
            do {
                if let owner, fchown(file.rawValue, owner.0, owner.1) != 0 { throw SystemError("chown", path: directory + "/" + temporary) }
                var line = Array((token + "\n").utf8)
                defer { line.wipe() }
                try file.writeAll(line)
                try file.sync()
                file.close()
                try dir.rename(temporary, to: name, in: dir, path: path)
                try dir.sync()
            } catch {
                _ = try? dir.unlink(temporary)
                throw error
            }
        } catch { throw TokenEndpointError("cannot store the new refresh token in \(path): \(error); the previous one is kept") }
    }

    /// Runs `body` holding an exclusive lock on the token file's directory (flock(2) on
    /// the directory itself: no lock file to create, own or clean up).
    public func withLock<T>(_ body: () throws(TokenEndpointError) -> T) throws(TokenEndpointError) -> T {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(directory, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC) } catch {
            throw TokenEndpointError("oauth_refresh_token_file: cannot lock \(error)")
        }
        while flock(fd.rawValue, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw TokenEndpointError("oauth_refresh_token_file: cannot lock \(directory): \(String(cString: strerror(errno)))")
            }
        }
        return try body()
    }
}
