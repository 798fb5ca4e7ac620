import OutboxCore

/// Appends framed records to a byte buffer.
public enum RecordEncoder {
    /// Frames one record onto `buffer`.
    public static func append(_ type: RecordType, _ payload: UnsafeRawBufferPointer, to buffer: inout [UInt8]) {
        let n = UInt32(payload.count)
        buffer.append(type.rawValue)
        buffer.append(UInt8(n >> 24))
        buffer.append(UInt8((n >> 16) & 0xFF))
        buffer.append(UInt8((n >> 8) & 0xFF))
        buffer.append(UInt8(n & 0xFF))
        buffer.append(contentsOf: payload)
    }

    /// Frames one record onto `buffer`.
    public static func append(_ record: Record, to buffer: inout [UInt8]) {
        record.payload.withUnsafeBytes { append(record.type, $0, to: &buffer) }
    }

    /// The framed bytes of a list of records.
    public static func encode(_ records: [Record]) -> [UInt8] {
        var out: [UInt8] = []
        for r in records { append(r, to: &out) }
        return out
    }
}

/// Reads framed records from a file descriptor with a fixed buffer: constant memory for
/// any message size. The descriptor is lent to each call, not kept.
public struct RecordReader {
    private var buffer: [UInt8]
    /// The most one read(2) asks for: tests force tiny reads to exercise every split.
    private let readLimit: Int
    private var start = 0
    private var end = 0
    private var consumed = 0
    private var eof = false

    /// `bufferSize`: the first buffer; it grows to the largest record when one needs more
    /// (a listing that reads only envelopes starts small: a zeroed 128 KiB per file was
    /// most of `mailq`'s time over a large queue).
    public init(bufferSize: Int = 1 << 17, readLimit: Int = .max) {
        self.readLimit = max(1, readLimit)
        // Not zeroed: only bytes read into it are looked at.
        self.buffer = .unfilled(max(bufferSize, RecordLimits.headerSize))
    }

    /// Offset of the next unread byte in the stream.
    public var offset: Int { consumed }

    private mutating func fill(_ need: Int, from fd: borrowing FileDescriptor) throws(SystemError) -> Bool {
        if end - start >= need { return true }
        if need > buffer.count {
            buffer += [UInt8].unfilled(max(need, 2 * buffer.count) - buffer.count)
        }
        if start > 0 {
            let live = end - start
            buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: live)
            }
            start = 0
            end = live
        }
        while end - start < need && !eof {
            let (from, count) = (end, min(buffer.count - end, readLimit))
            let read: Result<Int, SystemError> = buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SystemError) in try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[from..<from + count])) }
            }
            let n = try read.get()
            if n == 0 { eof = true } else { end += n }
        }
        return end - start >= need
    }

    /// Calls `body` with the next record's type and payload (valid only during the call);
    /// returns false at a clean end of input. The reader's own failures (a read error, a
    /// malformed record) reach the caller as `failure` makes them: typed throws, as the
    /// drop helper and sendmail are also built as Embedded Swift, which has no `any Error`.
    public mutating func next<E: Error>(
        from fd: borrowing FileDescriptor, failure: (RecordReaderFailure) -> E, _ body: (RecordType, UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(E) -> Bool {
        func filled(_ need: Int) throws(E) -> Bool {
            do throws(SystemError) { return try fill(need, from: fd) } catch { throw failure(.system(error)) }
        }
        if try !filled(1) { return false }
        guard try filled(RecordLimits.headerSize) else { throw failure(.record(.truncated(offset: consumed))) }
        guard let type = RecordType(rawValue: buffer[start]) else {
            throw failure(.record(.unknownType(buffer[start], offset: consumed)))
        }
        let length =
            Int(buffer[start + 1]) << 24 | Int(buffer[start + 2]) << 16 | Int(buffer[start + 3]) << 8
            | Int(buffer[start + 4])
        guard length <= type.maxPayload else { throw failure(.record(.oversized(type: type, length: length))) }
        guard try filled(RecordLimits.headerSize + length) else { throw failure(.record(.truncated(offset: consumed))) }
        let payloadStart = start + RecordLimits.headerSize
        // withUnsafeBytes rethrows untyped: the typed error travels in a Result.
        let handed: Result<Void, E> = buffer.withUnsafeBytes { raw in
            Result { () throws(E) in try body(type, UnsafeRawBufferPointer(rebasing: raw[payloadStart..<payloadStart + length])) }
        }
        try handed.get()
        start = payloadStart + length
        consumed += RecordLimits.headerSize + length
        return true
    }

    #if !hasFeature(Embedded)
    /// The same, throwing the reader's own SystemError or RecordError unchanged.
    public mutating func next(from fd: borrowing FileDescriptor, _ body: (RecordType, UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        try next(from: fd, failure: { failure -> any Error in failure.error }, body)
    }
    #endif
}

/// What RecordReader itself fails with.
public enum RecordReaderFailure: Error {
    case system(SystemError)
    case record(RecordError)

    #if !hasFeature(Embedded)
    public var error: any Error {
        switch self {
        case .system(let e): e
        case .record(let e): e
        }
    }
    #endif
}
