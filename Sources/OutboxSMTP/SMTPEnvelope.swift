/// One message's SMTP envelope as the client sends it and the server parses it back:
/// the reverse path, the MAIL parameters outbox relays, and the recipients with their
/// DSN parameters (RFC 5321, RFC 3461, RFC 6152, RFC 6531).
public struct SMTPEnvelope: Equatable, Sendable {
    public struct Recipient: Equatable, Sendable {
        /// The recipient's index in the queue file (the state file's key).
        public var index: Int
        public var address: String
        /// NOTIFY=…, nil for the server's default.
        public var notify: String?
        /// ORCPT's address (rfc822 type), decoded.
        public var original: String?

        public init(index: Int, address: String, original: String? = nil, notify: String? = nil) {
            self.index = index
            self.address = address
            self.notify = notify
            self.original = original
        }
    }

    /// The reverse path; empty for the null sender.
    public var sender: String
    public var recipients: [Recipient]
    /// Size in octets before dot-stuffing (MAIL's SIZE=).
    public var size: Int
    /// BODY=8BITMIME.
    public var eightBit: Bool
    /// SMTPUTF8: the envelope or the header needs it.
    public var smtpUTF8: Bool
    /// RET=FULL or HDRS.
    public var ret: String?
    /// ENVID, as xtext.
    public var envid: String?

    public init(
        sender: String, recipients: [Recipient], size: Int, eightBit: Bool = false, smtpUTF8: Bool = false,
        ret: String? = nil, envid: String? = nil
    ) {
        self.sender = sender
        self.recipients = recipients
        self.size = size
        self.eightBit = eightBit
        self.smtpUTF8 = smtpUTF8
        self.ret = ret
        self.envid = envid
    }

    /// MAIL FROM with the parameters this server understands.
    public func mailCommand(_ capabilities: SMTPCapabilities) -> SMTPCommand {
        var parameters: [String] = []
        if capabilities.has("SIZE") { parameters.append("SIZE=\(size)") }
        if eightBit && capabilities.eightBitMIME { parameters.append("BODY=8BITMIME") }
        if smtpUTF8 { parameters.append("SMTPUTF8") }
        if capabilities.dsn {
            if let ret { parameters.append("RET=\(ret)") }
            if let envid { parameters.append("ENVID=\(envid)") }
        }
        return .mailFrom(sender, parameters: parameters)
    }

    /// RCPT TO with DSN parameters when the server offers DSN (otherwise they are dropped,
    /// as RFC 3461 §4.1 has a relay do, and the server's default applies).
    public static func rcptCommand(_ recipient: Recipient, _ capabilities: SMTPCapabilities) -> SMTPCommand {
        var parameters: [String] = []
        if capabilities.dsn {
            if let notify = recipient.notify { parameters.append("NOTIFY=\(notify)") }
            if let original = recipient.original { parameters.append("ORCPT=rfc822;\(XText.encode(original))") }
        }
        return .rcptTo(recipient.address, parameters: parameters)
    }
}
