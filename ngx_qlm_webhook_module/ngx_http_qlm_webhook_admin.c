
/*
 * ngx_qlm_webhook_module: the admin API, JSON in and out.
 *
 *   GET  .../log          the invocation log, filtered, newest first, paged
 *   GET  .../dead         dead letters, newest first, paged
 *   POST .../dead/ID/replay, .../dead/replay, .../recover?since=T
 *   POST .../test?event=E&url=U    a test event through the normal queue
 *
 * The location is guarded by nginx's own allow/deny and auth directives:
 * the handler trusts whoever reaches it.  Every request does bounded
 * work in one event-loop turn: a page reads at most ADMIN_EXAMINE records
 * and answers with a cursor to go on; a replay of many dead letters runs
 * in steps of ADMIN_STEP, each its own short write transaction, one step
 * a turn, and answers when it is done.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qlm_webhook_module.h"
#include "qlm_payload.h"


#define NGX_HTTP_QLM_WEBHOOK_ADMIN_LIMIT    100     /* records a page */
#define NGX_HTTP_QLM_WEBHOOK_ADMIN_MAX      1000
#define NGX_HTTP_QLM_WEBHOOK_ADMIN_EXAMINE  10000   /* read a request */
#define NGX_HTTP_QLM_WEBHOOK_ADMIN_STEP     256     /* replayed a step */
#define NGX_HTTP_QLM_WEBHOOK_ADMIN_STEP_READ  4096  /* read a step */
#define NGX_HTTP_QLM_WEBHOOK_ADMIN_PG_STEP  500     /* PostgreSQL: a step */
#define NGX_HTTP_QLM_WEBHOOK_ADMIN_PG_WAIT  1000    /* ms: for a connection */
#define NGX_HTTP_QLM_WEBHOOK_ADMIN_PG_POLL  100     /* ms */


typedef enum {
    NGX_HTTP_QLM_WEBHOOK_ADMIN_LOG = 0,
    NGX_HTTP_QLM_WEBHOOK_ADMIN_DEAD,
    NGX_HTTP_QLM_WEBHOOK_ADMIN_REPLAY_ONE,
    NGX_HTTP_QLM_WEBHOOK_ADMIN_REPLAY_ALL,
    NGX_HTTP_QLM_WEBHOOK_ADMIN_RECOVER,
    NGX_HTTP_QLM_WEBHOOK_ADMIN_PAUSE,
    NGX_HTTP_QLM_WEBHOOK_ADMIN_RESUME,
    NGX_HTTP_QLM_WEBHOOK_ADMIN_URLS,
    NGX_HTTP_QLM_WEBHOOK_ADMIN_TEST
} ngx_http_qlm_webhook_admin_e;


/* an answer in the making: a chain of buffers */
typedef struct {
    ngx_http_request_t                *r;
    ngx_chain_t                       *out;
    ngx_chain_t                      **last;
    ngx_buf_t                         *b;
    ngx_uint_t                         n;        /* records written */
    qlm_store_str_t                    node;     /* PostgreSQL: the log's */
    ngx_uint_t                         body:1;
    ngx_uint_t                         fleet:1;  /* PostgreSQL: with node */
    ngx_uint_t                         failed:1;
} ngx_http_qlm_webhook_admin_out_t;


/*
 * A write of the admin API: a replay of all or a recover (steps across
 * event-loop turns), one replay, a test event.  Its store call (run) goes
 * to nginx's thread pool where the loop's commits go there, so that no
 * flush of sync=on waits in the loop; its answer (end) is the loop's.
 */
typedef struct ngx_http_qlm_webhook_admin_job_s
    ngx_http_qlm_webhook_admin_job_t;

typedef void (*ngx_http_qlm_webhook_admin_job_pt)(
    ngx_http_qlm_webhook_admin_job_t *job);

struct ngx_http_qlm_webhook_admin_job_s {
    ngx_http_request_t                *r;
    ngx_http_qlm_webhook_main_conf_t  *mcf;
    ngx_event_t                        ev;
    ngx_http_qlm_webhook_admin_job_pt  run;      /* a thread's, or the loop's */
    ngx_http_qlm_webhook_admin_job_pt  end;      /* the loop's */
    char                              *what;     /* for the debug log */
    uint64_t                           since;
    uint64_t                           after;    /* the last id read */
    uint64_t                           replayed;
    ngx_uint_t                         steps;
    uint64_t                           id;       /* a replay of one */
    uint64_t                           n;        /* the step's */
    int                                rc;       /* the step's */
    unsigned                           more;     /* the step's */
    ngx_uint_t                         event;    /* a test's */
    ngx_str_t                          event_id;
    ngx_array_t                        targets;
    qlm_store_item_t                  *items;
    ngx_str_t                          url;      /* a pause's, as logged */
    ngx_uint_t                         pause;
    uint64_t                           now;
#if (NGX_THREADS)
    ngx_thread_task_t                 *task;
#endif
    ngx_uint_t                         recover:1;
};


/* PostgreSQL: a statement of the admin API, on the heap (see below) */
typedef struct {
    ngx_http_request_t                *r;        /* NULL: gone */
    ngx_pool_cleanup_t                *cln;      /* in r->pool */
    ngx_http_qlm_webhook_main_conf_t  *mcf;
    ngx_event_t                        ev;       /* a replay's next step */
    ngx_http_qlm_webhook_pg_req_t     *req;      /* waiting for a connection */
    ngx_msec_t                         waited;
    ngx_uint_t                         what;
    size_t                             limit;
    ngx_uint_t                         body;
    uint64_t                           id;
    uint64_t                           since;
    uint64_t                           after;    /* the last id read */
    uint64_t                           replayed;
    ngx_uint_t                         steps;
} ngx_http_qlm_webhook_admin_pg_t;


static ngx_int_t ngx_http_qlm_webhook_admin_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_qlm_webhook_admin_route(ngx_http_request_t *r,
    ngx_uint_t *what, uint64_t *id);
static ngx_int_t ngx_http_qlm_webhook_admin_log(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf);
static int ngx_http_qlm_webhook_admin_log_record(const qlm_store_log_t *rec,
    const qlm_store_log_key_t *key, void *data);
static ngx_int_t ngx_http_qlm_webhook_admin_dead(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf);
static int ngx_http_qlm_webhook_admin_dead_item(const qlm_store_item_t *item,
    void *data);
static ngx_int_t ngx_http_qlm_webhook_admin_replay_one(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, uint64_t id);
static ngx_int_t ngx_http_qlm_webhook_admin_replay(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t recover);
static void ngx_http_qlm_webhook_admin_replay_one_run(
    ngx_http_qlm_webhook_admin_job_t *job);
static void ngx_http_qlm_webhook_admin_replay_one_end(
    ngx_http_qlm_webhook_admin_job_t *job);
static ngx_http_qlm_webhook_admin_job_t *ngx_http_qlm_webhook_admin_job(
    ngx_http_request_t *r, ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_admin_job_pt run,
    ngx_http_qlm_webhook_admin_job_pt end);
static ngx_int_t ngx_http_qlm_webhook_admin_job_start(
    ngx_http_qlm_webhook_admin_job_t *job);
static void ngx_http_qlm_webhook_admin_job_handler(ngx_event_t *ev);
#if (NGX_THREADS)
static void ngx_http_qlm_webhook_admin_job_thread(void *data,
    ngx_log_t *log);
static void ngx_http_qlm_webhook_admin_job_thread_done(ngx_event_t *ev);
#endif
static void ngx_http_qlm_webhook_admin_step_run(
    ngx_http_qlm_webhook_admin_job_t *job);
static void ngx_http_qlm_webhook_admin_step_end(
    ngx_http_qlm_webhook_admin_job_t *job);
static void ngx_http_qlm_webhook_admin_job_cleanup(void *data);
static ngx_int_t ngx_http_qlm_webhook_admin_replayed(ngx_http_request_t *r,
    uint64_t n);
static ngx_int_t ngx_http_qlm_webhook_admin_pg_log(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_log_filter_t *f,
    ngx_str_t *url, qlm_store_log_key_t *after);
static ngx_int_t ngx_http_qlm_webhook_admin_pg_dead(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, uint64_t after, size_t limit,
    ngx_uint_t body);
static ngx_int_t ngx_http_qlm_webhook_admin_pg_replay(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t what, uint64_t id,
    uint64_t since);
static ngx_http_qlm_webhook_pg_req_t *ngx_http_qlm_webhook_admin_pg_step_req(
    ngx_http_qlm_webhook_admin_pg_t *job);
static ngx_int_t ngx_http_qlm_webhook_admin_pg_str(
    ngx_http_qlm_webhook_pg_req_t *req, u_char *data, size_t len);
static ngx_http_qlm_webhook_admin_pg_t *ngx_http_qlm_webhook_admin_pg_job(
    ngx_http_request_t *r, ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_uint_t what);
static ngx_int_t ngx_http_qlm_webhook_admin_pg_start(
    ngx_http_qlm_webhook_admin_pg_t *job, ngx_http_qlm_webhook_pg_req_t *req);
static void ngx_http_qlm_webhook_admin_pg_done(
    ngx_http_qlm_webhook_pg_req_t *req, PGresult *res);
static ngx_int_t ngx_http_qlm_webhook_admin_pg_log_page(
    ngx_http_qlm_webhook_admin_pg_t *job, PGresult *res);
static ngx_int_t ngx_http_qlm_webhook_admin_pg_dead_page(
    ngx_http_qlm_webhook_admin_pg_t *job, PGresult *res);
static ngx_int_t ngx_http_qlm_webhook_admin_pg_replayed_one(
    ngx_http_qlm_webhook_admin_pg_t *job, PGresult *res);
static ngx_int_t ngx_http_qlm_webhook_admin_pg_stepped(
    ngx_http_qlm_webhook_admin_pg_t *job, PGresult *res);
static void ngx_http_qlm_webhook_admin_pg_send(
    ngx_http_qlm_webhook_admin_pg_t *job, ngx_http_qlm_webhook_pg_req_t *req);
static void ngx_http_qlm_webhook_admin_pg_next(ngx_event_t *ev);
static void ngx_http_qlm_webhook_admin_pg_finish(
    ngx_http_qlm_webhook_admin_pg_t *job, ngx_int_t rc);
static void ngx_http_qlm_webhook_admin_pg_free(
    ngx_http_qlm_webhook_admin_pg_t *job);
static void ngx_http_qlm_webhook_admin_pg_cleanup(void *data);
static ngx_int_t ngx_http_qlm_webhook_admin_pause(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t pause);
static void ngx_http_qlm_webhook_admin_pause_run(
    ngx_http_qlm_webhook_admin_job_t *job);
static void ngx_http_qlm_webhook_admin_pause_end(
    ngx_http_qlm_webhook_admin_job_t *job);
static ngx_int_t ngx_http_qlm_webhook_admin_urls(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf);
static int ngx_http_qlm_webhook_admin_paused(const qlm_store_paused_t *p,
    void *data);
static ngx_int_t ngx_http_qlm_webhook_admin_url(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_url_t *u,
    void *data);
static ngx_int_t ngx_http_qlm_webhook_admin_test(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf);
static void ngx_http_qlm_webhook_admin_test_run(
    ngx_http_qlm_webhook_admin_job_t *job);
static void ngx_http_qlm_webhook_admin_test_end(
    ngx_http_qlm_webhook_admin_job_t *job);
static ngx_int_t ngx_http_qlm_webhook_admin_target(ngx_array_t *targets,
    ngx_http_qlm_webhook_url_t *u);
static ngx_int_t ngx_http_qlm_webhook_admin_test_body(ngx_pool_t *pool,
    ngx_uint_t event, ngx_str_t *event_id, ngx_str_t *body);

static ngx_int_t ngx_http_qlm_webhook_admin_arg(ngx_http_request_t *r,
    char *name, ngx_str_t *value);
static ngx_int_t ngx_http_qlm_webhook_admin_number(ngx_str_t *v,
    uint64_t *n);
