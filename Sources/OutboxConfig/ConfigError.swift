import OutboxCore

/// A configuration problem, naming file and line.
public struct ConfigError: AdminError, Equatable {
    public let path: String
    public let line: Int?
    public let problem: String

    public init(path: String, line: Int?, _ problem: String) {
        self.path = path
        self.line = line
        self.problem = problem
    }

    public var description: String {
        if let line { return "\(path):\(line): \(problem)" }
        return "\(path): \(problem)"
    }

    public var exitCode: ExitCode { .config }
}
