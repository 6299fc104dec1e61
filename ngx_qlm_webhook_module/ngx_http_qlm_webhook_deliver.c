
/*
 * ngx_qlm_webhook_module: delivery with libcurl's multi_socket API.
 *
 * Each worker owns one multi handle.  libcurl tells us which sockets to
 * watch (CURLMOPT_SOCKETFUNCTION) and when to call it back
 * (CURLMOPT_TIMERFUNCTION); the sockets become nginx connections whose read
 * and write events, like the timer, call curl_multi_socket_action().
 * Nothing waits: no blocking "perform" of the easy interface, no poll loop
 * of libcurl's own.
 *
 * Work comes from the store: a worker claims due items with a lease (so
 * one worker at a time holds an item), attempts them, and acknowledges,
 * reschedules or buries each one in a single transaction with its log
 * record.  A worker that dies leaves leases that expire; another worker
 * then claims the items again.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <curl/curl.h>
#include <openssl/err.h>

#include "ngx_http_qlm_webhook_module.h"


#define NGX_HTTP_QLM_WEBHOOK_POLL       1000     /* ms, the longest nap */
#define NGX_HTTP_QLM_WEBHOOK_BATCH      64       /* items a claim */
#define NGX_HTTP_QLM_WEBHOOK_LEASE      10000    /* ms past the timeout, most */
#define NGX_HTTP_QLM_WEBHOOK_SCAN       1024     /* due items a claim reads */
#define NGX_HTTP_QLM_WEBHOOK_REFUSED    100      /* ms: nap, all refused */
#define NGX_HTTP_QLM_WEBHOOK_BACKOFF    6        /* 2^6 s: longest open wait */
#define NGX_HTTP_QLM_WEBHOOK_RETRIES    1000     /* waits in a retry list */
#define NGX_HTTP_QLM_WEBHOOK_SPARE      64       /* easy handles kept */
#define NGX_HTTP_QLM_WEBHOOK_URL_CACHE  8        /* URL slots kept */
#define NGX_HTTP_QLM_WEBHOOK_URL_CACHED 256      /* longest URL kept */
#define NGX_HTTP_QLM_WEBHOOK_XFER_POOL  4096     /* a transfer's pool, less
                                                  * its item's strings */


typedef struct {
    ngx_http_qlm_webhook_shctx_t     *sh;
    ngx_http_qlm_webhook_urlstate_t  *us;
    ngx_atomic_uint_t                 key;       /* us's, when kept */
    size_t                            len;
    u_char                            url[NGX_HTTP_QLM_WEBHOOK_URL_CACHED];
} ngx_http_qlm_webhook_url_cached_t;


typedef struct ngx_http_qlm_webhook_deliver_s  ngx_http_qlm_webhook_deliver_t;
typedef struct ngx_http_qlm_webhook_claim_ctx_s
    ngx_http_qlm_webhook_claim_ctx_t;


#if (CURL_ERROR_SIZE > NGX_HTTP_QLM_WEBHOOK_ERROR)
#error "libcurl's error buffer is larger than NGX_HTTP_QLM_WEBHOOK_ERROR"
#endif


typedef struct {
    ngx_http_qlm_webhook_deliver_t    *deliver;
    qlm_store_item_t                  *item;
    CURL                              *easy;          /* NULL: not libcurl's */
    struct curl_slist                 *headers;
    ngx_http_qlm_webhook_http_t       *http;          /* NULL: libcurl's */
    ngx_pool_t                        *pool;
    ngx_str_t                          log_url;
    ngx_msec_t                         start;
    ngx_queue_t                        queue;
    ngx_http_qlm_webhook_urlstate_t   *url_state;     /* NULL: none */
    ngx_http_qlm_webhook_early_t      *early;   /* item not committed yet */
    unsigned                           task:1;
    ngx_http_qlm_webhook_reply_t      answer;
} ngx_http_qlm_webhook_transfer_t;


struct ngx_http_qlm_webhook_deliver_s {
    ngx_http_qlm_webhook_main_conf_t  *mcf;
    CURLM                             *multi;
    ngx_event_t                        timer;
    ngx_event_t                        poll;
    ngx_queue_t                        active;
    ngx_uint_t                         nactive;
    ngx_uint_t                         reserved;  /* leased, not started */
    ngx_uint_t                         ntask;     /* task deliveries */
    uint64_t                           task_tokens;  /* 1000 a delivery */
    ngx_msec_t                         task_stamp;
    ngx_uint_t                         column;    /* in urlstate in_flight */
    time_t                             claim_logged;
    ngx_uint_t                         claim_failed;
    /* easy handles of finished transfers: an init costs more than a reset */
    CURL                              *spare[NGX_HTTP_QLM_WEBHOOK_SPARE];
    ngx_uint_t                         nspare;
    ngx_http_qlm_webhook_keepalive_t  *keepalive;
    /* the configured URLs' states: a claim that refuses them all ends */
    ngx_http_qlm_webhook_urlstate_t   *conf_url[NGX_HTTP_QLM_WEBHOOK_BATCH];
    ngx_uint_t                         nconf_urls;   /* 0: too many */
    ngx_log_t                         *log;
    ngx_http_qlm_webhook_claim_ctx_t  *claim;
#if (NGX_THREADS)
    ngx_thread_task_t                 *claim_task;
#endif
    /* the last claim left due items for want of these: see wake() */
    unsigned                           wait_url:1;
    unsigned                           wait_task:1;
    unsigned                           exiting:1;
    unsigned                           claiming:1;   /* in a thread */
};


/* what a claim has taken so far, for its filter */
typedef struct {
    ngx_http_qlm_webhook_deliver_t    *deliver;
    time_t                             now;
    ngx_uint_t                         ntask;
    ngx_uint_t                         task_allow;  /* task items it may
                                                       take: see init */
    ngx_uint_t                         nurls;
    ngx_http_qlm_webhook_urlstate_t   *url[NGX_HTTP_QLM_WEBHOOK_BATCH];
    ngx_uint_t                         count[NGX_HTTP_QLM_WEBHOOK_BATCH];
    /* items passed over: a receiver at its limit, the tasks at theirs */
    unsigned                           url_refused:1;
    unsigned                           task_refused:1;
    /* configured receivers refused: when all are, nothing more is taken */
    ngx_uint_t                         nrefused;
    ngx_http_qlm_webhook_urlstate_t   *refused[NGX_HTTP_QLM_WEBHOOK_BATCH];
    /* probes granted, undone if the claim fails */
    ngx_uint_t                         nprobes;
    ngx_http_qlm_webhook_urlstate_t   *probe[NGX_HTTP_QLM_WEBHOOK_BATCH];
    ngx_atomic_uint_t                  probe_was[NGX_HTTP_QLM_WEBHOOK_BATCH];
    ngx_atomic_uint_t                  probe_now[NGX_HTTP_QLM_WEBHOOK_BATCH];
} ngx_http_qlm_webhook_claim_t;


/* a claim of due items: in the loop, or in a thread of nginx's pool */
struct ngx_http_qlm_webhook_claim_ctx_s {
    ngx_http_qlm_webhook_deliver_t    *deliver;
    ngx_http_qlm_webhook_claim_t       claim;
    qlm_store_item_t                  *items[NGX_HTTP_QLM_WEBHOOK_BATCH];
    uint64_t                           now;
    uint64_t                           due;
    size_t                             max;     /* 0: none was tried */
    size_t                             reserved;  /* room kept, threaded */
    size_t                             n;
    int                                rc;
};


static void ngx_http_qlm_webhook_poll_handler(ngx_event_t *ev);
static void ngx_http_qlm_webhook_give_back(
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_item_t *item,
    ngx_uint_t op);
static void ngx_http_qlm_webhook_claim_init(ngx_http_qlm_webhook_claim_t *c,
    ngx_http_qlm_webhook_deliver_t *d);
static void ngx_http_qlm_webhook_claim_run(
    ngx_http_qlm_webhook_claim_ctx_t *ctx);
static void ngx_http_qlm_webhook_claim_end(ngx_http_qlm_webhook_deliver_t *d,
    ngx_http_qlm_webhook_claim_ctx_t *ctx);
#if (NGX_THREADS)
static void ngx_http_qlm_webhook_claim_thread(void *data, ngx_log_t *log);
static void ngx_http_qlm_webhook_claim_thread_done(ngx_event_t *ev);
#endif
static int ngx_http_qlm_webhook_claim_filter(const qlm_store_item_t *item,
    void *data);
static ngx_http_qlm_webhook_urlstate_t *ngx_http_qlm_webhook_url_slot(
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_str_t *url,
    ngx_atomic_uint_t *keyp);
static ngx_uint_t ngx_http_qlm_webhook_url_busy(
    ngx_http_qlm_webhook_urlstate_t *us);
static ngx_uint_t ngx_http_qlm_webhook_may_start(
    ngx_http_qlm_webhook_deliver_t *d, qlm_store_str_t *url);
static ngx_uint_t ngx_http_qlm_webhook_admit_now(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_urlstate_t *us);
static ngx_uint_t ngx_http_qlm_webhook_admit(ngx_http_qlm_webhook_claim_t *c,
    ngx_http_qlm_webhook_urlstate_t *us, ngx_uint_t pending);
static void ngx_http_qlm_webhook_claim_undo(ngx_http_qlm_webhook_claim_t *c);
static void ngx_http_qlm_webhook_health(ngx_http_qlm_webhook_transfer_t *t,
    ngx_uint_t ok);
static ngx_uint_t ngx_http_qlm_webhook_is_task(const qlm_store_item_t *item);
static ngx_uint_t ngx_http_qlm_webhook_task_bucket(
    ngx_http_qlm_webhook_deliver_t *d);
static void ngx_http_qlm_webhook_wake(ngx_http_qlm_webhook_deliver_t *d,
    ngx_uint_t task);
static ngx_uint_t ngx_http_qlm_webhook_futile(
    ngx_http_qlm_webhook_deliver_t *d, ngx_uint_t task);
static int ngx_http_qlm_webhook_claim_refused(
    ngx_http_qlm_webhook_claim_t *c, ngx_http_qlm_webhook_urlstate_t *us);
static ngx_int_t ngx_http_qlm_webhook_conf_url(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_url_t *u,
    void *data);
static ngx_http_qlm_webhook_retry_t *ngx_http_qlm_webhook_retry_of(
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_item_t *item);
static ngx_uint_t ngx_http_qlm_webhook_room(
    ngx_http_qlm_webhook_deliver_t *d);
static ngx_uint_t ngx_http_qlm_webhook_room_upto(
    ngx_http_qlm_webhook_deliver_t *d, ngx_uint_t limit);
static ngx_int_t ngx_http_qlm_webhook_start(ngx_http_qlm_webhook_deliver_t *d,
    qlm_store_item_t *item, ngx_http_qlm_webhook_early_t *early);
static qlm_store_item_t *ngx_http_qlm_webhook_item_copy(ngx_pool_t *pool,
    qlm_store_item_t *item);
static ngx_int_t ngx_http_qlm_webhook_start_curl(
    ngx_http_qlm_webhook_transfer_t *t, ngx_array_t *headers);
static ngx_int_t ngx_http_qlm_webhook_start_http(
    ngx_http_qlm_webhook_transfer_t *t, ngx_http_qlm_webhook_target_t *tg,
    ngx_array_t *headers);
