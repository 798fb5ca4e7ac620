import Glibc
import OutboxCore

/// Chooses and reads the configuration file under the privilege rules of DESIGN:
/// set-id programs ignore `OUTBOX_CONFIG` and accept `-C` only from root.
public enum ConfigLoader {
    /// Where the configuration comes from.
    public enum Source: Equatable, Sendable {
        /// The built-in path; a missing file means built-in defaults.
        case defaultPath
        /// Named by `-C` / `--config`.
        case commandLine(String)
        /// Named by the `OUTBOX_CONFIG` environment variable.
        case environment(String)
    }

    /// The source to use given a command-line choice, refusing an alternate file for a
    /// set-id caller who is not root.
    public static func source(commandLine: String?) throws(ConfigError) -> Source {
        if let path = commandLine {
            if Privilege.isSetID && Privilege.realUID != 0 {
                throw ConfigError(path: path, line: nil, "alternate configuration is allowed only for root")
            }
            return .commandLine(path)
        }
        if let env = Privilege.trustedEnvironment("OUTBOX_CONFIG"), !env.isEmpty { return .environment(env) }
        return .defaultPath
    }

    /// Reads and parses the configuration from `source`.
    public static func load(_ source: Source) throws(ConfigError) -> Config {
        let path: String
        switch source {
        case .defaultPath: path = Config.defaultPath
        case .commandLine(let p), .environment(let p): path = p
        }
        guard let text = readSmallFile(path) else {
            let err = Errno.current
            if source == .defaultPath && err == ENOENT { return Config() }
            throw ConfigError(path: path, line: nil, "cannot read: \(String(cString: strerror(err)))")
        }
        return try ConfigParser.parse(text, path: path)
    }

    /// Reads a file of at most 1 MiB as text; nil with errno set on failure.
    public static func readSmallFile(_ path: String) -> String? {
        do {
            let fd = try FileDescriptor.open(path, flags: O_RDONLY)
            return String(decoding: try fd.readToEnd(limit: 1 << 20), as: UTF8.self)
        } catch {
            Errno.current = error.errno
            return nil
        }
    }
}
