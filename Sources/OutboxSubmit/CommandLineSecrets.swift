/// Masks what looks like a secret on a command line before sendmail records it (the cmd=
/// field of ORIGIN, which outboxd logs): passwords and tokens are typed on command lines
/// more often than they should be (`curl -u user:pass … | sendmail`, `mysqldump -pPASS`,
/// `PGPASSWORD=… pg_dump`). Values of flags, `key=value` pairs and URL user information
/// whose names say password, token, secret, key or auth become `***`, as do `-p` values
/// and the word after Bearer/Basic. A heuristic that errs towards masking: `ssh -p 22`
/// loses its port, never the other way round.
public enum CommandLineSecrets {
    /// Name parts that mark a value as secret (matched in lower case).
    static let secretWords = ["pass", "pwd", "token", "secret", "key", "auth", "credential", "cookie"]

    public static func masked(_ arguments: [String]) -> String {
        var out: [String] = []
        var next = Mask.none
        for token in arguments.joined(separator: " ").split(separator: " ", omittingEmptySubsequences: false) {
            var token = String(token)
            let mask = next
            next = .none
            if token.isEmpty {
                out.append(token)
                next = mask  // `-p  value`: the value is still next
                continue
            }
            switch mask {
            case .whole:
                out.append("***")
                continue
            case .afterColon:
                out.append(maskAfterColon(token))
                continue
            case .none: break
            }
            let lower = token.lowercased()
            if lower == "-u" || lower == "--user" {
                next = .afterColon
            } else if lower == "-p" || lower == "bearer" || lower == "basic" {
                next = .whole
            } else if lower.hasPrefix("-"), !lower.contains("="), isSecretName(lower) {
                next = .whole
            } else if lower.hasPrefix("-u"), !lower.hasPrefix("--") {
                token = maskAfterColon(token)
            } else if lower.hasPrefix("-p"), !lower.hasPrefix("--") {
                token = "-p***"
            }
            out.append(maskPairs(maskUserInfo(token)))
        }
        return out.joined(separator: " ")
    }

    enum Mask { case none, whole, afterColon }

    static func isSecretName<S: StringProtocol>(_ name: S) -> Bool {
        let lower = name.lowercased()
        return secretWords.contains { lower.contains($0) }
    }

    /// `user:pass` → `user:***` (a value without a colon is a user name).
    static func maskAfterColon(_ token: String) -> String {
        guard let colon = token.firstIndex(of: ":") else { return token }
        return String(token[...colon]) + "***"
    }

    /// `scheme://user:pass@host` → `scheme://user:***@host`.
    static func maskUserInfo(_ token: String) -> String {
        guard let scheme = token.firstRange(of: "://") else { return token }
        let authority = token[scheme.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return token }
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
}
