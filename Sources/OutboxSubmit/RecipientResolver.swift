import OutboxCore
import OutboxMessage
import OutboxSupport

/// A final envelope recipient and how it was reached.
public struct ResolvedRecipient: Equatable, Sendable {
    /// The address handed to the smarthost.
    public var address: String
    /// The address originally given, when alias expansion or admin routing changed it.
    public var original: String?
    /// Human-readable path, for `sendmail -bv`.
    public var explanation: String
    /// DSN NOTIFY for this recipient (from `RCPT TO … NOTIFY=`), if given.
    public var notify: String? = nil
}

/// Resolves recipients per DESIGN "Local names": a bare name or one at a local domain goes
/// through the aliases (recursively, loops stopped); root, unknown local names and
/// undeliverable alias targets go to `admin_address`. Nothing local is relayed as is.
public struct RecipientResolver: Sendable {
    public let aliases: AliasTable
    public let domain: String
    public let adminAddress: String?
    public let localDomains: Set<String>
    static let maxDepth = 20

    /// `localDomains` (outbox.conf's local_domains) replaces the default `domain`, host
    /// name and FQDN; localhost is always local, so that name@localhost is never relayed.
    public init(aliases: AliasTable, domain: String, adminAddress: String?, host: HostIdentity, localDomains: [String]? = nil) {
        self.aliases = aliases
        self.domain = domain
        self.adminAddress = adminAddress
        self.localDomains = Set(
            (["localhost", "localhost.localdomain"] + (localDomains ?? [domain, host.hostname, host.fqdn])).map(ASCII.lowercased))
    }

    /// Whether `mailbox` names a local user (bare name or local domain).
    public func isLocal(_ mailbox: Mailbox) -> Bool {
        guard let d = mailbox.domain else { return true }
        return localDomains.contains(ASCII.lowercased(String(decoding: d, as: UTF8.self)))
    }

    /// The final recipients for one mailbox.
    public func resolve(_ mailbox: Mailbox) -> [ResolvedRecipient] {
        let given = mailbox.address
        guard isLocal(mailbox) else { return [ResolvedRecipient(address: given, original: nil, explanation: "relayed")] }
        var out: [ResolvedRecipient] = []
        expand(localName(mailbox), given: given, path: [], into: &out)
        return out
    }

    /// Resolves a list, removing duplicates (ASCII case-insensitively), keeping order.
    public func resolveAll(_ mailboxes: [Mailbox]) -> [ResolvedRecipient] {
        var seen = Set<String>()
        var out: [ResolvedRecipient] = []
        for m in mailboxes {
            for r in resolve(m) where seen.insert(ASCII.lowercased(r.address)).inserted {
                out.append(r)
            }
        }
        return out
    }

    func localName(_ m: Mailbox) -> String {
        var local = String(decoding: m.localPart, as: UTF8.self)
        if local.hasPrefix("\"") && local.hasSuffix("\"") && local.count >= 2 { local = String(local.dropFirst().dropLast()) }
        return ASCII.lowercased(local)
    }

    private func expand(_ name: String, given: String, path: [String], into out: inout [ResolvedRecipient]) {
        let via = (path + [name]).joined(separator: " → ")
        guard !path.contains(name), path.count < Self.maxDepth, let targets = aliases.entries[name] else {
            let reason = path.contains(name) ? "alias loop" : path.count >= Self.maxDepth ? "alias nesting too deep" : "local name"
            out.append(toAdmin(name, given: given, explanation: "\(reason) \(via)"))
            return
        }
        for target in targets {
            switch target {
            case .unsupported(let text):
                out.append(toAdmin(name, given: given, explanation: "alias \(via) → \(text) (not deliverable by a null client)"))
            case .address(let m):
                if isLocal(m) {
                    expand(localName(m), given: given, path: path + [name], into: &out)
                } else {
                    out.append(ResolvedRecipient(address: m.address, original: given, explanation: "alias \(via) → \(m.address), relayed"))
                }
            }
        }
    }

    private func toAdmin(_ name: String, given: String, explanation: String) -> ResolvedRecipient {
        if let admin = adminAddress {
            return ResolvedRecipient(address: admin, original: given, explanation: "\(explanation) → admin_address \(admin)")
        }
        // No admin_address: qualify with `domain`, as a Postfix null client does with myorigin.
        let address = "\(name)@\(domain)"
        return ResolvedRecipient(
            address: address, original: given == address ? nil : given, explanation: "\(explanation) → \(address) (no admin_address set)")
    }
}
