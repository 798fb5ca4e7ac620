extension Config {
    /// Every key with its effective value in outbox.conf syntax, in the order of
    /// etc/outbox.conf; an unset optional value is empty. Parsing these lines gives this
    /// configuration back (the unit tests check the round trip for every key).
    public var settings: [(key: String, value: String)] {
        ConfigKey.all.map { ($0.name, $0.show(self)) }
    }
}
