import OutboxCore

/// What `sendmail` was asked to do.
public enum SendmailMode: Equatable, Sendable {
    /// -bm (default): read one message from stdin and queue it.
    case deliver
    /// -bp, `mailq`: list the queue.
    case listQueue
    /// -bs: SMTP dialogue on stdin/stdout.
    case smtp
    /// -bi, -I, `newaliases`: check the aliases file.
    case initAliases
    /// -bv: show what each recipient resolves to; send nothing.
    case verify
    /// -q: ask outboxd to retry deferred mail now.
    case flush
}

/// The parsed sendmail command line.
public struct SendmailOptions: Equatable, Sendable {
    public var mode = SendmailMode.deliver
    /// -t: take recipients from To/Cc/Bcc (or Resent-To/Cc/Bcc).
    public var extractRecipients = false
    /// -i / -oi: a lone `.` line is data, not the end of input.
    public var ignoreDots = false
    /// -f / -r, as given (validated later, when the domain is known).
    public var sender: String?
    /// -F: full name for an added From:.
    public var fullName: String?
    /// -B: declared body type, "7BIT" or "8BITMIME".
    public var bodyType: String?
    /// -N: DSN NOTIFY value, normalised ("NEVER" or e.g. "FAILURE,DELAY").
    public var dsnNotify: String?
    /// -R: DSN RET value, "FULL" or "HDRS".
    public var dsnReturn: String?
    /// -V: DSN ENVID.
    public var envelopeID: String?
    /// -v: report the queue ID.
    public var verbose = false
    /// -C: alternate configuration file.
    public var configPath: String?
    /// Recipient arguments, each possibly a comma list.
    public var recipients: [String] = []

    public init() {}
}

/// A command-line problem: exit 64 with one line.
public struct UsageError: AdminError, Equatable {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { "\(problem) (usage: sendmail [options] [--] [recipient ...]; see sendmail(8))" }
    public var exitCode: ExitCode { .usage }
}
