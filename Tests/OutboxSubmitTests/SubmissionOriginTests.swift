import OutboxCore
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

    @Test("the parent pid and command name from /proc/PID/stat, also when the name holds ') '; the name is /proc/PID/comm's")
    func statParent() throws {
        #expect(SubmissionOrigin.statParent("1234 (bash) S 1200 1234 1234 0 -1") == 1200)
        #expect(SubmissionOrigin.statParent("1234 (a) b) S 99 1 1") == 99)
        #expect(SubmissionOrigin.statParent("garbage") == nil)
        #expect(SubmissionOrigin.statCommand("1234 (bash) S 1200 1234 1234 0 -1") == "bash")
        #expect(SubmissionOrigin.statCommand("1234 (a) b) S 99 1 1") == "a) b")
        #expect(SubmissionOrigin.statCommand("1234 (php-fpm: pool www) S 99 1 1") == "php-fpm: pool www")
        #expect(SubmissionOrigin.statCommand("garbage") == nil)
        #expect(SubmissionOrigin.statCommand("1 )x( S") == nil)
        let stat = try String(contentsOfFile: "/proc/self/stat", encoding: .utf8)
        let comm = try String(contentsOfFile: "/proc/self/comm", encoding: .utf8)
        #expect(SubmissionOrigin.statCommand(stat).map { $0 + "\n" } == comm)
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

    @Test("whatever the caller's names and arguments, the text is an ORIGIN outboxd accepts")
    func textIsValidOrigin() {
        let nasty = ["a\"b", "\\", "x y", "\u{1b}[31m", " login=root job=cron", "\"", "", "caf\u{e9}", "\u{202e}"]
        for value in nasty {
            var origin = SubmissionOrigin(unit: value, job: "cron")
            origin.caller = .init(pid: 5, executable: value, command: value, arguments: [value, value], parent: 4)
            origin.callerParent = .init(pid: 4, executable: value, command: value)
            let text = origin.text(login: value)
            #expect(EnvelopeSyntax.originProblem(text) == nil, "\(text)")
            #expect(EnvelopeSyntax.parameterProblem("ORIGIN=" + text) == nil)
        }
    }

    @Test(
        "ORIGIN that does not read as key=value fields is refused",
        arguments: [
            "login=a\" job=cron", "login=a  job=cron", "login=a ", " login=a", "=a", "cmd=\"open", "cmd=\"a\"b", "Login=a", "login",
            "login=a\u{7f}", "login=\u{e9}",
            // Regression (review): fields that read as the pickup line's own, repeated or
            // unknown keys.
            "login=bob uid=0 from=<root@example.com>", "login=a login=b", "job=cron login=a", "exe=/x comm=y exe=/z", "x=1",
        ])
    func malformedOrigin(_ value: String) {
        #expect(EnvelopeSyntax.originProblem(value) != nil)
        #expect(EnvelopeSyntax.parameterProblem("ORIGIN=" + value) != nil)
    }

    @Test("a parameter a later outbox writes is accepted when it is an uppercase keyword with a printable value")
    func extensionParameters() {
        for ok in ["X-LATER=1", "LATER", "A1-B=printable~value", "Z=" + String(repeating: "v", count: 1000)] {
            #expect(EnvelopeSyntax.parameterProblem(ok) == nil, "\(ok)")
        }
        for bad in [
            "later=1", "1X=1", "X_Y=1", "X=a b", "X=\u{e9}", "X=a\u{1b}", "X=" + String(repeating: "v", count: 1001),
            String(repeating: "K", count: 33),
        ] {
            #expect(EnvelopeSyntax.parameterProblem(bad) != nil, "\(bad)")
        }
    }

    @Test(
        "secrets typed on the caller's command line are masked before cmd= records it",
        arguments: [
            (["curl", "-u", "alice:s3cret", "https://x.test/"], "curl -u alice:*** https://x.test/"),
            (["curl", "--user", "alice:s3cret"], "curl --user alice:***"),
            (["curl", "-ualice:s3cret"], "curl -ualice:***"),
            (["wget", "https://bob:pw@x.test/a?token=abc&x=1"], "wget https://bob:***@x.test/a?token=***&x=1"),
            (["mysqldump", "-ps3cret", "-u", "root", "db"], "mysqldump -p*** -u root db"),
            (["mysqldump", "-p", "s3cret", "db"], "mysqldump -p *** db"),
            (
                ["tool", "--password=s3cret", "--api-key", "k", "--client-secret=z", "--verbose"],
                "tool --password=*** --api-key *** --client-secret=*** --verbose"
            ),
            (["sh", "-c", "PGPASSWORD=pw pg_dump db | mail -s x root"], "sh -c PGPASSWORD=*** pg_dump db | mail -s x root"),
            (["curl", "-H", "Authorization: Bearer eyJ0", "x"], "curl -H Authorization: *** x"),
            // Regression (review): the command line was joined and split at spaces, so a
            // value with spaces was masked only to its first space, and these leaked.
            (["curl", "-H", "Authorization: token ghp_abc", "x"], "curl -H Authorization: *** x"),
            (["curl", "-H", "X-Api-Key: k1 k2", "-H", "PRIVATE-TOKEN: t"], "curl -H X-Api-Key: *** -H PRIVATE-TOKEN: ***"),
            (["curl", "--proxy-user", "u:p w", "--user=a:b c"], "curl --proxy-user u:*** --user=a:***"),
            (["git", "clone", "https://ghp_TOKEN@github.com/o/r"], "git clone https://***@github.com/o/r"),
            (["ldapsearch", "-x", "-D", "cn=admin", "-w", "s3 cret"], "ldapsearch -x -D cn=admin -w ***"),
            (["redis-cli", "-a", "pw", "ping"], "redis-cli -a *** ping"),
            (["smbclient", "//srv/share", "-U", "DOM\\user%pw"], "smbclient //srv/share -U DOM\\user%***"),
            (["lftp", "-u", "user,pw", "ftp.test"], "lftp -u user,*** ftp.test"),
            (["plink", "-pw", "pw", "host"], "plink -pw *** host"),
            (["mysqldump", "-p", "pass phrase", "db"], "mysqldump -p *** db"),
            (["mutt", "-e", "set smtp_pass = pw", "-s", "x"], "mutt -e set smtp_pass = *** -s x"),
            (["mutt", "-e", "set smtp_pass=\"p w\"; set x=1"], "mutt -e set smtp_pass=***; set x=1"),
            (["sh", "-c", "redis-cli -a pw get k | mail -s k root"], "sh -c redis-cli -a *** get k | mail -s k root"),
            (["grep", "-w", "word", "file"], "grep -w word file"),
            (["wget", "--header=Authorization: token abc d"], "wget --header=Authorization: ***"),
            (["php", "/srv/app/cron.php", "--mode=daily"], "php /srv/app/cron.php --mode=daily"),
            (["ssh", "-p", "22", "host"], "ssh -p *** host"),
            // Regression (review): a quoted header inside a script, and headers without a
            // space after the colon, leaked.
            (["sh", "-c", "curl -H \"Authorization: Bearer abc\" https://x.test/"], "sh -c curl -H \"Authorization: ***\" https://x.test/"),
            (["curl", "-H", "X-Api-Key:abc", "x"], "curl -H X-Api-Key:*** x"),
            (["curl", "-H", "Authorization:Bearer abc", "x"], "curl -H Authorization:*** x"),
            (["sh", "-c", "curl -H 'PRIVATE-TOKEN:t1' x"], "sh -c curl -H 'PRIVATE-TOKEN:***' x"),
            (["ssh", "auth.example.com:22"], "ssh auth.example.com:22"),
            // Regression (second review): the header rule took over -p with a colon in the password.
            (["mysql", "-pMonkey:123", "db"], "mysql -p*** db"),
            (["curl", "-H", "X-Api-Key:abc", "-H", "Authorization:", "t1", "x"], "curl -H X-Api-Key:*** -H Authorization: *** x"),
            // Regression (second review): quotes inside a script word, JSON bodies and a
            // quoted assignment with a separator in it leaked.
            (["sh", "-c", "curl --header=\"Authorization: Bearer x1\" u"], "sh -c curl --header=Authorization: *** u"),
            (["sh", "-c", "curl -H\"Authorization: Bearer x1\" u"], "sh -c curl -HAuthorization: *** u"),
            (["sh", "-c", "echo $(curl -H \"X-Api-Key: x1\") | mail root"], "sh -c echo $(curl -H X-Api-Key: *** | mail root"),
            (["sh", "-c", "curl -d '{\"api_key\":\"x1\",\"n\":1}' u"], "sh -c curl -d '{\"api_key\":\"***\",\"n\":1}' u"),
            (
                ["curl", "-d", "{\"client_secret\": \"x 1\", \"token\": 12, \"user\": \"bob\"}"],
                "curl -d {\"client_secret\": \"***\", \"token\": ***, \"user\": \"bob\"}"
            ),
            (["sh", "-c", "PGPASSWORD='a;b' pg_dump db"], "sh -c PGPASSWORD=*** pg_dump db"),
        ])
    func maskedCommandLine(_ arguments: [String], _ expected: String) {
        #expect(CommandLineSecrets.masked(arguments) == expected)
    }

    @Test("the recorded cmd= holds no secret from the command line")
    func fieldsMaskSecrets() {
        var origin = SubmissionOrigin()
        origin.caller = .init(pid: 5, executable: "/usr/bin/curl", command: "curl", arguments: ["curl", "-u", "a:hunter2", "smtp://x"], parent: 4)
        let text = origin.text(login: "u")
        #expect(text.contains("cmd=\"curl -u a:*** smtp://x\"") && !text.contains("hunter2"), "\(text)")
    }
}
