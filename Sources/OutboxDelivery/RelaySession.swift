import Glibc
import OutboxConfig
import OutboxCore
import OutboxNet
import OutboxSASL
import OutboxSMTP
import OutboxTLS

/// What happened to one recipient in one attempt.
public struct RecipientOutcome: Equatable, Sendable {
    public enum Status: String, Sendable { case sent, deferred, bounced }
    public var index: Int
    public var status: Status
    /// The server's reply, or outbox's own words for a local decision.
    public var reply: String
    /// RFC 3463 status for logs and DSNs ("2.0.0", "4.4.1", "5.1.1" …).
    public var dsn: String
}

/// One authenticated, encrypted session with a smarthost, carrying many messages.
public final class RelaySession {
    public let smarthost: Smarthost
    let connection: SMTPConnection
    public private(set) var capabilities = SMTPCapabilities()
    /// Facts for logs and `outboxctl check`.
    public private(set) var tlsDescription: String?
    public private(set) var certificate: String?
    public private(set) var authMechanism: String?
    public private(set) var offeredMechanisms: [String] = []
    /// False once the server closed or a transaction broke mid-way.
    public private(set) var usable = true
    /// A transaction ended without a final reply to DATA: RSET before the next MAIL.
    private var needsReset = false
    public var peer: String { connection.stream.peerDescription }
    let dataTimeout: Double

    private init(smarthost: Smarthost, connection: SMTPConnection, dataTimeout: Double) {
        self.smarthost = smarthost
        self.connection = connection
        self.dataTimeout = dataTimeout
    }

    /// Connects, greets, negotiates TLS and authenticates according to `config`.
    /// `tls` is shared by all sessions; `password` is fetched only if AUTH happens.
    public static func open(
        _ smarthost: Smarthost, config: Config, tls: TLSContext, password: () throws(SessionError) -> [UInt8]
    ) throws(SessionError) -> RelaySession {
        let connectDeadline = Deadline.after(seconds: Double(config.connectTimeout))
        let tcp: TCPStream
        do { tcp = try TCPStream.connect(host: smarthost.host, port: smarthost.port, deadline: connectDeadline) } catch { throw .transport(error) }
        var stream: any ByteStream = tcp
        var tlsStream: TLSStream?
        if smarthost.mode == .implicitTLS {
            do {
                tlsStream = try TLSStream.handshake(over: tcp, context: tls, serverName: smarthost.host, deadline: .after(seconds: Double(config.commandTimeout)))
            } catch {
                tcp.close()
                if case .tls(let text) = error, text.contains("wrong version number") {
                    // The classic mix-up: smtps:// pointed at a STARTTLS port.
                    throw .transport(.tls("\(text) (the server speaks plain SMTP first: for STARTTLS write smtp://\(smarthost.authority))"))
                }
                throw .transport(error)
            }
            stream = tlsStream!
        }
        let session = RelaySession(smarthost: smarthost, connection: SMTPConnection(stream: stream, commandTimeout: Double(config.commandTimeout)),
                                   dataTimeout: Double(config.commandTimeout))
        do {
            try session.setUp(config: config, tls: tls, tlsStream: tlsStream, tcp: tcp, password: password)
        } catch {
            session.connection.close()
            throw error
        }
        return session
    }

    private func setUp(config: Config, tls: TLSContext, tlsStream initialTLS: TLSStream?, tcp: TCPStream,
                       password: () throws(SessionError) -> [UInt8]) throws(SessionError) {
        var tlsStream = initialTLS
        let greeting: SMTPReply
        do { greeting = try connection.reply() } catch {
            // The other mix-up: STARTTLS mode against an implicit-TLS port, which waits
            // silently for a TLS ClientHello.
            if case .transport(.timeout(let what)) = error, smarthost.mode == .startTLS, smarthost.port == 465 {
                throw .transport(.timeout("\(what) (port 465 is implicit TLS: write smtps://\(smarthost.authority))"))
            }
            throw error
        }
        guard greeting.isPositive else { throw .rejected(stage: "greeting", reply: greeting) }
        let helo = config.heloName ?? HeloName.local
        try ehlo(helo)
        if tlsStream == nil && config.tlsSecurityLevel != .none {
            if capabilities.startTLS {
                let reply = try connection.command(.startTLS)
                guard reply.isPositive else { throw .rejected(stage: "STARTTLS", reply: reply) }
                do {
                    tlsStream = try TLSStream.handshake(over: tcp, context: tls, serverName: smarthost.host, deadline: .after(seconds: connection.commandTimeout))
                } catch { throw .transport(error) }
                try connection.upgrade(to: tlsStream!)
                try ehlo(helo)
            } else if config.tlsSecurityLevel != .may {
                throw .policy("\(peer) does not offer STARTTLS and tls_security_level = \(config.tlsSecurityLevel.rawValue) requires TLS")
            }
        }
        if let t = tlsStream {
            tlsDescription = "\(t.protocolVersion) \(t.cipher)"
            certificate = t.peerCertificateSummary
        }
        offeredMechanisms = capabilities.authMechanisms
        if let username = config.authUsername {
            guard tlsStream != nil || config.authOverPlaintext else {
                throw .policy("refusing to send AUTH to \(peer) without TLS (auth_over_plaintext = no)")
            }
            guard !offeredMechanisms.isEmpty else { throw .policy("\(peer) offers no AUTH, but auth_username is set") }
            var secret = try password()
            defer { secret.wipe() }
            try authenticate(username: username, password: secret, allowed: config.authMechanisms,
                             plaintextAllowed: tlsStream != nil || config.authOverPlaintext, tlsActive: tlsStream != nil)
        }
    }