static void ngx_http_qlm_webhook_http_handler(ngx_http_qlm_webhook_http_t *h);
static void ngx_http_qlm_webhook_finish(ngx_http_qlm_webhook_transfer_t *t);
static ngx_int_t ngx_http_qlm_webhook_outcome(
    ngx_http_qlm_webhook_transfer_t *t, ngx_uint_t op, uint64_t due,
    int32_t status, qlm_store_log_t *rec);
static void ngx_http_qlm_webhook_transfer_free(
    ngx_http_qlm_webhook_transfer_t *t);
static void ngx_http_qlm_webhook_check_done(
    ngx_http_qlm_webhook_deliver_t *d);
static int ngx_http_qlm_webhook_curl_socket(CURL *easy, curl_socket_t s,
    int what, void *userp, void *socketp);
static int ngx_http_qlm_webhook_curl_timer(CURLM *multi, long timeout_ms,
    void *userp);
static void ngx_http_qlm_webhook_curl_timer_handler(ngx_event_t *ev);
static void ngx_http_qlm_webhook_curl_event_handler(ngx_event_t *ev);
static void ngx_http_qlm_webhook_curl_release(ngx_connection_t *c);
static void ngx_http_qlm_webhook_curl_action(ngx_http_qlm_webhook_deliver_t *d,
    curl_socket_t s, int action);
static size_t ngx_http_qlm_webhook_curl_answer(char *ptr, size_t size,
    size_t nmemb, void *userdata);
static size_t ngx_http_qlm_webhook_curl_header(char *ptr, size_t size,
    size_t nmemb, void *userdata);


uint64_t
ngx_http_qlm_webhook_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


ngx_int_t
ngx_http_qlm_webhook_deliver_init_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    CURLcode                         rc;
    ngx_uint_t                       i;
    curl_version_info_data          *info;
    ngx_http_qlm_webhook_deliver_t  *d;

    rc = curl_global_init(CURL_GLOBAL_DEFAULT);

    if (rc != CURLE_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "qlm webhook: curl_global_init() failed: %s, "
                      "webhooks are not delivered by this worker",
                      curl_easy_strerror(rc));
        return NGX_OK;
    }

    info = curl_version_info(CURLVERSION_NOW);

    if (!(info->features & CURL_VERSION_ASYNCHDNS)) {
        /* a resolver that blocks would stall the event loop */
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "qlm webhook: libcurl %s resolves host names "
                      "synchronously; use IP addresses in webhook URLs",
                      info->version);
    }

    d = ngx_pcalloc(cycle->pool, sizeof(ngx_http_qlm_webhook_deliver_t));
    if (d == NULL) {
        return NGX_ERROR;
    }

    d->mcf = mcf;
    d->log = cycle->log;
    ngx_queue_init(&d->active);

    d->keepalive = ngx_http_qlm_webhook_keepalive_create(cycle->pool,
                                                         cycle->log);
    if (d->keepalive == NULL) {
        return NGX_ERROR;
    }

    /* attempts a dead predecessor had in flight are over */

    d->column = ngx_worker % NGX_HTTP_QLM_WEBHOOK_NCOLUMNS;

    (void) ngx_http_qlm_webhook_urls_each(mcf, ngx_http_qlm_webhook_conf_url,
                                          d);

    if (mcf->sh) {
        for (i = 0; i < NGX_HTTP_QLM_WEBHOOK_NURLS; i++) {
            mcf->sh->urls[i].in_flight[d->column] = 0;
        }
    }

    d->multi = curl_multi_init();
    if (d->multi == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "qlm webhook: curl_multi_init() failed");
        return NGX_OK;
    }

    /*
     * The connection cache must not shrink with the number of handles
     * (its default): kept-alive connections to the receivers are reused
     */

    if (curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION,
                          ngx_http_qlm_webhook_curl_socket) != CURLM_OK
        || curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d) != CURLM_OK
        || curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION,
                             ngx_http_qlm_webhook_curl_timer) != CURLM_OK
        || curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d) != CURLM_OK
        || curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, 256L)
           != CURLM_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "qlm webhook: curl_multi_setopt() failed, webhooks "
                      "are not delivered by this worker");
        curl_multi_cleanup(d->multi);
        d->multi = NULL;
        return NGX_OK;
    }

    d->timer.handler = ngx_http_qlm_webhook_curl_timer_handler;
    d->timer.data = d;
    d->timer.log = cycle->log;

    d->poll.handler = ngx_http_qlm_webhook_poll_handler;
    d->poll.data = d;
    d->poll.log = cycle->log;
    d->poll.cancelable = 1;

#if (NGX_THREADS)

    /* a claim's commit, like the batch's, in the thread pool when due */

    if (ngx_http_qlm_webhook_store_thread_pool(mcf, 0)) {
        d->claim_task = ngx_thread_task_alloc(cycle->pool,
                                  sizeof(ngx_http_qlm_webhook_claim_ctx_t));
        if (d->claim_task == NULL) {
            return NGX_ERROR;
        }

        d->claim_task->handler = ngx_http_qlm_webhook_claim_thread;
        d->claim_task->event.handler = ngx_http_qlm_webhook_claim_thread_done;
        d->claim_task->event.data = d;
        d->claim_task->event.log = cycle->log;

        d->claim = d->claim_task->ctx;
    }

#endif

    if (d->claim == NULL) {
        d->claim = ngx_pcalloc(cycle->pool,
                               sizeof(ngx_http_qlm_webhook_claim_ctx_t));
        if (d->claim == NULL) {
            return NGX_ERROR;
        }
    }

    d->claim->deliver = d;

    mcf->deliver = d;

    /* items left by an earlier run or by other workers */
    ngx_post_event(&d->poll, &ngx_posted_events);

    return NGX_OK;
}


void
ngx_http_qlm_webhook_deliver_kick(ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_http_qlm_webhook_deliver_t  *d;

    d = mcf->deliver;

    if (d == NULL || d->multi == NULL || d->poll.posted) {
        return;
    }

    ngx_post_event(&d->poll, &ngx_posted_events);
}


/* a task's new items: nothing to claim while the tasks are at their limit */

void
ngx_http_qlm_webhook_deliver_kick_task(ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_http_qlm_webhook_deliver_t  *d;

    d = mcf->deliver;

    if (d && ngx_http_qlm_webhook_futile(d, 0)) {
        return;
    }

    ngx_http_qlm_webhook_deliver_kick(mcf);
}


/* long enough for one attempt; short, so a dead worker's items come back
 * soon */

ngx_msec_t
ngx_http_qlm_webhook_deliver_lease_time(ngx_http_qlm_webhook_main_conf_t *mcf)
{
    return mcf->timeout + ngx_min(mcf->timeout, NGX_HTTP_QLM_WEBHOOK_LEASE);
}


/*
 * Attempts this worker may start now: its qlm_webhook_concurrency less
 * those in flight or promised to leased items, and no more than nginx can
 * spare: libcurl's sockets are nginx connections, and a quarter of
 * worker_connections stays for the traffic that nginx serves, or
 * deliveries to a slow receiver would take the last ones.
 */

static ngx_uint_t
ngx_http_qlm_webhook_room(ngx_http_qlm_webhook_deliver_t *d)
{
    return ngx_http_qlm_webhook_room_upto(d, d->mcf->concurrency);
}


/* the same, with limit in place of qlm_webhook_concurrency */

static ngx_uint_t
ngx_http_qlm_webhook_room_upto(ngx_http_qlm_webhook_deliver_t *d,
    ngx_uint_t limit)
{
    ngx_uint_t  busy, reserve, conns;

    busy = d->nactive + d->reserved;

    if (busy >= limit) {
        return 0;
    }

    /* kept-alive connections are given back when nginx needs them */

    reserve = ngx_cycle->connection_n / 4;
    conns = ngx_cycle->free_connection_n
            + ngx_http_qlm_webhook_keepalive_idle(d->keepalive);
    conns = (conns > reserve) ? conns - reserve : 0;

    return ngx_min(limit - busy, conns);
}


ngx_uint_t
ngx_http_qlm_webhook_deliver_room(ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_http_qlm_webhook_deliver_t  *d;

    d = mcf->deliver;

    if (d == NULL || d->multi == NULL || d->exiting || ngx_exiting) {
        return 0;
    }

    return ngx_http_qlm_webhook_room(d);
}


/*
 * Items claimed from PostgreSQL: the claim's filter decides as for the
 * local store's claims, afterwards; those it refuses, or that do not
 * start, are marked in refused[] for the caller to give back.
 */

void
ngx_http_qlm_webhook_deliver_claimed(ngx_http_qlm_webhook_main_conf_t *mcf,
    qlm_store_item_t *items, ngx_uint_t n, u_char *refused)
{
    ngx_uint_t                       i;
    ngx_http_qlm_webhook_claim_t     claim;
    ngx_http_qlm_webhook_deliver_t  *d;

    d = mcf->deliver;

    if (d) {
        ngx_http_qlm_webhook_claim_init(&claim, d);
    }

    for (i = 0; i < n; i++) {
        refused[i] = (d == NULL
                      || ngx_http_qlm_webhook_claim_filter(&items[i],
                                                           &claim)
                         <= 0);
    }

    if (d && d->mcf->task_rate) {
        d->task_tokens -= claim.ntask * 1000;
    }

    for (i = 0; i < n; i++) {
        if (!refused[i]
            && (d->exiting || ngx_exiting
                || ngx_http_qlm_webhook_start(d, &items[i], NULL) != NGX_OK))
        {
            refused[i] = 1;
        }
    }
}


/*
 * Slots for up to n deliveries that start leased, without a claim.
 * Journaled (sync=on), an event's deliveries wait for its record, most of
 * a millisecond under load, and its slots would be idle all that time: up
 * to qlm_webhook_concurrency more are promised ahead; a delivery that
 * finds no slot then tries again at its commit, and after that goes back
 * to the queue.
 */

ngx_uint_t
ngx_http_qlm_webhook_deliver_reserve(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_uint_t n, ngx_uint_t journaled)
{
    ngx_http_qlm_webhook_deliver_t  *d;

    d = mcf->deliver;

    /* with PostgreSQL, events go through it: claimed there, by anyone */

    if (d == NULL || d->multi == NULL || d->exiting || ngx_exiting
        || !mcf->enable || mcf->pg_conninfo.len)
    {
        return 0;
    }

    n = ngx_min(n, ngx_http_qlm_webhook_room_upto(d, journaled
                                                     ? 2 * mcf->concurrency
                                                     : mcf->concurrency));
    d->reserved += n;

    return n;
}


/* slots reserved and not used after all */

void
ngx_http_qlm_webhook_deliver_unreserve(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_uint_t n)
{
    ngx_http_qlm_webhook_deliver_t  *d;

    d = mcf->deliver;

    if (d != NULL) {
        d->reserved -= n;
    }
}


/*
 * May a delivery to url be leased at its event's commit?  Not to a
 * receiver paused, with its circuit open (probes are the claims') or at
 * its limit: it waits in the queue, and no attempt is counted.
 */

ngx_uint_t
ngx_http_qlm_webhook_deliver_admit(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_str_t *url)
{
    qlm_store_str_t                   s;
    ngx_http_qlm_webhook_urlstate_t  *us;

    s.data = (char *) url->data;
    s.len = url->len;

    us = ngx_http_qlm_webhook_url_state(mcf, &s);

    return us == NULL || ngx_http_qlm_webhook_admit_now(mcf, us);
}


/* a leased delivery may start now: a slot free, its receiver admitted */

