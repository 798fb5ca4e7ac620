import Testing

@testable import OutboxSubmit

@Suite("the submitting program's origin, from /proc texts")
struct SubmissionOriginTests {
    @Test("the unit from cgroup v2 and v1 texts")
    func units() {
        #expect(SubmissionOrigin.unit(fromCGroup: "0::/system.slice/cron.service\n") == "cron.service")
        #expect(SubmissionOrigin.unit(fromCGroup: "0::/user.slice/user-1000.slice/session-3.scope\n") == "session-3.scope")
        #expect(
            SubmissionOrigin.unit(fromCGroup: "0::/user.slice/user-1000.slice/user@1000.service/app.slice/backup.service\n") == "backup.service")
        #expect(SubmissionOrigin.unit(fromCGroup: "12:pids:/\n1:name=systemd:/system.slice/php8.2-fpm.service\n0::/\n") == nil)
        #expect(SubmissionOrigin.unit(fromCGroup: "1:name=systemd:/system.slice/php8.2-fpm.service\n") == "php8.2-fpm.service")
        #expect(SubmissionOrigin.unit(fromCGroup: "0::/\n") == nil)
    }

    @Test("the parent pid from /proc/PID/stat, also when the command name holds ') '")
    func statParent() {
        #expect(SubmissionOrigin.statParent("1234 (bash) S 1200 1234 1234 0 -1") == 1200)
        #expect(SubmissionOrigin.statParent("1234 (a) b) S 99 1 1") == 99)
        #expect(SubmissionOrigin.statParent("garbage") == nil)
    }

    @Test("the text: printable, no spaces inside values but the quoted command line, bounded")
    func text() {
        var origin = SubmissionOrigin(unit: "cron.service", job: "cron")
        origin.caller = .init(pid: 5, executable: "/usr/bin/my prog", command: "x\u{1b}y", arguments: ["php", "/srv/a \"b\".php"], parent: 4)
        origin.callerParent = .init(pid: 4, executable: nil, command: "cron")
        #expect(
            origin.text(login: "www-data")
                == "login=www-data exe=/usr/bin/my\\x20prog comm=x\\x1by cmd=\"php /srv/a \\x22b\\x22.php\" parent_comm=cron unit=cron.service job=cron"
        )
        origin.caller?.arguments = [String(repeating: "a", count: 5000)]
        origin.callerParent?.executable = String(repeating: "/p", count: 400)
        let long = origin.text(login: "u")
        #expect(long.utf8.count <= SubmissionOrigin.maximumLength && long.hasSuffix("job=cron"))
        #expect(long.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F })
    }
}
