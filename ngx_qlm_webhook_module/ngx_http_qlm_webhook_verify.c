
/*
 * ngx_qlm_webhook_module: verification of incoming webhooks.
 *
 * In the access phase, a location with qlm_webhook_verify reads the whole
 * request body (in memory or in a temporary file, as nginx keeps it) and
 * checks its signature before the content handler sees a byte: QLM's
 * X-QLM-Signature, or the Standard Webhooks headers with a timestamp
 * tolerance and replay protection in the store.  A mismatch is a 403
 * from the access handler, as nginx's access modules answer, so that
 * "satisfy" and "error_page" apply; the reason goes to the log at info,
 * never a secret or an expected value.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_http_qlm_webhook_module.h"
#include "qlm_verify_parse.h"


#define NGX_HTTP_QLM_WEBHOOK_READ_SIZE    16384

/*
 * How long a webhook-id stays pending at most while the application
 * answers: a request that outlives it no longer holds back a copy, and an
 * id left by a worker that died is free again after it.
 */
#define NGX_HTTP_QLM_WEBHOOK_PENDING      60000


typedef ngx_int_t (*ngx_http_qlm_webhook_part_pt)(void *data, u_char *p,
    size_t len);


/*
 * Per request, in a cleanup of the request's pool rather than in the
 * module's context slot (emission's): found again after an internal
 * redirect, which clears module contexts, so a request is verified once.
 */

typedef struct {
    ngx_str_t                    result;   /* valid, invalid, missing, ... */
    ngx_int_t                    rc;       /* for the access phase */
    qlm_store_t                 *store;    /* where the id is pending */
    uint64_t                     expiry;   /* of the pending mark, in ms */
    uint64_t                     keep;     /* ms to keep it on success */
    u_char                       id[32];   /* the webhook-id's SHA-256 */
    int                          sr;       /* the check's, in a thread */
    unsigned                     done:1;
    unsigned                     pending:1;
} ngx_http_qlm_webhook_verify_ctx_t;


#if (NGX_THREADS)

/* the second step, written in a thread after the request has gone */

typedef struct {
    qlm_store_t                 *store;
    uint64_t                     expiry;
    uint64_t                     to;
    int                          sr;
    u_char                       id[32];
} ngx_http_qlm_webhook_settle_t;

#endif


typedef struct {
    EVP_MD_CTX                  *md;
} ngx_http_qlm_webhook_sha_t;


typedef struct {
    void                       **ctxs;
    ngx_uint_t                   n;
} ngx_http_qlm_webhook_hmacs_t;


static ngx_int_t ngx_http_qlm_webhook_verify_handler(ngx_http_request_t *r);
static void ngx_http_qlm_webhook_verify_body(ngx_http_request_t *r);
static ngx_http_qlm_webhook_verify_ctx_t *ngx_http_qlm_webhook_verify_ctx(
    ngx_http_request_t *r);
static void ngx_http_qlm_webhook_verify_cleanup(void *data);
static ngx_int_t ngx_http_qlm_webhook_verify_log(ngx_http_request_t *r);
static void ngx_http_qlm_webhook_verify_settle(
    ngx_http_qlm_webhook_verify_ctx_t *ctx, ngx_uint_t status,
    ngx_log_t *log);
static uint64_t ngx_http_qlm_webhook_verify_now(void);
static ngx_int_t ngx_http_qlm_webhook_verify_check(ngx_http_request_t *r,
    ngx_http_qlm_webhook_loc_conf_t *lcf,
    ngx_http_qlm_webhook_verify_ctx_t *ctx, const char **reason);
static ngx_int_t ngx_http_qlm_webhook_verify_seen(
    ngx_http_qlm_webhook_verify_ctx_t *ctx, int sr, ngx_log_t *log,
    const char **reason);
static void ngx_http_qlm_webhook_verify_done(ngx_http_request_t *r,
    ngx_http_qlm_webhook_verify_ctx_t *ctx, ngx_int_t rc,
    const char *reason);
static void ngx_http_qlm_webhook_settle_result(int sr, uint64_t to,
    ngx_log_t *log);
