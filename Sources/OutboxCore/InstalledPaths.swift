/// The built-in locations, one place for the full configuration and the drop helper.
public enum InstalledPaths {
    /// The configuration file; the set-id helper accepts no other (except `-C` from root).
    public static let configuration = "/etc/outbox/outbox.conf"
    /// `spool_directory` when the configuration does not set it.
    public static let spoolDirectory = "/var/spool/outbox"
}
