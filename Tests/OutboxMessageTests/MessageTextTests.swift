import OutboxCore
import OutboxMessage
import OutboxSupport
import Testing

/// Feeds `input` to a fresh normaliser in pieces split at `split`.
func normalize(_ input: [UInt8], dotEndsInput: Bool, split: Int) -> (output: [UInt8], ended: Bool) {
    var n = LineEndingNormalizer(dotEndsInput: dotEndsInput)
    var out: [UInt8] = []
    input[..<split].withUnsafeBytes { _ = n.feed($0, into: &out) }
    input[split...].withUnsafeBytes { _ = n.feed($0, into: &out) }
    let ended = n.ended
    n.finish(into: &out)
    return (out, ended)
}

@Suite("Line endings, lone dots and NUL, streaming")
struct LineEndingNormalizerTests {
    static let cases: [(String, Bool, String)] = [
        ("a\nb\r\nc\rd", false, "a\r\nb\r\nc\r\nd\r\n"),
        // CR CR LF is one line end, as CRLF is (the issue 10 wire rule; it was two).
        ("a\r\r\nb", false, "a\r\nb\r\n"),
        ("a\r\r\r\nb\r\r\n", false, "a\r\nb\r\n"),
        ("a\r\rb", false, "a\r\n\r\nb\r\n"),
        ("a\r", false, "a\r\n"),
        ("a\r\r\n.\r\r\nb\n", true, "a\r\n"),
        ("a\r.\r\nb", true, "a\r\n"),
        ("a\n\rb", false, "a\r\n\r\nb\r\n"),
        ("x\u{0}y\n", false, "xy\r\n"),
        ("", false, ""),
        ("no newline", false, "no newline\r\n"),
        ("a\n.\nb\n", true, "a\r\n"),
        ("a\r\n.\r\nb\r\n", true, "a\r\n"),
        ("a\n.\rb\n", true, "a\r\n"),
        ("a\n.", true, "a\r\n"),
        ("a\n..\n.b\n", true, "a\r\n..\r\n.b\r\n"),
        ("a\n.\nb\n", false, "a\r\n.\r\nb\r\n"),
        (".\n", true, ""),
    ]

    @Test("normalises every split of the input identically", arguments: cases)
    func normalizes(_ input: String, _ dotEnds: Bool, _ expected: String) {
        let bytes = Array(input.utf8)
        for split in 0...bytes.count {
            let (out, _) = normalize(bytes, dotEndsInput: dotEnds, split: split)
            #expect(String(decoding: out, as: UTF8.self) == expected, "split at \(split)")
        }
    }

    @Test("8-bit octets pass unchanged")
    func eightBit() {
        let bytes: [UInt8] = [0xC3, 0xA9, 0xFF, 0x80, 10]
        #expect(normalize(bytes, dotEndsInput: true, split: 2).output == [0xC3, 0xA9, 0xFF, 0x80, 13, 10])
    }
}