#if (NGX_THREADS)
static ngx_int_t ngx_http_qlm_webhook_verify_post(ngx_http_request_t *r,
    ngx_http_qlm_webhook_verify_ctx_t *ctx, ngx_thread_pool_t *tp);
static void ngx_http_qlm_webhook_seen_thread(void *data, ngx_log_t *log);
static void ngx_http_qlm_webhook_seen_thread_done(ngx_event_t *ev);
static ngx_int_t ngx_http_qlm_webhook_settle_post(
    ngx_http_qlm_webhook_verify_ctx_t *ctx, uint64_t to,
    ngx_thread_pool_t *tp);
static void ngx_http_qlm_webhook_settle_thread(void *data, ngx_log_t *log);
static void ngx_http_qlm_webhook_settle_thread_done(ngx_event_t *ev);
#endif
static ngx_int_t ngx_http_qlm_webhook_verify_qlm(ngx_http_request_t *r,
    ngx_array_t *keys, ngx_http_qlm_webhook_verify_ctx_t *ctx,
    const char **reason);
static ngx_int_t ngx_http_qlm_webhook_verify_standard(ngx_http_request_t *r,
    ngx_http_qlm_webhook_loc_conf_t *lcf,
    ngx_http_qlm_webhook_verify_ctx_t *ctx, const char **reason);
static ngx_int_t ngx_http_qlm_webhook_body_parts(ngx_http_request_t *r,
    ngx_http_qlm_webhook_part_pt handler, void *data);
static ngx_int_t ngx_http_qlm_webhook_sha_part(void *data, u_char *p,
    size_t len);
static ngx_int_t ngx_http_qlm_webhook_hmac_part(void *data, u_char *p,
    size_t len);
static ngx_table_elt_t *ngx_http_qlm_webhook_header(ngx_http_request_t *r,
    const char *name, size_t len);
static ngx_int_t ngx_http_qlm_webhook_result_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_http_qlm_webhook_conf_error(ngx_conf_t *cf, u_char *file,
    ngx_uint_t line, const char *name, const char *err, const char *what);


static ngx_str_t  ngx_http_qlm_webhook_result_name =
    ngx_string("qlm_webhook_verify_result");


ngx_int_t
ngx_http_qlm_webhook_verify_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_variable_t        *var;
    ngx_http_core_main_conf_t  *cmcf;

    var = ngx_http_add_variable(cf, &ngx_http_qlm_webhook_result_name,
                                NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_qlm_webhook_result_variable;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_qlm_webhook_verify_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_qlm_webhook_verify_log;

    return NGX_OK;
}


static ngx_int_t
ngx_http_qlm_webhook_verify_handler(ngx_http_request_t *r)
{
    ngx_int_t                           rc;
    ngx_pool_cleanup_t                 *cln;
    ngx_http_qlm_webhook_loc_conf_t    *lcf;
    ngx_http_qlm_webhook_verify_ctx_t  *ctx;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_qlm_webhook_module);

    if (!lcf->verify || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_qlm_webhook_verify_ctx(r);

    if (ctx) {
        if (ctx->done) {
            /*
             * NGX_OK or 403 as the access modules answer, for "satisfy":
             * with "any", a valid signature is enough, and a refusal
             * leaves the other access handlers their say
             */
            return ctx->rc;
        }

        /* the body is still being read */
        return NGX_AGAIN;
    }

    cln = ngx_pool_cleanup_add(r->pool,
                               sizeof(ngx_http_qlm_webhook_verify_ctx_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_qlm_webhook_verify_ctx_t));

    cln->handler = ngx_http_qlm_webhook_verify_cleanup;

    /* the whole body first, as the mirror module reads it */

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_qlm_webhook_verify_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_http_qlm_webhook_verify_body(ngx_http_request_t *r)
{
    ngx_int_t                           rc;
    const char                         *reason;
    ngx_http_qlm_webhook_loc_conf_t    *lcf;
    ngx_http_qlm_webhook_verify_ctx_t  *ctx;

    ctx = ngx_http_qlm_webhook_verify_ctx(r);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_qlm_webhook_module);

    reason = NULL;
    rc = ngx_http_qlm_webhook_verify_check(r, lcf, ctx, &reason);

    if (rc == NGX_AGAIN) {
        /* the replay check is in a thread: its end goes on */
        return;
    }

    ngx_http_qlm_webhook_verify_done(r, ctx, rc, reason);
}


