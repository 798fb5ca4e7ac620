import Glibc
import OutboxCore
import OutboxNet
import OutboxSupport
import OutboxTLS
import Synchronization

/// Where the built-in OAuth2 client gets its tokens (the oauth_* keys).
public struct OAuthSettings: Sendable {
    public var tokenURL: HTTPSURL
    public var clientID: String
    public var scope: String?
    public var clientSecretFile: String?
    public var certificateFile: String?
    public var keyFile: String?
    public var refreshTokenFile: String?
    public var deviceURL: HTTPSURL?
    public var caFile: String?
    public var timeout: Double

    public init(
        tokenURL: HTTPSURL, clientID: String, scope: String?, clientSecretFile: String?, certificateFile: String?, keyFile: String?,
        refreshTokenFile: String?, deviceURL: HTTPSURL?, caFile: String?, timeout: Double
    ) {
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.scope = scope
        self.clientSecretFile = clientSecretFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.refreshTokenFile = refreshTokenFile
        self.deviceURL = deviceURL
        self.caFile = caFile
        self.timeout = timeout
    }

    /// The grant in use, for logs and `outboxctl oauth status`.
    public var grantName: String {
        if refreshTokenFile != nil { return "refresh_token" }
        return certificateFile != nil ? "client_credentials (certificate)" : "client_credentials (secret)"
    }
}

/// An access token as obtained, with its lifetime.
public struct AccessGrant: Sendable {
    public var token: [UInt8]
    /// Seconds of validity the endpoint announced; nil when it did not say.
    public var expiresIn: Int?

    public init(token: [UInt8], expiresIn: Int?) {
        self.token = token
        self.expiresIn = expiresIn
    }
}

/// Why no token could be obtained.
public enum OAuthFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// The credential is dead (revoked or expired refresh token, wrong secret): asking
    /// again cannot help until the admin acts; the text says what to do.
    case refused(String)
    /// The endpoint or the network failed; worth retrying with back-off.
    case temporary(String)

    public var description: String {
        switch self {
        case .refused(let text), .temporary(let text): text
        }
    }
}

/// The built-in OAuth2 client: client credentials with a secret or a certificate
/// assertion, and refresh tokens (rotated ones stored before use). One instance per
/// configured token source; callers serialise refreshes (AccessTokenCache does).
public final class OAuthClient: Sendable {
    public let settings: OAuthSettings
    private struct State {
        var tls: TLSContext?
        var signer: ClientAssertionSigner?
        /// The refresh token file version the endpoint refused, and why: no request is
        /// made with it again; a new file (`outboxctl oauth login`) clears it.
        var refused: (version: String, text: String)?
    }
    private let state = Mutex(State())

    public init(settings: OAuthSettings) { self.settings = settings }

    private func context() throws(OAuthFailure) -> TLSContext {
        let made: Result<TLSContext, TransportError> = state.withLock { s in
            if let tls = s.tls { return .success(tls) }
            do throws(TransportError) {
                let tls = try TLSContext(policy: TLSPolicy(verify: true, caFile: settings.caFile))
                s.tls = tls
                return .success(tls)
            } catch { return .failure(error) }
        }
        switch made {
        case .success(let tls): return tls
        case .failure(let error): throw .temporary("token endpoint TLS setup: \(error)")
        }
    }

    private func credential(now: Int) throws(OAuthFailure) -> TokenEndpoint.ClientCredential {
        if let cert = settings.certificateFile, let key = settings.keyFile {
            let loaded: Result<ClientAssertionSigner, TokenEndpointError> = state.withLock { s in
                if let signer = s.signer { return .success(signer) }
                do throws(TokenEndpointError) {
                    let signer = try ClientAssertionSigner(certificateFile: cert, keyFile: key)
                    s.signer = signer
                    return .success(signer)
                } catch { return .failure(error) }
            }
            switch loaded {
            case .success(let signer):
                do { return .assertion(try signer.assertion(clientID: settings.clientID, audience: settings.tokenURL.description, now: now)) } catch {
                    throw .temporary("\(error)")
                }
            case .failure(let error): throw .refused("\(error)")
            }
        }
        if let file = settings.clientSecretFile {
            do {
                var secret = try SecretFile.firstLine(file, key: "oauth_client_secret_file")
                defer { secret.wipe() }
                return .secret(String(decoding: secret, as: UTF8.self))
            } catch { throw .refused("\(error)") }
        }
        return .none
    }

