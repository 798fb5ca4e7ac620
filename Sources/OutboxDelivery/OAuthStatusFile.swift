import Glibc
import OutboxCore
import OutboxOAuth
import OutboxSupport

/// What outboxd last knew about its access token, for `outboxctl oauth status`: a few
/// `key=value` lines in the private queue directory (never the token itself), replaced
/// by rename.
public enum OAuthStatusFile {
    static let name = "oauth-status"

    /// The global settings' file, or a route's (`oauth-status.NAME`).
    public static func path(spool: String, route: String? = nil) -> String { spool + "/queue/" + name + (route.map { "." + $0 } ?? "") }

    static func write(_ status: AccessTokenCache.Status, to path: String) {
        var text = "source=\(status.source)\nrefreshes=\(status.refreshes)\n"
        if let e = status.expiresAt { text += "expires=\(e)\n" }
        if let r = status.lastRefresh { text += "last_refresh=\(r)\n" }
        if let e = status.lastError {
            text += "last_error=\(TokenEndpoint.printable(e))\n"
            text += "last_error_time=\(status.lastErrorTime ?? 0)\n"
        }
        // A status report only: delivery does not depend on it.
        try? ReportFile.replace(path, with: text, mode: 0o640)
    }

    /// The status as `key: value` lines for a terminal, or nil when outboxd has not
    /// written one yet.
    public static func read(spool: String, route: String? = nil) -> [(String, String)]? {
        guard let text = ReportFile.read(path(spool: spool, route: route), limit: 65536) else { return nil }
        return text.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            // Printable only: the file is outboxd's, but what it quotes came from a server.
            return parts.count == 2 ? (String(parts[0]), TokenEndpoint.printable(String(parts[1]))) : nil
        }
    }
}