static void
ngx_http_qlm_webhook_verify_done(ngx_http_request_t *r,
    ngx_http_qlm_webhook_verify_ctx_t *ctx, ngx_int_t rc, const char *reason)
{
    ngx_http_core_loc_conf_t  *clcf;

    ctx->done = 1;

    if (rc == NGX_OK) {
        ctx->rc = NGX_OK;

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "qlm webhook: signature verified");

    } else if (rc == NGX_ERROR) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        /* with "satisfy any" another access handler may yet let it in */

        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "qlm webhook: %s: %s",
                      (clcf->satisfy == NGX_HTTP_SATISFY_ALL)
                      ? "request refused" : "not verified", reason);

        /* returned from the access phase, run again below */
        ctx->rc = NGX_HTTP_FORBIDDEN;
    }

    /* the body stays for the content handler (proxy_pass and the like) */

    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_http_qlm_webhook_verify_ctx_t *
ngx_http_qlm_webhook_verify_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->main->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_qlm_webhook_verify_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


/* a request that ends without its log phase counts as a failed one */

static void
ngx_http_qlm_webhook_verify_cleanup(void *data)
{
    ngx_http_qlm_webhook_verify_ctx_t *ctx = data;

    ngx_http_qlm_webhook_main_conf_t  *mcf;

    if (!ctx->pending) {
        return;
    }

    mcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                              ngx_http_qlm_webhook_module);

    if (mcf && mcf->store == ctx->store) {
        ngx_http_qlm_webhook_verify_settle(ctx, 0, ngx_cycle->log);
    }
}


/*
 * Replay protection, second step: the application has answered.  A 2xx
 * keeps the id for the replay window; anything else (a 5xx, a timeout, a
 * client that went away) forgets it, so that the sender's retry, with the
 * same id, passes.
 */

static ngx_int_t
ngx_http_qlm_webhook_verify_log(ngx_http_request_t *r)
{
    ngx_http_qlm_webhook_loc_conf_t    *lcf;
    ngx_http_qlm_webhook_verify_ctx_t  *ctx;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_qlm_webhook_module);

    /* only where verification may have run, here or before a redirect */

    if (!lcf->verify && !r->internal) {
        return NGX_OK;
    }

    ctx = ngx_http_qlm_webhook_verify_ctx(r);

    if (ctx && ctx->pending) {
        ngx_http_qlm_webhook_verify_settle(ctx, r->headers_out.status,
                                           r->connection->log);
    }

    return NGX_OK;
}


static void
ngx_http_qlm_webhook_verify_settle(ngx_http_qlm_webhook_verify_ctx_t *ctx,
    ngx_uint_t status, ngx_log_t *log)
{
    int                                sr;
    uint64_t                           to;
    qlm_store_str_t                    id;
#if (NGX_THREADS)
    ngx_thread_pool_t                 *tp;
    ngx_http_qlm_webhook_main_conf_t  *mcf;
#endif

    ctx->pending = 0;

    to = (status >= 200 && status < 300)
         ? ngx_http_qlm_webhook_verify_now() + ctx->keep : 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "qlm webhook: status %ui: webhook-id %s",
                   status, to ? "kept" : "forgotten");

#if (NGX_THREADS)

    /* the request need not wait for it: written in the pool if commits are */

    mcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                              ngx_http_qlm_webhook_module);
    tp = mcf ? ngx_http_qlm_webhook_store_thread_pool(mcf, 1) : NULL;

    if (tp && ngx_http_qlm_webhook_settle_post(ctx, to, tp) == NGX_OK) {
        return;
    }

#endif

    id.data = (const char *) ctx->id;
    id.len = sizeof(ctx->id);

    sr = qlm_store_seen_update(ctx->store, id, ctx->expiry, to);

    ngx_http_qlm_webhook_settle_result(sr, to, log);
}


