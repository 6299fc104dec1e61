
/*
 * ngx_qlm_webhook_module: the PostgreSQL backend, for a fleet of proxies
 * that share one queue.
 *
 * Events are committed to the worker's local LMDB store first, as without
 * PostgreSQL: that store is the spool, so license traffic never waits on
 * the network, and a database that is down loses nothing.  A forwarder
 * moves spooled deliveries into qlm_queue (idempotent: an event id and URL
 * are unique there) and acknowledges them in the spool only once
 * PostgreSQL has committed them.  Deliveries are claimed from qlm_queue
 * with FOR UPDATE SKIP LOCKED and a lease, so every proxy of the fleet
 * takes its own share, and their outcomes go back in one statement a turn
 * of the event loop, with their log records.
 *
 * libpq's non-blocking API runs on nginx connections: PQsocket() is
 * watched by nginx's event loop and no worker ever waits on the database.
 * Each worker keeps a small pool of connections, reconnects with a
 * backoff, and prepares the claim on each new connection.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "ngx_http_qlm_webhook_module.h"
#include "qlm_pg_schema.h"


#define NGX_HTTP_QLM_WEBHOOK_PG_CLOSED      0
#define NGX_HTTP_QLM_WEBHOOK_PG_CONNECTING  1
#define NGX_HTTP_QLM_WEBHOOK_PG_SETUP       2
#define NGX_HTTP_QLM_WEBHOOK_PG_READY       3
#define NGX_HTTP_QLM_WEBHOOK_PG_BUSY        4

#define NGX_HTTP_QLM_WEBHOOK_PG_BATCH       64      /* rows a statement */
#define NGX_HTTP_QLM_WEBHOOK_PG_TIMEOUT     10000   /* ms: connect, query */
#define NGX_HTTP_QLM_WEBHOOK_PG_BACKOFF     100     /* ms: first reconnect */
#define NGX_HTTP_QLM_WEBHOOK_PG_BACKOFF_MAX 10000   /* ms */
#define NGX_HTTP_QLM_WEBHOOK_PG_POLL        1000    /* ms: claims, idle */
#define NGX_HTTP_QLM_WEBHOOK_PG_SPOOL_LEASE 30000   /* ms: a forward */
#define NGX_HTTP_QLM_WEBHOOK_PG_LOGGED      10      /* s between errors */
#define NGX_HTTP_QLM_WEBHOOK_PG_REFUSED     100     /* ms: a claim refused */
#define NGX_HTTP_QLM_WEBHOOK_PG_MIRROR      256     /* records a copy step */
#define NGX_HTTP_QLM_WEBHOOK_PG_SETTLED     1000    /* ms: see the pull */
#define NGX_HTTP_QLM_WEBHOOK_PG_COUNTERS    10000   /* ms: counters added */
#define NGX_HTTP_QLM_WEBHOOK_PG_LOG_MAX     100000  /* qlm_log's records */
#define NGX_HTTP_QLM_WEBHOOK_PG_TRIM        10000   /* records a trim step */



typedef struct ngx_http_qlm_webhook_pg_conn_s  ngx_http_qlm_webhook_pg_conn_t;


struct ngx_http_qlm_webhook_pg_conn_s {
    ngx_http_qlm_webhook_pg_t         *pg;
    PGconn                            *conn;
    ngx_connection_t                  *c;
    ngx_uint_t                         state;
    ngx_http_qlm_webhook_pg_req_t     *req;
    PGresult                          *res;
    ngx_event_t                        retry;
    ngx_msec_t                         backoff;
    ngx_uint_t                         index;
};


/* a delivery's outcome waiting for the next statement */

typedef struct {
    ngx_uint_t                         op;
    uint64_t                           id;
    uint64_t                           lease;
    uint64_t                           due;
    uint32_t                           attempt;
    int32_t                            status;
    qlm_store_log_t                    log;
} ngx_http_qlm_webhook_pg_result_t;


typedef struct {
    ngx_queue_t                        queue;
    ngx_pool_t                        *pool;
    uint64_t                           first;    /* ms: its oldest */
    ngx_uint_t                         n;
    ngx_http_qlm_webhook_pg_result_t   results[NGX_HTTP_QLM_WEBHOOK_PG_BATCH];
} ngx_http_qlm_webhook_pg_batch_t;


struct ngx_http_qlm_webhook_pg_s {
    ngx_http_qlm_webhook_main_conf_t  *mcf;
    ngx_log_t                         *log;
    ngx_http_qlm_webhook_pg_conn_t    *conns;
    ngx_uint_t                         nconns;
    ngx_queue_t                        waiting;
    ngx_uint_t                         nwaiting;

    ngx_event_t                        forward;
    ngx_event_t                        claim;
    ngx_event_t                        flush;
    ngx_event_t                        mirror;   /* worker 0: the copy */
    ngx_event_t                        counters; /* worker 0: their sums */
    uint64_t                           mirror_seq;

    /* outcomes, in batches of a statement each, oldest first */
    ngx_queue_t                        batches;
    ngx_http_qlm_webhook_pg_batch_t   *current;  /* taking outcomes */

    uint64_t                           token;
    uint64_t                           refused;  /* ms: given back, due */
    time_t                             logged;
    ngx_uint_t                         failed;
    unsigned                           forwarding:1;
    unsigned                           claiming:1;
    unsigned                           claim_again:1;
    unsigned                           flushing:1;
    unsigned                           pulling:1;
    unsigned                           trimming:1;
    unsigned                           up:1;
    unsigned                           exiting:1;
};


/* a forward: its claim (in a thread maybe), then its statement */
typedef struct {
    ngx_http_qlm_webhook_pg_t         *pg;
    ngx_http_qlm_webhook_pg_req_t     *req;
    qlm_store_item_t                 **items;
    ngx_pool_cleanup_t                *cln;
    uint64_t                           now;
    size_t                             n;
    int                                rc;
} ngx_http_qlm_webhook_pg_forward_t;


/* the forwarder's write to the spool, in a thread: the rows' ids after */
typedef struct {
    ngx_http_qlm_webhook_pg_t         *pg;
    qlm_store_t                       *store;
    uint64_t                           due;      /* an unclaim's; 0: ack */
    size_t                             n;
    int                                rc;
} ngx_http_qlm_webhook_pg_spool_t;


static void ngx_http_qlm_webhook_pg_event(ngx_event_t *ev,
    ngx_event_handler_pt handler, void *data, ngx_log_t *log);
static void ngx_http_qlm_webhook_pg_event_stop(ngx_event_t *ev);
static void ngx_http_qlm_webhook_pg_connect(ngx_http_qlm_webhook_pg_conn_t *pc);
static void ngx_http_qlm_webhook_pg_retry_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_qlm_webhook_pg_watch(
    ngx_http_qlm_webhook_pg_conn_t *pc, ngx_uint_t read, ngx_uint_t write);
static void ngx_http_qlm_webhook_pg_release(ngx_http_qlm_webhook_pg_conn_t *pc,
    ngx_uint_t closed);
static void ngx_http_qlm_webhook_pg_close(ngx_http_qlm_webhook_pg_conn_t *pc,
    const char *why);
static void ngx_http_qlm_webhook_pg_event_handler(ngx_event_t *ev);
static void ngx_http_qlm_webhook_pg_connect_poll(
    ngx_http_qlm_webhook_pg_conn_t *pc);
static void ngx_http_qlm_webhook_pg_setup(ngx_http_qlm_webhook_pg_conn_t *pc);
static void ngx_http_qlm_webhook_pg_checked(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res);
static void ngx_http_qlm_webhook_pg_prepared(
    ngx_http_qlm_webhook_pg_req_t *req, PGresult *res);
static ngx_int_t ngx_http_qlm_webhook_pg_send(
    ngx_http_qlm_webhook_pg_conn_t *pc, ngx_http_qlm_webhook_pg_req_t *req);
static void ngx_http_qlm_webhook_pg_done(ngx_http_qlm_webhook_pg_conn_t *pc);
static void ngx_http_qlm_webhook_pg_dispatch(ngx_http_qlm_webhook_pg_t *pg);
static void ngx_http_qlm_webhook_pg_query(ngx_http_qlm_webhook_pg_t *pg,
    ngx_http_qlm_webhook_pg_req_t *req);
static void ngx_http_qlm_webhook_pg_failed(ngx_http_qlm_webhook_pg_t *pg,
    const char *what, const char *why);
static void ngx_http_qlm_webhook_pg_forward_handler(ngx_event_t *ev);
static void ngx_http_qlm_webhook_pg_forward_claim(
    ngx_http_qlm_webhook_pg_forward_t *fw);
static void ngx_http_qlm_webhook_pg_forward_send(
    ngx_http_qlm_webhook_pg_forward_t *fw);
#if (NGX_THREADS)
static void ngx_http_qlm_webhook_pg_forward_thread(void *data,
    ngx_log_t *log);
static void ngx_http_qlm_webhook_pg_forward_thread_done(ngx_event_t *ev);
#endif
static void ngx_http_qlm_webhook_pg_items_free(void *data);
static void ngx_http_qlm_webhook_pg_spool(ngx_http_qlm_webhook_pg_t *pg,
    qlm_store_item_t **items, size_t n, uint64_t due);
static int ngx_http_qlm_webhook_pg_spool_write(qlm_store_t *st,
    const uint64_t *ids, size_t n, uint64_t due);
static void ngx_http_qlm_webhook_pg_spool_result(
    ngx_http_qlm_webhook_pg_t *pg, int rc, uint64_t due);
#if (NGX_THREADS)
static void ngx_http_qlm_webhook_pg_spool_thread(void *data, ngx_log_t *log);
static void ngx_http_qlm_webhook_pg_spool_thread_done(ngx_event_t *ev);
#endif
static void ngx_http_qlm_webhook_pg_forwarded(
    ngx_http_qlm_webhook_pg_req_t *req, PGresult *res);
static void ngx_http_qlm_webhook_pg_claim_handler(ngx_event_t *ev);
static void ngx_http_qlm_webhook_pg_claimed(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res);
static void ngx_http_qlm_webhook_pg_flush_handler(ngx_event_t *ev);
static void ngx_http_qlm_webhook_pg_flushed(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res);
static void ngx_http_qlm_webhook_pg_mirror_handler(ngx_event_t *ev);
static void ngx_http_qlm_webhook_pg_mirror_pulled(
    ngx_http_qlm_webhook_pg_req_t *req, PGresult *res);
static void ngx_http_qlm_webhook_pg_mirror_apply(
    ngx_http_qlm_webhook_pg_t *pg, int table, qlm_store_record_t *recs,
    size_t n);
static void ngx_http_qlm_webhook_pg_counters_handler(ngx_event_t *ev);
static void ngx_http_qlm_webhook_pg_counters_added(
    ngx_http_qlm_webhook_pg_req_t *req, PGresult *res);
static void ngx_http_qlm_webhook_pg_trim(ngx_http_qlm_webhook_pg_t *pg);
static void ngx_http_qlm_webhook_pg_trimmed(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res);
static void ngx_http_qlm_webhook_pg_slot_done(
    ngx_http_qlm_webhook_pg_req_t *req, PGresult *res);
static void ngx_http_qlm_webhook_pg_batch_done(ngx_http_qlm_webhook_pg_t *pg,
    ngx_http_qlm_webhook_pg_batch_t *b);
static ngx_int_t ngx_http_qlm_webhook_pg_result_add(
    ngx_http_qlm_webhook_pg_t *pg, ngx_uint_t op, uint64_t id,
    uint64_t lease, uint64_t due, uint32_t attempt, int32_t status,
    qlm_store_log_t *log);


/*
 * The claim: the oldest due rows nobody holds, leased to this worker;
 * "due" of a leased row is its lease's expiry, so an expired lease is
 * due again and a dead proxy's deliveries come back to the others.
 */

static const char  ngx_http_qlm_webhook_pg_claim_sql[] =
    "UPDATE qlm_queue q SET lease = $1, node = $2, due = $3 + $4, "
    "attempt = q.attempt + 1, updated = $3 "
    "FROM (SELECT id FROM qlm_queue WHERE due <= $3 ORDER BY due "
    "LIMIT $5 FOR UPDATE SKIP LOCKED) c "
    "WHERE q.id = c.id "
    "RETURNING q.id, q.lease, q.due, q.created, q.updated, q.attempt, "
    "q.last_status, q.event_id, q.event, q.url, q.headers, q.body, "
    "q.last_error";

static const Oid  ngx_http_qlm_webhook_pg_claim_types[] = {
    NGX_HTTP_QLM_WEBHOOK_INT8OID, NGX_HTTP_QLM_WEBHOOK_TEXTOID,
    NGX_HTTP_QLM_WEBHOOK_INT8OID, NGX_HTTP_QLM_WEBHOOK_INT8OID,
    NGX_HTTP_QLM_WEBHOOK_INT8OID
};