    /// One POST to `url`; the answer interpreted.
    private func request(_ url: HTTPSURL, _ form: [(String, String)]) throws(OAuthFailure) -> (status: Int, body: [UInt8]) {
        do {
            let response = try HTTPSClient.post(url, form: form, context: try context(), timeout: settings.timeout)
            return (response.status, response.body)
        } catch { throw .temporary("token endpoint \(error)") }
    }

    /// Obtains a new access token by the configured grant.
    public func fetch(now: Int = Int(time(nil))) throws(OAuthFailure) -> AccessGrant {
        guard let path = settings.refreshTokenFile else {
            let form = TokenEndpoint.clientCredentialsForm(
                clientID: settings.clientID, scope: settings.scope ?? "", credential: try credential(now: now))
            let answer = try request(settings.tokenURL, form)
            return try accept(TokenEndpoint.interpret(status: answer.status, body: answer.body), grant: "client_credentials")
        }
        let file = RefreshTokenFile(path: path)
        do {
            return try file.withLock { () throws(TokenEndpointError) -> Result<AccessGrant, OAuthFailure> in
                let contents = try file.read()
                if let refused = state.withLock({ $0.refused }), refused.version == contents.version { return .failure(.refused(refused.text)) }
                do throws(OAuthFailure) {
                    let form = TokenEndpoint.refreshForm(
                        clientID: settings.clientID, refreshToken: contents.token, scope: settings.scope, credential: try credential(now: now))
                    let answer = try request(settings.tokenURL, form)
                    let interpreted = TokenEndpoint.interpret(status: answer.status, body: answer.body)
                    if case .granted(let grant) = interpreted, let rotated = grant.refreshToken, rotated != contents.token {
                        // Stored before the access token is used: a crash now leaves the
                        // new one on disk, never neither.
                        do { try file.replace(with: rotated) } catch { throw .temporary("\(error)") }
                    }
                    if case .refused(let code, let description) = interpreted {
                        let text =
                            "the token endpoint refused the refresh token in \(path) (\(code)\(description.isEmpty ? "" : ": \(description)")); "
                            + "mail stays queued: run 'outboxctl oauth login' to sign in again"
                        state.withLock { $0.refused = (contents.version, text) }
                        return .failure(.refused(text))
                    }
                    return .success(try accept(interpreted, grant: "refresh_token"))
                } catch { return .failure(error) }
            }.get()
        } catch let error as OAuthFailure {
            throw error
        } catch let error as TokenEndpointError {
            throw .refused("\(error)")
        } catch { throw .temporary("\(error)") }
    }

    private func accept(_ answer: TokenEndpoint.Answer, grant: String) throws(OAuthFailure) -> AccessGrant {
        switch answer {
        case .granted(let g): return AccessGrant(token: g.accessToken, expiresIn: g.expiresIn)
        case .refused(let code, let description):
            throw .refused(
                "the token endpoint refused the \(grant) grant for client \(settings.clientID) (\(code)\(description.isEmpty ? "" : ": \(description)")); "
                    + "check oauth_client_id, the secret or certificate, and oauth_scope")
        case .temporary(let text): throw .temporary("token endpoint: \(text)")
        case .pending: throw .temporary("token endpoint: unexpected authorization_pending")
        }
    }