static void
ngx_http_qlm_webhook_settle_result(int sr, uint64_t to, ngx_log_t *log)
{
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "qlm webhook: webhook-id %s: %d",
                   to ? "kept" : "forgotten", sr);

    /* QLM_STORE_EXISTS: another copy took the id since; it decides */

    if (sr != 0 && sr != QLM_STORE_EXISTS) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "qlm webhook: replay protection failed: %s",
                      qlm_store_strerror(sr));
    }
}


#if (NGX_THREADS)

/* the second step in nginx's thread pool, with the request gone */

static ngx_int_t
ngx_http_qlm_webhook_settle_post(ngx_http_qlm_webhook_verify_ctx_t *ctx,
    uint64_t to, ngx_thread_pool_t *tp)
{
    ngx_thread_task_t              *task;
    ngx_http_qlm_webhook_settle_t  *st;

    task = ngx_http_qlm_webhook_heap_task_alloc(
                                  sizeof(ngx_http_qlm_webhook_settle_t),
                                  ngx_http_qlm_webhook_settle_thread,
                                  ngx_http_qlm_webhook_settle_thread_done);
    if (task == NULL) {
        return NGX_ERROR;
    }

    st = task->ctx;
    st->store = ctx->store;
    st->expiry = ctx->expiry;
    st->to = to;
    ngx_memcpy(st->id, ctx->id, sizeof(st->id));

    return ngx_http_qlm_webhook_heap_task(tp, task);
}


static void
ngx_http_qlm_webhook_settle_thread(void *data, ngx_log_t *log)
{
    ngx_http_qlm_webhook_settle_t *st = data;

    qlm_store_str_t  id;

    id.data = (const char *) st->id;
    id.len = sizeof(st->id);

    st->sr = qlm_store_seen_update(st->store, id, st->expiry, st->to);
}


static void
ngx_http_qlm_webhook_settle_thread_done(ngx_event_t *ev)
{
    ngx_thread_task_t              *task;
    ngx_http_qlm_webhook_settle_t  *st;

    task = ev->data;
    st = task->ctx;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "qlm webhook: a webhook-id settled in a thread");

    ngx_http_qlm_webhook_settle_result(st->sr, st->to, ev->log);

    ngx_free(task);
}

#endif


static uint64_t
ngx_http_qlm_webhook_verify_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/* NGX_OK: valid; NGX_DECLINED: refused, *reason says why */

static ngx_int_t
ngx_http_qlm_webhook_verify_check(ngx_http_request_t *r,
    ngx_http_qlm_webhook_loc_conf_t *lcf,
    ngx_http_qlm_webhook_verify_ctx_t *ctx, const char **reason)
{
    if (lcf->verify_scheme == NGX_HTTP_QLM_WEBHOOK_SCHEME_STANDARD) {
        return ngx_http_qlm_webhook_verify_standard(r, lcf, ctx, reason);
    }

    return ngx_http_qlm_webhook_verify_qlm(r, lcf->verify_keys, ctx, reason);
}