/*
 * Outcomes, one row each: acked and buried rows leave the queue (the
 * buried into qlm_dead), rescheduled and given back ones are due again;
 * only where the lease still holds, and each attempt with its log record.
 */

static const char  ngx_http_qlm_webhook_pg_results_head[] =
    "WITH r (id, lease, op, due, attempt, status, duration, outcome, now, "
    "event_id, event, url, error, answer) AS (VALUES ";

static const char  ngx_http_qlm_webhook_pg_results_tail[] =
    "), d AS (DELETE FROM qlm_queue q USING r "
    "WHERE q.id = r.id AND q.lease = r.lease AND r.op IN (0, 2) "
    "RETURNING q.*, r.op AS op, r.status AS status_now, "
    "r.error AS error_now, r.now AS now), "
    "x AS (INSERT INTO qlm_dead (id, event_id, event, url, headers, body, "
    "attempt, last_status, last_error, created, updated) "
    "SELECT id, event_id, event, url, headers, body, attempt, status_now, "
    "error_now, created, now FROM d WHERE op = 2), "
    "u AS (UPDATE qlm_queue q SET due = r.due, lease = 0, node = '', "
    "attempt = CASE WHEN r.op = 3 THEN greatest(q.attempt - 1, 0) "
    "ELSE q.attempt END, "
    "last_status = CASE WHEN r.op = 3 THEN q.last_status ELSE r.status END, "
    "last_error = CASE WHEN r.op = 3 THEN q.last_error ELSE r.error END, "
    "updated = r.now FROM r "
    "WHERE q.id = r.id AND q.lease = r.lease AND r.op IN (1, 3) "
    "RETURNING q.id), "
    "l AS (INSERT INTO qlm_log (time, item_id, attempt, status, duration, "
    "outcome, event_id, event, url, error, answer, node) "
    "SELECT r.now, r.id, r.attempt, r.status, r.duration, r.outcome, "
    "r.event_id, r.event, r.url, r.error, r.answer, $1 FROM r "
    "WHERE r.op <> 3 AND r.id IN (SELECT id FROM d UNION ALL "
    "SELECT id FROM u)) "
    "SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM u)";

#define NGX_HTTP_QLM_WEBHOOK_PG_RESULT_N  14



/*
 * A forward: the deliveries into qlm_queue, the mirror records merged into
 * qlm_mirror (newer ones only; a record that is no longer deleted replaces
 * the tombstone), each change with the next seq and the database's time.
 */

static const char  ngx_http_qlm_webhook_pg_forward_queue[] =
    "q AS (INSERT INTO qlm_queue (event_id, event, url, headers, body, due, "
    "created, updated) VALUES ";

static const char  ngx_http_qlm_webhook_pg_forward_mirror[] =
    "m AS (INSERT INTO qlm_mirror AS o (tbl, key, updated, deleted, fields, "
    "seq, written) SELECT v.tbl, v.key, (v.b->>'updated')::bigint, "
    "(v.b->>'deleted')::boolean, v.b->'fields', nextval('qlm_mirror_seq'), "
    "(extract(epoch FROM clock_timestamp()) * 1000)::bigint "
    "FROM (VALUES ";

static const char  ngx_http_qlm_webhook_pg_forward_merge[] =
    ") v (tbl, key, b) ON CONFLICT (tbl, key) DO UPDATE SET "
    "updated = EXCLUDED.updated, deleted = EXCLUDED.deleted, "
    "fields = CASE WHEN o.deleted AND NOT EXCLUDED.deleted "
    "THEN EXCLUDED.fields ELSE o.fields || EXCLUDED.fields END, "
    "seq = EXCLUDED.seq, written = EXCLUDED.written "
    "WHERE o.updated <= EXCLUDED.updated)";

#define NGX_HTTP_QLM_WEBHOOK_PG_FORWARD_N  8


/*
 * "qlm_webhook_store postgresql://..." : a libpq connection string, read
 * here so that a bad one fails "nginx -t"; a password in it is refused,
 * the password comes from password_file= and is never logged.
 */

