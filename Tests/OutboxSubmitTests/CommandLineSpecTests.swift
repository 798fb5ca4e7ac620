import OutboxSupport
import Testing

@Suite("outboxctl's command line: subcommands, options, operands, help and usage errors")
struct CommandLineSpecTests {
    let spec = CommandLineSpec(
        "tool", abstract: "A tool.",
        subcommands: [
            .init(
                "show", aliases: ["list"], abstract: "Show one.",
                options: [.init("config", short: "C", value: "file", help: "Config."), .init("json", help: "JSON.")],
                operands: [.init("id", help: "An ID.")]),
            .init("hold", abstract: "Hold some.", operands: [.init("ids", .oneOrMore, help: "IDs.")]),
            .init("keys", abstract: "Keys.", operands: [.init("key", .any, help: "Keys.")]),
            .init(
                "oauth", abstract: "Tokens.",
                subcommands: [.init("status", abstract: "State.", options: [.init("route", value: "name", help: "Route.")])]),
        ])

    func run(_ words: [String]) -> CommandLineSpec.Invocation? {
        if case .run(let invocation) = spec.parse(words) { return invocation }
        return nil
    }

    func usage(_ words: [String]) -> String? {
        if case .usage(let line) = spec.parse(words) { return line }
        return nil
    }

    func help(_ words: [String]) -> String? {
        if case .help(let text) = spec.parse(words) { return text }
        return nil
    }

    @Test("options in every spelling, before or after operands; aliases; -- ends options")
    func spellings() {
        for words in [
            ["show", "-C", "f", "--json", "X1"], ["show", "X1", "--config", "f", "--json"], ["show", "--config=f", "X1", "--json"],
            ["list", "-Cf", "--json", "X1"],
        ] {
            #expect(run(words) == .init(path: ["show"], options: ["config": "f", "json": ""], operands: ["X1"]), "\(words)")
        }
        #expect(run(["show", "--", "-X1"])?.operands == ["-X1"])
        #expect(run(["hold", "A", "B", "ALL"])?.operands == ["A", "B", "ALL"])
        #expect(run(["keys"])?.operands == [])
        #expect(run(["oauth", "status", "--route", "app"]) == .init(path: ["oauth", "status"], options: ["route": "app"]))
    }

    @Test("usage errors: one line naming what was wrong")
    func errors() {
        #expect(usage(["show"]) == "show: missing <id>; usage: tool show [--config <file>] [--json] <id>")
        #expect(usage(["show", "a", "b"])?.hasPrefix("show: unexpected argument 'b'") == true)
        #expect(usage(["hold"])?.hasPrefix("hold: missing <ids>") == true)
        #expect(usage(["show", "--bogus", "X"]) == "show: unknown option '--bogus'")
        #expect(usage(["show", "--json=yes", "X"]) == "show: unknown option '--json=yes' (it takes no value)")
        #expect(usage(["show", "X", "-C"]) == "show: -C/--config needs a value (<file>)")
        #expect(usage(["nope"]) == "unknown command 'nope' (tool --help lists them)")
        #expect(usage(["--nope"])?.hasPrefix("unknown option '--nope'") == true)
        #expect(usage(["oauth", "x"]) == "oauth: unknown command 'x' (tool oauth --help lists them)")
        #expect(usage(["help", "nope"]) == "help: unknown command 'nope'")
        // Regression (review): "--=json" was read as "--json=json".
        #expect(usage(["show", "--=json", "X"]) == "show: unknown option '--=json'")
    }

    @Test("help: the top, a command, a nested one, by --help or help")
    func helpTexts() {
        let top = help([]) ?? ""
        #expect(help(["--help"]) == top && top.contains("SUBCOMMANDS:\n  show, list ") && top.contains("  oauth "))
        let show = help(["help", "show"]) ?? ""
        #expect(help(["show", "--help"]) == show && help(["show", "-h"]) == show)
        #expect(show.contains("USAGE: tool show [--config <file>] [--json] <id>") && show.contains("  -C, --config <file>     Config."))
        let status = help(["help", "oauth", "status"]) ?? ""
        #expect(help(["oauth", "status", "--help"]) == status && status.contains("USAGE: tool oauth status [--route <name>]"))
        #expect(help(["oauth"])?.contains("See 'tool help oauth <subcommand>'") == true)
    }
}
