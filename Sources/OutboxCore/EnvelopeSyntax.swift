/// The one validator for everything that goes into the SMTP envelope: `sendmail` refuses
/// what it refuses (before anything is queued), and outboxd checks every drop and queue
/// file with it again. Because both sides run this same code, a message `sendmail`
/// accepted is never refused later by the daemon — the trust boundary's first rule
/// (DESIGN, Privileges) — and nothing a local user writes to the drop helper can carry
/// CR, LF, NUL or an unbalanced `<>` into outboxd's authenticated session.
///
/// Addresses follow RFC 5321 §4.1.2 (with RFC 6531's UTF-8 for SMTPUTF8):
///
///     Mailbox     = Local-part "@" ( Domain / address-literal )
///     Local-part  = Dot-string / Quoted-string
///     Dot-string  = Atom *("." Atom)              ; Atom = 1*atext, or UTF-8
///     Quoted-string = DQUOTE *(qtextSMTP / "\" %d32-126) DQUOTE
///                                                ; qtextSMTP = %d32-33 / %d35-91 / %d93-126
///     Domain      = label *("." label)           ; letters, digits, "-", "_", UTF-8
///     address-literal = "[" 1*(%d33-90 / %d94-126) "]"
///
/// A quoted local part such as `"john doe"@example.com` is a valid envelope address and
/// is relayed as written.
public enum EnvelopeSyntax {
    /// Longest local part and domain accepted (RFC 5321 says 64 and 255; real mail has
    /// longer local parts, Postfix accepts them, and the limit only bounds memory).
    public static let maxLocalPart = 256
    public static let maxDomain = 255
    /// Longest ORCPT original address, ENVID, or other parameter value.
    public static let maxParameter = 1000

    /// Why `address` is not a valid envelope mailbox, or nil when it is.
    public static func mailboxProblem(_ address: String) -> String? {
        let bytes = Array(address.utf8)
        guard !bytes.isEmpty else { return "empty address" }
        if let bad = bytes.first(where: { $0 < 32 || $0 == 127 }) { return "control character 0x\(hex(bad)) in address" }
        guard let at = bytes.lastIndex(of: UInt8(ascii: "@")) else { return "address has no domain" }
        let local = bytes[..<at], domain = bytes[(at + 1)...]
        guard local.count <= maxLocalPart else { return "local part longer than \(maxLocalPart) octets" }
        guard domain.count <= maxDomain else { return "domain longer than \(maxDomain) octets" }
        if let problem = localPartProblem(local) { return problem }
        return domainProblem(domain)
    }

    /// The envelope sender: "" (the null sender) or a mailbox.
    public static func senderProblem(_ sender: String) -> String? {
        sender.isEmpty ? nil : mailboxProblem(sender).map { "sender <\(printable(sender))>: \($0)" }
    }

    /// A recipient with its optional ORCPT original address and NOTIFY list.
    public static func recipientProblem(_ address: String, original: String?, notify: String?) -> String? {
        if let p = mailboxProblem(address) { return "recipient <\(printable(address))>: \(p)" }
        if let original, let p = originalProblem(original) { return "recipient <\(address)>: ORCPT: \(p)" }
        if let notify, let p = notifyProblem(notify) { return "recipient <\(address)>: \(p)" }
        return nil
    }

    /// The original recipient (ORCPT, stored decoded; outboxd sends it as xtext, so any
    /// printable text is safe): printable UTF-8, no controls, bounded.
    public static func originalProblem(_ original: String) -> String? {
        let bytes = Array(original.utf8)
        if bytes.isEmpty { return "empty" }
        if bytes.count > maxParameter { return "longer than \(maxParameter) octets" }
        if let bad = bytes.first(where: { $0 < 32 || $0 == 127 }) { return "control character 0x\(hex(bad))" }
        return nil
    }

    /// NOTIFY: NEVER, or a list of SUCCESS, FAILURE, DELAY (RFC 3461 §4.1).
    public static func notifyProblem(_ notify: String) -> String? {
        let items = notify.split(separator: ",", omittingEmptySubsequences: false).map { ASCII.uppercased(String($0)) }
        if items == ["NEVER"] { return nil }
        let allowed: Set<String> = ["SUCCESS", "FAILURE", "DELAY"]
        guard !items.isEmpty, items.allSatisfy(allowed.contains), Set(items).count == items.count else {
            return "bad NOTIFY '\(printable(notify))'"
        }
        return nil
    }