char *
ngx_http_qlm_webhook_pg_conf(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_str_t *conninfo)
{
    u_char  *p;
    char     err[256];

    p = ngx_pnalloc(cf->pool, conninfo->len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(p, conninfo->data, conninfo->len + 1);

    if (qlm_pg_conninfo_check((char *) p, err, sizeof(err)) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    mcf->pg_conninfo.data = p;
    mcf->pg_conninfo.len = conninfo->len;

    return NGX_CONF_OK;
}


/* the parameters of qlm_webhook_store that only PostgreSQL takes */

ngx_int_t
ngx_http_qlm_webhook_pg_param(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_str_t *value)
{
    u_char     *p;
    ngx_int_t   n;
    ngx_str_t   s, secret;

    if (ngx_strncmp(value->data, "spool=", 6) == 0) {
        mcf->store_path.data = value->data + 6;
        mcf->store_path.len = value->len - 6;

        if (mcf->store_path.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty spool path");
            return NGX_ERROR;
        }

        if (ngx_conf_full_name(cf->cycle, &mcf->store_path, 0) != NGX_OK) {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(value->data, "password_file=", 14) == 0) {
        s.data = value->data + 9;       /* "file=PATH", as for secrets */
        s.len = value->len - 9;

        if (value->len == 14) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty password_file name");
            return NGX_ERROR;
        }

        if (ngx_http_qlm_webhook_read_secret(cf, &s, &secret) != NGX_OK) {
            return NGX_ERROR;
        }

        p = ngx_pnalloc(cf->pool, secret.len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        (void) ngx_cpystrn(p, secret.data, secret.len + 1);

        mcf->pg_password.data = p;
        mcf->pg_password.len = secret.len;

        return NGX_OK;
    }

    if (ngx_strncmp(value->data, "pool=", 5) == 0) {
        n = ngx_atoi(value->data + 5, value->len - 5);

        if (n < 1 || n > 16) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid pool \"%V\", it must be 1 to 16",
                               value);
            return NGX_ERROR;
        }

        mcf->pg_pool = (ngx_uint_t) n;
        return NGX_OK;
    }

    if (ngx_strncmp(value->data, "node=", 5) == 0) {
        mcf->pg_node.data = value->data + 5;
        mcf->pg_node.len = value->len - 5;

        if (mcf->pg_node.len == 0 || mcf->pg_node.len > 200) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid node \"%V\", it must have 1 to 200 "
                               "characters", value);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* the worker's own events: timers that never hold back its exit */

static void
ngx_http_qlm_webhook_pg_event(ngx_event_t *ev, ngx_event_handler_pt handler,
    void *data, ngx_log_t *log)
{
    ev->handler = handler;
    ev->data = data;
    ev->log = log;
    ev->cancelable = 1;
}


static void
ngx_http_qlm_webhook_pg_event_stop(ngx_event_t *ev)
{
    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    if (ev->posted) {
        ngx_delete_posted_event(ev);
    }
}


ngx_int_t
ngx_http_qlm_webhook_pg_init_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_uint_t                       i;
    ngx_http_qlm_webhook_pg_t       *pg;
    ngx_http_qlm_webhook_pg_conn_t  *pc;

    if (mcf->pg_conninfo.len == 0) {
        return NGX_OK;
    }

    pg = ngx_pcalloc(cycle->pool, sizeof(ngx_http_qlm_webhook_pg_t));
    if (pg == NULL) {
        return NGX_ERROR;
    }

    pg->mcf = mcf;
    pg->log = cycle->log;
    pg->nconns = mcf->pg_pool;
    ngx_queue_init(&pg->waiting);
    ngx_queue_init(&pg->batches);

    pg->token = ((uint64_t) ngx_pid << 40) ^ ((uint64_t) ngx_time() << 8);

    pg->conns = ngx_pcalloc(cycle->pool,
                       pg->nconns * sizeof(ngx_http_qlm_webhook_pg_conn_t));
    if (pg->conns == NULL) {
        return NGX_ERROR;
    }

    ngx_http_qlm_webhook_pg_event(&pg->forward,
                                  ngx_http_qlm_webhook_pg_forward_handler, pg,
                                  cycle->log);

    ngx_http_qlm_webhook_pg_event(&pg->claim,
                                  ngx_http_qlm_webhook_pg_claim_handler, pg,
                                  cycle->log);

    ngx_http_qlm_webhook_pg_event(&pg->flush,
                                  ngx_http_qlm_webhook_pg_flush_handler, pg,
                                  cycle->log);

    /* one worker of each instance keeps its local mirror a copy */

    if (ngx_worker == 0 && mcf->store) {
        ngx_http_qlm_webhook_pg_event(&pg->mirror,
                                      ngx_http_qlm_webhook_pg_mirror_handler,
                                      pg, cycle->log);

        (void) qlm_store_counter_get(mcf->store, "postgresql_mirror_seq",
                                     &pg->mirror_seq);

        ngx_add_timer(&pg->mirror, NGX_HTTP_QLM_WEBHOOK_PG_POLL);

        ngx_http_qlm_webhook_pg_event(&pg->counters,
                                      ngx_http_qlm_webhook_pg_counters_handler,
                                      pg, cycle->log);

        ngx_add_timer(&pg->counters, NGX_HTTP_QLM_WEBHOOK_PG_COUNTERS);
    }

    mcf->pg = pg;

    for (i = 0; i < pg->nconns; i++) {
        pc = &pg->conns[i];
        pc->pg = pg;
        pc->index = i;
        pc->backoff = NGX_HTTP_QLM_WEBHOOK_PG_BACKOFF;
        ngx_http_qlm_webhook_pg_event(&pc->retry,
                                      ngx_http_qlm_webhook_pg_retry_handler,
                                      pc, cycle->log);

        ngx_http_qlm_webhook_pg_connect(pc);
    }

    /* what the spool holds from before goes over once connected */

    ngx_add_timer(&pg->forward, NGX_HTTP_QLM_WEBHOOK_PG_BACKOFF);

    return NGX_OK;
}


void
ngx_http_qlm_webhook_pg_exit_process(ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_uint_t                       i;
    ngx_queue_t                     *q;
    ngx_http_qlm_webhook_pg_t       *pg;
    ngx_http_qlm_webhook_pg_req_t    *req;
    ngx_http_qlm_webhook_pg_conn_t   *pc;
    ngx_http_qlm_webhook_pg_batch_t  *b;
    ngx_event_t                      *events[5];

    pg = mcf->pg;

    if (pg == NULL) {
        return;
    }

    events[0] = &pg->forward;
    events[1] = &pg->claim;
    events[2] = &pg->flush;
    events[3] = &pg->mirror;
    events[4] = &pg->counters;

    pg->exiting = 1;

    /*
     * Leases held in PostgreSQL expire and other proxies take the items;
     * outcomes not sent yet are lost with them, and the deliveries made
     * again: at least once, as the issue of a killed worker.
     */

    for (i = 0; i < pg->nconns; i++) {
        pc = &pg->conns[i];

        ngx_http_qlm_webhook_pg_event_stop(&pc->retry);

        if (pc->req) {
            ngx_destroy_pool(pc->req->pool);
            pc->req = NULL;
        }

        if (pc->res) {
            PQclear(pc->res);
            pc->res = NULL;
        }

        ngx_http_qlm_webhook_pg_release(pc, 0);

        if (pc->conn) {
            PQfinish(pc->conn);
            pc->conn = NULL;
        }
    }

    while (!ngx_queue_empty(&pg->waiting)) {
        q = ngx_queue_head(&pg->waiting);
        ngx_queue_remove(q);
        req = ngx_queue_data(q, ngx_http_qlm_webhook_pg_req_t, queue);
        ngx_destroy_pool(req->pool);
    }

    while (!ngx_queue_empty(&pg->batches)) {
        q = ngx_queue_head(&pg->batches);
        ngx_queue_remove(q);
        b = ngx_queue_data(q, ngx_http_qlm_webhook_pg_batch_t, queue);
        ngx_destroy_pool(b->pool);
    }

    pg->current = NULL;

    for (i = 0; i < sizeof(events) / sizeof(ngx_event_t *); i++) {
        ngx_http_qlm_webhook_pg_event_stop(events[i]);
    }

    mcf->pg = NULL;
}


/* the poll of deliver.c: spooled events over, due deliveries claimed */

void
ngx_http_qlm_webhook_pg_kick(ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_http_qlm_webhook_pg_t  *pg;

    pg = mcf->pg;

    if (pg == NULL || pg->exiting) {
        return;
    }

    if (!pg->forward.posted) {
        ngx_post_event(&pg->forward, &ngx_posted_events);
    }

    if (!pg->claim.posted) {
        ngx_post_event(&pg->claim, &ngx_posted_events);
    }
}


/* a connection and its events */

static void
ngx_http_qlm_webhook_pg_connect(ngx_http_qlm_webhook_pg_conn_t *pc)
{
    const char                        *keys[4], *values[4];
    ngx_http_qlm_webhook_pg_t         *pg;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    pg = pc->pg;
    mcf = pg->mcf;

    /* the password never is in the connection string, nor in a log */

    keys[0] = "dbname";
    values[0] = (const char *) mcf->pg_conninfo.data;
    keys[1] = "application_name";
    values[1] = "nginx qlm webhook";
    keys[2] = mcf->pg_password.len ? "password" : NULL;
    values[2] = (const char *) mcf->pg_password.data;
    keys[3] = NULL;
    values[3] = NULL;

    pc->conn = PQconnectStartParams(keys, values, 1);

    if (pc->conn == NULL) {
        ngx_http_qlm_webhook_pg_close(pc, "out of memory");
        return;
    }

    if (PQstatus(pc->conn) == CONNECTION_BAD
        || PQsetnonblocking(pc->conn, 1) != 0)
    {
        ngx_http_qlm_webhook_pg_close(pc, PQerrorMessage(pc->conn));
        return;
    }

    pc->state = NGX_HTTP_QLM_WEBHOOK_PG_CONNECTING;

    /* libpq asks to be polled as if the socket were writable first */

    ngx_http_qlm_webhook_pg_connect_poll(pc);
}


static void
ngx_http_qlm_webhook_pg_retry_handler(ngx_event_t *ev)
{
    ngx_http_qlm_webhook_pg_conn_t  *pc;

    pc = ev->data;

    if (pc->pg->exiting || ngx_exiting) {
        return;
    }

    ngx_http_qlm_webhook_pg_connect(pc);
}


/* level-triggered, as for libcurl: libpq need not read a socket dry */

static ngx_int_t
ngx_http_qlm_webhook_pg_watch(ngx_http_qlm_webhook_pg_conn_t *pc,
    ngx_uint_t read, ngx_uint_t write)
{
    ngx_socket_t       fd;
    ngx_connection_t  *c;

    fd = PQsocket(pc->conn);

    if (fd == (ngx_socket_t) -1) {
        return NGX_ERROR;
    }

    /* libpq may move to another socket: the next address of a host */

    if (pc->c && pc->c->fd != fd) {
        ngx_http_qlm_webhook_pg_release(pc, 1);
    }

    c = pc->c;

    if (c == NULL) {
        c = ngx_get_connection(fd, pc->pg->log);
        if (c == NULL) {
            return NGX_ERROR;
        }

        c->data = pc;
        c->read->handler = ngx_http_qlm_webhook_pg_event_handler;
        c->write->handler = ngx_http_qlm_webhook_pg_event_handler;
        c->read->log = pc->pg->log;
        c->write->log = pc->pg->log;

        pc->c = c;
    }

    return ngx_http_qlm_webhook_watch(c, read, write);
}


/* libpq owns the socket: give back nginx's connection only */

static void
ngx_http_qlm_webhook_pg_release(ngx_http_qlm_webhook_pg_conn_t *pc,
    ngx_uint_t closed)
{
    if (pc->c) {
        ngx_http_qlm_webhook_unwatch(pc->c, closed);
        pc->c = NULL;
    }
}


/* a connection that failed: its statement fails, and it comes back later */

static void
ngx_http_qlm_webhook_pg_close(ngx_http_qlm_webhook_pg_conn_t *pc,
    const char *why)
{
    ngx_uint_t                      i, up;
    ngx_http_qlm_webhook_pg_t      *pg;
    ngx_http_qlm_webhook_pg_req_t  *req;

    pg = pc->pg;

    /* "why" is often PQerrorMessage(), freed with the connection */

    ngx_http_qlm_webhook_pg_failed(pg, "connection", why);

    /*
     * libpq closes its socket itself when the server goes away: epoll
     * forgot it then, and deleting its events would fail with EBADF
     */

    ngx_http_qlm_webhook_pg_release(pc, pc->c && (pc->conn == NULL
                                    || PQsocket(pc->conn) != pc->c->fd));

    if (pc->res) {
        PQclear(pc->res);
        pc->res = NULL;
    }

    if (pc->conn) {
        PQfinish(pc->conn);
        pc->conn = NULL;
    }

    pc->state = NGX_HTTP_QLM_WEBHOOK_PG_CLOSED;

    up = 0;

    for (i = 0; i < pg->nconns; i++) {
        if (pg->conns[i].state >= NGX_HTTP_QLM_WEBHOOK_PG_READY) {
            up = 1;
        }
    }

    pg->up = up;

    req = pc->req;
    pc->req = NULL;

    if (req) {
        req->handler(req, NULL);
        ngx_destroy_pool(req->pool);
    }

    /* with no connection left, what waits fails now rather than later */

    if (!pg->up) {
        while (!ngx_queue_empty(&pg->waiting)) {
            req = ngx_queue_data(ngx_queue_head(&pg->waiting),
                                 ngx_http_qlm_webhook_pg_req_t, queue);
            ngx_queue_remove(&req->queue);
            pg->nwaiting--;
            req->handler(req, NULL);
            ngx_destroy_pool(req->pool);
        }
    }

    if (pg->exiting || ngx_exiting) {
        return;
    }

    ngx_add_timer(&pc->retry, pc->backoff);

    pc->backoff = ngx_min(pc->backoff * 2,
                          NGX_HTTP_QLM_WEBHOOK_PG_BACKOFF_MAX);
}


/* errors said once every 10 s, with how many there were meanwhile */

static void
ngx_http_qlm_webhook_pg_failed(ngx_http_qlm_webhook_pg_t *pg,
    const char *what, const char *why)
{
    size_t  len;

    ngx_http_qlm_webhook_count(pg->mcf, NGX_HTTP_QLM_WEBHOOK_C_PG_ERRORS, 1);

    if (ngx_time() < pg->logged + NGX_HTTP_QLM_WEBHOOK_PG_LOGGED) {
        pg->failed++;
        return;
    }

    /* libpq's first line: its hints go on, tab-indented, on others */

    for (len = 0; why[len] && why[len] != '\n'; len++) { /* void */ }

    while (len && why[len - 1] == ' ') {
        len--;
    }

    ngx_log_error(NGX_LOG_ERR, pg->log, 0,
                  "qlm webhook: PostgreSQL %s failed: %*s; events are kept "
                  "in the local spool (%ui more failures since the last "
                  "such line)", what, len, why, pg->failed);

    pg->logged = ngx_time();
    pg->failed = 0;
}


static void
ngx_http_qlm_webhook_pg_event_handler(ngx_event_t *ev)
{
    int                              rc;
    PGresult                        *res;
    ngx_connection_t                *c;
    ngx_http_qlm_webhook_pg_conn_t  *pc;

    c = ev->data;
    pc = c->data;

    if (pc->state == NGX_HTTP_QLM_WEBHOOK_PG_CONNECTING) {

        if (ev->timedout) {
            ngx_http_qlm_webhook_pg_close(pc, "connecting timed out");
            return;
        }

        ngx_http_qlm_webhook_pg_connect_poll(pc);
        return;
    }

    if (ev->timedout) {
        ngx_http_qlm_webhook_pg_close(pc, "the statement timed out");
        return;
    }

    if (ev->write) {
        rc = PQflush(pc->conn);

        if (rc == -1) {
            ngx_http_qlm_webhook_pg_close(pc, PQerrorMessage(pc->conn));
            return;
        }

        if (rc == 0
            && ngx_http_qlm_webhook_pg_watch(pc, 1, 0) != NGX_OK)
        {
            ngx_http_qlm_webhook_pg_close(pc, "cannot watch the socket");
        }

        return;
    }

    if (!PQconsumeInput(pc->conn)) {
        ngx_http_qlm_webhook_pg_close(pc, PQerrorMessage(pc->conn));
        return;
    }

    if (pc->req == NULL) {
        /* an idle connection read: a notice, or the server going away */

        if (PQstatus(pc->conn) == CONNECTION_BAD) {
            ngx_http_qlm_webhook_pg_close(pc, PQerrorMessage(pc->conn));
        }

        return;
    }

    while (!PQisBusy(pc->conn)) {
        res = PQgetResult(pc->conn);

        if (res == NULL) {
            ngx_http_qlm_webhook_pg_done(pc);
            return;
        }

        if (pc->res) {
            PQclear(pc->res);
        }

        pc->res = res;
    }
}


static void
ngx_http_qlm_webhook_pg_connect_poll(ngx_http_qlm_webhook_pg_conn_t *pc)
{
    PostgresPollingStatusType  st;

    st = PQconnectPoll(pc->conn);

    switch (st) {

    case PGRES_POLLING_READING:
    case PGRES_POLLING_WRITING:

        if (ngx_http_qlm_webhook_pg_watch(pc, st == PGRES_POLLING_READING,
                                          st == PGRES_POLLING_WRITING)
            != NGX_OK)
        {
            ngx_http_qlm_webhook_pg_close(pc, "cannot watch the socket");
            return;
        }

        if (!pc->c->read->timer_set) {
            ngx_add_timer(pc->c->read, NGX_HTTP_QLM_WEBHOOK_PG_TIMEOUT);
        }

        return;

    case PGRES_POLLING_OK:

        if (ngx_http_qlm_webhook_pg_watch(pc, 1, 0) != NGX_OK) {
            ngx_http_qlm_webhook_pg_close(pc, "cannot watch the socket");
            return;
        }

        if (pc->c->read->timer_set) {
            ngx_del_timer(pc->c->read);
        }

        ngx_http_qlm_webhook_pg_setup(pc);
        return;

    default:
        ngx_http_qlm_webhook_pg_close(pc, PQerrorMessage(pc->conn));
        return;
    }
}


/* a new connection: the schema's version checked, the claim prepared */

static void
ngx_http_qlm_webhook_pg_setup(ngx_http_qlm_webhook_pg_conn_t *pc)
{
    ngx_http_qlm_webhook_pg_req_t  *req;

    pc->state = NGX_HTTP_QLM_WEBHOOK_PG_SETUP;

    req = ngx_http_qlm_webhook_pg_req(pc->pg, 0);
    if (req == NULL) {
        ngx_http_qlm_webhook_pg_close(pc, "out of memory");
        return;
    }

    req->sql = "SELECT value FROM qlm_meta WHERE name = 'schema_version'";
    req->handler = ngx_http_qlm_webhook_pg_checked;
    req->data = pc;

    if (ngx_http_qlm_webhook_pg_send(pc, req) != NGX_OK) {
        ngx_destroy_pool(req->pool);
        ngx_http_qlm_webhook_pg_close(pc, PQerrorMessage(pc->conn));
    }
}


static void
ngx_http_qlm_webhook_pg_checked(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res)
{
    ngx_int_t                        version;
    ngx_http_qlm_webhook_pg_conn_t  *pc;
    ngx_http_qlm_webhook_pg_req_t   *prep;

    pc = req->data;

    if (res == NULL) {
        /* no qlm_meta (said already), or the connection failed */

        if (pc->state == NGX_HTTP_QLM_WEBHOOK_PG_SETUP) {
            pc->backoff = NGX_HTTP_QLM_WEBHOOK_PG_BACKOFF_MAX;
            pc->state = NGX_HTTP_QLM_WEBHOOK_PG_CLOSED;
        }

        return;
    }

    version = (PQntuples(res) == 1)
              ? ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                         PQgetlength(res, 0, 0))
              : 0;

    if (version != QLM_PG_SCHEMA_VERSION) {
        ngx_log_error(NGX_LOG_ERR, pc->pg->log, 0,
                      "qlm webhook: the PostgreSQL schema is at version %i, "
                      "this module needs version %d: run \"qlm-store "
                      "--password-file FILE CONNINFO schema migrate\"",
                      version, QLM_PG_SCHEMA_VERSION);

        /* closed once this completion returns; tried again later */
        pc->backoff = NGX_HTTP_QLM_WEBHOOK_PG_BACKOFF_MAX;
        pc->state = NGX_HTTP_QLM_WEBHOOK_PG_CLOSED;
        return;
    }

    prep = ngx_http_qlm_webhook_pg_req(pc->pg, 0);
    if (prep == NULL) {
        pc->state = NGX_HTTP_QLM_WEBHOOK_PG_CLOSED;
        return;
    }

    prep->prepare = 1;
    prep->name = "qlm_claim";
    prep->sql = ngx_http_qlm_webhook_pg_claim_sql;
    prep->n = sizeof(ngx_http_qlm_webhook_pg_claim_types) / sizeof(Oid);
    prep->types = (Oid *) ngx_http_qlm_webhook_pg_claim_types;
    prep->handler = ngx_http_qlm_webhook_pg_prepared;
    prep->data = pc;

    /* sent once done() has taken this statement off the connection */

    pc->req = prep;
    pc->state = NGX_HTTP_QLM_WEBHOOK_PG_SETUP;
}