static ngx_uint_t
ngx_http_qlm_webhook_may_start(ngx_http_qlm_webhook_deliver_t *d,
    qlm_store_str_t *url)
{
    ngx_http_qlm_webhook_urlstate_t  *us;

    if (d->nactive >= d->mcf->concurrency) {
        return 0;
    }

    us = ngx_http_qlm_webhook_url_state(d->mcf, url);

    return us == NULL || ngx_http_qlm_webhook_admit_now(d->mcf, us);
}


static ngx_uint_t
ngx_http_qlm_webhook_admit_now(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_urlstate_t *us)
{
    return !us->paused
           && !(mcf->breaker && us->failures >= mcf->breaker)
           && ngx_http_qlm_webhook_url_busy(us) < mcf->url_concurrency;
}


/* a committed delivery leased to this worker: started from memory */

void
ngx_http_qlm_webhook_deliver_leased(ngx_http_qlm_webhook_main_conf_t *mcf,
    qlm_store_item_t *item)
{
    ngx_http_qlm_webhook_deliver_t   *d;

    d = mcf->deliver;

    if (d == NULL) {
        return;
    }

    d->reserved--;

    if (item == NULL) {
        return;
    }

    /*
     * Changed since the commit (another event took the last slot, the
     * circuit opened), or promised ahead of a slot: it waits its turn,
     * the attempt counted taken back
     */

    if (!ngx_http_qlm_webhook_may_start(d, &item->url)) {
        ngx_http_qlm_webhook_give_back(mcf, item,
                                       NGX_HTTP_QLM_WEBHOOK_OP_UNCLAIM);
        return;
    }

    if (!d->exiting && !ngx_exiting
        && ngx_http_qlm_webhook_start(d, item, NULL) == NGX_OK)
    {
        return;
    }

    /* due again at once rather than at the lease's expiry */

    ngx_http_qlm_webhook_give_back(mcf, item,
                                   NGX_HTTP_QLM_WEBHOOK_OP_RELEASE);
}


/*
 * sync=on: a leased delivery started at its event's journal record, with
 * no id yet (the outcome waits for it: see batch_op_early).  What cannot
 * start now is left to the commit, as if it had not been tried.
 */

ngx_int_t
ngx_http_qlm_webhook_deliver_early(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_early_t *e)
{
    ngx_http_qlm_webhook_deliver_t  *d;

    d = mcf->deliver;

    if (d == NULL || d->exiting || ngx_exiting
        || !ngx_http_qlm_webhook_may_start(d, &e->item->url)
        || ngx_http_qlm_webhook_start(d, e->item, e) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    d->reserved--;

    return NGX_OK;
}


/* its event's commit is done: stored, or not (then its outcome fails) */

void
ngx_http_qlm_webhook_deliver_stored(ngx_http_qlm_webhook_early_t *e,
    ngx_uint_t stored)
{
    ngx_http_qlm_webhook_transfer_t  *t;

    t = e->transfer;

    if (t == NULL) {
        return;
    }

    e->transfer = NULL;
    t->early = NULL;

    t->item->id = stored ? e->item->id : 0;
    t->item->lease = stored ? e->item->lease : 0;
}


/*
 * A leased item not started goes back to the queue with the next commit
 * (which sync=on makes in a thread: the loop never waits on the disk);
 * out of memory for that, at once.
 */

static void
ngx_http_qlm_webhook_give_back(ngx_http_qlm_webhook_main_conf_t *mcf,
    qlm_store_item_t *item, ngx_uint_t op)
{
    uint64_t         now;
    qlm_store_log_t  log;

    now = ngx_http_qlm_webhook_now();

    ngx_memzero(&log, sizeof(qlm_store_log_t));
    log.event_id = item->event_id;
    log.event = item->event;
    log.url = item->url;

    if (ngx_http_qlm_webhook_batch_op(mcf, op, item->id, item->lease, now, 0,
                                      0, &log)
        == NGX_OK)
    {
        return;
    }

    if (op == NGX_HTTP_QLM_WEBHOOK_OP_UNCLAIM) {
        (void) qlm_store_unclaim(mcf->store, item->id, item->lease, now);

    } else {
        (void) qlm_store_release(mcf->store, item->id, item->lease, now);
    }
}


static void
ngx_http_qlm_webhook_poll_handler(ngx_event_t *ev)
{
    int                                rc;
    uint64_t                           now, due;
    ngx_uint_t                         room;
    ngx_http_qlm_webhook_deliver_t    *d;
    ngx_http_qlm_webhook_claim_ctx_t  *ctx;
    ngx_http_qlm_webhook_main_conf_t  *mcf;
#if (NGX_THREADS)
    ngx_thread_pool_t                 *tp;
#endif

    d = ev->data;
    mcf = d->mcf;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    /* with qlm_webhooks off, queued items wait for it to be on again */

    if (ngx_exiting || mcf->store == NULL || !mcf->enable) {
        return;
    }

    /* the local store is a spool: its forwarder and claims are pg.c's */

    if (mcf->pg_conninfo.len) {
        ngx_http_qlm_webhook_pg_kick(mcf);
        return;
    }

    /* a claim in a thread polls again when it ends */

    if (d->claiming) {
        return;
    }

    now = ngx_http_qlm_webhook_now();
    due = 0;
    ctx = d->claim;
    ctx->n = 0;
    ctx->max = 0;

    /* the writer lock is taken only when something is due */

    room = ngx_http_qlm_webhook_room(d);

    rc = qlm_store_next_due(mcf->store, &due);

    ctx->rc = rc;
    ctx->due = due;

    if (rc == 0 && due && due <= now && room > 0) {
        ctx->max = ngx_min(room, NGX_HTTP_QLM_WEBHOOK_BATCH);
        ctx->now = now;

        ngx_http_qlm_webhook_claim_init(&ctx->claim, d);

#if (NGX_THREADS)

        /*
         * With sync=on a commit is flushed, and while the timed sync
         * flushes a write would wait on the file system's journal: the
         * claim goes to the thread pool then, as the batch's commits do,
         * its room kept for it
         */

        tp = d->claim_task ? ngx_http_qlm_webhook_store_thread_pool(mcf, 1)
                           : NULL;

        if (tp && ngx_thread_task_post(tp, d->claim_task) == NGX_OK) {
            d->claiming = 1;
            ctx->reserved = ctx->max;
            d->reserved += ctx->reserved;
            return;
        }

#endif

        ngx_http_qlm_webhook_claim_run(ctx);
    }

    ngx_http_qlm_webhook_claim_end(d, ctx);
}


/*
 * What a claim may take that depends on the worker's state, reckoned in
 * the loop before it: its filter reads nothing else that the loop
 * changes, and may run in a thread.
 */

static void
ngx_http_qlm_webhook_claim_init(ngx_http_qlm_webhook_claim_t *c,
    ngx_http_qlm_webhook_deliver_t *d)
{
    ngx_uint_t  allow;

    ngx_memzero(c, sizeof(ngx_http_qlm_webhook_claim_t));
    c->deliver = d;
    c->now = ngx_time();

    allow = (d->ntask < d->mcf->task_concurrency)
            ? d->mcf->task_concurrency - d->ntask : 0;

    if (allow && d->mcf->task_rate) {
        allow = ngx_min(allow, ngx_http_qlm_webhook_task_bucket(d));
    }

    c->task_allow = allow;
}


/* the claim's transaction: in the loop, or in a thread */

static void
ngx_http_qlm_webhook_claim_run(ngx_http_qlm_webhook_claim_ctx_t *ctx)
{
    int                                rc;
    size_t                             max;
    time_t                             now;
    ngx_uint_t                         again, allow;
    ngx_http_qlm_webhook_deliver_t    *d;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    d = ctx->deliver;
    mcf = d->mcf;
    max = ctx->max;

    /*
     * A full map refuses the new copies of claimed items: fewer are
     * claimed then, down to one, rather than none for ever (all due at
     * once, large bodies); one is tried twice, as a failed claim has made
     * the pages of the last commit reusable
     */

    again = 0;

    for ( ;; ) {
        rc = qlm_store_claim_filter(mcf->store, ctx->now,
                                    ngx_http_qlm_webhook_deliver_lease_time(
                                        mcf),
                                    ngx_http_qlm_webhook_claim_filter,
                                    &ctx->claim, NGX_HTTP_QLM_WEBHOOK_SCAN,
                                    ctx->items, max, &ctx->n);

        if (rc != 0) {
            ngx_http_qlm_webhook_claim_undo(&ctx->claim);
        }

        if (rc != QLM_STORE_FULL || again) {
            break;
        }

        if (max == 1) {
            again = 1;

        } else {
            max /= 2;
        }

        /* the filter counts afresh: the failed claim took nothing */

        allow = ctx->claim.task_allow;
        now = ctx->claim.now;

        ngx_memzero(&ctx->claim, sizeof(ngx_http_qlm_webhook_claim_t));
        ctx->claim.deliver = d;
        ctx->claim.now = now;
        ctx->claim.task_allow = allow;
    }

    ctx->max = max;
    ctx->rc = rc;

    if (rc != 0) {
        ctx->n = 0;
    }
}


/* the claimed items started, and the next poll set */

static void
ngx_http_qlm_webhook_claim_end(ngx_http_qlm_webhook_deliver_t *d,
    ngx_http_qlm_webhook_claim_ctx_t *ctx)
{
    size_t                             i;
    uint64_t                           now, due;
    ngx_uint_t                         refused;
    ngx_msec_t                         delay;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    mcf = d->mcf;
    now = ngx_http_qlm_webhook_now();
    due = ctx->due;
    refused = 0;

    if (ctx->max) {
        /* fewer than asked: what is still due was refused, for now */
        refused = (ctx->rc == 0 && ctx->n < ctx->max);

        d->wait_url = refused && ctx->claim.url_refused;
        d->wait_task = refused && ctx->claim.task_refused;

        if (ctx->rc != 0) {
            /* a full disk fails every claim: said once every 10 s */

            if (ngx_time() >= d->claim_logged + 10) {
                ngx_log_error(NGX_LOG_ERR, d->log, 0,
                              "qlm webhook: claiming deliveries failed: %s "
                              "(%ui more failures since the last such line)",
                              qlm_store_strerror(ctx->rc), d->claim_failed);
                d->claim_logged = ngx_time();
                d->claim_failed = 0;

            } else {
                d->claim_failed++;
            }

        } else if (mcf->task_rate) {
            d->task_tokens -= ctx->claim.ntask * 1000;
        }

        /* the lease expires, and the item is tried again, if not started */

        for (i = 0; i < ctx->n; i++) {
            if (!ngx_exiting && !d->exiting) {
                (void) ngx_http_qlm_webhook_start(d, ctx->items[i], NULL);
            }

            qlm_store_item_free(ctx->items[i]);
        }
    }

    if (ngx_exiting || d->exiting || !mcf->enable) {
        return;
    }

    delay = NGX_HTTP_QLM_WEBHOOK_POLL;

    if (ctx->rc != 0) {
        /* a store that fails is not asked again at once */

    } else if (ctx->n == NGX_HTTP_QLM_WEBHOOK_BATCH
               && ngx_http_qlm_webhook_room(d) > 0)
    {
        delay = 0;

    } else if ((ctx->n == 0 || qlm_store_next_due(mcf->store, &due) == 0)
               && due)
    {
        if (due <= now) {
            /* refused items are not asked for again at once: a finished
             * transfer (a free slot) posts this event anyway */
            delay = (ngx_http_qlm_webhook_room(d) == 0) ? delay
                    : refused ? NGX_HTTP_QLM_WEBHOOK_REFUSED : 1;

        } else if (due - now < delay) {
            delay = (ngx_msec_t) (due - now);
        }
    }

    /* more due items: next turn, after the connections had their say */

    if (delay == 0) {
        ngx_post_event(&d->poll, &ngx_posted_next_events);
        return;
    }

    if (d->poll.timer_set) {
        ngx_del_timer(&d->poll);
    }

    ngx_add_timer(&d->poll, delay);
}


#if (NGX_THREADS)

static void
ngx_http_qlm_webhook_claim_thread(void *data, ngx_log_t *log)
{
    ngx_http_qlm_webhook_claim_run(data);
}


static void
ngx_http_qlm_webhook_claim_thread_done(ngx_event_t *ev)
{
    ngx_http_qlm_webhook_deliver_t    *d;
    ngx_http_qlm_webhook_claim_ctx_t  *ctx;

    d = ev->data;
    ctx = d->claim;

    d->claiming = 0;
    d->reserved -= ctx->reserved;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, d->log, 0,
                   "qlm webhook: %uz claimed in a thread, rc %d",
                   ctx->n, ctx->rc);

    ngx_http_qlm_webhook_claim_end(d, ctx);
}

