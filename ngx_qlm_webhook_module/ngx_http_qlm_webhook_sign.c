
/*
 * ngx_qlm_webhook_module: secrets, signers and signatures.
 *
 * X-QLM-Signature is the lowercase hex SHA-256 of the body bytes followed
 * by the secret: sha256(body || secret), not an HMAC, as QLM does.
 *
 * The signer table (scheme and secret by id) is filled at configuration
 * time; a delivery asks it for the signature headers of its item.  This
 * file calls no other file of the module.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_http_qlm_webhook_module.h"


#define NGX_HTTP_QLM_WEBHOOK_SECRET_MAX   4096


static EVP_MD      *ngx_http_qlm_webhook_sha256;
static EVP_MD_CTX  *ngx_http_qlm_webhook_sha256_ctx;


static ngx_int_t ngx_http_qlm_webhook_read_secret_file(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *secret);
static ngx_int_t ngx_http_qlm_webhook_std_headers(ngx_pool_t *pool,
    ngx_http_qlm_webhook_signer_t *signer, qlm_store_item_t *item,
    ngx_array_t *headers);
static ngx_int_t ngx_http_qlm_webhook_header(ngx_array_t *headers,
    ngx_pool_t *pool, size_t size, const char *fmt, ...);


/* a secret as written: "STRING", or "file=PATH" */

ngx_int_t
ngx_http_qlm_webhook_read_secret(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *secret)
{
    ngx_str_t  name;

    if (ngx_strncmp(value->data, "file=", 5) != 0) {
        *secret = *value;
        return NGX_OK;
    }

    name.data = value->data + 5;
    name.len = value->len - 5;

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty secret file name in \"%V\"", value);
        return NGX_ERROR;
    }

    return ngx_http_qlm_webhook_read_secret_file(cf, &name, secret);
}


/* "file=PATH": the secret is the file's content less one final newline */

static ngx_int_t
ngx_http_qlm_webhook_read_secret_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *secret)
{
    u_char           *buf;
    size_t            size;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_int_t         rc;
    ngx_file_info_t   fi;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", name);
        goto done;
    }

    size = (size_t) ngx_file_size(&fi);

    if (size > NGX_HTTP_QLM_WEBHOOK_SECRET_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" is larger than %d bytes",
                           name, NGX_HTTP_QLM_WEBHOOK_SECRET_MAX);
        goto done;
    }

    buf = ngx_pnalloc(cf->pool, size + 1);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, buf, size);

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" failed", name);
        goto done;
    }

    if ((size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           ngx_read_fd_n " \"%V\" returned only %z bytes "
                           "instead of %uz", name, n, size);
        goto done;
    }

    if (n > 0 && buf[n - 1] == LF) {
        n--;

        if (n > 0 && buf[n - 1] == CR) {
            n--;
        }
    }

    secret->data = buf;
    secret->len = n;

    rc = NGX_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", name);
    }

    return rc;
}


ngx_int_t
ngx_http_qlm_webhook_signer_add(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_str_t *id, ngx_uint_t scheme,
    ngx_str_t *secret)
{
    ngx_http_qlm_webhook_signer_t  *s;

    /* ids are unique: "", "standard", and "task:" with a task's name */

    if (mcf->signers == NULL) {
        mcf->signers = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_http_qlm_webhook_signer_t));
        if (mcf->signers == NULL) {
            return NGX_ERROR;
        }
    }

    s = ngx_array_push(mcf->signers);
    if (s == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(s, sizeof(ngx_http_qlm_webhook_signer_t));

    s->id = *id;
    s->scheme = scheme;
    s->secret = *secret;

    if (scheme != NGX_HTTP_QLM_WEBHOOK_SCHEME_STANDARD) {
        return NGX_OK;
    }

    /* decoded once; a bad key fails each attempt, as it always did */

    switch (ngx_http_qlm_webhook_std_key(cf->pool, secret, &s->key)) {

    case NGX_OK:
        return NGX_OK;

    case NGX_DECLINED:
        s->bad_key = 1;
        return NGX_OK;

    default:
        return NGX_ERROR;
    }
}


/* an item's signer by the id it stores; any other id: the global secret */

ngx_http_qlm_webhook_signer_t *
ngx_http_qlm_webhook_signer_find(ngx_http_qlm_webhook_main_conf_t *mcf,
    qlm_store_str_t *id)
{
    ngx_uint_t                      i;
    ngx_http_qlm_webhook_signer_t  *s, *dflt;

    if (mcf->signers == NULL) {
        return NULL;
    }

    dflt = NULL;
    s = mcf->signers->elts;

    for (i = 0; i < mcf->signers->nelts; i++) {
        /* the global signer's id is empty, its data may be NULL */

        if (s[i].id.len == id->len
            && (id->len == 0
                || ngx_strncmp(s[i].id.data, id->data, id->len) == 0))
        {
            return &s[i];
        }

        if (s[i].id.len == 0) {
            dflt = &s[i];
        }
    }

    return dflt;
}


/*
 * The signature headers of one attempt, "Name: value" NUL-terminated each
 * (ngx_str_t, len without the NUL): X-QLM-Signature always, the Standard
 * Webhooks ones after it.  NULL on failure: the attempt is not sent.
 */