static void
ngx_http_qlm_webhook_pg_prepared(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res)
{
    ngx_http_qlm_webhook_pg_t       *pg;
    ngx_http_qlm_webhook_pg_conn_t  *pc;

    pc = req->data;
    pg = pc->pg;

    if (res == NULL) {
        if (pc->state == NGX_HTTP_QLM_WEBHOOK_PG_SETUP) {
            pc->state = NGX_HTTP_QLM_WEBHOOK_PG_CLOSED;
        }

        return;
    }

    pc->state = NGX_HTTP_QLM_WEBHOOK_PG_READY;
    pc->backoff = NGX_HTTP_QLM_WEBHOOK_PG_BACKOFF;

    if (!pg->up) {
        pg->up = 1;

        ngx_log_error(NGX_LOG_NOTICE, pg->log, 0,
                      "qlm webhook: connected to PostgreSQL at %s:%s, "
                      "database \"%s\"", PQhost(pc->conn), PQport(pc->conn),
                      PQdb(pc->conn));

        if (!pg->mcf->sched_event.posted && pg->mcf->sched_event.handler) {
            ngx_post_event(&pg->mcf->sched_event, &ngx_posted_events);
        }
    }

    ngx_http_qlm_webhook_pg_kick(pg->mcf);
}


static ngx_int_t
ngx_http_qlm_webhook_pg_send(ngx_http_qlm_webhook_pg_conn_t *pc,
    ngx_http_qlm_webhook_pg_req_t *req)
{
    int  rc;

    if (req->prepare) {
        rc = PQsendPrepare(pc->conn, req->name, req->sql, req->n,
                           req->types);

    } else if (req->name) {
        rc = PQsendQueryPrepared(pc->conn, req->name, req->n, req->values,
                                 req->lengths, req->formats, 1);

    } else {
        rc = PQsendQueryParams(pc->conn, req->sql, req->n, req->types,
                               req->values, req->lengths, req->formats, 1);
    }

    if (!rc) {
        return NGX_ERROR;
    }

    pc->req = req;

    if (pc->state == NGX_HTTP_QLM_WEBHOOK_PG_READY) {
        pc->state = NGX_HTTP_QLM_WEBHOOK_PG_BUSY;
    }

    rc = PQflush(pc->conn);

    if (rc == -1
        || ngx_http_qlm_webhook_pg_watch(pc, 1, rc == 1) != NGX_OK)
    {
        pc->req = NULL;
        return NGX_ERROR;
    }

    ngx_add_timer(pc->c->read, NGX_HTTP_QLM_WEBHOOK_PG_TIMEOUT);

    return NGX_OK;
}


/* a statement's results are in */

static void
ngx_http_qlm_webhook_pg_done(ngx_http_qlm_webhook_pg_conn_t *pc)
{
    PGresult                       *res;
    ExecStatusType                  st;
    ngx_http_qlm_webhook_pg_t      *pg;
    ngx_http_qlm_webhook_pg_req_t  *req, *next;

    pg = pc->pg;
    req = pc->req;
    res = pc->res;

    pc->req = NULL;
    pc->res = NULL;

    if (pc->c->read->timer_set) {
        ngx_del_timer(pc->c->read);
    }

    if (pc->state == NGX_HTTP_QLM_WEBHOOK_PG_BUSY) {
        pc->state = NGX_HTTP_QLM_WEBHOOK_PG_READY;
    }

    st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        ngx_http_qlm_webhook_pg_failed(pg, "statement",
                                       res ? PQresultErrorMessage(res)
                                           : "no result");
        if (res) {
            PQclear(res);
        }

        res = NULL;
    }

    req->handler(req, res);

    if (res) {
        PQclear(res);
    }

    ngx_destroy_pool(req->pool);

    /* setup goes on with the statement its step left, or ends */

    if (pc->state == NGX_HTTP_QLM_WEBHOOK_PG_SETUP && pc->req) {
        next = pc->req;
        pc->req = NULL;

        if (ngx_http_qlm_webhook_pg_send(pc, next) != NGX_OK) {
            ngx_destroy_pool(next->pool);
            ngx_http_qlm_webhook_pg_close(pc, PQerrorMessage(pc->conn));
        }

        return;
    }

    if (pc->state == NGX_HTTP_QLM_WEBHOOK_PG_CLOSED) {
        ngx_http_qlm_webhook_pg_close(pc, "the schema is not usable");
        return;
    }

    ngx_http_qlm_webhook_pg_dispatch(pg);
}


/* statements waiting go to connections that are free */

static void
ngx_http_qlm_webhook_pg_dispatch(ngx_http_qlm_webhook_pg_t *pg)
{
    ngx_uint_t                       i;
    ngx_http_qlm_webhook_pg_req_t   *req;
    ngx_http_qlm_webhook_pg_conn_t  *pc;

    for (i = 0; i < pg->nconns && !ngx_queue_empty(&pg->waiting); i++) {
        pc = &pg->conns[i];

        if (pc->state != NGX_HTTP_QLM_WEBHOOK_PG_READY) {
            continue;
        }

        req = ngx_queue_data(ngx_queue_head(&pg->waiting),
                             ngx_http_qlm_webhook_pg_req_t, queue);
        ngx_queue_remove(&req->queue);
        pg->nwaiting--;

        if (ngx_http_qlm_webhook_pg_send(pc, req) != NGX_OK) {
            /* the connection is broken: the statement goes back first */
            ngx_queue_insert_head(&pg->waiting, &req->queue);
            pg->nwaiting++;
            ngx_http_qlm_webhook_pg_close(pc, PQerrorMessage(pc->conn));
        }
    }
}


/*
 * For the module's other files: a statement made with pg_req() and its
 * parameters, sent; its handler is called once, with the result or NULL.
 * Without a PostgreSQL store, or none connected: at once, with NULL.
 */

void
ngx_http_qlm_webhook_pg_run(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_pg_req_t *req)
{
    ngx_http_qlm_webhook_pg_query(mcf->pg, req);
}


ngx_uint_t
ngx_http_qlm_webhook_pg_up(ngx_http_qlm_webhook_main_conf_t *mcf)
{
    return mcf->pg && mcf->pg->up && !mcf->pg->exiting;
}


static void
ngx_http_qlm_webhook_pg_query(ngx_http_qlm_webhook_pg_t *pg,
    ngx_http_qlm_webhook_pg_req_t *req)
{
    if (!pg->up) {
        req->handler(req, NULL);
        ngx_destroy_pool(req->pool);
        return;
    }

    ngx_queue_insert_tail(&pg->waiting, &req->queue);
    pg->nwaiting++;

    ngx_http_qlm_webhook_pg_dispatch(pg);
}


ngx_http_qlm_webhook_pg_req_t *
ngx_http_qlm_webhook_pg_req(ngx_http_qlm_webhook_pg_t *pg, int nparams)
{
    ngx_pool_t                     *pool;
    ngx_http_qlm_webhook_pg_req_t  *req;

    pool = ngx_create_pool(4096, pg->log);
    if (pool == NULL) {
        return NULL;
    }

    req = ngx_pcalloc(pool, sizeof(ngx_http_qlm_webhook_pg_req_t));
    if (req == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    req->pool = pool;
    req->pg = pg;

    if (nparams) {
        req->nalloc = nparams;
        req->types = ngx_palloc(pool, nparams * sizeof(Oid));
        req->values = ngx_palloc(pool, nparams * sizeof(char *));
        req->lengths = ngx_palloc(pool, nparams * sizeof(int));
        req->formats = ngx_palloc(pool, nparams * sizeof(int));

        if (req->types == NULL || req->values == NULL
            || req->lengths == NULL || req->formats == NULL)
        {
            ngx_destroy_pool(pool);
            return NULL;
        }
    }

    return req;
}


/* parameters in binary: integers in network order, text as it is */

ngx_int_t
ngx_http_qlm_webhook_pg_int8(ngx_http_qlm_webhook_pg_req_t *r, uint64_t v)
{
    u_char      *p;
    ngx_uint_t   i;

    p = ngx_palloc(r->pool, 8);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < 8; i++) {
        p[i] = (u_char) (v >> (56 - 8 * i));
    }

    return ngx_http_qlm_webhook_pg_bytes(r, NGX_HTTP_QLM_WEBHOOK_INT8OID,
                                         (char *) p, 8);
}


