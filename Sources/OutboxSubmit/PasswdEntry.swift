import Glibc
import OutboxCore
import OutboxSupport

/// The caller's passwd entry: the login name for the envelope sender, the GECOS field for
/// an added From:.
public struct PasswdEntry: Equatable, Sendable {
    public let name: String
    public let gecos: String

    public init(name: String, gecos: String) {
        self.name = name
        self.gecos = gecos
    }

    /// getpwuid(3); in the installed sendmail, its own reading of /etc/passwd, then
    /// getent(1) for a uid not found there. That sendmail's C library (musl) reads only
    /// /etc/passwd and nscd, while getent is glibc's and asks every source nsswitch.conf
    /// names (LDAP, sssd, systemd's users, nscd), as the glibc builds' getpwuid does
    /// itself. nil also for an entry whose name cannot stand before the @ as it is (see
    /// isUsableName).
    public static func lookUp(uid: uid_t) -> PasswdEntry? {
        #if OUTBOX_MUSL
        // Not musl's getpwuid: its FILE is heap memory whose free unmapped a page, which
        // interrupted the other core (it had run the drop helper's exec in our memory).
        switch fromFile(uid: uid) {
        case .entry(let entry): return entry
        case .unusable: return nil
        case .absent: return fromGetent(uid: uid)
        }
        #else
        guard let pw = getpwuid(uid) else { return nil }
        let name = String(cString: pw.pointee.pw_name)
        guard isUsableName(Array(name.utf8)) else { return nil }
        return PasswdEntry(name: name, gecos: pw.pointee.pw_gecos.map { String(cString: $0) } ?? "")
        #endif
    }

    /// What a passwd file says of a uid.
    public enum FileLookup: Equatable, Sendable {
        case entry(PasswdEntry)
        /// Its first entry for the uid has a name that cannot be used (see isUsableName).
        case unusable
        /// No entry for the uid (or no file).
        case absent
    }

    /// The first entry for `uid` in a passwd file, as getpwuid finds it: lines of seven
    /// colon-separated fields, others skipped. Read in chunks, a line at a time.
    public static func fromFile(uid: uid_t, path: String = "/etc/passwd") -> FileLookup {
        guard let file = try? FileDescriptor.open(path, flags: O_RDONLY) else { return .absent }
        var chunk = [UInt8].unfilled(16384)
        var line: [UInt8] = []
        // Past 64 KiB a line is no entry: its bytes are dropped up to its newline.
        var skipping = false
        while true {
            // A read error ends the search: getent then answers, as for a missing file.
            guard let n = try? file.read(into: &chunk) else { return .absent }
            var start = 0
            for i in 0..<n where chunk[i] == ASCII.lf {
                if !skipping {
                    line += chunk[start..<i]
                    if let found = entry(line, uid: uid) { return found }
                }
                line.removeAll(keepingCapacity: true)
                skipping = false
                start = i + 1
            }
            if !skipping { line += chunk[start..<n] }
            if line.count > 1 << 16 {
                line.removeAll()
                skipping = true
            }
            if n == 0 { return skipping ? .absent : entry(line, uid: uid) ?? .absent }
        }
    }

    /// The entry a passwd line gives when its uid field is `uid`, else nil. The field is
    /// compared as a number, as the C library reads it ("0042" is 42).
    static func entry(_ line: [UInt8], uid: uid_t) -> FileLookup? {
        let fields = line.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard fields.count == 7, number(fields[2]) == UInt64(uid) else { return nil }
        guard isUsableName(Array(fields[0])) else { return .unusable }
        return .entry(PasswdEntry(name: String(decoding: fields[0], as: UTF8.self), gecos: String(decoding: fields[4], as: UTF8.self)))
    }

    /// Runs `getent passwd UID` with an empty environment (nothing of the caller's reaches
    /// it), stdin and stderr on /dev/null; nil when it fails or says something else.
    public static func fromGetent(uid: uid_t, program: String = "/usr/bin/getent") -> PasswdEntry? {
        guard let output = try? FileDescriptor.pipe() else { return nil }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output.write.rawValue, 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let noEnvironment: [UnsafeMutablePointer<CChar>?] = [nil]
        var child: pid_t = 0
        let rc = ChildProcess.withCStringArray([program, "passwd", String(uid)]) {
            posix_spawn(&child, program, &actions, nil, $0, noEnvironment)
        }
        let fromChild = output.keepingRead()  // the write end closes here: EOF when getent exits
        guard rc == 0 else { return nil }
        // An entry is one short line; more than 64 KiB is not one. Closing our end before
        // the wait ends a getent still writing (EPIPE) instead of waiting for it forever.
        let text = try? fromChild.readToEnd(limit: 1 << 16)
        fromChild.close()
        guard ChildProcess.exitCode(of: child) == 0, let text else { return nil }
        return parse(text, uid: uid)
    }

    /// A login name that can stand before the @ of the sender's address as it is: ASCII
    /// atoms joined by single dots (no blank, <, @, control character, quote or leading,
    /// trailing or doubled dot). A directory can hold other names (sssd's fully qualified
    /// `user@domain`); those callers are `#uid`.
    public static func isUsableName(_ name: [UInt8]) -> Bool {
        name.first != UInt8(ascii: "\"") && name.allSatisfy { $0 < 0x80 } && EnvelopeSyntax.localPartProblem(name[...]) == nil
    }

    /// A field of 1 to 10 decimal digits as a number; nil for anything else.
    static func number(_ field: ArraySlice<UInt8>) -> UInt64? {
        guard !field.isEmpty, field.count <= 10 else { return nil }
        var value: UInt64 = 0
        for b in field {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(b - UInt8(ascii: "0"))
        }
        return value
    }

    /// The first line of getent's output, `name:password:uid:gid:gecos:home:shell`; nil
    /// unless it has seven fields, this uid, and a usable name.
    public static func parse(_ text: [UInt8], uid: uid_t) -> PasswdEntry? {
        let line = text.split(separator: ASCII.lf, maxSplits: 1, omittingEmptySubsequences: false).first ?? []
        guard case .entry(let found) = entry(Array(line), uid: uid) else { return nil }
        return found
    }
}
