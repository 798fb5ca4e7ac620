/// Parses RFC 5322 address lists (`address-list`, groups included) from header values
/// and command-line arguments, keeping byte offsets so that callers can edit the original
/// text without re-serialising it (display names, comments and spacing stay as written).
public enum AddressListParser {
    enum Token: Equatable {
        case word(Range<Int>)  // atom or dot-atom run (non-ASCII octets count as atext)
        case quoted(Range<Int>)  // including the quotes
        case literal(Range<Int>)  // [ ... ] including brackets
        case special(UInt8, Int)  // < > , : ; @
        case comment
    }

    static func isAtext(_ b: UInt8) -> Bool {
        if b >= 0x80 { return true }
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-/=?^_`{|}~.".utf8.contains(b)
        }
    }

    static func tokenize(_ s: [UInt8]) throws(AddressError) -> [Token] {
        var tokens: [Token] = []
        var i = 0
        func fail(_ reason: String) -> AddressError { AddressError(String(decoding: s, as: UTF8.self), reason) }
        while i < s.count {
            let b = s[i]
            switch b {
            case 32, 9, 13, 10:
                i += 1
            case UInt8(ascii: "("):
                var depth = 0
                repeat {
                    if s[i] == UInt8(ascii: "\\") {
                        i += 1
                    } else if s[i] == UInt8(ascii: "(") {
                        depth += 1
                    } else if s[i] == UInt8(ascii: ")") {
                        depth -= 1
                    }
                    i += 1
                } while depth > 0 && i < s.count
                if depth > 0 { throw fail("unterminated comment") }
                tokens.append(.comment)
            case UInt8(ascii: "\""):
                let start = i
                i += 1
                while i < s.count && s[i] != UInt8(ascii: "\"") {
                    if s[i] == UInt8(ascii: "\\") { i += 1 }
                    i += 1
                }
                if i >= s.count { throw fail("unterminated quoted string") }
                i += 1
                tokens.append(.quoted(start..<i))
            case UInt8(ascii: "["):
                let start = i
                while i < s.count && s[i] != UInt8(ascii: "]") { i += 1 }
                if i >= s.count { throw fail("unterminated domain literal") }
                i += 1
                tokens.append(.literal(start..<i))
            case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: ";"), UInt8(ascii: "@"):
                tokens.append(.special(b, i))
                i += 1
            default:
                guard isAtext(b) else { throw fail("unexpected character '\(Character(Unicode.Scalar(b)))'") }
                let start = i
                while i < s.count && isAtext(s[i]) { i += 1 }
                tokens.append(.word(start..<i))
            }
        }
        return tokens
    }

    /// Parses an address list. Groups contribute their members; empty list elements are
    /// skipped. A bare local name (no `@`) is returned with `domain == nil`.
    public static func parse(_ text: [UInt8]) throws(AddressError) -> [Mailbox] {
        let tokens = try tokenize(text)
        var result: [Mailbox] = []
        var item: [Token] = []
        var inAngle = false
        var inGroup = false
        func finish() throws(AddressError) {
            defer { item.removeAll() }
            let meaningful = item.filter { $0 != .comment }
            if meaningful.isEmpty { return }
            result.append(try mailbox(from: item, in: text))
        }
        for token in tokens {
            switch token {
            case .special(UInt8(ascii: "<"), _):
                if inAngle { throw AddressError(String(decoding: text, as: UTF8.self), "nested '<'") }
                inAngle = true
                item.append(token)
            case .special(UInt8(ascii: ">"), _):
                if !inAngle { throw AddressError(String(decoding: text, as: UTF8.self), "'>' without '<'") }
                inAngle = false
                item.append(token)
            case .special(UInt8(ascii: ","), _) where !inAngle:
                try finish()
            case .special(UInt8(ascii: ":"), _)
            where !inAngle && !inGroup
                && !item.contains(where: {
                    if case .special(UInt8(ascii: "@"), _) = $0 { return true }
                    return false
                }):
                // `display-name:` starts a group; its name is not an address.
                inGroup = true
                item.removeAll()
            case .special(UInt8(ascii: ";"), _) where !inAngle && inGroup:
                try finish()
                inGroup = false
            default:
                item.append(token)
            }
        }
        if inAngle { throw AddressError(String(decoding: text, as: UTF8.self), "missing '>'") }
        try finish()
        return result
    }

    static func mailbox(from item: [Token], in text: [UInt8]) throws(AddressError) -> Mailbox {
        let whole: String = {
            var lo = Int.max
            var hi = 0
            for t in item {
                switch t {
                case .word(let r), .quoted(let r), .literal(let r):
                    lo = min(lo, r.lowerBound)
                    hi = max(hi, r.upperBound)
                case .special(_, let p):
                    lo = min(lo, p)
                    hi = max(hi, p + 1)
                case .comment: break
                }
            }
            return lo < hi ? String(decoding: text[lo..<hi], as: UTF8.self) : ""
        }()
        func fail(_ reason: String) -> AddressError { AddressError(whole, reason) }

        var display: [UInt8]?
        var spec = item
        if let open = item.firstIndex(where: {
            if case .special(UInt8(ascii: "<"), _) = $0 { return true }
            return false
        }) {
            guard
                let close = item.lastIndex(where: {
                    if case .special(UInt8(ascii: ">"), _) = $0 { return true }
                    return false
                }),
                close > open
            else { throw fail("missing '>'") }
            let trailing = item[(close + 1)...].filter { $0 != .comment }
            guard trailing.isEmpty else { throw fail("text after '>'") }
            let phrase = item[..<open].filter { $0 != .comment }
            for t in phrase {
                switch t {
                case .word, .quoted: break
                default: throw fail("bad display name")
                }
            }
            if let first = phrase.first, let last = phrase.last {
                let lo: Int
                let hi: Int
                switch first {
                case .word(let r), .quoted(let r): lo = r.lowerBound
                default: lo = 0
                }
                switch last {
                case .word(let r), .quoted(let r): hi = r.upperBound
                default: hi = 0
                }
                if lo < hi { display = Array(text[lo..<hi]) }
            }
            spec = Array(item[(open + 1)..<close])
            // Obsolete source route "<@a,@b:user@host>": drop the route.
            if let colon = spec.lastIndex(where: {
                if case .special(UInt8(ascii: ":"), _) = $0 { return true }
                return false
            }) {
                spec = Array(spec[(colon + 1)...])
            }
        }
        spec = spec.filter { $0 != .comment }
        guard !spec.isEmpty else { throw fail("empty address") }
        let atIndex = spec.firstIndex {
            if case .special(UInt8(ascii: "@"), _) = $0 { return true }
            return false
        }
        let localTokens = atIndex.map { Array(spec[..<$0]) } ?? spec
        guard localTokens.count == 1 else {
            throw fail(localTokens.isEmpty ? "empty local part" : "local part must be one word or a quoted string")
        }
        var local: [UInt8]
        var localEnd: Int
        switch localTokens[0] {
        case .word(let r):
            local = Array(text[r])
            localEnd = r.upperBound
            if local.first == UInt8(ascii: ".") || local.last == UInt8(ascii: ".") || containsDoubleDot(local) {
                throw fail("misplaced '.' in local part")
            }
        case .quoted(let r):
            local = Array(text[r])
            localEnd = r.upperBound
        default:
            throw fail("bad local part")
        }
        var domain: [UInt8]?
        if let at = atIndex {
            let domainTokens = Array(spec[(at + 1)...])
            guard domainTokens.count == 1 else {
                throw fail(domainTokens.isEmpty ? "empty domain" : "domain must be one word")
            }
            switch domainTokens[0] {
            case .word(let r):
                let d = Array(text[r])
                guard d.first != UInt8(ascii: "."), d.last != UInt8(ascii: "."), !containsDoubleDot(d),
                    d.allSatisfy({ $0 >= 0x80 || isDomainByte($0) })
                else { throw fail("bad domain") }
                domain = d
            case .literal(let r):
                domain = Array(text[r])
            default:
                throw fail("bad domain")
            }
        }
        if local.isEmpty { throw fail("empty local part") }
        return Mailbox(localPart: local, domain: domain, displayName: display, localPartEnd: localEnd)
    }

    static func containsDoubleDot(_ b: [UInt8]) -> Bool {
        var prev: UInt8 = 0
        for c in b {
            if c == UInt8(ascii: "."), prev == UInt8(ascii: ".") { return true }
            prev = c
        }
        return false
    }

    static func isDomainByte(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 46 || b == 95
    }
}
