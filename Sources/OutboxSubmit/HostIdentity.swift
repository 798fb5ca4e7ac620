import Glibc
import OutboxCore
import OutboxSupport

/// This host's names, used for `domain`'s default, the local-name test and Received:.
public struct HostIdentity: Sendable, Equatable {
    /// gethostname(2), as is.
    public let hostname: String
    /// The fully qualified name: the host name when it has a dot, otherwise its canonical
    /// name from the resolver (/etc/hosts first), otherwise the host name.
    public let fqdn: String

    public init(hostname: String, fqdn: String) {
        self.hostname = hostname
        self.fqdn = fqdn
    }

    /// gethostname(2), lowercased.
    public static func hostname() -> String {
        ASCII.lowercased(HostName.current())
    }

    /// Looks the names up. Without `lookUpFQDN` the FQDN is the host name: the lookup may
    /// reach DNS, which a submission should not wait for when `domain` is configured.
    public static func current(lookUpFQDN: Bool = true) -> HostIdentity {
        let name = hostname()
        if name.contains(".") || !lookUpFQDN { return HostIdentity(hostname: name, fqdn: name) }
        var hints = addrinfo()
        hints.ai_flags = AI_CANONNAME
        #if OUTBOX_MUSL
        hints.ai_socktype = SOCK_STREAM  // a macro there, an enum in glibc
        #else
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        var result: UnsafeMutablePointer<addrinfo>?
        var fqdn = name
        if getaddrinfo(name, nil, &hints, &result) == 0, let info = result {
            if let canon = info.pointee.ai_canonname {
                let c = ASCII.lowercased(String(cString: canon))
                if c.contains(".") { fqdn = c }
            }
            freeaddrinfo(info)
        }
        return HostIdentity(hostname: name, fqdn: fqdn)
    }
}