@Suite("Header section splitting")
struct HeaderSectionParserTests {
    func split(_ text: String, chunk: Int = 1 << 20) throws -> ([String], String) {
        var p = HeaderSectionParser()
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let piece = Array(bytes[offset..<min(bytes.count, offset + chunk)])
            offset += piece.count
            let progress = try piece.withUnsafeBytes { try p.feed($0) }
            if case .complete(let rest) = progress {
                return (p.fields.map { String(decoding: $0.raw, as: UTF8.self) }, String(decoding: rest + bytes[offset...], as: UTF8.self))
            }
        }
        let rest = p.finish()
        return (p.fields.map { String(decoding: $0.raw, as: UTF8.self) }, String(decoding: rest, as: UTF8.self))
    }

    @Test("folded and repeated fields, then the body after the blank line")
    func folded() throws {
        for chunk in [1, 3, 7, 1 << 20] {
            let (fields, body) = try split("To: a,\r\n  b\r\nTo: c\r\nX-Y : z\r\n\r\nbody\r\n", chunk: chunk)
            #expect(fields == ["To: a,\r\n  b\r\n", "To: c\r\n", "X-Y : z\r\n"])
            #expect(body == "body\r\n")
        }
    }

    @Test("a line that is not a header starts the body; leading mbox From lines are dropped")
    func bodyOnlyAndFrom() throws {
        #expect(try split("just text\r\nmore\r\n") == ([], "just text\r\nmore\r\n"))
        #expect(try split("From a@b Mon Jan 1\r\nSubject: s\r\n\r\nFrom x\r\n") == (["Subject: s\r\n"], "From x\r\n"))
        // Two mbox lines, the second escaped: both dropped (the second made every header body).
        #expect(try split("From a@b Mon Jan 1\r\n>From a@b Mon Jan 1\r\nSubject: s\r\n\r\nb\r\n", chunk: 3) == (["Subject: s\r\n"], "b\r\n"))
        #expect(try split("Subject: s\r\n>From x\r\n") == (["Subject: s\r\n"], ">From x\r\n"))
        #expect(try split("Subject: s\r\n<html>\r\n") == (["Subject: s\r\n"], "<html>\r\n"))
        #expect(try split(" leading blank\r\n") == ([], " leading blank\r\n"))
        #expect(try split("") == ([], ""))
        #expect(try split("Subject: only\r\n") == (["Subject: only\r\n"], ""))
    }

    @Test("a huge first line without a colon is body at once, not a held header")
    func hugeBodyLine() throws {
        var p = HeaderSectionParser()
        let blob = Array(String(repeating: "QUJD", count: 1 << 19).utf8)  // 2 MiB, no LF, no colon
        let progress = try blob.withUnsafeBytes { try p.feed($0) }
        #expect(progress == .complete(bodyStart: blob))
    }

    @Test("a header section over the limit is refused, not truncated")
    func tooLarge() {
        var p = HeaderSectionParser()
        let big = Array(("X: " + String(repeating: "a", count: HeaderSectionParser.maxHeaderBytes + 10)).utf8)
        #expect(throws: HeaderSectionParser.TooLarge.self) { _ = try big.withUnsafeBytes { try p.feed($0) } }
    }
}

@Suite("Header rewriting")
struct HeaderRewriterTests {
    func fields(_ text: String) -> [HeaderField] {
        var p = HeaderSectionParser()
        let bytes = Array(text.utf8)
        _ = try? bytes.withUnsafeBytes { try p.feed($0) }
        _ = p.finish()
        return p.fields
    }

    let context = HeaderRewriter.Context(
        domain: "example.org", fromAddress: "u@example.org", fullName: "Ümlaut User",
        received: "Received: by h (outbox)", date: "Mon, 1 Jan 2024 00:00:00 +0000", messageID: "<1.ID@example.org>")