ngx_array_t *
ngx_http_qlm_webhook_signer_headers(ngx_pool_t *pool,
    ngx_http_qlm_webhook_signer_t *signer, qlm_store_item_t *item)
{
    ngx_str_t     body;
    ngx_array_t  *headers;
    u_char        sig[64];

    if (signer == NULL) {
        return NULL;
    }

    headers = ngx_array_create(pool, 4, sizeof(ngx_str_t));
    if (headers == NULL) {
        return NULL;
    }

    body.data = (u_char *) item->body.data;
    body.len = item->body.len;

    ngx_http_qlm_webhook_sign(&body, &signer->secret, sig);

    if (ngx_http_qlm_webhook_header(headers, pool, 64,
                                    "X-QLM-Signature: %*s%Z",
                                    (size_t) 64, sig)
        != NGX_OK)
    {
        return NULL;
    }

    if (signer->scheme == NGX_HTTP_QLM_WEBHOOK_SCHEME_STANDARD
        && ngx_http_qlm_webhook_std_headers(pool, signer, item, headers)
           != NGX_OK)
    {
        return NULL;
    }

    return headers;
}


/*
 * Standard Webhooks headers: webhook-id (the event id, stable across
 * attempts), webhook-timestamp (this attempt), webhook-signature.
 */

static ngx_int_t
ngx_http_qlm_webhook_std_headers(ngx_pool_t *pool,
    ngx_http_qlm_webhook_signer_t *signer, qlm_store_item_t *item,
    ngx_array_t *headers)
{
    void       *ctx;
    ngx_str_t   id, ts;
    u_char      b64[44];
    u_char      stamp[NGX_TIME_T_LEN];

    if (signer->bad_key) {
        ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                      "qlm webhook: the secret is not base64 after "
                      "\"whsec_\"");
        return NGX_ERROR;
    }

    id.data = (u_char *) item->event_id.data;
    id.len = item->event_id.len;

    ts.data = stamp;
    ts.len = ngx_sprintf(stamp, "%T", ngx_time()) - stamp;

    ctx = ngx_http_qlm_webhook_std_open(&signer->key, &id, &ts);

    if (ctx == NULL
        || ngx_http_qlm_webhook_std_update(ctx, (u_char *) item->body.data,
                                           item->body.len)
           != NGX_OK
        || ngx_http_qlm_webhook_std_close(ctx, b64) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_qlm_webhook_header(headers, pool, id.len,
                                    "webhook-id: %V%Z", &id)
           != NGX_OK
        || ngx_http_qlm_webhook_header(headers, pool, ts.len,
                                       "webhook-timestamp: %V%Z", &ts)
           != NGX_OK
        || ngx_http_qlm_webhook_header(headers, pool, 44,
                                       "webhook-signature: v1,%*s%Z",
                                       (size_t) 44, b64)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* size: of the values; the names fit in 32 bytes */

static ngx_int_t
ngx_http_qlm_webhook_header(ngx_array_t *headers, ngx_pool_t *pool,
    size_t size, const char *fmt, ...)
{
    u_char     *p;
    va_list     args;
    ngx_str_t  *h;

    p = ngx_pnalloc(pool, size + 32);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_array_push(headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    va_start(args, fmt);
    h->len = ngx_vslprintf(p, p + size + 32, fmt, args) - p - 1;
    va_end(args);

    h->data = p;

    return NGX_OK;
}


/* hex: 64 bytes */

void
ngx_http_qlm_webhook_sign(ngx_str_t *body, ngx_str_t *secret, u_char *hex)
{
    u_char         md[EVP_MAX_MD_SIZE];
    unsigned int   len;

    len = 0;

    /*
     * One context and one fetched digest a process: a new context and
     * OpenSSL 3's implicit fetch of "SHA256" cost almost as much as
     * hashing a payload (6,000 instructions against 8,000)
     */

    if (ngx_http_qlm_webhook_sha256 == NULL) {
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
        ngx_http_qlm_webhook_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
#else
        ngx_http_qlm_webhook_sha256 = (EVP_MD *) EVP_sha256();
#endif
    }

    if (ngx_http_qlm_webhook_sha256_ctx == NULL) {
        ngx_http_qlm_webhook_sha256_ctx = EVP_MD_CTX_new();
    }

    if (ngx_http_qlm_webhook_sha256 == NULL
        || ngx_http_qlm_webhook_sha256_ctx == NULL
        || EVP_DigestInit_ex(ngx_http_qlm_webhook_sha256_ctx,
                             ngx_http_qlm_webhook_sha256, NULL)
           != 1
        || EVP_DigestUpdate(ngx_http_qlm_webhook_sha256_ctx, body->data,
                            body->len)
           != 1
        || EVP_DigestUpdate(ngx_http_qlm_webhook_sha256_ctx, secret->data,
                            secret->len)
           != 1
        || EVP_DigestFinal_ex(ngx_http_qlm_webhook_sha256_ctx, md, &len)
           != 1
        || len != 32)
    {
        /* an all-zero signature never verifies: the attempt fails */
        ngx_memset(md, 0, 32);
    }

    ngx_hex_dump(hex, md, 32);
}


/* what the process keeps for signing, freed at its exit */

void
ngx_http_qlm_webhook_sign_exit(void)
{
    if (ngx_http_qlm_webhook_sha256_ctx) {
        EVP_MD_CTX_free(ngx_http_qlm_webhook_sha256_ctx);
        ngx_http_qlm_webhook_sha256_ctx = NULL;
    }

#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    if (ngx_http_qlm_webhook_sha256) {
        EVP_MD_free(ngx_http_qlm_webhook_sha256);
    }
#endif

    ngx_http_qlm_webhook_sha256 = NULL;
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