static ngx_int_t
ngx_http_qlm_webhook_verify_qlm(ngx_http_request_t *r, ngx_array_t *keys,
    ngx_http_qlm_webhook_verify_ctx_t *ctx, const char **reason)
{
    ngx_int_t                    rc, match;
    ngx_str_t                   *secret;
    ngx_uint_t                   i;
    unsigned int                 len;
    EVP_MD_CTX                  *each;
    ngx_table_elt_t             *h;
    ngx_http_qlm_webhook_sha_t   sha;
    u_char                       got[64], md[EVP_MAX_MD_SIZE], hex[64];

    h = ngx_http_qlm_webhook_header(r, "X-QLM-Signature",
                                    sizeof("X-QLM-Signature") - 1);

    if (h == NULL) {
        ngx_str_set(&ctx->result, "missing");
        *reason = "no X-QLM-Signature header";
        return NGX_DECLINED;
    }

    ngx_str_set(&ctx->result, "invalid");

    if (qlm_verify_parse_hex(h->value.data, h->value.len, got) != 0) {
        *reason = "malformed X-QLM-Signature header";
        return NGX_DECLINED;
    }

    sha.md = EVP_MD_CTX_new();
    each = EVP_MD_CTX_new();

    if (sha.md == NULL || each == NULL
        || EVP_DigestInit_ex(sha.md, EVP_sha256(), NULL) != 1)
    {
        rc = NGX_ERROR;
        goto done;
    }

    rc = ngx_http_qlm_webhook_body_parts(r, ngx_http_qlm_webhook_sha_part,
                                         &sha);
    if (rc != NGX_OK) {
        goto done;
    }

    /* sha256(body || secret) for each secret, all compared */

    match = 0;
    secret = keys->elts;

    for (i = 0; i < keys->nelts; i++) {
        if (EVP_MD_CTX_copy_ex(each, sha.md) != 1
            || EVP_DigestUpdate(each, secret[i].data, secret[i].len) != 1
            || EVP_DigestFinal_ex(each, md, &len) != 1
            || len != 32)
        {
            rc = NGX_ERROR;
            goto done;
        }

        ngx_hex_dump(hex, md, 32);

        match |= (CRYPTO_memcmp(hex, got, 64) == 0);
    }

    if (match) {
        ngx_str_set(&ctx->result, "valid");
        rc = NGX_OK;

    } else {
        *reason = "the signature does not match";
        rc = NGX_DECLINED;
    }

done:

    if (sha.md) {
        EVP_MD_CTX_free(sha.md);
    }

    if (each) {
        EVP_MD_CTX_free(each);
    }

    return rc;
}


/*
 * Standard Webhooks: webhook-id, webhook-timestamp (seconds), and
 * webhook-signature: "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one
 * or more separated by spaces.
 */