    @Test("-t reads To/Cc/Bcc, or only Resent-To/Cc/Bcc when Resent- fields exist")
    func recipients() throws {
        #expect(
            try HeaderRewriter.recipients(in: fields("To: a@x\r\nCc: b@x\r\nBcc: c@x\r\nReply-To: d@x\r\n\r\n")).map(\.address) == [
                "a@x", "b@x", "c@x",
            ])
        #expect(try HeaderRewriter.recipients(in: fields("To: a@x\r\nResent-To: r@x\r\nResent-Cc: s@x\r\n\r\n")).map(\.address) == ["r@x", "s@x"])
        #expect(throws: HeaderRewriter.RecipientHeaderError.self) { try HeaderRewriter.recipients(in: fields("To: a@@x\r\n\r\n")) }
    }

    @Test("removes Bcc and friends, qualifies in place, adds missing fields, encodes a non-ASCII name")
    func rewrite() {
        let out = String(
            decoding: HeaderRewriter.rewrite(
                fields("To: bob (Bob)\r\nBcc: x@y\r\nresent-bcc: z@y\r\nReturn-Path: <q@r>\r\nCONTENT-LENGTH: 9\r\nSubject: s\r\n\r\n"),
                context: context), as: UTF8.self)
        #expect(
            out
                == "Received: by h (outbox)\r\nTo: bob@example.org (Bob)\r\nSubject: s\r\nFrom: =?UTF-8?B?w5xtbGF1dCBVc2Vy?= <u@example.org>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1.ID@example.org>\r\n"
        )
    }

    @Test("existing From, Date and Message-ID are kept as they are")
    func keeps() {
        let out = String(
            decoding: HeaderRewriter.rewrite(fields("from: a@x\r\nDATE: d\r\nMessage-Id: <m@x>\r\n\r\n"), context: context), as: UTF8.self)
        #expect(out == "Received: by h (outbox)\r\nfrom: a@x\r\nDATE: d\r\nMessage-Id: <m@x>\r\n")
    }

    @Test("phrases are quoted when they contain specials")
    func phrases() {
        #expect(MIMEWord.phrase("Cron Daemon") == "Cron Daemon")
        #expect(MIMEWord.phrase("Doe, John") == "\"Doe, John\"")
        #expect(MIMEWord.phrase("a \"b\"") == "\"a \\\"b\\\"\"")
        #expect(Base64.encode(Array("any carnal pleas".utf8)) == "YW55IGNhcm5hbCBwbGVhcw==")
    }

    @Test(
        "a full name with CR, LF or CR LF (one Swift Character) cannot start a new header line",
        arguments: ["Evil\r\nBcc: victim@x", "Evil\nBcc: victim@x", "Evil\rBcc: victim@x"])
    func noInjectionThroughFullName(_ name: String) {
        let phrase = MIMEWord.phrase(name)
        #expect(!phrase.utf8.contains(13) && !phrase.utf8.contains(10), "\(Array(phrase.utf8))")
        #expect(phrase == "\"EvilBcc: victim@x\"")
    }

    @Test("CR LF counts as a line break and as blank, also as the single Character Swift makes of it")
    func lineBreakCharacters() {
        #expect(Character("\r\n").isLineBreak && Character("\r").isLineBreak && Character("\n").isLineBreak)
        #expect(!Character("a").isLineBreak && Character("\t").isBlankOrLineBreak)
        #expect(ASCII.trimmed("\r\n  value\r\n\t") == "value")
    }

    /// The byte-wise search that replaced _StringProcessing's (the Embedded sendmail has no
    /// _StringProcessing): CommandLineSecrets masks by it, so a miss would log a secret.
    @Test("ASCII.firstRange finds overlapping, repeated and non-ASCII needles; an empty needle matches at the start")
    func byteSearch() {
        let text = "xaaab"
        #expect(ASCII.firstRange(of: "aab", in: text).map { String(text[$0]) } == "aab")
        #expect(ASCII.firstRange(of: "aab", in: text)?.lowerBound == text.utf8.index(text.utf8.startIndex, offsetBy: 2))
        #expect(ASCII.firstRange(of: "", in: text) == text.startIndex..<text.startIndex)
        #expect(ASCII.firstRange(of: "xaaabc", in: text) == nil && ASCII.firstRange(of: "c", in: text) == nil)
        #expect(!ASCII.contains("a", in: "") && ASCII.contains("a", in: "a"))
        // A Substring from the middle: the range is in the base string's indices.
        let whole = "ab://cd://ef"
        let tail = whole.dropFirst(5)
        #expect(ASCII.firstRange(of: "://", in: tail).map { String(whole[$0.upperBound...]) } == "ef")
        #expect(ASCII.contains("wort", in: "pässwort=x") && ASCII.contains("token", in: "t\u{e9}l\u{e9}token"))
        // Byte-wise, a combining mark after a match does not hide it (Character-wise it did).
        #expect(ASCII.contains("***", in: "***\u{301}"))
    }
}

