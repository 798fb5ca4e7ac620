import OutboxCore
import OutboxSupport

/// No line on the wire may exceed 998 octets (RFC 5322 §2.1.1); smarthosts refuse or
/// break longer ones. A header field is brought within the limit in the least damaging
/// way available:
/// 1. folding at a blank (or, in an address list, after a comma between addresses): only
///    adds folding white space, lossless (`foldLongLines`);
/// 2. an *unstructured* field (Subject, Comments, Content-Description, Thread-Topic and
///    every X- field) that still has a longer line is re-encoded as RFC 2047
///    encoded-words, one per folded line; readers decode adjacent encoded-words into the
///    original text, so this is lossless for them;
/// 3. any other field (a structured one: References, Message-ID, DKIM-Signature …) gets
///    Postfix's split, CRLF SPACE after 998 octets, which keeps the line legal but adds a
///    blank where it was inserted.
extension HeaderField {
    /// Fields whose value is free text (RFC 5322 unstructured) and may be RFC 2047-encoded.
    static func isUnstructured(_ field: HeaderField) -> Bool {
        ["subject", "comments", "content-description", "thread-topic"].contains { field.isNamed($0) }
            || (field.nameLength > 2 && ASCII.equalsIgnoringCase(field.raw[0..<2], "x-"))
    }

    /// The longest physical line, without its CRLF.
    var longestLine: Int {
        var longest = 0, length = 0
        for b in raw {
            if b == ASCII.lf {
                longest = max(longest, length - 1)
                length = 0
            } else {
                length += 1
            }
        }
        return max(longest, length)
    }

    /// Brings every line of the field within `limit` octets (see the extension's comment).
    public mutating func limitLineLength(_ limit: Int = 998, addressList: Bool = false) {
        guard longestLine > limit else { return }
        foldLongLines(limit: limit, addressList: addressList)
        guard longestLine > limit else { return }
        if Self.isUnstructured(self) {
            encodeAsWords()
            if longestLine <= limit { return }
        }
        splitLongLines(limit)
    }

    /// Replaces the value by RFC 2047 encoded-words (B encoding), each on its own folded
    /// line and at most 75 octets, never splitting a UTF-8 sequence. The value is unfolded
    /// first; the blank after the colon is kept.
    mutating func encodeAsWords() {
        var text: [UInt8] = []
        let v = value
        var i = 0
        while i < v.count {
            // Unfolding (RFC 5322 §2.2.3): CRLF followed by WSP is removed.
            if v[i] == ASCII.cr, i + 2 < v.count, v[i + 1] == ASCII.lf, ASCII.isWSP(v[i + 2]) {
                i += 2
                continue
            }
            text.append(v[i])
            i += 1
        }
        if text.first == ASCII.space { text.removeFirst() }
        let ascii = text.allSatisfy { $0 < 0x80 }
        let utf8 = ascii || String(validating: text, as: UTF8.self) != nil
        let charset = ascii ? "us-ascii" : utf8 ? "UTF-8" : "unknown-8bit"
        let prefix = "=?\(charset)?B?"
        // 75 octets per encoded-word: the base64 part holds (75 - prefix - "?=") / 4 * 3 octets.
        let chunk = (75 - prefix.utf8.count - 2) / 4 * 3
        var words: [String] = []
        var start = 0
        while start < text.count {
            var end = min(text.count, start + chunk)
            if utf8 && !ascii {
                // Back up to the start of a UTF-8 sequence (not a continuation octet).
                while end < text.count && end > start + 1 && text[end] & 0xC0 == 0x80 { end -= 1 }
            }
            words.append(prefix + Base64.encode(Array(text[start..<end])) + "?=")
            start = end
        }
        setValue(Array((" " + words.joined(separator: "\r\n ")).utf8))
    }

    /// Postfix's smtp_line_length_limit: CRLF SPACE after every `limit` octets of a line.
    mutating func splitLongLines(_ limit: Int) {
        raw = Self.split(raw, limit)
    }

    static func split(_ raw: [UInt8], _ limit: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count + raw.count / limit * 3)
        var length = 0
        for b in raw {
            if b == ASCII.lf {
                length = 0
            } else if b != ASCII.cr {
                if length == limit {
                    out += [ASCII.cr, ASCII.lf, ASCII.space]
                    length = 1
                }
                length += 1
            }
            out.append(b)
        }
        return out
    }

    /// Applies `limitLineLength` to every field of a CRLF header section (the blank line
    /// that ends it, if present, is kept). Lines that are no field (a stray continuation)
    /// are only split. For outboxd, which cannot trust that `sendmail` folded a queue file.
    public static func limitLineLengths(inHeaderSection section: [UInt8], _ limit: Int = 998) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(section.count + 64)
        var fieldStart = 0
        var i = 0
        func flush(_ end: Int) {
            guard end > fieldStart else { return }
            let raw = Array(section[fieldStart..<end])
            if raw == ASCII.crlf {
                out += raw
            } else if var field = HeaderField(raw: raw) {
                field.limitLineLength(limit)
                out += field.raw
            } else {
                out += split(raw, limit)
            }
            fieldStart = end
        }
        while i < section.count {
            guard section[i] == ASCII.lf else {
                i += 1
                continue
            }
            i += 1
            // A line that starts with WSP continues the field; anything else starts a new one.
            if i < section.count && !ASCII.isWSP(section[i]) { flush(i) }
        }
        flush(section.count)
        return out
    }
}
