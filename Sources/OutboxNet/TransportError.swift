import Glibc

/// Why a connection to a smarthost failed, in words an admin can act on.
public enum TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    case resolve(host: String, reason: String)
    case connect(peer: String, reason: String)
    case timeout(String)
    case closed(String)
    case io(String, errno: Int32)
    case tls(String)

    public var description: String {
        switch self {
        case .resolve(let host, let reason): "cannot resolve \(host): \(reason)"
        case .connect(let peer, let reason): "connect to \(peer): \(reason)"
        case .timeout(let what): "timed out \(what)"
        case .closed(let what): "connection closed by server \(what)"
        case .io(let what, let errno): "\(what): \(String(cString: strerror(errno)))"
        case .tls(let what): what
        }
    }
}