static ngx_int_t
ngx_http_qlm_webhook_verify_standard(ngx_http_request_t *r,
    ngx_http_qlm_webhook_loc_conf_t *lcf,
    ngx_http_qlm_webhook_verify_ctx_t *ctx, const char **reason)
{
    int                                sr;
    u_char                            *b64;
    int64_t                            ts;
    uint64_t                           ms;
    ngx_int_t                          rc, match;
    ngx_str_t                         *key, id, stamp;
    const u_char                      *p, *last, *sig;
    ngx_uint_t                         i;
    ngx_table_elt_t                   *hid, *hts, *hsig;
    qlm_store_str_t                    seen;
    ngx_array_t                       *keys;
    ngx_http_qlm_webhook_hmacs_t       hm;
    ngx_http_qlm_webhook_main_conf_t  *mcf;
    u_char                             digest[EVP_MAX_MD_SIZE];
    unsigned int                       dlen;
    EVP_MD_CTX                        *md;
#if (NGX_THREADS)
    ngx_thread_pool_t                 *tp;
#endif

    keys = lcf->verify_keys;

    hid = ngx_http_qlm_webhook_header(r, "webhook-id", 10);
    hts = ngx_http_qlm_webhook_header(r, "webhook-timestamp", 17);
    hsig = ngx_http_qlm_webhook_header(r, "webhook-signature", 17);

    if (hid == NULL || hts == NULL || hsig == NULL) {
        ngx_str_set(&ctx->result, "missing");
        *reason = "no webhook-id, webhook-timestamp or webhook-signature "
                  "header";
        return NGX_DECLINED;
    }

    ngx_str_set(&ctx->result, "invalid");

    id = hid->value;
    stamp = hts->value;

    if (id.len == 0
        || qlm_verify_parse_timestamp(stamp.data, stamp.len, &ts) != 0)
    {
        *reason = "malformed webhook-id or webhook-timestamp header";
        return NGX_DECLINED;
    }

    /* in seconds: a timestamp however far cannot wrap the comparison */

    if (!qlm_verify_within(ts, (int64_t) ngx_time(),
                           lcf->verify_tolerance / 1000))
    {
        ngx_str_set(&ctx->result, "stale");
        *reason = "the webhook-timestamp is outside the tolerance";
        return NGX_DECLINED;
    }

    hm.n = keys->nelts;
    hm.ctxs = ngx_pcalloc(r->pool, hm.n * sizeof(void *));
    b64 = ngx_pnalloc(r->pool, hm.n * QLM_VERIFY_B64_LEN);

    if (hm.ctxs == NULL || b64 == NULL) {
        return NGX_ERROR;
    }

    key = keys->elts;
    rc = NGX_OK;

    for (i = 0; i < hm.n; i++) {
        hm.ctxs[i] = ngx_http_qlm_webhook_std_open(&key[i], &id, &stamp);
        if (hm.ctxs[i] == NULL) {
            rc = NGX_ERROR;
        }
    }

    if (rc == NGX_OK) {
        rc = ngx_http_qlm_webhook_body_parts(r,
                                             ngx_http_qlm_webhook_hmac_part,
                                             &hm);
    }

    for (i = 0; i < hm.n; i++) {
        if (hm.ctxs[i] == NULL) {
            ngx_memset(b64 + i * QLM_VERIFY_B64_LEN, 0, QLM_VERIFY_B64_LEN);
            continue;
        }

        if (ngx_http_qlm_webhook_std_close(hm.ctxs[i],
                                           b64 + i * QLM_VERIFY_B64_LEN)
            != NGX_OK)
        {
            rc = NGX_ERROR;
        }
    }

    if (rc != NGX_OK) {
        return rc;
    }

    /* each "v1,<base64>" against each secret's */

    match = 0;
    p = hsig->value.data;
    last = p + hsig->value.len;

    while (qlm_verify_next_signature(&p, last, &sig)) {
        for (i = 0; i < hm.n; i++) {
            match |= (CRYPTO_memcmp(sig, b64 + i * QLM_VERIFY_B64_LEN,
                                    QLM_VERIFY_B64_LEN)
                      == 0);
        }
    }

    if (!match) {
        *reason = "the signature does not match";
        return NGX_DECLINED;
    }

    /*
     * A valid message accepted before, within the tolerance, is a replay.
     * The id is pending while the application answers, so that a copy
     * sent meanwhile is refused too, and the log phase then keeps it or
     * forgets it.
     */

    mcf = ngx_http_get_module_main_conf(r, ngx_http_qlm_webhook_module);

    if (mcf->store == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qlm webhook: no replay protection: the store is not "
                      "open in this worker");
        ngx_str_set(&ctx->result, "valid");
        return NGX_OK;
    }

    /* ids of any length: the store keeps their digest */

    md = EVP_MD_CTX_new();
    if (md == NULL
        || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(md, id.data, id.len) != 1
        || EVP_DigestFinal_ex(md, digest, &dlen) != 1)
    {
        if (md) {
            EVP_MD_CTX_free(md);
        }

        return NGX_ERROR;
    }

    EVP_MD_CTX_free(md);

    ms = ngx_http_qlm_webhook_verify_now();

    ctx->store = mcf->store;
    ctx->expiry = ms + NGX_HTTP_QLM_WEBHOOK_PENDING;
    ctx->keep = 2 * (uint64_t) lcf->verify_tolerance;
    ngx_memcpy(ctx->id, digest, ngx_min(dlen, sizeof(ctx->id)));

#if (NGX_THREADS)

    /* where the loop's commits flush in the pool, so does this one */

    tp = ngx_http_qlm_webhook_store_thread_pool(mcf, 1);

    if (tp && ngx_http_qlm_webhook_verify_post(r, ctx, tp) == NGX_OK) {
        return NGX_AGAIN;
    }

#endif

    seen.data = (const char *) ctx->id;
    seen.len = sizeof(ctx->id);

    sr = qlm_store_seen(mcf->store, seen, ms, NGX_HTTP_QLM_WEBHOOK_PENDING);

    return ngx_http_qlm_webhook_verify_seen(ctx, sr, r->connection->log,
                                            reason);
}


/* the replay check's answer: a replay is refused; a failure lets it in */

static ngx_int_t
ngx_http_qlm_webhook_verify_seen(ngx_http_qlm_webhook_verify_ctx_t *ctx,
    int sr, ngx_log_t *log, const char **reason)
{
    if (sr == QLM_STORE_EXISTS) {
        ngx_str_set(&ctx->result, "replayed");
        *reason = "the webhook-id was accepted before, or is being answered";
        return NGX_DECLINED;
    }

    if (sr == 0) {
        ctx->pending = 1;

    } else {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "qlm webhook: replay protection failed: %s",
                      qlm_store_strerror(sr));
    }

    ngx_str_set(&ctx->result, "valid");

    return NGX_OK;
}


