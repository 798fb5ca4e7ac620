import OutboxCore

/// Checks for addresses that go into the SMTP envelope (from the command line, `-f`,
/// `-t` headers, `-bs` commands). Stricter than header syntax: a recipient string must
/// never reach a shell or a smarthost as something other than one plain mailbox.
public enum EnvelopeAddress {
    /// Octets refused in an unquoted local part even though RFC 5322 allows some of them:
    /// shell metacharacters have no business in mail that came through argv.
    static let shellMetacharacters: Set<UInt8> = Set("|`$;&\\".utf8)

    /// Validates one mailbox for envelope use; returns it unchanged or throws why not.
    public static func validate(_ mailbox: Mailbox, original: String) throws(AddressError) -> Mailbox {
        let local = mailbox.localPart
        if local.first == UInt8(ascii: "\"") {
            let inner = local.dropFirst().dropLast()
            if inner.isEmpty || inner.contains(where: { $0 < 32 || $0 == 127 || $0 == UInt8(ascii: "\\") || shellMetacharacters.contains($0) }) {
                throw AddressError(original, "unsafe quoted local part")
            }
        } else if let bad = local.first(where: { shellMetacharacters.contains($0) }) {
            throw AddressError(original, "'\(Character(Unicode.Scalar(bad)))' is not allowed in an address")
        }
        // The rule outboxd applies to every queue file: what passes here is relayed, never
        // refused later. A bare name is checked as it will be once qualified.
        let address = mailbox.domain == nil ? mailbox.address + "@localhost" : mailbox.address
        if let problem = EnvelopeSyntax.mailboxProblem(address) { throw AddressError(original, problem) }
        return mailbox
    }

    /// Parses a command-line recipient argument: one address, `Name <addr>`, or a comma
    /// separated list of those. Groups and empty arguments are refused.
    public static func parseArgument(_ argument: String) throws(AddressError) -> [Mailbox] {
        let bytes = Array(argument.utf8)
        if bytes.contains(where: { $0 < 32 && $0 != 9 }) { throw AddressError(argument, "control character") }
        let list = try AddressListParser.parse(bytes)
        guard !list.isEmpty else { throw AddressError(argument, "no address") }
        if bytes.contains(UInt8(ascii: ":")) && !bytes.contains(UInt8(ascii: "<")) && !bytes.contains(UInt8(ascii: "[")) {
            throw AddressError(argument, "group syntax is not an address")
        }
        var out: [Mailbox] = []
        for m in list { out.append(try validate(m, original: argument)) }
        return out
    }

    /// Parses a sender given with `-f`/`-r` or `MAIL FROM`: `''`, `<>` → null sender (nil);
    /// `Name <x@y>` → x@y.
    public static func parseSender(_ text: String) throws(AddressError) -> Mailbox? {
        let trimmed = text.trimmingWhitespace
        if trimmed.isEmpty || trimmed == "<>" { return nil }
        let list = try AddressListParser.parse(Array(trimmed.utf8))
        guard list.count == 1 else { throw AddressError(text, list.isEmpty ? "no address" : "more than one address") }
        return try validate(list[0], original: text)
    }
}

extension String {
    /// The string without leading and trailing ASCII whitespace.
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isBlankOrLineBreak { s = s.dropFirst() }
        while let l = s.last, l.isBlankOrLineBreak { s = s.dropLast() }
        return String(s)
    }
}
