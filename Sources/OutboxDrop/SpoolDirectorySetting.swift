import OutboxCore

/// The one setting the set-id drop helper needs from outbox.conf, read with the full
/// parser's logical-line rules (`LogicalLines`) but without linking it: the helper's code
/// stays small enough to audit (issue 11). The last `spool_directory` wins, as in the
/// full parser; a test checks the two agree.
public enum SpoolDirectorySetting {
    /// The spool root that `text` sets, or the built-in one; nil with a reason when the
    /// value is not an absolute path.
    public static func parse(_ text: String) -> Result<String, SpoolDirectoryError> {
        var spool = InstalledPaths.spoolDirectory
        let lines = LogicalLines.split(text) { (_: Int) throws(Never) in }
        for line in lines {
            guard let eq = line.text.firstIndex(of: "="), ASCII.trimmed(line.text[..<eq]) == "spool_directory" else { continue }
            let value = String(ASCII.trimmed(line.text[line.text.index(after: eq)...]))
            guard value.hasPrefix("/") else { return .failure(SpoolDirectoryError(line: line.number)) }
            spool = value
        }
        return .success(spool)
    }
}

/// spool_directory is not an absolute path.
public struct SpoolDirectoryError: Error, Equatable {
    public let line: Int
}