static ngx_int_t ngx_http_qlm_webhook_admin_limit(ngx_http_request_t *r,
    size_t *limit);
static ngx_int_t ngx_http_qlm_webhook_admin_time(ngx_str_t *v, uint64_t now,
    uint64_t *ms);
static void ngx_http_qlm_webhook_admin_log_url(ngx_pool_t *pool,
    ngx_str_t *url, ngx_str_t *log_url);

static u_char *ngx_http_qlm_webhook_admin_reserve(
    ngx_http_qlm_webhook_admin_out_t *o, size_t size);
static void ngx_http_qlm_webhook_admin_printf(
    ngx_http_qlm_webhook_admin_out_t *o, size_t size, const char *fmt, ...);
static void ngx_http_qlm_webhook_admin_string(
    ngx_http_qlm_webhook_admin_out_t *o, const char *data, size_t len);
static void ngx_http_qlm_webhook_admin_time_iso(
    ngx_http_qlm_webhook_admin_out_t *o, const char *name, uint64_t ms);
static ngx_int_t ngx_http_qlm_webhook_admin_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_http_qlm_webhook_admin_out_t *o);
static ngx_int_t ngx_http_qlm_webhook_admin_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *fmt, ...);


static char  *ngx_http_qlm_webhook_admin_outcomes[] = {
    "", "delivered", "retry", "dead"
};


/* PostgreSQL: said once when it stops answering, until it answers again */
static ngx_uint_t  ngx_http_qlm_webhook_admin_pg_down;


/*
 * The log's filters as the LMDB store applies them, newest first, from
 * the cursor "time-seq" on; one row more than the page says if there is
 * a next one.
 */

static const char  ngx_http_qlm_webhook_admin_pg_log_sql[] =
    "SELECT seq, time, item_id, attempt, status, duration, outcome, "
    "event_id, event, url, error, answer, node FROM qlm_log "
    "WHERE time >= $1 AND ($2 = 0 OR time < $2) "
    "AND ($3 = '' OR event = $3) AND ($4 = '' OR event_id = $4) "
    "AND ($5 = '' OR url = $5) AND ($6 = 0 OR outcome = $6) "
    "AND ($7 = 0 OR (time, seq) < ($7, $8)) "
    "ORDER BY time DESC, seq DESC LIMIT $9";

static const char  ngx_http_qlm_webhook_admin_pg_dead_sql[] =
    "SELECT id, created, updated, attempt, last_status, last_error, event, "
    "event_id, url, CASE WHEN $3 = 1 THEN body ELSE ''::bytea END "
    "FROM qlm_dead WHERE ($1 = 0 OR id < $1) ORDER BY id DESC LIMIT $2";

/*
 * Back to qlm_queue under the same id, due now, attempt 0, status and
 * error kept, as qlm-store does; a dead letter whose event is queued
 * again for its URL stays (the queue's unique key).  The counts of the
 * last two columns are of the statement's snapshot: before the move.
 */

static const char  ngx_http_qlm_webhook_admin_pg_replay_one_sql[] =
    "WITH p AS (SELECT x.id FROM qlm_dead x WHERE x.id = $1 "
    "AND NOT EXISTS (SELECT 1 FROM qlm_queue q "
    "WHERE q.event_id = x.event_id AND q.url = x.url)), "
    "d AS (DELETE FROM qlm_dead WHERE id IN (SELECT id FROM p) "
    "RETURNING *), "
    "i AS (INSERT INTO qlm_queue (id, event_id, event, url, headers, body, "
    "due, lease, node, attempt, last_status, last_error, created, updated) "
    "SELECT id, event_id, event, url, headers, body, $2, 0, '', 0, "
    "last_status, last_error, created, $2 FROM d RETURNING id) "
    "SELECT (SELECT count(*) FROM i), "
    "(SELECT count(*) FROM qlm_dead WHERE id = $1), "
    "(SELECT count(*) FROM qlm_queue WHERE id = $1)";

/* a step: the next dead letters by id, those that died since $2 moved */

static const char  ngx_http_qlm_webhook_admin_pg_replay_sql[] =
    "WITH s AS (SELECT id FROM qlm_dead WHERE id > $1 ORDER BY id "
    "LIMIT $4), "
    "p AS (SELECT DISTINCT ON (x.event_id, x.url) x.id FROM qlm_dead x "
    "WHERE x.id IN (SELECT id FROM s) AND x.updated >= $2 "
    "AND NOT EXISTS (SELECT 1 FROM qlm_queue q "
    "WHERE q.event_id = x.event_id AND q.url = x.url) "
    "ORDER BY x.event_id, x.url, x.id DESC), "
    "d AS (DELETE FROM qlm_dead WHERE id IN (SELECT id FROM p) "
    "RETURNING *), "
    "i AS (INSERT INTO qlm_queue (id, event_id, event, url, headers, body, "
    "due, lease, node, attempt, last_status, last_error, created, updated) "
    "SELECT id, event_id, event, url, headers, body, $3, 0, '', 0, "
    "last_status, last_error, created, $3 FROM d RETURNING id) "
    "SELECT (SELECT count(*) FROM i), "
    "(SELECT coalesce(max(id), 0) FROM s), (SELECT count(*) FROM s)";


char *
ngx_http_qlm_webhook_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_qlm_webhook_admin_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_qlm_webhook_admin_handler;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qlm_webhook_module);
    mcf->store_used = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_qlm_webhook_admin_handler(ngx_http_request_t *r)
{
    uint64_t                           id;
    ngx_int_t                          rc;
    ngx_uint_t                         what, read;
    ngx_table_elt_t                   *h;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    id = 0;

    if (ngx_http_qlm_webhook_admin_route(r, &what, &id) != NGX_OK) {
        return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_NOT_FOUND,
                                                "no such endpoint");
    }

    read = (what == NGX_HTTP_QLM_WEBHOOK_ADMIN_LOG
            || what == NGX_HTTP_QLM_WEBHOOK_ADMIN_DEAD
            || what == NGX_HTTP_QLM_WEBHOOK_ADMIN_URLS);

    if (!(r->method & (read ? (NGX_HTTP_GET|NGX_HTTP_HEAD) : NGX_HTTP_POST)))
    {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");

        if (read) {
            ngx_str_set(&h->value, "GET, HEAD");

        } else {
            ngx_str_set(&h->value, "POST");
        }

        return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_NOT_ALLOWED,
                                                read ? "use GET"
                                                     : "use POST");
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_qlm_webhook_module);

    if (mcf->store == NULL) {
        return ngx_http_qlm_webhook_admin_error(r,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           "the store is not open");
    }

    switch (what) {

    case NGX_HTTP_QLM_WEBHOOK_ADMIN_LOG:
        return ngx_http_qlm_webhook_admin_log(r, mcf);

    case NGX_HTTP_QLM_WEBHOOK_ADMIN_DEAD:
        return ngx_http_qlm_webhook_admin_dead(r, mcf);

    case NGX_HTTP_QLM_WEBHOOK_ADMIN_REPLAY_ONE:
        return ngx_http_qlm_webhook_admin_replay_one(r, mcf, id);

    case NGX_HTTP_QLM_WEBHOOK_ADMIN_REPLAY_ALL:
        return ngx_http_qlm_webhook_admin_replay(r, mcf, 0);

    case NGX_HTTP_QLM_WEBHOOK_ADMIN_RECOVER:
        return ngx_http_qlm_webhook_admin_replay(r, mcf, 1);

    case NGX_HTTP_QLM_WEBHOOK_ADMIN_PAUSE:
    case NGX_HTTP_QLM_WEBHOOK_ADMIN_RESUME:
        return ngx_http_qlm_webhook_admin_pause(r, mcf,
                                     what == NGX_HTTP_QLM_WEBHOOK_ADMIN_PAUSE);

    case NGX_HTTP_QLM_WEBHOOK_ADMIN_URLS:
        return ngx_http_qlm_webhook_admin_urls(r, mcf);

    default: /* NGX_HTTP_QLM_WEBHOOK_ADMIN_TEST */
        return ngx_http_qlm_webhook_admin_test(r, mcf);
    }
}


/*
 * The endpoint is the part of the URI after a prefix location's name:
 * "log", "dead", "dead/ID/replay", "dead/replay", "recover", "test",
 * "urls/pause", "urls/resume".
 */

