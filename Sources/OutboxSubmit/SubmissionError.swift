import OutboxCore

/// A submission failed: exit code and one line for stderr (or an SMTP reply in -bs).
public struct SubmissionError: AdminError, Equatable {
    public let code: ExitCode
    public let problem: String
    public init(_ code: ExitCode, _ problem: String) {
        self.code = code
        self.problem = problem
    }
    public var description: String { problem }
    public var exitCode: ExitCode { code }

    /// Another part's failure (a usage error, the configuration, a system call): its exit
    /// code and its line unchanged. OutboxSubmit throws only this type, as
    /// sendmail is also built as Embedded Swift, which has no `any Error`.
    public init(_ error: some AdminError) {
        code = error.exitCode
        problem = error.description
    }
}
