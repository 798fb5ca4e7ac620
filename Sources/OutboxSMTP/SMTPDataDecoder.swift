import OutboxCore
import OutboxSupport

/// Removes SMTP dot-stuffing from DATA and finds the terminating `.` line, streaming
/// (RFC 5321 §4.5.2). Only CRLF starts a line here and only CRLF "." CRLF ends DATA: a
/// bare LF or CR is data (the line-ending normaliser makes it a line end later), so
/// `\n.\n` or `\r.\r\n` can never end one transaction early and smuggle the lines after
/// it in as another (the SMTP-smuggling class; Postfix's smtpd_forbid_bare_newline).
public struct SMTPDataDecoder: Sendable {
    private enum State { case lineStart, middle, middleCR, dot, dotCR }
    private var state = State.lineStart

    /// Decodes `input` into `output`; returns the count of input octets used, and whether
    /// the end marker was seen (octets after it belong to the next command).
    public init() {}

    public mutating func decode(_ input: ArraySlice<UInt8>, into output: inout [UInt8]) -> (used: Int, ended: Bool) {
        var used = 0
        for b in input {
            used += 1
            switch state {
            case .lineStart:
                if b == UInt8(ascii: ".") {
                    state = .dot
                } else {
                    output.append(b)
                    state = b == ASCII.cr ? .middleCR : .middle
                }
            case .middle:
                output.append(b)
                if b == ASCII.cr { state = .middleCR }
            case .middleCR:
                output.append(b)
                state = b == ASCII.lf ? .lineStart : b == ASCII.cr ? .middleCR : .middle
            case .dot:
                // The leading dot of a CRLF line is transparency: dropped.
                if b == ASCII.cr {
                    state = .dotCR
                } else {
                    output.append(b)
                    state = .middle
                }
            case .dotCR:
                if b == ASCII.lf { return (used, true) }
                output.append(ASCII.cr)
                output.append(b)
                state = b == ASCII.cr ? .middleCR : .middle
            }
        }
        return (used, false)
    }
}
