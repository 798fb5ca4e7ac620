import OutboxCore
import OutboxSupport

/// The client side of opening a session, as a value: greeting, EHLO (HELO when EHLO is
/// refused permanently), STARTTLS and the second EHLO, then SASL AUTH with its
/// challenge rounds. No I/O and no SASL library: the driver performs the TLS handshake
/// and the SASL steps when told to and reports back.
public struct SMTPSessionSetup: Sendable {
    /// What the session requires of TLS (tls_security_level).
    public enum TLSRequirement: String, Sendable {
        /// Never STARTTLS.
        case none
        /// STARTTLS when offered.
        case may
        /// STARTTLS or give up (encrypt, verify).
        case required
    }

    public struct Settings: Sendable {
        public var heloName: String
        public var tls: TLSRequirement
        /// The name of the configured level, for the refusal message.
        public var tlsLevelName: String
        /// TLS already runs (implicit TLS, smtps://).
        public var tlsActive: Bool
        /// auth_username is set.
        public var authenticate: Bool
        /// auth_over_plaintext = yes.
        public var authOverPlaintext: Bool

        public init(heloName: String, tls: TLSRequirement, tlsLevelName: String, tlsActive: Bool, authenticate: Bool, authOverPlaintext: Bool) {
            self.heloName = heloName
            self.tls = tls
            self.tlsLevelName = tlsLevelName
            self.tlsActive = tlsActive
            self.authenticate = authenticate
            self.authOverPlaintext = authOverPlaintext
        }
    }

    public enum Action: Equatable, Sendable {
        /// Send this command, then feed its reply.
        case send(SMTPCommand)
        /// Feed the next reply (the greeting).
        case awaitReply
        /// Run the TLS handshake now, then call `tlsEstablished()`.
        case startTLS
        /// Choose a SASL mechanism among `offered`, then call `authStarted(…)`.
        case startAuthentication(offered: [String])
        /// Run one SASL step on `challenge`, then call `authResponse(_:)`, or
        /// `cancelAuthentication()` when the SASL library fails.
        case answerChallenge([UInt8])
        /// The session is ready for mail.
        case ready
        case failed(Failure)
    }

    public enum Failure: Error, Equatable, Sendable {
        /// A session command was answered negatively (stage: "greeting", "EHLO", "AUTH PLAIN" …).
        case rejected(stage: String, reply: SMTPReply)
        case startTLSNotOffered
        case authenticationNeedsTLS
        case authenticationNotOffered
        /// The driver cancelled AUTH after a SASL failure; the server's answer to "*".
        case authenticationCancelled(SMTPReply)
    }

    private enum State: Equatable, Sendable {
        case greeting, ehlo, helo, startTLS, choosingMechanism
        case authenticating(mechanism: String, rounds: Int)
        case cancelling(stage: String, challengeReply: SMTPReply?)
        case ready, failed
    }

    public let settings: Settings
    public private(set) var capabilities = SMTPCapabilities()
    public private(set) var tlsActive: Bool
    /// The mechanism AUTH used, once started.
    public private(set) var authMechanism: String?
    private var state = State.greeting
    /// A server that keeps challenging is cut off after this many rounds.
    static let maxAuthRounds = 20

    public init(_ settings: Settings) {
        self.settings = settings
        self.tlsActive = settings.tlsActive
    }

    /// The first action: wait for the greeting.
    public func start() -> Action { .awaitReply }

    public mutating func receive(_ reply: SMTPReply) -> Action {
        switch state {
        case .greeting:
            guard reply.isPositive else { return fail(.rejected(stage: "greeting", reply: reply)) }
            state = .ehlo
            return .send(.ehlo(settings.heloName))
        case .ehlo:
            if reply.isPositive {
                capabilities = SMTPCapabilities(ehloReply: reply)
                return afterEHLO()
            }
            guard reply.isPermanent else { return fail(.rejected(stage: "EHLO", reply: reply)) }
            state = .helo
            return .send(.helo(settings.heloName))
        case .helo:
            guard reply.isPositive else { return fail(.rejected(stage: "HELO", reply: reply)) }
            capabilities = SMTPCapabilities()
            return afterEHLO()
        case .startTLS:
            guard reply.isPositive else { return fail(.rejected(stage: "STARTTLS", reply: reply)) }
            return .startTLS
        case .authenticating(let mechanism, let rounds):
            if reply.code == 334 {
                guard rounds + 1 < Self.maxAuthRounds, let challenge = Base64.decode(reply.lines.first ?? "") else {
                    state = .cancelling(stage: "AUTH \(mechanism)", challengeReply: reply)
                    return .send(.authCancel)
                }
                state = .authenticating(mechanism: mechanism, rounds: rounds + 1)
                return .answerChallenge(challenge)
            }
            guard reply.isPositive else { return fail(.rejected(stage: "AUTH \(mechanism)", reply: reply)) }
            state = .ready
            return .ready
        case .cancelling(let stage, let challengeReply):
            if let challengeReply { return fail(.rejected(stage: stage, reply: challengeReply)) }
            return fail(.authenticationCancelled(reply))
        case .choosingMechanism, .ready, .failed:
            return fail(.rejected(stage: "session setup", reply: reply))
        }
    }

    /// The TLS handshake after STARTTLS succeeded: EHLO again (RFC 3207 §4.2).
    public mutating func tlsEstablished() -> Action {
        tlsActive = true
        state = .ehlo
        return .send(.ehlo(settings.heloName))
    }

    /// The driver chose `mechanism`; `initialResponse` goes with AUTH when the mechanism
    /// has one (RFC 4954 §4).
    public mutating func authStarted(mechanism: String, initialResponse: [UInt8]?) -> Action {
        authMechanism = mechanism
        state = .authenticating(mechanism: mechanism, rounds: 0)
        return .send(.auth(mechanism: mechanism, initialResponse: initialResponse.map { Base64.encode($0) }))
    }

    public mutating func authResponse(_ response: [UInt8]) -> Action {
        .send(.authContinuation(Base64.encode(response)))
    }

    /// The SASL library failed on a challenge: AUTH is cancelled with "*" (RFC 4954 §4),
    /// and the reply to that ends the setup as `.authenticationCancelled`.
    public mutating func cancelAuthentication() -> Action {
        state = .cancelling(stage: "AUTH \(authMechanism ?? "")", challengeReply: nil)
        return .send(.authCancel)
    }

    private mutating func afterEHLO() -> Action {
        if !tlsActive && settings.tls != .none {
            if capabilities.startTLS {
                state = .startTLS
                return .send(.startTLS)
            }
            if settings.tls == .required { return fail(.startTLSNotOffered) }
        }
        guard settings.authenticate else {
            state = .ready
            return .ready
        }
        guard tlsActive || settings.authOverPlaintext else { return fail(.authenticationNeedsTLS) }
        guard !capabilities.authMechanisms.isEmpty else { return fail(.authenticationNotOffered) }
        state = .choosingMechanism
        return .startAuthentication(offered: capabilities.authMechanisms)
    }

    private mutating func fail(_ failure: Failure) -> Action {
        state = .failed
        return .failed(failure)
    }
}
