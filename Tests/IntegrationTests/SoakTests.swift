import Foundation
import Testing

/// The crash soak (Tests/Scripts/soak.sh) at a size the suite can afford; `make soak` runs
/// 10 000 messages, 50 daemon kills and 20 killed submissions.
@Suite(
    "crash soak: parallel users, SIGKILLed daemon and submissions, a faulty smarthost",
    .enabled(if: Smarthost.available && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"), "needs root, postfix and unshare"))
struct SoakTests {
    @Test("every accepted message arrives, no killed submission does, duplicates stay within the daemon kills")
    func soak() throws {
        let kills = 5
        let r = try run("/bin/bash", [Repository.root + "/Tests/Scripts/soak.sh", Binaries.directory, "300", String(kills), "3"])
        var results: [String: Int] = [:]
        for line in r.stdout.split(separator: "\n") where line.hasPrefix("RESULT ") {
            let kv = line.dropFirst(7).split(separator: "=")
            if kv.count == 2 { results[String(kv[0])] = Int(kv[1]) }
        }
        let summary = r.stdout.split(separator: "\n").last(where: { $0.hasPrefix("soak: ") }) ?? "no summary: \(r.stdout) \(r.stderr)"
        print(summary)
        #expect(results["accepted"] == 300 && results["refused"] == 0, "\(summary)")
        #expect(results["lost"] == 0, "\(summary)")
        #expect(results["killed_arrived"] == 0, "\(summary)")
        #expect((results["duplicates"] ?? .max) <= kills, "\(summary)")
        #expect(results["queue_left"] == 0 && results["tmp_left"] == 0, "\(summary)")
        #expect((results["deferrals"] ?? 0) > 0, "the smarthost's faults must actually have been met: \(summary)")
        #expect((results["daemon_starts"] ?? 0) >= 2, "a kill may land before the start is logged, but the daemon must have run: \(summary)")
        #expect(r.code == 0, "\(summary)")
    }
}
