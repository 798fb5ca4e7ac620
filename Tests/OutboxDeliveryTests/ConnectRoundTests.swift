import Testing

@testable import OutboxNet

@Suite("one poll round of Happy Eyeballs connection attempts")
struct ConnectRoundTests {
    /// Regression (review): an attempt that failed in the same round as a later one that
    /// connected was closed twice; by the second close its number may belong to another
    /// thread's file.
    @Test("the first to connect wins; every other descriptor is closed exactly once")
    func closesEachOnce() {
        // 3 failed, 4 connected, 5 still pending, 6 not looked at once 4 won.
        let outcomes: [Int32: Int32?] = [3: 111, 4: 0, 5: nil, 6: 0]
        let round = ConnectRound(attempts: [3, 4, 5, 6] as [Int32]) { _, fd in outcomes[fd]! }
        #expect(round.winner == 4)
        #expect(round.failed.map(\.0) == [3] && round.failed.map(\.1) == [111])
        #expect(round.toClose.sorted() == [3, 5, 6], "each loser once, never the winner")
        #expect(round.pending.isEmpty)
    }

    @Test("without a winner the failed are closed and the pending kept for the next round")
    func noWinner() {
        let outcomes: [Int32: Int32?] = [3: nil, 4: 110, 5: nil]
        let round = ConnectRound(attempts: [3, 4, 5] as [Int32]) { _, fd in outcomes[fd]! }
        #expect(round.winner == nil && round.toClose == [4] && round.pending == [3, 5])
    }
}