    private func ehlo(_ name: String) throws(SessionError) {
        let reply = try connection.command(.ehlo(name))
        if reply.isPositive {
            capabilities = SMTPCapabilities(ehloReply: reply)
            return
        }
        guard reply.isPermanent else { throw .rejected(stage: "EHLO", reply: reply) }
        let helo = try connection.command(.helo(name))
        guard helo.isPositive else { throw .rejected(stage: "HELO", reply: helo) }
        capabilities = SMTPCapabilities()
    }

    private func authenticate(username: String, password: [UInt8], allowed: [String], plaintextAllowed: Bool, tlsActive: Bool) throws(SessionError) {
        let sasl: SASLClient
        let initial: [UInt8]?
        do {
            sasl = try SASLClient(serverName: smarthost.host, username: username, password: password,
                                  plaintextAllowed: plaintextAllowed, tlsActive: tlsActive)
            initial = try sasl.start(offered: offeredMechanisms, allowed: allowed)
        } catch { throw .sasl(error) }
        authMechanism = sasl.mechanism
        var reply = try connection.command(.auth(mechanism: sasl.mechanism, initialResponse: initial.map { Base64.encode($0) }))
        var rounds = 0
        while reply.code == 334 {
            rounds += 1
            guard rounds < 20, let challenge = Base64.decode(reply.lines.first ?? "") else {
                try? connection.send(Array("*\r\n".utf8))
                throw .rejected(stage: "AUTH \(sasl.mechanism)", reply: reply)
            }
            let response: [UInt8]
            do { response = try sasl.step(challenge) } catch {
                try? connection.send(Array("*\r\n".utf8))
                _ = try? connection.reply()
                throw .sasl(error)
            }
            reply = try connection.command(.authContinuation(Base64.encode(response)))
        }
        guard reply.isPositive else { throw .rejected(stage: "AUTH \(sasl.mechanism)", reply: reply) }
    }

    /// Sends one message to its pending recipients; returns an outcome for each. A session
    /// error (network, TLS, timeout) is thrown: the caller defers what has no outcome yet.
    public func send(_ message: OutgoingMessage) throws(SessionError) -> [RecipientOutcome] {
        var outcomes: [RecipientOutcome] = []
        if let limit = capabilities.sizeLimit, message.size > limit {
            return message.recipients.map {
                RecipientOutcome(index: $0.index, status: .bounced, reply: "552 5.3.4 message size \(message.size) exceeds size limit \(limit) of \(peer)", dsn: "5.3.4")
            }
        }
        if message.needsSMTPUTF8 && !capabilities.smtpUTF8 {
            return message.recipients.map {
                RecipientOutcome(index: $0.index, status: .bounced, reply: "555 5.6.7 \(peer) does not support SMTPUTF8, which this message needs", dsn: "5.6.7")
            }
        }
        var pending = message.recipients
        while !pending.isEmpty && usable {
            if needsReset {
                let r = try connection.command(.rset)
                if !r.isPositive {
                    usable = false
                    break
                }
                needsReset = false
            }
            let round = try transaction(message, recipients: pending)
            needsReset = !round.completed
            outcomes += round.outcomes
            if !round.retry.isEmpty && round.retry.count == pending.count {
                // 452 for every recipient: no progress possible now.
                outcomes += round.retry.map { RecipientOutcome(index: $0.index, status: .deferred, reply: round.retryReply, dsn: "4.5.3") }
                break
            }
            pending = round.retry
        }
        let done = Set(outcomes.map(\.index))
        outcomes += pending.filter { !done.contains($0.index) }.map {
            RecipientOutcome(index: $0.index, status: .deferred, reply: "session with \(peer) ended before this recipient was tried", dsn: "4.4.2")
        }
        return outcomes
    }

    struct Round {
        var outcomes: [RecipientOutcome] = []
        var retry: [OutgoingMessage.Recipient] = []
        var retryReply = ""
        /// The transaction ended with a final reply to DATA (no RSET needed).
        var completed = false
    }

    private func outcome(_ r: OutgoingMessage.Recipient, _ verdict: OutcomeTable.Verdict, _ reply: SMTPReply) -> RecipientOutcome {
        let status: RecipientOutcome.Status = verdict == .proceed ? .sent : verdict == .bounced ? .bounced : .deferred
        let dsn = reply.enhancedStatus ?? "\(reply.replyClass).0.0"
        return RecipientOutcome(index: r.index, status: status, reply: reply.description, dsn: dsn)
    }