    /// The device-code flow (RFC 8628) for `outboxctl oauth login`: `show` gets the
    /// instructions for the user; the refresh token is stored (owned by `owner`) when the
    /// user has signed in. Returns the first access grant.
    public func deviceLogin(owner: (uid_t, gid_t)?, show: (String) -> Void) throws(OAuthFailure) -> AccessGrant {
        guard let deviceURL = settings.deviceURL else { throw .refused("oauth_device_url is not set") }
        guard let path = settings.refreshTokenFile else {
            throw .refused("oauth_refresh_token_file is not set: there is nowhere to keep the sign-in")
        }
        var form = [("client_id", settings.clientID)]
        if let scope = settings.scope { form.append(("scope", scope)) }
        let answer = try request(deviceURL, form)
        let device: TokenEndpoint.DeviceAuthorization
        switch TokenEndpoint.interpretDevice(status: answer.status, body: answer.body) {
        case .success(let d): device = d
        case .failure(let error): throw .refused("\(error)")
        }
        show(device.message ?? "To sign in, open \(device.verificationURI) and enter the code \(device.userCode)")
        if let complete = device.verificationURIComplete { show("(or open \(complete))") }
        var interval = device.interval
        let deadline = Int(time(nil)) + device.expiresIn
        while Int(time(nil)) < deadline {
            sleep(UInt32(interval))
            let poll = try request(
                settings.tokenURL,
                TokenEndpoint.deviceTokenForm(
                    clientID: settings.clientID, deviceCode: device.deviceCode, credential: try credential(now: Int(time(nil)))))
            switch TokenEndpoint.interpret(status: poll.status, body: poll.body) {
            case .pending(let slowDown):
                if slowDown { interval += 5 }
            case .granted(let grant):
                guard let refresh = grant.refreshToken else {
                    throw .refused("the token endpoint granted access without a refresh token (for Microsoft, add offline_access to oauth_scope)")
                }
                let file = RefreshTokenFile(path: path)
                do { try file.withLock { () throws(TokenEndpointError) in try file.replace(with: refresh, owner: owner) } } catch {
                    throw .refused("\(error)")
                }
                state.withLock { $0.refused = nil }
                return AccessGrant(token: grant.accessToken, expiresIn: grant.expiresIn)
            case .refused(let code, let description): throw .refused("sign-in failed: \(code) \(description)")
            case .temporary(let text): throw .temporary("token endpoint: \(text)")
            }
        }
        throw .refused("the code expired before the sign-in was completed; run outboxctl oauth login again")
    }
}

/// A secret kept in a file (first line), refused when other users may read it.
public enum SecretFile {
    public static func firstLine(_ path: String, key: String) throws(TokenEndpointError) -> [UInt8] {
        let line = try read(path, key: key, forbiddenMode: 0o007, fix: "chmod 0640 and chown root:outbox").line
        guard !line.isEmpty else { throw TokenEndpointError("\(key) \(path) is empty") }
        return line
    }

    /// The first line (without CR LF) and the file's status; refused when it is not a
    /// regular file or has any of `forbiddenMode`'s permission bits (`fix` says what to
    /// do). The caller wipes the line.
    static func read(_ path: String, key: String, forbiddenMode: mode_t, fix: String) throws(TokenEndpointError) -> (line: [UInt8], status: stat) {
        var bytes: [UInt8] = []
        defer { bytes.wipe() }
        let st: stat
        do {
            let fd = try FileDescriptor.open(path, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            st = try fd.status()
            guard (st.st_mode & S_IFMT) == S_IFREG else { throw TokenEndpointError("\(key) \(path) is not a regular file") }
            guard st.st_mode & forbiddenMode == 0 else {
                throw TokenEndpointError("\(key) \(path) is accessible to other users (mode \(String(st.st_mode & 0o777, radix: 8))); \(fix)")
            }
            bytes = try fd.readToEnd(limit: 65536)
        } catch let error as TokenEndpointError {
            throw error
        } catch { throw TokenEndpointError("\(key) \(error)") }
        var line = Array(bytes.prefix { $0 != 10 })
        if line.last == 13 { line.removeLast() }
        return (line, st)
    }
}
