import Glibc
import OutboxCore
import OutboxDrop
import OutboxMessage
import OutboxSMTP
import OutboxSpool

/// One queued message as the relay sends it: envelope, pending recipients, and a reader
/// for its content.
public struct OutgoingMessage: Sendable {
    public typealias Recipient = SMTPEnvelope.Recipient

    public var queueID: String
    public var sender: String
    public var recipients: [Recipient]
    public var parameters: [String]
    /// Message size in octets as stored (before dot-stuffing).
    public var size: Int
    public var path: String

    public func parameter(_ key: String) -> String? {
        for p in parameters {
            if p == key { return "" }
            if p.hasPrefix(key + "=") { return String(p.dropFirst(key.count + 1)) }
        }
        return nil
    }

    /// The envelope as the SMTP transaction sends it.
    public var envelope: SMTPEnvelope {
        SMTPEnvelope(
            sender: sender,
            recipients: recipients.map { r in
                var r = r
                r.notify = r.notify ?? parameter("NOTIFY")
                return r
            },
            size: size, eightBit: isEightBit, smtpUTF8: needsSMTPUTF8, ret: parameter("RET"), envid: parameter("ENVID"))
    }

    public var needsSMTPUTF8: Bool { parameter("SMTPUTF8") != nil }
    public var isEightBit: Bool { parameter("BODY") == "8BITMIME" }
    /// Body lines over 998 octets, which are re-encoded when sent.
    public var hasLongLines: Bool { parameter("LONGLINES") != nil }

    /// Calls `body` with the content as it goes on the wire (before dot-stuffing), in
    /// chunks. Messages with long body lines are re-encoded as quoted-printable when their
    /// structure allows it (see `LongLineConversion`).
    public func readContent(_ body: ([UInt8]) throws -> Void) throws {
        let fd = try FileDescriptor.open(path, flags: O_RDONLY | O_NOFOLLOW)
        var reader = RecordReader()
        var conversion = hasLongLines ? LongLineConversion() : nil
        while try reader.next(
            from: fd,
            { type, payload in
                guard type == .content else { return }
                if conversion != nil {
                    try conversion!.feed(Array(payload), emit: body)
                } else {
                    try body(Array(payload))
                }
            })
        {}
        try conversion?.finish(emit: body)
    }
}