#endif


/*
 * A claim takes a due item unless its receiver is at its limit (attempts
 * in flight, whole server, with those this claim took) or has its circuit
 * open, or it is a task's and the worker's task deliveries are at theirs:
 * then the claim passes over it, so one slow receiver, or a large task,
 * never holds the others back.
 */

static int
ngx_http_qlm_webhook_claim_filter(const qlm_store_item_t *item, void *data)
{
    ngx_uint_t                         i, task;
    ngx_http_qlm_webhook_claim_t      *c;
    ngx_http_qlm_webhook_deliver_t    *d;
    ngx_http_qlm_webhook_urlstate_t   *us;

    c = data;
    d = c->deliver;

    task = ngx_http_qlm_webhook_is_task(item);

    if (task && c->ntask >= c->task_allow) {
        c->task_refused = 1;
        return 0;
    }

    /* the slot found afresh: the worker's cache is the loop's */

    us = ngx_http_qlm_webhook_url_slot(d->mcf,
                                       (qlm_store_str_t *) &item->url, NULL);

    if (us) {
        for (i = 0; i < c->nurls; i++) {
            if (c->url[i] == us) {
                break;
            }
        }

        if (!ngx_http_qlm_webhook_admit(c, us,
                                        i < c->nurls ? c->count[i] : 0))
        {
            c->url_refused = 1;
            return ngx_http_qlm_webhook_claim_refused(c, us);
        }

        /* at most one new receiver for each item taken: within BATCH */

        if (i == c->nurls) {
            c->url[i] = us;
            c->count[i] = 0;
            c->nurls++;
        }

        c->count[i]++;
    }

    c->ntask += task;

    return 1;
}


/*
 * qlm_webhook_task_rate: a bucket of a tenth of a second's deliveries (one
 * at least), filled as time passes; a claim that finds it empty passes
 * over the tasks' items, and the poll's nap (100 ms) fills it again
 */

static ngx_uint_t
ngx_http_qlm_webhook_task_bucket(ngx_http_qlm_webhook_deliver_t *d)
{
    uint64_t    rate, burst;
    ngx_msec_t  ms;

    rate = d->mcf->task_rate;

    if (rate == 0) {
        return 1;
    }

    ms = ngx_current_msec - d->task_stamp;
    d->task_stamp = ngx_current_msec;

    burst = ngx_max(rate / 10, 1000);

    d->task_tokens += (uint64_t) ngx_min(ms, 10000) * rate / 1000;

    if (d->task_tokens > burst) {
        d->task_tokens = burst;
    }

    /* the deliveries the tokens pay for: spent once a claim commits */

    return (ngx_uint_t) (d->task_tokens / 1000);
}


/*
 * A receiver refused stays refused for the rest of the claim; once every
 * configured one is, the due items behind can only be refused too (or be
 * for URLs no longer configured, which wait for a claim with room): the
 * scan ends, rather than reading up to a thousand items for nothing.
 */

static int
ngx_http_qlm_webhook_claim_refused(ngx_http_qlm_webhook_claim_t *c,
    ngx_http_qlm_webhook_urlstate_t *us)
{
    ngx_uint_t                       i;
    ngx_http_qlm_webhook_deliver_t  *d;

    d = c->deliver;

    for (i = 0; i < c->nrefused; i++) {
        if (c->refused[i] == us) {
            return 0;
        }
    }

    for (i = 0; i < d->nconf_urls; i++) {
        if (d->conf_url[i] == us) {
            break;
        }
    }

    if (i == d->nconf_urls) {
        return 0;
    }

    c->refused[c->nrefused++] = us;

    return (c->nrefused == d->nconf_urls) ? -1 : 0;
}


static ngx_int_t
ngx_http_qlm_webhook_conf_url(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_url_t *u, void *data)
{
    ngx_uint_t                        i;
    qlm_store_str_t                   url;
    ngx_http_qlm_webhook_deliver_t   *d;
    ngx_http_qlm_webhook_urlstate_t  *us;

    d = data;

    url.data = (char *) u->url.data;
    url.len = u->url.len;

    us = ngx_http_qlm_webhook_url_state(mcf, &url);

    if (us == NULL) {
        /* no state, no limit: its items are never refused */
        return NGX_OK;
    }

    for (i = 0; i < d->nconf_urls; i++) {
        if (d->conf_url[i] == us) {
            return NGX_OK;
        }
    }

    if (d->nconf_urls == NGX_HTTP_QLM_WEBHOOK_BATCH) {
        /* too many to tell: every claim scans as far as it may */
        d->nconf_urls = 0;
        return NGX_ERROR;
    }

    d->conf_url[d->nconf_urls++] = us;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_qlm_webhook_is_task(const qlm_store_item_t *item)
{
    return item->headers.len > 5
           && ngx_strncmp(item->headers.data, "task:", 5) == 0;
}


/*
 * "retry=exponential[:base[:cap]]" (defaults 5s and 1h), or a list of
 * waits, "retry=5s,5m,30m,2h,5h,10h": one a retry, so as many retries
 */

char *
ngx_http_qlm_webhook_retry_parse(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_qlm_webhook_retry_t **retry)
{
    u_char                        *p, *last, *end;
    ngx_str_t                      s;
    ngx_int_t                      ms;
    ngx_uint_t                     n;
    ngx_msec_t                    *delay;
    ngx_http_qlm_webhook_retry_t  *r;

    r = ngx_pcalloc(cf->pool, sizeof(ngx_http_qlm_webhook_retry_t));
    if (r == NULL) {
        return NGX_CONF_ERROR;
    }

    p = value->data + sizeof("retry=") - 1;
    last = value->data + value->len;

    if (last - p >= 11 && ngx_strncmp(p, "exponential", 11) == 0
        && (last - p == 11 || p[11] == ':'))
    {
        r->type = NGX_HTTP_QLM_WEBHOOK_RETRY_EXP;
        r->base = 5000;
        r->cap = 3600000;

        /* ":base", then ":cap" */

        for (n = 0, p += 11; p < last; n++, p = end) {
            end = ngx_strlchr(p + 1, last, ':');
            end = end ? end : last;

            s.data = p + 1;
            s.len = end - p - 1;
            ms = ngx_parse_time(&s, 0);

            if (ms == NGX_ERROR || ms == 0 || n > 1) {
                goto invalid;
            }

            if (n == 0) {
                r->base = (ngx_msec_t) ms;

            } else {
                r->cap = (ngx_msec_t) ms;
            }
        }

        if (r->cap < r->base) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the cap of \"%V\" is less than its base",
                               value);
            return NGX_CONF_ERROR;
        }

        *retry = r;
        return NGX_CONF_OK;
    }

    r->type = NGX_HTTP_QLM_WEBHOOK_RETRY_LIST;
    r->delays = ngx_array_create(cf->pool, 8, sizeof(ngx_msec_t));
    if (r->delays == NULL) {
        return NGX_CONF_ERROR;
    }

    for ( /* void */ ; p <= last; p = end + 1) {
        end = ngx_strlchr(p, last, ',');
        end = end ? end : last;

        s.data = p;
        s.len = end - p;
        ms = ngx_parse_time(&s, 0);

        if (ms == NGX_ERROR || ms == 0
            || r->delays->nelts == NGX_HTTP_QLM_WEBHOOK_RETRIES)
        {
            goto invalid;
        }

        delay = ngx_array_push(r->delays);
        if (delay == NULL) {
            return NGX_CONF_ERROR;
        }

        *delay = (ngx_msec_t) ms;
    }

    *retry = r;
    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"%V\", it must be \"retry=exponential\", "
                       "\"retry=exponential:base:cap\" or a list of times "
                       "greater than 0, as \"retry=5s,5m,30m\"", value);
    return NGX_CONF_ERROR;
}


/* the retry schedule of the URL an item was queued for, by its event */

static ngx_http_qlm_webhook_retry_t *
ngx_http_qlm_webhook_retry_of(ngx_http_qlm_webhook_main_conf_t *mcf,
    qlm_store_item_t *item)
{
    ngx_int_t                     ev;
    ngx_str_t                     name;
    ngx_uint_t                    i;
    ngx_array_t                  *urls;
    ngx_http_qlm_webhook_url_t   *u;
    ngx_http_qlm_webhook_task_t  *task;

    urls = NULL;

    if (ngx_http_qlm_webhook_is_task(item)) {

        /* the task named by the item's signer id, "task:NAME" */

        name.data = (u_char *) item->headers.data + 5;
        name.len = item->headers.len - 5;

        task = mcf->tasks ? mcf->tasks->elts : NULL;

        for (i = 0; mcf->tasks && i < mcf->tasks->nelts; i++) {
            if (task[i].name.len == name.len
                && ngx_strncmp(task[i].name.data, name.data, name.len) == 0)
            {
                urls = &task[i].urls;
                break;
            }
        }

        if (urls == NULL) {
            /* the task is gone from the configuration */
            return NULL;
        }

    } else {
        name.data = (u_char *) item->event.data;
        name.len = item->event.len;

        ev = ngx_http_qlm_webhook_event_by_name(&name);

        if (ev == NGX_ERROR) {
            return NULL;
        }

        urls = &mcf->urls[ev];
    }

    u = urls->elts;

    for (i = 0; i < urls->nelts; i++) {
        if (u[i].url.len == item->url.len
            && ngx_strncmp(u[i].url.data, item->url.data, item->url.len) == 0)
        {
            return u[i].retry;
        }
    }

    return NULL;
}


/*
 * A receiver's shared state, found by its URL's CRC-32 in an open-addressed
 * table that only grows (a reload keeps it); two URLs with one CRC share a
 * state, and URLs beyond the table's size have none (no limit).  Safe in
 * any thread.
 */

static ngx_http_qlm_webhook_urlstate_t *
ngx_http_qlm_webhook_url_slot(ngx_http_qlm_webhook_main_conf_t *mcf,
    qlm_store_str_t *url, ngx_atomic_uint_t *keyp)
{
    uint32_t                          key;
    ngx_uint_t                        i, n;
    ngx_http_qlm_webhook_urlstate_t  *us;

    if (mcf->sh == NULL) {
        return NULL;
    }

    key = ngx_crc32_long((u_char *) url->data, url->len);
    key = key ? key : 1;

    i = key % NGX_HTTP_QLM_WEBHOOK_NURLS;

    for (n = 0; n < NGX_HTTP_QLM_WEBHOOK_NURLS; n++) {
        us = &mcf->sh->urls[i];

        if (us->key == key
            || (us->key == 0 && ngx_atomic_cmp_set(&us->key, 0, key))
            || us->key == key)
        {
            if (keyp) {
                *keyp = key;
            }

            return us;
        }

        i = (i + 1) % NGX_HTTP_QLM_WEBHOOK_NURLS;
    }

    return NULL;
}


