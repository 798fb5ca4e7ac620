/// Splits text into logical lines the way Postfix's main.cf and /etc/aliases are read: a
/// line whose first non-blank character is `#` is a comment, blank lines are skipped, and
/// a line starting with a blank continues the previous logical line.
public enum LogicalLines {
    /// One logical line and the number of its first physical line.
    public struct Line: Equatable, Sendable {
        public let number: Int
        public var text: String
    }

    /// The logical lines of `text`; a continuation with nothing before it is reported
    /// through `orphan` with its line number and dropped.
    public static func split<E: Error>(_ text: String, orphan: (Int) throws(E) -> Void) throws(E) -> [Line] {
        var lines: [Line] = []
        var number = 0
        // Split on the LF octet: as Characters, CR LF is one unit that is not "\n".
        for rawLine in text.utf8.split(separator: 10, omittingEmptySubsequences: false) {
            number += 1
            var line = Substring(rawLine)
            if line.utf8.last == 13 { line = Substring(line.utf8.dropLast()) }
            let trimmed = ASCII.trimmed(line)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if line.first == " " || line.first == "\t" {
                if lines.isEmpty {
                    try orphan(number)
                } else {
                    lines[lines.count - 1].text += " " + trimmed
                }
                continue
            }
            lines.append(Line(number: number, text: String(trimmed)))
        }
        return lines
    }
}