static ngx_int_t
ngx_http_qlm_webhook_admin_route(ngx_http_request_t *r, ngx_uint_t *what,
    uint64_t *id)
{
    u_char                    *p, *last, *seg[4];
    size_t                     len[4];
    ngx_str_t                  s;
    ngx_uint_t                 n;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->uri.data;
    last = r->uri.data + r->uri.len;

    if (
#if (NGX_PCRE)
        clcf->regex == NULL &&
#endif
        !clcf->exact_match
        && r->uri.len >= clcf->name.len
        && ngx_strncmp(r->uri.data, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;
    }

    /* up to three segments, empty ones skipped */

    n = 0;

    while (p < last) {
        if (*p == '/') {
            p++;
            continue;
        }

        if (n == 3) {
            return NGX_DECLINED;
        }

        seg[n] = p;

        while (p < last && *p != '/') {
            p++;
        }

        len[n] = p - seg[n];
        n++;
    }

#define ngx_qlm_seg(i, text)                                                  \
    (len[i] == sizeof(text) - 1                                               \
     && ngx_strncmp(seg[i], text, sizeof(text) - 1) == 0)

    if (n == 1 && ngx_qlm_seg(0, "log")) {
        *what = NGX_HTTP_QLM_WEBHOOK_ADMIN_LOG;

    } else if (n == 1 && ngx_qlm_seg(0, "dead")) {
        *what = NGX_HTTP_QLM_WEBHOOK_ADMIN_DEAD;

    } else if (n == 2 && ngx_qlm_seg(0, "dead") && ngx_qlm_seg(1, "replay"))
    {
        *what = NGX_HTTP_QLM_WEBHOOK_ADMIN_REPLAY_ALL;

    } else if (n == 3 && ngx_qlm_seg(0, "dead") && ngx_qlm_seg(2, "replay"))
    {
        s.data = seg[1];
        s.len = len[1];

        if (ngx_http_qlm_webhook_admin_number(&s, id) != NGX_OK || *id == 0)
        {
            return NGX_DECLINED;
        }

        *what = NGX_HTTP_QLM_WEBHOOK_ADMIN_REPLAY_ONE;

    } else if (n == 1 && ngx_qlm_seg(0, "recover")) {
        *what = NGX_HTTP_QLM_WEBHOOK_ADMIN_RECOVER;

    } else if (n == 1 && ngx_qlm_seg(0, "test")) {
        *what = NGX_HTTP_QLM_WEBHOOK_ADMIN_TEST;

    } else if (n == 1 && ngx_qlm_seg(0, "urls")) {
        *what = NGX_HTTP_QLM_WEBHOOK_ADMIN_URLS;

    } else if (n == 2 && ngx_qlm_seg(0, "urls") && ngx_qlm_seg(1, "pause")) {
        *what = NGX_HTTP_QLM_WEBHOOK_ADMIN_PAUSE;

    } else if (n == 2 && ngx_qlm_seg(0, "urls") && ngx_qlm_seg(1, "resume"))
    {
        *what = NGX_HTTP_QLM_WEBHOOK_ADMIN_RESUME;

    } else {
        return NGX_DECLINED;
    }

#undef ngx_qlm_seg

    return NGX_OK;
}


/* GET log?event=&event_id=&url=&outcome=&since=&until=&limit=&after= */

static ngx_int_t
ngx_http_qlm_webhook_admin_log(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    int                                rc;
    u_char                            *dash;
    uint64_t                           now;
    unsigned                           more;
    ngx_str_t                          v, url;
    qlm_store_str_t                    surl;
    qlm_store_log_key_t                after, last;
    qlm_store_log_filter_t             f;
    ngx_http_qlm_webhook_admin_out_t   o;

    ngx_memzero(&f, sizeof(qlm_store_log_filter_t));
    ngx_memzero(&after, sizeof(qlm_store_log_key_t));
    ngx_str_null(&url);

    f.newest_first = 1;
    now = ngx_http_qlm_webhook_now();

    if (ngx_http_qlm_webhook_admin_arg(r, "event", &v) == NGX_OK) {
        f.event.data = (char *) v.data;
        f.event.len = v.len;
    }

    if (ngx_http_qlm_webhook_admin_arg(r, "event_id", &v) == NGX_OK) {
        f.event_id.data = (char *) v.data;
        f.event_id.len = v.len;
    }

    /* the log keeps URLs without credentials: compare in that form */

    if (ngx_http_qlm_webhook_admin_arg(r, "url", &v) == NGX_OK) {
        ngx_http_qlm_webhook_admin_log_url(r->pool, &v, &url);
    }

    if (ngx_http_qlm_webhook_admin_arg(r, "outcome", &v) == NGX_OK) {
        for (f.outcome = QLM_STORE_DELIVERED;
             f.outcome <= QLM_STORE_DEAD;
             f.outcome++)
        {
            if (v.len == ngx_strlen(
                             ngx_http_qlm_webhook_admin_outcomes[f.outcome])
                && ngx_strncmp(v.data,
                               ngx_http_qlm_webhook_admin_outcomes[f.outcome],
                               v.len)
                   == 0)
            {
                break;
            }
        }

        if (f.outcome > QLM_STORE_DEAD) {
            return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                       "outcome must be \\\"delivered\\\", \\\"retry\\\" "
                       "or \\\"dead\\\"");
        }
    }

    if (ngx_http_qlm_webhook_admin_arg(r, "since", &v) == NGX_OK
        && ngx_http_qlm_webhook_admin_time(&v, now, &f.from) != NGX_OK)
    {
        return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                "invalid \\\"since\\\"");
    }

    if (ngx_http_qlm_webhook_admin_arg(r, "until", &v) == NGX_OK
        && (ngx_http_qlm_webhook_admin_time(&v, now, &f.to) != NGX_OK
            || f.to == 0))
    {
        return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                "invalid \\\"until\\\"");
    }

    if (ngx_http_qlm_webhook_admin_limit(r, &f.limit) != NGX_OK) {
        return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                "\\\"limit\\\" must be 1 to "
                                                "1000");
    }

    /* the cursor: a record's key, "time-seq", as "next" gave it */

    if (ngx_http_qlm_webhook_admin_arg(r, "after", &v) == NGX_OK) {
        dash = ngx_strlchr(v.data, v.data + v.len, '-');

        if (dash == NULL) {
            goto bad_after;
        }

        {
            ngx_str_t  t, s;

            t.data = v.data;
            t.len = dash - v.data;
            s.data = dash + 1;
            s.len = v.data + v.len - s.data;

            if (ngx_http_qlm_webhook_admin_number(&t, &after.time) != NGX_OK
                || ngx_http_qlm_webhook_admin_number(&s, &after.seq)
                   != NGX_OK)
            {
                goto bad_after;
            }
        }
    }

    if (mcf->pg_conninfo.len) {
        return ngx_http_qlm_webhook_admin_pg_log(r, mcf, &f, &url, &after);
    }

    ngx_memzero(&o, sizeof(ngx_http_qlm_webhook_admin_out_t));
    o.r = r;
    o.last = &o.out;

    ngx_http_qlm_webhook_admin_printf(&o, 16, "{\"records\":[");

    surl.data = (char *) url.data;
    surl.len = url.len;

    rc = qlm_store_log_page(mcf->store, &f, surl, &after,
                            NGX_HTTP_QLM_WEBHOOK_ADMIN_EXAMINE,
                            ngx_http_qlm_webhook_admin_log_record, &o, &last,
                            &more);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qlm webhook: admin: reading the log failed: %s",
                      qlm_store_strerror(rc));

        return ngx_http_qlm_webhook_admin_error(r,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           "reading the log failed: %s",
                                           qlm_store_strerror(rc));
    }

    if (more) {
        ngx_http_qlm_webhook_admin_printf(&o, 64, "],\"next\":\"%uL-%uL\"}\n",
                                          last.time, last.seq);

    } else {
        ngx_http_qlm_webhook_admin_printf(&o, 16, "],\"next\":null}\n");
    }

    return ngx_http_qlm_webhook_admin_send(r, NGX_HTTP_OK, &o);

bad_after:

    return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid \\\"after\\\": "
                                            "use \\\"next\\\" of the "
                                            "previous page");
}


static int
ngx_http_qlm_webhook_admin_log_record(const qlm_store_log_t *rec,
    const qlm_store_log_key_t *key, void *data)
{
    ngx_http_qlm_webhook_admin_out_t  *o = data;

    ngx_http_qlm_webhook_admin_printf(o, 64, "%s{\"key\":\"%uL-%uL\",",
                                      o->n ? "," : "", key->time, key->seq);
    ngx_http_qlm_webhook_admin_time_iso(o, "time", rec->time);
    ngx_http_qlm_webhook_admin_printf(o, 160,
                                      ",\"outcome\":\"%s\",\"status\":%D,"
                                      "\"attempt\":%uD,\"duration_ms\":%uD,"
                                      "\"item_id\":%uL,\"event\":",
                                      rec->outcome <= QLM_STORE_DEAD
                                      ? ngx_http_qlm_webhook_admin_outcomes[
                                            rec->outcome]
                                      : "",
                                      rec->status, rec->attempt,
                                      rec->duration, rec->item_id);
    ngx_http_qlm_webhook_admin_string(o, rec->event.data, rec->event.len);
    ngx_http_qlm_webhook_admin_printf(o, 16, ",\"event_id\":");
    ngx_http_qlm_webhook_admin_string(o, rec->event_id.data,
                                      rec->event_id.len);
    ngx_http_qlm_webhook_admin_printf(o, 16, ",\"url\":");
    ngx_http_qlm_webhook_admin_string(o, rec->url.data, rec->url.len);
    ngx_http_qlm_webhook_admin_printf(o, 16, ",\"error\":");
    ngx_http_qlm_webhook_admin_string(o, rec->error.data, rec->error.len);
    ngx_http_qlm_webhook_admin_printf(o, 16, ",\"answer\":");
    ngx_http_qlm_webhook_admin_string(o, rec->answer.data, rec->answer.len);

    if (o->fleet) {
        ngx_http_qlm_webhook_admin_printf(o, 16, ",\"node\":");
        ngx_http_qlm_webhook_admin_string(o, o->node.data, o->node.len);
    }

    ngx_http_qlm_webhook_admin_printf(o, 4, "}");

    o->n++;

    return o->failed;
}


/* GET dead?limit=&after=&body=1 */

static ngx_int_t
ngx_http_qlm_webhook_admin_dead(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    int                                rc;
    size_t                             limit;
    uint64_t                           after, last;
    unsigned                           more;
    ngx_str_t                          v;
    ngx_http_qlm_webhook_admin_out_t   o;

    after = 0;

    if (ngx_http_qlm_webhook_admin_limit(r, &limit) != NGX_OK) {
        return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                "\\\"limit\\\" must be 1 to "
                                                "1000");
    }

    if (ngx_http_qlm_webhook_admin_arg(r, "after", &v) == NGX_OK
        && ngx_http_qlm_webhook_admin_number(&v, &after) != NGX_OK)
    {
        return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                "invalid \\\"after\\\": "
                                                "use \\\"next\\\" of the "
                                                "previous page");
    }

    ngx_memzero(&o, sizeof(ngx_http_qlm_webhook_admin_out_t));
    o.r = r;
    o.last = &o.out;

    if (ngx_http_qlm_webhook_admin_arg(r, "body", &v) == NGX_OK
        && v.len == 1 && v.data[0] == '1')
    {
        o.body = 1;
    }

    if (mcf->pg_conninfo.len) {
        return ngx_http_qlm_webhook_admin_pg_dead(r, mcf, after, limit,
                                                  o.body);
    }

    ngx_http_qlm_webhook_admin_printf(&o, 32, "{\"dead_letters\":[");

    rc = qlm_store_dead_page(mcf->store, after, limit, 0,
                             ngx_http_qlm_webhook_admin_dead_item, &o, &last,
                             &more);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qlm webhook: admin: reading dead letters failed: %s",
                      qlm_store_strerror(rc));

        return ngx_http_qlm_webhook_admin_error(r,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           "reading dead letters failed: %s",
                                           qlm_store_strerror(rc));
    }

    if (more) {
        ngx_http_qlm_webhook_admin_printf(&o, 48, "],\"next\":\"%uL\"}\n",
                                          last);

    } else {
        ngx_http_qlm_webhook_admin_printf(&o, 16, "],\"next\":null}\n");
    }

    return ngx_http_qlm_webhook_admin_send(r, NGX_HTTP_OK, &o);
}


static int
ngx_http_qlm_webhook_admin_dead_item(const qlm_store_item_t *item,
    void *data)
{
    ngx_http_qlm_webhook_admin_out_t  *o = data;

    ngx_str_t  url, log_url;

    /* the configured URL may carry credentials: never shown */

    url.data = (u_char *) item->url.data;
    url.len = item->url.len;

    ngx_http_qlm_webhook_admin_log_url(o->r->pool, &url, &log_url);

    ngx_http_qlm_webhook_admin_printf(o, 64, "%s{\"id\":%uL,",
                                      o->n ? "," : "", item->id);
    ngx_http_qlm_webhook_admin_time_iso(o, "created", item->created);
    ngx_http_qlm_webhook_admin_printf(o, 4, ",");
    ngx_http_qlm_webhook_admin_time_iso(o, "updated", item->updated);
    ngx_http_qlm_webhook_admin_printf(o, 96,
                                      ",\"attempt\":%uD,\"last_status\":%D,"
                                      "\"last_error\":",
                                      item->attempt, item->last_status);
    ngx_http_qlm_webhook_admin_string(o, item->last_error.data,
                                      item->last_error.len);
    ngx_http_qlm_webhook_admin_printf(o, 16, ",\"event\":");
    ngx_http_qlm_webhook_admin_string(o, item->event.data, item->event.len);
    ngx_http_qlm_webhook_admin_printf(o, 16, ",\"event_id\":");
    ngx_http_qlm_webhook_admin_string(o, item->event_id.data,
                                      item->event_id.len);
    ngx_http_qlm_webhook_admin_printf(o, 16, ",\"url\":");
    ngx_http_qlm_webhook_admin_string(o, (char *) log_url.data, log_url.len);

    if (o->body) {
        ngx_http_qlm_webhook_admin_printf(o, 16, ",\"body\":");
        ngx_http_qlm_webhook_admin_string(o, item->body.data, item->body.len);
    }

    ngx_http_qlm_webhook_admin_printf(o, 4, "}");

    o->n++;

    return o->failed;
}


/* POST dead/ID/replay */