#if (NGX_THREADS)

/* the request waits for its check (blocked), the event loop does not */

static ngx_int_t
ngx_http_qlm_webhook_verify_post(ngx_http_request_t *r,
    ngx_http_qlm_webhook_verify_ctx_t *ctx, ngx_thread_pool_t *tp)
{
    ngx_thread_task_t                   *task;
    ngx_http_qlm_webhook_verify_ctx_t  **cp;

    task = ngx_thread_task_alloc(r->pool,
                                 sizeof(ngx_http_qlm_webhook_verify_ctx_t *));
    if (task == NULL) {
        return NGX_ERROR;
    }

    cp = task->ctx;
    *cp = ctx;

    task->handler = ngx_http_qlm_webhook_seen_thread;
    task->event.handler = ngx_http_qlm_webhook_seen_thread_done;
    task->event.data = r;
    task->event.log = r->connection->log;

    ctx->sr = 0;

    if (ngx_thread_task_post(tp, task) != NGX_OK) {
        return NGX_ERROR;
    }

    r->main->blocked++;
    r->aio = 1;

    return NGX_OK;
}


static void
ngx_http_qlm_webhook_seen_thread(void *data, ngx_log_t *log)
{
    ngx_http_qlm_webhook_verify_ctx_t *ctx =
        *(ngx_http_qlm_webhook_verify_ctx_t **) data;

    qlm_store_str_t  seen;

    /* the request is blocked meanwhile: the loop leaves its ctx alone */

    seen.data = (const char *) ctx->id;
    seen.len = sizeof(ctx->id);

    ctx->sr = qlm_store_seen(ctx->store, seen,
                             ctx->expiry - NGX_HTTP_QLM_WEBHOOK_PENDING,
                             NGX_HTTP_QLM_WEBHOOK_PENDING);
}


static void
ngx_http_qlm_webhook_seen_thread_done(ngx_event_t *ev)
{
    ngx_int_t                           rc;
    const char                         *reason;
    ngx_connection_t                   *c;
    ngx_http_request_t                 *r;
    ngx_http_qlm_webhook_verify_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;

    r->main->blocked--;
    r->aio = 0;

    ctx = ngx_http_qlm_webhook_verify_ctx(r);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "qlm webhook: webhook-id checked in a thread: %d",
                   ctx->sr);

    reason = NULL;
    rc = ngx_http_qlm_webhook_verify_seen(ctx, ctx->sr, c->log, &reason);

    ngx_http_qlm_webhook_verify_done(r, ctx, rc, reason);

    ngx_http_run_posted_requests(c);
}

#endif


/* the body in order, from memory or from nginx's temporary file */