/*
 * The same, in the event loop: a slot, once taken, stays its URL's, and
 * the worker keeps the last few it found.  A delivery asks four times
 * (admitted, leased, started, finished), and the CRC over the URL was
 * 0.8% of the worker's time when every call was delivered.
 */

ngx_http_qlm_webhook_urlstate_t *
ngx_http_qlm_webhook_url_state(ngx_http_qlm_webhook_main_conf_t *mcf,
    qlm_store_str_t *url)
{
    ngx_atomic_uint_t                   key;
    ngx_http_qlm_webhook_urlstate_t    *us;
    ngx_http_qlm_webhook_url_cached_t  *c;

    static ngx_http_qlm_webhook_url_cached_t
                            cache[NGX_HTTP_QLM_WEBHOOK_URL_CACHE];

    if (mcf->sh == NULL) {
        return NULL;
    }

    c = NULL;

    if (url->len && url->len <= NGX_HTTP_QLM_WEBHOOK_URL_CACHED) {
        c = &cache[(url->len + (u_char) url->data[url->len - 1])
                   % NGX_HTTP_QLM_WEBHOOK_URL_CACHE];

        if (c->sh == mcf->sh && c->len == url->len
            && c->us->key == c->key
            && ngx_memcmp(c->url, url->data, url->len) == 0)
        {
            return c->us;
        }
    }

    us = ngx_http_qlm_webhook_url_slot(mcf, url, &key);

    if (us && c) {
        c->sh = mcf->sh;
        c->us = us;
        c->key = key;
        c->len = url->len;
        ngx_memcpy(c->url, url->data, url->len);
    }

    return us;
}


/* attempts in flight to a receiver, whole server */

static ngx_uint_t
ngx_http_qlm_webhook_url_busy(ngx_http_qlm_webhook_urlstate_t *us)
{
    ngx_int_t   n;
    ngx_uint_t  i;

    n = 0;

    /* a column zeroed under an old worker's attempts may go below 0 */

    for (i = 0; i < NGX_HTTP_QLM_WEBHOOK_NCOLUMNS; i++) {
        n += (ngx_atomic_int_t) us->in_flight[i];
    }

    return (n > 0) ? (ngx_uint_t) n : 0;
}


/*
 * May one more attempt to this receiver start?  pending: those a claim
 * took already.  With the circuit open: one probe at a time, once its
 * wait is over; the probe holds the circuit for a lease's time.
 */

static ngx_uint_t
ngx_http_qlm_webhook_admit(ngx_http_qlm_webhook_claim_t *c,
    ngx_http_qlm_webhook_urlstate_t *us, ngx_uint_t pending)
{
    ngx_atomic_uint_t                  until, probe;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    mcf = c->deliver->mcf;

    if (us->paused) {
        return 0;
    }

    if (mcf->breaker && us->failures >= mcf->breaker) {
        until = us->open_until;

        if (pending || ngx_http_qlm_webhook_url_busy(us)
            || (ngx_atomic_uint_t) c->now < until)
        {
            return 0;
        }

        probe = c->now + 1
                + ngx_http_qlm_webhook_deliver_lease_time(mcf) / 1000;

        if (!ngx_atomic_cmp_set(&us->open_until, until, probe)) {
            return 0;
        }

        c->probe[c->nprobes] = us;
        c->probe_was[c->nprobes] = until;
        c->probe_now[c->nprobes] = probe;
        c->nprobes++;

        return 1;
    }

    return ngx_http_qlm_webhook_url_busy(us) + pending
           < mcf->url_concurrency;
}


/* a claim that failed took no item: its probes are given back */

static void
ngx_http_qlm_webhook_claim_undo(ngx_http_qlm_webhook_claim_t *c)
{
    ngx_uint_t  i;

    for (i = 0; i < c->nprobes; i++) {
        (void) ngx_atomic_cmp_set(&c->probe[i]->open_until, c->probe_now[i],
                                  c->probe_was[i]);
    }
}


/*
 * Failures in a row (no answer, or not 2xx; a 410 is not counted) open a
 * receiver's circuit at qlm_webhook_breaker: then one probe at a time,
 * 1 s after the last failure, doubling to 64 s or the retry interval if
 * shorter; a success closes it.
 */

static void
ngx_http_qlm_webhook_health(ngx_http_qlm_webhook_transfer_t *t,
    ngx_uint_t ok)
{
    time_t                             now, wait;
    ngx_uint_t                         f, shift;
    ngx_http_qlm_webhook_urlstate_t   *us;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    us = t->url_state;
    mcf = t->deliver->mcf;

    if (us == NULL) {
        return;
    }

    now = ngx_time();

    if (ok) {
        if (us->failing_since) {
            us->failing_since = 0;
        }

    } else if (us->failing_since == 0) {
        (void) ngx_atomic_cmp_set(&us->failing_since, 0, now);

    } else if (mcf->pause_after
               && now - (time_t) us->failing_since >= mcf->pause_after
               && ngx_atomic_cmp_set(&us->paused, 0, 1))
    {
        /* said once, by the worker that paused it */
        ngx_log_error(NGX_LOG_WARN, t->deliver->log, 0,
                      "qlm webhook: %V failing for %T s, paused: its "
                      "deliveries wait until it is resumed "
                      "(POST .../urls/resume?url=)",
                      &t->log_url, now - (time_t) us->failing_since);

        ngx_http_qlm_webhook_count(mcf, NGX_HTTP_QLM_WEBHOOK_C_PAUSED, 1);

        /* kept in the store: it outlives a restart */
        (void) ngx_http_qlm_webhook_pause_record(mcf, &t->log_url, 1,
                                                 "qlm_webhook_pause_after",
                                                 t->deliver->log);
    }

    if (mcf->breaker == 0) {
        return;
    }

    if (ok) {
        if (us->failures >= mcf->breaker) {
            ngx_log_error(NGX_LOG_NOTICE, t->deliver->log, 0,
                          "qlm webhook: %V answers again, circuit closed",
                          &t->log_url);
        }

        if (us->failures) {
            us->failures = 0;
        }

        return;
    }

    f = ngx_atomic_fetch_add(&us->failures, 1) + 1;

    if (f < mcf->breaker) {
        return;
    }

    /* never longer than the retry interval: a receiver back is found */

    shift = ngx_min(f - mcf->breaker, NGX_HTTP_QLM_WEBHOOK_BACKOFF);
    wait = ngx_min((time_t) 1 << shift,
                   (time_t) ngx_max(mcf->retry_interval / 1000, 1));
    us->open_until = now + wait;

    if (f == mcf->breaker) {
        ngx_log_error(NGX_LOG_WARN, t->deliver->log, 0,
                      "qlm webhook: %V failed %ui times in a row, circuit "
                      "open: one attempt at a time, backing off",
                      &t->log_url, f);

        ngx_http_qlm_webhook_count(mcf, NGX_HTTP_QLM_WEBHOOK_C_CIRCUIT_OPENED,
                                   1);
    }
}


