import OutboxCore
import OutboxSupport

/// An HTTP/1.1 response as the token endpoint sends it: status, and the body with
/// Content-Length, chunked transfer coding, or up to the end of the connection. Pure:
/// fed the octets received so far, it says whether the response is complete.
public struct HTTPResponse: Equatable, Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]

    public init(status: Int, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

public enum HTTPResponseParser {
    public enum Outcome: Equatable, Sendable {
        case incomplete
        case complete(HTTPResponse)
        case invalid(String)
    }

    /// Parses `bytes` (everything received); `atEnd` when the server closed.
    public static func parse(_ bytes: [UInt8], atEnd: Bool) -> Outcome {
        guard let headerEnd = find([13, 10, 13, 10], in: bytes, from: 0) else {
            return atEnd ? .invalid("connection closed before the response headers ended") : .incomplete
        }
        let head = String(decoding: bytes[0..<headerEnd], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]), status >= 100, status < 600 else {
            return .invalid("not an HTTP response")
        }
        var length: Int?
        var chunked = false
        var contentType = ""
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return .invalid("malformed header line") }
            let name = ASCII.lowercased(String(line[..<colon]))
            let value = String(ASCII.trimmed(line[line.index(after: colon)...]))
            switch name {
            case "content-length":
                guard let n = Int(value), n >= 0, length == nil || length == n else { return .invalid("bad Content-Length") }
                length = n
            case "transfer-encoding":
                guard ASCII.lowercased(value) == "chunked" else { return .invalid("unsupported Transfer-Encoding") }
                chunked = true
            case "content-type": contentType = ASCII.lowercased(value)
            default: break
            }
        }
        let bodyStart = headerEnd + 4
        let make = { (body: [UInt8]) in Outcome.complete(HTTPResponse(status: status, contentType: contentType, body: body)) }
        if chunked {
            switch dechunk(bytes, from: bodyStart) {
            case .complete(let r): return make(r.body)
            case .invalid(let problem): return .invalid(problem)
            case .incomplete, nil: return atEnd ? .invalid("truncated chunked body") : .incomplete
            }
        }
        if let length {
            if bytes.count - bodyStart >= length { return make(Array(bytes[bodyStart..<bodyStart + length])) }
            return atEnd ? .invalid("connection closed before the body ended") : .incomplete
        }
        return atEnd ? make(Array(bytes[bodyStart...])) : .incomplete
    }

    /// The body of a chunked response: complete, not yet complete, or malformed.
    static func dechunk(_ bytes: [UInt8], from start: Int) -> Outcome? {
        var body: [UInt8] = []
        var index = start
        while true {
            guard let lineEnd = find([13, 10], in: bytes, from: index) else { return nil }
            let sizeText = String(decoding: bytes[index..<lineEnd], as: UTF8.self).prefix { $0 != ";" }
            guard let size = Int(ASCII.trimmed(sizeText), radix: 16), size >= 0 else { return .invalid("malformed chunk size") }
            // Bounded before any arithmetic: a hostile size near Int.max must not overflow.
            guard size <= HTTPSClient.responseLimit else { return .invalid("chunk larger than the response limit") }
            index = lineEnd + 2
            if size == 0 { return .complete(HTTPResponse(status: 0, contentType: "", body: body)) }  // trailers are not needed
            guard bytes.count - index >= size + 2 else { return nil }
            body += bytes[index..<index + size]
            index += size + 2
        }
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        var i = start
        while i <= bytes.count - needle.count {
            if bytes[i] == needle[0] && Array(bytes[i..<i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }
}
