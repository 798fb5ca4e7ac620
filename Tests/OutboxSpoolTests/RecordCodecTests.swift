import Glibc
import OutboxCore
@testable import OutboxSpool
import Testing

@Suite("Drop record codec")
struct RecordCodecTests {
    static let sample: [Record] = [
        Record(.sender, "a@x.test"), Record(.parameter, "NOTIFY=FAILURE"), Record(.recipient, [UInt8]("b@x.test".utf8) + [0] + [UInt8]("b".utf8)),
        Record(.content, [UInt8](repeating: 0xFF, count: RecordLimits.maxContentPayload)), Record(.content, []), Record(.parameter, "BODY=8BITMIME"), Record(.end),
    ]

    @Test("round trip")
    func roundTrip() throws {
        #expect(try RecordDecoder.decodeAll(RecordEncoder.encode(Self.sample)) == Self.sample)
    }

    @Test("every truncation is detected")
    func truncated() {
        let bytes = RecordEncoder.encode(Array(Self.sample.prefix(3)))
        for cut in 1..<bytes.count {
            var d = RecordDecoder(Array(bytes[..<cut]))
            let complete = RecordEncoder.encode(Array(Self.sample.prefix(1))).count
            let completeTwo = RecordEncoder.encode(Array(Self.sample.prefix(2))).count
            if cut == complete || cut == completeTwo { continue }
            #expect(throws: RecordError.self, "cut at \(cut)") { while try d.next() != nil {} }
        }
    }

    @Test("oversized and unknown records are refused")
    func refused() {
        var oversized: [UInt8] = [RecordType.sender.rawValue, 0, 0, 0x10, 0x01]
        oversized += [UInt8](repeating: 65, count: 4097)
        #expect(throws: RecordError.oversized(type: .sender, length: 4097)) { try RecordDecoder.decodeAll(oversized) }
        #expect(throws: RecordError.unknownType(0x5A, offset: 0)) { try RecordDecoder.decodeAll([0x5A, 0, 0, 0, 0]) }
        var huge: [UInt8] = [RecordType.content.rawValue, 0x7F, 0xFF, 0xFF, 0xFF]
        huge += [1, 2, 3]
        #expect(throws: RecordError.self) { try RecordDecoder.decodeAll(huge) }
    }

    @Test("the streaming reader agrees with the buffer decoder, across tiny reads")
    func streamingReader() throws {
        let bytes = RecordEncoder.encode(Self.sample)
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let writer = FileDescriptor(rawValue: fds[1])
        // A pipe holds 64 KiB: write from a thread so the reader can drain it.
        let thread = Thread { try? writer.writeAll(bytes); writer.close() }
        thread.start()
        var reader = RecordReader(FileDescriptor(rawValue: fds[0]))
        var got: [Record] = []
        while try reader.next({ type, payload in got.append(Record(type, Array(payload))) }) {}
        close(fds[0])
        #expect(got == Self.sample)
    }
}

/// A minimal thread, to avoid Foundation in this target.
final class Thread: @unchecked Sendable {
    let body: () -> Void
    var handle = pthread_t()
    init(_ body: @escaping () -> Void) { self.body = body }
    func start() {
        let box = Unmanaged.passRetained(self)
        pthread_create(&handle, nil, { ctx in
            let t = Unmanaged<Thread>.fromOpaque(ctx!).takeRetainedValue()
            t.body()
            return nil
        }, box.toOpaque())
        pthread_detach(handle)
    }
}

@Suite("Drop stream grammar")
struct DropStreamGrammarTests {
    static let valid: [[RecordType]] = [
        [.sender, .recipient, .end], [.sender, .parameter, .recipient, .recipient, .content, .content, .parameter, .end],
        [.flush, .end], [.sender, .recipient, .parameter, .content, .end],
    ]
    static let invalid: [[RecordType]] = [
        [.recipient, .end], [.sender, .end], [.sender, .content, .end], [.uid, .sender, .recipient, .end],
        [.sender, .recipient, .content, .recipient, .end], [.flush, .content, .end], [.sender, .recipient, .end, .content],
        [.sender, .recipient, .content, .parameter, .content, .end], [.sender, .sender, .recipient, .end],
    ]

    func accepts(_ types: [RecordType]) -> Bool {
        var g = DropStreamGrammar()
        do {
            for t in types { try g.accept(t) }
            return g.isComplete
        } catch { return false }
    }

