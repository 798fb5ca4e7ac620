/// A recipient's delivery status as the state file records it and logs show it
/// (`status=sent`): one enum for the policy's verdicts, the state file and the listings.
public enum DeliveryStatus: String, Sendable {
    /// Never tried.
    case pending
    case sent
    case bounced
    case deferred
}
