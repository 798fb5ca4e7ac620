import COpenSSL
import Glibc
import OutboxNet

/// How the smarthost's certificate is treated.
public struct TLSPolicy: Sendable, Equatable {
    /// Verify the chain and the name (or IP address) the admin configured.
    public var verify: Bool
    /// CA bundle; nil means the system store.
    public var caFile: String?
    /// Client certificate chain and key, when the smarthost asks for one.
    public var certificateFile: String?
    public var keyFile: String?

    public init(verify: Bool, caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
        self.verify = verify
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }
}

/// Owns one SSL_CTX (TLS ≥ 1.2, client side), shared by every connection.
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    public let policy: TLSPolicy

    /// Wraps `SSL_CTX_new`; loads the CA bundle and the client certificate.
    public init(policy: TLSPolicy) throws(TransportError) {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw .tls(TLSContext.drainErrors("SSL_CTX_new")) }
        context = ctx
        self.policy = policy
        _ = coutbox_ssl_ctx_min_tls12(ctx)
        _ = coutbox_ssl_ctx_set_partial_writes(ctx)
        SSL_CTX_set_verify(ctx, policy.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
        if let ca = policy.caFile {
            guard SSL_CTX_load_verify_locations(ctx, ca, nil) == 1 else {
                throw .tls(TLSContext.drainErrors("cannot load tls_ca_file \(ca)"))
            }
        } else if SSL_CTX_set_default_verify_paths(ctx) != 1 {
            throw .tls(TLSContext.drainErrors("cannot load the system CA store"))
        }
        if let cert = policy.certificateFile {
            guard SSL_CTX_use_certificate_chain_file(ctx, cert) == 1,
                SSL_CTX_use_PrivateKey_file(ctx, policy.keyFile ?? cert, SSL_FILETYPE_PEM) == 1,
                SSL_CTX_check_private_key(ctx) == 1
            else { throw .tls(TLSContext.drainErrors("cannot load client certificate \(cert)")) }
        }
    }

    deinit { SSL_CTX_free(context) }

    /// The OpenSSL error queue as one line, prefixed with what was being done.
    public static func drainErrors(_ what: String) -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buf, buf.count)
            reasons.append(String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return reasons.isEmpty ? what : "\(what): \(reasons.joined(separator: "; "))"
    }
}