static ngx_int_t
ngx_http_qlm_webhook_body_parts(ngx_http_request_t *r,
    ngx_http_qlm_webhook_part_pt handler, void *data)
{
    off_t         pos;
    size_t        size;
    ssize_t       n;
    u_char       *buf;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    buf = NULL;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            if (handler(data, b->pos, b->last - b->pos) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        if (!b->in_file || b->file == NULL) {
            continue;
        }

        if (buf == NULL) {
            buf = ngx_palloc(r->pool, NGX_HTTP_QLM_WEBHOOK_READ_SIZE);
            if (buf == NULL) {
                return NGX_ERROR;
            }
        }

        for (pos = b->file_pos; pos < b->file_last; pos += n) {
            size = (size_t) ngx_min(b->file_last - pos,
                                    NGX_HTTP_QLM_WEBHOOK_READ_SIZE);

            n = ngx_read_file(b->file, buf, size, pos);

            if (n <= 0) {
                return NGX_ERROR;
            }

            if (handler(data, buf, n) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_qlm_webhook_sha_part(void *data, u_char *p, size_t len)
{
    ngx_http_qlm_webhook_sha_t  *sha = data;

    return EVP_DigestUpdate(sha->md, p, len) == 1 ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_qlm_webhook_hmac_part(void *data, u_char *p, size_t len)
{
    ngx_http_qlm_webhook_hmacs_t  *hm = data;

    ngx_uint_t  i;

    for (i = 0; i < hm->n; i++) {
        if (hm->ctxs[i]
            && ngx_http_qlm_webhook_std_update(hm->ctxs[i], p, len) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_qlm_webhook_header(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


static ngx_int_t
ngx_http_qlm_webhook_result_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_qlm_webhook_verify_ctx_t  *ctx;

    ctx = ngx_http_qlm_webhook_verify_ctx(r);

    if (ctx == NULL || ctx->result.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = ctx->result.data;
    v->len = ctx->result.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * A verify location needs a secret that is not empty: a check that anyone
 * can pass is no check.  The keys are what is signed with: the secrets as
 * they are (qlm), or the keys that they encode (standard).
 */

char *
ngx_http_qlm_webhook_verify_merge(ngx_conf_t *cf,
    ngx_http_qlm_webhook_loc_conf_t *prev,
    ngx_http_qlm_webhook_loc_conf_t *conf)
{
    ngx_int_t                              rc;
    ngx_str_t                             *key;
    ngx_uint_t                             i, n;
    const char                            *err, *what;
    ngx_http_qlm_webhook_verify_secret_t  *secret, global;
    ngx_http_qlm_webhook_main_conf_t      *mcf;

    if (prev->verify_keys
        && prev->verify_secrets == conf->verify_secrets
        && prev->verify_scheme == conf->verify_scheme)
    {
        conf->verify_keys = prev->verify_keys;
        return NGX_CONF_OK;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qlm_webhook_module);

    if (conf->verify_secrets) {
        secret = conf->verify_secrets->elts;
        n = conf->verify_secrets->nelts;

    } else if (mcf->secret_set) {
        global.value = mcf->secret;
        global.file = NULL;
        global.line = 0;
        secret = &global;
        n = 1;

    } else {
        ngx_http_qlm_webhook_conf_error(cf, conf->verify_file,
                                        conf->verify_line,
                                        "qlm_webhook_verify",
                                        "has no secret",
                                        ": set \"qlm_webhook_verify_secret\" "
                                        "or \"qlm_webhook_secret\"");
        return NGX_CONF_ERROR;
    }

    conf->verify_keys = ngx_array_create(cf->pool, n, sizeof(ngx_str_t));
    if (conf->verify_keys == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < n; i++) {
        key = ngx_array_push(conf->verify_keys);
        if (key == NULL) {
            return NGX_CONF_ERROR;
        }

        if (conf->verify_scheme == NGX_HTTP_QLM_WEBHOOK_SCHEME_STANDARD) {
            err = ngx_http_qlm_webhook_std_check(&secret[i].value);

            if (err == NULL) {
                rc = ngx_http_qlm_webhook_std_key(cf->pool, &secret[i].value,
                                                  key);
                if (rc == NGX_ERROR) {
                    return NGX_CONF_ERROR;
                }

                if (rc != NGX_OK) {
                    err = "must be \"whsec_\" followed by base64";
                }
            }

        } else {
            err = secret[i].value.len ? NULL : "is empty";
            *key = secret[i].value;
        }

        if (err == NULL) {
            continue;
        }

        what = (conf->verify_scheme == NGX_HTTP_QLM_WEBHOOK_SCHEME_STANDARD)
               ? " for \"qlm_webhook_verify_scheme standard\"" : "";

        if (secret[i].file) {
            ngx_http_qlm_webhook_conf_error(cf, secret[i].file,
                                            secret[i].line,
                                            "qlm_webhook_verify_secret", err,
                                            what);
        } else {
            ngx_http_qlm_webhook_conf_error(cf, conf->verify_file,
                                            conf->verify_line,
                                            "qlm_webhook_secret", err,
                                            *what ? what : " for "
                                            "\"qlm_webhook_verify\"");
        }

        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* as ngx_conf_log_error(), at the line of the directive concerned */

static void
ngx_http_qlm_webhook_conf_error(ngx_conf_t *cf, u_char *file,
    ngx_uint_t line, const char *name, const char *err, const char *what)
{
    if (file == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%s\" %s%s",
                           name, err, what);
        return;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "\"%s\" %s%s in %s:%ui",
                  name, err, what, file, line);
}
