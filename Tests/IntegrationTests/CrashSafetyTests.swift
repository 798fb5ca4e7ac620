import Foundation
import Testing

@Suite("outboxd never loses a message", .serialized, .enabled(if: Smarthost.available, "needs root, postfix and sasl2-bin"))
struct CrashSafetyTests {
    @Test("452 too many recipients: the rest goes in further transactions, each recipient exactly once")
    func tooManyRecipients() throws {
        let instance = try Instance.relaying(port: 8)
        let t = token("452")
        let recipients = (1...5).map { "r\($0)@remote.test" }
        _ = try instance.sendmail(["-i"] + recipients, "Subject: \(t)\n\nb\n")
        let r = try instance.outboxdOnce()
        #expect(r.code == 0)
        let got = Smarthost.shared.await(t, count: 5)
        #expect(got.map(\.recipient).sorted() == recipients, "\(r.stderr)")
        #expect(instance.deferred().isEmpty)
    }

    @Test("SIGKILL while draining a few hundred messages: all arrive, duplicates only for messages in flight")
    func killWhileDraining() throws {
        let connections = 2
        let instance = try Instance.relaying(extra: "max_connections = \(connections)\n")
        let run = token("crash")
        let count = 300
        for i in 0..<count {
            let r = try instance.sendmail(["-i", "-f", "crash@client.test", "rcpt@remote.test"], "Subject: \(run) #\(i)#\n\nmessage \(i)\n")
            try #require(r.code == 0)
        }
        var kills = 0
        for round in 0..<8 {
            let daemon = Process()
            daemon.executableURL = URL(fileURLWithPath: Binaries.directory + "/outboxd")
            daemon.arguments = ["--no-syslog"]
            daemon.environment = ProcessInfo.processInfo.environment.merging(["OUTBOX_CONFIG": instance.configPath]) { $1 }
            daemon.standardError = FileHandle.nullDevice
            daemon.standardOutput = FileHandle.nullDevice
            try daemon.run()
            usleep(UInt32(150_000 + (round * 37_000) % 250_000))
            kill(daemon.processIdentifier, SIGKILL)
            daemon.waitUntilExit()
            kills += 1
            if instance.deferred().isEmpty && instance.queued().isEmpty { break }
        }
        // Whatever is left (in flight at a kill, or deferred by a broken session) now.
        _ = try instance.sendmail(["-q"])
        let last = try instance.outboxdOnce()
        #expect(last.code == 0)
        #expect(instance.deferred().isEmpty, "queue not empty: \(last.stderr.suffix(2000))")
        // Wait for every distinct message (duplicates make the raw count arrive early).
        func tally(_ deliveries: [Smarthost.Delivery]) -> [Int: Int] {
            var perMessage: [Int: Int] = [:]
            for d in deliveries {
                guard let hash = d.content.range(of: "\(run) #") else { continue }
                perMessage[Int(d.content[hash.upperBound...].prefix { $0.isNumber })!, default: 0] += 1
            }
            return perMessage
        }
        var got = Smarthost.shared.deliveries(containing: run)
        let deadline = Date().addingTimeInterval(60)
        while tally(got).count < count && Date() < deadline {
            usleep(200_000)
            got = Smarthost.shared.deliveries(containing: run)
        }
        usleep(1_000_000)  // late duplicates still in Postfix's pipe count too
        got = Smarthost.shared.deliveries(containing: run)
        let perMessage = tally(got)
        let missing = (0..<count).filter { perMessage[$0] == nil }
        let duplicates = perMessage.values.reduce(0) { $0 + max(0, $1 - 1) }
        print(
            "crash test: \(count) messages, \(kills) SIGKILLs, \(got.count) arrivals, \(missing.count) missing, \(duplicates) duplicates (bound \(kills * connections))"
        )
        #expect(missing.isEmpty, "lost: \(missing)")
        #expect(duplicates <= kills * connections)
    }
}
