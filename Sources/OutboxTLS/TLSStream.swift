import COpenSSL
import Glibc
import OutboxNet

/// TLS over a `TCPStream` (STARTTLS or implicit TLS), with the handshake and every read
/// and write bounded by deadlines.
public final class TLSStream: ByteStream {
    private let ssl: OpaquePointer
    private let tcp: TCPStream
    private var closed = false

    public var peerDescription: String { tcp.peerDescription }

    /// Performs the client handshake. `serverName` is what the admin configured: a DNS
    /// name is sent as SNI and checked against the certificate's DNS names; an IP literal
    /// is checked against its IP addresses and no SNI is sent.
    public static func handshake(over tcp: TCPStream, context: TLSContext, serverName: String, deadline: Deadline) throws(TransportError) -> TLSStream
    {
        guard let ssl = SSL_new(context.context) else { throw .tls(TLSContext.drainErrors("SSL_new")) }
        let stream = TLSStream(ssl: ssl, tcp: tcp)
        let isIP = TLSStream.isIPLiteral(serverName)
        if !isIP { _ = coutbox_ssl_set_sni(ssl, serverName) }
        if context.policy.verify {
            if isIP {
                guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) == 1 else {
                    throw .tls("bad IP address \(serverName) for verification")
                }
            } else {
                SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
                guard SSL_set1_host(ssl, serverName) == 1 else { throw .tls("bad host name \(serverName) for verification") }
            }
        }
        SSL_set_fd(ssl, tcp.fd)
        while true {
            ERR_clear_error()
            let rc = SSL_connect(ssl)
            if rc == 1 { return stream }
            let err = SSL_get_error(ssl, rc)
            if err == coutbox_ssl_error_want_read() {
                try tcp.wait(for: Int16(POLLIN), deadline: deadline, what: "in the TLS handshake with \(tcp.peerDescription)")
            } else if err == coutbox_ssl_error_want_write() {
                try tcp.wait(for: Int16(POLLOUT), deadline: deadline, what: "in the TLS handshake with \(tcp.peerDescription)")
            } else {
                let verify = SSL_get_verify_result(ssl)
                if verify != X509_V_OK {
                    throw .tls("certificate verify failed: \(TLSStream.verifyReason(verify, serverName: serverName)) (\(tcp.peerDescription))")
                }
                throw .tls(TLSContext.drainErrors("TLS handshake with \(tcp.peerDescription) failed"))
            }
        }
    }

    private init(ssl: OpaquePointer, tcp: TCPStream) {
        self.ssl = ssl
        self.tcp = tcp
    }

    deinit {
        close()
        SSL_free(ssl)
    }

    static func verifyReason(_ code: Int, serverName: String) -> String {
        switch Int32(code) {
        case X509_V_ERR_HOSTNAME_MISMATCH: return "hostname mismatch for \(serverName)"
        case X509_V_ERR_IP_ADDRESS_MISMATCH: return "IP address mismatch for \(serverName)"
        default: return String(cString: X509_verify_cert_error_string(code))
        }
    }

    static func isIPLiteral(_ s: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }

    /// "TLSv1.3", as negotiated.
    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    /// The negotiated cipher suite.
    public var cipher: String { SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? "?" }

    /// The cipher's secret bits and its algorithm's bits, as Postfix logs them ("256/256").
    public var cipherBits: (used: Int32, algorithm: Int32) {
        guard let c = SSL_get_current_cipher(ssl) else { return (0, 0) }
        var algorithm: Int32 = 0
        let used = SSL_CIPHER_get_bits(c, &algorithm)
        return (used, algorithm)
    }

    /// Whether the chain verified against the trust store (also when verification was not
    /// required: Postfix's "Trusted" versus "Untrusted").
    public var chainVerified: Bool { SSL_get_verify_result(ssl) == X509_V_OK }

    /// Subject, issuer and expiry of the peer certificate, for `outboxctl check` and logs.
    public var peerCertificateSummary: String {
        guard let cert = SSL_get1_peer_certificate(ssl) else { return "no peer certificate" }
        defer { X509_free(cert) }
        func name(_ n: OpaquePointer?) -> String {
            guard let n, let text = X509_NAME_oneline(n, nil, 0) else { return "?" }
            defer { coutbox_openssl_free(text) }
            return String(cString: text)
        }
        var expiry = "?"
        if let bio = BIO_new(BIO_s_mem()) {
            if ASN1_TIME_print(bio, X509_get0_notAfter(cert)) == 1 {
                var buf = [CChar](repeating: 0, count: 64)
                let n = BIO_read(bio, &buf, 63)
                if n > 0 { expiry = String(decoding: buf[0..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
            }
            BIO_free(bio)
        }
        let verified = SSL_get_verify_result(ssl) == X509_V_OK ? "verified" : "NOT verified"
        return "subject \(name(X509_get_subject_name(cert))), issuer \(name(X509_get_issuer_name(cert))), expires \(expiry), \(verified)"
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws(TransportError) -> Int {
        while true {
            ERR_clear_error()
            let n = SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
            if n > 0 { return Int(n) }
            let err = SSL_get_error(ssl, n)
            if err == coutbox_ssl_error_want_read() {
                try tcp.wait(for: Int16(POLLIN), deadline: deadline, what: "waiting for \(peerDescription)")
            } else if err == coutbox_ssl_error_want_write() {
                try tcp.wait(for: Int16(POLLOUT), deadline: deadline, what: "waiting for \(peerDescription)")
            } else if err == coutbox_ssl_error_zero_return() || (err == coutbox_ssl_error_syscall() && ERR_peek_error() == 0) {
                return 0
            } else {
                throw .tls(TLSContext.drainErrors("TLS read from \(peerDescription) failed"))
            }
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) throws(TransportError) {
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let n = SSL_write(ssl, bytes.baseAddress! + offset, Int32(min(bytes.count - offset, 1 << 20)))
            if n > 0 {
                offset += Int(n)
                continue
            }
            let err = SSL_get_error(ssl, n)
            if err == coutbox_ssl_error_want_read() {
                try tcp.wait(for: Int16(POLLIN), deadline: deadline, what: "writing to \(peerDescription)")
            } else if err == coutbox_ssl_error_want_write() {
                try tcp.wait(for: Int16(POLLOUT), deadline: deadline, what: "writing to \(peerDescription)")
            } else {
                throw .tls(TLSContext.drainErrors("TLS write to \(peerDescription) failed"))
            }
        }
    }

    public func close() {
        if closed { return }
        closed = true
        SSL_shutdown(ssl)
        tcp.close()
    }
}