static ngx_int_t
ngx_http_qlm_webhook_admin_replay_one(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, uint64_t id)
{
    ngx_http_qlm_webhook_admin_job_t  *job;

    if (mcf->pg_conninfo.len) {
        return ngx_http_qlm_webhook_admin_pg_replay(r, mcf,
                                      NGX_HTTP_QLM_WEBHOOK_ADMIN_REPLAY_ONE,
                                      id, 0);
    }

    job = ngx_http_qlm_webhook_admin_job(r, mcf,
                                  ngx_http_qlm_webhook_admin_replay_one_run,
                                  ngx_http_qlm_webhook_admin_replay_one_end);
    if (job == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    job->what = "a replay";
    job->id = id;

    return ngx_http_qlm_webhook_admin_job_start(job);
}


static void
ngx_http_qlm_webhook_admin_replay_one_run(
    ngx_http_qlm_webhook_admin_job_t *job)
{
    job->rc = qlm_store_dead_replay(job->mcf->store, job->id,
                                    ngx_http_qlm_webhook_now(), &job->n);
}


static void
ngx_http_qlm_webhook_admin_replay_one_end(
    ngx_http_qlm_webhook_admin_job_t *job)
{
    int                                where;
    ngx_int_t                          rc;
    ngx_http_request_t                *r;
    ngx_http_qlm_webhook_admin_out_t   o;

    r = job->r;

    if (job->rc == QLM_STORE_NOTFOUND) {
        if (qlm_store_item_where(job->mcf->store, job->id, &where) == 0
            && where == QLM_STORE_IN_QUEUE)
        {
            rc = ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_CONFLICT,
                                                  "delivery %uL is in the "
                                                  "queue, not a dead "
                                                  "letter", job->id);

        } else {
            rc = ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_NOT_FOUND,
                                                  "no dead letter %uL",
                                                  job->id);
        }

        ngx_http_finalize_request(r, rc);
        return;
    }

    if (job->rc != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qlm webhook: admin: replaying %uL failed: %s",
                      job->id, qlm_store_strerror(job->rc));

        rc = ngx_http_qlm_webhook_admin_error(r,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           "replaying failed: %s",
                                           qlm_store_strerror(job->rc));
        ngx_http_finalize_request(r, rc);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "qlm webhook: admin: dead letter %uL replayed", job->id);

    ngx_http_qlm_webhook_deliver_kick(job->mcf);

    ngx_memzero(&o, sizeof(ngx_http_qlm_webhook_admin_out_t));
    o.r = r;
    o.last = &o.out;

    ngx_http_qlm_webhook_admin_printf(&o, 32, "{\"replayed\":%uL}\n", job->n);

    ngx_http_finalize_request(r, ngx_http_qlm_webhook_admin_send(r,
                                                                 NGX_HTTP_OK,
                                                                 &o));
}


/*
 * POST dead/replay, and recover?since=T: steps of up to ADMIN_STEP
 * replays in one short write transaction each, one step an event-loop
 * turn (the next step is posted behind the turn's other events), and an
 * answer when the walk is over.
 */

static ngx_int_t
ngx_http_qlm_webhook_admin_replay(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t recover)
{
    uint64_t                           since;
    ngx_str_t                          v;
    ngx_http_qlm_webhook_admin_job_t  *job;

    since = 0;

    if (recover) {
        if (ngx_http_qlm_webhook_admin_arg(r, "since", &v) != NGX_OK) {
            return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                    "recover needs "
                                                    "\\\"since\\\"");
        }

        if (ngx_http_qlm_webhook_admin_time(&v, ngx_http_qlm_webhook_now(),
                                            &since)
            != NGX_OK)
        {
            return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                    "invalid \\\"since\\\"");
        }
    }

    if (mcf->pg_conninfo.len) {
        return ngx_http_qlm_webhook_admin_pg_replay(r, mcf, recover
                                       ? NGX_HTTP_QLM_WEBHOOK_ADMIN_RECOVER
                                       : NGX_HTTP_QLM_WEBHOOK_ADMIN_REPLAY_ALL,
                                       0, since);
    }

    job = ngx_http_qlm_webhook_admin_job(r, mcf,
                                         ngx_http_qlm_webhook_admin_step_run,
                                         ngx_http_qlm_webhook_admin_step_end);
    if (job == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    job->what = "a replay step";
    job->since = since;
    job->recover = recover;

    return ngx_http_qlm_webhook_admin_job_start(job);
}


static ngx_http_qlm_webhook_admin_job_t *
ngx_http_qlm_webhook_admin_job(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_admin_job_pt run,
    ngx_http_qlm_webhook_admin_job_pt end)
{
    ngx_pool_cleanup_t                *cln;
    ngx_http_qlm_webhook_admin_job_t  *job;

    job = ngx_pcalloc(r->pool, sizeof(ngx_http_qlm_webhook_admin_job_t));
    if (job == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_qlm_webhook_admin_job_cleanup;
    cln->data = job;

    job->r = r;
    job->mcf = mcf;
    job->run = run;
    job->end = end;

    job->ev.handler = ngx_http_qlm_webhook_admin_job_handler;
    job->ev.data = job;
    job->ev.log = r->connection->log;

    return job;
}


/* the request waits for the job's end, which finalizes it */

static ngx_int_t
ngx_http_qlm_webhook_admin_job_start(ngx_http_qlm_webhook_admin_job_t *job)
{
    job->r->main->count++;
    job->r->write_event_handler = ngx_http_request_empty_handler;

    ngx_post_event(&job->ev, &ngx_posted_events);

    return NGX_DONE;
}


/*
 * The job's store call: in nginx's thread pool where the loop's commits
 * go there (sync=on, or while the timed sync flushes: its commit would be
 * flushed in the loop), in the loop otherwise.
 */

static void
ngx_http_qlm_webhook_admin_job_handler(ngx_event_t *ev)
{
    ngx_http_qlm_webhook_admin_job_t  *job;
#if (NGX_THREADS)
    ngx_thread_pool_t                 *tp;
    ngx_http_qlm_webhook_admin_job_t **jp;
#endif

    job = ev->data;

#if (NGX_THREADS)

    tp = job->mcf->store
         ? ngx_http_qlm_webhook_store_thread_pool(job->mcf, 1) : NULL;

    if (tp && job->task == NULL) {
        job->task = ngx_thread_task_alloc(job->r->pool,
                                  sizeof(ngx_http_qlm_webhook_admin_job_t *));
        if (job->task) {
            jp = job->task->ctx;
            *jp = job;
            job->task->handler = ngx_http_qlm_webhook_admin_job_thread;
            job->task->event.handler =
                                  ngx_http_qlm_webhook_admin_job_thread_done;
            job->task->event.data = job;
            job->task->event.log = ev->log;
        }
    }

    if (tp && job->task && ngx_thread_task_post(tp, job->task) == NGX_OK) {
        /* the request's pool stays until the call is back */
        job->r->main->blocked++;
        return;
    }

#endif

    job->run(job);
    job->end(job);
}


#if (NGX_THREADS)

static void
ngx_http_qlm_webhook_admin_job_thread(void *data, ngx_log_t *log)
{
    ngx_http_qlm_webhook_admin_job_t  *job;

    job = *(ngx_http_qlm_webhook_admin_job_t **) data;

    job->run(job);
}


static void
ngx_http_qlm_webhook_admin_job_thread_done(ngx_event_t *ev)
{
    ngx_connection_t                  *c;
    ngx_http_qlm_webhook_admin_job_t  *job;

    job = ev->data;
    c = job->r->connection;
    job->r->main->blocked--;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "qlm webhook: admin: %s in a thread: %uL",
                   job->what, job->n);

    job->end(job);
    ngx_http_run_posted_requests(c);
}

#endif


static void
ngx_http_qlm_webhook_admin_step_run(ngx_http_qlm_webhook_admin_job_t *job)
{
    job->rc = job->mcf->store
              ? qlm_store_dead_replay_step(job->mcf->store, job->after,
                                   job->since, ngx_http_qlm_webhook_now(),
                                   NGX_HTTP_QLM_WEBHOOK_ADMIN_STEP,
                                   NGX_HTTP_QLM_WEBHOOK_ADMIN_STEP_READ,
                                   &job->n, &job->after, &job->more)
              : QLM_STORE_INVALID;
}


static void
ngx_http_qlm_webhook_admin_step_end(ngx_http_qlm_webhook_admin_job_t *job)
{
    int                                rc;
    uint64_t                           n;
    unsigned                           more;
    ngx_int_t                          ret;
    ngx_event_t                       *ev;
    ngx_http_request_t                *r;
    ngx_http_qlm_webhook_admin_out_t   o;

    r = job->r;
    ev = &job->ev;
    rc = job->rc;
    n = job->n;
    more = job->more;

    if (rc == 0) {
        job->replayed += n;
        job->steps++;

        if (n) {
            ngx_http_qlm_webhook_deliver_kick(job->mcf);
        }

        if (more) {
            /* after the connections and the deliveries had their turn */
            ngx_post_event(ev, &ngx_posted_next_events);
            return;
        }
    }

    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "qlm webhook: admin: %s stopped after %uL dead "
                      "letters: %s", job->recover ? "recover" : "replay",
                      job->replayed, qlm_store_strerror(rc));

        ret = ngx_http_qlm_webhook_admin_error(r,
                                          NGX_HTTP_INTERNAL_SERVER_ERROR,
                                          "replaying failed after %uL: %s",
                                          job->replayed,
                                          qlm_store_strerror(rc));
        ngx_http_finalize_request(r, ret);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "qlm webhook: admin: %s: %uL dead letters replayed in %ui "
                  "step%s", job->recover ? "recover" : "replay",
                  job->replayed, job->steps, job->steps == 1 ? "" : "s");

    ngx_memzero(&o, sizeof(ngx_http_qlm_webhook_admin_out_t));
    o.r = r;
    o.last = &o.out;

    ngx_http_qlm_webhook_admin_printf(&o, 32, "{\"replayed\":%uL}\n",
                                      job->replayed);

    ngx_http_finalize_request(r, ngx_http_qlm_webhook_admin_send(r,
                                                                 NGX_HTTP_OK,
                                                                 &o));
}


static ngx_int_t
ngx_http_qlm_webhook_admin_replayed(ngx_http_request_t *r, uint64_t n)
{
    ngx_http_qlm_webhook_admin_out_t  o;

    ngx_memzero(&o, sizeof(ngx_http_qlm_webhook_admin_out_t));
    o.r = r;
    o.last = &o.out;

    ngx_http_qlm_webhook_admin_printf(&o, 32, "{\"replayed\":%uL}\n", n);

    return ngx_http_qlm_webhook_admin_send(r, NGX_HTTP_OK, &o);
}


/* the request went away: its next step is not taken */

static void
ngx_http_qlm_webhook_admin_job_cleanup(void *data)
{
    ngx_http_qlm_webhook_admin_job_t  *job = data;

    if (job->ev.posted) {
        ngx_delete_posted_event(&job->ev);
    }
}


/*
 * On PostgreSQL (qlm_webhook_store postgresql://...) the log, the dead
 * letters and their replays are the fleet's: each endpoint runs its SQL
 * on the worker's connections to the database, and the request waits
 * for the answer without blocking the worker (r->main->count holds it).
 * The job lives on the heap, not in the request's pool: a request that
 * goes away only clears job->r, through its pool's cleanup, and the
 * statement in flight finds the job still there (a replay goes on to its
 * end, as on LMDB).  Replays go in steps of ADMIN_PG_STEP dead letters,
 * one statement and transaction each, so that no statement holds many
 * row locks for long.
 */

static ngx_int_t
ngx_http_qlm_webhook_admin_pg_log(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_log_filter_t *f,
    ngx_str_t *url, qlm_store_log_key_t *after)
{
    ngx_http_qlm_webhook_pg_req_t    *req;
    ngx_http_qlm_webhook_admin_pg_t  *job;

    /* none in a worker whose start failed, or that is exiting */

    if (mcf->pg == NULL) {
        return ngx_http_qlm_webhook_admin_error(r,
                                           NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "the PostgreSQL store is "
                                           "unavailable");
    }

    job = ngx_http_qlm_webhook_admin_pg_job(r, mcf,
                                            NGX_HTTP_QLM_WEBHOOK_ADMIN_LOG);
    if (job == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    job->limit = f->limit;

    req = ngx_http_qlm_webhook_pg_req(mcf->pg, 9);
    if (req == NULL) {
        goto failed;
    }

    req->sql = ngx_http_qlm_webhook_admin_pg_log_sql;

    /* one more than the page: whether there is a next one */

    if (ngx_http_qlm_webhook_pg_int8(req, f->from) != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, f->to) != NGX_OK
        || ngx_http_qlm_webhook_admin_pg_str(req, (u_char *) f->event.data,
                                             f->event.len)
           != NGX_OK
        || ngx_http_qlm_webhook_admin_pg_str(req,
                                             (u_char *) f->event_id.data,
                                             f->event_id.len)
           != NGX_OK
        || ngx_http_qlm_webhook_admin_pg_str(req, url->data, url->len)
           != NGX_OK
        || ngx_http_qlm_webhook_pg_int4(req, (int32_t) f->outcome) != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, after->time) != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, after->seq) != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, f->limit + 1) != NGX_OK)
    {
        ngx_destroy_pool(req->pool);
        goto failed;
    }

    return ngx_http_qlm_webhook_admin_pg_start(job, req);

