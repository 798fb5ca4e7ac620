import Glibc
import OutboxConfig
import OutboxCore
import OutboxNet
import OutboxSASL
import OutboxSMTP
import OutboxSupport
import OutboxTLS

/// One authenticated, encrypted session with a smarthost, carrying many messages.
public final class RelaySession {
    public let smarthost: Smarthost
    let connection: SMTPConnection
    public private(set) var capabilities = SMTPCapabilities()
    /// Facts for logs and `outboxctl check`.
    public private(set) var tlsDescription: String?
    /// Postfix's "Verified TLS connection established to …" line.
    public private(set) var tlsLogLine: String?
    /// "TLSv1.3" and whether the peer was verified (chain, and name when required).
    public private(set) var tlsVersion: String?
    public private(set) var tlsTrust: String?
    public private(set) var certificate: String?
    public private(set) var authMechanism: String?
    public private(set) var offeredMechanisms: [String] = []
    /// False once the server closed or a transaction broke mid-way.
    public private(set) var usable = true
    /// A transaction ended without a final reply to DATA: RSET before the next MAIL.
    private var needsReset = false
    /// Why the session broke, when it did so during a message.
    public private(set) var failure: SessionError?
    public var peer: String { connection.stream.peerDescription }
    let dataTimeout: Double

    private init(smarthost: Smarthost, connection: SMTPConnection, dataTimeout: Double) {
        self.smarthost = smarthost
        self.connection = connection
        self.dataTimeout = dataTimeout
    }

