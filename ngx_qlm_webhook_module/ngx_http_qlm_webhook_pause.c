
/*
 * ngx_qlm_webhook_module: paused receivers kept in the store, so that a
 * pause survives restarts and qlm-store can pause and resume too.
 *
 * The store is the record; each receiver's "paused" flag in shared memory
 * is what deliveries read.  The admin API and qlm_webhook_pause_after set
 * both; every worker reads the store's generation number once a second
 * (one key, a read transaction, no write) and, only when it moved, reads
 * the paused list and sets the flags of the configured URLs to match: a
 * pause or resume by qlm-store takes effect within a second or so.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qlm_webhook_module.h"


#define NGX_HTTP_QLM_WEBHOOK_PAUSE_SYNC  1000     /* ms */


typedef struct {
    ngx_array_t                paused;    /* ngx_str_t, the store's */
    ngx_log_t                 *log;
    ngx_uint_t                 resumed;
    ngx_uint_t                 nomem;
} ngx_http_qlm_webhook_pause_sync_t;


#if (NGX_THREADS)

/* a pause recorded in a thread, nobody waiting */
typedef struct {
    qlm_store_t               *store;
    uint64_t                   now;
    ngx_uint_t                 pause;
    int                        rc;
    size_t                     url_len;
    size_t                     by_len;
    u_char                    *url;       /* after the struct */
    u_char                    *by;
} ngx_http_qlm_webhook_pause_task_t;

static ngx_int_t ngx_http_qlm_webhook_pause_post(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_str_t *log_url,
    ngx_uint_t pause, char *by);
static void ngx_http_qlm_webhook_pause_thread(void *data, ngx_log_t *log);
static void ngx_http_qlm_webhook_pause_thread_done(ngx_event_t *ev);

#endif

static void ngx_http_qlm_webhook_pause_handler(ngx_event_t *ev);
static void ngx_http_qlm_webhook_pause_sync(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_log_t *log);
static int ngx_http_qlm_webhook_pause_collect(const qlm_store_paused_t *p,
    void *data);
static ngx_int_t ngx_http_qlm_webhook_pause_apply(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_url_t *u,
    void *data);


/*
 * Records a pause (or a resume) in the store, under the URL as logged;
 * by: who paused it.  A failure is logged: the pause then holds in shared
 * memory only, until the next change the workers read from the store.
 * Nobody reads the result (qlm_webhook_pause_after; the admin API's job
 * writes its own): the write goes to nginx's thread pool where the loop's
 * commits do.
 */

ngx_int_t
ngx_http_qlm_webhook_pause_record(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_str_t *log_url, ngx_uint_t pause, char *by, ngx_log_t *log)
{
    int              rc;
    qlm_store_str_t  url, who;

    if (mcf->store == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "qlm webhook: %V %s, but not in the store: not open",
                      log_url, pause ? "paused" : "resumed");
        return NGX_ERROR;
    }

#if (NGX_THREADS)

    if (ngx_http_qlm_webhook_store_thread_pool(mcf, 1)
        && ngx_http_qlm_webhook_pause_post(mcf, log_url, pause, by) == NGX_OK)
    {
        return NGX_OK;
    }

#endif

    url.data = (char *) log_url->data;
    url.len = log_url->len;
    who.data = by;
    who.len = ngx_strlen(by);

    rc = qlm_store_url_pause(mcf->store, url, pause,
                             ngx_http_qlm_webhook_now(), who);

    return ngx_http_qlm_webhook_pause_result(rc, log_url->data, log_url->len,
                                             pause, log);
}


ngx_int_t
ngx_http_qlm_webhook_pause_result(int rc, u_char *url, size_t len,
    ngx_uint_t pause, ngx_log_t *log)
{
    if (rc == 0 || rc == QLM_STORE_EXISTS || rc == QLM_STORE_NOTFOUND) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "qlm webhook: %*s %s, but not in the store: %s",
                  len, url, pause ? "paused" : "resumed",
                  qlm_store_strerror(rc));

    return NGX_ERROR;
}


#if (NGX_THREADS)

static ngx_int_t
ngx_http_qlm_webhook_pause_post(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_str_t *log_url, ngx_uint_t pause, char *by)
{
    size_t                              by_len;
    ngx_thread_task_t                  *task;
    ngx_http_qlm_webhook_pause_task_t  *pt;

    by_len = ngx_strlen(by);

    task = ngx_http_qlm_webhook_heap_task_alloc(
                                 sizeof(ngx_http_qlm_webhook_pause_task_t)
                                 + log_url->len + by_len,
                                 ngx_http_qlm_webhook_pause_thread,
                                 ngx_http_qlm_webhook_pause_thread_done);
    if (task == NULL) {
        return NGX_ERROR;
    }

    pt = task->ctx;
    pt->store = mcf->store;
    pt->now = ngx_http_qlm_webhook_now();
    pt->pause = pause;
    pt->url = (u_char *) (pt + 1);
    pt->url_len = log_url->len;
    pt->by = ngx_cpymem(pt->url, log_url->data, log_url->len);
    pt->by_len = by_len;
    ngx_memcpy(pt->by, by, by_len);

    return ngx_http_qlm_webhook_heap_task(
                         ngx_http_qlm_webhook_store_thread_pool(mcf, 1), task);
}


