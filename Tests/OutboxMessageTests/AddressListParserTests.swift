import OutboxMessage
import Testing

@Suite("RFC 5322 address lists")
struct AddressListParserTests {
    static let lists: [(String, [String])] = [
        ("a@x.test", ["a@x.test"]),
        ("A B <c@d.test>, e@f.test", ["c@d.test", "e@f.test"]),
        ("\"Doe, John\" <d@x.test>, e (comment, with comma)", ["d@x.test", "e"]),
        ("team: a@x.test, b@x.test;, undisclosed-recipients:;", ["a@x.test", "b@x.test"]),
        ("a@x.test,\r\n  b@x.test", ["a@x.test", "b@x.test"]),
        ("<@route.test:u@x.test>", ["u@x.test"]),
        ("\"quoted local\"@x.test", ["\"quoted local\"@x.test"]),
        ("root", ["root"]),
        ("a@[192.0.2.1]", ["a@[192.0.2.1]"]),
        ("Jörg <jörg@exämple.test>", ["jörg@exämple.test"]),
        (" , a@x.test , ", ["a@x.test"]),
        ("(only a comment)", []),
        ("=?UTF-8?B?SsO2cmc=?= <j@x.test>", ["j@x.test"]),
    ]

    @Test("parses", arguments: lists)
    func parses(_ text: String, _ expected: [String]) throws {
        #expect(try AddressListParser.parse(Array(text.utf8)).map(\.address) == expected)
    }

    static let malformed = [
        "a@@b", "<>", "john doe@x.test", "a@x.test>", "<a@x.test", "a@", "@x.test", ".a@x.test", "a..b@x.test",
        "a@x..test", "\"unterminated@x", "a@x.test (open comment", "a@b c", "<a@x> trailing",
    ]

    @Test("refuses", arguments: malformed)
    func refuses(_ text: String) {
        #expect(throws: AddressError.self) {
            let list = try AddressListParser.parse(Array(text.utf8))
            if list.isEmpty { throw AddressError(text, "empty") }
            _ = try list.map { try EnvelopeAddress.validate($0, original: text) }
        }
    }

    @Test("offsets point just after each local part, for in-place qualification")
    func offsets() throws {
        let text = Array("bob (Bob), \"X\" <joe>".utf8)
        let list = try AddressListParser.parse(text)
        #expect(list.map(\.localPartEnd) == [3, 19])
        #expect(list[1].displayName.map { String(decoding: $0, as: UTF8.self) } == "\"X\"")
    }

    static let unsafeArguments = [
        "a@x.test;rm -rf /", "|cmd@x.test", "`id`@x.test", "$HOME@x.test", "a&b@x.test", "a\\b@x.test",
        "team: a@x.test;", "", "a@x.test\nb@x.test",
    ]

    @Test("command-line arguments with shell metacharacters, groups or control characters are refused", arguments: unsafeArguments)
    func unsafe(_ arg: String) {
        #expect(throws: AddressError.self) { try EnvelopeAddress.parseArgument(arg) }
    }

    @Test("sender forms: null, bracketed, named")
    func senders() throws {
        #expect(try EnvelopeAddress.parseSender("") == nil)
        #expect(try EnvelopeAddress.parseSender("<>") == nil)
        #expect(try EnvelopeAddress.parseSender("Name <x@y.test>")?.address == "x@y.test")
        #expect(try EnvelopeAddress.parseSender("user")?.domain == nil)
        #expect(throws: AddressError.self) { try EnvelopeAddress.parseSender("a@x, b@y") }
    }
}