ngx_int_t
ngx_http_qlm_webhook_pg_int4(ngx_http_qlm_webhook_pg_req_t *r, int32_t v)
{
    u_char    *p;
    uint32_t   u;

    p = ngx_palloc(r->pool, 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    u = (uint32_t) v;
    p[0] = (u_char) (u >> 24);
    p[1] = (u_char) (u >> 16);
    p[2] = (u_char) (u >> 8);
    p[3] = (u_char) u;

    return ngx_http_qlm_webhook_pg_bytes(r, NGX_HTTP_QLM_WEBHOOK_INT4OID,
                                         (char *) p, 4);
}


ngx_int_t
ngx_http_qlm_webhook_pg_bytes(ngx_http_qlm_webhook_pg_req_t *r, Oid type,
    const char *data, size_t len)
{
    if (r->n == r->nalloc) {
        return NGX_ERROR;
    }

    r->types[r->n] = type;
    r->values[r->n] = data ? data : "";
    r->lengths[r->n] = (int) len;
    r->formats[r->n] = 1;
    r->n++;

    return NGX_OK;
}


/* a short C string in text format, typed by the statement's cast */

ngx_int_t
ngx_http_qlm_webhook_pg_text(ngx_http_qlm_webhook_pg_req_t *r,
    const char *value)
{
    if (r->n == r->nalloc) {
        return NGX_ERROR;
    }

    r->types[r->n] = 0;
    r->values[r->n] = value;
    r->lengths[r->n] = 0;
    r->formats[r->n] = 0;
    r->n++;

    return NGX_OK;
}


uint64_t
ngx_http_qlm_webhook_pg_get8(PGresult *res, int row, int col)
{
    u_char      *p;
    uint64_t     v;
    ngx_uint_t   i;

    if (PQgetlength(res, row, col) != 8) {
        return 0;
    }

    p = (u_char *) PQgetvalue(res, row, col);
    v = 0;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


uint16_t
ngx_http_qlm_webhook_pg_get2(PGresult *res, int row, int col)
{
    u_char  *p;

    if (PQgetlength(res, row, col) != 2) {
        return 0;
    }

    p = (u_char *) PQgetvalue(res, row, col);

    return (uint16_t) ((p[0] << 8) | p[1]);
}


uint32_t
ngx_http_qlm_webhook_pg_get4(PGresult *res, int row, int col)
{
    u_char  *p;

    if (PQgetlength(res, row, col) != 4) {
        return 0;
    }

    p = (u_char *) PQgetvalue(res, row, col);

    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | p[3];
}


/* libpq ends every value with a NUL, binary ones too */

void
ngx_http_qlm_webhook_pg_get_str(PGresult *res, int row, int col,
    qlm_store_str_t *s)
{
    s->data = PQgetvalue(res, row, col);
    s->len = PQgetlength(res, row, col);
}


/*
 * The forwarder: spooled deliveries claimed from the local store, sent as
 * one INSERT, acknowledged in the spool once PostgreSQL committed them.
 * A delivery forwarded twice (the worker died before its spool ack) is
 * one row: the event id and URL are unique.
 */

static void
ngx_http_qlm_webhook_pg_forward_handler(ngx_event_t *ev)
{
    int                                 rc;
    uint64_t                            now, due;
    qlm_store_item_t                  **items;
    ngx_pool_cleanup_t                 *cln;
    ngx_http_qlm_webhook_pg_t          *pg;
    ngx_http_qlm_webhook_pg_req_t      *req;
    ngx_http_qlm_webhook_main_conf_t   *mcf;
    ngx_http_qlm_webhook_pg_forward_t  *fw;
#if (NGX_THREADS)
    ngx_thread_pool_t                  *tp;
    ngx_thread_task_t                  *task;
#endif

    pg = ev->data;
    mcf = pg->mcf;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    /* a forward in flight looks again when it completes */

    if (pg->exiting || ngx_exiting || mcf->store == NULL || pg->forwarding) {
        return;
    }

    if (!pg->up) {
        /* a new connection kicks */
        ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    now = ngx_http_qlm_webhook_now();

    rc = qlm_store_next_due(mcf->store, &due);

    if (rc != 0 || due == 0 || due > now) {
        ngx_add_timer(ev, (rc == 0 && due)
                          ? ngx_min(due - now, NGX_HTTP_QLM_WEBHOOK_PG_POLL)
                          : NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    req = ngx_http_qlm_webhook_pg_req(pg, NGX_HTTP_QLM_WEBHOOK_PG_BATCH
                                          * NGX_HTTP_QLM_WEBHOOK_PG_FORWARD_N);
    if (req == NULL) {
        goto failed;
    }

    items = ngx_pcalloc(req->pool,
                        (NGX_HTTP_QLM_WEBHOOK_PG_BATCH + 1)
                        * sizeof(qlm_store_item_t *));
    if (items == NULL) {
        goto failed;
    }

    /* the items live as long as the statement, whatever becomes of it */

    cln = ngx_pool_cleanup_add(req->pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    fw = ngx_palloc(req->pool, sizeof(ngx_http_qlm_webhook_pg_forward_t));
    if (fw == NULL) {
        goto failed;
    }

    fw->pg = pg;
    fw->req = req;
    fw->items = items;
    fw->cln = cln;
    fw->now = now;
    fw->n = 0;
    fw->rc = 0;

#if (NGX_THREADS)

    /* the claim is a write: in the pool where the batch's commits go */

    tp = ngx_http_qlm_webhook_store_thread_pool(mcf, 1);

    if (tp) {
        task = ngx_thread_task_alloc(req->pool, 0);

        if (task) {
            task->ctx = fw;
            task->handler = ngx_http_qlm_webhook_pg_forward_thread;
            task->event.handler = ngx_http_qlm_webhook_pg_forward_thread_done;
            task->event.data = fw;
            task->event.log = ev->log;

            if (ngx_thread_task_post(tp, task) == NGX_OK) {
                pg->forwarding = 1;
                return;
            }
        }

        /* the pool's queue is full: the loop claims this once */
    }

#endif

    ngx_http_qlm_webhook_pg_forward_claim(fw);
    ngx_http_qlm_webhook_pg_forward_send(fw);

    return;

failed:

    if (req) {
        ngx_destroy_pool(req->pool);
    }

    ngx_http_qlm_webhook_pg_failed(pg, "forwarding", "out of memory");

    ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
}


/*
 * The spool's due rows, claimed; a mirror record whose event is already
 * among them goes back, for the next forward (see below).  In a thread,
 * or in the loop.
 */

static void
ngx_http_qlm_webhook_pg_forward_claim(ngx_http_qlm_webhook_pg_forward_t *fw)
{
    size_t              i, k, n;
    qlm_store_t        *st;
    qlm_store_item_t  **items;

    st = fw->pg->mcf->store;
    items = fw->items;

    fw->rc = qlm_store_claim(st, fw->now, NGX_HTTP_QLM_WEBHOOK_PG_SPOOL_LEASE,
                             items, NGX_HTTP_QLM_WEBHOOK_PG_BATCH, &n);

    if (fw->rc != 0 || n == 0) {
        fw->n = 0;
        return;
    }

    /*
     * A record twice in one statement would be a second change of its
     * row, which ON CONFLICT refuses: from there on, the next forward's
     */

    for (i = 0; i < n; i++) {
        if (items[i]->url.len) {
            continue;
        }

        for (k = 0; k < i; k++) {
            if (items[k]->url.len == 0
                && items[k]->headers.len == items[i]->headers.len
                && items[k]->event_id.len == items[i]->event_id.len
                && ngx_memcmp(items[k]->event_id.data,
                              items[i]->event_id.data,
                              items[i]->event_id.len) == 0
                && ngx_memcmp(items[k]->headers.data, items[i]->headers.data,
                              items[i]->headers.len) == 0)
            {
                break;
            }
        }

        if (k < i) {
            break;
        }
    }

    for (k = i; k < n; k++) {
        (void) qlm_store_unclaim(st, items[k]->id, items[k]->lease, fw->now);
        qlm_store_item_free(items[k]);
        items[k] = NULL;
    }

    fw->n = i;
}


#if (NGX_THREADS)

static void
ngx_http_qlm_webhook_pg_forward_thread(void *data, ngx_log_t *log)
{
    ngx_http_qlm_webhook_pg_forward_claim(data);
}


static void
ngx_http_qlm_webhook_pg_forward_thread_done(ngx_event_t *ev)
{
    ngx_http_qlm_webhook_pg_forward_t  *fw;

    fw = ev->data;
    fw->pg->forwarding = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "qlm webhook: postgresql: %uz spool rows claimed in a "
                   "thread", fw->n);

    ngx_http_qlm_webhook_pg_forward_send(fw);
}

#endif


/* the claimed rows to PostgreSQL, in one statement */

static void
ngx_http_qlm_webhook_pg_forward_send(ngx_http_qlm_webhook_pg_forward_t *fw)
{
    int                                rc;
    u_char                            *p;
    size_t                             i, n, len;
    uint64_t                           now;
    ngx_uint_t                         first, mirror;
    qlm_store_item_t                 **items, *it;
    ngx_http_qlm_webhook_pg_t         *pg;
    ngx_http_qlm_webhook_pg_req_t     *req;

    pg = fw->pg;
    req = fw->req;
    items = fw->items;
    now = fw->now;
    n = fw->n;

    /* what is claimed is freed with the statement, whatever becomes of it */

    if (fw->rc == 0) {
        fw->cln->handler = ngx_http_qlm_webhook_pg_items_free;
        fw->cln->data = items;
    }

    if (pg->exiting || ngx_exiting || fw->rc != 0 || n == 0) {

        /* exiting: the spool's leases expire, the rows go again later */

        rc = fw->rc;                /* fw is in the statement's pool */

        ngx_destroy_pool(req->pool);

        if (rc != 0) {
            ngx_http_qlm_webhook_pg_failed(pg, "spool claim",
                                           qlm_store_strerror(rc));
        }

        if (!pg->exiting && !ngx_exiting) {
            ngx_add_timer(&pg->forward, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        }

        return;
    }

    len = sizeof("WITH , SELECT 1")
          + sizeof(ngx_http_qlm_webhook_pg_forward_queue)
          + sizeof(ngx_http_qlm_webhook_pg_forward_mirror)
          + sizeof(ngx_http_qlm_webhook_pg_forward_merge)
          + sizeof(" ON CONFLICT (event_id, url) DO NOTHING)")
          + n * sizeof("($000,$000,$000,$000,$000,$000,$000,$000),");

    p = ngx_pnalloc(req->pool, len);
    if (p == NULL) {
        goto unclaim;
    }

    req->sql = (char *) p;
    p = ngx_cpymem(p, "WITH ", 5);
    first = 1;

    for (i = 0; i < n; i++) {
        it = items[i];

        if (it->url.len == 0) {
            continue;
        }

        if (first) {
            p = ngx_cpymem(p, ngx_http_qlm_webhook_pg_forward_queue,
                           sizeof(ngx_http_qlm_webhook_pg_forward_queue) - 1);
        }

        p = ngx_sprintf(p, "%s($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)",
                        first ? "" : ",", req->n + 1, req->n + 2,
                        req->n + 3, req->n + 4, req->n + 5, req->n + 6,
                        req->n + 7, req->n + 8);
        first = 0;

        if (ngx_http_qlm_webhook_pg_bytes(req, NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                          it->event_id.data,
                                          it->event_id.len) != NGX_OK
            || ngx_http_qlm_webhook_pg_bytes(req,
                                             NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                             it->event.data, it->event.len)
               != NGX_OK
            || ngx_http_qlm_webhook_pg_bytes(req,
                                             NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                             it->url.data, it->url.len)
               != NGX_OK
            || ngx_http_qlm_webhook_pg_bytes(req,
                                             NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                             it->headers.data,
                                             it->headers.len) != NGX_OK
            || ngx_http_qlm_webhook_pg_bytes(req,
                                             NGX_HTTP_QLM_WEBHOOK_BYTEAOID,
                                             it->body.data, it->body.len)
               != NGX_OK
            || ngx_http_qlm_webhook_pg_int8(req, now) != NGX_OK
            || ngx_http_qlm_webhook_pg_int8(req, it->created) != NGX_OK
            || ngx_http_qlm_webhook_pg_int8(req, now) != NGX_OK)
        {
            goto unclaim;
        }
    }

    if (!first) {
        p = ngx_cpymem(p, " ON CONFLICT (event_id, url) DO NOTHING)",
                       sizeof(" ON CONFLICT (event_id, url) DO NOTHING)")
                       - 1);
    }

    mirror = 0;

    for (i = 0; i < n; i++) {
        it = items[i];

        if (it->url.len) {
            continue;
        }

        if (mirror == 0) {
            p = ngx_cpymem(p, first ? "" : ", ", first ? 0 : 2);
            p = ngx_cpymem(p, ngx_http_qlm_webhook_pg_forward_mirror,
                           sizeof(ngx_http_qlm_webhook_pg_forward_mirror)
                           - 1);
        }

        /* the table is in headers: "licenses" or "customers" */

        p = ngx_sprintf(p, "%s($%d::int2,$%d,$%d::jsonb)",
                        mirror ? "," : "", req->n + 1, req->n + 2,
                        req->n + 3);
        mirror++;

        if (ngx_http_qlm_webhook_pg_text(req, (it->headers.len == 9)
                                              ? "1" : "0") != NGX_OK
            || ngx_http_qlm_webhook_pg_bytes(req,
                                             NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                             it->event_id.data,
                                             it->event_id.len) != NGX_OK
            || ngx_http_qlm_webhook_pg_bytes(req,
                                             NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                             it->body.data, it->body.len)
               != NGX_OK)
        {
            goto unclaim;
        }
    }

    if (mirror) {
        p = ngx_cpymem(p, ngx_http_qlm_webhook_pg_forward_merge,
                       sizeof(ngx_http_qlm_webhook_pg_forward_merge) - 1);
    }

    (void) ngx_cpymem(p, " SELECT 1", sizeof(" SELECT 1"));

    req->handler = ngx_http_qlm_webhook_pg_forwarded;
    req->data = items;

    pg->forwarding = 1;

    ngx_http_qlm_webhook_pg_query(pg, req);

    return;

unclaim:

    ngx_http_qlm_webhook_pg_spool(pg, items, n, now);

    ngx_destroy_pool(req->pool);

    ngx_http_qlm_webhook_pg_failed(pg, "forwarding", "out of memory");

    ngx_add_timer(&pg->forward, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
}


static void
ngx_http_qlm_webhook_pg_items_free(void *data)
{
    qlm_store_item_t  **items = data;

    ngx_uint_t  i;

    for (i = 0; items[i]; i++) {
        qlm_store_item_free(items[i]);
    }
}


static void
ngx_http_qlm_webhook_pg_forwarded(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res)
{
    size_t                             n;
    uint64_t                           due;
    qlm_store_item_t                 **items;
    ngx_http_qlm_webhook_pg_t         *pg;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    pg = req->pg;
    mcf = pg->mcf;
    items = req->data;

    pg->forwarding = 0;

    if (pg->exiting || mcf->store == NULL) {
        /* the spool's leases expire, and the rows are forwarded again */
        return;
    }

    for (n = 0; items[n]; n++) { /* void */ }

    if (res == NULL) {
        /* kept in the spool, due again after a pause */

        due = ngx_http_qlm_webhook_now() + NGX_HTTP_QLM_WEBHOOK_PG_POLL;

        ngx_http_qlm_webhook_pg_spool(pg, items, n, due);

        ngx_add_timer(&pg->forward, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    ngx_http_qlm_webhook_pg_spool(pg, items, n, 0);

    ngx_http_qlm_webhook_count(mcf, NGX_HTTP_QLM_WEBHOOK_C_PG_FORWARDED, n);

    ngx_http_qlm_webhook_pg_kick(mcf);
}


/*
 * The forwarder's acknowledgement of the rows PostgreSQL has (due 0), or
 * its unclaim of those it could not send (due, the next try): one
 * transaction in the spool, in nginx's thread pool where the batch's
 * commits go (sync=on: it is flushed), in the loop otherwise.  The rows'
 * ids and leases go with the task: the statement's pool is gone by then.
 */

static void
ngx_http_qlm_webhook_pg_spool(ngx_http_qlm_webhook_pg_t *pg,
    qlm_store_item_t **items, size_t n, uint64_t due)
{
    int                                 rc;
    size_t                              i;
    uint64_t                            ids[2 * NGX_HTTP_QLM_WEBHOOK_PG_BATCH];
#if (NGX_THREADS)
    ngx_thread_pool_t                  *tp;
    ngx_thread_task_t                  *task;
    ngx_http_qlm_webhook_pg_spool_t    *sp;
#endif

    if (n == 0) {
        return;
    }

    for (i = 0; i < n; i++) {
        ids[2 * i] = items[i]->id;
        ids[2 * i + 1] = items[i]->lease;
    }

#if (NGX_THREADS)

    tp = ngx_http_qlm_webhook_store_thread_pool(pg->mcf, 1);

    if (tp) {
        task = ngx_http_qlm_webhook_heap_task_alloc(
                                  sizeof(ngx_http_qlm_webhook_pg_spool_t)
                                  + 2 * n * sizeof(uint64_t),
                                  ngx_http_qlm_webhook_pg_spool_thread,
                                  ngx_http_qlm_webhook_pg_spool_thread_done);
        if (task) {
            sp = task->ctx;
            sp->pg = pg;
            sp->store = pg->mcf->store;
            sp->due = due;
            sp->n = n;
            ngx_memcpy(sp + 1, ids, 2 * n * sizeof(uint64_t));

            if (ngx_http_qlm_webhook_heap_task(tp, task) == NGX_OK) {
                return;
            }
        }

        /* the pool's queue is full: the loop writes this once */
    }

#endif

    rc = ngx_http_qlm_webhook_pg_spool_write(pg->mcf->store, ids, n, due);

    ngx_http_qlm_webhook_pg_spool_result(pg, rc, due);
}


static int
ngx_http_qlm_webhook_pg_spool_write(qlm_store_t *st, const uint64_t *ids,
    size_t n, uint64_t due)
{
    int                 rc;
    size_t              i;
    qlm_store_write_t  *w;

    rc = qlm_store_write_begin(st, &w);
    if (rc != 0) {
        return rc;
    }

    for (i = 0; i < n && rc == 0; i++) {
        rc = due ? qlm_store_write_unclaim(w, ids[2 * i], ids[2 * i + 1], due)
                 : qlm_store_write_ack(w, ids[2 * i], ids[2 * i + 1], NULL);

        /* a lease taken over (a long stall): the row is there already */
        if (rc == QLM_STORE_STALE || rc == QLM_STORE_NOTFOUND) {
            rc = 0;
        }
    }

    if (rc != 0) {
        qlm_store_write_abort(w);
        return rc;
    }

    return qlm_store_write_commit(w);
}


static void
ngx_http_qlm_webhook_pg_spool_result(ngx_http_qlm_webhook_pg_t *pg, int rc,
    uint64_t due)
{
    if (rc != 0) {
        /* forwarded again at the lease's expiry: one row all the same */
        ngx_http_qlm_webhook_pg_failed(pg, due ? "spool unclaim"
                                              : "spool acknowledgement",
                                       qlm_store_strerror(rc));
    }
}


#if (NGX_THREADS)

static void
ngx_http_qlm_webhook_pg_spool_thread(void *data, ngx_log_t *log)
{
    ngx_http_qlm_webhook_pg_spool_t  *sp = data;

    sp->rc = ngx_http_qlm_webhook_pg_spool_write(sp->store,
                                                 (uint64_t *) (sp + 1),
                                                 sp->n, sp->due);
}


static void
ngx_http_qlm_webhook_pg_spool_thread_done(ngx_event_t *ev)
{
    ngx_thread_task_t                *task;
    ngx_http_qlm_webhook_pg_spool_t  *sp;

    task = ev->data;
    sp = task->ctx;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "qlm webhook: postgresql: the spool's %s of %uz rows "
                   "written in a thread",
                   sp->due ? "unclaim" : "acknowledgement", sp->n);

    if (!sp->pg->exiting) {
        ngx_http_qlm_webhook_pg_spool_result(sp->pg, sp->rc, sp->due);
    }

    ngx_free(task);
}

#endif


/* the claim: as many due rows as this worker has room for */

static void
ngx_http_qlm_webhook_pg_claim_handler(ngx_event_t *ev)
{
    ngx_uint_t                         room;
    ngx_http_qlm_webhook_pg_t         *pg;
    ngx_http_qlm_webhook_pg_req_t     *req;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    pg = ev->data;
    mcf = pg->mcf;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    if (pg->exiting || ngx_exiting || !mcf->enable) {
        return;
    }

    /* rows forwarded since that claim was sent: one more at once */

    if (pg->claiming) {
        pg->claim_again = 1;
        return;
    }

    pg->claim_again = 0;

    if (!pg->up) {
        ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    room = ngx_http_qlm_webhook_deliver_room(mcf);

    if (room == 0) {
        /* a finished transfer kicks */
        ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    /* more rows than a receiver may take at once would come back */

    room = ngx_min(room, NGX_HTTP_QLM_WEBHOOK_PG_BATCH);
    room = ngx_min(room, mcf->url_concurrency);

    req = ngx_http_qlm_webhook_pg_req(pg, 5);
    if (req == NULL) {
        ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    pg->token++;

    if (ngx_http_qlm_webhook_pg_int8(req, pg->token) != NGX_OK
        || ngx_http_qlm_webhook_pg_bytes(req, NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                         (char *) mcf->pg_node.data,
                                         mcf->pg_node.len) != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, ngx_http_qlm_webhook_now())
           != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req,
                          ngx_http_qlm_webhook_deliver_lease_time(mcf))
           != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, room) != NGX_OK)
    {
        ngx_destroy_pool(req->pool);
        ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    req->name = "qlm_claim";
    req->handler = ngx_http_qlm_webhook_pg_claimed;
    req->data = (void *) (uintptr_t) room;

    pg->claiming = 1;

    ngx_http_qlm_webhook_pg_query(pg, req);
}


static void
ngx_http_qlm_webhook_pg_claimed(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res)
{
    int                                i, n;
    uint64_t                           now;
    ngx_uint_t                         max, nrefused;
    qlm_store_log_t                    none;
    qlm_store_item_t                  *items;
    ngx_http_qlm_webhook_pg_t         *pg;
    ngx_http_qlm_webhook_main_conf_t  *mcf;
    u_char                             refused[NGX_HTTP_QLM_WEBHOOK_PG_BATCH];

    pg = req->pg;
    mcf = pg->mcf;
    max = (ngx_uint_t) (uintptr_t) req->data;

    pg->claiming = 0;

    if (pg->exiting) {
        return;
    }

    if (res == NULL) {
        ngx_add_timer(&pg->claim, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    n = PQntuples(res);

    if (n > NGX_HTTP_QLM_WEBHOOK_PG_BATCH) {
        n = NGX_HTTP_QLM_WEBHOOK_PG_BATCH;
    }

    items = ngx_pcalloc(req->pool, (n + 1) * sizeof(qlm_store_item_t));
    if (items == NULL) {
        /* the leases expire, and the rows are claimed again */
        ngx_add_timer(&pg->claim, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    for (i = 0; i < n; i++) {
        items[i].id = ngx_http_qlm_webhook_pg_get8(res, i, 0);
        items[i].lease = ngx_http_qlm_webhook_pg_get8(res, i, 1);
        items[i].due = ngx_http_qlm_webhook_pg_get8(res, i, 2);
        items[i].created = ngx_http_qlm_webhook_pg_get8(res, i, 3);
        items[i].updated = ngx_http_qlm_webhook_pg_get8(res, i, 4);
        items[i].attempt = ngx_http_qlm_webhook_pg_get4(res, i, 5);
        items[i].last_status = (int32_t) ngx_http_qlm_webhook_pg_get4(res, i,
                                                                      6);
        ngx_http_qlm_webhook_pg_get_str(res, i, 7, &items[i].event_id);
        ngx_http_qlm_webhook_pg_get_str(res, i, 8, &items[i].event);
        ngx_http_qlm_webhook_pg_get_str(res, i, 9, &items[i].url);
        ngx_http_qlm_webhook_pg_get_str(res, i, 10, &items[i].headers);
        ngx_http_qlm_webhook_pg_get_str(res, i, 11, &items[i].body);
        ngx_http_qlm_webhook_pg_get_str(res, i, 12, &items[i].last_error);
    }

    /* the transfers copy what they need: res goes after this returns */

    ngx_memzero(refused, sizeof(refused));

    ngx_http_qlm_webhook_deliver_claimed(mcf, items, n, refused);

    now = ngx_http_qlm_webhook_now();
    ngx_memzero(&none, sizeof(qlm_store_log_t));

    nrefused = 0;

    for (i = 0; i < n; i++) {
        if (refused[i]) {
            nrefused++;
            (void) ngx_http_qlm_webhook_pg_result_add(pg,
                                    NGX_HTTP_QLM_WEBHOOK_OP_UNCLAIM,
                                    items[i].id, items[i].lease,
                                    now + NGX_HTTP_QLM_WEBHOOK_PG_REFUSED,
                                    items[i].attempt, 0, &none);
        }
    }

    /*
     * A receiver at its limit refuses the rows of a claim made at once
     * (each leased and given back: a write for nothing, and a second's
     * poll for the last ones): the next claim waits for a finished
     * delivery's outcome, which kicks, or for the refused to be due.
     */

    if (nrefused) {
        pg->refused = now + NGX_HTTP_QLM_WEBHOOK_PG_REFUSED;
        ngx_add_timer(&pg->claim, NGX_HTTP_QLM_WEBHOOK_PG_REFUSED);
        return;
    }

    /* more due, or rows forwarded meanwhile: next turn, after the rest */

    if (((ngx_uint_t) n == max || pg->claim_again)
        && ngx_http_qlm_webhook_deliver_room(mcf))
    {
        pg->claim_again = 0;
        ngx_post_event(&pg->claim, &ngx_posted_next_events);
        return;
    }

    /* rows given back are due soon: not a second's poll for them */

    ngx_add_timer(&pg->claim, (pg->refused > now)
                              ? (ngx_msec_t) (pg->refused - now)
                              : NGX_HTTP_QLM_WEBHOOK_PG_POLL);
}


/*
 * A mirror record as it travels to PostgreSQL: a spool item with no URL,
 * the record's key as its event id, its table in headers, and as body
 * {"updated":ms,"deleted":bool,"fields":{...}}.  A field whose value is
 * not UTF-8 (JSON cannot carry it), or a record whose key is not, stays in
 * the local mirror only: NGX_DECLINED.
 */

ngx_int_t
ngx_http_qlm_webhook_pg_mirror_item(ngx_pool_t *pool, int table,
    qlm_store_record_t *rec, qlm_store_item_t *item)
{
    char        *text;
    size_t       i, len;
    json_t      *o, *f, *v;
    ngx_str_t    s;
    ngx_int_t    rc;

    /*
     * A key that is not UTF-8 could not be a text column's: the record
     * stays in the local mirror, and no forward statement fails on it
     */

    v = json_stringn(rec->key.data, rec->key.len);
    if (v == NULL) {
        return NGX_DECLINED;
    }

    json_decref(v);

    o = json_object();
    f = json_object();

    if (o == NULL || f == NULL
        || json_object_set_new(o, "updated",
                               json_integer((json_int_t) rec->updated))
        || json_object_set_new(o, "deleted", json_boolean(rec->deleted)))
    {
        json_decref(f);
        json_decref(o);
        return NGX_ERROR;
    }

    for (i = 0; i < rec->nfields; i++) {
        v = json_stringn(rec->fields[i].value.data,
                         rec->fields[i].value.len);
        if (v == NULL) {
            continue;
        }

        if (json_object_setn_new(f, rec->fields[i].name.data,
                                 rec->fields[i].name.len, v))
        {
            continue;
        }
    }

    rc = NGX_ERROR;
    text = NULL;

    if (json_object_set_new(o, "fields", f) == 0) {
        text = json_dumps(o, JSON_COMPACT);
    }

    json_decref(o);

    if (text == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(text);

    s.len = len;
    s.data = (u_char *) text;

    item->body.data = (char *) ngx_pstrdup(pool, &s);
    item->body.len = len;

    free(text);

    s.len = rec->key.len;
    s.data = (u_char *) rec->key.data;

    item->event_id.data = (char *) ngx_pstrdup(pool, &s);
    item->event_id.len = rec->key.len;

    if (item->body.data && item->event_id.data) {
        item->due = ngx_http_qlm_webhook_now();
        item->created = item->due;
        item->event.data = ":mirror";
        item->event.len = sizeof(":mirror") - 1;
        item->url.data = "";
        item->url.len = 0;

        if (table == QLM_STORE_CUSTOMERS) {
            item->headers.data = "customers";
            item->headers.len = 9;

        } else {
            item->headers.data = "licenses";
            item->headers.len = 8;
        }

        rc = NGX_OK;
    }

    return rc;
}


/*
 * The copy: worker 0 of each instance reads qlm_mirror's changes in seq
 * order into its local mirror, where scheduled tasks scan and events that
 * carry the known record look.  A seq is taken when a change is written,
 * not when it commits: a change whose transaction commits after a later
 * one's would be skipped by a cursor past both.  So the cursor passes
 * only changes written a second ago ("settled"), and those after them are
 * copied now and again at the next step (copying is idempotent).
 */

static const char  ngx_http_qlm_webhook_pg_mirror_sql[] =
    "SELECT tbl, key, updated, deleted, fields::text, seq, "
    "written < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $2 "
    "FROM qlm_mirror WHERE seq > $1 ORDER BY seq LIMIT $3";


static void
ngx_http_qlm_webhook_pg_mirror_handler(ngx_event_t *ev)
{
    ngx_http_qlm_webhook_pg_t      *pg;
    ngx_http_qlm_webhook_pg_req_t  *req;

    pg = ev->data;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    if (pg->exiting || ngx_exiting || pg->pulling) {
        return;
    }

    if (!pg->up) {
        ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    req = ngx_http_qlm_webhook_pg_req(pg, 3);
    if (req == NULL
        || ngx_http_qlm_webhook_pg_int8(req, pg->mirror_seq) != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, NGX_HTTP_QLM_WEBHOOK_PG_SETTLED)
           != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, NGX_HTTP_QLM_WEBHOOK_PG_MIRROR)
           != NGX_OK)
    {
        if (req) {
            ngx_destroy_pool(req->pool);
        }

        ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    req->sql = ngx_http_qlm_webhook_pg_mirror_sql;
    req->handler = ngx_http_qlm_webhook_pg_mirror_pulled;

    pg->pulling = 1;

    ngx_http_qlm_webhook_pg_query(pg, req);
}


static void
ngx_http_qlm_webhook_pg_mirror_pulled(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res)
{
    int                                i, n, t;
    char                              *text;
    size_t                             k, nrecs;
    uint64_t                           seq, cursor;
    json_t                            *o, *v, **docs;
    const char                        *name;
    ngx_uint_t                         settled;
    qlm_store_field_t                 *fields;
    qlm_store_record_t                *recs;
    ngx_http_qlm_webhook_pg_t         *pg;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    pg = req->pg;
    mcf = pg->mcf;

    pg->pulling = 0;

    if (pg->exiting || mcf->store == NULL) {
        return;
    }

    if (res == NULL) {
        ngx_add_timer(&pg->mirror, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    n = PQntuples(res);

    recs = ngx_pcalloc(req->pool, (n + 1) * sizeof(qlm_store_record_t));
    docs = ngx_pcalloc(req->pool, (n + 1) * sizeof(json_t *));

    if (recs == NULL || docs == NULL) {
        ngx_add_timer(&pg->mirror, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    /* each table in its own write, in seq order */

    cursor = pg->mirror_seq;
    settled = 1;

    for (t = QLM_STORE_LICENSES; t <= QLM_STORE_CUSTOMERS; t++) {
        nrecs = 0;

        for (i = 0; i < n; i++) {
            if ((int) (ngx_http_qlm_webhook_pg_get2(res, i, 0)) != t) {
                continue;
            }

            text = PQgetvalue(res, i, 4);
            o = json_loads(text, 0, NULL);

            if (o == NULL || !json_is_object(o)) {
                json_decref(o);
                continue;
            }

            docs[i] = o;

            fields = ngx_palloc(req->pool, (json_object_size(o) + 1)
                                           * sizeof(qlm_store_field_t));
            if (fields == NULL) {
                continue;
            }

            k = 0;

            json_object_foreach(o, name, v) {
                if (!json_is_string(v)) {
                    continue;
                }

                fields[k].name.data = name;
                fields[k].name.len = ngx_strlen(name);
                fields[k].value.data = json_string_value(v);
                fields[k].value.len = json_string_length(v);
                k++;
            }

            ngx_http_qlm_webhook_pg_get_str(res, i, 1, &recs[nrecs].key);
            recs[nrecs].updated = ngx_http_qlm_webhook_pg_get8(res, i, 2);
            recs[nrecs].deleted = (PQgetlength(res, i, 3) == 1
                                   && PQgetvalue(res, i, 3)[0]);
            recs[nrecs].fields = fields;
            recs[nrecs].nfields = k;
            nrecs++;
        }

        if (nrecs) {
            ngx_http_qlm_webhook_pg_mirror_apply(pg, t, recs, nrecs);
        }
    }

    for (i = 0; i < n; i++) {
        if (docs[i]) {
            json_decref(docs[i]);
        }
    }

    for (i = 0; i < n && settled; i++) {
        seq = ngx_http_qlm_webhook_pg_get8(res, i, 5);
        settled = (PQgetlength(res, i, 6) == 1 && PQgetvalue(res, i, 6)[0]);

        if (settled) {
            cursor = seq;
        }
    }

    if (cursor != pg->mirror_seq) {
        if (qlm_store_counter_add(mcf->store, "postgresql_mirror_seq",
                                  cursor - pg->mirror_seq) == 0)
        {
            pg->mirror_seq = cursor;
        }
    }

    /* a full step that moved on: more at once, after the traffic */

    if (n == NGX_HTTP_QLM_WEBHOOK_PG_MIRROR && settled) {
        ngx_post_event(&pg->mirror, &ngx_posted_next_events);
        return;
    }

    ngx_add_timer(&pg->mirror, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
}


/* a record the local store refuses (too large, say) does not stop others */

static void
ngx_http_qlm_webhook_pg_mirror_apply(ngx_http_qlm_webhook_pg_t *pg,
    int table, qlm_store_record_t *recs, size_t n)
{
    int     rc;
    size_t  i;

    rc = qlm_store_mirror_upsert_batch(pg->mcf->store, table, recs, n);

    if (rc == QLM_STORE_INVALID) {
        for (i = 0; i < n; i++) {
            rc = qlm_store_mirror_upsert(pg->mcf->store, table, &recs[i]);

            if (rc != 0 && rc != QLM_STORE_INVALID) {
                break;
            }

            rc = 0;
        }
    }

    if (rc != 0) {
        ngx_http_qlm_webhook_pg_failed(pg, "copying the mirror",
                                       qlm_store_strerror(rc));
    }
}


/*
 * The status page's counters, summed over the fleet in qlm_counter: every
 * 10 s, worker 0 adds what grew since the last addition.  What qlm_counter
 * has is kept in the shared zone, so a new worker 0 (a crash, a reload)
 * adds nothing twice; pg_adding lets one worker add at a time, an old
 * worker 0 still running after a reload included, and frees itself after
 * a minute should its holder die.
 */

typedef struct {
    ngx_atomic_t                      *done;
    ngx_atomic_uint_t                  delta;
} ngx_http_qlm_webhook_pg_sum_t;


static const char  ngx_http_qlm_webhook_pg_counters_head[] =
    "INSERT INTO qlm_counter (name, value) VALUES ";

static const char  ngx_http_qlm_webhook_pg_counters_tail[] =
    " ON CONFLICT (name) DO UPDATE SET value = qlm_counter.value "
    "+ EXCLUDED.value";


static void
ngx_http_qlm_webhook_pg_counters_handler(ngx_event_t *ev)
{
    u_char                            *p, *name;
    time_t                             since;
    ngx_uint_t                         i, e, k, n, ncounters;
    ngx_str_t                         *events;
    ngx_atomic_uint_t                  delta;
    ngx_http_qlm_webhook_pg_t         *pg;
    ngx_http_qlm_webhook_pg_sum_t     *sums;
    ngx_http_qlm_webhook_pg_req_t     *req;
    ngx_http_qlm_webhook_shctx_t      *sh;

    pg = ev->data;
    sh = pg->mcf->sh;

    if (pg->exiting || ngx_exiting || sh == NULL) {
        return;
    }

    ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PG_COUNTERS);

    ngx_http_qlm_webhook_pg_trim(pg);

    since = (time_t) sh->pg_adding;

    if (!pg->up
        || (since && since > ngx_time() - 60)
        || !ngx_atomic_cmp_set(&sh->pg_adding, since, ngx_time()))
    {
        return;
    }

    ncounters = NGX_HTTP_QLM_WEBHOOK_NCOUNTERS
                + (NGX_HTTP_QLM_WEBHOOK_NEVENTS + 1)
                  * NGX_HTTP_QLM_WEBHOOK_ND;

    req = ngx_http_qlm_webhook_pg_req(pg, 2 * ncounters);
    if (req == NULL) {
        sh->pg_adding = 0;
        return;
    }

    sums = ngx_palloc(req->pool,
                      (ncounters + 1) * sizeof(ngx_http_qlm_webhook_pg_sum_t));
    p = ngx_pnalloc(req->pool,
                    sizeof(ngx_http_qlm_webhook_pg_counters_head)
                    + sizeof(ngx_http_qlm_webhook_pg_counters_tail)
                    + ncounters * sizeof(",($0000,$0000)"));

    if (sums == NULL || p == NULL) {
        goto failed;
    }

    req->sql = (char *) p;
    p = ngx_cpymem(p, ngx_http_qlm_webhook_pg_counters_head,
                   sizeof(ngx_http_qlm_webhook_pg_counters_head) - 1);

    events = ngx_http_qlm_webhook_event_names;
    n = 0;

    for (i = 0; i < ncounters; i++) {

        if (i < NGX_HTTP_QLM_WEBHOOK_NCOUNTERS) {
            sums[n].done = &sh->pg_counters[i];
            delta = sh->counters[i] - sh->pg_counters[i];

        } else {
            e = (i - NGX_HTTP_QLM_WEBHOOK_NCOUNTERS)
                / NGX_HTTP_QLM_WEBHOOK_ND;
            k = (i - NGX_HTTP_QLM_WEBHOOK_NCOUNTERS)
                % NGX_HTTP_QLM_WEBHOOK_ND;
            sums[n].done = &sh->pg_deliveries[e][k];
            delta = sh->deliveries[e][k] - sh->pg_deliveries[e][k];
        }

        if (delta == 0) {
            continue;
        }

        sums[n].delta = delta;

        /* "task_runs", or "license_activated.delivered" */

        if (i < NGX_HTTP_QLM_WEBHOOK_NCOUNTERS) {
            if (ngx_http_qlm_webhook_pg_text(req,
                                  ngx_http_qlm_webhook_counter_names[i])
                != NGX_OK)
            {
                goto failed;
            }

        } else {
            name = ngx_pcalloc(req->pool, 64);
            if (name == NULL) {
                goto failed;
            }

            (void) ngx_snprintf(name, 63, "%s.%s",
                                e < NGX_HTTP_QLM_WEBHOOK_NEVENTS
                                ? (char *) events[e].data : "scheduled_task",
                                ngx_http_qlm_webhook_outcomes[k]);

            if (ngx_http_qlm_webhook_pg_text(req, (char *) name) != NGX_OK) {
                goto failed;
            }
        }

        if (ngx_http_qlm_webhook_pg_int8(req, delta) != NGX_OK) {
            goto failed;
        }

        p = ngx_sprintf(p, "%s($%d,$%d)", n ? "," : "", req->n - 1, req->n);
        n++;
    }

    if (n == 0) {
        ngx_destroy_pool(req->pool);
        sh->pg_adding = 0;
        return;
    }

    (void) ngx_cpymem(p, ngx_http_qlm_webhook_pg_counters_tail,
                      sizeof(ngx_http_qlm_webhook_pg_counters_tail));

    sums[n].done = NULL;

    req->handler = ngx_http_qlm_webhook_pg_counters_added;
    req->data = sums;

    ngx_http_qlm_webhook_pg_query(pg, req);

    return;

failed:

    ngx_destroy_pool(req->pool);
    sh->pg_adding = 0;
}


static void
ngx_http_qlm_webhook_pg_counters_added(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res)
{
    ngx_uint_t                      i;
    ngx_http_qlm_webhook_pg_sum_t  *sums;
    ngx_http_qlm_webhook_shctx_t   *sh;

    sums = req->data;
    sh = req->pg->mcf->sh;

    if (res) {
        for (i = 0; sums[i].done; i++) {
            (void) ngx_atomic_fetch_add(sums[i].done, sums[i].delta);
        }
    }

    sh->pg_adding = 0;
}


/*
 * qlm_log keeps the newest 100,000 records of the fleet, as the LMDB store
 * keeps a proxy's: every 10 s worker 0 of each instance deletes the older
 * ones, 10,000 a statement, and goes on at once while a step was full.
 */

static const char  ngx_http_qlm_webhook_pg_trim_sql[] =
    "DELETE FROM qlm_log WHERE seq IN (SELECT seq FROM qlm_log "
    "WHERE seq <= (SELECT max(seq) FROM qlm_log) - $1 "
    "ORDER BY seq LIMIT $2)";


static void
ngx_http_qlm_webhook_pg_trim(ngx_http_qlm_webhook_pg_t *pg)
{
    ngx_http_qlm_webhook_pg_req_t  *req;

    if (pg->trimming || !pg->up || pg->exiting) {
        return;
    }

    req = ngx_http_qlm_webhook_pg_req(pg, 2);
    if (req == NULL) {
        return;
    }

    if (ngx_http_qlm_webhook_pg_int8(req, NGX_HTTP_QLM_WEBHOOK_PG_LOG_MAX)
        != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, NGX_HTTP_QLM_WEBHOOK_PG_TRIM)
           != NGX_OK)
    {
        ngx_destroy_pool(req->pool);
        return;
    }

    req->sql = ngx_http_qlm_webhook_pg_trim_sql;
    req->handler = ngx_http_qlm_webhook_pg_trimmed;

    pg->trimming = 1;

    ngx_http_qlm_webhook_pg_query(pg, req);
}


static void
ngx_http_qlm_webhook_pg_trimmed(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res)
{
    ngx_http_qlm_webhook_pg_t  *pg;

    pg = req->pg;
    pg->trimming = 0;

    if (res && ngx_atoi((u_char *) PQcmdTuples(res),
                        ngx_strlen(PQcmdTuples(res)))
               == NGX_HTTP_QLM_WEBHOOK_PG_TRIM)
    {
        ngx_http_qlm_webhook_pg_trim(pg);
    }
}


/*
 * A scheduled task's slot across the fleet: the first node to insert its
 * row runs it; the same node asking again (restarted mid-run) has it
 * still, to resume.  NGX_OK: this node runs the slot; NGX_DECLINED:
 * another does, or the answer is not in yet (the next tick asks again).
 */

#define NGX_HTTP_QLM_WEBHOOK_PG_SLOT_ASKING  1
#define NGX_HTTP_QLM_WEBHOOK_PG_SLOT_MINE    2
#define NGX_HTTP_QLM_WEBHOOK_PG_SLOT_OTHERS  3

static const char  ngx_http_qlm_webhook_pg_slot_sql[] =
    "INSERT INTO qlm_task_slot (task, slot, node, started) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT (task, slot) "
    "DO UPDATE SET node = EXCLUDED.node "
    "WHERE qlm_task_slot.node = EXCLUDED.node RETURNING node";


ngx_int_t
ngx_http_qlm_webhook_pg_task_slot(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_task_t *task, uint64_t slot)
{
    ngx_http_qlm_webhook_pg_t      *pg;
    ngx_http_qlm_webhook_pg_req_t  *req;

    pg = mcf->pg;

    if (task->pg_slot == slot) {
        return (task->pg_state == NGX_HTTP_QLM_WEBHOOK_PG_SLOT_MINE)
               ? NGX_OK : NGX_DECLINED;
    }

    if (pg == NULL || !pg->up) {
        return NGX_DECLINED;
    }

    req = ngx_http_qlm_webhook_pg_req(pg, 4);
    if (req == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_qlm_webhook_pg_bytes(req, NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                      (char *) task->name.data,
                                      task->name.len) != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, slot) != NGX_OK
        || ngx_http_qlm_webhook_pg_bytes(req, NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                         (char *) mcf->pg_node.data,
                                         mcf->pg_node.len) != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, ngx_http_qlm_webhook_now())
           != NGX_OK)
    {
        ngx_destroy_pool(req->pool);
        return NGX_DECLINED;
    }

    req->sql = ngx_http_qlm_webhook_pg_slot_sql;
    req->handler = ngx_http_qlm_webhook_pg_slot_done;
    req->data = task;

    task->pg_slot = slot;
    task->pg_state = NGX_HTTP_QLM_WEBHOOK_PG_SLOT_ASKING;

    ngx_http_qlm_webhook_pg_query(pg, req);

    return NGX_DECLINED;
}


static void
ngx_http_qlm_webhook_pg_slot_done(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res)
{
    ngx_http_qlm_webhook_task_t  *task;

    task = req->data;

    if (res == NULL) {
        /* asked again at the next tick */
        task->pg_slot = 0;
        task->pg_state = 0;
        return;
    }

    task->pg_state = (PQntuples(res) == 1)
                     ? NGX_HTTP_QLM_WEBHOOK_PG_SLOT_MINE
                     : NGX_HTTP_QLM_WEBHOOK_PG_SLOT_OTHERS;

    /* this node's: the run begins now rather than at the next tick */

    if (task->pg_state == NGX_HTTP_QLM_WEBHOOK_PG_SLOT_MINE
        && !req->pg->mcf->sched_event.posted
        && req->pg->mcf->sched_event.handler)
    {
        ngx_post_event(&req->pg->mcf->sched_event, &ngx_posted_events);
    }

    if (task->pg_state == NGX_HTTP_QLM_WEBHOOK_PG_SLOT_OTHERS) {
        ngx_log_error(NGX_LOG_INFO, req->pg->log, 0,
                      "qlm webhook: task \"%V\" runs on another node "
                      "of the fleet this time", &task->name);
    }
}


/* deliver.c's outcomes: sent with this turn's others in one statement */

ngx_int_t
ngx_http_qlm_webhook_pg_result(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_uint_t op, uint64_t id, uint64_t lease, uint64_t due,
    uint32_t attempt, int32_t status, qlm_store_log_t *log)
{
    return ngx_http_qlm_webhook_pg_result_add(mcf->pg, op, id, lease, due,
                                              attempt, status, log);
}


static ngx_int_t
ngx_http_qlm_webhook_pg_result_add(ngx_http_qlm_webhook_pg_t *pg,
    ngx_uint_t op, uint64_t id, uint64_t lease, uint64_t due,
    uint32_t attempt, int32_t status, qlm_store_log_t *log)
{
    ngx_str_t                          s;
    ngx_uint_t                         i;
    ngx_pool_t                        *pool;
    qlm_store_str_t                   *f[5];
    ngx_http_qlm_webhook_pg_batch_t   *b;
    ngx_http_qlm_webhook_pg_result_t  *r;

    if (pg == NULL || pg->exiting) {
        return NGX_ERROR;
    }

    b = pg->current;

    if (b == NULL || b->n == NGX_HTTP_QLM_WEBHOOK_PG_BATCH) {
        pool = ngx_create_pool(16384, pg->log);
        if (pool == NULL) {
            return NGX_ERROR;
        }

        b = ngx_palloc(pool, sizeof(ngx_http_qlm_webhook_pg_batch_t));
        if (b == NULL) {
            ngx_destroy_pool(pool);
            return NGX_ERROR;
        }

        b->pool = pool;
        b->n = 0;
        b->first = ngx_http_qlm_webhook_now();

        ngx_queue_insert_tail(&pg->batches, &b->queue);
        pg->current = b;
    }

    r = &b->results[b->n];

    r->op = op;
    r->id = id;
    r->lease = lease;
    r->due = due;
    r->attempt = attempt;
    r->status = status;
    r->log = *log;

    f[0] = &r->log.event_id;
    f[1] = &r->log.event;
    f[2] = &r->log.url;
    f[3] = &r->log.error;
    f[4] = &r->log.answer;

    for (i = 0; i < 5; i++) {
        s.len = f[i]->len;
        s.data = (u_char *) f[i]->data;

        f[i]->data = s.len ? (char *) ngx_pstrdup(b->pool, &s) : "";

        if (f[i]->data == NULL) {
            return NGX_ERROR;
        }
    }

    b->n++;

    if (!pg->flush.posted && !pg->flushing) {
        ngx_post_event(&pg->flush, &ngx_posted_events);
    }

    return NGX_OK;
}


/* the oldest batch of outcomes, in one statement */

static void
ngx_http_qlm_webhook_pg_flush_handler(ngx_event_t *ev)
{
    u_char                            *p;
    size_t                             len;
    uint64_t                           now;
    ngx_uint_t                         i, n;
    ngx_http_qlm_webhook_pg_t         *pg;
    ngx_http_qlm_webhook_pg_req_t     *req;
    ngx_http_qlm_webhook_pg_batch_t   *b;
    ngx_http_qlm_webhook_pg_result_t  *r;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    pg = ev->data;
    mcf = pg->mcf;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    if (pg->flushing || pg->exiting || ngx_queue_empty(&pg->batches)) {
        return;
    }

    b = ngx_queue_data(ngx_queue_head(&pg->batches),
                       ngx_http_qlm_webhook_pg_batch_t, queue);

    now = ngx_http_qlm_webhook_now();

    /* outcomes older than a lease: those rows are someone else's now */

    if (now - b->first > ngx_http_qlm_webhook_deliver_lease_time(mcf)) {
        ngx_http_qlm_webhook_pg_failed(pg, "recording outcomes",
                                       "the database was away for longer "
                                       "than a lease; those deliveries "
                                       "are made again");
        ngx_http_qlm_webhook_pg_batch_done(pg, b);
        return;
    }

    if (!pg->up) {
        ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    /* no more outcomes in a batch that is on its way */

    if (pg->current == b) {
        pg->current = NULL;
    }

    r = b->results;
    n = b->n;

    req = ngx_http_qlm_webhook_pg_req(pg,
                                 1 + n * NGX_HTTP_QLM_WEBHOOK_PG_RESULT_N);
    if (req == NULL) {
        ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    len = sizeof(ngx_http_qlm_webhook_pg_results_head)
          + sizeof(ngx_http_qlm_webhook_pg_results_tail)
          + n * (NGX_HTTP_QLM_WEBHOOK_PG_RESULT_N * sizeof("$0000,") + 4);

    p = ngx_pnalloc(req->pool, len);
    if (p == NULL) {
        goto failed;
    }

    req->sql = (char *) p;
    p = ngx_cpymem(p, ngx_http_qlm_webhook_pg_results_head,
                   sizeof(ngx_http_qlm_webhook_pg_results_head) - 1);

    if (ngx_http_qlm_webhook_pg_bytes(req, NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                      (char *) mcf->pg_node.data,
                                      mcf->pg_node.len) != NGX_OK)
    {
        goto failed;
    }

    for (i = 0; i < n; i++) {

        /* the parameters' types are the VALUES list's column types */

        p = ngx_sprintf(p, "%s($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,"
                        "$%d,$%d,$%d)", i ? "," : "",
                        req->n + 1, req->n + 2, req->n + 3, req->n + 4,
                        req->n + 5, req->n + 6, req->n + 7, req->n + 8,
                        req->n + 9, req->n + 10, req->n + 11, req->n + 12,
                        req->n + 13, req->n + 14);

        if (ngx_http_qlm_webhook_pg_int8(req, r[i].id) != NGX_OK
            || ngx_http_qlm_webhook_pg_int8(req, r[i].lease) != NGX_OK
            || ngx_http_qlm_webhook_pg_int4(req, (int32_t) r[i].op) != NGX_OK
            || ngx_http_qlm_webhook_pg_int8(req, r[i].due) != NGX_OK
            || ngx_http_qlm_webhook_pg_int4(req, (int32_t) r[i].attempt)
               != NGX_OK
            || ngx_http_qlm_webhook_pg_int4(req, r[i].status) != NGX_OK
            || ngx_http_qlm_webhook_pg_int4(req,
                                         (int32_t) r[i].log.duration)
               != NGX_OK
            || ngx_http_qlm_webhook_pg_int4(req, (int32_t) r[i].log.outcome)
               != NGX_OK
            || ngx_http_qlm_webhook_pg_int8(req,
                                         r[i].log.time ? r[i].log.time : now)
               != NGX_OK
            || ngx_http_qlm_webhook_pg_bytes(req,
                                         NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                         r[i].log.event_id.data,
                                         r[i].log.event_id.len) != NGX_OK
            || ngx_http_qlm_webhook_pg_bytes(req,
                                         NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                         r[i].log.event.data,
                                         r[i].log.event.len) != NGX_OK
            || ngx_http_qlm_webhook_pg_bytes(req,
                                         NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                         r[i].log.url.data,
                                         r[i].log.url.len) != NGX_OK
            || ngx_http_qlm_webhook_pg_bytes(req,
                                         NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                         r[i].log.error.data,
                                         r[i].log.error.len) != NGX_OK
            || ngx_http_qlm_webhook_pg_bytes(req,
                                         NGX_HTTP_QLM_WEBHOOK_BYTEAOID,
                                         r[i].log.answer.data,
                                         r[i].log.answer.len) != NGX_OK)
        {
            goto failed;
        }
    }

    (void) ngx_cpymem(p, ngx_http_qlm_webhook_pg_results_tail,
                      sizeof(ngx_http_qlm_webhook_pg_results_tail));

    req->handler = ngx_http_qlm_webhook_pg_flushed;
    req->data = b;

    pg->flushing = 1;

    ngx_http_qlm_webhook_pg_query(pg, req);

    return;

failed:

    ngx_destroy_pool(req->pool);
    ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
}


static void
ngx_http_qlm_webhook_pg_flushed(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res)
{
    ngx_http_qlm_webhook_pg_t  *pg;

    pg = req->pg;

    pg->flushing = 0;

    if (pg->exiting) {
        return;
    }

    if (res == NULL) {
        /* sent again once a connection is back, while the leases hold */
        ngx_add_timer(&pg->flush, NGX_HTTP_QLM_WEBHOOK_PG_POLL);
        return;
    }

    ngx_http_qlm_webhook_pg_batch_done(pg, req->data);

    /* room was made: more may be claimed */

    ngx_http_qlm_webhook_pg_kick(pg->mcf);
}


static void
ngx_http_qlm_webhook_pg_batch_done(ngx_http_qlm_webhook_pg_t *pg,
    ngx_http_qlm_webhook_pg_batch_t *b)
{
    if (pg->current == b) {
        pg->current = NULL;
    }

    ngx_queue_remove(&b->queue);
    ngx_destroy_pool(b->pool);

    if (!ngx_queue_empty(&pg->batches) && !pg->flush.posted) {
        ngx_post_event(&pg->flush, &ngx_posted_events);
    }
}
