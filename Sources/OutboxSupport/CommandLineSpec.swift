/// A command line of subcommands, options and operands, as a value: what outboxctl accepts,
/// its help text and its one-line usage errors. outboxctl used swift-argument-parser for
/// this; it needs FoundationEssentials (about 7 MB in every static binary that links it), and
/// outboxctl now shares one executable with outboxd (see Package.swift), so the parsing
/// it needs is here. The help follows swift-argument-parser's layout, which operators and
/// outboxctl(8)'s documentation test already read.
public struct CommandLineSpec: Sendable {
    public struct Option: Sendable {
        public let long: String
        public let short: Character?
        /// The value's name in help ("file"); nil for a flag.
        public let value: String?
        public let help: String

        public init(_ long: String, short: Character? = nil, value: String? = nil, help: String) {
            (self.long, self.short, self.value, self.help) = (long, short, value, help)
        }

        var usage: String { "--\(long)" + (value.map { " <\($0)>" } ?? "") }
        var names: String { (short.map { "-\($0), " } ?? "") + usage }
    }

    public enum Arity: Sendable {
        case one, oneOrMore, any
    }

    public struct Operand: Sendable {
        public let name: String
        public let arity: Arity
        public let help: String

        public init(_ name: String, _ arity: Arity = .one, help: String) { (self.name, self.arity, self.help) = (name, arity, help) }

        var usage: String {
            switch arity {
            case .one: "<\(name)>"
            case .oneOrMore: "<\(name)> ..."
            case .any: "[<\(name)> ...]"
            }
        }
    }

    public let name: String
    public let aliases: [String]
    public let abstract: String
    public let options: [Option]
    public let operands: [Operand]
    public let subcommands: [CommandLineSpec]

    public init(
        _ name: String, aliases: [String] = [], abstract: String, options: [Option] = [], operands: [Operand] = [],
        subcommands: [CommandLineSpec] = []
    ) {
        (self.name, self.aliases, self.abstract, self.options, self.operands, self.subcommands) =
            (name, aliases, abstract, options, operands, subcommands)
    }

    /// What a command line asks for.
    public enum Outcome: Equatable, Sendable {
        /// Run the command at `path` (names from the top, "oauth login").
        case run(Invocation)
        /// Print this help on stdout and exit 0.
        case help(String)
        /// One line for stderr (without the program name), exit 64.
        case usage(String)
    }

    public struct Invocation: Equatable, Sendable {
        public var path: [String] = []
        /// Options by long name; a flag given has the value "".
        public var options: [String: String] = [:]
        public var operands: [String] = []

        public init(path: [String] = [], options: [String: String] = [:], operands: [String] = []) {
            (self.path, self.options, self.operands) = (path, options, operands)
        }

        public func has(_ flag: String) -> Bool { options[flag] != nil }
        public subscript(option: String) -> String? { options[option] }
    }

