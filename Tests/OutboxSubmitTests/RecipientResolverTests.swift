import Foundation
import OutboxCore
import OutboxMessage
import OutboxSpool
import OutboxSupport
import Testing

@testable import OutboxSubmit

@Suite("Aliases and local-name resolution")
struct RecipientResolverTests {
    static let host = HostIdentity(hostname: "box", fqdn: "box.example.org")

    func resolver(admin: String? = "admin@example.net") -> (RecipientResolver, AliasTable) {
        let path = Bundle.module.resourcePath! + "/Fixtures/aliases"
        let table = AliasTable.load(path: path)
        return (RecipientResolver(aliases: table, domain: "example.org", adminAddress: admin, host: Self.host), table)
    }

    func resolve(_ text: String, admin: String? = "admin@example.net") throws -> [String] {
        let (r, _) = resolver(admin: admin)
        return r.resolveAll(try EnvelopeAddress.parseArgument(text)).map(\.address)
    }

    @Test("recursive aliases, continuation lines and duplicates")
    func recursion() throws {
        #expect(try resolve("team") == ["alice@remote.test", "bob@remote.test", "ops@example.net"])
        #expect(try resolve("postmaster@localhost") == ["ops@example.net"])
        #expect(try resolve("TEAM@box.example.org, root@box") == ["alice@remote.test", "bob@remote.test", "ops@example.net"])
    }

    @Test("local_domains replaces domain, host name and FQDN as local domains; localhost and bare names stay local")
    func localDomains() throws {
        let table = AliasTable.parse("postmaster: root\n", path: "/a")
        let defaultRule = RecipientResolver(aliases: table, domain: "example.org", adminAddress: "admin@example.net", host: Self.host)
        let nullClient = RecipientResolver(
            aliases: table, domain: "example.org", adminAddress: "admin@example.net", host: Self.host,
            localDomains: ["localhost"])
        let addresses = try EnvelopeAddress.parseArgument("colleague@example.org, root@box.example.org, root, postmaster@localhost, x@remote.test")
        #expect(defaultRule.resolveAll(addresses).map(\.address) == ["admin@example.net", "x@remote.test"])
        #expect(
            nullClient.resolveAll(addresses).map(\.address) == [
                "colleague@example.org", "root@box.example.org", "admin@example.net", "x@remote.test",
            ])
        let listed = RecipientResolver(
            aliases: table, domain: "example.org", adminAddress: "admin@example.net", host: Self.host,
            localDomains: ["intranet.example"])
        #expect(
            listed.resolveAll(try EnvelopeAddress.parseArgument("a@INTRANET.example, b@example.org, c@localhost")).map(\.address)
                == ["admin@example.net", "b@example.org"])
    }

    @Test("an aliases file with CR LF line endings has one entry per line")
    func crlfAliases() {
        let table = AliasTable.parse("postmaster: root\r\nroot: ops@example.net\r\nteam: a@x,\r\n  b@x\r\n", path: "/a")
        #expect(table.entries.keys.sorted() == ["postmaster", "root", "team"] && table.warnings.isEmpty, "\(table)")
        #expect(table.entries["team"]?.count == 2)
    }

    @Test("loops end at admin_address instead of running forever")
    func loops() throws {
        #expect(try resolve("loop1") == ["admin@example.net"])
        #expect(try resolve("self") == ["admin@example.net", "self@remote.test"])
    }

    @Test("unknown local names, pipes, files and :include: go to admin_address")
    func adminRouting() throws {
        #expect(try resolve("nobody-here") == ["admin@example.net"])
        #expect(try resolve("pipe, file, include") == ["admin@example.net"])
        #expect(try resolve("x@remote.test") == ["x@remote.test"])
    }

    @Test("without admin_address a local name is qualified with domain, never relayed bare")
    func noAdmin() throws {
        #expect(try resolve("nobody-here", admin: nil) == ["nobody-here@example.org"])
        #expect(try resolve("root", admin: nil) == ["ops@example.net"])
    }

    @Test("the aliases file's problems are reported with file:line")
    func warnings() {
        let (_, table) = resolver()
        #expect(table.warnings.contains { $0.hasSuffix("aliases:14: missing ':' in alias entry") })
        #expect(table.warnings.contains { $0.contains("aliases:11: '|/usr/bin/procmail'") })
        #expect(table.entries["team"]?.count == 3)
    }

    @Test("a missing aliases file is an empty table without warnings")
    func missingFile() {
        let table = AliasTable.load(path: "/nonexistent/aliases")
        #expect(table.entries.isEmpty && table.warnings.isEmpty)
    }
}

@Suite("Queue listing and SMTP helpers")
struct QueueListingTests {
    @Test("Postfix's mailq layout, column for column")
    func layout() {
        let t = 1_795_424_826
        let text = QueueListing.render([
            QueueEntry(id: "M0YRPJ5G8FYHMP", size: 1274, arrival: t, sender: "a@x.test", recipients: ["b@y.test", "c@y.test"]),
            QueueEntry(
                id: "M0YRPJ5G8FYHMQ", status: "!", size: 300, arrival: t, sender: "", recipients: ["d@y.test"], reason: "host said: 451 later"),
        ])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------")
        #expect(lines[1] == "M0YRPJ5G8FYHMP     1274 \(MailDateText.listing(t))  a@x.test")
        #expect(lines[2] == String(repeating: " ", count: 41) + "b@y.test")
        #expect(lines[5] == "M0YRPJ5G8FYHMQ!     300 \(MailDateText.listing(t))  MAILER-DAEMON")
        #expect(lines[6] == "(host said: 451 later)")
        #expect(lines.last(where: { !$0.isEmpty }) == "-- 2 Kbytes in 2 Requests.")
        #expect(QueueListing.render([]) == "Mail queue is empty\n")
        let short = QueueListing.render([QueueEntry(id: "ABCDEF1234", size: 4357, arrival: t, sender: "root", recipients: ["u@x"])])
        #expect(short.contains("\nABCDEF1234     4357 "), "as Postfix: '1C92E7D564     4357 Tue Jan 28 06:58:20  root'")
    }
}

/// The arrival-time text mailq prints: asctime()'s first 19 columns, checked for shape.
enum MailDateText {
    static func listing(_ t: Int) -> String {
        let text = MailDate.queueListing(t)
        precondition(
            text.range(of: #"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]$"#, options: .regularExpression) != nil, text)
        return text
    }
}
