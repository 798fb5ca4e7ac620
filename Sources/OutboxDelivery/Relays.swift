import OutboxConfig
import OutboxSpool

/// A relay for the global settings and one for each `[route NAME]`, built together from
/// one configuration (at start and on SIGHUP): each route has its own sessions, TLS
/// context and credentials.
public final class Relays: Sendable {
    public let global: Relay
    public let byRoute: [String: Relay]
    public let config: Config
    /// Counts reloads: what a session learns is applied only while its configuration is
    /// the current one (WorkQueue).
    public let generation: Int
    /// Routes ("" the global one) whose smarthosts are those of the relays these replace:
    /// the pacing a smarthost asked for still applies to them.
    public let samePlace: Set<String>

    /// `previous`: the relays these replace (SIGHUP); a route of the same name keeps its
    /// message_rate_limit window (Relay.init).
    public init(config: Config, store: QueueStore, log: DeliveryLog, monitor: Monitor?, previous: Relays? = nil) throws {
        self.config = config
        global = try Relay(config: config, store: store, log: log, monitor: monitor, previous: previous?.global)
        var byRoute: [String: Relay] = [:]
        for route in config.routes {
            byRoute[route.name] = try Relay(
                config: route.config, store: store, log: log, monitor: monitor, routeName: route.name, previous: previous?.byRoute[route.name])
        }
        self.byRoute = byRoute
        generation = (previous?.generation ?? 0) + 1
        var same = Set<String>()
        if let previous {
            if previous.config.smarthosts == config.smarthosts { same.insert("") }
            for route in config.routes where previous.byRoute[route.name]?.config.smarthosts == route.config.smarthosts {
                same.insert(route.name)
            }
        }
        samePlace = same
    }

    /// The route a message takes ("" for the global settings).
    public func routeName(of item: QueueItem) -> String {
        config.routeName(sender: item.envelope.sender, recipients: item.envelope.recipients.map(\.address)) ?? ""
    }

    /// The relay for a route name ("" the global one), nil for a name this configuration
    /// does not have (a reload removed or renamed it): that mail is routed again, never
    /// handed to another route's smarthost and credentials.
    public func relay(_ route: String) -> Relay? { route.isEmpty ? global : byRoute[route] }

    /// Threads for every connection any route may have (each keeps to its own
    /// max_connections through the work queue), at most 64.
    public var threadCount: Int { min(64, config.maxConnections + config.routes.reduce(0) { $0 + $1.config.maxConnections }) }

    /// Connections allowed per route ("" for the global settings).
    public var connectionLimits: [String: Int] {
        var limits = ["": config.maxConnections]
        for route in config.routes { limits[route.name] = route.config.maxConnections }
        return limits
    }
}
