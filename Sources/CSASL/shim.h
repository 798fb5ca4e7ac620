#ifndef CSASL_SHIM_H
#define CSASL_SHIM_H
/* The smallest bridge to Cyrus SASL: the credential callbacks live here, in C, reading a
 * context struct the Swift side owns, so that no Swift closure is ever called from
 * libsasl2 (DESIGN: a closure literal passed to C crashed when called from another
 * thread). The context and the callback array must outlive sasl_dispose. */
#include <sasl/sasl.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *authname;   /* authentication identity */
    sasl_secret_t *secret;  /* password, length-prefixed as libsasl2 wants it */
} coutbox_sasl_credentials;

static int coutbox_sasl_get_simple(void *context, int id, const char **result, unsigned *len) {
    coutbox_sasl_credentials *c = (coutbox_sasl_credentials *)context;
    if (id != SASL_CB_AUTHNAME && id != SASL_CB_USER) return SASL_BADPARAM;
    /* USER (authorisation identity) empty: act as the authenticated user. */
    *result = id == SASL_CB_AUTHNAME ? c->authname : "";
    if (len) *len = (unsigned)strlen(*result);
    return SASL_OK;
}

static int coutbox_sasl_get_secret(sasl_conn_t *conn, void *context, int id, sasl_secret_t **secret) {
    (void)conn;
    if (id != SASL_CB_PASS) return SASL_BADPARAM;
    *secret = ((coutbox_sasl_credentials *)context)->secret;
    return SASL_OK;
}

/* Fills four callbacks (USER, AUTHNAME, PASS, LIST_END) pointing at `c`. */
static inline void coutbox_sasl_fill_callbacks(sasl_callback_t *cb, coutbox_sasl_credentials *c) {
    cb[0].id = SASL_CB_USER;     cb[0].proc = (int (*)(void))coutbox_sasl_get_simple; cb[0].context = c;
    cb[1].id = SASL_CB_AUTHNAME; cb[1].proc = (int (*)(void))coutbox_sasl_get_simple; cb[1].context = c;
    cb[2].id = SASL_CB_PASS;     cb[2].proc = (int (*)(void))coutbox_sasl_get_secret; cb[2].context = c;
    cb[3].id = SASL_CB_LIST_END; cb[3].proc = NULL; cb[3].context = NULL;
}

/* A sasl_secret_t holding a copy of `password`; free with free(). */
static inline sasl_secret_t *coutbox_sasl_make_secret(const char *password, size_t len) {
    sasl_secret_t *s = (sasl_secret_t *)calloc(1, sizeof(sasl_secret_t) + len + 1);
    if (!s) return NULL;
    s->len = (unsigned long)len;
    memcpy(s->data, password, len);
    return s;
}

/* Wipes and frees a secret. */
static inline void coutbox_sasl_free_secret(sasl_secret_t *s) {
    if (!s) return;
    volatile unsigned char *p = s->data;
    for (unsigned long i = 0; i < s->len; i++) p[i] = 0;
    free(s);
}

static inline int coutbox_sasl_set_security(sasl_conn_t *conn, int allow_plaintext, unsigned external_ssf) {
    sasl_security_properties_t props;
    memset(&props, 0, sizeof props);
    props.min_ssf = 0;
    props.max_ssf = 0; /* no SASL security layer: TLS protects the session */
    props.maxbufsize = 0;
    props.security_flags = SASL_SEC_NOANONYMOUS | (allow_plaintext ? 0 : SASL_SEC_NOPLAINTEXT);
    int rc = sasl_setprop(conn, SASL_SEC_PROPS, &props);
    if (rc != SASL_OK) return rc;
    sasl_ssf_t ssf = external_ssf;
    return sasl_setprop(conn, SASL_SSF_EXTERNAL, &ssf);
}
#endif