    /// Parses `arguments` (without the program name).
    public func parse(_ arguments: [String]) -> Outcome {
        var command = self
        var path: [String] = []
        var rest = arguments[...]
        // `help SUBCOMMAND ...` is `SUBCOMMAND ... --help`.
        if rest.first == "help" && !subcommands.isEmpty {
            rest = rest.dropFirst()
            var target = self
            var names: [String] = []
            for word in rest {
                guard let sub = target.subcommand(word) else { return .usage("help: unknown command '\(word)'") }
                target = sub
                names.append(sub.name)
            }
            return .help(helpText(path: names))
        }
        while let word = rest.first, let sub = command.subcommand(word) {
            command = sub
            path.append(sub.name)
            rest = rest.dropFirst()
        }
        // What a usage error begins with ("show: "), and the command's whole name.
        let prefix = path.isEmpty ? "" : path.joined(separator: " ") + ": "
        let full = ([name] + path).joined(separator: " ")
        var invocation = Invocation(path: path)
        var onlyOperands = false
        while let word = rest.popFirst() {
            if word == "-h" || word == "--help", !onlyOperands { return .help(helpText(path: path)) }
            if onlyOperands || !word.hasPrefix("-") || word == "-" {
                invocation.operands.append(word)
                continue
            }
            if word == "--" {
                onlyOperands = true
                continue
            }
            // --name, --name=value, -x, -x value, -xvalue.
            var inlineValue: String?
            let option: Option?
            if word.hasPrefix("--") {
                let body = word.dropFirst(2)
                let name = String(body.prefix { $0 != "=" })
                if body.contains("=") { inlineValue = String(body.drop { $0 != "=" }.dropFirst()) }
                option = command.options.first { $0.long == name }
            } else {
                let letter = word.dropFirst().first!
                option = command.options.first { $0.short == letter }
                if word.count > 2 { inlineValue = String(word.dropFirst(2)) }
            }
            guard let option, option.value != nil || inlineValue == nil else {
                if !command.subcommands.isEmpty && path.isEmpty && option == nil {
                    return .usage("unknown option '\(word)' (\(command.name) --help lists the commands)")
                }
                return .usage("\(prefix)unknown option '\(word)'" + (option != nil ? " (it takes no value)" : ""))
            }
            if option.value == nil {
                invocation.options[option.long] = ""
                continue
            }
            guard let value = inlineValue ?? rest.popFirst() else {
                return .usage("\(prefix)\(option.short.map { "-\($0)/" } ?? "")--\(option.long) needs a value (<\(option.value!)>)")
            }
            invocation.options[option.long] = value
        }
        if !command.subcommands.isEmpty {
            // A command of commands: a word that is none of them, or none at all.
            if let word = invocation.operands.first {
                return .usage("\(prefix)unknown command '\(word)' (\(full) --help lists them)")
            }
            return .help(helpText(path: path))
        }
        var remaining = invocation.operands[...]
        for operand in command.operands {
            if operand.arity != .any && remaining.isEmpty {
                return .usage("\(prefix)missing <\(operand.name)>; usage: \(command.usageLine(full))")
            }
            if operand.arity == .one { remaining = remaining.dropFirst() } else { remaining = [] }
        }
        if let extra = remaining.first { return .usage("\(prefix)unexpected argument '\(extra)'; usage: \(command.usageLine(full))") }
        return .run(invocation)
    }

    private func subcommand(_ word: String) -> CommandLineSpec? {
        subcommands.first { $0.name == word || $0.aliases.contains(word) }
    }

    /// "outboxctl show [--config <config>] <id>": `full` is the command's name from the top.
    private func usageLine(_ full: String) -> String {
        ([full] + options.map { "[\($0.usage)]" } + operands.map { $0.usage }).joined(separator: " ")
    }

    /// Help in swift-argument-parser's layout: OVERVIEW, USAGE, ARGUMENTS, OPTIONS and
    /// SUBCOMMANDS.
    func helpText(path: [String]) -> String {
        var target = self
        for name in path { target = target.subcommand(name)! }
        let full = ([name] + path).joined(separator: " ")
        var text = "OVERVIEW: \(target.abstract)\n\n"
        if !target.subcommands.isEmpty {
            text += "USAGE: \(full) <subcommand>\n\nOPTIONS:\n"
            text += Self.row("-h, --help", "Show help information.")
            text += "\nSUBCOMMANDS:\n"
            for sub in target.subcommands { text += Self.row(([sub.name] + sub.aliases).joined(separator: ", "), sub.abstract) }
            text += "\n  See '\(([name, "help"] + path).joined(separator: " ")) <subcommand>' for detailed help.\n"
            return text
        }
        text += "USAGE: \(target.usageLine(full))\n"
        if !target.operands.isEmpty {
            text += "\nARGUMENTS:\n"
            for operand in target.operands { text += Self.row("<\(operand.name)>", operand.help) }
        }
        text += "\nOPTIONS:\n"
        for option in target.options { text += Self.row(option.names, option.help) }
        text += Self.row("-h, --help", "Show help information.")
        return text
    }

    private static func row(_ names: String, _ help: String) -> String {
        let pad = names.count < 24 ? String(repeating: " ", count: 24 - names.count) : "\n" + String(repeating: " ", count: 26)
        return "  \(names)\(pad)\(help)\n"
    }
}