static void
ngx_http_qlm_webhook_pause_thread(void *data, ngx_log_t *log)
{
    ngx_http_qlm_webhook_pause_task_t *pt = data;

    qlm_store_str_t  url, who;

    url.data = (char *) pt->url;
    url.len = pt->url_len;
    who.data = (char *) pt->by;
    who.len = pt->by_len;

    pt->rc = qlm_store_url_pause(pt->store, url, pt->pause, pt->now, who);
}


static void
ngx_http_qlm_webhook_pause_thread_done(ngx_event_t *ev)
{
    ngx_thread_task_t                  *task;
    ngx_http_qlm_webhook_pause_task_t  *pt;

    task = ev->data;
    pt = task->ctx;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "qlm webhook: a pause of %*s written in a thread",
                   pt->url_len, pt->url);

    (void) ngx_http_qlm_webhook_pause_result(pt->rc, pt->url, pt->url_len,
                                             pt->pause, ev->log);

    ngx_free(task);
}

#endif


/* in each worker, once its store is open: the store's pauses, then a
 * read of the generation a second */

ngx_int_t
ngx_http_qlm_webhook_pause_init_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_event_t  *ev;

    ngx_http_qlm_webhook_pause_sync(mcf, cycle->log);

    ev = &mcf->pause_event;

    ev->handler = ngx_http_qlm_webhook_pause_handler;
    ev->data = mcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PAUSE_SYNC);

    return NGX_OK;
}


static void
ngx_http_qlm_webhook_pause_handler(ngx_event_t *ev)
{
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    mcf = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_qlm_webhook_pause_sync(mcf, ev->log);

    ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PAUSE_SYNC);
}


static void
ngx_http_qlm_webhook_pause_sync(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_log_t *log)
{
    int                                 rc;
    uint64_t                            gen;
    ngx_pool_t                         *pool;
    ngx_http_qlm_webhook_pause_sync_t   s;

    if (mcf->store == NULL || mcf->sh == NULL) {
        return;
    }

    rc = qlm_store_paused_gen(mcf->store, &gen);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "qlm webhook: qlm_store_paused_gen: %s",
                      qlm_store_strerror(rc));
        return;
    }

    if (mcf->pause_synced && gen == mcf->pause_gen) {
        return;
    }

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return;
    }

    if (ngx_array_init(&s.paused, pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        goto done;
    }

    s.log = log;
    s.resumed = 0;
    s.nomem = 0;

    rc = qlm_store_paused_foreach(mcf->store,
                                  ngx_http_qlm_webhook_pause_collect, &s,
                                  &gen);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "qlm webhook: qlm_store_paused_foreach: %s",
                      qlm_store_strerror(rc));
        goto done;
    }

    if (s.nomem) {
        goto done;
    }

    if (ngx_http_qlm_webhook_urls_each(mcf, ngx_http_qlm_webhook_pause_apply,
                                       &s)
        != NGX_OK)
    {
        goto done;
    }

    mcf->pause_gen = gen;
    mcf->pause_synced = 1;

    if (s.resumed) {
        /* their waiting deliveries are due */
        ngx_http_qlm_webhook_deliver_kick(mcf);
    }

done:

    ngx_destroy_pool(pool);
}


static int
ngx_http_qlm_webhook_pause_collect(const qlm_store_paused_t *p, void *data)
{
    ngx_str_t                          *u;
    ngx_http_qlm_webhook_pause_sync_t  *s;

    s = data;

    u = ngx_array_push(&s->paused);
    if (u == NULL) {
        s->nomem = 1;
        return 1;
    }

    u->len = p->url.len;
    u->data = ngx_pnalloc(s->paused.pool, p->url.len);

    if (u->data == NULL) {
        s->nomem = 1;
        return 1;
    }

    ngx_memcpy(u->data, p->url.data, p->url.len);

    return 0;
}


/* a configured URL is paused when the store has it as logged, or whole */

static ngx_int_t
ngx_http_qlm_webhook_pause_apply(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_url_t *u, void *data)
{
    ngx_str_t                          *p;
    ngx_uint_t                          i, paused;
    qlm_store_str_t                     url;
    ngx_http_qlm_webhook_urlstate_t    *us;
    ngx_http_qlm_webhook_pause_sync_t  *s;

    s = data;
    p = s->paused.elts;
    paused = 0;

    for (i = 0; i < s->paused.nelts; i++) {
        if ((p[i].len == u->log_url.len
             && ngx_strncmp(p[i].data, u->log_url.data, p[i].len) == 0)
            || (p[i].len == u->url.len
                && ngx_strncmp(p[i].data, u->url.data, p[i].len) == 0))
        {
            paused = 1;
            break;
        }
    }

    url.data = (char *) u->url.data;
    url.len = u->url.len;

    us = ngx_http_qlm_webhook_url_state(mcf, &url);

    if (us == NULL) {
        return NGX_OK;
    }

    if (paused) {
        if (ngx_atomic_cmp_set(&us->paused, 0, 1)) {
            ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                          "qlm webhook: %V paused, as the store says",
                          &u->log_url);
        }

        return NGX_OK;
    }

    if (ngx_atomic_cmp_set(&us->paused, 1, 0)) {

        /* a fresh start, as a resume by the admin API */

        us->failures = 0;
        us->open_until = 0;
        us->failing_since = 0;

        ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                      "qlm webhook: %V resumed, as the store says",
                      &u->log_url);

        s->resumed = 1;
    }

    return NGX_OK;
}