static ngx_int_t
ngx_http_qlm_webhook_start(ngx_http_qlm_webhook_deliver_t *d,
    qlm_store_item_t *item, ngx_http_qlm_webhook_early_t *early)
{
    u_char                             *p;
    ngx_int_t                           rc;
    ngx_str_t                           url, *h;
    ngx_pool_t                         *pool;
    ngx_array_t                        *headers;
    ngx_http_qlm_webhook_signer_t      *signer;
    ngx_http_qlm_webhook_target_t       tg;
    ngx_http_qlm_webhook_transfer_t    *t;
    ngx_http_qlm_webhook_main_conf_t   *mcf;

    mcf = d->mcf;

    /*
     * One block for the whole transfer: the structures, the item's copy,
     * the request (the body again) and the answer's buffer.  A pool of
     * 1 KB took three blocks and two large allocations a delivery.
     */

    pool = ngx_create_pool(NGX_HTTP_QLM_WEBHOOK_XFER_POOL
                           + 2 * item->body.len + 3 * item->url.len
                           + item->event_id.len + item->last_error.len,
                           d->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    t = ngx_pcalloc(pool, sizeof(ngx_http_qlm_webhook_transfer_t));
    if (t == NULL) {
        goto failed;
    }

    t->deliver = d;
    t->pool = pool;
    t->answer.retry_after = -1;

    /* the transfer owns its copy: the caller's item may go at once */

    item = ngx_http_qlm_webhook_item_copy(pool, item);
    if (item == NULL) {
        goto failed;
    }

    t->item = item;

    url.data = (u_char *) item->url.data;
    url.len = item->url.len;

    ngx_http_qlm_webhook_log_url(mcf, pool, &url, &t->log_url);

    /* the item's "headers" field names its signer */

    signer = ngx_http_qlm_webhook_signer_find(mcf, &item->headers);

    headers = ngx_http_qlm_webhook_signer_headers(pool, signer, item);
    if (headers == NULL) {
        goto failed;
    }

    /* "Name: value", NUL-terminated each, after the signature's */

    h = ngx_array_push_n(headers, 3);
    if (h == NULL) {
        goto failed;
    }

    h[0].len = sizeof("X-QLM-Event: ") - 1 + item->event.len;
    h[1].len = sizeof("X-QLM-Event-Id: ") - 1 + item->event_id.len;
    h[2].len = sizeof("X-QLM-Delivery-Attempt: ") - 1 + NGX_INT32_LEN;

    h[0].data = ngx_pnalloc(pool, h[0].len + h[1].len + h[2].len + 3);
    if (h[0].data == NULL) {
        goto failed;
    }

    /* copied, not printed: a delivery's headers are on the event path */

    p = ngx_cpymem(h[0].data, "X-QLM-Event: ", sizeof("X-QLM-Event: ") - 1);
    p = ngx_cpymem(p, item->event.data, item->event.len);
    *p++ = '\0';

    h[1].data = p;
    p = ngx_cpymem(p, "X-QLM-Event-Id: ", sizeof("X-QLM-Event-Id: ") - 1);
    p = ngx_cpymem(p, item->event_id.data, item->event_id.len);
    *p++ = '\0';

    /* counted by the store where the item was claimed (or leased) */
    h[2].data = p;
    h[2].len = ngx_sprintf(p, "X-QLM-Delivery-Attempt: %uD%Z", item->attempt)
               - p - 1;

    rc = ngx_http_qlm_webhook_http_target(pool, &url, &tg);

    if (rc == NGX_OK) {
        rc = ngx_http_qlm_webhook_start_http(t, &tg, headers);

    } else if (rc == NGX_DECLINED) {
        rc = ngx_http_qlm_webhook_start_curl(t, headers);
    }

    if (rc != NGX_OK) {
        goto failed;
    }

    ngx_queue_insert_tail(&d->active, &t->queue);
    d->nactive++;

    /* started before its item's commit: linked to it until then */

    if (early) {
        t->early = early;
        early->transfer = t;
    }

    t->url_state = ngx_http_qlm_webhook_url_state(mcf, &item->url);

    if (t->url_state) {
        (void) ngx_atomic_fetch_add(&t->url_state->in_flight[d->column], 1);
    }

    if (ngx_http_qlm_webhook_is_task(item)) {
        t->task = 1;
        d->ntask++;
    }

    if (mcf->sh) {
        (void) ngx_atomic_fetch_add(&mcf->sh->in_flight, 1);
    }

    /* in-flight deliveries hold off a graceful shutdown, up to a timeout */
    d->timer.cancelable = 0;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, d->log, 0,
                   "qlm webhook: sending %*s to %V",
                   item->event_id.len, item->event_id.data, &t->log_url);

    return NGX_OK;

failed:

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


/* the request, whole, on nginx's own connections */

static ngx_int_t
ngx_http_qlm_webhook_start_http(ngx_http_qlm_webhook_transfer_t *t,
    ngx_http_qlm_webhook_target_t *tg, ngx_array_t *headers)
{
    u_char                          *p;
    size_t                           len;
    ngx_str_t                       *h;
    ngx_uint_t                       i;
    qlm_store_item_t                *item;
    ngx_http_qlm_webhook_http_t     *http;
    ngx_http_qlm_webhook_target_t   *target;
    ngx_http_qlm_webhook_deliver_t  *d;

    static ngx_str_t  agent = ngx_string(
        "User-Agent: ngx_qlm_webhook_module/" NGX_HTTP_QLM_WEBHOOK_VERSION
        CRLF "Accept: */*" CRLF "Content-Type: application/json" CRLF);

    d = t->deliver;
    item = t->item;
    h = headers->elts;

    len = sizeof("POST  HTTP/1.1" CRLF "Host: " CRLF) - 1 + tg->path.len
          + tg->authority.len + agent.len
          + sizeof("Content-Length: " CRLF CRLF) - 1 + NGX_OFF_T_LEN
          + item->body.len;

    for (i = 0; i < headers->nelts; i++) {
        len += h[i].len + 2;
    }

    http = ngx_pcalloc(t->pool, sizeof(ngx_http_qlm_webhook_http_t)
                                + sizeof(ngx_http_qlm_webhook_target_t));
    p = ngx_pnalloc(t->pool, len);

    if (http == NULL || p == NULL) {
        return NGX_ERROR;
    }

    target = (ngx_http_qlm_webhook_target_t *) (http + 1);
    *target = *tg;

    http->request.data = p;

    p = ngx_cpymem(p, "POST ", sizeof("POST ") - 1);
    p = ngx_cpymem(p, tg->path.data, tg->path.len);
    p = ngx_cpymem(p, " HTTP/1.1" CRLF "Host: ",
                   sizeof(" HTTP/1.1" CRLF "Host: ") - 1);
    p = ngx_cpymem(p, tg->authority.data, tg->authority.len);
    *p++ = CR; *p++ = LF;
    p = ngx_cpymem(p, agent.data, agent.len);

    for (i = 0; i < headers->nelts; i++) {
        p = ngx_cpymem(p, h[i].data, h[i].len);
        *p++ = CR; *p++ = LF;
    }

    p = ngx_sprintf(p, "Content-Length: %uz" CRLF CRLF, item->body.len);
    p = ngx_cpymem(p, item->body.data, item->body.len);

    http->request.len = p - http->request.data;
    http->target = target;
    http->timeout = d->mcf->timeout;
    http->pipeline = d->mcf->pipeline;
    http->pool = t->pool;
    http->log = d->log;
    http->keepalive = d->keepalive;
    http->answer = &t->answer;
    http->handler = ngx_http_qlm_webhook_http_handler;
    http->data = t;

    t->http = http;
    t->start = ngx_current_msec;

    return ngx_http_qlm_webhook_http_start(http);
}


static void
ngx_http_qlm_webhook_http_handler(ngx_http_qlm_webhook_http_t *h)
{
    ngx_uint_t                        task;
    ngx_http_qlm_webhook_transfer_t  *t;
    ngx_http_qlm_webhook_deliver_t   *d;

    t = h->data;
    d = t->deliver;
    task = t->task;

    ngx_http_qlm_webhook_finish(t);

    /* a slot is free again: see ngx_http_qlm_webhook_check_done() */

    ngx_http_qlm_webhook_wake(d, task);
}


/*
 * A finished transfer frees a slot: the poll claims again, in the next
 * turn, unless the last claim passed over what is due only because the
 * tasks were at their limit and this transfer was not a task's: then
 * that claim would read the same items and take nothing (at every
 * delivery of an event, while a large task's backlog waits, a thousand
 * items read for nothing: most of the worker).
 */

static void
ngx_http_qlm_webhook_wake(ngx_http_qlm_webhook_deliver_t *d,
    ngx_uint_t task)
{
    if (d->poll.posted || ngx_exiting || ngx_http_qlm_webhook_futile(d, task))
    {
        return;
    }

    ngx_post_event(&d->poll, &ngx_posted_next_events);
}


/* the last claim took nothing for the tasks' limit alone, and task is not
 * a task's slot freed: a claim now would read the same items for nothing */

static ngx_uint_t
ngx_http_qlm_webhook_futile(ngx_http_qlm_webhook_deliver_t *d,
    ngx_uint_t task)
{
    return d->wait_task && !d->wait_url && !task;
}


/* libcurl's: https, host names, credentials in the URL */

static ngx_int_t
ngx_http_qlm_webhook_start_curl(ngx_http_qlm_webhook_transfer_t *t,
    ngx_array_t *headers)
{
    CURLMcode                          mrc;
    ngx_str_t                         *h;
    ngx_uint_t                         i;
    qlm_store_item_t                  *item;
    struct curl_slist                 *sl;
    ngx_http_qlm_webhook_deliver_t    *d;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    d = t->deliver;
    mcf = d->mcf;
    item = t->item;

    if (d->nspare) {
        t->easy = d->spare[--d->nspare];
        curl_easy_reset(t->easy);

    } else {
        t->easy = curl_easy_init();
    }

    if (t->easy == NULL) {
        return NGX_ERROR;
    }

#define ngx_qlm_add_header(s)                                                 \
    sl = curl_slist_append(t->headers, (const char *) (s));                  \
    if (sl == NULL) {                                                         \
        goto failed;                                                          \
    }                                                                         \
    t->headers = sl

    ngx_qlm_add_header("Content-Type: application/json");
    ngx_qlm_add_header("Expect:");

    h = headers->elts;

    for (i = 0; i < headers->nelts; i++) {
        ngx_qlm_add_header(h[i].data);
    }

#undef ngx_qlm_add_header

#define ngx_qlm_setopt(opt, val)                                              \
    if (curl_easy_setopt(t->easy, opt, val) != CURLE_OK) {                    \
        ngx_log_error(NGX_LOG_ERR, d->log, 0,                                 \
                    "qlm webhook: curl_easy_setopt(" #opt ") failed");     \
        goto failed;                                                          \
    }

    /* the store keeps its strings NUL-terminated */

    ngx_qlm_setopt(CURLOPT_URL, item->url.data);
    ngx_qlm_setopt(CURLOPT_PRIVATE, t);
    ngx_qlm_setopt(CURLOPT_ERRORBUFFER, t->answer.error);
    ngx_qlm_setopt(CURLOPT_NOSIGNAL, 1L);
    ngx_qlm_setopt(CURLOPT_POST, 1L);
    ngx_qlm_setopt(CURLOPT_POSTFIELDS, item->body.data);
    ngx_qlm_setopt(CURLOPT_POSTFIELDSIZE_LARGE,
                   (curl_off_t) item->body.len);
    ngx_qlm_setopt(CURLOPT_HTTPHEADER, t->headers);
    ngx_qlm_setopt(CURLOPT_USERAGENT,
                   "ngx_qlm_webhook_module/" NGX_HTTP_QLM_WEBHOOK_VERSION);
    ngx_qlm_setopt(CURLOPT_TIMEOUT_MS, (long) mcf->timeout);
    ngx_qlm_setopt(CURLOPT_WRITEFUNCTION, ngx_http_qlm_webhook_curl_answer);
    ngx_qlm_setopt(CURLOPT_WRITEDATA, t);
    ngx_qlm_setopt(CURLOPT_HEADERFUNCTION, ngx_http_qlm_webhook_curl_header);
    ngx_qlm_setopt(CURLOPT_HEADERDATA, t);
    ngx_qlm_setopt(CURLOPT_FOLLOWLOCATION, 0L);
    ngx_qlm_setopt(CURLOPT_HTTP_VERSION,
                   (long) CURL_HTTP_VERSION_1_1);

#if (LIBCURL_VERSION_NUM >= 0x075700)
    /*
     * A name whose DNS server never answers: at the attempt's timeout
     * libcurl would join its resolver thread, blocking this worker until
     * getaddrinfo() gives up (seconds); with QUICK_EXIT it leaves the
     * thread to end and free itself
     */
    ngx_qlm_setopt(CURLOPT_QUICK_EXIT, 1L);
#endif

#if (LIBCURL_VERSION_NUM >= 0x075500)
    ngx_qlm_setopt(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    ngx_qlm_setopt(CURLOPT_PROTOCOLS,
                   (long) (CURLPROTO_HTTP|CURLPROTO_HTTPS));
#endif
    ngx_qlm_setopt(CURLOPT_SSL_VERIFYPEER,
                   mcf->ssl_verify ? 1L : 0L);
    ngx_qlm_setopt(CURLOPT_SSL_VERIFYHOST,
                   mcf->ssl_verify ? 2L : 0L);

    if (mcf->ssl_trusted_certificate.len) {
        ngx_qlm_setopt(CURLOPT_CAINFO,
                     mcf->ssl_trusted_certificate.data);
    }

#undef ngx_qlm_setopt

    t->start = ngx_current_msec;

    mrc = curl_multi_add_handle(d->multi, t->easy);

    if (mrc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ERR, d->log, 0,
                      "qlm webhook: curl_multi_add_handle() failed: %s",
                      curl_multi_strerror(mrc));
        goto failed;
    }

    return NGX_OK;

failed:

    curl_easy_cleanup(t->easy);
    t->easy = NULL;

    curl_slist_free_all(t->headers);
    t->headers = NULL;

    return NGX_ERROR;
}


static qlm_store_item_t *
ngx_http_qlm_webhook_item_copy(ngx_pool_t *pool, qlm_store_item_t *item)
{
    u_char            *p;
    ngx_uint_t         i;
    qlm_store_str_t   *s, *strs[6];
    qlm_store_item_t  *copy;

    copy = ngx_palloc(pool, sizeof(qlm_store_item_t));
    if (copy == NULL) {
        return NULL;
    }

    *copy = *item;

    strs[0] = &copy->event_id;
    strs[1] = &copy->event;
    strs[2] = &copy->url;
    strs[3] = &copy->headers;
    strs[4] = &copy->body;
    strs[5] = &copy->last_error;

    /* strings stay NUL-terminated: libcurl takes the URL and body so */

    for (i = 0; i < 6; i++) {
        s = strs[i];

        p = ngx_pnalloc(pool, s->len + 1);
        if (p == NULL) {
            return NULL;
        }

        if (s->len) {
            ngx_memcpy(p, s->data, s->len);
        }

        p[s->len] = '\0';
        s->data = (char *) p;
    }

    return copy;
}


static void
ngx_http_qlm_webhook_finish(ngx_http_qlm_webhook_transfer_t *t)
{
    long                               status;
    ngx_int_t                          rc;
    ngx_str_t                          event;
    u_char                            *p, *q;
    uint32_t                           attempt;
    uint64_t                           now;
    ngx_msec_t                         ms, delay;
    ngx_uint_t                         i, level, wait, last;
    const char                        *what;
    qlm_store_str_t                    error;
    qlm_store_log_t                    rec;
    qlm_store_item_t                  *item;
    ngx_http_qlm_webhook_retry_t      *retry;
    ngx_http_qlm_webhook_deliver_t    *d;
    ngx_http_qlm_webhook_main_conf_t  *mcf;
    ngx_uint_t                         answered;
    ngx_http_qlm_webhook_reply_t     *a;
    u_char                             buf[NGX_HTTP_QLM_WEBHOOK_ERROR + 32];
    u_char                             after[64];

    d = t->deliver;
    mcf = d->mcf;
    item = t->item;
    a = &t->answer;

    answered = (a->error_len == 0);
    status = answered ? (long) a->status : 0;

    now = ngx_http_qlm_webhook_now();
    ms = ngx_current_msec - t->start;
    attempt = item->attempt;

    if (!answered) {
        p = ngx_snprintf(buf, sizeof(buf), "%*s", a->error_len, a->error);

    } else if (status == 410) {
        p = ngx_snprintf(buf, sizeof(buf),
                         "HTTP status 410 Gone: the receiver wants no more "
                         "deliveries, not retried");

    } else if (status < 200 || status > 299) {
        p = ngx_snprintf(buf, sizeof(buf), "HTTP status %l", status);

    } else {
        p = buf;
    }

    error.data = (char *) buf;
    error.len = p - buf;

    /* 429 and 503 may say when to come back: then, but not later than max */

    /* the URL's schedule: how long until the next attempt, and if any */

    retry = ngx_http_qlm_webhook_retry_of(mcf, item);
    delay = mcf->retry_interval;
    last = (attempt > (uint32_t) mcf->max_retries);

    if (retry && retry->type == NGX_HTTP_QLM_WEBHOOK_RETRY_LIST) {
        last = (attempt > retry->delays->nelts);
        delay = (last || attempt == 0)
                ? 0 : ((ngx_msec_t *) retry->delays->elts)[attempt - 1];

    } else if (retry) {
        /* base * 2^(attempt - 1), at most cap, then half to all of it */
        delay = retry->base;

        for (i = 1; i < attempt && delay < retry->cap; i++) {
            delay *= 2;
        }

        delay = ngx_min(delay, retry->cap);
        delay = delay / 2 + (ngx_msec_t) ngx_random() % (delay / 2 + 1);
    }

    wait = 0;
    q = after;

    if (answered && (status == 429 || status == 503)
        && a->retry_after >= 0)
    {
        delay = ((uint64_t) a->retry_after >= mcf->retry_after_max / 1000)
                ? mcf->retry_after_max
                : (ngx_msec_t) a->retry_after * 1000;
        wait = 1;
    }

    ngx_memzero(&rec, sizeof(qlm_store_log_t));
    rec.time = now;
    rec.item_id = item->id;
    rec.attempt = attempt;
    rec.status = (int32_t) status;
    rec.duration = (uint32_t) ms;
    rec.event_id = item->event_id;
    rec.event = item->event;
    rec.url.data = (char *) t->log_url.data;
    rec.url.len = t->log_url.len;
    rec.error = error;
    rec.answer.data = (char *) a->data;
    rec.answer.len = a->len;

    /* recorded with this turn's other writes, in one transaction */

    if (error.len == 0) {
        rec.outcome = QLM_STORE_DELIVERED;
        rc = ngx_http_qlm_webhook_outcome(t, NGX_HTTP_QLM_WEBHOOK_OP_ACK, 0,
                                          (int32_t) status, &rec);
        what = "delivered";
        level = NGX_LOG_INFO;

    } else if (answered && status == 410) {
        /* the receiver's wish, not its failure: no retry, its own count */
        rec.outcome = QLM_STORE_DEAD;
        rc = ngx_http_qlm_webhook_outcome(t, NGX_HTTP_QLM_WEBHOOK_OP_DEAD,
                                          now, (int32_t) status, &rec);
        what = "gone, moved to dead letters";
        level = NGX_LOG_WARN;
        ngx_http_qlm_webhook_count(mcf, NGX_HTTP_QLM_WEBHOOK_C_GONE, 1);
        wait = 0;

    } else if (last) {
        rec.outcome = QLM_STORE_DEAD;
        rc = ngx_http_qlm_webhook_outcome(t, NGX_HTTP_QLM_WEBHOOK_OP_DEAD,
                                          now, (int32_t) status, &rec);
        what = "failed, moved to dead letters";
        level = NGX_LOG_WARN;
        wait = 0;

    } else {
        rec.outcome = QLM_STORE_RETRY;
        rc = ngx_http_qlm_webhook_outcome(t,
                                          NGX_HTTP_QLM_WEBHOOK_OP_RESCHEDULE,
                                          now + delay, (int32_t) status,
                                          &rec);
        what = "failed, will retry";
        level = NGX_LOG_INFO;

        if (wait) {
            ngx_http_qlm_webhook_count(mcf,
                                       NGX_HTTP_QLM_WEBHOOK_C_RETRY_AFTER, 1);
            q = ngx_snprintf(after, sizeof(after),
                             ", next attempt in %M ms as Retry-After asks",
                             delay);
        }
    }

    ngx_log_error(level, d->log, 0,
                  "qlm webhook: \"%*s\" event %*s to %V %s: status %l, "
                  "%M ms, attempt %uD%s%*s%*s",
                  item->event.len, item->event.data,
                  item->event_id.len, item->event_id.data,
                  &t->log_url, what, status, ms, attempt,
                  error.len ? ", " : "", error.len, error.data,
                  (size_t) (q - after), after);

    /* a 410 is the receiver's answer, not a sign of its health */

    if (!(answered && status == 410)) {
        ngx_http_qlm_webhook_health(t, error.len == 0);
    }

    event.data = (u_char *) item->event.data;
    event.len = item->event.len;

    ngx_http_qlm_webhook_count_delivery(mcf, &event,
                                        error.len == 0
                                        ? NGX_HTTP_QLM_WEBHOOK_D_DELIVERED
                                        : rec.outcome == QLM_STORE_DEAD
                                        ? NGX_HTTP_QLM_WEBHOOK_D_DEAD
                                        : NGX_HTTP_QLM_WEBHOOK_D_RETRY,
                                        now > item->created
                                        ? now - item->created : 0);

    if (rc != NGX_OK) {
        /* the lease expires and the delivery is made again */
        ngx_log_error(NGX_LOG_ERR, d->log, 0,
                      "qlm webhook: recording the attempt of %*s to %V "
                      "failed: out of memory",
                      item->event_id.len, item->event_id.data, &t->log_url);
    }

    ngx_http_qlm_webhook_transfer_free(t);
}


/* recorded by id, or, before its event's commit, in that commit */

static ngx_int_t
ngx_http_qlm_webhook_outcome(ngx_http_qlm_webhook_transfer_t *t,
    ngx_uint_t op, uint64_t due, int32_t status, qlm_store_log_t *rec)
{
    qlm_store_item_t  *item;

    item = t->item;

    if (t->early) {
        return ngx_http_qlm_webhook_batch_op_early(t->early, op, due,
                                                   item->attempt, status,
                                                   rec);
    }

    return ngx_http_qlm_webhook_batch_op(t->deliver->mcf, op, item->id,
                                         item->lease, due, item->attempt,
                                         status, rec);
}


static void
ngx_http_qlm_webhook_transfer_free(ngx_http_qlm_webhook_transfer_t *t)
{
    ngx_http_qlm_webhook_deliver_t  *d;

    d = t->deliver;

    if (t->early) {
        t->early->transfer = NULL;
    }

    ngx_queue_remove(&t->queue);
    d->nactive--;

    if (t->url_state) {
        (void) ngx_atomic_fetch_add(&t->url_state->in_flight[d->column], -1);
    }

    if (t->task) {
        d->ntask--;
    }

    if (d->mcf->sh) {
        (void) ngx_atomic_fetch_add(&d->mcf->sh->in_flight, -1);
    }

    if (d->nactive == 0) {
        d->timer.cancelable = 1;
    }

    if (t->http) {
        ngx_http_qlm_webhook_http_abort(t->http);
    }

    if (t->easy) {
        curl_multi_remove_handle(d->multi, t->easy);

        if (d->nspare < NGX_HTTP_QLM_WEBHOOK_SPARE && !d->exiting) {
            d->spare[d->nspare++] = t->easy;

        } else {
            curl_easy_cleanup(t->easy);
        }

        curl_slist_free_all(t->headers);
    }

    ngx_destroy_pool(t->pool);
}


static void
ngx_http_qlm_webhook_check_done(ngx_http_qlm_webhook_deliver_t *d)
{
    int                               left;
    long                              status;
    CURL                             *easy;
    CURLMsg                          *msg;
    ngx_uint_t                        freed, task;
    ngx_http_qlm_webhook_transfer_t  *t;

    freed = 0;
    task = 0;

    while ((msg = curl_multi_info_read(d->multi, &left))) {

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        easy = msg->easy_handle;
        t = NULL;

        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t);

        if (t == NULL) {
            continue;
        }

        if (msg->data.result == CURLE_OK) {
            status = 0;
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
            t->answer.status = (ngx_uint_t) status;
            t->answer.error_len = 0;

        } else {
            if (t->answer.error[0] == '\0') {
                (void) ngx_cpystrn((u_char *) t->answer.error, (u_char *)
                                   curl_easy_strerror(msg->data.result),
                                   NGX_HTTP_QLM_WEBHOOK_ERROR);
            }

            t->answer.error_len = ngx_strlen(t->answer.error);
        }

        task |= t->task;
        ngx_http_qlm_webhook_finish(t);
        freed++;
    }

    /*
     * slots are free again: more may be due, in the next turn, so that
     * attempts that fail at once cannot chain within one turn
     */

    if (freed) {
        ngx_http_qlm_webhook_wake(d, task);
    }
}


static int
ngx_http_qlm_webhook_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp)
{
    ngx_connection_t                *c;
    ngx_http_qlm_webhook_deliver_t  *d;

    d = userp;
    c = socketp;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, d->log, 0,
                   "qlm webhook: curl socket %d what %d conn %p", s, what, c);

    if (what == CURL_POLL_REMOVE) {
        if (c) {
            curl_multi_assign(d->multi, s, NULL);
            ngx_http_qlm_webhook_curl_release(c);
        }

        return 0;
    }

    if (c == NULL) {
        c = ngx_get_connection(s, d->log);
        if (c == NULL) {
            return -1;
        }

        c->data = d;
        c->read->handler = ngx_http_qlm_webhook_curl_event_handler;
        c->write->handler = ngx_http_qlm_webhook_curl_event_handler;
        c->read->log = d->log;
        c->write->log = d->log;

        curl_multi_assign(d->multi, s, c);
    }

    /* level-triggered: libcurl need not read a socket dry */

    if (ngx_http_qlm_webhook_watch(c, what & CURL_POLL_IN,
                                   what & CURL_POLL_OUT)
        != NGX_OK)
    {
        return -1;
    }

    return 0;
}


