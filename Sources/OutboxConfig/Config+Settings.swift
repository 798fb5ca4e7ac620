extension Config {
    /// Every key with its effective value in outbox.conf syntax, in the order of
    /// etc/outbox.conf; an unset optional value is empty. Parsing these lines gives this
    /// configuration back (the unit tests check the round trip for every key).
    public var settings: [(key: String, value: String)] {
        ConfigKey.all.map { (key: $0.name, value: $0.show(self)) }
    }

    /// A route's `senders` and every delivery key with its effective value for that
    /// route (or only those that differ from the global value).
    public func settings(of route: Route, onlyOverrides: Bool = false) -> [(key: String, value: String)] {
        let keys = ConfigKey.all.filter { Route.deliveryKeys.contains($0.name) }
        let own = keys.map { (key: $0.name, value: $0.show(route.config)) }
        let global = Dictionary(uniqueKeysWithValues: keys.map { ($0.name, $0.show(self)) })
        return [(key: "senders", value: route.senders.map { $0.description }.joined(separator: ", "))]
            + own.filter { !onlyOverrides || global[$0.0] != $0.1 }
    }
}