failed:

    ngx_http_qlm_webhook_admin_pg_free(job);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static ngx_int_t
ngx_http_qlm_webhook_admin_pg_dead(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, uint64_t after, size_t limit,
    ngx_uint_t body)
{
    ngx_http_qlm_webhook_pg_req_t    *req;
    ngx_http_qlm_webhook_admin_pg_t  *job;

    /* none in a worker whose start failed, or that is exiting */

    if (mcf->pg == NULL) {
        return ngx_http_qlm_webhook_admin_error(r,
                                           NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "the PostgreSQL store is "
                                           "unavailable");
    }

    job = ngx_http_qlm_webhook_admin_pg_job(r, mcf,
                                            NGX_HTTP_QLM_WEBHOOK_ADMIN_DEAD);
    if (job == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    job->limit = limit;
    job->body = body;

    req = ngx_http_qlm_webhook_pg_req(mcf->pg, 3);
    if (req == NULL) {
        goto failed;
    }

    req->sql = ngx_http_qlm_webhook_admin_pg_dead_sql;

    if (ngx_http_qlm_webhook_pg_int8(req, after) != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, limit + 1) != NGX_OK
        || ngx_http_qlm_webhook_pg_int4(req, body ? 1 : 0) != NGX_OK)
    {
        ngx_destroy_pool(req->pool);
        goto failed;
    }

    return ngx_http_qlm_webhook_admin_pg_start(job, req);

failed:

    ngx_http_qlm_webhook_admin_pg_free(job);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* dead/ID/replay (id), dead/replay, recover?since=T */

static ngx_int_t
ngx_http_qlm_webhook_admin_pg_replay(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t what, uint64_t id,
    uint64_t since)
{
    ngx_http_qlm_webhook_pg_req_t    *req;
    ngx_http_qlm_webhook_admin_pg_t  *job;

    /* none in a worker whose start failed, or that is exiting */

    if (mcf->pg == NULL) {
        return ngx_http_qlm_webhook_admin_error(r,
                                           NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "the PostgreSQL store is "
                                           "unavailable");
    }

    job = ngx_http_qlm_webhook_admin_pg_job(r, mcf, what);
    if (job == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    job->id = id;
    job->since = since;

    req = ngx_http_qlm_webhook_admin_pg_step_req(job);
    if (req == NULL) {
        ngx_http_qlm_webhook_admin_pg_free(job);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_qlm_webhook_admin_pg_start(job, req);
}


static ngx_http_qlm_webhook_pg_req_t *
ngx_http_qlm_webhook_admin_pg_step_req(ngx_http_qlm_webhook_admin_pg_t *job)
{
    ngx_http_qlm_webhook_pg_req_t  *req;

    if (job->mcf->pg == NULL) {
        return NULL;
    }

    if (job->what == NGX_HTTP_QLM_WEBHOOK_ADMIN_REPLAY_ONE) {
        req = ngx_http_qlm_webhook_pg_req(job->mcf->pg, 2);
        if (req == NULL) {
            return NULL;
        }

        req->sql = ngx_http_qlm_webhook_admin_pg_replay_one_sql;

        if (ngx_http_qlm_webhook_pg_int8(req, job->id) != NGX_OK
            || ngx_http_qlm_webhook_pg_int8(req, ngx_http_qlm_webhook_now())
               != NGX_OK)
        {
            ngx_destroy_pool(req->pool);
            return NULL;
        }

        return req;
    }

    req = ngx_http_qlm_webhook_pg_req(job->mcf->pg, 4);
    if (req == NULL) {
        return NULL;
    }

    req->sql = ngx_http_qlm_webhook_admin_pg_replay_sql;

    if (ngx_http_qlm_webhook_pg_int8(req, job->after) != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, job->since) != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, ngx_http_qlm_webhook_now())
           != NGX_OK
        || ngx_http_qlm_webhook_pg_int8(req, NGX_HTTP_QLM_WEBHOOK_ADMIN_PG_STEP)
           != NGX_OK)
    {
        ngx_destroy_pool(req->pool);
        return NULL;
    }

    return req;
}


/* a text parameter, copied: the statement may be sent after r is gone */

static ngx_int_t
ngx_http_qlm_webhook_admin_pg_str(ngx_http_qlm_webhook_pg_req_t *req,
    u_char *data, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(req->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    /* an absent filter is a NULL data of length 0 */

    if (len) {
        ngx_memcpy(p, data, len);
    }

    p[len] = '\0';

    return ngx_http_qlm_webhook_pg_bytes(req, NGX_HTTP_QLM_WEBHOOK_TEXTOID,
                                         (char *) p, len);
}


static ngx_http_qlm_webhook_admin_pg_t *
ngx_http_qlm_webhook_admin_pg_job(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t what)
{
    ngx_pool_cleanup_t               *cln;
    ngx_http_qlm_webhook_admin_pg_t  *job;

    if (mcf->pg == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    job = ngx_calloc(sizeof(ngx_http_qlm_webhook_admin_pg_t),
                     r->connection->log);
    if (job == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_qlm_webhook_admin_pg_cleanup;
    cln->data = job;

    job->r = r;
    job->cln = cln;
    job->mcf = mcf;
    job->what = what;

    job->ev.handler = ngx_http_qlm_webhook_admin_pg_next;
    job->ev.data = job;
    job->ev.log = ngx_cycle->log;
    job->ev.cancelable = 1;

    return job;
}


/* the first statement sent: the request waits for its answer */

static ngx_int_t
ngx_http_qlm_webhook_admin_pg_start(ngx_http_qlm_webhook_admin_pg_t *job,
    ngx_http_qlm_webhook_pg_req_t *req)
{
    ngx_http_request_t  *r;

    r = job->r;

    r->main->count++;
    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_qlm_webhook_admin_pg_send(job, req);

    return NGX_DONE;
}


/*
 * A worker that has just started, or lost its connections, has none up
 * for a moment: a statement waits for one up to ADMIN_PG_WAIT, then goes
 * (and fails at once, the handler answering 503, if there is still none)
 */

static void
ngx_http_qlm_webhook_admin_pg_send(ngx_http_qlm_webhook_admin_pg_t *job,
    ngx_http_qlm_webhook_pg_req_t *req)
{
    req->handler = ngx_http_qlm_webhook_admin_pg_done;
    req->data = job;

    if (!ngx_http_qlm_webhook_pg_up(job->mcf)
        && job->waited < NGX_HTTP_QLM_WEBHOOK_ADMIN_PG_WAIT)
    {
        job->req = req;
        job->waited += NGX_HTTP_QLM_WEBHOOK_ADMIN_PG_POLL;
        ngx_add_timer(&job->ev, NGX_HTTP_QLM_WEBHOOK_ADMIN_PG_POLL);
        return;
    }

    job->waited = 0;

    ngx_http_qlm_webhook_pg_run(job->mcf, req);
}


static void
ngx_http_qlm_webhook_admin_pg_done(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res)
{
    ngx_int_t                         rc;
    ngx_http_request_t               *r;
    ngx_http_qlm_webhook_admin_pg_t  *job;

    job = req->data;
    r = job->r;

    if (res == NULL) {

        /* said once until the database answers again */

        if (!ngx_http_qlm_webhook_admin_pg_down) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "qlm webhook: admin: the PostgreSQL store is "
                          "unavailable: the admin API answers 503 to the "
                          "log, dead letters and replays until it is back");
            ngx_http_qlm_webhook_admin_pg_down = 1;
        }

        if (job->replayed) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "qlm webhook: admin: %s stopped after %uL dead "
                          "letters: PostgreSQL is unavailable",
                          job->what == NGX_HTTP_QLM_WEBHOOK_ADMIN_RECOVER
                          ? "recover" : "replay", job->replayed);
        }

        rc = NGX_DONE;

        if (r) {
            rc = job->replayed
                 ? ngx_http_qlm_webhook_admin_error(r,
                                NGX_HTTP_SERVICE_UNAVAILABLE,
                                "replaying failed after %uL: the PostgreSQL "
                                "store is unavailable", job->replayed)
                 : ngx_http_qlm_webhook_admin_error(r,
                                NGX_HTTP_SERVICE_UNAVAILABLE,
                                "the PostgreSQL store is unavailable");
        }

        ngx_http_qlm_webhook_admin_pg_finish(job, rc);
        return;
    }

    if (ngx_http_qlm_webhook_admin_pg_down) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "qlm webhook: admin: the PostgreSQL store answers "
                      "again");
        ngx_http_qlm_webhook_admin_pg_down = 0;
    }

    switch (job->what) {

    case NGX_HTTP_QLM_WEBHOOK_ADMIN_LOG:
        rc = r ? ngx_http_qlm_webhook_admin_pg_log_page(job, res) : NGX_DONE;
        break;

    case NGX_HTTP_QLM_WEBHOOK_ADMIN_DEAD:
        rc = r ? ngx_http_qlm_webhook_admin_pg_dead_page(job, res)
               : NGX_DONE;
        break;

    case NGX_HTTP_QLM_WEBHOOK_ADMIN_REPLAY_ONE:
        rc = ngx_http_qlm_webhook_admin_pg_replayed_one(job, res);
        break;

    default:
        if (ngx_http_qlm_webhook_admin_pg_stepped(job, res) != NGX_DONE) {
            /* the next step is posted */
            return;
        }

        rc = NGX_DONE;

        if (job->r) {
            rc = ngx_http_qlm_webhook_admin_replayed(job->r, job->replayed);
        }
    }

    ngx_http_qlm_webhook_admin_pg_finish(job, rc);
}


static ngx_int_t
ngx_http_qlm_webhook_admin_pg_log_page(ngx_http_qlm_webhook_admin_pg_t *job,
    PGresult *res)
{
    int                                i, n;
    ngx_uint_t                         more;
    qlm_store_log_t                    rec;
    qlm_store_log_key_t                key;
    ngx_http_qlm_webhook_admin_out_t   o;

    ngx_memzero(&o, sizeof(ngx_http_qlm_webhook_admin_out_t));
    o.r = job->r;
    o.last = &o.out;
    o.fleet = 1;

    ngx_memzero(&key, sizeof(qlm_store_log_key_t));

    n = PQntuples(res);
    more = ((size_t) n > job->limit);

    if (more) {
        n = (int) job->limit;
    }

    ngx_http_qlm_webhook_admin_printf(&o, 16, "{\"records\":[");

    for (i = 0; i < n && !o.failed; i++) {
        ngx_memzero(&rec, sizeof(qlm_store_log_t));

        key.seq = ngx_http_qlm_webhook_pg_get8(res, i, 0);
        key.time = ngx_http_qlm_webhook_pg_get8(res, i, 1);
        rec.time = key.time;
        rec.item_id = ngx_http_qlm_webhook_pg_get8(res, i, 2);
        rec.attempt = ngx_http_qlm_webhook_pg_get4(res, i, 3);
        rec.status = (int32_t) ngx_http_qlm_webhook_pg_get4(res, i, 4);
        rec.duration = ngx_http_qlm_webhook_pg_get4(res, i, 5);
        rec.outcome = ngx_http_qlm_webhook_pg_get4(res, i, 6);
        ngx_http_qlm_webhook_pg_get_str(res, i, 7, &rec.event_id);
        ngx_http_qlm_webhook_pg_get_str(res, i, 8, &rec.event);
        ngx_http_qlm_webhook_pg_get_str(res, i, 9, &rec.url);
        ngx_http_qlm_webhook_pg_get_str(res, i, 10, &rec.error);
        ngx_http_qlm_webhook_pg_get_str(res, i, 11, &rec.answer);
        ngx_http_qlm_webhook_pg_get_str(res, i, 12, &o.node);

        (void) ngx_http_qlm_webhook_admin_log_record(&rec, &key, &o);
    }

    if (more) {
        ngx_http_qlm_webhook_admin_printf(&o, 64, "],\"next\":\"%uL-%uL\"}\n",
                                          key.time, key.seq);

    } else {
        ngx_http_qlm_webhook_admin_printf(&o, 16, "],\"next\":null}\n");
    }

    return ngx_http_qlm_webhook_admin_send(job->r, NGX_HTTP_OK, &o);
}


