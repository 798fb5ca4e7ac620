import Glibc
import OutboxConfig
import OutboxCore
import OutboxDrop
import OutboxSMTP
import OutboxSpool
import OutboxSupport
import OutboxTLS

/// `outboxctl send-test`: sends one short message straight through the first smarthost
/// that works, the way outboxd would, and reports the server's answer for the recipient.
/// Nothing is queued: this tests the relay path, not the spool.
public enum SmarthostSendTest {
    /// Returns the report lines and whether the smarthost accepted the message.
    public static func run(_ config: Config, recipient: String, sender: String) -> (lines: [String], ok: Bool) {
        guard !config.smarthosts.isEmpty else { return (["no smarthost configured (set smarthost in outbox.conf)"], false) }
        let host = config.heloName ?? HeloName.local
        let id = QueueID.generate().text
        let text =
            "From: outbox test <\(sender)>\r\nTo: <\(recipient)>\r\nSubject: outbox test message from \(host)\r\n"
            + "Date: \(MailDate.rfc5322(MailDate.now()))\r\nMessage-ID: <\(id).test@\(host)>\r\n\r\n"
            + "This message was sent by outboxctl send-test on \(host) to check the relay to the smarthost.\r\n"
        // The relay reads content from a record file; a private one in a fresh 0700 directory.
        var template = Array("/tmp/outboxctl-XXXXXX".utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            return (["cannot create a temporary directory: \(String(cString: strerror(errno)))"], false)
        }
        let path = dir + "/" + id
        defer {
            unlink(path)
            rmdir(dir)
        }
        do {
            let fd = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
            try fd.writeAll(RecordEncoder.encode([Record(.content, text), Record(.end)]))
        } catch { return (["cannot write the test message: \(error)"], false) }
        let message = OutgoingMessage(
            queueID: id, sender: sender, recipients: [.init(index: 0, address: recipient, original: nil, notify: nil)],
            parameters: [], size: text.utf8.count, path: path)
        let tls: TLSContext
        do {
            tls = try TLSContext.configured(config)
        } catch { return (["TLS set-up failed: \(error)"], false) }
        var lines: [String] = []
        let tokens: AccessTokenCache?
        do { tokens = try AccessTokenCache.configured(config) } catch { return (["\(error)"], false) }
        for smarthost in config.smarthosts {
            do {
                let session = try RelaySession.open(smarthost, config: config, tls: tls, tokens: tokens)
                defer { session.quit() }
                lines.append(
                    "\(smarthost): connected to \(session.peer), \(session.tlsDescription ?? "no TLS"), \(session.authMechanism.map { "AUTH \($0)" } ?? "no AUTH")"
                )
                let verdict = session.send(message).first?.verdict
                if let failure = session.failure {
                    lines.append("\(smarthost): \(failure)")
                    continue
                }
                let status = verdict?.status?.rawValue ?? "not tried"
                lines.append("<\(sender)> -> <\(recipient)>: \(status) (\(verdict?.reply ?? "no reply"))")
                return (lines, verdict?.action == .sent)
            } catch {
                lines.append("\(smarthost): \(error)")
            }
        }
        return (lines, false)
    }
}
