import OutboxCore
import OutboxSupport

/// Splits the start of a CRLF-normalised message into header fields and the first body
/// octets, incrementally, with a cap on the header size.
///
/// Rules (as Postfix's cleanup): leading mbox `From ` and `>From ` lines are dropped; a line that is
/// neither `name:`, nor a continuation of a field, ends the header section and is the
/// first body line; an empty line ends it and is consumed.
public struct HeaderSectionParser {
    /// The outcome of feeding more input.
    public enum Progress: Equatable {
        /// More input is needed.
        case needMore
        /// The header section is complete; `bodyStart` octets of the buffered input belong
        /// to the body (the caller passes them on before any further input).
        case complete(bodyStart: [UInt8])
    }

    /// Headers larger than this are refused (Postfix's header_size_limit is 100 KiB; this is
    /// generous because nothing here truncates).
    public static let maxHeaderBytes = 1 << 20

    public private(set) var fields: [HeaderField] = []
    private var pending: [UInt8] = []
    private var current: [UInt8]? = nil
    private var sawField = false

    public init() {}

    /// Why the header section was refused.
    public struct TooLarge: Error {}

    /// Feeds normalised octets (CRLF line endings only).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(TooLarge) -> Progress {
        pending.append(contentsOf: bytes)
        var lineStart = 0
        while true {
            let slice = pending[lineStart...]
            let lf = slice.firstIndex(of: ASCII.lf)
            let lineEnd = lf.map { $0 + 1 } ?? pending.count
            let line = pending[lineStart..<lineEnd]
            switch classify(line, complete: lf != nil) {
            case .undecided:
                pending.removeFirst(lineStart)
                if pending.count + (current?.count ?? 0) + fields.reduce(0, { $0 + $1.raw.count }) > Self.maxHeaderBytes {
                    throw TooLarge()
                }
                return .needMore
            case .mboxFrom:
                lineStart = lineEnd
            case .field:
                closeCurrent()
                current = Array(line)
                sawField = true
                lineStart = lineEnd
            case .continuation:
                current!.append(contentsOf: line)
                lineStart = lineEnd
            case .blank:
                closeCurrent()
                let rest = Array(pending[lineEnd...])
                pending = []
                return .complete(bodyStart: rest)
            case .body:
                closeCurrent()
                let rest = Array(pending[lineStart...])
                pending = []
                return .complete(bodyStart: rest)
            }
        }
    }

    /// Ends the input: whatever is pending is the last header line or the body.
    public mutating func finish() -> [UInt8] {
        if !pending.isEmpty {
            if case .field = classify(pending[...], complete: true) {
                closeCurrent()
                current = pending
                pending = []
            } else if case .continuation = classify(pending[...], complete: true) {
                current!.append(contentsOf: pending)
                pending = []
            }
        }
        closeCurrent()
        let rest = pending
        pending = []
        return rest
    }

    private mutating func closeCurrent() {
        if let c = current, let field = HeaderField(raw: c) { fields.append(field) }
        current = nil
    }

    enum LineKind { case undecided, mboxFrom, field, continuation, blank, body }

    /// An incomplete line can only be decided early when it is certainly body text (so a
    /// huge body-only line never has to be held); anything else waits for its LF.
    private func classify(_ line: ArraySlice<UInt8>, complete: Bool) -> LineKind {
        let kind = classifyPrefix(line, complete: complete)
        if complete || kind == .body { return kind }
        return .undecided
    }

    private func classifyPrefix(_ line: ArraySlice<UInt8>, complete: Bool) -> LineKind {
        guard let first = line.first else { return complete ? .blank : .undecided }
        if first == ASCII.cr {
            if line.count >= 2 { return line[line.startIndex + 1] == ASCII.lf ? .blank : .body }
            return complete ? .blank : .undecided
        }
        if ASCII.isWSP(first) { return current != nil ? .continuation : .body }
        // mbox separators before the first field: `From ` and its escaped form `>From `
        // (an mbox message that was itself quoted), both dropped as Postfix does.
        if !sawField && current == nil {
            for marker in ["From ", ">From "] {
                if line.starts(with: marker.utf8) { return complete ? .mboxFrom : .undecided }
                if line.count < marker.utf8.count && marker.utf8.starts(with: line) && !complete { return .undecided }
            }
        }
        var i = line.startIndex
        while i < line.endIndex {
            // No field name is longer than a line may be: a longer run is body text, so a
            // huge body-only first line is never held in memory.
            if i - line.startIndex > 998 { return .body }
            let b = line[i]
            if b == UInt8(ascii: ":") { return i == line.startIndex ? .body : .field }
            if b <= 32 || b >= 127 {
                // obs-syntax: blanks between name and colon.
                var j = i
                while j < line.endIndex && ASCII.isWSP(line[j]) { j += 1 }
                if j < line.endIndex && line[j] == UInt8(ascii: ":") && ASCII.isWSP(b) { return .field }
                if j == line.endIndex && !complete { return .undecided }
                return .body
            }
            i += 1
        }
        return complete ? .body : .undecided
    }
}
