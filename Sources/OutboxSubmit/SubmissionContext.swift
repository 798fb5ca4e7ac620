import Glibc
import OutboxConfig
import OutboxCore
import OutboxMessage

/// Everything a submission needs to know about its caller and host, computed once.
public struct SubmissionContext: Sendable {
    public let config: Config
    public let host: HostIdentity
    /// `domain`, or the host's FQDN.
    public let domain: String
    public let resolver: RecipientResolver
    /// The caller's login name (or `#uid` without a passwd entry).
    public let userName: String
    /// The caller's real uid.
    public let uid: uid_t
    /// The first GECOS field, for an added From:.
    public let gecosName: String?
    /// The submitting program, read at start (nil in tests that build a context).
    public var origin: SubmissionOrigin?

    /// The ORIGIN parameter's fields (its value joins them with spaces).
    public var originFields: [String]? { origin?.fields(login: userName) }

    public init(config: Config, host: HostIdentity? = nil, aliases: AliasTable? = nil, uid: uid_t = getuid()) {
        self.config = config
        let hostIdentity = host ?? HostIdentity.current(lookUpFQDN: config.domain == nil)
        self.host = hostIdentity
        let domain = config.domain ?? hostIdentity.fqdn
        self.domain = domain
        self.uid = uid
        let table = aliases ?? AliasTable.load(path: config.aliasesFile)
        self.resolver = RecipientResolver(
            aliases: table, domain: domain, adminAddress: config.adminAddress, host: hostIdentity,
            localDomains: config.localDomains)
        if let entry = PasswdEntry.lookUp(uid: uid) {
            userName = entry.name
            let first = entry.gecos.split(separator: ",", omittingEmptySubsequences: false).first.map(String.init) ?? ""
            gecosName = first.isEmpty ? nil : first
        } else {
            userName = "#\(uid)"
            gecosName = nil
        }
    }

    /// Qualifies a bare mailbox with `domain`.
    public func qualified(_ m: Mailbox) -> String {
        m.domain == nil ? "\(String(decoding: m.localPart, as: UTF8.self))@\(domain)" : m.address
    }

    /// The envelope sender for `-f`/`-r` text ("" is the null sender), or the caller's
    /// own address when none was given.
    public func envelopeSender(_ option: String?) throws(AddressError) -> String {
        guard let option else { return "\(userName)@\(domain)" }
        guard let m = try EnvelopeAddress.parseSender(option) else { return "" }
        return qualified(m)
    }
}