    /// Connects, greets, negotiates TLS and authenticates according to `config`.
    /// `tls` is shared by all sessions; `password` is fetched only if AUTH happens, and
    /// `tokens` replaces it when a token source is configured (XOAUTH2, OAUTHBEARER).
    public static func open(
        _ smarthost: Smarthost, config: Config, tls: TLSContext, tokens: AccessTokenCache? = nil,
        password: () throws(SessionError) -> [UInt8]
    ) throws(SessionError) -> RelaySession {
        let connectDeadline = Deadline.after(seconds: Double(config.connectTimeout))
        let tcp: TCPStream
        do { tcp = try TCPStream.connect(host: smarthost.host, port: smarthost.port, deadline: connectDeadline) } catch { throw .transport(error) }
        var stream: any ByteStream = tcp
        var tlsStream: TLSStream?
        if smarthost.mode == .implicitTLS {
            do {
                tlsStream = try TLSStream.handshake(
                    over: tcp, context: tls, serverName: smarthost.host, deadline: .after(seconds: Double(config.commandTimeout)))
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
        let session = RelaySession(
            smarthost: smarthost, connection: SMTPConnection(stream: stream, commandTimeout: Double(config.commandTimeout)),
            dataTimeout: Double(config.commandTimeout))
        do {
            try session.setUp(config: config, tls: tls, tlsStream: tlsStream, tcp: tcp, tokens: tokens, password: password)
        } catch {
            session.connection.close()
            throw error
        }
        return session
    }

    private func setUp(
        config: Config, tls: TLSContext, tlsStream initialTLS: TLSStream?, tcp: TCPStream, tokens: AccessTokenCache?,
        password: () throws(SessionError) -> [UInt8]
    ) throws(SessionError) {
        var tlsStream = initialTLS
        let requirement: SMTPSessionSetup.TLSRequirement =
            switch config.tlsSecurityLevel {
            case .none: .none
            case .may: .may
            default: .required
            }
        var setup = SMTPSessionSetup(
            .init(
                heloName: config.heloName ?? HeloName.local, tls: requirement, tlsLevelName: config.tlsSecurityLevel.rawValue,
                tlsActive: tlsStream != nil, authenticate: config.authUsername != nil, authOverPlaintext: config.authOverPlaintext))
        var sasl: SASLClient?
        var saslFailure: SASLError?
        var bearer: BearerExchange?
        var action = setup.start()
        while true {
            switch action {
            case .awaitReply:
                do { action = setup.receive(try connection.reply()) } catch {
                    // The other mix-up: STARTTLS mode against an implicit-TLS port, which
                    // waits silently for a TLS ClientHello.
                    if case .transport(.timeout(let what)) = error, smarthost.mode == .startTLS, smarthost.port == 465 {
                        throw .transport(.timeout("\(what) (port 465 is implicit TLS: write smtps://\(smarthost.authority))"))
                    }
                    throw error
                }
            case .send(let command):
                action = setup.receive(try connection.command(command))
            case .startTLS:
                do {
                    tlsStream = try TLSStream.handshake(
                        over: tcp, context: tls, serverName: smarthost.host, deadline: .after(seconds: connection.commandTimeout))
                } catch { throw .transport(error) }
                try connection.upgrade(to: tlsStream!)
                action = setup.tlsEstablished()
            case .startAuthentication(let offered) where tokens != nil:
                offeredMechanisms = offered
                guard let mechanism = BearerMechanism.choose(offered: offered, allowed: config.authMechanisms) else {
                    let within = config.authMechanisms.isEmpty ? "" : " within auth_mechanisms \(config.authMechanisms.joined(separator: ","))"
                    throw .policy(
                        "\(peer) offers AUTH \(offered.joined(separator: " ")) but no XOAUTH2 or OAUTHBEARER\(within), which an OAuth2 token needs")
                }
                let exchange = BearerExchange(
                    mechanism: mechanism, token: try tokens!.token(), user: config.authUsername ?? "", host: smarthost.host, port: smarthost.port)
                bearer = exchange
                authMechanism = mechanism.rawValue
                action = setup.authStarted(mechanism: mechanism.rawValue, initialResponse: exchange.initialResponse)
            case .answerChallenge(let challenge) where bearer != nil:
                action = setup.authResponse(bearer!.answer(challenge))
            case .startAuthentication(let offered):
                offeredMechanisms = offered
                var secret = try password()
                defer { secret.wipe() }
                let initial: [UInt8]?
                do {
                    let client = try SASLClient(
                        serverName: smarthost.host, username: config.authUsername ?? "", password: secret,
                        plaintextAllowed: setup.tlsActive || config.authOverPlaintext, tlsActive: setup.tlsActive)
                    initial = try client.start(offered: offered, allowed: config.authMechanisms)
                    sasl = client
                } catch { throw .sasl(error) }
                authMechanism = sasl!.mechanism
                action = setup.authStarted(mechanism: sasl!.mechanism, initialResponse: initial)
            case .answerChallenge(let challenge):
                do { action = setup.authResponse(try sasl!.step(challenge)) } catch {
                    saslFailure = error
                    action = setup.cancelAuthentication()
                }
            case .ready:
                capabilities = setup.capabilities
                offeredMechanisms = capabilities.authMechanisms
                if let t = tlsStream {
                    tlsDescription = "\(t.protocolVersion) \(t.cipher)"
                    let trust = config.tlsSecurityLevel == .verify ? "Verified" : t.chainVerified ? "Trusted" : "Untrusted"
                    let bits = t.cipherBits
                    tlsVersion = t.protocolVersion
                    tlsTrust = trust
                    tlsLogLine = PostfixLogLine.tls(
                        trust: trust, peer: peer, version: t.protocolVersion, cipher: t.cipher, bits: bits.used, algorithmBits: bits.algorithm)
                    certificate = t.peerCertificateSummary
                }
                return
            case .failed(let failure):
                offeredMechanisms = setup.capabilities.authMechanisms
                // Only 535 says the token itself was refused; a 454 or 534 is the server's
                // trouble or policy, and a new token would not help (no fetch per session).
                if case .rejected(let stage, let reply) = failure, let bearer, stage.hasPrefix("AUTH"), reply.code == 535 {
                    // The token was refused: the next connection asks for a new one.
                    tokens?.invalidate(bearer.token)
                    throw .tokenRejected(mechanism: bearer.mechanism.rawValue, reply: reply, detail: bearer.serverError)
                }
                switch failure {
                case .rejected(let stage, let reply): throw .rejected(stage: stage, reply: reply)
                case .startTLSNotOffered:
                    throw .policy("\(peer) does not offer STARTTLS and tls_security_level = \(config.tlsSecurityLevel.rawValue) requires TLS")
                case .authenticationNeedsTLS: throw .policy("refusing to send AUTH to \(peer) without TLS (auth_over_plaintext = no)")
                case .authenticationNotOffered: throw .policy("\(peer) offers no AUTH, but auth_username is set")
                case .authenticationCancelled(let reply): throw saslFailure.map { .sasl($0) } ?? .rejected(stage: "AUTH", reply: reply)
                }
            }
        }
    }

    /// Sends one message to its pending recipients; returns a verdict for each. A broken
    /// connection defers the recipients still without a verdict and leaves the session
    /// unusable (`failure` says why).
    public func send(_ message: OutgoingMessage) -> [RecipientVerdict] {
        var transaction = SMTPTransaction(envelope: message.envelope, capabilities: capabilities, peer: peer, needsReset: needsReset)
        do throws(SessionError) {
            var action = transaction.start()
            loop: while true {
                switch action {
                case .send(let commands):
                    // With PIPELINING everything up to DATA leaves in one write (RFC 2920).
                    try connection.send(Array(commands.map(\.line).joined().utf8))
                    action = transaction.receive(try connection.reply())
                case .awaitReply:
                    action = transaction.receive(try connection.reply())
                case .sendContent:
                    try sendContent(message)
                    action = transaction.receive(try connection.reply(timeout: dataTimeout))
                case .abandonData:
                    try connection.send(Array(".\r\n".utf8))
                    action = transaction.receive(try connection.reply())
                case .finished:
                    break loop
                }
            }
        } catch {
            failure = error
            transaction.connectionLost("\(error)")
        }
        needsReset = transaction.needsReset
        if !transaction.sessionUsable { usable = false }
        return transaction.verdicts
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

/// One XOAUTH2/OAUTHBEARER exchange: the client's message goes with AUTH as the
/// initial response when the line stays within RFC 4954's 12 288 octets, otherwise after
/// the server's empty 334; any other 334 is the server's error report, answered as the
/// mechanism requires so that the server can finish with its 535.
struct BearerExchange {
    let mechanism: BearerMechanism
    let token: AccessTokenCache.Token
    /// Not yet sent (too long for the AUTH line).
    private var pending: [UInt8]?
    let initialResponse: [UInt8]?
    /// The server's error challenge, for the log.
    private(set) var serverError: String?

    init(mechanism: BearerMechanism, token: AccessTokenCache.Token, user: String, host: String, port: UInt16) {
        self.mechanism = mechanism
        self.token = token
        let message = mechanism.initialResponse(user: user, token: token.value, host: host, port: port)
        let fits = "AUTH \(mechanism.rawValue) ".utf8.count + (message.count + 2) / 3 * 4 + 2 <= 12288
        initialResponse = fits ? message : nil
        pending = fits ? nil : message
    }

    mutating func answer(_ challenge: [UInt8]) -> [UInt8] {
        if challenge.isEmpty, let message = pending {
            pending = nil
            return message
        }
        serverError = BearerMechanism.errorDetail(challenge) ?? serverError
        return mechanism.errorAnswer
    }
}

/// The name sent in EHLO when helo_name is unset.
enum HeloName {
    static let local: String = {
        let name = HostName.current()
        return name.isEmpty ? "localhost" : name
    }()
}
