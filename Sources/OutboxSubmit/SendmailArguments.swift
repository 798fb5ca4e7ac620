/// Parses sendmail's classic command line, the way Postfix's sendmail(1) does with
/// getopt("+…"): options may be bundled (`-ti`, `-oem`), values joined (`-fuser`) or
/// separate (`-f user`); parsing stops at `--` or at the first word that is not an option,
/// and every later word is a recipient. ArgumentParser does not fit this legacy syntax.
public enum SendmailArguments {
    /// Options that take a value (joined or as the next argument).
    static let withValue: Set<Character> = ["A", "B", "C", "F", "L", "N", "O", "R", "V", "X", "b", "e", "f", "h", "o", "p", "r"]
    /// Options without a value.
    static let flags: Set<Character> = ["G", "I", "U", "c", "i", "m", "n", "t", "v", "x"]

    /// Parses `arguments` (without argv[0]); `invokedAs` is argv[0]'s base name.
    public static func parse(_ arguments: [String], invokedAs: String = "sendmail") throws(UsageError) -> SendmailOptions {
        var options = SendmailOptions()
        switch invokedAs {
        case "mailq": options.mode = .listQueue
        case "newaliases": options.mode = .initAliases
        default: break
        }
        var index = 0
        while index < arguments.count {
            let arg = arguments[index]
            index += 1
            if arg == "--" { break }
            if arg.hasPrefix("--") { throw UsageError("unknown option \(arg)") }
            guard arg.hasPrefix("-"), arg.count > 1 else {
                index -= 1
                break
            }
            var letters = Substring(arg.dropFirst())
            while let letter = letters.first {
                letters = letters.dropFirst()
                if letter == "q" {
                    // -q and -q<interval>/-qR…/-qS…: one request to run the queue now.
                    options.mode = .flush
                    letters = ""
                    continue
                }
                if withValue.contains(letter) {
                    var value: String
                    if !letters.isEmpty {
                        value = String(letters)
                        letters = ""
                    } else if index < arguments.count {
                        value = arguments[index]
                        index += 1
                    } else {
                        throw UsageError("option -\(letter) requires a value")
                    }
                    try apply(letter, value, to: &options)
                } else if flags.contains(letter) {
                    applyFlag(letter, to: &options)
                } else {
                    throw UsageError("unknown option -\(letter)")
                }
            }
        }
        options.recipients.append(contentsOf: arguments[index...])
        return options
    }

    static func applyFlag(_ letter: Character, to options: inout SendmailOptions) {
        switch letter {
        case "t": options.extractRecipients = true
        case "i": options.ignoreDots = true
        case "v": options.verbose = true
        case "I": options.mode = .initAliases
        default: break  // -G -U -c -m -n -x: accepted and ignored, as Postfix does
        }
    }

    static func apply(_ letter: Character, _ value: String, to options: inout SendmailOptions) throws(UsageError) {
        switch letter {
        case "b":
            switch value {
            case "m": options.mode = .deliver
            case "p": options.mode = .listQueue
            case "s": options.mode = .smtp
            case "i": options.mode = .initAliases
            case "v": options.mode = .verify
            case "d", "D": throw UsageError("-b\(value): outbox has no listening daemon; outboxd(8) relays the queue")
            default: throw UsageError("unsupported mode -b\(value)")
            }
        case "o":
            // -oi is -i; -oe*, -od*, -om, -o7, -o8, -oX… and the rest are accepted and ignored.
            if value == "i" { options.ignoreDots = true }
        case "f", "r": options.sender = value
        case "F": options.fullName = value
        case "C": options.configPath = value
        case "B":
            switch value.uppercased() {
            case "7BIT": options.bodyType = "7BIT"
            case "8BITMIME": options.bodyType = "8BITMIME"
            default: throw UsageError("-B \(value): body type must be 7BIT or 8BITMIME")
            }
        case "N":
            let items = value.uppercased().split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
            if items == ["NEVER"] {
                options.dsnNotify = "NEVER"
            } else {
                let allowed: Set<Substring> = ["SUCCESS", "FAILURE", "DELAY"]
                guard !items.isEmpty, items.allSatisfy({ allowed.contains($0) }) else {
                    throw UsageError("-N \(value): want 'never' or a list of success, failure, delay")
                }
                options.dsnNotify = items.joined(separator: ",")
            }
        case "R":
            switch value.uppercased() {
            case "FULL", "HDRS": options.dsnReturn = value.uppercased()
            default: throw UsageError("-R \(value): want full or hdrs")
            }
        case "V":
            guard !value.isEmpty, value.utf8.count <= 100,
                value.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "=") })
            else {
                throw UsageError("-V \(value): envelope ID must be 1-100 printable characters without '+' or '='")
            }
            options.envelopeID = value
        default:
            break  // -A -L -O -X -e -h -p: accepted and ignored (-X never writes a log file)
        }
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
