import OutboxCore
import OutboxSupport

/// Masks what looks like a secret on a command line before sendmail records it (the cmd=
/// field of ORIGIN, which outboxd logs): passwords and tokens are typed on command lines
/// more often than they should be (`curl -u user:pass … | sendmail`, `mysqldump -pPASS`,
/// `PGPASSWORD=… pg_dump`, `-H 'Authorization: token …'`). A heuristic that errs towards
/// masking: `ssh -p 22` loses its port, never the other way round.
///
/// Each argv element is masked as a whole: a value that contains spaces is never cut at
/// the first one. An element that holds several words (a `sh -c` script, a header, a
/// mutt `-e` command) is masked word by word with the same rules, quotes kept together,
/// each command in it (after `|`, `;`, `&&`, `||`) with its own flags.
public enum CommandLineSecrets {
    /// Name parts that mark a value as secret (matched in lower case).
    static let secretWords = ["pass", "pwd", "token", "secret", "key", "auth", "credential", "cookie"]

    /// Flags whose value is user:password (curl, wget), user%password (smbclient) or
    /// user,password (lftp): what follows the first separator is masked.
    static let credentialPairFlags: Set<String> = ["-u", "-U", "--user", "--proxy-user", "--http-user"]

    /// Flags whose next argument is a secret for any command (`-pw`: PuTTY's plink).
    static let secretValueFlags: Set<String> = ["-p", "-pw", "bearer", "basic"]

    /// Flags whose next argument is a secret for one command only (elsewhere `-w` and `-a`
    /// mean something else).
    static let commandSecretFlags: [String: Set<String>] = {
        var table: [String: Set<String>] = ["redis-cli": ["-a"], "openssl": ["-k", "-K"], "sshpass": ["-p"]]
        for ldap in ["ldapsearch", "ldapadd", "ldapmodify", "ldapdelete", "ldapwhoami", "ldappasswd", "ldapcompare", "ldapmodrdn", "ldapexop"] {
            table[ldap] = ["-w"]
        }
        return table
    }()

    /// Words that run the command after them (`sudo -u www-data php …`, `env X=1 cmd`).
    static let wrappers: Set<String> = ["sudo", "env", "exec", "nohup", "nice", "ionice", "timeout", "time", "command", "xargs"]

    public static func masked(_ arguments: [String]) -> String {
        var words = Words()
        return arguments.map { words.maskElement($0) }.joined(separator: " ")
    }

    enum Mask { case none, whole, afterSeparator }

    /// The masking state along a sequence of words.
    struct Words {
        var next = Mask.none
        var atCommand = true
        var commandFlags: Set<String> = []
        var previous = ""
        /// The secret header's value began in the word itself (`X-Api-Key:abc`): the mask
        /// is already there.
        var maskedInline = false

        /// One argv element: masked whole when the word before it asked for that;
        /// otherwise word by word when it holds several.
        mutating func maskElement(_ element: String) -> String {
            let pending = next
            next = .none
            switch pending {
            case .whole: return "***"
            case .afterSeparator: return CommandLineSecrets.maskAfterSeparator(element)
            case .none: break
            }
            if CommandLineSecrets.looksLikeJSON(element) { return CommandLineSecrets.maskJSON(element) }
            // `--name=value`: one option, its value one argument however many words.
            if element.hasPrefix("-"), let eq = element.firstIndex(of: "="), element.contains(" ") {
                let name = String(element[..<eq])
                let value = String(element[element.index(after: eq)...])
                if CommandLineSecrets.credentialPairFlags.contains(name) { return name + "=" + CommandLineSecrets.maskAfterSeparator(value) }
                if CommandLineSecrets.isSecretName(name) { return name + "=***" }
                var inner = Words()
                return name + "=" + inner.maskElement(value)
            }
            let parts = CommandLineSecrets.shellWords(element)
            guard parts.count > 1 else {
                var rest = false
                let masked = maskWord(element, restOfElement: &rest)
                if rest && !maskedInline { next = .whole }
                return masked
            }
            var inner = Words()
            var out: [String] = []
            var rest = false
            for part in parts {
                if rest { break }
                let pending = inner.next
                inner.next = .none
                switch pending {
                case .whole:
                    out.append("***")
                    continue
                case .afterSeparator:
                    out.append(CommandLineSecrets.maskAfterSeparator(part))
                    continue
                case .none: break
                }
                out.append(inner.maskWord(part, restOfElement: &rest))
            }
            if rest && !inner.maskedInline { out.append("***") }
            return out.joined(separator: " ")
        }

