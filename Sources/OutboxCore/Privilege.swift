import COutboxSys
import Glibc

/// What the process may trust about how it was started.
public enum Privilege {
    /// True when the process runs set-id (AT_SECURE, or real and effective ids differ):
    /// the environment and any alternate configuration then come from an untrusted caller.
    public static var isSetID: Bool {
        coutbox_secure_exec() != 0 || getuid() != geteuid() || getgid() != getegid()
    }

    /// The calling user's real uid.
    public static var realUID: uid_t { getuid() }

    /// Returns an environment variable, or nil when running set-id (see `isSetID`).
    public static func trustedEnvironment(_ name: String) -> String? {
        if isSetID { return nil }
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}

/// Bytes from the kernel's CSPRNG (getrandom(2)).
public func randomBytes(_ count: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    let rc = bytes.withUnsafeMutableBytes { coutbox_getrandom($0.baseAddress, count) }
    precondition(rc == 0, "getrandom failed")
    return bytes
}

extension Privilege {
    /// Closes every descriptor above stderr (close_range(2)): a hostile parent may have left
    /// open files we must not write to or pass on.
    public static func closeInheritedDescriptors() {
        _ = coutbox_close_from(3)
    }
}