static ngx_int_t
ngx_http_qlm_webhook_admin_pg_dead_page(ngx_http_qlm_webhook_admin_pg_t *job,
    PGresult *res)
{
    int                                i, n;
    ngx_uint_t                         more;
    qlm_store_item_t                   item;
    ngx_http_qlm_webhook_admin_out_t   o;

    ngx_memzero(&o, sizeof(ngx_http_qlm_webhook_admin_out_t));
    o.r = job->r;
    o.last = &o.out;
    o.body = job->body;

    ngx_memzero(&item, sizeof(qlm_store_item_t));

    n = PQntuples(res);
    more = ((size_t) n > job->limit);

    if (more) {
        n = (int) job->limit;
    }

    ngx_http_qlm_webhook_admin_printf(&o, 32, "{\"dead_letters\":[");

    for (i = 0; i < n && !o.failed; i++) {
        ngx_memzero(&item, sizeof(qlm_store_item_t));

        item.id = ngx_http_qlm_webhook_pg_get8(res, i, 0);
        item.created = ngx_http_qlm_webhook_pg_get8(res, i, 1);
        item.updated = ngx_http_qlm_webhook_pg_get8(res, i, 2);
        item.attempt = ngx_http_qlm_webhook_pg_get4(res, i, 3);
        item.last_status = (int32_t) ngx_http_qlm_webhook_pg_get4(res, i, 4);
        ngx_http_qlm_webhook_pg_get_str(res, i, 5, &item.last_error);
        ngx_http_qlm_webhook_pg_get_str(res, i, 6, &item.event);
        ngx_http_qlm_webhook_pg_get_str(res, i, 7, &item.event_id);
        ngx_http_qlm_webhook_pg_get_str(res, i, 8, &item.url);
        ngx_http_qlm_webhook_pg_get_str(res, i, 9, &item.body);

        (void) ngx_http_qlm_webhook_admin_dead_item(&item, &o);
    }

    if (more) {
        ngx_http_qlm_webhook_admin_printf(&o, 48, "],\"next\":\"%uL\"}\n",
                                          item.id);

    } else {
        ngx_http_qlm_webhook_admin_printf(&o, 16, "],\"next\":null}\n");
    }

    return ngx_http_qlm_webhook_admin_send(job->r, NGX_HTTP_OK, &o);
}


/*
 * One statement's counts: replayed; and, as the statement began, whether
 * the id was a dead letter (kept: its event is queued again for the same
 * URL) or a delivery in the queue.
 */

static ngx_int_t
ngx_http_qlm_webhook_admin_pg_replayed_one(
    ngx_http_qlm_webhook_admin_pg_t *job, PGresult *res)
{
    uint64_t             n, dead, queued;
    ngx_http_request_t  *r;

    r = job->r;

    if (PQntuples(res) != 1) {
        return r ? NGX_HTTP_INTERNAL_SERVER_ERROR : NGX_DONE;
    }

    n = ngx_http_qlm_webhook_pg_get8(res, 0, 0);
    dead = ngx_http_qlm_webhook_pg_get8(res, 0, 1);
    queued = ngx_http_qlm_webhook_pg_get8(res, 0, 2);

    if (n) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "qlm webhook: admin: dead letter %uL replayed",
                      job->id);

        ngx_http_qlm_webhook_deliver_kick(job->mcf);
    }

    if (r == NULL) {
        return NGX_DONE;
    }

    if (n) {
        return ngx_http_qlm_webhook_admin_replayed(r, n);
    }

    if (dead) {
        return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_CONFLICT,
                                                "dead letter %uL kept: a "
                                                "delivery of its event to "
                                                "its URL is queued",
                                                job->id);
    }

    if (queued) {
        return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_CONFLICT,
                                                "delivery %uL is in the "
                                                "queue, not a dead letter",
                                                job->id);
    }

    return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_NOT_FOUND,
                                            "no dead letter %uL", job->id);
}


/* a step of a replay: NGX_DONE at the end, NGX_AGAIN: the next posted */

static ngx_int_t
ngx_http_qlm_webhook_admin_pg_stepped(ngx_http_qlm_webhook_admin_pg_t *job,
    PGresult *res)
{
    uint64_t  n, last, read;

    if (PQntuples(res) != 1) {
        return NGX_DONE;
    }

    n = ngx_http_qlm_webhook_pg_get8(res, 0, 0);
    last = ngx_http_qlm_webhook_pg_get8(res, 0, 1);
    read = ngx_http_qlm_webhook_pg_get8(res, 0, 2);

    job->replayed += n;
    job->steps++;

    if (n) {
        ngx_http_qlm_webhook_deliver_kick(job->mcf);
    }

    if (read == NGX_HTTP_QLM_WEBHOOK_ADMIN_PG_STEP && last > job->after) {
        job->after = last;

        /* after what else waits for this worker: connections, deliveries */
        ngx_post_event(&job->ev, &ngx_posted_next_events);
        return NGX_AGAIN;
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "qlm webhook: admin: %s: %uL dead letters replayed in %ui "
                  "step%s", job->what == NGX_HTTP_QLM_WEBHOOK_ADMIN_RECOVER
                  ? "recover" : "replay", job->replayed, job->steps,
                  job->steps == 1 ? "" : "s");

    return NGX_DONE;
}


static void
ngx_http_qlm_webhook_admin_pg_next(ngx_event_t *ev)
{
    ngx_int_t                         rc;
    ngx_http_qlm_webhook_pg_req_t    *req;
    ngx_http_qlm_webhook_admin_pg_t  *job;

    job = ev->data;

    if (job->req) {
        req = job->req;
        job->req = NULL;
        ngx_http_qlm_webhook_admin_pg_send(job, req);
        return;
    }

    req = ngx_http_qlm_webhook_admin_pg_step_req(job);

    if (req == NULL) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "qlm webhook: admin: replay stopped after %uL dead "
                      "letters: out of memory, or the worker is exiting",
                      job->replayed);

        rc = NGX_DONE;

        if (job->r) {
            rc = ngx_http_qlm_webhook_admin_error(job->r,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           "replaying failed after %uL",
                                           job->replayed);
        }

        ngx_http_qlm_webhook_admin_pg_finish(job, rc);
        return;
    }

    ngx_http_qlm_webhook_admin_pg_send(job, req);
}


/* the answer sent (rc), or none (NGX_DONE, the request gone); job freed */

static void
ngx_http_qlm_webhook_admin_pg_finish(ngx_http_qlm_webhook_admin_pg_t *job,
    ngx_int_t rc)
{
    ngx_http_request_t  *r;

    r = job->r;

    ngx_http_qlm_webhook_admin_pg_free(job);

    if (r) {
        ngx_http_finalize_request(r, rc);
    }
}


static void
ngx_http_qlm_webhook_admin_pg_free(ngx_http_qlm_webhook_admin_pg_t *job)
{
    if (job->cln) {
        job->cln->handler = NULL;
    }

    if (job->ev.posted) {
        ngx_delete_posted_event(&job->ev);
    }

    if (job->ev.timer_set) {
        ngx_del_timer(&job->ev);
    }

    if (job->req) {
        ngx_destroy_pool(job->req->pool);
    }

    ngx_free(job);
}


/* the request went away: what is in flight ends without it */

static void
ngx_http_qlm_webhook_admin_pg_cleanup(void *data)
{
    ngx_http_qlm_webhook_admin_pg_t  *job = data;

    job->r = NULL;
    job->cln = NULL;
}


/*
 * POST test?event=E&url=U: a test event, signed and delivered as a real
 * one through the queue; only to URLs that are configured.
 */

typedef struct {
    ngx_http_qlm_webhook_url_t  *url;
} ngx_http_qlm_webhook_admin_target_t;


