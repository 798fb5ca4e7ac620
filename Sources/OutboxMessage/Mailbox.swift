/// One mailbox found in an address field or argument: `Name <local@domain>` or
/// `local@domain (comment)` or a bare local name.
public struct Mailbox: Equatable, Sendable {
    /// The local part exactly as written (a quoted string keeps its quotes).
    public var localPart: [UInt8]
    /// The domain, nil for a bare name such as `root`.
    public var domain: [UInt8]?
    /// The display name as written (may be quoted or RFC 2047-encoded), if any.
    public var displayName: [UInt8]?
    /// Offset in the parsed text just after the local part: where `@domain` is inserted
    /// when a bare name is qualified.
    public var localPartEnd: Int

    public init(localPart: [UInt8], domain: [UInt8]?, displayName: [UInt8]? = nil, localPartEnd: Int = 0) {
        self.localPart = localPart
        self.domain = domain
        self.displayName = displayName
        self.localPartEnd = localPartEnd
    }

    /// `local@domain`, or the bare local part.
    public var address: String {
        var bytes = localPart
        if let domain {
            bytes.append(UInt8(ascii: "@"))
            bytes.append(contentsOf: domain)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Why an address was refused.
public struct AddressError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The offending text, as given.
    public let text: String
    /// What is wrong with it.
    public let reason: String

    public init(_ text: String, _ reason: String) {
        self.text = text
        self.reason = reason
    }

    public var description: String { "malformed address '\(text)': \(reason)" }
}
