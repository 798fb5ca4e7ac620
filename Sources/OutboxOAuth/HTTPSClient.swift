import OutboxNet
import OutboxTLS

/// An https:// address of a token or device-authorization endpoint.
public struct HTTPSURL: Equatable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16
    /// Path and query, starting with "/".
    public var target: String

    /// Parses `https://host[:port][/path][?query]`; nil for anything else (http:// too:
    /// tokens are only ever fetched over TLS).
    public init?(_ text: String) {
        guard text.hasPrefix("https://") else { return nil }
        let rest = text.dropFirst(8)
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        let target = rest.dropFirst(authority.count)
        var host = Substring(authority)
        var port: UInt16 = 443
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = UInt16(after.dropFirst()), p > 0 else { return nil }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            guard let p = UInt16(authority[authority.index(after: colon)...]), p > 0 else { return nil }
            host = authority[..<colon]
            port = p
        }
        guard !host.isEmpty, !host.contains("@"),
            host.utf8.allSatisfy({ b in (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 46 || b == 58 })
        else { return nil }
        // The request line carries the target as it is: no spaces or controls in it.
        guard target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        self.host = String(host)
        self.port = port
        self.target = target.isEmpty ? "/" : (target.hasPrefix("?") ? "/" + target : String(target))
    }

    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "https://\(h)\(port == 443 ? "" : ":\(port)")\(target)"
    }
}

/// Why a request to the token endpoint got no HTTP answer.
public struct HTTPError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The token endpoint's HTTP client: one form-encoded POST per connection over verified
/// TLS, with deadlines and a size limit on the answer.
///
/// Hand-written over outbox's own TCP and TLS streams rather than libcurl: linking
/// Debian's libcurl (31 more shared libraries) costs 6.0 MB of resident memory at load,
/// measured in a C probe (7.16 vs 1.15 MB), which alone would break outboxd's 10 MB idle
/// target; this client reuses the TLS verification already used for the smarthost and
/// speaks only what a token endpoint needs.
public enum HTTPSClient {
    /// Answers larger than this are refused (a token response is a few kB).
    public static let responseLimit = 256 * 1024

    public static func post(
        _ url: HTTPSURL, form: [(String, String)], context: TLSContext, timeout: Double,
        userAgent: String = "outbox"
    ) throws(HTTPError) -> HTTPResponse {
        var body = Array(FormEncoding.encode(form).utf8)
        defer { body.wipe() }
        let authority = url.host.contains(":") ? "[\(url.host)]" : url.host
        let head =
            "POST \(url.target) HTTP/1.1\r\nHost: \(authority)\(url.port == 443 ? "" : ":\(url.port)")\r\nUser-Agent: \(userAgent)\r\n"
            + "Accept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let deadline = Deadline.after(seconds: timeout)
        let stream: TLSStream
        do {
            let tcp = try TCPStream.connect(host: url.host, port: url.port, deadline: deadline)
            do { stream = try TLSStream.handshake(over: tcp, context: context, serverName: url.host, deadline: deadline) } catch {
                tcp.close()
                throw error
            }
        } catch { throw HTTPError("\(url): \(error)") }
        defer { stream.close() }
        var received: [UInt8] = []
        defer { received.wipe() }
        do {
            var request = Array(head.utf8) + body
            defer { request.wipe() }
            try stream.write(request, deadline: deadline)
            var chunk = [UInt8](repeating: 0, count: 16384)
            defer { chunk.wipe() }
            while true {
                let n = try chunk.withUnsafeMutableBytes { buffer throws(TransportError) in try stream.read(into: buffer, deadline: deadline) }
                if n > 0 { received += chunk[0..<n] }
                guard received.count <= responseLimit else { throw HTTPError("\(url): answer larger than \(responseLimit) bytes") }
                switch HTTPResponseParser.parse(received, atEnd: n == 0) {
                case .complete(let response): return response
                case .invalid(let problem): throw HTTPError("\(url): \(problem)")
                case .incomplete: continue
                }
            }
        } catch let error as HTTPError {
            throw error
        } catch { throw HTTPError("\(url): \(error)") }
    }
}

/// application/x-www-form-urlencoded, as the token endpoint takes its parameters.
public enum FormEncoding {
    public static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            switch b {
            case 48...57, 65...90, 97...122, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }
}