        /// One word; sets `next` for the word after it, or `rest` when everything after it
        /// in the element is the secret (a header's value).
        mutating func maskWord(_ word: String, restOfElement rest: inout Bool) -> String {
            defer { previous = word }
            maskedInline = false
            if ["|", "||", "&&", ";", "&"].contains(word) {
                atCommand = true
                return word
            }
            var token = word
            // A quoted word in a script (`curl -H "Authorization: Bearer abc"`): its
            // inside is masked as an argument of its own, the quotes kept.
            if CommandLineSecrets.looksLikeJSON(word) { return CommandLineSecrets.maskJSON(word) }
            if let quote = word.first, quote == "'" || quote == "\"", word.count >= 2, word.last == quote,
                CommandLineSecrets.unquoted(word) == String(word.dropFirst().dropLast())
            {
                var inner = Words()
                atCommand = false
                return String(quote) + inner.maskElement(String(word.dropFirst().dropLast())) + String(quote)
            }
            // Quotes elsewhere in a word (`--header="Authorization: x"`, `-H"…"`,
            // `PGPASSWORD='a;b'`, `"X-Api-Key: x")`): judged as the shell hands it over
            // (found by review). Each pass removes a quote: this ends.
            if word.contains(where: { $0 == "'" || $0 == "\"" }) {
                let plain = CommandLineSecrets.unquoted(word)
                // `smtp_pass="p w";`, `--password='a b'`: the whole value, quotes and all.
                if let eq = plain.firstIndex(of: "="), CommandLineSecrets.isSecretName(plain[..<eq]) {
                    if word.hasSuffix(";") { atCommand = true }
                    return String(plain[...eq]) + "***" + (word.hasSuffix(";") ? ";" : "")
                }
                let masked =
                    plain.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" })
                    ? maskElement(plain) : maskWord(plain, restOfElement: &rest)
                // Nothing secret: the word as it was typed, quotes and all.
                return ASCII.contains("***", in: masked) ? masked : word
            }
            // `X-Api-Key:abc`, `Authorization:Bearer abc`: a header without the space.
            if !word.hasPrefix("-"), let colon = word.firstIndex(of: ":"), colon != word.startIndex, word.index(after: colon) != word.endIndex,
                word[..<colon].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }),
                CommandLineSecrets.isSecretName(word[..<colon]), !word[colon...].hasPrefix("://")
            {
                rest = true
                maskedInline = true
                return String(word[...colon]) + "***"
            }
            if atCommand {
                if let eq = word.firstIndex(of: "="), !word.hasPrefix("-") {
                    // An environment assignment before the command: still at the command;
                    // a secret one's value is all of the rest.
                    if CommandLineSecrets.isSecretName(word[..<eq]) { return String(word[...eq]) + "***" }
                    return CommandLineSecrets.maskPairs(word)
                }
                let name = String(word.split(separator: "/").last ?? Substring(word))
                if !CommandLineSecrets.wrappers.contains(name) {
                    atCommand = false
                    commandFlags = CommandLineSecrets.commandSecretFlags[name] ?? []
                }
            }
            if word.hasSuffix(";") { atCommand = true }
            let lower = word.lowercased()
            if commandFlags.contains(word) || CommandLineSecrets.secretValueFlags.contains(lower) {
                next = .whole
            } else if CommandLineSecrets.credentialPairFlags.contains(word) {
                next = .afterSeparator
            } else if lower.hasPrefix("-p"), !lower.hasPrefix("--"), lower.dropFirst(2).contains(where: { !$0.isLetter }) {
                // mysql's -pPASS with a digit or sign in it (a word in it must not decide).
                token = "-p***"
            } else if word.hasSuffix(":"), CommandLineSecrets.isSecretName(word) {
                // `Authorization: token abc`, `PRIVATE-TOKEN: abc`, `X-Api-Key: abc` (also
                // glued to a flag: `-HAuthorization: x`).
                rest = true
            } else if lower.hasPrefix("-"), !lower.contains("="), CommandLineSecrets.isSecretName(lower) {
                next = .whole
            } else if word == "=", CommandLineSecrets.isSecretName(previous) {
                // mutt's `set smtp_pass = pw`.
                next = .whole
            } else if word.hasSuffix("="), !word.hasPrefix("-"), CommandLineSecrets.isSecretName(word) {
                next = .whole
            } else if lower.hasPrefix("--user=") || lower.hasPrefix("--proxy-user=") || lower.hasPrefix("--http-user=") {
                let eq = word.firstIndex(of: "=")!
                token = String(word[...eq]) + CommandLineSecrets.maskAfterSeparator(String(word[word.index(after: eq)...]))
            } else if lower.hasPrefix("-u"), !lower.hasPrefix("--") {
                token = CommandLineSecrets.maskAfterSeparator(word)
            } else if lower.hasPrefix("-p"), !lower.hasPrefix("--") {
                token = "-p***"
            }
            return CommandLineSecrets.maskPairs(CommandLineSecrets.maskUserInfo(token))
        }
    }

    /// A word as the shell hands it over: quotes removed, what they enclosed kept (an
    /// unterminated quote runs to the end).
    static func unquoted(_ word: String) -> String {
        var out = ""
        var quote: Character?
        for c in word {
            if let q = quote {
                if c == q { quote = nil } else { out.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c
            } else {
                out.append(c)
            }
        }
        return out
    }

    static func looksLikeJSON(_ text: String) -> Bool {
        let start = text.drop { $0 == " " || $0 == "'" }
        return (start.hasPrefix("{\"") || start.hasPrefix("[{\"")) && text.contains(":")
    }

    /// `{"api_key": "x", "n": 1}` → `{"api_key": "***", "n": 1}`: the value of each member
    /// whose name is secret (a string's inside, or a bare value up to `,`, `}` or `]`).
    static func maskJSON(_ text: String) -> String {
        let chars = Array(text)
        var out = ""
        var i = 0
        var lastString = ""
        while i < chars.count {
            let c = chars[i]
            guard c == "\"" else {
                out.append(c)
                if c == ":" && isSecretName(lastString) {
                    i += 1
                    while i < chars.count, chars[i] == " " {
                        out.append(" ")
                        i += 1
                    }
                    if i < chars.count, chars[i] == "\"" {
                        out += "\"***\""
                        i += 1
                        while i < chars.count, chars[i] != "\"" { i += chars[i] == "\\" ? 2 : 1 }
                        i += 1
                    } else {
                        out += "***"
                        while i < chars.count, !",}] ".contains(chars[i]) { i += 1 }
                    }
                    lastString = ""
                    continue
                }
                if c != " " { lastString = "" }
                i += 1
                continue
            }
            // A string: copied, and remembered as the name of what a colon may follow.
            var j = i + 1
            var inside = ""
            while j < chars.count, chars[j] != "\"" {
                if chars[j] == "\\", j + 1 < chars.count {
                    inside.append(chars[j + 1])
                    j += 2
                } else {
                    inside.append(chars[j])
                    j += 1
                }
            }
            out += String(chars[i..<min(j + 1, chars.count)])
            lastString = inside
            i = j + 1
        }
        return out
    }

    static func isSecretName<S: StringProtocol>(_ name: S) -> Bool {
        let lower = name.lowercased()
        return secretWords.contains { ASCII.contains($0, in: lower) }
    }

    /// `user:pass`, `user%pass`, `user,pass` → `user:***` (a value without a separator is a
    /// user name).
    static func maskAfterSeparator(_ token: String) -> String {
        guard let separator = token.firstIndex(where: { $0 == ":" || $0 == "%" || $0 == "," }) else { return token }
        return String(token[...separator]) + "***"
    }

    /// `scheme://user:pass@host` → `scheme://user:***@host`; `https://TOKEN@host` (a
    /// token as the user name, as GitHub's) → `https://***@host`.
    static func maskUserInfo(_ token: String) -> String {
        guard let scheme = ASCII.firstRange(of: "://", in: token) else { return token }
        let authority = token[scheme.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard let at = authority.lastIndex(of: "@") else { return token }
        guard let colon = authority[..<at].firstIndex(of: ":") else { return String(token[..<scheme.upperBound]) + "***" + String(token[at...]) }
        return String(token[...colon]) + "***" + String(token[at...])
    }

    /// `name=value` pairs (also in URL queries and `--name=value`) whose name is secret:
    /// the value up to the next `&` or `;` becomes `***`.
    static func maskPairs(_ token: String) -> String {
        guard token.contains("=") else { return token }
        var out = ""
        var name = ""
        var skipping = false
        for c in token {
            if skipping {
                guard c == "&" || c == ";" else { continue }
                skipping = false
            }
            out.append(c)
            if c == "=" {
                if isSecretName(name) {
                    out += "***"
                    skipping = true
                }
                name = ""
            } else if c.isLetter || c.isNumber || c == "_" || c == "-" {
                name.append(c)
            } else {
                name = ""
            }
        }
        return out
    }

    /// The words of an element, split at blanks outside quotes (the quotes kept): one
    /// quoted value stays one word.
    static func shellWords(_ text: String) -> [String] {
        var words: [String] = []
        var word = ""
        var quote: Character?
        for c in text {
            if let q = quote {
                word.append(c)
                if c == q { quote = nil }
            } else if c == " " || c == "\t" || c == "\n" {
                if !word.isEmpty { words.append(word) }
                word = ""
            } else {
                if c == "'" || c == "\"" { quote = c }
                word.append(c)
            }
        }
        if !word.isEmpty { words.append(word) }
        return words
    }
}
