import Foundation
import OutboxConfig
import Testing

@testable import OutboxSubmit

enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static func manPage(_ name: String) throws -> String { try String(contentsOfFile: root + "/man/" + name, encoding: .utf8) }
    /// The names of the pages in man/ (section 1-8).
    static func manPages() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root + "/man").filter { $0.range(of: #"\.[1-8]$"#, options: .regularExpression) != nil }
    }
}

@Suite("Every program, option and key is documented, and the pages lint clean")
struct DocumentationTests {
    @Test("every outbox.conf key has its entry in outbox.conf(5) and in etc/outbox.conf")
    func configKeys() throws {
        let page = try Repository.manPage("outbox.conf.5")
        let sample = try String(contentsOfFile: Repository.root + "/etc/outbox.conf", encoding: .utf8)
        for key in ConfigParser.keyNames {
            #expect(page.contains("Cm \(key)"), "outbox.conf.5 lacks \(key)")
            #expect(sample.contains("#\(key) ="), "etc/outbox.conf lacks \(key)")
        }
    }

    @Test("every sendmail option letter appears in sendmail(8)")
    func sendmailOptions() throws {
        let page = try Repository.manPage("sendmail.8")
        for letter in SendmailArguments.withValue.union(SendmailArguments.flags).union(["q"]) {
            #expect(page.contains("Fl \(letter)"), "sendmail.8 lacks -\(letter)")
        }
        for mode in ["bm", "bp", "bs", "bi", "bv"] { #expect(page.contains("Fl \(mode)")) }
    }

    @Test("every outboxctl subcommand and option is in outboxctl(8)")
    func outboxctlCommands() throws {
        let page = try Repository.manPage("outboxctl.8")
        let help = try run(Binaries.directory + "/outboxctl", ["--help"]).stdout
        let commands = help.components(separatedBy: "SUBCOMMANDS:")[1].split(separator: "\n")
            .filter { $0.hasPrefix("  ") && !$0.hasPrefix("    ") && !$0.contains("See '") }
            .compactMap { $0.split(separator: " ").first.map { String($0).trimmingCharacters(in: .punctuationCharacters) } }
        #expect(commands.count >= 9, "\(help)")
        for command in commands {
            #expect(page.contains("Cm \(command)"), "outboxctl.8 lacks \(command)")
            let sub = try run(Binaries.directory + "/outboxctl", ["help", command]).stdout
            for option in sub.matches(of: /--([a-z-]+)/).map({ String($0.1) }) where option != "help" {
                #expect(page.contains("Fl \\-\(option)"), "outboxctl.8 lacks --\(option) of \(command)")
            }
        }
    }

    @Test("every executable has a man page")
    func executables() throws {
        let sources = try FileManager.default.contentsOfDirectory(atPath: Repository.root + "/Sources")
        let man = try FileManager.default.contentsOfDirectory(atPath: Repository.root + "/man")
        for target in sources where FileManager.default.fileExists(atPath: Repository.root + "/Sources/\(target)/main.swift") {
            #expect(man.contains { $0.hasPrefix(target + ".") }, "\(target) has no man page")
        }
    }

    @Test(
        "groff renders every page without a warning, as man -l does",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/groff"), "groff not installed"))
    func groff() throws {
        let pages = try Repository.manPages()
        #expect(pages.count >= 6)
        for page in pages {
            let r = try run("/usr/bin/groff", ["-mandoc", "-ww", "-z", "-Tutf8", Repository.root + "/man/" + page])
            #expect(r.code == 0 && r.stderr.isEmpty, "\(page): \(r.stderr)")
        }
    }

    @Test("mandoc -T lint reports nothing", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/mandoc"), "mandoc not installed"))
    func lint() throws {
        let pages = try Repository.manPages()
        #expect(pages.count >= 4)
        for page in pages {
            let r = try run("/usr/bin/mandoc", ["-T", "lint", "-W", "warning", Repository.root + "/man/" + page])
            #expect(r.code == 0 && r.stdout.isEmpty && r.stderr.isEmpty, "\(page): \(r.stdout)\(r.stderr)")
        }
    }
}
