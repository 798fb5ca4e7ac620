import OutboxCore
import OutboxMessage
import OutboxSupport

/// Re-encodes a message whose body has lines over 998 octets as quoted-printable, which is
/// lossless for the reader, instead of splitting lines (sendmail(8), "MESSAGE HANDLING").
/// That applies to single-part messages (any type but multipart/* and message/*) whose
/// body is not already encoded. Any other body (multipart, message/*, or already encoded)
/// has its long lines broken the way Postfix's smtp_line_length_limit does, by inserting
/// CRLF SPACE, because servers may refuse longer lines (Exim's transports fail them) and
/// re-encoding MIME parts in a stream is not worth the risk of damaging a structure we
/// cannot fully see.
struct LongLineConversion {
    private var header: [UInt8] = []
    private var inBody = false
    private var active = false
    private var encoder = QuotedPrintableEncoder()
    private var breaker = LineBreaker()

    mutating func feed(_ bytes: [UInt8], emit: ([UInt8]) throws -> Void) throws {
        if inBody {
            try emitBody(bytes, emit)
            return
        }
        // Resume the search where the last one stopped (the separator may straddle): a
        // header fed in tiny pieces must not be rescanned from its start each time.
        let from = max(0, header.count - 3)
        header += bytes
        guard let end = HeaderSection.bodyStart(in: header, from: from) else {
            if header.count > 1 << 20 {  // no header end within 1 MiB: body text, lines limited
                inBody = true
                try emit(breaker.limit(header))
                header = []
            }
            return
        }
        inBody = true
        let rest = Array(header[end...])
        // A queue file's header lines are not trusted to be folded: no line over 998
        // octets leaves here (RFC 2047 for free text, Postfix's split for the rest).
        let fields = HeaderField.limitLineLengths(inHeaderSection: Array(header[..<end]))
        header = []
        active = Self.isConvertible(fields)
        try emit(active ? Self.rewriteHeader(fields) : fields)
        try emitBody(rest, emit)
    }

    mutating func finish(emit: ([UInt8]) throws -> Void) throws {
        if !inBody {
            // A message that is all header (no blank line): still no line over 998.
            try emit(HeaderField.limitLineLengths(inHeaderSection: header))
            return
        }
        if active {
            var out: [UInt8] = []
            encoder.finish(into: &out)
            try emit(out)
        }
    }

    private mutating func emitBody(_ bytes: [UInt8], _ emit: ([UInt8]) throws -> Void) throws {
        guard active else { return try emit(breaker.limit(bytes)) }
        var out: [UInt8] = []
        encoder.encode(bytes, into: &out)
        try emit(out)
    }

    static func fieldValue(_ fields: [UInt8], _ name: String) -> String? {
        let text = String(decoding: fields, as: UTF8.self)
        for line in text.split(separator: "\r\n") where !line.hasPrefix(" ") && !line.hasPrefix("\t") {
            if let colon = line.firstIndex(of: ":"), ASCII.trimmed(Substring(ASCII.lowercased(String(line[..<colon])))) == name {
                return String(ASCII.trimmed(Substring(ASCII.lowercased(String(line[line.index(after: colon)...])))))
            }
        }
        return nil
    }

    /// Quoted-printable is lossless for any single part in an identity encoding; multipart
    /// and message/* bodies may not be encoded as a whole (RFC 2045 §6.4, RFC 2046 §5.2.1).
    static func isConvertible(_ fields: [UInt8]) -> Bool {
        if let type = fieldValue(fields, "content-type"), type.hasPrefix("multipart/") || type.hasPrefix("message/") { return false }
        if let cte = fieldValue(fields, "content-transfer-encoding"), !["7bit", "8bit", "binary"].contains(cte) { return false }
        return true
    }

    /// Drops Content-Transfer-Encoding (with its continuation lines), adds the QP one and
    /// MIME-Version when missing; keeps every other field as it was.
    static func rewriteHeader(_ fields: [UInt8]) -> [UInt8] {
        let text = String(decoding: fields, as: UTF8.self)
        var out = ""
        var skipping = false
        var hasMIMEVersion = false
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(" ") || line.hasPrefix("\t") {
                if !skipping { out += line + "\r\n" }
                continue
            }
            skipping = ASCII.lowercased(String(line)).hasPrefix("content-transfer-encoding:")
            if ASCII.lowercased(String(line)).hasPrefix("mime-version:") { hasMIMEVersion = true }
            if !skipping && !line.isEmpty { out += line + "\r\n" }
        }
        if !hasMIMEVersion { out += "MIME-Version: 1.0\r\n" }
        out += "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        return Array(out.utf8)
    }
}

/// Breaks CRLF-terminated lines longer than `limit` octets by inserting CRLF SPACE.
struct LineBreaker {
    static let limit = 998
    private var length = 0

    mutating func limit(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / Self.limit * 3)
        for b in bytes {
            switch b {
            case 10: length = 0
            case 13: break  // stored text is CRLF-normalised: a CR always ends a line
            default:
                if length == Self.limit {
                    out += [13, 10, 32]
                    length = 1
                }
                length += 1
            }
            out.append(b)
        }
        return out
    }
}
