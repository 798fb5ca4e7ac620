import OutboxCore

/// The little JSON outbox writes (`outboxctl queue --json`), without Foundation: the
/// programs that list the queue stay off ICU-backed APIs.
public enum JSON {
    /// `text` as a JSON string literal (RFC 8259 §7): quotes, backslashes and control
    /// characters escaped; everything else, non-ASCII included, as UTF-8.
    public static func string(_ text: String) -> String {
        // Byte by byte (every byte to escape is ASCII, so UTF-8 passes through whole), and
        // most values need no escape at all: `outboxctl queue --json` over 100 000 messages
        // spent a fifth of its time appending one Unicode scalar at a time.
        guard text.utf8.contains(where: needsEscape) else { return "\"" + text + "\"" }
        var out: [UInt8] = [0x22]
        out.reserveCapacity(text.utf8.count + 8)
        for byte in text.utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case _ where needsEscape(byte):
                let hex = ASCII.lowercaseHexDigits
                out += [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: out.append(byte)
            }
        }
        out.append(0x22)
        return String(decoding: out, as: UTF8.self)
    }

    private static func needsEscape(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x22 || byte == 0x5C || byte == 0x7F }
}
