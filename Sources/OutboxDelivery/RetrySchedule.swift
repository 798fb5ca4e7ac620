/// Capped exponential backoff with jitter: the first retry after `minimum`, doubling per
/// attempt up to `maximum`, each delay scaled by a random factor in [0.8, 1.2) so that
/// deferred messages do not all return at once.
public struct RetrySchedule: Sendable {
    public let minimum: Int
    public let maximum: Int

    public init(minimum: Int, maximum: Int) {
        self.minimum = max(1, minimum)
        self.maximum = max(self.minimum, maximum)
    }

    /// Seconds to wait after the `attempts`-th failed attempt; `unit` is a random number
    /// in [0, 1) (injected so tests are exact).
    public func delay(afterAttempts attempts: Int, unit: Double) -> Int {
        let exponent = min(max(attempts - 1, 0), 30)
        let base = min(Double(maximum), Double(minimum) * Double(1 << exponent))
        return max(1, Int(base * (0.8 + 0.4 * unit)))
    }
}
