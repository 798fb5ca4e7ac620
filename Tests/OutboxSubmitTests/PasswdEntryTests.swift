import Glibc
import OutboxSubmit
import Testing

@Suite("the caller's passwd entry: getent(1)'s line, getent itself, and /etc/passwd as the installed sendmail reads it")
struct PasswdEntryTests {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test("a whole line gives the name and the GECOS field")
    func wholeLine() {
        #expect(
            PasswdEntry.parse(bytes("ldapuser:x:4243:4243:Lena Dap,Room 5,,:/home/ldapuser:/bin/sh\n"), uid: 4243)
                == PasswdEntry(name: "ldapuser", gecos: "Lena Dap,Room 5,,"))
        #expect(PasswdEntry.parse(bytes("svc:*:77:77::/:/usr/sbin/nologin"), uid: 77) == PasswdEntry(name: "svc", gecos: ""))
    }

    @Test("another uid, too few or too many fields, no name, or nothing: no entry")
    func refused() {
        #expect(PasswdEntry.parse(bytes("root:x:0:0:root:/root:/bin/bash\n"), uid: 4243) == nil)
        #expect(PasswdEntry.parse(bytes("ldapuser:x:4243:4243:/home:/bin/sh\n"), uid: 4243) == nil)
        #expect(PasswdEntry.parse(bytes("ldapuser:x:4243:4243:g:/home:/bin/sh:extra\n"), uid: 4243) == nil)
        #expect(PasswdEntry.parse(bytes(":x:4243:4243:g:/home:/bin/sh\n"), uid: 4243) == nil)
        #expect(PasswdEntry.parse(bytes("ldapuser:x:42430:4243:g:/home:/bin/sh\n"), uid: 4243) == nil)
        #expect(PasswdEntry.parse([], uid: 0) == nil)
        // Names that could not stand before the @ as they are.
        for name in ["lena dap", "a<b", "x\ry", "caf\u{E9}", "a,b", "a@b", ".a", "a.", "a..b", "\"q\""] {
            #expect(PasswdEntry.parse(bytes("\(name):x:4243:4243:g:/home:/bin/sh\n"), uid: 4243) == nil, "\(name)")
        }
        #expect(PasswdEntry.parse(bytes("first.last-2_x:x:4243:4243:g:/home:/bin/sh\n"), uid: 4243)?.name == "first.last-2_x")
    }

    @Test("only the first line counts")
    func firstLine() {
        #expect(PasswdEntry.parse(bytes("a:x:5:5:A:/:/bin/sh\nb:x:6:6:B:/:/bin/sh\n"), uid: 5)?.name == "a")
        #expect(PasswdEntry.parse(bytes("a:x:5:5:A:/:/bin/sh\nb:x:6:6:B:/:/bin/sh\n"), uid: 6) == nil)
    }

    @Test("the real getent finds root, and nothing for a uid no source knows")
    func realGetent() throws {
        try #require(access("/usr/bin/getent", X_OK) == 0, "getent (libc-bin) is essential")
        #expect(PasswdEntry.fromGetent(uid: 0)?.name == "root")
        #expect(PasswdEntry.fromGetent(uid: 3_999_999_999) == nil)
        #expect(PasswdEntry.fromGetent(uid: 0, program: "/nonexistent/getent") == nil)
        // More than an entry's worth of output, without end (yes(1) repeats its arguments):
        // refused, and the writer is not waited for while it still writes (review, helper-14).
        #expect(PasswdEntry.fromGetent(uid: 0, program: "/usr/bin/yes") == nil)
    }

    /// A passwd file with `text` in a fresh directory (removed with `removePasswdFile`).
    func passwdFile(_ text: [UInt8]) throws -> String {
        var template = Array("/tmp/outbox-passwd-XXXXXX".utf8CString)
        let directory = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) })
        let path = directory + "/passwd"
        let fd = creat(path, 0o644)
        try #require(fd >= 0)
        _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        return path
    }

    func removePasswdFile(_ path: String) {
        unlink(path)
        rmdir(String(path.dropLast("/passwd".count)))
    }

    @Test("a passwd file: the first entry for the uid, as getpwuid finds it, across chunk boundaries")
    func passwdFileLookup() throws {
        // 40 000 bytes of other entries first: the wanted line crosses a 16 KiB read.
        var text = bytes("root:x:0:0:root:/root:/bin/bash\n# not an entry\nshort:line\n")
        for i in 0..<400 { text += bytes("user\(i):x:\(10_000 + i):100:User \(i):/home/u\(i):/bin/sh\n") }
        text += bytes("alice:x:4243:4243:Alice Liddell,Room 1,,:/home/alice:/bin/sh\nshadow:x:4243:4243:Second:/:/bin/sh\n")
        text += bytes("odd name:x:4244:4244:O:/:/bin/sh\nzeros:x:0042:42:Z:/:/bin/sh\nsigned:x:-43:43:S:/:/bin/sh\n")
        text += bytes("last:x:4245:4245:Last")
        let path = try passwdFile(text)
        defer { removePasswdFile(path) }
        #expect(PasswdEntry.fromFile(uid: 0, path: path) == .entry(PasswdEntry(name: "root", gecos: "root")))
        #expect(PasswdEntry.fromFile(uid: 10_399, path: path) == .entry(PasswdEntry(name: "user399", gecos: "User 399")))
        #expect(PasswdEntry.fromFile(uid: 4243, path: path) == .entry(PasswdEntry(name: "alice", gecos: "Alice Liddell,Room 1,,")))
        #expect(PasswdEntry.fromFile(uid: 4244, path: path) == .unusable)
        // The uid field is a number, as getpwuid reads it; a sign is not a digit.
        #expect(PasswdEntry.fromFile(uid: 42, path: path) == .entry(PasswdEntry(name: "zeros", gecos: "Z")))
        #expect(PasswdEntry.fromFile(uid: 43, path: path) == .absent)
        // The last line has no newline, and only six fields: not an entry.
        #expect(PasswdEntry.fromFile(uid: 4245, path: path) == .absent)
        #expect(PasswdEntry.fromFile(uid: 4246, path: path) == .absent)
        #expect(PasswdEntry.fromFile(uid: 0, path: path + ".missing") == .absent)
        // A last line without a newline still counts.
        let unterminated = try passwdFile(bytes("root:x:0:0:root:/root:/bin/bash\nbob:x:77:77:Bob:/:/bin/sh"))
        defer { removePasswdFile(unterminated) }
        #expect(PasswdEntry.fromFile(uid: 77, path: unterminated) == .entry(PasswdEntry(name: "bob", gecos: "Bob")))
        // A line longer than 64 KiB is passed over, and the next one still read.
        let long = try passwdFile(bytes("x:" + String(repeating: "y", count: 100_000) + "\nbob:x:77:77:Bob:/:/bin/sh\n"))
        defer { removePasswdFile(long) }
        #expect(PasswdEntry.fromFile(uid: 77, path: long) == .entry(PasswdEntry(name: "bob", gecos: "Bob")))
        // The tail of an over-long line is not read as an entry of its own (review,
        // helper-16: bytes past the first 64 KiB were parsed as a fresh line).
        let tail = "x:x:2000:2000:" + String(repeating: "y", count: 90_000) + "admin:x:77:77:Evil:/h:/bin/sh\n"
        let forged = try passwdFile(bytes(tail + "bob:x:77:77:Bob:/:/bin/sh\n"))
        defer { removePasswdFile(forged) }
        #expect(PasswdEntry.fromFile(uid: 77, path: forged) == .entry(PasswdEntry(name: "bob", gecos: "Bob")))
    }

    @Test("this system's /etc/passwd gives what getpwuid gives")
    func systemPasswd() throws {
        let pw = try #require(getpwuid(0))
        #expect(
            PasswdEntry.fromFile(uid: 0)
                == .entry(PasswdEntry(name: String(cString: pw.pointee.pw_name), gecos: String(cString: pw.pointee.pw_gecos))))
    }
}