    private func transaction(_ message: OutgoingMessage, recipients: [OutgoingMessage.Recipient]) throws(SessionError) -> Round {
        var round = Round()
        var mailParameters: [String] = []
        if capabilities.sizeLimit != nil || capabilities.has("SIZE") { mailParameters.append("SIZE=\(message.size)") }
        if message.isEightBit && capabilities.eightBitMIME { mailParameters.append("BODY=8BITMIME") }
        if message.needsSMTPUTF8 { mailParameters.append("SMTPUTF8") }
        if capabilities.dsn {
            if let ret = message.parameter("RET") { mailParameters.append("RET=\(ret)") }
            if let envid = message.parameter("ENVID") { mailParameters.append("ENVID=\(envid)") }
        }
        let defaultNotify = message.parameter("NOTIFY")
        var commands: [SMTPCommand] = [.mailFrom(message.sender, parameters: mailParameters)]
        for r in recipients {
            var p: [String] = []
            if capabilities.dsn {
                if let notify = r.notify ?? defaultNotify { p.append("NOTIFY=\(notify)") }
                if let original = r.original { p.append("ORCPT=rfc822;\(XText.encode(original))") }
            }
            commands.append(.rcptTo(r.address, parameters: p))
        }
        commands.append(.data)

        // With PIPELINING everything up to DATA goes out in one write (RFC 2920).
        var replies: [SMTPReply] = []
        if capabilities.pipelining {
            try connection.send(Array(commands.map(\.line).joined().utf8))
            for _ in commands { replies.append(try connection.reply()) }
        } else {
            for c in commands {
                let r = try connection.command(c)
                replies.append(r)
                if c == commands[0] && !r.isPositive { break }
            }
        }
        let mail = replies[0]
        if OutcomeTable.endsSession(mail) || mail.code == 503 { usable = false }
        let mailVerdict = OutcomeTable.verdict(.mailFrom, mail)
        if mailVerdict != .proceed {
            round.outcomes = recipients.map { outcome($0, mailVerdict == .bounced ? .bounced : .deferred, mail) }
            try abandonData(replies.count == commands.count ? replies.last : nil)
            return round
        }
        var accepted: [OutgoingMessage.Recipient] = []
        for (i, r) in recipients.enumerated() {
            guard i + 1 < replies.count else { break }
            let reply = replies[i + 1]
            if OutcomeTable.endsSession(reply) { usable = false }
            switch OutcomeTable.verdict(.rcptTo, reply) {
            case .proceed: accepted.append(r)
            case .retryInNewTransaction:
                round.retry.append(r)
                round.retryReply = reply.description
            case let v: round.outcomes.append(outcome(r, v, reply))
            }
        }
        guard replies.count == commands.count, let dataReply = replies.last else { return round }
        guard !accepted.isEmpty, usable else {
            try abandonData(dataReply)
            return round
        }
        let dataVerdict = OutcomeTable.verdict(.data, dataReply)
        if OutcomeTable.endsSession(dataReply) { usable = false }
        guard dataVerdict == .proceed else {
            round.outcomes += accepted.map { outcome($0, dataVerdict, dataReply) }
            return round
        }
        try sendContent(message)
        let final = try connection.reply(timeout: dataTimeout)
        if OutcomeTable.endsSession(final) { usable = false }
        round.outcomes += accepted.map { outcome($0, OutcomeTable.verdict(.endOfData, final), final) }
        round.completed = true
        return round
    }

    /// A server that answered DATA with 354 although the transaction failed is waiting
    /// for content: end it with a lone "." (it has no valid recipient to deliver to) and
    /// give up the session.
    private func abandonData(_ dataReply: SMTPReply?) throws(SessionError) {
        guard let dataReply, dataReply.isIntermediate else { return }
        try connection.send(Array(".\r\n".utf8))
        _ = try? connection.reply()
        usable = false
    }

    /// Streams the content dot-stuffed; the final ".\r\n" leaves in the same write as the
    /// last content octets (no Nagle/delayed-ACK stall).
    private func sendContent(_ message: OutgoingMessage) throws(SessionError) {
        var stuffer = DotStuffer()
        var out: [UInt8] = []
        out.reserveCapacity(1 << 17)
        do {
            try message.readContent { chunk in
                chunk.withUnsafeBytes { stuffer.stuff($0, into: &out) }
                if out.count >= 1 << 16 {
                    try connection.send(out)
                    out.removeAll(keepingCapacity: true)
                }
            }
        } catch let error as SessionError {
            usable = false
            throw error
        } catch {
            // The queue file could not be read: the session is now mid-DATA and unusable.
            usable = false
            throw .policy("cannot read queue file \(message.path): \(error)")
        }
        stuffer.finish(into: &out)
        try connection.send(out)
    }

    /// Ends the session politely.
    public func quit() {
        if usable { _ = try? connection.command(.quit) }
        connection.close()
        usable = false
    }
}

/// The name sent in EHLO when helo_name is unset.
enum HeloName {
    static let local: String = {
        let name = HostName.current()
        return name.isEmpty ? "localhost" : name
    }()
}
