import OutboxConfig
import OutboxDrop
import Testing

@Suite("the drop helper's own reading of spool_directory agrees with the full parser")
struct SpoolDirectorySettingTests {
    static let configurations = [
        "",
        "spool_directory = /srv/spool\n",
        "# spool_directory = /commented\nspool_directory=/a\nspool_directory = /b  \n",
        "smarthost = smtp://mx.example.org,\n    smtps://backup.example.org\nspool_directory =\t/tab/spool\r\ndomain = example.org\n",
        "spool_directory = /first\n  # a comment between\nspool_directory = /second\n    /continued\n",
        "domain = example.org\n\n\n   \nspool_directory = /x/y/\n",
    ]

    @Test("same spool root as ConfigParser", arguments: configurations)
    func agrees(_ text: String) throws {
        let full = try ConfigParser.parse(text, path: "outbox.conf")
        #expect(try SpoolDirectorySetting.parse(text).get() == full.spoolDirectory)
    }

    @Test("a relative spool_directory is refused by both, on the same line")
    func relative() {
        let text = "domain = example.org\nspool_directory = var/spool\n"
        #expect(throws: ConfigError.self) { try ConfigParser.parse(text, path: "outbox.conf") }
        guard case .failure(let error) = SpoolDirectorySetting.parse(text) else {
            Issue.record("a relative path was accepted")
            return
        }
        #expect(error.line == 2)
    }
}
