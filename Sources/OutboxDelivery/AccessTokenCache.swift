import Glibc
import OutboxConfig
import OutboxOAuth

/// The one access token shared by every connection: fetched once per expiry (one fetch
/// at a time; other connections wait for it and share the result), renewed ahead of
/// expiry, dropped after a 535 that refused it, and not asked for again during a back-off
/// after a failure. The token source is auth_token_command or the built-in OAuth2 client.
public final class AccessTokenCache: @unchecked Sendable {
    public enum Source: Sendable {
        case command(String, timeout: Double)
        case oauth(OAuthClient)
    }

    public struct Token: Sendable {
        public let value: [UInt8]
        /// Unix time after which the token is not used.
        public let expiresAt: Int
        /// Which fetch produced it (an invalidation names the token it saw refused).
        public let generation: Int
    }

    /// What `outboxctl oauth status` and the log report.
    public struct Status: Sendable, Equatable {
        public var source = ""
        public var expiresAt: Int?
        public var lastRefresh: Int?
        public var lastError: String?
        public var lastErrorTime: Int?
        public var refreshes = 0
    }

    let source: Source
    /// Told about every change of state, to log it and to write the status file.
    private let report: @Sendable (Status, _ event: String, _ failed: Bool) -> Void
    private let lock = ConditionLock()
    private var current: Token?
    private var fetching = false
    private var generation = 0
    private var failure: (error: SessionError, retryAt: Int)?
    private var consecutiveFailures = 0
    private var status = Status()

    /// Lifetime assumed for a command's token, which comes without one: it is run again
    /// after this, or at once after a 535.
    public static let commandTokenLifetime = 300

    public init(source: Source, report: @escaping @Sendable (Status, String, Bool) -> Void = { _, _, _ in }) {
        self.source = source
        self.report = report
        switch source {
        case .command: status.source = "auth_token_command"
        case .oauth(let client): status.source = "\(client.settings.grantName) at \(client.settings.tokenURL)"
        }
    }

    /// The token source the configuration names; nil when AUTH uses a password.
    public static func configured(
        _ config: Config, report: @escaping @Sendable (Status, String, Bool) -> Void = { _, _, _ in }
    ) throws(ConfigError)
        -> AccessTokenCache?
    {
        if let command = config.authTokenCommand {
            return AccessTokenCache(source: .command(command, timeout: Double(config.credentialCommandTimeout)), report: report)
        }
        guard let settings = try OAuthSettings.configured(config) else { return nil }
        return AccessTokenCache(source: .oauth(OAuthClient(settings: settings)), report: report)
    }

    /// Renew when less than this is left: a fifth of the lifetime, at most five minutes.
    public static func refreshWindow(lifetime: Int) -> Int { min(300, max(1, lifetime / 5)) }

    /// Back-off after consecutive failures: 15 s doubling to 10 minutes.
    public static func backoff(afterFailures n: Int) -> Int { min(600, 15 << min(max(n - 1, 0), 6)) }

    public var snapshot: Status { lock.withLock { status } }

