import OutboxCore

/// The texts of Postfix's log lines, field for field, so that pflogsumm, the Postfix
/// exporters and admins' greps read outbox's logs unmodified. Pure: no I/O, no clock.
public enum PostfixLogLine {
    /// How long one attempt took, by Postfix's stages (delays=a/b/c/d).
    public struct Timing: Equatable, Sendable {
        /// When the message arrived (submission) and when outboxd adopted it.
        public var arrival: Double
        public var adopted: Double
        /// Connection set-up (connect, TLS, EHLO, AUTH); 0 for a reused session.
        public var setup: Double
        /// The transaction (MAIL FROM to the reply to the final dot).
        public var transfer: Double
        /// The message's number on its connection (Postfix's conn_use, logged from 2).
        public var connectionUse: Int

        public init(arrival: Double, adopted: Double, setup: Double = 0, transfer: Double = 0, connectionUse: Int = 1) {
            self.arrival = arrival
            self.adopted = adopted
            self.setup = setup
            self.transfer = transfer
            self.connectionUse = connectionUse
        }

        /// delay= and the four delays= stages at `now`: before the queue manager, in it
        /// (waiting, deferred time included), connection set-up, transmission.
        public func stages(now: Double) -> (total: Double, a: Double, b: Double, c: Double, d: Double) {
            let total = max(0, now - arrival)
            let a = min(total, max(0, adopted - arrival))
            let c = max(0, setup), d = max(0, transfer)
            return (total, a, max(0, total - a - c - d), c, d)
        }
    }

    /// Postfix's delay resolution: `0`, `0.05`, `1.2`, `13`.
    public static func seconds(_ value: Double) -> String {
        guard value.isFinite, value >= 0.005 else { return "0" }
        if value >= 10 { return String(Int(value)) }
        let hundredths = Int((value * 100).rounded())
        // 0.995 rounds to 1.00: from there one decimal.
        if hundredths >= 100 {
            let tenths = (hundredths + 5) / 10
            return tenths % 10 == 0 ? String(tenths / 10) : "\(tenths / 10).\(tenths % 10)"
        }
        let text = hundredths < 10 ? "0.0\(hundredths)" : "0.\(hundredths)"
        return text.hasSuffix("0") ? String(text.dropLast()) : text
    }

    /// `ID: to=<…>, [orig_to=<…>, ]relay=…, [conn_use=N, ]delay=…, delays=a/b/c/d,
    /// dsn=X.Y.Z, status=S (reply)`; outbox's own attempt count follows the reply.
    public static func delivery(
        id: String, to: String, original: String?, relay: String, timing: Timing, now: Double, dsn: String, status: String,
        reply: String, attempts: Int, route: String? = nil
    ) -> String {
        let s = timing.stages(now: now)
        let orig = original.map { "orig_to=<\(EnvelopeSyntax.printable($0, limit: 1024))>, " } ?? ""
        let use = timing.connectionUse > 1 ? "conn_use=\(timing.connectionUse), " : ""
        return "\(id): to=<\(EnvelopeSyntax.printable(to, limit: 1024))>, \(orig)relay=\(relay), \(use)delay=\(seconds(s.total)), "
            + "delays=\(seconds(s.a))/\(seconds(s.b))/\(seconds(s.c))/\(seconds(s.d)), dsn=\(dsn), status=\(status) (\(reply)), tries=\(attempts)"
            + (route.map { ", route=\($0)" } ?? "")
    }

    /// pickup's line when a message enters the queue: `ID: uid=N from=<sender>`, then
    /// who submitted it.
    public static func pickup(id: String, uid: Int, sender: String, origin: String?) -> String {
        "\(id): uid=\(uid) from=<\(EnvelopeSyntax.printable(sender, limit: 1024))>" + (origin.map { " \($0)" } ?? "")
    }

    /// qmgr's line when a message becomes active.
    public static func active(id: String, sender: String, size: Int, recipients: Int) -> String {
        "\(id): from=<\(EnvelopeSyntax.printable(sender, limit: 1024))>, size=\(size), nrcpt=\(recipients) (queue active)"
    }

    /// qmgr's line when the queue lifetime ran out.
    public static func expired(id: String, sender: String) -> String {
        "\(id): from=<\(EnvelopeSyntax.printable(sender, limit: 1024))>, status=expired, returned to sender"
    }

    /// smtp's TLS line, as Postfix logs it: Verified (chain and name), Trusted (chain
    /// only), Untrusted.
    public static func tls(trust: String, peer: String, version: String, cipher: String, bits: Int32, algorithmBits: Int32) -> String {
        "\(trust) TLS connection established to \(peer): \(version) with cipher \(cipher) (\(bits)/\(algorithmBits) bits)"
    }
}
