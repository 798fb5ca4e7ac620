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
}