    /// A token good for now: the cached one, or a fresh one.
    public func token(now: () -> Int = { Int(time(nil)) }) throws(SessionError) -> Token {
        var usable: Token?
        let decision: Result<Bool, SessionError> = lock.withLock {
            while true {
                let t = now()
                if let c = current, c.expiresAt > t {
                    usable = c
                    let lifetime = c.expiresAt - (status.lastRefresh ?? t)
                    if c.expiresAt - t > Self.refreshWindow(lifetime: lifetime) { return .success(false) }
                }
                if fetching {
                    // Someone is fetching: a still-valid token is used meanwhile, otherwise
                    // wait for the fetch (single flight).
                    if usable != nil { return .success(false) }
                    lock.wait()
                    continue
                }
                if let f = failure, t < f.retryAt {
                    return usable != nil ? .success(false) : .failure(f.error)
                }
                fetching = true
                return .success(true)
            }
        }
        switch decision {
        case .failure(let error): throw error
        case .success(false): return usable!
        case .success(true): break
        }
        let outcome = fetch()
        let result: Result<Token, SessionError> = lock.withLock {
            defer {
                fetching = false
                lock.broadcast()
            }
            let t = now()
            switch outcome {
            case .success(let grant):
                generation += 1
                let lifetime = max(1, grant.expiresIn ?? Self.commandTokenLifetime)
                let token = Token(value: grant.token, expiresAt: t + lifetime, generation: generation)
                current = token
                failure = nil
                consecutiveFailures = 0
                status.expiresAt = token.expiresAt
                status.lastRefresh = t
                status.refreshes += 1
                let recovered = status.lastError != nil
                status.lastError = nil
                report(
                    status, "access token obtained (\(status.source)), valid for \(lifetime) s\(recovered ? "; token source working again" : "")",
                    false)
                return .success(token)
            case .failure(let fetchFailure):
                let error = fetchFailure.error
                consecutiveFailures += 1
                let retryAt = fetchFailure.backOff ? t + Self.backoff(afterFailures: consecutiveFailures) : t
                failure = (error, retryAt)
                let text = "\(error)"
                // One line per new problem, not one per connection or message.
                if status.lastError != text { report(status.with(error: text, at: t), "no access token: \(text)", true) }
                status = status.with(error: text, at: t)
                if let u = usable { return .success(u) }
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The server refused `token` (535): the next caller fetches a new one, unless it was
    /// already replaced.
    public func invalidate(_ token: Token) {
        lock.withLock {
            if current?.generation == token.generation {
                current = nil
                failure = nil
            }
        }
    }

    /// Why a fetch failed, and whether asking again soon is pointless (back off) or
    /// cheap and useful (a refused grant: the client makes no request until the admin
    /// replaced the refresh token, which is then noticed at once).
    struct FetchFailure: Error {
        let error: SessionError
        let backOff: Bool
    }

    private func fetch() -> Result<AccessGrant, FetchFailure> {
        switch source {
        case .command(let command, let timeout):
            do {
                var output = try Credentials.run(command, key: "auth_token_command", deadline: timeout)
                defer { output.wipe() }
                guard !output.isEmpty, output.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                    return .failure(FetchFailure(error: .credentials("auth_token_command printed no usable token on its first line"), backOff: true))
                }
                return .success(AccessGrant(token: output, expiresIn: nil))
            } catch { return .failure(FetchFailure(error: error, backOff: true)) }
        case .oauth(let client):
            do { return .success(try client.fetch()) } catch {
                // Only the refresh-token grant remembers a refusal (by file version); a
                // refused client credential (wrong secret) backs off like any failure,
                // rather than being posted again for every session.
                if case .refused = error, client.settings.refreshTokenFile != nil {
                    return .failure(FetchFailure(error: .credentials("OAuth2: \(error)"), backOff: false))
                }
                return .failure(FetchFailure(error: .credentials("OAuth2: \(error)"), backOff: true))
            }
        }
    }
}

extension AccessTokenCache.Status {
    func with(error: String, at time: Int) -> Self {
        var s = self
        s.lastError = error
        s.lastErrorTime = time
        return s
    }
}

extension OAuthSettings {
    /// The built-in client's settings; nil when oauth_token_url is unset.
    public static func configured(_ config: Config) throws(ConfigError) -> OAuthSettings? {
        guard let urlText = config.oauthTokenURL else { return nil }
        let file = config.sourcePath ?? "outbox.conf"
        guard let url = HTTPSURL(urlText) else {
            throw ConfigError(path: file, line: nil, "oauth_token_url: '\(urlText)' is not a usable https:// URL")
        }
        var device: HTTPSURL?
        if let d = config.oauthDeviceURL {
            guard let parsed = HTTPSURL(d) else { throw ConfigError(path: file, line: nil, "oauth_device_url: '\(d)' is not a usable https:// URL") }
            device = parsed
        }
        return OAuthSettings(
            tokenURL: url, clientID: config.oauthClientID ?? "", scope: config.oauthScope, clientSecretFile: config.oauthClientSecretFile,
            certificateFile: config.oauthClientCertificate, keyFile: config.oauthClientKey, refreshTokenFile: config.oauthRefreshTokenFile,
            deviceURL: device, caFile: config.oauthCAFile, timeout: Double(min(config.commandTimeout, 60)))
    }
}
