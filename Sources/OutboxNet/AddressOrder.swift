import Glibc
import Synchronization

/// The order in which a host's addresses are tried: IPv6 and IPv4 alternating from the
/// resolver's first choice (RFC 8305 §4), and addresses that failed in the last
/// `memory` seconds after all others, so a dead path is not the first try of every
/// connection. Shared by the process's threads.
public final class AddressOrder: Sendable {
    public static let shared = AddressOrder()
    /// How long a failure sends an address to the back.
    static let memory = 300.0

    private let failures = Mutex<[String: Double]>([:])

    public init() {}

    /// Indices into `addresses` (numeric address, whether IPv6) in the order to try.
    public static func arrange(_ addresses: [(address: String, isIPv6: Bool)], failedLately: Set<String>) -> [Int] {
        guard let firstFamily = addresses.first?.isIPv6 else { return [] }
        var same = addresses.indices.filter { addresses[$0].isIPv6 == firstFamily }
        var other = addresses.indices.filter { addresses[$0].isIPv6 != firstFamily }
        var interleaved: [Int] = []
        while !same.isEmpty || !other.isEmpty {
            if !same.isEmpty { interleaved.append(same.removeFirst()) }
            if !other.isEmpty { interleaved.append(other.removeFirst()) }
        }
        return interleaved.filter { !failedLately.contains(addresses[$0].address) }
            + interleaved.filter { failedLately.contains(addresses[$0].address) }
    }

    func key(_ address: String, _ port: UInt16) -> String { "\(address) \(port)" }

    /// Addresses that failed on `port` within `memory` seconds.
    public func failed(port: UInt16, now: Double = AddressOrder.now()) -> Set<String> {
        failures.withLock { table in
            table = table.filter { now - $0.value < AddressOrder.memory }
            return Set(table.keys.compactMap { k in k.hasSuffix(" \(port)") ? String(k.dropLast(" \(port)".count)) : nil })
        }
    }

    public func noteFailure(_ address: String, port: UInt16, now: Double = AddressOrder.now()) {
        failures.withLock { $0[key(address, port)] = now }
    }

    public func noteSuccess(_ address: String, port: UInt16) {
        _ = failures.withLock { $0.removeValue(forKey: key(address, port)) }
    }

    public static func now() -> Double { Deadline.now().seconds }
}
