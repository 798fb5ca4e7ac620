/// A bidirectional byte stream with deadlines: plain TCP or TLS over it.
public protocol ByteStream: AnyObject {
    /// Reads at least one octet (returns 0 only at end of stream) before `deadline`.
    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws(TransportError) -> Int
    /// Writes every octet before `deadline`.
    func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) throws(TransportError)
    /// Closes the stream (idempotent).
    func close()
    /// "host[ip]:port", for log lines.
    var peerDescription: String { get }
}

extension ByteStream {
    /// Writes every octet of `bytes`.
    public func write(_ bytes: [UInt8], deadline: Deadline) throws(TransportError) {
        let result: TransportError? = bytes.withUnsafeBytes { raw in
            do throws(TransportError) {
                try write(raw, deadline: deadline)
                return nil
            } catch { return error }
        }
        if let result { throw result }
    }
}