@Suite("Lossless folding of long header lines")
struct HeaderFoldingTests {
    func unfold(_ raw: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < raw.count {
            if raw[i] == 13, i + 2 < raw.count, raw[i + 1] == 10, raw[i + 2] == 32 || raw[i + 2] == 9 {
                i += 2
                continue
            }
            out.append(raw[i])
            i += 1
        }
        return out
    }

    func lineLengths(_ raw: [UInt8]) -> [Int] {
        raw.split(separator: 10).map { $0.last == 13 ? $0.count - 1 : $0.count }
    }

    @Test("a 2000-octet header folds to lines of at most 998 octets and unfolds to the original", arguments: [1, 2, 7, 40])
    func folds(wordLength: Int) {
        let value = (0..<3000).map { _ in String(repeating: "w", count: wordLength) }.joined(separator: " ")
        var field = HeaderField(name: "X-Long", value: String(value.prefix(2000)))
        let original = field.raw
        field.foldLongLines()
        #expect(lineLengths(field.raw).allSatisfy { $0 <= 998 })
        #expect(unfold(field.raw) == original)
    }

    @Test("a run without blanks longer than the limit is never broken inside, so it unfolds to the original")
    func unbreakable() {
        var field = HeaderField(name: "X-Token", value: String(repeating: "t", count: 1500))
        let original = field.raw
        field.foldLongLines()
        #expect(unfold(field.raw) == original)
        #expect(field.raw.split(separator: 10).contains { $0.count > 1500 }, "the 1500-octet token stays on one line")
    }

    @Test("a comma-joined address list without blanks folds after commas between addresses, never inside a quoted name")
    func foldsAddressLists() throws {
        let list = (0..<150).map { "user\($0)@example.com" }.joined(separator: ",")  // 3439 octets, no blank
        var field = HeaderField(name: "To", value: list)
        let original = field.raw
        field.foldLongLines(addressList: true)
        #expect(lineLengths(field.raw).allSatisfy { $0 <= 998 })
        // Only CRLF SPACE was added, each after a comma: the same list of addresses.
        #expect(field.raw.count > original.count)
        #expect(String(decoding: field.raw, as: UTF8.self).replacing(",\r\n ", with: ",") == String(decoding: original, as: UTF8.self))
        let parsed = try AddressListParser.parse(field.value).map(\.address)
        #expect(parsed == (0..<150).map { "user\($0)@example.com" })

        let quoted = "\"" + String(repeating: "Doe,", count: 300) + "\" <a@x.test>,b@x.test"
        var named = HeaderField(name: "Cc", value: quoted)
        named.foldLongLines(addressList: true)
        let quotedName = "\"" + String(repeating: "Doe,", count: 300) + "\""
        #expect(String(decoding: named.raw, as: UTF8.self).contains(quotedName), "no fold inside the quoted name")
        #expect(unfold(named.raw) == HeaderField(name: "Cc", value: quoted).raw, "folded only at blanks")

        var subject = HeaderField(name: "Subject", value: list)
        subject.foldLongLines()
        #expect(!String(decoding: subject.raw, as: UTF8.self).contains(",\r\n"), "commas fold only address lists")
        #expect(unfold(subject.raw) == HeaderField(name: "Subject", value: list).raw)
    }

    /// Decodes RFC 2047 B-encoded words of an unfolded value (the test's own decoder).
    func decodeWords(_ raw: [UInt8]) -> [UInt8] {
        let text = String(decoding: unfold(raw), as: UTF8.self)
        var value = text[text.index(after: text.firstIndex(of: ":")!)...].dropFirst()
        while value.last == "\n" || value.last == "\r" || value.last == "\r\n" { value = value.dropLast() }
        var out: [UInt8] = []
        for word in value.split(separator: " ") {
            let parts = word.split(separator: "?", omittingEmptySubsequences: false)
            #expect(parts.count == 5 && parts[0] == "=" && parts[2] == "B" && parts[4] == "=", "\(word)")
            if parts.count == 5 { out += Base64.decode(String(parts[3])) ?? [] }
        }
        return out
    }

