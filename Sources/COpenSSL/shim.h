#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
/* The smallest bridge to Debian's OpenSSL 3: function-like macros and constants Swift
 * cannot import, as static inline functions. */
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static inline long coutbox_ssl_set_sni(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
static inline long coutbox_ssl_ctx_min_tls12(SSL_CTX *ctx) { return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION); }
static inline long coutbox_ssl_ctx_set_partial_writes(SSL_CTX *ctx) {
    return SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}
static inline void coutbox_openssl_free(void *p) { OPENSSL_free(p); }
static inline int coutbox_ssl_error_want_read(void) { return SSL_ERROR_WANT_READ; }
static inline int coutbox_ssl_error_want_write(void) { return SSL_ERROR_WANT_WRITE; }
static inline int coutbox_ssl_error_zero_return(void) { return SSL_ERROR_ZERO_RETURN; }
static inline int coutbox_ssl_error_syscall(void) { return SSL_ERROR_SYSCALL; }
#endif