    /// The envelope parameters a queue file may carry, with their value rules.
    public static func parameterProblem(_ parameter: String) -> String? {
        let key = parameter.prefix { $0 != "=" }
        let value = parameter.count > key.count ? String(parameter.dropFirst(key.count + 1)) : nil
        func isXtext(_ s: String) -> Bool {
            !s.isEmpty && s.utf8.count <= 100 && s.utf8.allSatisfy { $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "=") }
        }
        let ok: Bool
        switch key {
        case "BODY": ok = value == "7BIT" || value == "8BITMIME"
        case "RET": ok = value == "FULL" || value == "HDRS"
        case "ENVID": ok = value.map(isXtext) ?? false
        case "NOTIFY": ok = value.map { notifyProblem($0) == nil } ?? false
        case "SMTPUTF8": ok = value == nil
        case "LONGLINES": ok = value.map { !$0.isEmpty && $0.utf8.count <= 12 && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } } ?? false
        case "BOUNCE": ok = value == "1" || value == "2"
        // Who submitted it (sendmail's report, see SubmissionOrigin).
        case "ORIGIN": ok = value.map { originProblem($0) == nil } ?? false
        default:
            // A parameter a later outbox writes and this one has no use for: kept in the
            // queue, shown by mailq, never sent. So an outboxd still running while the
            // package is upgraded, or one downgraded, does not refuse what a newer
            // sendmail accepted.
            guard isExtensionKey(key) else { return "unknown envelope parameter '\(printable(String(key)))'" }
            ok = value.map { $0.utf8.count <= maxParameter && $0.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F } } ?? true
        }
        return ok ? nil : "bad envelope parameter '\(printable(parameter))'"
    }

    /// At most this many envelope parameters in one file (outbox writes fewer than ten).
    public static let maxParameters = 32

    /// An uppercase parameter name as RFC 5321 esmtp-keyword spells it, bounded.
    static func isExtensionKey(_ key: Substring) -> Bool {
        guard let first = key.utf8.first, first >= 65, first <= 90, key.utf8.count <= 32 else { return false }
        return key.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "-") }
    }

    /// ORIGIN's value: `key=word` fields separated by one space, where a word is printable
    /// ASCII without space or quote (sendmail writes those as \\xHH), or a quoted run that may hold spaces
    /// (`cmd="…"`). The keys are sendmail's own (`originKeys`), in that order, each at most
    /// once. Anything else is refused, so the pickup line that shows it cannot be made to
    /// read as more fields than there are, or as another uid or sender (`… login=bob
    /// uid=0 from=<root@…>`, found by review).
    /// The fields of ORIGIN, in the order sendmail writes them (SubmissionOrigin).
    public static let originKeys = ["login", "exe", "comm", "cmd", "parent_exe", "parent_comm", "unit", "job"]

    public static func originProblem(_ value: String) -> String? {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty, bytes.count <= maxParameter else { return "ORIGIN empty or longer than \(maxParameter) octets" }
        var i = 0
        var nextKey = originKeys.startIndex
        while i < bytes.count {
            let keyStart = i
            while i < bytes.count, (bytes[i] >= 97 && bytes[i] <= 122) || bytes[i] == UInt8(ascii: "_") { i += 1 }
            guard i > keyStart, i - keyStart <= 20, i < bytes.count, bytes[i] == UInt8(ascii: "=") else { return "ORIGIN field without key=" }
            let key = String(decoding: bytes[keyStart..<i], as: UTF8.self)
            guard let position = originKeys[nextKey...].firstIndex(of: key) else {
                return originKeys.contains(key) ? "ORIGIN repeats or reorders \(key)=" : "ORIGIN has an unknown field \(key)="
            }
            nextKey = position + 1
            i += 1
            let quoted = i < bytes.count && bytes[i] == UInt8(ascii: "\"")
            if quoted { i += 1 }
            while i < bytes.count, bytes[i] >= 0x20, bytes[i] < 0x7F, bytes[i] != UInt8(ascii: "\""), quoted || bytes[i] != 0x20 {
                i += 1
            }
            if quoted {
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return "ORIGIN has an unterminated quoted value" }
                i += 1
            }
            if i == bytes.count { return nil }
            guard bytes[i] == 0x20, i + 1 < bytes.count else { return "ORIGIN has a stray character" }
            i += 1
        }
        return nil
    }

    public static func localPartProblem(_ local: ArraySlice<UInt8>) -> String? {
        guard !local.isEmpty else { return "empty local part" }
        if local.first == UInt8(ascii: "\"") {
            guard local.count >= 2, local.last == UInt8(ascii: "\"") else { return "unterminated quoted local part" }
            var i = local.startIndex + 1
            let end = local.endIndex - 1
            guard i < end else { return "empty quoted local part" }
            while i < end {
                let b = local[i]
                if b == UInt8(ascii: "\\") {
                    guard i + 1 < end, local[i + 1] >= 32, local[i + 1] <= 126 else { return "bad quoted pair in local part" }
                    i += 2
                    continue
                }
                if b == UInt8(ascii: "\"") { return "stray '\"' in quoted local part" }
                i += 1
            }
            return nil
        }
        var atomLength = 0
        for b in local {
            if b == UInt8(ascii: ".") {
                guard atomLength > 0 else { return "empty atom in local part (leading or doubled '.')" }
                atomLength = 0
            } else if isAtext(b) || b >= 0x80 {
                atomLength += 1
            } else {
                return "'\(printable(b))' is not allowed in an unquoted local part"
            }
        }
        return atomLength > 0 ? nil : "local part ends with '.'"
    }

    public static func domainProblem(_ domain: ArraySlice<UInt8>) -> String? {
        guard !domain.isEmpty else { return "empty domain" }
        if domain.first == UInt8(ascii: "[") {
            guard domain.count > 2, domain.last == UInt8(ascii: "]"),
                domain.dropFirst().dropLast().allSatisfy({ $0 >= 33 && $0 <= 126 && $0 != 91 && $0 != 92 && $0 != 93 })
            else { return "bad address literal" }
            return nil
        }
        var labelLength = 0
        for b in domain {
            if b == UInt8(ascii: ".") {
                guard labelLength > 0 else { return "empty label in domain" }
                labelLength = 0
            } else if isLetterOrDigit(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b >= 0x80 {
                labelLength += 1
                if labelLength > 63 { return "domain label longer than 63 octets" }
            } else {
                return "'\(printable(b))' is not allowed in a domain"
            }
        }
        return labelLength > 0 ? nil : "domain ends with '.'"
    }

    /// RFC 5322 atext.
    static func isAtext(_ b: UInt8) -> Bool {
        isLetterOrDigit(b) || "!#$%&'*+-/=?^_`{|}~".utf8.contains(b)
    }

    static func isLetterOrDigit(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122)
    }

    static func hex(_ b: UInt8) -> String {
        let h = String(b, radix: 16, uppercase: true)
        return h.count == 1 ? "0" + h : h
    }

    static func printable(_ b: UInt8) -> String {
        b >= 32 && b < 127 ? String(Character(Unicode.Scalar(b))) : "\\x" + hex(b)
    }

    /// C1 controls (U+0080-U+009F, which some terminals obey like ESC sequences), the
    /// bidirectional controls and separators that can make a line read as something else
    /// (U+202A-E, U+2066-9, U+2028-9, U+200E-F, U+061C), and the invisible ones that hide
    /// text or split what looks like one word (U+200B-D, U+2060-4, U+206A-F, U+FEFF).
    public static func isDisplayHazard(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return (0x80...0x9F).contains(v) || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) || v == 0x2028 || v == 0x2029
            || (0x200B...0x200F).contains(v) || v == 0x061C || (0x2060...0x2064).contains(v) || (0x206A...0x206F).contains(v) || v == 0xFEFF
    }

    /// `text` as one log line, as Postfix's printable() makes it: line breaks become
    /// spaces, other controls and display hazards '?', readable UTF-8 stays. For text a
    /// remote server or a local user wrote (a smarthost's reply echoes the address).
    public static func logLine(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "\n" || scalar == "\r" {
                out.append(" ")
            } else if scalar.value < 0x20 || scalar.value == 0x7F || isDisplayHazard(scalar) {
                out.append("?")
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// `text` with controls, DEL and backslash escaped as \xNN: safe on one terminal or
    /// log line whatever a hostile writer put in it. Kept short.
    public static func printable(_ text: String, limit: Int = 200) -> String {
        // Most text is plain printable ASCII already (a listing escapes every address).
        if text.utf8.count <= limit && text.utf8.allSatisfy({ $0 >= 32 && $0 < 127 && $0 != UInt8(ascii: "\\") }) { return text }
        var out: [UInt8] = []
        for b in text.utf8.prefix(limit) {
            if b < 32 || b == 127 || b == UInt8(ascii: "\\") { out += Array(("\\x" + hex(b)).utf8) } else { out.append(b) }
        }
        // Invalid UTF-8 becomes U+FFFD and C1 controls (U+0080-U+009F, which some
        // terminals obey like ESC sequences) are escaped: never raw controls on a terminal.
        var result = ""
        for scalar in String(decoding: out, as: UTF8.self).unicodeScalars {
            if isDisplayHazard(scalar) {
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        if text.utf8.count > limit { result += "…" }
        return result
    }
}
