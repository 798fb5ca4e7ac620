/// One SMTP reply: three-digit code, optional RFC 3463 enhanced status, text lines.
public struct SMTPReply: Equatable, Sendable, CustomStringConvertible {
    public var code: Int
    /// "x.y.z" when the server uses ENHANCEDSTATUSCODES and the first line carries one.
    public var enhancedStatus: String?
    /// The text of each line, after "ddd-" / "ddd ".
    public var lines: [String]

    public init(code: Int, enhancedStatus: String? = nil, lines: [String]) {
        self.code = code
        self.enhancedStatus = enhancedStatus
        self.lines = lines
    }

    /// The reply class: 2 positive, 3 intermediate, 4 transient, 5 permanent.
    public var replyClass: Int { code / 100 }
    public var isPositive: Bool { replyClass == 2 }
    public var isIntermediate: Bool { replyClass == 3 }
    public var isTransient: Bool { replyClass == 4 }
    public var isPermanent: Bool { replyClass == 5 }

    /// "250 2.0.0 Ok" — the first line as the server sent it, for logs and bounces.
    public var description: String {
        "\(code) \(lines.first ?? "")"
    }

    /// All lines joined, as one log-friendly string.
    public var fullText: String {
        lines.isEmpty ? "\(code)" : lines.map { "\(code) \($0)" }.joined(separator: " / ")
    }
}

/// A protocol violation by the server.
public struct SMTPProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { "SMTP protocol error: \(problem)" }
}

/// Incremental reply parser: feed octets as they arrive, take complete replies. Handles
/// multiline replies, several pipelined replies in one read, LF-only line ends, and lines
/// without text.
public struct SMTPReplyParser: Sendable {
    private var buffer: [UInt8] = []
    private var pendingCode: Int?
    private var pendingLines: [String] = []
    public static let maxLineLength = 4096
    public static let maxLines = 1000

    public init() {}

    /// Adds received octets.
    public mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete reply, nil when more input is needed.
    public mutating func next() throws(SMTPProtocolError) -> SMTPReply? {
        while let lf = buffer.firstIndex(of: 10) {
            var line = Array(buffer[..<lf])
            buffer.removeFirst(lf + 1)
            if line.last == 13 { line.removeLast() }
            guard line.count <= Self.maxLineLength else { throw SMTPProtocolError("reply line longer than \(Self.maxLineLength) octets") }
            guard line.count >= 3, line[0...2].allSatisfy({ $0 >= 48 && $0 <= 57 }), (2...5).contains(Int(line[0]) - 48) else {
                throw SMTPProtocolError("malformed reply line '\(String(decoding: line.prefix(80), as: UTF8.self))'")
            }
            let code = (Int(line[0]) - 48) * 100 + (Int(line[1]) - 48) * 10 + Int(line[2]) - 48
            var more = false
            var text = ""
            if line.count > 3 {
                switch line[3] {
                case UInt8(ascii: "-"): more = true
                case UInt8(ascii: " "): break
                default: throw SMTPProtocolError("malformed reply line '\(String(decoding: line.prefix(80), as: UTF8.self))'")
                }
                text = String(decoding: line[4...], as: UTF8.self)
            }
            if let pending = pendingCode, pending != code {
                throw SMTPProtocolError("multiline reply changed code from \(pending) to \(code)")
            }
            pendingCode = code
            pendingLines.append(text)
            if pendingLines.count > Self.maxLines { throw SMTPProtocolError("reply with more than \(Self.maxLines) lines") }
            if !more {
                let reply = SMTPReply(code: code, enhancedStatus: Self.enhancedStatus(pendingLines[0], code: code), lines: pendingLines)
                pendingCode = nil
                pendingLines = []
                return reply
            }
        }
        if buffer.count > Self.maxLineLength { throw SMTPProtocolError("reply line longer than \(Self.maxLineLength) octets") }
        return nil
    }

    /// "x.y.z" at the start of `text` when its class matches the reply code's.
    static func enhancedStatus(_ text: String, code: Int) -> String? {
        let token = text.prefix { $0 != " " }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == String(code / 100),
            parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy { $0.isNumber } })
        else { return nil }
        return String(token)
    }
}
