import Glibc
import OutboxCore
import OutboxDrop
import Testing

@testable import OutboxSpool

@Suite("Drop record codec")
struct RecordCodecTests {
    static let sample: [Record] = [
        Record(.sender, "a@x.test"), Record(.parameter, "NOTIFY=FAILURE"), Record(.recipient, [UInt8]("b@x.test".utf8) + [0] + [UInt8]("b".utf8)),
        Record(.content, [UInt8](repeating: 0xFF, count: RecordLimits.maxContentPayload)), Record(.content, []), Record(.parameter, "BODY=8BITMIME"),
        Record(.end),
    ]

    /// An unlinked temporary file holding `bytes`, positioned at its start.
    static func file(_ bytes: [UInt8]) throws -> FileDescriptor {
        var template = Array("/tmp/outbox-records-XXXXXX".utf8CString)
        let raw = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        try #require(raw >= 0)
        let file = FileDescriptor(owning: raw, path: "records")
        unlink(String(cString: template.withUnsafeBufferPointer { $0.baseAddress! }))
        try file.writeAll(bytes)
        lseek(file.rawValue, 0, SEEK_SET)
        return file
    }

    /// Every record, through the reader production uses, with reads of `readLimit` octets.
    static func decodeAll(_ bytes: [UInt8], readLimit: Int = .max) throws -> [Record] {
        let input = try file(bytes)
        var reader = RecordReader(readLimit: readLimit)
        var got: [Record] = []
        while try reader.next(from: input, { type, payload in got.append(Record(type, Array(payload))) }) {}
        return got
    }

    @Test("round trip")
    func roundTrip() throws {
        #expect(try Self.decodeAll(RecordEncoder.encode(Self.sample)) == Self.sample)
    }

    @Test("every truncation is detected, with one-octet reads too")
    func truncated() throws {
        let bytes = RecordEncoder.encode(Array(Self.sample.prefix(3)))
        let complete = RecordEncoder.encode(Array(Self.sample.prefix(1))).count
        let completeTwo = RecordEncoder.encode(Array(Self.sample.prefix(2))).count
        for cut in 1..<bytes.count where cut != complete && cut != completeTwo {
            for readLimit in [1, .max] {
                #expect(throws: RecordError.self, "cut at \(cut)") { try Self.decodeAll(Array(bytes[..<cut]), readLimit: readLimit) }
            }
        }
    }

    @Test("oversized and unknown records are refused")
    func refused() {
        var oversized: [UInt8] = [RecordType.sender.rawValue, 0, 0, 0x10, 0x01]
        oversized += [UInt8](repeating: 65, count: 4097)
        #expect(throws: RecordError.oversized(type: .sender, length: 4097)) { try Self.decodeAll(oversized) }
        #expect(throws: RecordError.unknownType(0x5A, offset: 0)) { try Self.decodeAll([0x5A, 0, 0, 0, 0]) }
        var huge: [UInt8] = [RecordType.content.rawValue, 0x7F, 0xFF, 0xFF, 0xFF]
        huge += [1, 2, 3]
        #expect(throws: RecordError.self) { try Self.decodeAll(huge) }
    }

    @Test("the reader gives the same records with reads of 1, 2, 3, 7 and 4096 octets", arguments: [1, 2, 3, 7, 4096])
    func tinyReads(_ readLimit: Int) throws {
        #expect(try Self.decodeAll(RecordEncoder.encode(Self.sample), readLimit: readLimit) == Self.sample)
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
        for r in [Record(.version, DropFile.currentVersion), Record(.queueID, w.queueID.text), Record(.uid, "1000"), Record(.time, "1700000000")]
            + records
        {
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
        let bytes = RecordEncoder.encode([
            Record(.version, DropFile.currentVersion), Record(.queueID, w.queueID.text), Record(.uid, "1"), Record(.time, "1"),
            Record(.sender, "s@x"), Record(.recipient, "a@x"),
        ])
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