static ngx_int_t
ngx_http_qlm_webhook_admin_test(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    uint64_t                              now;
    ngx_int_t                             event;
    ngx_str_t                             v, want, name, event_id, body;
    ngx_uint_t                            i, k, e, matched;
    ngx_array_t                           targets;
    qlm_store_item_t                     *items;
    ngx_http_qlm_webhook_url_t           *u;
    ngx_http_qlm_webhook_task_t          *task;
    ngx_http_qlm_webhook_admin_job_t     *job;
    ngx_http_qlm_webhook_admin_target_t  *t;

    if (ngx_http_qlm_webhook_admin_arg(r, "event", &v) == NGX_OK) {
        event = ngx_http_qlm_webhook_event_by_name(&v);

        if (event == NGX_ERROR) {
            return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                    "unknown event");
        }

    } else {
        event = NGX_HTTP_QLM_WEBHOOK_LICENSE_CREATED;
    }

    name = ngx_http_qlm_webhook_event_names[event];

    if (ngx_array_init(&targets, r->pool, 4,
                       sizeof(ngx_http_qlm_webhook_admin_target_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_qlm_webhook_admin_arg(r, "url", &want) != NGX_OK) {

        /* every URL subscribed to the event */

        u = mcf->urls[event].elts;

        for (i = 0; i < mcf->urls[event].nelts; i++) {
            if (ngx_http_qlm_webhook_admin_target(&targets, &u[i]) != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        if (targets.nelts == 0) {
            return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                    "no URL is subscribed "
                                                    "to \\\"%V\\\"", &name);
        }

    } else {

        /*
         * A configured URL only, as written or as logged (no credentials,
         * no query); the event's own settings first, then the others'.
         */

        matched = 0;

        for (k = 0; k < NGX_HTTP_QLM_WEBHOOK_NEVENTS && !matched; k++) {
            /* k = 0: the event; then the others, in order */
            e = (k == 0) ? (ngx_uint_t) event
                         : (k <= (ngx_uint_t) event) ? k - 1 : k;

            u = mcf->urls[e].elts;

            for (i = 0; i < mcf->urls[e].nelts; i++) {
                if ((want.len == u[i].url.len
                     && ngx_strncmp(want.data, u[i].url.data, want.len) == 0)
                    || (want.len == u[i].log_url.len
                        && ngx_strncmp(want.data, u[i].log_url.data,
                                       want.len)
                           == 0))
                {
                    if (ngx_http_qlm_webhook_admin_target(&targets, &u[i])
                        != NGX_OK)
                    {
                        return NGX_HTTP_INTERNAL_SERVER_ERROR;
                    }

                    matched = 1;
                }
            }
        }

        task = mcf->tasks ? mcf->tasks->elts : NULL;

        for (k = 0; !matched && mcf->tasks && k < mcf->tasks->nelts; k++) {
            u = task[k].urls.elts;

            for (i = 0; i < task[k].urls.nelts; i++) {
                if ((want.len == u[i].url.len
                     && ngx_strncmp(want.data, u[i].url.data, want.len) == 0)
                    || (want.len == u[i].log_url.len
                        && ngx_strncmp(want.data, u[i].log_url.data,
                                       want.len)
                           == 0))
                {
                    if (ngx_http_qlm_webhook_admin_target(&targets, &u[i])
                        != NGX_OK)
                    {
                        return NGX_HTTP_INTERNAL_SERVER_ERROR;
                    }

                    matched = 1;
                }
            }
        }

        if (!matched) {
            return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                    "not a configured URL: "
                                                    "a test event goes only "
                                                    "to a URL of "
                                                    "qlm_webhook_url or of a "
                                                    "task");
        }
    }

    if (ngx_http_qlm_webhook_event_id(r->pool, &event_id) != NGX_OK
        || ngx_http_qlm_webhook_admin_test_body(r->pool, event, &event_id,
                                                &body)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    items = ngx_pcalloc(r->pool, targets.nelts * sizeof(qlm_store_item_t));
    if (items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = ngx_http_qlm_webhook_now();
    t = targets.elts;

    for (i = 0; i < targets.nelts; i++) {
        items[i].due = now;
        items[i].created = now;
        items[i].event_id.data = (char *) event_id.data;
        items[i].event_id.len = event_id.len;
        items[i].event.data = (char *) name.data;
        items[i].event.len = name.len;
        items[i].url.data = (char *) t[i].url->url.data;
        items[i].url.len = t[i].url->url.len;
        items[i].body.data = (char *) body.data;
        items[i].body.len = body.len;

        /* signed at each attempt as the real ones: the same signer */

        items[i].headers.data = (char *) t[i].url->signer.data;
        items[i].headers.len = t[i].url->signer.len;
    }

    job = ngx_http_qlm_webhook_admin_job(r, mcf,
                                         ngx_http_qlm_webhook_admin_test_run,
                                         ngx_http_qlm_webhook_admin_test_end);
    if (job == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    job->what = "a test event";
    job->event = event;
    job->event_id = event_id;
    job->targets = targets;
    job->items = items;

    return ngx_http_qlm_webhook_admin_job_start(job);
}


static void
ngx_http_qlm_webhook_admin_test_run(ngx_http_qlm_webhook_admin_job_t *job)
{
    job->rc = qlm_store_enqueue(job->mcf->store, job->items,
                                job->targets.nelts);
    job->n = job->targets.nelts;
}


static void
ngx_http_qlm_webhook_admin_test_end(ngx_http_qlm_webhook_admin_job_t *job)
{
    ngx_str_t                             name;
    ngx_int_t                             rc;
    ngx_uint_t                            i;
    ngx_http_request_t                   *r;
    ngx_http_qlm_webhook_admin_out_t      o;
    ngx_http_qlm_webhook_admin_target_t  *t;

    r = job->r;
    name = ngx_http_qlm_webhook_event_names[job->event];

    if (job->rc != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qlm webhook: admin: queueing a test event failed: %s",
                      qlm_store_strerror(job->rc));

        rc = ngx_http_qlm_webhook_admin_error(r,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           "queueing failed: %s",
                                           qlm_store_strerror(job->rc));
        ngx_http_finalize_request(r, rc);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "qlm webhook: admin: test \"%V\" event %V queued for %ui "
                  "URL%s", &name, &job->event_id, job->targets.nelts,
                  job->targets.nelts == 1 ? "" : "s");

    ngx_http_qlm_webhook_deliver_kick(job->mcf);

    ngx_memzero(&o, sizeof(ngx_http_qlm_webhook_admin_out_t));
    o.r = r;
    o.last = &o.out;

    ngx_http_qlm_webhook_admin_printf(&o, 32, "{\"event\":");
    ngx_http_qlm_webhook_admin_string(&o, (char *) name.data, name.len);
    ngx_http_qlm_webhook_admin_printf(&o, 32, ",\"event_id\":");
    ngx_http_qlm_webhook_admin_string(&o, (char *) job->event_id.data,
                                      job->event_id.len);
    ngx_http_qlm_webhook_admin_printf(&o, 32, ",\"deliveries\":[");

    t = job->targets.elts;

    for (i = 0; i < job->targets.nelts; i++) {
        ngx_http_qlm_webhook_admin_printf(&o, 48, "%s{\"id\":%uL,\"url\":",
                                          i ? "," : "", job->items[i].id);
        ngx_http_qlm_webhook_admin_string(&o, (char *) t[i].url->log_url.data,
                                          t[i].url->log_url.len);
        ngx_http_qlm_webhook_admin_printf(&o, 4, "}");
    }

    ngx_http_qlm_webhook_admin_printf(&o, 8, "]}\n");

    ngx_http_finalize_request(r, ngx_http_qlm_webhook_admin_send(r,
                                                           NGX_HTTP_ACCEPTED,
                                                           &o));
}


/* POST urls/pause?url= and urls/resume?url=: no reload, all workers */

static ngx_int_t
ngx_http_qlm_webhook_admin_pause(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t pause)
{
    ngx_int_t                          rc;
    ngx_str_t                          want;
    ngx_http_qlm_webhook_admin_job_t  *job;

    if (ngx_http_qlm_webhook_admin_arg(r, "url", &want) != NGX_OK) {
        return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                "\"url\" is required");
    }

    job = ngx_http_qlm_webhook_admin_job(r, mcf,
                                         ngx_http_qlm_webhook_admin_pause_run,
                                         ngx_http_qlm_webhook_admin_pause_end);
    if (job == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_qlm_webhook_url_pause(mcf, &want, pause,
                                        r->connection->log, &job->url);

    if (rc == NGX_DECLINED) {
        return ngx_http_qlm_webhook_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                "not a configured URL");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* kept in the store too: it outlives a restart, qlm-store sees it */

    job->what = pause ? "a pause" : "a resume";
    job->pause = pause;
    job->now = ngx_http_qlm_webhook_now();

    return ngx_http_qlm_webhook_admin_job_start(job);
}


static void
ngx_http_qlm_webhook_admin_pause_run(ngx_http_qlm_webhook_admin_job_t *job)
{
    qlm_store_str_t  url, who;

    url.data = (char *) job->url.data;
    url.len = job->url.len;
    who.data = "admin API";
    who.len = sizeof("admin API") - 1;

    job->rc = qlm_store_url_pause(job->mcf->store, url, job->pause, job->now,
                                  who);
}


static void
ngx_http_qlm_webhook_admin_pause_end(ngx_http_qlm_webhook_admin_job_t *job)
{
    ngx_http_request_t                *r;
    ngx_http_qlm_webhook_admin_out_t   o;

    r = job->r;

    if (ngx_http_qlm_webhook_pause_result(job->rc, job->url.data,
                                          job->url.len, job->pause,
                                          r->connection->log)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (!job->pause) {
        /* its waiting deliveries are due */
        ngx_http_qlm_webhook_deliver_kick(job->mcf);
    }

    ngx_memzero(&o, sizeof(ngx_http_qlm_webhook_admin_out_t));
    o.r = r;
    o.last = &o.out;

    ngx_http_qlm_webhook_admin_printf(&o, 16, "{\"url\":");
    ngx_http_qlm_webhook_admin_string(&o, (char *) job->url.data,
                                      job->url.len);
    ngx_http_qlm_webhook_admin_printf(&o, 32, ",\"paused\":%s}\n",
                                      job->pause ? "true" : "false");

    ngx_http_finalize_request(r, ngx_http_qlm_webhook_admin_send(r,
                                                                 NGX_HTTP_OK,
                                                                 &o));
}


/* GET urls: each configured receiver once, paused or not, and since when
 * and by whom as the store has it */

typedef struct {
    ngx_str_t                          url;
    uint64_t                           since;
    ngx_str_t                          by;
    ngx_uint_t                         paused;
} ngx_http_qlm_webhook_admin_url_t;


typedef struct {
    ngx_pool_t                        *pool;
    ngx_array_t                        stored;  /* .._admin_url_t */
    ngx_array_t                        urls;    /* .._admin_url_t */
    ngx_uint_t                         nomem;
} ngx_http_qlm_webhook_admin_urls_t;


static ngx_int_t
ngx_http_qlm_webhook_admin_urls(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    int                                 rc;
    ngx_uint_t                          i, k;
    ngx_http_qlm_webhook_admin_out_t    o;
    ngx_http_qlm_webhook_admin_url_t   *u, *p;
    ngx_http_qlm_webhook_admin_urls_t   a;

    a.pool = r->pool;
    a.nomem = 0;

    if (ngx_array_init(&a.stored, r->pool, 4,
                       sizeof(ngx_http_qlm_webhook_admin_url_t))
        != NGX_OK
        || ngx_array_init(&a.urls, r->pool, 8,
                          sizeof(ngx_http_qlm_webhook_admin_url_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = qlm_store_paused_foreach(mcf->store,
                                  ngx_http_qlm_webhook_admin_paused, &a,
                                  NULL);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qlm webhook: qlm_store_paused_foreach: %s",
                      qlm_store_strerror(rc));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (a.nomem
        || ngx_http_qlm_webhook_urls_each(mcf, ngx_http_qlm_webhook_admin_url,
                                          &a)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&o, sizeof(ngx_http_qlm_webhook_admin_out_t));
    o.r = r;
    o.last = &o.out;

    ngx_http_qlm_webhook_admin_printf(&o, 16, "{\"urls\":[");

    u = a.urls.elts;
    p = a.stored.elts;

    for (i = 0; i < a.urls.nelts; i++) {
        ngx_http_qlm_webhook_admin_printf(&o, 16, "%s{\"url\":",
                                          i ? "," : "");
        ngx_http_qlm_webhook_admin_string(&o, (char *) u[i].url.data,
                                          u[i].url.len);
        ngx_http_qlm_webhook_admin_printf(&o, 32, ",\"paused\":%s",
                                          u[i].paused ? "true" : "false");

        for (k = 0; u[i].paused && k < a.stored.nelts; k++) {
            if (p[k].url.len == u[i].url.len
                && ngx_strncmp(p[k].url.data, u[i].url.data, p[k].url.len)
                   == 0)
            {
                ngx_http_qlm_webhook_admin_printf(&o, 4, ",");
                ngx_http_qlm_webhook_admin_time_iso(&o, "since",
                                                    p[k].since);
                ngx_http_qlm_webhook_admin_printf(&o, 16, ",\"by\":");
                ngx_http_qlm_webhook_admin_string(&o, (char *) p[k].by.data,
                                                  p[k].by.len);
                break;
            }
        }

        ngx_http_qlm_webhook_admin_printf(&o, 4, "}");
    }

    ngx_http_qlm_webhook_admin_printf(&o, 8, "]}\n");

    return ngx_http_qlm_webhook_admin_send(r, NGX_HTTP_OK, &o);
}


static int
ngx_http_qlm_webhook_admin_paused(const qlm_store_paused_t *p, void *data)
{
    ngx_http_qlm_webhook_admin_url_t   *u;
    ngx_http_qlm_webhook_admin_urls_t  *a;

    a = data;

    u = ngx_array_push(&a->stored);
    if (u == NULL) {
        a->nomem = 1;
        return 1;
    }

    u->since = p->since;
    u->paused = 1;
    u->url.len = p->url.len;
    u->url.data = ngx_pnalloc(a->pool, p->url.len + 1);
    u->by.len = p->by.len;
    u->by.data = ngx_pnalloc(a->pool, p->by.len + 1);

    if (u->url.data == NULL || u->by.data == NULL) {
        a->nomem = 1;
        return 1;
    }

    ngx_memcpy(u->url.data, p->url.data, p->url.len);
    ngx_memcpy(u->by.data, p->by.data, p->by.len);

    return 0;
}


static ngx_int_t
ngx_http_qlm_webhook_admin_url(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_url_t *u, void *data)
{
    ngx_uint_t                          i;
    qlm_store_str_t                     s;
    ngx_http_qlm_webhook_urlstate_t    *us;
    ngx_http_qlm_webhook_admin_url_t   *a;
    ngx_http_qlm_webhook_admin_urls_t  *urls;

    urls = data;
    a = urls->urls.elts;

    s.data = (char *) u->url.data;
    s.len = u->url.len;

    us = ngx_http_qlm_webhook_url_state(mcf, &s);

    /* a URL configured for several events is listed once */

    for (i = 0; i < urls->urls.nelts; i++) {
        if (a[i].url.len == u->log_url.len
            && ngx_strncmp(a[i].url.data, u->log_url.data, a[i].url.len)
               == 0)
        {
            a[i].paused |= (us != NULL && us->paused);
            return NGX_OK;
        }
    }

    a = ngx_array_push(&urls->urls);
    if (a == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(a, sizeof(ngx_http_qlm_webhook_admin_url_t));
    a->url = u->log_url;
    a->paused = (us != NULL && us->paused);

    return NGX_OK;
}


/* a URL once, however many events it is configured for */

static ngx_int_t
ngx_http_qlm_webhook_admin_target(ngx_array_t *targets,
    ngx_http_qlm_webhook_url_t *u)
{
    ngx_uint_t                            i;
    ngx_http_qlm_webhook_admin_target_t  *t;

    t = targets->elts;

    for (i = 0; i < targets->nelts; i++) {
        if (t[i].url->url.len == u->url.len
            && ngx_strncmp(t[i].url->url.data, u->url.data, u->url.len) == 0)
        {
            return NGX_OK;
        }
    }

    t = ngx_array_push(targets);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->url = u;

    return NGX_OK;
}


/* the event's payload with made-up fields, marked "Test":true */

static ngx_int_t
ngx_http_qlm_webhook_admin_test_body(ngx_pool_t *pool, ngx_uint_t event,
    ngx_str_t *event_id, ngx_str_t *body)
{
    u_char        *p;
    ngx_str_t      payload;
    ngx_uint_t     i;
    ngx_array_t   *values;
    ngx_keyval_t  *kv;

    static ngx_keyval_t  license[] = {
        { ngx_string("ActivationKey"), ngx_string("TEST-0000-0000-0000") },
        { ngx_string("Email"), ngx_string("test@example.com") },
        { ngx_string("FullName"), ngx_string("Test User") },
        { ngx_string("ProductID"), ngx_string("1") },
        { ngx_string("MajorVersion"), ngx_string("1") },
        { ngx_string("MinorVersion"), ngx_string("0") },
        { ngx_string("NumLicenses"), ngx_string("1") },
        { ngx_string("CustomerID"), ngx_string("1") },
        { ngx_string("Company"), ngx_string("Example") },
        { ngx_null_string, ngx_null_string }
    };

    values = ngx_array_create(pool, 10, sizeof(ngx_keyval_t));
    if (values == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; license[i].key.len; i++) {
        kv = ngx_array_push(values);
        if (kv == NULL) {
            return NGX_ERROR;
        }

        *kv = license[i];
    }

    if (ngx_http_qlm_webhook_event_payload(pool, event, event_id, ngx_time(),
                                           values, &payload)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* "{...}" becomes "{"Test":true,...}" */

    p = ngx_pnalloc(pool, payload.len + sizeof("\"Test\":true,") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    *p++ = '{';
    p = ngx_cpymem(p, "\"Test\":true,", sizeof("\"Test\":true,") - 1);
    p = ngx_cpymem(p, payload.data + 1, payload.len - 1);

    body->len = p - body->data;

    return NGX_OK;
}


/* an argument of the query string, URL-decoded; NGX_DECLINED: absent */

static ngx_int_t
ngx_http_qlm_webhook_admin_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK
        || raw.len == 0)
    {
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, raw.len + 1);
    if (dst == NULL) {
        return NGX_DECLINED;
    }

    value->data = dst;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, 0);

    value->len = dst - value->data;
    *dst = '\0';

    return NGX_OK;
}


static ngx_int_t
ngx_http_qlm_webhook_admin_number(ngx_str_t *v, uint64_t *n)
{
    size_t  i;

    if (v->len == 0 || v->len > 19) {
        return NGX_ERROR;
    }

    *n = 0;

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < '0' || v->data[i] > '9') {
            return NGX_ERROR;
        }

        *n = *n * 10 + (v->data[i] - '0');
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_qlm_webhook_admin_limit(ngx_http_request_t *r, size_t *limit)
{
    uint64_t   n;
    ngx_str_t  v;

    *limit = NGX_HTTP_QLM_WEBHOOK_ADMIN_LIMIT;

    if (ngx_http_qlm_webhook_admin_arg(r, "limit", &v) != NGX_OK) {
        return NGX_OK;
    }

    if (ngx_http_qlm_webhook_admin_number(&v, &n) != NGX_OK
        || n == 0 || n > NGX_HTTP_QLM_WEBHOOK_ADMIN_MAX)
    {
        return NGX_ERROR;
    }

    *limit = (size_t) n;

    return NGX_OK;
}


/*
 * A time, as qlm-store reads it: seconds since the epoch; relative to now,
 * "-30s", "-15m", "-1h", "-2d"; or ISO 8601, YYYY-MM-DD[THH:MM:SS] in the
 * server's local time, or with "Z" or "+HH:MM" in that zone.  In ms.
 */

static ngx_int_t
ngx_http_qlm_webhook_admin_time(ngx_str_t *v, uint64_t now, uint64_t *ms)
{
    u_char     *p, *last;
    time_t      t;
    uint64_t    n, unit;
    ngx_int_t   offset, zone;
    ngx_str_t   s;
    struct tm   tm;

    p = v->data;
    last = v->data + v->len;

    if (v->len > 2 && *p == '-') {
        switch (last[-1]) {
        case 's':
            unit = 1000;
            break;
        case 'm':
            unit = 60 * 1000;
            break;
        case 'h':
            unit = 3600 * 1000;
            break;
        case 'd':
            unit = 86400 * 1000;
            break;
        default:
            return NGX_ERROR;
        }

        s.data = p + 1;
        s.len = v->len - 2;

        if (ngx_http_qlm_webhook_admin_number(&s, &n) != NGX_OK
            || n > now / unit)
        {
            return NGX_ERROR;
        }

        *ms = now - n * unit;
        return NGX_OK;
    }

    if (ngx_http_qlm_webhook_admin_number(v, &n) == NGX_OK) {
        if (n > NGX_MAX_UINT32_VALUE * 1000ULL) {
            return NGX_ERROR;
        }

        *ms = n * 1000;
        return NGX_OK;
    }

    /* YYYY-MM-DD */

#define ngx_qlm_digits(p, n)  ngx_atoi(p, n)

    if (v->len < 10 || p[4] != '-' || p[7] != '-') {
        return NGX_ERROR;
    }

    ngx_memzero(&tm, sizeof(struct tm));

    tm.tm_year = ngx_qlm_digits(p, 4);
    tm.tm_mon = ngx_qlm_digits(p + 5, 2);
    tm.tm_mday = ngx_qlm_digits(p + 8, 2);
    p += 10;

    if (p < last && *p == 'T') {
        if (last - p < 9 || p[3] != ':' || p[6] != ':') {
            return NGX_ERROR;
        }

        tm.tm_hour = ngx_qlm_digits(p + 1, 2);
        tm.tm_min = ngx_qlm_digits(p + 4, 2);
        tm.tm_sec = ngx_qlm_digits(p + 7, 2);
        p += 9;
    }

    zone = 0;
    offset = 0;

    if (p < last && *p == 'Z' && p + 1 == last) {
        zone = 1;

    } else if (last - p == 6 && (*p == '+' || *p == '-') && p[3] == ':') {
        zone = 1;
        offset = ngx_qlm_digits(p + 1, 2) * 3600
                 + ngx_qlm_digits(p + 4, 2) * 60;

        if (ngx_qlm_digits(p + 1, 2) == NGX_ERROR
            || ngx_qlm_digits(p + 4, 2) == NGX_ERROR
            || offset > 14 * 3600)
        {
            return NGX_ERROR;
        }

        if (*p == '+') {
            offset = -offset;
        }

    } else if (p != last) {
        return NGX_ERROR;
    }

#undef ngx_qlm_digits

    if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12
        || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0
        || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59
        || tm.tm_sec < 0 || tm.tm_sec > 60)
    {
        return NGX_ERROR;
    }

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_isdst = -1;

    t = zone ? timegm(&tm) + offset : mktime(&tm);

    if (t == (time_t) -1 || t < 0) {
        return NGX_ERROR;
    }

    *ms = (uint64_t) t * 1000;

    return NGX_OK;
}


/* a URL as the log keeps it: without credentials and query */

static void
ngx_http_qlm_webhook_admin_log_url(ngx_pool_t *pool, ngx_str_t *url,
    ngx_str_t *log_url)
{
    ngx_http_qlm_webhook_url_t  u;

    if (ngx_http_qlm_webhook_parse_url(pool, url, &u) == NGX_CONF_OK) {
        *log_url = u.log_url;

    } else {
        ngx_str_set(log_url, "(invalid URL)");
    }
}


/* room for size bytes at the end of the answer */

static u_char *
ngx_http_qlm_webhook_admin_reserve(ngx_http_qlm_webhook_admin_out_t *o,
    size_t size)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (o->failed) {
        return NULL;
    }

    if (o->b && (size_t) (o->b->end - o->b->last) >= size) {
        return o->b->last;
    }

    b = ngx_create_temp_buf(o->r->pool, ngx_max(size, 8192));
    cl = ngx_alloc_chain_link(o->r->pool);

    if (b == NULL || cl == NULL) {
        o->failed = 1;
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    *o->last = cl;
    o->last = &cl->next;
    o->b = b;

    return b->last;
}


static void
ngx_http_qlm_webhook_admin_printf(ngx_http_qlm_webhook_admin_out_t *o,
    size_t size, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    p = ngx_http_qlm_webhook_admin_reserve(o, size);
    if (p == NULL) {
        return;
    }

    va_start(args, fmt);
    o->b->last = ngx_vslprintf(p, p + size, fmt, args);
    va_end(args);
}


static void
ngx_http_qlm_webhook_admin_string(ngx_http_qlm_webhook_admin_out_t *o,
    const char *data, size_t len)
{
    u_char  *p;

    /* the payloads' writer: valid JSON whatever the bytes */

    p = ngx_http_qlm_webhook_admin_reserve(o,
                          qlm_payload_string(NULL, (u_char *) data, len));
    if (p == NULL) {
        return;
    }

    o->b->last = p + qlm_payload_string(p, (u_char *) data, len);
}


/* "name":ms,"name_iso":"2026-11-23T08:30:00.123Z", as qlm-store -j has it */

static void
ngx_http_qlm_webhook_admin_time_iso(ngx_http_qlm_webhook_admin_out_t *o,
    const char *name, uint64_t ms)
{
    ngx_tm_t  tm;

    if (ms == 0) {
        ngx_http_qlm_webhook_admin_printf(o, 64, "\"%s\":0,\"%s_iso\":null",
                                          name, name);
        return;
    }

    ngx_gmtime((time_t) (ms / 1000), &tm);

    ngx_http_qlm_webhook_admin_printf(o, 96,
                                      "\"%s\":%uL,\"%s_iso\":"
                                      "\"%4d-%02d-%02dT%02d:%02d:%02d."
                                      "%03uLZ\"",
                                      name, ms, name,
                                      tm.ngx_tm_year, tm.ngx_tm_mon,
                                      tm.ngx_tm_mday, tm.ngx_tm_hour,
                                      tm.ngx_tm_min, tm.ngx_tm_sec,
                                      ms % 1000);
}


static ngx_int_t
ngx_http_qlm_webhook_admin_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_http_qlm_webhook_admin_out_t *o)
{
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    if (o->failed || o->out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = 0;

    for (cl = o->out; cl; cl = cl->next) {
        r->headers_out.content_length_n += ngx_buf_size(cl->buf);
        cl->buf->last_buf = (cl->next == NULL && r == r->main);
        cl->buf->last_in_chain = (cl->next == NULL);
    }

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, o->out);
}


/* {"error":"..."}: fmt is JSON-safe text, its arguments are escaped */

static ngx_int_t
ngx_http_qlm_webhook_admin_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char                            *p;
    va_list                            args;
    ngx_str_t                          msg;
    ngx_http_qlm_webhook_admin_out_t   o;
    u_char                             text[512];

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    msg.data = text;
    msg.len = p - text;

    ngx_memzero(&o, sizeof(ngx_http_qlm_webhook_admin_out_t));
    o.r = r;
    o.last = &o.out;

    ngx_http_qlm_webhook_admin_printf(&o, 16, "{\"error\":\"");

    p = ngx_http_qlm_webhook_admin_reserve(&o, msg.len);

    if (p) {
        o.b->last = ngx_cpymem(p, msg.data, msg.len);
    }

    ngx_http_qlm_webhook_admin_printf(&o, 16, "\"}\n");

    return ngx_http_qlm_webhook_admin_send(r, status, &o);
}