/* libcurl closes the socket itself: give back the connection only */

static void
ngx_http_qlm_webhook_curl_release(ngx_connection_t *c)
{
    ngx_http_qlm_webhook_deliver_t  *d;

    d = c->data;

    /* at exit libcurl may have closed the socket already: no epoll_ctl() */

    ngx_http_qlm_webhook_unwatch(c, d->exiting);
}


/*
 * A socket that a library (libcurl, libpq) owns, watched level-triggered
 * by nginx's event loop: the library need not read it dry.  read and
 * write say which events to watch now.
 */

ngx_int_t
ngx_http_qlm_webhook_watch(ngx_connection_t *c, ngx_uint_t read,
    ngx_uint_t write)
{
    if (read) {
        if (!c->read->active
            && ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (c->read->active) {
        if (ngx_del_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (write) {
        if (!c->write->active
            && ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (c->write->active) {
        if (ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The connection of such a socket given back; the socket stays the
 * library's.  closed: the library has closed it already, so epoll forgot
 * it and an epoll_ctl() would fail.
 */

void
ngx_http_qlm_webhook_unwatch(ngx_connection_t *c, ngx_uint_t closed)
{
    ngx_uint_t  flags;

    flags = closed ? NGX_CLOSE_EVENT : 0;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, flags);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, flags);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;
}


static int
ngx_http_qlm_webhook_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    ngx_http_qlm_webhook_deliver_t  *d = userp;

    /* a timer re-added within 300 ms of its deadline would be kept as is */

    if (d->timer.timer_set) {
        ngx_del_timer(&d->timer);
    }

    if (timeout_ms < 0) {
        return 0;
    }

    /*
     * "At once": in the next turn of the event loop, not in this one, or
     * libcurl asking again and again would keep this turn from ending
     */

    if (timeout_ms == 0) {
        if (!d->timer.posted) {
            ngx_post_event(&d->timer, &ngx_posted_next_events);
        }

        return 0;
    }

    ngx_add_timer(&d->timer, (ngx_msec_t) timeout_ms);

    return 0;
}


static void
ngx_http_qlm_webhook_curl_timer_handler(ngx_event_t *ev)
{
    ngx_http_qlm_webhook_deliver_t  *d;

    d = ev->data;

    ngx_http_qlm_webhook_curl_action(d, CURL_SOCKET_TIMEOUT, 0);
}


static void
ngx_http_qlm_webhook_curl_event_handler(ngx_event_t *ev)
{
    int                              action;
    ngx_connection_t                *c;
    ngx_http_qlm_webhook_deliver_t  *d;

    c = ev->data;
    d = c->data;

    action = ev->write ? CURL_CSELECT_OUT : CURL_CSELECT_IN;

    /* c may be released inside: libcurl may close the socket */

    ngx_http_qlm_webhook_curl_action(d, c->fd, action);
}


static void
ngx_http_qlm_webhook_curl_action(ngx_http_qlm_webhook_deliver_t *d,
    curl_socket_t s, int action)
{
    int        running;
    CURLMcode  rc;

    rc = curl_multi_socket_action(d->multi, s, action, &running);

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ERR, d->log, 0,
                      "qlm webhook: curl_multi_socket_action() failed: %s",
                      curl_multi_strerror(rc));
    }

    /*
     * libcurl's TLS failures leave entries in OpenSSL's error queue, which
     * this process shares with nginx's own TLS connections
     */

    ERR_clear_error();

    ngx_http_qlm_webhook_check_done(d);
}


/* the answer's first bytes are kept for the log; the rest is read, unkept */

static size_t
ngx_http_qlm_webhook_curl_answer(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    size_t                            n;
    ngx_http_qlm_webhook_transfer_t  *t = userdata;

    n = ngx_min(size * nmemb, NGX_HTTP_QLM_WEBHOOK_ANSWER - t->answer.len);

    if (n) {
        ngx_memcpy(t->answer.data + t->answer.len, ptr, n);
        t->answer.len += n;
    }

    return size * nmemb;
}


/* Retry-After, the one header read */

static size_t
ngx_http_qlm_webhook_curl_header(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    u_char                           *p, *last;
    size_t                            len;
    ngx_http_qlm_webhook_transfer_t  *t = userdata;

    len = size * nmemb;
    p = (u_char *) ptr;
    last = p + len;

    if (len > 5 && ngx_strncmp(p, "HTTP/", 5) == 0) {
        /* a new answer (after a 1xx): its own headers count */
        t->answer.retry_after = -1;
        return len;
    }

    if (len < sizeof("Retry-After:") - 1
        || ngx_strncasecmp(p, (u_char *) "Retry-After:",
                           sizeof("Retry-After:") - 1)
           != 0)
    {
        return len;
    }

    p += sizeof("Retry-After:") - 1;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p
           && (last[-1] == '\r' || last[-1] == '\n' || last[-1] == ' '
               || last[-1] == '\t'))
    {
        last--;
    }

    t->answer.retry_after = ngx_http_qlm_webhook_retry_after(p, last);

    return len;
}


void
ngx_http_qlm_webhook_deliver_exit_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    uint64_t                          now;
    ngx_queue_t                      *q;
    ngx_http_qlm_webhook_deliver_t   *d;
    ngx_http_qlm_webhook_transfer_t  *t;

    d = mcf->deliver;

    if (d == NULL) {
        return;
    }

    d->exiting = 1;

    now = ngx_http_qlm_webhook_now();

    /* hand unfinished deliveries back at once rather than at lease expiry */

    while (!ngx_queue_empty(&d->active)) {
        q = ngx_queue_head(&d->active);
        t = ngx_queue_data(q, ngx_http_qlm_webhook_transfer_t, queue);

        /*
         * The attempt cut short still counts: the receiver may have it.
         * PostgreSQL's leases just expire.
         */

        if (mcf->store && mcf->pg_conninfo.len == 0) {
            (void) qlm_store_release(mcf->store, t->item->id,
                                     t->item->lease, now);
        }

        ngx_http_qlm_webhook_transfer_free(t);
    }

    while (d->nspare) {
        curl_easy_cleanup(d->spare[--d->nspare]);
    }

    ngx_http_qlm_webhook_keepalive_close(d->keepalive);

    if (d->multi) {
        curl_multi_cleanup(d->multi);
        d->multi = NULL;
    }

    if (d->timer.timer_set) {
        ngx_del_timer(&d->timer);
    }

    if (d->poll.timer_set) {
        ngx_del_timer(&d->poll);
    }

    mcf->deliver = NULL;

    curl_global_cleanup();
}


/* "qlm_webhook_pause_after time | off" */

char *
ngx_http_qlm_webhook_pause_after(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_qlm_webhook_main_conf_t *mcf = conf;

    time_t      s;
    ngx_str_t  *value;

    if (mcf->pause_after != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        mcf->pause_after = 0;
        return NGX_CONF_OK;
    }

    s = ngx_parse_time(&value[1], 1);

    if (s == (time_t) NGX_ERROR || s == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", it must be \"off\" or a "
                           "time of at least 1s", &value[1]);
        return NGX_CONF_ERROR;
    }

    mcf->pause_after = s;

    return NGX_CONF_OK;
}


/* calls handler for each configured URL, events' and tasks' */

ngx_int_t
ngx_http_qlm_webhook_urls_each(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_url_pt handler, void *data)
{
    ngx_uint_t                    e, i;
    ngx_array_t                  *a;
    ngx_http_qlm_webhook_url_t   *u;
    ngx_http_qlm_webhook_task_t  *task;

    for (e = 0; e < NGX_HTTP_QLM_WEBHOOK_NEVENTS; e++) {
        u = mcf->urls[e].elts;

        for (i = 0; i < mcf->urls[e].nelts; i++) {
            if (handler(mcf, &u[i], data) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    task = mcf->tasks ? mcf->tasks->elts : NULL;

    for (e = 0; mcf->tasks && e < mcf->tasks->nelts; e++) {
        a = &task[e].urls;
        u = a->elts;

        for (i = 0; i < a->nelts; i++) {
            if (handler(mcf, &u[i], data) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


typedef struct {
    ngx_str_t                 *want;
    ngx_uint_t                 pause;
    ngx_uint_t                 matched;
    ngx_log_t                 *log;
    ngx_str_t                 *shown;
} ngx_http_qlm_webhook_pause_t;


static ngx_int_t
ngx_http_qlm_webhook_pause_one(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_url_t *u, void *data)
{
    qlm_store_str_t                    s;
    ngx_http_qlm_webhook_pause_t      *p;
    ngx_http_qlm_webhook_urlstate_t   *us;

    p = data;

    if (!((p->want->len == u->url.len
           && ngx_strncmp(p->want->data, u->url.data, u->url.len) == 0)
          || (p->want->len == u->log_url.len
              && ngx_strncmp(p->want->data, u->log_url.data,
                             u->log_url.len)
                 == 0)))
    {
        return NGX_OK;
    }

    s.data = (char *) u->url.data;
    s.len = u->url.len;

    us = ngx_http_qlm_webhook_url_state(mcf, &s);

    if (us == NULL) {
        return NGX_ERROR;
    }

    if (p->matched++ == 0) {
        *p->shown = u->log_url;
    }

    if (p->pause) {
        us->paused = 1;
        return NGX_OK;
    }

    /* a fresh start: its circuit closed, its failing time forgotten */

    us->failures = 0;
    us->open_until = 0;
    us->failing_since = 0;
    us->paused = 0;

    return NGX_OK;
}


/*
 * Pauses or resumes the configured URL named by want (as configured, or as
 * logged: without credentials and query) in the workers' shared memory;
 * NGX_DECLINED: none is.  The caller records it in the store.
 */

ngx_int_t
ngx_http_qlm_webhook_url_pause(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_str_t *want, ngx_uint_t pause, ngx_log_t *log, ngx_str_t *shown)
{
    ngx_http_qlm_webhook_pause_t  p;

    if (mcf->sh == NULL) {
        return NGX_ERROR;
    }

    p.want = want;
    p.pause = pause;
    p.matched = 0;
    p.log = log;
    p.shown = shown;

    if (ngx_http_qlm_webhook_urls_each(mcf, ngx_http_qlm_webhook_pause_one,
                                       &p)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (p.matched == 0) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0, "qlm webhook: %V %s by the admin API",
                  shown, pause ? "paused" : "resumed");

    return NGX_OK;
}


static ngx_int_t
ngx_http_qlm_webhook_paused_one(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_url_t *u, void *data)
{
    ngx_str_t                         *s;
    ngx_uint_t                         i;
    ngx_array_t                       *out;
    qlm_store_str_t                    url;
    ngx_http_qlm_webhook_urlstate_t   *us;

    out = data;

    url.data = (char *) u->url.data;
    url.len = u->url.len;

    us = ngx_http_qlm_webhook_url_state(mcf, &url);

    if (us == NULL || !us->paused) {
        return NGX_OK;
    }

    /* a URL configured for several events is listed once */

    s = out->elts;

    for (i = 0; i < out->nelts; i++) {
        if (s[i].len == u->log_url.len
            && ngx_strncmp(s[i].data, u->log_url.data, s[i].len) == 0)
        {
            return NGX_OK;
        }
    }

    s = ngx_array_push(out);
    if (s == NULL) {
        return NGX_ERROR;
    }

    *s = u->log_url;

    return NGX_OK;
}


/* the paused URLs, as logged, into an array of ngx_str_t */

ngx_int_t
ngx_http_qlm_webhook_paused_urls(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_pool_t *pool, ngx_array_t *out)
{
    if (ngx_array_init(out, pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    if (mcf->sh == NULL) {
        return NGX_OK;
    }

    return ngx_http_qlm_webhook_urls_each(mcf,
                                          ngx_http_qlm_webhook_paused_one,
                                          out);
}
