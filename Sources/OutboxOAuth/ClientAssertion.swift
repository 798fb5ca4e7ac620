import COpenSSL
import Glibc
import OutboxSupport
import OutboxTLS

/// A certificate credential (RFC 7523 §2.2): a short-lived JWT signed RS256 with the
/// application's private key, naming the certificate by its SHA-256 thumbprint
/// (`x5t#S256`), as Microsoft's app-only flow takes it.
public final class ClientAssertionSigner: @unchecked Sendable {
    private let key: OpaquePointer
    /// base64url(SHA-256(DER certificate)).
    public let thumbprint: String

    /// Loads the PEM certificate and key; refuses a key that is not RSA or does not
    /// belong to the certificate (the endpoint would refuse every assertion).
    public init(certificateFile: String, keyFile: String) throws(TokenEndpointError) {
        guard let certBIO = BIO_new_file(certificateFile, "r") else {
            throw TokenEndpointError(TLSContext.drainErrors("oauth_client_certificate \(certificateFile)"))
        }
        defer { BIO_free(certBIO) }
        guard let cert = PEM_read_bio_X509(certBIO, nil, nil, nil) else {
            throw TokenEndpointError(TLSContext.drainErrors("oauth_client_certificate \(certificateFile): no PEM certificate"))
        }
        defer { X509_free(cert) }
        var keyStatus = stat()
        if stat(keyFile, &keyStatus) == 0, keyStatus.st_mode & 0o007 != 0 {
            throw TokenEndpointError(
                "oauth_client_key \(keyFile) is accessible to other users (mode \(String(keyStatus.st_mode & 0o777, radix: 8))); chmod 0640 and chown root:outbox"
            )
        }
        guard let keyBIO = BIO_new_file(keyFile, "r") else { throw TokenEndpointError(TLSContext.drainErrors("oauth_client_key \(keyFile)")) }
        defer { BIO_free(keyBIO) }
        guard let key = PEM_read_bio_PrivateKey(keyBIO, nil, nil, nil) else {
            throw TokenEndpointError(TLSContext.drainErrors("oauth_client_key \(keyFile): no unencrypted PEM private key"))
        }
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA else {
            EVP_PKEY_free(key)
            throw TokenEndpointError("oauth_client_key \(keyFile): not an RSA key (RS256 needs one)")
        }
        guard X509_check_private_key(cert, key) == 1 else {
            EVP_PKEY_free(key)
            throw TokenEndpointError("oauth_client_key \(keyFile) does not match oauth_client_certificate \(certificateFile)")
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(cert, EVP_sha256(), &digest, &length) == 1 else {
            EVP_PKEY_free(key)
            throw TokenEndpointError("oauth_client_certificate: cannot compute its SHA-256 thumbprint")
        }
        self.key = key
        thumbprint = Base64URL.encode(Array(digest.prefix(Int(length))))
    }

    deinit { EVP_PKEY_free(key) }

    /// A JWT for `audience` (the token endpoint's URL), valid for ten minutes.
    public func assertion(clientID: String, audience: String, now: Int) throws(TokenEndpointError) -> String {
        var nonce = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&nonce, 16) == 1 else { throw TokenEndpointError("RAND_bytes failed") }
        let header = "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t#S256\":\(JSON.string(thumbprint))}"
        let claims =
            "{\"aud\":\(JSON.string(audience)),\"iss\":\(JSON.string(clientID)),\"sub\":\(JSON.string(clientID)),"
            + "\"jti\":\"\(nonce.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())\",\"nbf\":\(now - 30),\"iat\":\(now),\"exp\":\(now + 600)}"
        let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
        return signingInput + "." + Base64URL.encode(try sign(Array(signingInput.utf8)))
    }

    private func sign(_ data: [UInt8]) throws(TokenEndpointError) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw TokenEndpointError("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, key) == 1 else { throw TokenEndpointError(TLSContext.drainErrors("RS256 signing")) }
        var length = 0
        guard EVP_DigestSign(ctx, nil, &length, data, data.count) == 1 else { throw TokenEndpointError(TLSContext.drainErrors("RS256 signing")) }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(ctx, &signature, &length, data, data.count) == 1 else {
            throw TokenEndpointError(TLSContext.drainErrors("RS256 signing"))
        }
        return Array(signature.prefix(length))
    }
}

/// base64url without padding (RFC 7515 §2), as JWTs use it.
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        String(
            Base64.encode(bytes).compactMap { c -> Character? in
                switch c {
                case "+": "-"
                case "/": "_"
                case "=": nil
                default: c
                }
            })
    }
}