    /// Issue 10, wire rule: a field over 998 octets with no blank went out whole.
    @Test(
        "an unstructured field with a 1200-octet token becomes RFC 2047 words on lines of at most 998 octets, decoding to the original",
        arguments: ["Subject", "X-Campaign-Token", "Comments"])
    func encodesLongTokens(_ name: String) {
        let token = String(repeating: "tok3n-", count: 200)  // 1200 octets, no blank
        for value in [token, "Grüße " + token + " ünïcödé"] {
            var field = HeaderField(name: name, value: value)
            field.limitLineLength()
            #expect(lineLengths(field.raw).allSatisfy { $0 <= 998 }, "\(name)")
            #expect(lineLengths(field.raw).dropFirst().allSatisfy { $0 <= 76 }, "encoded-words of at most 75 octets")
            #expect(field.name == name)
            #expect(decodeWords(field.raw) == Array(value.utf8), "\(name) decodes to the original")
            #expect(field.raw.allSatisfy { $0 < 0x80 }, "7-bit on the wire")
        }
    }

    @Test("a structured field with a long token gets Postfix's split; folding at blanks still comes first")
    func splitsStructured() {
        var refs = HeaderField(name: "References", value: "<" + String(repeating: "r", count: 1500) + "@x>")
        refs.limitLineLength()
        #expect(lineLengths(refs.raw).allSatisfy { $0 <= 998 })
        // Only CRLF SPACE was inserted (after the colon by folding, then every 998 octets).
        #expect(
            String(decoding: refs.raw, as: UTF8.self).replacing("\r\n ", with: "") == "References:<" + String(repeating: "r", count: 1500) + "@x>\r\n"
        )
        var words = HeaderField(name: "Subject", value: (0..<400).map { "w\($0)" }.joined(separator: " "))
        let original = words.raw
        words.limitLineLength()
        #expect(unfold(words.raw) == original, "blanks were enough: no encoding")
    }

    @Test("a header section from a queue file is limited field by field, the blank line kept")
    func limitsSections() {
        let section = Array(
            ("Subject: " + String(repeating: "s", count: 1500) + "\r\nX-A: b\r\n\tc\r\nReferences: <" + String(repeating: "r", count: 1200)
                + ">\r\n\r\n").utf8)
        let out = HeaderField.limitLineLengths(inHeaderSection: section)
        #expect(lineLengths(out).allSatisfy { $0 <= 998 })
        #expect(String(decoding: out, as: UTF8.self).contains("\r\nX-A: b\r\n\tc\r\nReferences:"))
        #expect(out.suffix(4) == [13, 10, 13, 10])
        #expect(String(decoding: out, as: UTF8.self).hasPrefix("Subject: =?us-ascii?B?"))
    }

    @Test("short fields are untouched")
    func short() {
        var field = HeaderField(name: "Subject", value: "hello world")
        let original = field.raw
        field.foldLongLines()
        #expect(field.raw == original)
    }
}

@Suite("Listing text is escaped")
struct PrintableTests {
    @Test("controls, C1 controls and bidirectional overrides are escaped; other text is kept")
    func escapes() {
        #expect(EnvelopeSyntax.printable("a\u{1b}]2;x\u{07}b") == "a\\x1B]2;x\\x07b")
        #expect(EnvelopeSyntax.printable("evil\u{202E}moc.elpmaxe") == "evil\\u{202e}moc.elpmaxe")
        #expect(EnvelopeSyntax.printable("x\u{9B}y\u{2028}z") == "x\\u{9b}y\\u{2028}z")
        #expect(EnvelopeSyntax.printable("grüße@example.org") == "grüße@example.org")
    }
}
