import Foundation
import OutboxSpool
import Testing

/// One fixture: NAME.input piped into sendmail with the arguments of NAME.expect.
struct SubmissionFixture: CustomTestStringConvertible, Sendable {
    let name: String
    var testDescription: String { name }

    static let all: [SubmissionFixture] = {
        let dir = Fixtures.directory + "/submit"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasSuffix(".expect") }.map { SubmissionFixture(name: String($0.dropLast(7))) }.sorted { $0.name < $1.name }
    }()

    struct Expectation {
        var arguments: [String] = []
        var exit: Int32 = 0
        var sender: String?
        var recipients: [String] = []
        var parameters: [String] = []
        var message: String?
    }

    func expectation() throws -> Expectation {
        let text = try String(contentsOfFile: Fixtures.directory + "/submit/\(name).expect", encoding: .utf8)
        var e = Expectation()
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)[...]
        while let line = lines.popFirst() {
            if line == "message:" {
                e.message = lines.joined(separator: "\n")
                break
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            let value = String(line[line.index(after: colon)...].dropFirst(1))
            switch key {
            case "args": e.arguments = splitArguments(value)
            case "exit": e.exit = Int32(value)!
            case "sender": e.sender = value
            case "rcpt": e.recipients.append(value)
            case "param": e.parameters.append(value)
            default: break
            }
        }
        return e
    }

    func substitute(_ s: String) -> String {
        s.replacingOccurrences(of: "{USER}", with: Caller.user)
            .replacingOccurrences(of: "{UID}", with: String(Caller.uid))
            .replacingOccurrences(of: "{HOST}", with: Caller.host)
            .replacingOccurrences(of: "{FROM}", with: Caller.from)
    }
}

@Suite("sendmail stores exactly the envelope and bytes each fixture expects")
struct SubmissionFixtureTests {
    @Test("fixture", arguments: SubmissionFixture.all)
    func fixture(_ fixture: SubmissionFixture) throws {
        let instance = try Instance()
        let e = try fixture.expectation()
        let input = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.directory + "/submit/\(fixture.name).input")))
        let result = try instance.sendmail(e.arguments, stdin: input)
        #expect(result.code == e.exit, "stderr: \(result.stderr)")
        guard e.exit == 0 else {
            #expect(instance.queued().isEmpty, "a refused submission queued something")
            #expect(instance.unfinished().isEmpty, "a refused submission left a partial file")
            #expect(result.stderr.split(separator: "\n").count == 1, "want one line naming the problem: \(result.stderr)")
            return
        }
        #expect(result.stdout.isEmpty && result.stderr.isEmpty, "sendmail must be silent on success")
        let files = try instance.dropFiles()
        try #require(files.count == 1)
        let (file, message) = files[0]
        #expect(file.sender == fixture.substitute(e.sender ?? ""))
        let recipients = file.recipients.map { r in r.original.map { "\(r.address) orig=\($0)" } ?? r.address }
        #expect(recipients == e.recipients.map(fixture.substitute))
        // ORIGIN names the test runner here; its shape is OriginTests' subject.
        #expect(file.parameters.filter { !$0.hasPrefix("ORIGIN=") }.sorted() == e.parameters.sorted())
        #expect(file.parameter("ORIGIN")?.hasPrefix("login=") == true)
        #expect(file.uid == Int(getuid()))
        #expect(instance.unfinished().isEmpty)
        #expect(hasOnlyCRLFLineEndings(message), "bare CR or LF stored")

        var actual = String(decoding: message, as: UTF8.self).replacingOccurrences(of: file.queueID, with: "{ID}")
        actual = actual.replacing(/[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}/, with: "{DATE}")
        actual = actual.replacing(/<\d{14}\./, with: "<{COMPACT}.")
        let expected = fixture.substitute(e.message ?? "").replacingOccurrences(of: "\n", with: "\r\n")
        #expect(actual == expected)
    }
}