    @Test("valid streams", arguments: valid)
    func validStreams(_ types: [RecordType]) { #expect(accepts(types)) }

    @Test("invalid streams", arguments: invalid)
    func invalidStreams(_ types: [RecordType]) { #expect(!accepts(types)) }

    @Test("recipient count is limited")
    func limit() {
        #expect(!accepts([.sender] + Array(repeating: .recipient, count: RecordLimits.maxRecipients + 1) + [.end]))
    }
}

@Suite("Durable drop writer and hostile drop files", .serialized)
struct DropWriterTests {
    func tempSpool() -> SpoolLayout {
        var template = Array("/tmp/outbox-spool-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        let layout = SpoolLayout(root: dir)
        try! layout.createDropDirectories(groupWritable: false)
        return layout
    }

    func names(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if n != "." && n != ".." { out.append(n) }
        }
        return out
    }

    func write(_ layout: SpoolLayout, _ records: [Record]) throws -> DropWriter {
        let w = try DropWriter(layout: layout)
        for r in [Record(.version, DropFile.currentVersion), Record(.queueID, w.queueID.text), Record(.uid, "1000"), Record(.time, "1700000000")] + records {
            try w.append(r)
        }
        return w
    }

    @Test("commit moves a complete file into new/; abandon leaves nothing")
    func commitAndAbandon() throws {
        let layout = tempSpool()
        let w = try write(layout, [Record(.sender, ""), Record(.recipient, "a@x"), Record(.content, "hi\r\n"), Record(.end)])
        #expect(names(layout.maildropTmp) == [w.queueID.text])
        try w.commit()
        #expect(names(layout.maildropNew) == [w.queueID.text] && names(layout.maildropTmp).isEmpty)
        let file = try DropFile.read(path: layout.maildropNew + "/" + w.queueID.text)
        #expect(file.sender == "" && file.recipients == [DropFile.Recipient("a@x")] && file.uid == 1000 && file.contentSize == 4)

        let a = try write(layout, [Record(.sender, "s@x")])
        a.abandon()
        #expect(names(layout.maildropTmp).isEmpty && names(layout.maildropNew).count == 1)
    }

    @Test("DropFile.read refuses symlinks, hard links, directories, truncated and header-less files")
    func hostile() throws {
        let layout = tempSpool()
        let w = try write(layout, [Record(.sender, "s@x"), Record(.recipient, "a@x"), Record(.end)])
        try w.commit()
        let good = layout.maildropNew + "/" + w.queueID.text
        #expect(throws: Never.self) { try DropFile.read(path: good) }
        symlink(good, layout.root + "/link")
        #expect(throws: (any Error).self) { try DropFile.read(path: layout.root + "/link") }
        link(good, layout.root + "/hard")
        #expect(throws: (any Error).self) { try DropFile.read(path: good) }
        unlink(layout.root + "/hard")
        #expect(throws: (any Error).self) { try DropFile.read(path: layout.maildropTmp) }

        let truncated = layout.root + "/truncated"
        let fd = open(truncated, O_CREAT | O_WRONLY, 0o600)
        let bytes = RecordEncoder.encode([Record(.version, DropFile.currentVersion), Record(.queueID, w.queueID.text), Record(.uid, "1"), Record(.time, "1"),
                                          Record(.sender, "s@x"), Record(.recipient, "a@x")])
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        #expect(throws: RecordError.self) { try DropFile.read(path: truncated) }

        let headerless = layout.root + "/headerless"
        let fd2 = open(headerless, O_CREAT | O_WRONLY, 0o600)
        let b2 = RecordEncoder.encode([Record(.sender, "s@x"), Record(.recipient, "a@x"), Record(.end)])
        _ = b2.withUnsafeBytes { Glibc.write(fd2, $0.baseAddress, $0.count) }
        close(fd2)
        #expect(throws: RecordError.self) { try DropFile.read(path: headerless) }
    }

    @Test("queue IDs are 14 characters, unique and sortable by time")
    func queueIDs() {
        var seen = Set<String>()
        var previous = ""
        for _ in 0..<2000 {
            let id = QueueID.generate().text
            #expect(QueueID(id) != nil)
            #expect(seen.insert(id).inserted)
            #expect(String(id.prefix(10)) >= String(previous.prefix(10)))
            previous = id
        }
    }
}
