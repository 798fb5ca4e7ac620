import OutboxCore
import OutboxSupport

/// What the submission side does to a message's header section (DESIGN "Headers"):
/// remove Bcc/Resent-Bcc/Return-Path/Content-Length, qualify bare addresses, add missing
/// From/Date/Message-ID, prepend Received, fold long lines losslessly, and (with -t)
/// collect the recipients.
public struct HeaderRewriter {
    /// Values the rewriter adds or uses.
    public struct Context: Sendable {
        /// Domain that qualifies bare names.
        public var domain: String
        /// Address for an added From: (already qualified).
        public var fromAddress: String
        /// Full name for an added From:, if known.
        public var fullName: String?
        /// The complete `Received:` field to prepend (without CRLF), if any.
        public var received: String?
        /// Date value for an added Date:.
        public var date: String
        /// Message-ID value (with angle brackets) for an added Message-ID:.
        public var messageID: String
        /// More fields to drop (lower-case names): one this host adds itself, so that a
        /// copy the sender wrote cannot pass for it (X-Outbox-Origin).
        public var alsoRemoved: [String] = []

        public init(domain: String, fromAddress: String, fullName: String?, received: String?, date: String, messageID: String) {
            self.domain = domain
            self.fromAddress = fromAddress
            self.fullName = fullName
            self.received = received
            self.date = date
            self.messageID = messageID
        }
    }

    /// A header address that could not be used as a recipient with -t.
    public struct RecipientHeaderError: Error, Equatable, CustomStringConvertible {
        public let field: String
        public let error: AddressError
        public var description: String { "\(field): \(error)" }
    }

    static let removed = ["bcc", "resent-bcc", "return-path", "content-length"]
    static let qualified = ["from", "to", "cc", "sender", "reply-to", "resent-from", "resent-to", "resent-cc", "resent-sender", "resent-reply-to"]

    /// Whether any Resent- field exists: then -t reads Resent-To/Cc/Bcc instead of To/Cc/Bcc.
    public static func hasResentFields(_ fields: [HeaderField]) -> Bool {
        fields.contains { f in f.nameLength > 7 && ASCII.equalsIgnoringCase(f.raw[0..<7], "resent-") }
    }

    /// The recipients -t extracts, in order, before any removal.
    public static func recipients(in fields: [HeaderField]) throws(RecipientHeaderError) -> [Mailbox] {
        let names = hasResentFields(fields) ? ["resent-to", "resent-cc", "resent-bcc"] : ["to", "cc", "bcc"]
        var out: [Mailbox] = []
        for f in fields where names.contains(where: { f.isNamed($0) }) {
            do throws(AddressError) {
                for m in try AddressListParser.parse(f.value) {
                    out.append(try EnvelopeAddress.validate(m, original: m.address))
                }
            } catch {
                throw RecipientHeaderError(field: f.name, error: error)
            }
        }
        return out
    }

    /// Rewrites the fields; returns the header section bytes (without the blank line).
    public static func rewrite(_ fields: [HeaderField], context: Context) -> [UInt8] {
        let rewritten = rewriteKnown(fields, context: context)
        return rewritten.completed(received: context.received, messageID: context.messageID)
    }

    /// The header section rewritten but for the two fields that name the queue ID: the
    /// Received field a `-bs` hop prepends and a Message-ID added last. sendmail does this
    /// part while the drop helper is still starting, and `completed` once its ID is known.
    public struct Rewritten: Sendable {
        /// The rewritten fields with From and Date added where missing.
        public var bytes: [UInt8]
        /// No Message-ID field: `completed` adds one.
        public var needsMessageID: Bool

        /// The whole header section (without the blank line).
        public func completed(received: String?, messageID: String) -> [UInt8] {
            var out: [UInt8] = []
            if let received, var f = HeaderField(raw: Array((received + "\r\n").utf8)) {
                f.limitLineLength()
                out += f.raw
            }
            out += bytes
            if needsMessageID { out += HeaderField(name: "Message-ID", value: messageID).raw }
            return out
        }
    }

    /// `rewrite` without the fields that need the queue ID (`Context.received` and
    /// `Context.messageID` are not read).
    public static func rewriteKnown(_ fields: [HeaderField], context: Context) -> Rewritten {
        var out: [UInt8] = []
        var haveFrom = false
        var haveDate = false
        var haveMessageID = false
        for var field in fields {
            if removed.contains(where: { field.isNamed($0) }) || context.alsoRemoved.contains(where: { field.isNamed($0) }) { continue }
            if field.isNamed("from") { haveFrom = true }
            if field.isNamed("date") { haveDate = true }
            if field.isNamed("message-id") { haveMessageID = true }
            let isAddressList = qualified.contains(where: { field.isNamed($0) })
            if isAddressList {
                qualify(&field, domain: context.domain)
            }
            field.limitLineLength(addressList: isAddressList)
            out += field.raw
        }
        if !haveFrom { out += HeaderField(name: "From", value: fromValue(context)).raw }
        if !haveDate { out += HeaderField(name: "Date", value: context.date).raw }
        return Rewritten(bytes: out, needsMessageID: !haveMessageID)
    }

    /// Appends `@domain` after every bare local name in an address field, leaving display
    /// names, comments and spacing as they are. Unparseable fields are left untouched.
    static func qualify(_ field: inout HeaderField, domain: String) {
        let value = field.value
        guard let list = try? AddressListParser.parse(value) else { return }
        let inserts = list.filter { $0.domain == nil }.map { $0.localPartEnd }.sorted(by: >)
        if inserts.isEmpty { return }
        var edited = value
        let suffix = Array("@\(domain)".utf8)
        for offset in inserts { edited.insert(contentsOf: suffix, at: offset) }
        field.setValue(edited)
    }

    static func fromValue(_ context: Context) -> String {
        guard let name = context.fullName, !name.isEmpty else { return context.fromAddress }
        return "\(MIMEWord.phrase(name)) <\(context.fromAddress)>"
    }
}

/// Display-name encoding for headers we generate.
public enum MIMEWord {
    /// `name` as an RFC 5322 phrase: as is when it is only atoms and blanks, quoted when it
    /// has specials, RFC 2047 B-encoded when it has non-ASCII characters.
    public static func phrase(_ name: String) -> String {
        let bytes = Array(name.utf8)
        if bytes.contains(where: { $0 >= 0x80 }) {
            return "=?UTF-8?B?\(Base64.encode(bytes))?="
        }
        if bytes.allSatisfy({ AddressListParser.isAtext($0) && $0 != UInt8(ascii: ".") || $0 == 32 }) { return name }
        var quoted = "\""
        for ch in name {
            if ch == "\"" || ch == "\\" { quoted.append("\\") }
            if ch.isLineBreak { continue }
            quoted.append(ch)
        }
        return quoted + "\""
    }
}
