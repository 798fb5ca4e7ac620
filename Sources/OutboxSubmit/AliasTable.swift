import Glibc
import OutboxConfig
import OutboxCore
import OutboxMessage
import OutboxSupport

/// /etc/aliases in the classic format: `name: target, target` with continuation lines
/// starting with blanks and `#` comments. Read afresh at every submission, so a change
/// takes effect at once (there is no .db to rebuild).
public struct AliasTable: Sendable, Equatable {
    /// One expansion target.
    public enum Target: Sendable, Equatable {
        /// An address or local name.
        case address(Mailbox)
        /// A pipe, file or :include: target, or a malformed one: a null client cannot
        /// deliver it, so mail for it goes to admin_address.
        case unsupported(String)
    }

    /// Targets by lowercased name.
    public var entries: [String: [Target]] = [:]
    /// Problems found, each "file:line: text".
    public var warnings: [String] = []

    public init() {}

    /// Reads `path`; a missing file is an empty table (with no warning: many null-client
    /// hosts have none).
    public static func load(path: String) -> AliasTable {
        guard let text = ConfigLoader.readSmallFile(path) else {
            var table = AliasTable()
            if Errno.current != ENOENT { table.warnings.append("\(path): cannot read: \(String(cString: strerror(Errno.current)))") }
            return table
        }
        return parse(text, path: path)
    }

    /// Parses aliases text.
    public static func parse(_ text: String, path: String) -> AliasTable {
        var table = AliasTable()
        func finish(_ entry: (line: Int, text: String)) {
            guard let colon = entry.text.firstIndex(of: ":") else {
                table.warnings.append("\(path):\(entry.line): missing ':' in alias entry")
                return
            }
            var name = String(ASCII.trimmed(entry.text[..<colon]))
            if name.hasPrefix("\"") && name.hasSuffix("\"") && name.count >= 2 { name = String(name.dropFirst().dropLast()) }
            let key = ASCII.lowercased(name)
            guard !key.isEmpty, !key.contains(" ") else {
                table.warnings.append("\(path):\(entry.line): bad alias name '\(name)'")
                return
            }
            let targets = splitTargets(entry.text[entry.text.index(after: colon)...]).map { target(String($0), line: entry.line) }
            if targets.isEmpty {
                table.warnings.append("\(path):\(entry.line): alias '\(name)' has no targets")
                return
            }
            if table.entries[key] != nil {
                table.warnings.append("\(path):\(entry.line): duplicate alias '\(name)' (the later entry wins)")
            }
            table.entries[key] = targets
        }
        func target(_ text: String, line: Int) -> Target {
            let t = text.hasPrefix("\"") && text.hasSuffix("\"") && text.count >= 2 ? String(text.dropFirst().dropLast()) : text
            if t.hasPrefix("|") || t.hasPrefix("/") || t.lowercased().hasPrefix(":include:") {
                table.warnings.append(
                    "\(path):\(line): '\(t)': pipes, files and :include: are not delivered by a null client; mail goes to admin_address")
                return .unsupported(t)
            }
            do {
                let list = try EnvelopeAddress.parseArgument(t)
                if list.count == 1 { return .address(list[0]) }
            } catch {
                table.warnings.append("\(path):\(line): \(error); mail goes to admin_address")
            }
            return .unsupported(t)
        }
        let lines = LogicalLines.split(text) { number in
            table.warnings.append("\(path):\(number): continuation line without an alias before it")
        }
        for line in lines { finish((line.number, line.text)) }
        return table
    }

    /// Splits on commas outside double quotes.
    static func splitTargets(_ s: Substring) -> [Substring] {
        var out: [Substring] = []
        var quoted = false
        var start = s.startIndex
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c == "\"" { quoted.toggle() }
            if c == "," && !quoted {
                out.append(s[start..<i])
                start = s.index(after: i)
            }
            i = s.index(after: i)
        }
        out.append(s[start...])
        return out.map { ASCII.trimmed($0) }.filter { !$0.isEmpty }
    }
}
