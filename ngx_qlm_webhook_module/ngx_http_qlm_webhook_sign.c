
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
