// Answers from a hostile or broken OAuth2 token endpoint: the HTTP response as it arrives
// in pieces, then its body as JSON and as a token answer. Whatever comes back, nothing
// that could reach an AUTH line, a log line or a terminal carries a control character.
import FuzzSupport
import Glibc
import OutboxOAuth
import OutboxSupport

func printable(_ s: String) -> Bool { s.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F } }

func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let step = max(1, Int(bytes.first ?? 7) % 97)
    var received: [UInt8] = []
    var offset = 0
    var response: HTTPResponse?
    while offset < bytes.count {
        received += bytes[offset..<min(bytes.count, offset + step)]
        offset += step
        if case .complete(let r) = HTTPResponseParser.parse(received, atEnd: offset >= bytes.count) {
            response = r
            break
        }
    }
    let body = response?.body ?? bytes
    precondition(body.count <= bytes.count)
    _ = JSONValue.parse(body)
    switch TokenEndpoint.interpret(status: response?.status ?? 200, body: body) {
    case .granted(let grant):
        precondition(grant.accessToken.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "token with a control character or space")
        if let refresh = grant.refreshToken { precondition(printable(refresh) && !refresh.contains(" "), "refresh token not one word") }
    case .refused(let code, let description): precondition(printable(description) && !code.isEmpty)
    case .temporary(let text): precondition(printable(text), "unprintable: \(text)")
    case .pending: break
    }
    if case .success(let device) = TokenEndpoint.interpretDevice(status: 200, body: body) {
        precondition(printable(device.userCode) && printable(device.verificationURI) && printable(device.message ?? ""))
    }
    return 0
}

exit(runFuzzer(fuzz))
