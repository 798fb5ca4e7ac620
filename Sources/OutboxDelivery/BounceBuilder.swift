import OutboxCore
import OutboxMessage
import OutboxSupport

/// Builds RFC 3464 delivery status notifications (multipart/report) for failed
/// recipients, sent from the null sender so that they can never bounce back in a loop.
public struct BounceBuilder: Sendable {
    public let reportingHost: String
    public let domain: String
    /// Messages larger than this are returned as headers only (text/rfc822-headers).
    public static let fullReturnLimit = 100_000

    public init(reportingHost: String, domain: String) {
        self.reportingHost = reportingHost
        self.domain = domain
    }

    public struct Failure: Sendable {
        public var recipient: String
        public var original: String?
        public var status: String
        public var diagnostic: String
    }

    /// The complete DSN message (CRLF), quoting `original` (the failed message's content).
    public func build(
        queueID: String, sender: String, arrival: Int, failures: [Failure], remoteMTA: String?,
        original: [UInt8], returnHeadersOnly: Bool, bounceID: String, now: Int = MailDate.now()
    ) -> [UInt8] {
        let boundary = "\(queueID).\(now)/\(reportingHost)"
        let date = MailDate.rfc5322(now)
        var text = """
            From: MAILER-DAEMON@\(domain) (Mail Delivery System)\r
            To: <\(sender)>\r
            Subject: Undelivered Mail Returned to Sender\r
            Date: \(date)\r
            Message-ID: <\(MailDate.compact(now)).\(bounceID)@\(domain)>\r
            Auto-Submitted: auto-replied\r
            MIME-Version: 1.0\r
            Content-Type: multipart/report; report-type=delivery-status;\r
            \tboundary="\(boundary)"\r
            \r
            This is a MIME-encapsulated message.\r
            \r
            --\(boundary)\r
            Content-Description: Notification\r
            Content-Type: text/plain; charset=us-ascii\r
            \r
            This is the mail system at host \(reportingHost).\r
            \r
            I'm sorry to have to inform you that your message could not\r
            be delivered to one or more recipients. It's attached below.\r
            \r

            """
        for f in failures {
            text += "<\(f.recipient)>: \(remoteMTA.map { "host \($0) said: " } ?? "")\(f.diagnostic)\r\n"
        }
        text += """
            \r
            --\(boundary)\r
            Content-Description: Delivery report\r
            Content-Type: message/delivery-status\r
            \r
            Reporting-MTA: dns; \(reportingHost)\r
            X-Outbox-Queue-ID: \(queueID)\r
            Arrival-Date: \(MailDate.rfc5322(arrival))\r
            \r

            """
        for f in failures {
            text += "Final-Recipient: rfc822; \(f.recipient)\r\n"
            if let o = f.original { text += "Original-Recipient: rfc822; \(o)\r\n" }
            text += "Action: failed\r\nStatus: \(f.status)\r\n"
            if let remoteMTA { text += "Remote-MTA: dns; \(remoteMTA)\r\n" }
            text += "Diagnostic-Code: smtp; \(f.diagnostic)\r\n\r\n"
        }
        let headersOnly = returnHeadersOnly || original.count > Self.fullReturnLimit
        text += """
            --\(boundary)\r
            Content-Description: Undelivered \(headersOnly ? "Message Headers" : "Message")\r
            Content-Type: \(headersOnly ? "text/rfc822-headers" : "message/rfc822")\r
            \r

            """
        var out = Array(text.utf8)
        if headersOnly {
            out += Self.headerSection(of: original)
        } else {
            out += original
            if !original.isEmpty && original.suffix(2) != [13, 10] { out += [13, 10] }
        }
        out += Array("\r\n--\(boundary)--\r\n".utf8)
        return out
    }

    /// The header section of a CRLF message (up to and including the blank line).
    static func headerSection(of message: [UInt8]) -> [UInt8] {
        HeaderSection.bodyStart(in: message).map { Array(message[..<($0 - 2)]) } ?? message
    }
}
