import Glibc

extension Array where Element == UInt8 {
    /// Overwrites a secret before its memory is released (explicit_bzero: not optimised
    /// away), so that a password read for one session does not linger in freed heap.
    public mutating func wipe() {
        withUnsafeMutableBytes { if let base = $0.baseAddress { explicit_bzero(base, $0.count) } }
        removeAll()
    }
}
