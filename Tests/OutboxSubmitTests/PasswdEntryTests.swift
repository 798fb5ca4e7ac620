import Glibc
import OutboxSubmit
import Testing

@Suite("the caller's passwd entry: getent(1)'s line, and getent itself")
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
}
