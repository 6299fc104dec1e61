
/*
 * ngx_qlm_webhook_module: signatures.
 *
 * X-QLM-Signature is the lowercase hex SHA-256 of the body bytes followed
 * by the secret: sha256(body || secret), not an HMAC, as QLM does.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_http_qlm_webhook_module.h"


/* hex: 64 bytes */

void
ngx_http_qlm_webhook_sign(ngx_str_t *body, ngx_str_t *secret, u_char *hex)
{
    u_char         md[EVP_MAX_MD_SIZE];
    unsigned int   len;
    EVP_MD_CTX    *ctx;

    len = 0;
    ctx = EVP_MD_CTX_new();

    if (ctx == NULL
        || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(ctx, body->data, body->len) != 1
        || EVP_DigestUpdate(ctx, secret->data, secret->len) != 1
        || EVP_DigestFinal_ex(ctx, md, &len) != 1
        || len != 32)
    {
        /* an all-zero signature never verifies: the attempt fails */
        ngx_memset(md, 0, 32);
    }

    if (ctx) {
        EVP_MD_CTX_free(ctx);
    }

    ngx_hex_dump(hex, md, 32);
}


/*
 * Standard Webhooks: a secret is "whsec_" followed by the base64 of the
 * key (padded, the standard alphabet), as the scheme's libraries read it.
 * NULL if it is, else why not, in words fit for a directive error: never
 * the secret itself.
 */

const char *
ngx_http_qlm_webhook_std_check(ngx_str_t *secret)
{
    u_char      c;
    size_t      i, len, pad;
    ngx_str_t   src;

    if (secret->len < sizeof("whsec_") - 1
        || ngx_strncmp(secret->data, "whsec_", sizeof("whsec_") - 1) != 0)
    {
        return "must be \"whsec_\" followed by base64";
    }

    src.data = secret->data + sizeof("whsec_") - 1;
    src.len = secret->len - (sizeof("whsec_") - 1);

    if (src.len == 0) {
        return "has an empty key after \"whsec_\"";
    }

    pad = 0;
    len = src.len;

    while (pad < 2 && len > 0 && src.data[len - 1] == '=') {
        pad++;
        len--;
    }

    if (src.len % 4 != 0) {
        return "must be \"whsec_\" followed by base64";
    }

    for (i = 0; i < len; i++) {
        c = src.data[i];

        if (!(isalnum(c) || c == '+' || c == '/')) {
            return "must be \"whsec_\" followed by base64";
        }
    }

    if (len == 0) {
        return "has an empty key after \"whsec_\"";
    }

    return NULL;
}


/* the key of a secret that ngx_http_qlm_webhook_std_check() accepts */

ngx_int_t
ngx_http_qlm_webhook_std_key(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_str_t *key)
{
    ngx_str_t  src;

    if (ngx_http_qlm_webhook_std_check(secret) != NULL) {
        return NGX_DECLINED;
    }

    src.data = secret->data + sizeof("whsec_") - 1;
    src.len = secret->len - (sizeof("whsec_") - 1);

    key->data = ngx_pnalloc(pool, ngx_base64_decoded_length(src.len));
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64(key, &src) != NGX_OK) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * HMAC-SHA256 over "id.timestamp.body", base64: 44 bytes.  The body comes
 * in parts: the caller feeds each to every context it opened.
 */

void *
ngx_http_qlm_webhook_std_open(ngx_str_t *key, ngx_str_t *id, ngx_str_t *ts)
{
    EVP_PKEY    *pkey;
    EVP_MD_CTX  *md;

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NULL;
    }

    /* an empty key is still a key: HMAC pads it */

    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_HMAC, NULL,
                                        key->len ? key->data
                                                 : (u_char *) "",
                                        key->len);
    if (pkey == NULL) {
        EVP_MD_CTX_free(md);
        return NULL;
    }

    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1
        || EVP_DigestSignUpdate(md, id->data, id->len) != 1
        || EVP_DigestSignUpdate(md, ".", 1) != 1
        || EVP_DigestSignUpdate(md, ts->data, ts->len) != 1
        || EVP_DigestSignUpdate(md, ".", 1) != 1)
    {
        EVP_PKEY_free(pkey);
        EVP_MD_CTX_free(md);
        return NULL;
    }

    /* the context keeps its own reference to the key */
    EVP_PKEY_free(pkey);

    return md;
}


ngx_int_t
ngx_http_qlm_webhook_std_update(void *ctx, u_char *data, size_t len)
{
    return EVP_DigestSignUpdate(ctx, data, len) == 1 ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_qlm_webhook_std_close(void *ctx, u_char *b64)
{
    size_t      len;
    ngx_int_t   rc;
    ngx_str_t   src, dst;
    u_char      mac[EVP_MAX_MD_SIZE];

    len = sizeof(mac);
    rc = NGX_ERROR;

    if (ctx && EVP_DigestSignFinal(ctx, mac, &len) == 1 && len == 32) {
        src.data = mac;
        src.len = 32;
        dst.data = b64;
        ngx_encode_base64(&dst, &src);
        rc = NGX_OK;
    }

    if (ctx) {
        EVP_MD_CTX_free(ctx);
    }

    return rc;
}
