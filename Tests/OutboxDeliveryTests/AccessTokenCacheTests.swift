import Foundation
import OutboxDelivery
import Synchronization
import Testing

@Suite("the shared access token: one fetch per expiry, shared by concurrent sessions")
struct AccessTokenCacheTests {
    /// A token command that counts its runs and takes a moment, so that concurrent
    /// callers overlap with the fetch.
    func command(in dir: String) -> String {
        "echo run >> \(dir)/runs; sleep 0.3; echo token-$(wc -l < \(dir)/runs | tr -d ' ')"
    }

    func runs(_ dir: String) -> Int {
        ((try? String(contentsOfFile: dir + "/runs", encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    @Test("eight sessions asking at once cause one fetch and get the same token; renewal only near expiry; a refused token is fetched anew")
    func singleFlight() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-tokens-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = AccessTokenCache(source: .command(command(in: dir), timeout: 10))
        let tokens = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            if let t = try? cache.token() { tokens.withLock { $0.append(String(decoding: t.value, as: UTF8.self)) } }
        }
        #expect(runs(dir) == 1)
        #expect(tokens.withLock { $0 } == Array(repeating: "token-1", count: 8))
        let start = Int(time(nil))
        let lifetime = AccessTokenCache.commandTokenLifetime
        // Well before expiry: the cached token.
        #expect(try cache.token(now: { start + lifetime / 2 }).generation == 1)
        #expect(runs(dir) == 1)
        // Inside the refresh window (a fifth of the lifetime): renewed.
        let renewed = try cache.token(now: { start + lifetime - 10 })
        #expect(runs(dir) == 2 && renewed.generation == 2)
        // Refused by the server: the next caller fetches; a stale invalidation is ignored.
        cache.invalidate(renewed)
        let third = try cache.token()
        #expect(runs(dir) == 3 && third.generation == 3)
        cache.invalidate(renewed)
        #expect(try cache.token().generation == 3)
        #expect(cache.snapshot.refreshes == 3 && cache.snapshot.lastError == nil)
    }

    @Test("a failing source: one report per new problem, then back-off without running it again")
    func failureBackoff() throws {
        let reports = Mutex<[String]>([])
        let cache = AccessTokenCache(source: .command("exit 3", timeout: 5)) { _, event, failed in
            if failed { reports.withLock { $0.append(event) } }
        }
        #expect(throws: SessionError.self) { try cache.token() }
        #expect(throws: SessionError.self) { try cache.token() }
        #expect(reports.withLock { $0 } == ["no access token: auth_token_command exited with status 3"])
        #expect(cache.snapshot.lastError == "auth_token_command exited with status 3")
        #expect(AccessTokenCache.backoff(afterFailures: 1) == 15 && AccessTokenCache.backoff(afterFailures: 9) == 600)
    }
}
