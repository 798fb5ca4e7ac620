import OutboxSubmit
import Testing

@Suite("SendmailArguments parses the command lines real programs use")
struct SendmailArgumentsTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let line: [String]
        let check: @Sendable (SendmailOptions) -> Bool
        var testDescription: String { line.joined(separator: " ") }
    }

    static let accepted: [Case] = [
        // Debian cron, cronie, anacron, atd
        Case(line: ["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"]) {
            $0.fullName == "CronDaemon" && $0.ignoreDots && $0.bodyType == "8BITMIME" && $0.recipients == ["root"]
        },
        Case(line: ["-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root"]) {
            $0.extractRecipients && $0.sender == "root" && $0.recipients.isEmpty
        },
        Case(line: ["-FAnacron", "-odi", "a@x,b@y"]) { $0.fullName == "Anacron" && $0.recipients == ["a@x,b@y"] },
        Case(line: ["-i", "user"]) { $0.ignoreDots && $0.recipients == ["user"] && $0.mode == .deliver },
        // PHP mail(), PHPMailer with duplicates, mailx, sudo, fail2ban, apt
        Case(line: ["-t", "-i"]) { $0.extractRecipients && $0.ignoreDots },
        Case(line: ["-t", "-i", "-oi", "-fsite@x.test", "-t"]) { $0.extractRecipients && $0.sender == "site@x.test" },
        Case(line: ["-t"]) { $0.extractRecipients && !$0.ignoreDots },
        Case(line: ["-f", "fail2ban", "root"]) { $0.sender == "fail2ban" && !$0.ignoreDots && $0.recipients == ["root"] },
        Case(line: ["-oi", "-t"]) { $0.ignoreDots && $0.extractRecipients },
        // git send-email, mutt (with --), bundled and joined forms
        Case(line: ["-i", "-f", "me@x", "--", "a@x", "-b@x"]) { $0.recipients == ["a@x", "-b@x"] && $0.sender == "me@x" },
        Case(line: ["-oem", "-oi", "-B", "8BITMIME", "-N", "failure,delay", "-R", "hdrs", "-f", "m@x", "--", "a@x"]) {
            $0.dsnNotify == "FAILURE,DELAY" && $0.dsnReturn == "HDRS" && $0.bodyType == "8BITMIME" && $0.recipients == ["a@x"]
        },
        Case(line: ["-ti"]) { $0.extractRecipients && $0.ignoreDots },
        Case(line: ["-itfuser@x"]) { $0.extractRecipients && $0.ignoreDots && $0.sender == "user@x" },
        Case(line: ["-N", "never", "-V", "env-1", "a@x"]) { $0.dsnNotify == "NEVER" && $0.envelopeID == "env-1" },
        Case(line: ["-r", "x@y", "a@x"]) { $0.sender == "x@y" },
        Case(line: ["-f", "", "a@x"]) { $0.sender == "" },
        // Modes
        Case(line: ["-bp"]) { $0.mode == .listQueue },
        Case(line: ["-b", "s"]) { $0.mode == .smtp },
        Case(line: ["-bi"]) { $0.mode == .initAliases },
        Case(line: ["-I"]) { $0.mode == .initAliases },
        Case(line: ["-bv", "a@x"]) { $0.mode == .verify && $0.recipients == ["a@x"] },
        Case(line: ["-q"]) { $0.mode == .flush },
        Case(line: ["-q30m"]) { $0.mode == .flush },
        Case(line: ["-bm", "a@x"]) { $0.mode == .deliver },
        Case(line: ["-v", "-C", "/tmp/x.conf", "a@x"]) { $0.verbose && $0.configPath == "/tmp/x.conf" },
        // Accepted and ignored
        Case(line: ["-Am", "-Ac", "-G", "-h", "5", "-L", "label", "-n", "-U", "-o7", "-o8", "-om", "-oXfoo", "-X", "/tmp/log", "a@x"]) {
            $0.recipients == ["a@x"] && $0.mode == .deliver
        },
        Case(line: ["-odb", "-odq", "-oee", "-O", "Timeout=1", "-e", "m", "-p", "smtp", "-c", "-x", "-m", "a@x"]) { $0.recipients == ["a@x"] },
        // Parsing stops at the first non-option word (Postfix's getopt "+").
        Case(line: ["a@x", "-t"]) { !$0.extractRecipients && $0.recipients == ["a@x", "-t"] },
        Case(line: ["-"]) { $0.recipients == ["-"] },
    ]

    @Test("accepted command line", arguments: accepted)
    func parses(_ c: Case) throws {
        let options = try SendmailArguments.parse(c.line)
        #expect(c.check(options), "\(options)")
    }

    static let refused: [([String], String)] = [
        (["-d"], "unknown option -d"),
        (["-t", "-Z"], "unknown option -Z"),
        (["--help"], "unknown option --help"),
        (["-t", "--version"], "unknown option --version"),
        (["-f"], "option -f requires a value"),
        (["-B", "binary"], "-B binary"),
        (["-N", "sometimes"], "-N sometimes"),
        (["-R", "most"], "-R most"),
        (["-V", "a=b"], "-V a=b"),
        (["-bd"], "-bd"),
        (["-bt"], "unsupported mode -bt"),
    ]

    @Test("refused command line", arguments: refused)
    func refuses(_ line: [String], _ message: String) {
        #expect {
            try SendmailArguments.parse(line)
        } throws: { error in
            (error as? UsageError).map { $0.description.contains(message) && $0.exitCode == .usage } ?? false
        }
    }

    @Test("argv[0] selects mailq and newaliases")
    func invokedAs() throws {
        #expect(try SendmailArguments.parse([], invokedAs: "mailq").mode == .listQueue)
        #expect(try SendmailArguments.parse([], invokedAs: "newaliases").mode == .initAliases)
        #expect(try SendmailArguments.parse(["-t"], invokedAs: "sendmail").mode == .deliver)
    }
}
