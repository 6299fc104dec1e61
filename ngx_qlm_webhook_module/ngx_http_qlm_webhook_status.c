
/*
 * ngx_qlm_webhook_module: whole-server counters in shared memory, and the
 * status page (qlm_webhook_status) that shows them, with the store's
 * figures, as JSON or in Prometheus' text format.
 *
 * Every worker adds to the same counters with atomic operations: counting
 * costs no store write and no lock.  The zone outlives reloads; the store
 * keeps its own persistent counters (qlm-store counters).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qlm_webhook_module.h"
#include "qlm_payload.h"


#define NGX_HTTP_QLM_WEBHOOK_ZONE_SIZE   (512 * 1024)

#define NGX_HTTP_QLM_WEBHOOK_JSON        0
#define NGX_HTTP_QLM_WEBHOOK_PROMETHEUS  1

/*
 * due and leased need a walk of the queue: a worker walks at most
 * WALK_MAX entries, at most once every WALK_AGE ms, and shows its last
 * walk's figures meanwhile, so that a scrape under load costs a bounded
 * read however long the queue and however often the page is asked for
 */
#define NGX_HTTP_QLM_WEBHOOK_WALK_MAX    10000
#define NGX_HTTP_QLM_WEBHOOK_WALK_AGE    1000


typedef struct {
    ngx_msec_t                    at;
    uint64_t                      due;
    uint64_t                      leased;
    uint64_t                      examined;
    unsigned                      partial:1;
    unsigned                      valid:1;
} ngx_http_qlm_webhook_walk_t;


/*
 * PostgreSQL: the fleet's queue figures, from a statement that a worker
 * sends at most once a WALK_AGE, when the page is asked for; the page
 * never waits for it: it shows the last figures and when they were read.
 */
typedef struct {
    uint64_t                      at;       /* ms since the epoch; 0: none */
    ngx_msec_t                    asked;    /* ngx_current_msec */
    uint64_t                      queued;
    uint64_t                      due;
    uint64_t                      leased;
    uint64_t                      dead;
    uint64_t                      log_records;
    uint64_t                      next_due;
    unsigned                      running:1;
    unsigned                      asked_once:1;
} ngx_http_qlm_webhook_fleet_t;


static ngx_int_t ngx_http_qlm_webhook_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_qlm_webhook_status_handler(ngx_http_request_t *r);
static int ngx_http_qlm_webhook_status_stat(
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_stat_t *st);
static void ngx_http_qlm_webhook_status_fleet(
    ngx_http_qlm_webhook_main_conf_t *mcf);
static void ngx_http_qlm_webhook_status_fleet_done(
    ngx_http_qlm_webhook_pg_req_t *req, PGresult *res);
static u_char *ngx_http_qlm_webhook_status_fleet_json(u_char *p,
    qlm_store_stat_t *st);
static u_char *ngx_http_qlm_webhook_status_fleet_prometheus(u_char *p,
    qlm_store_stat_t *st);
static ngx_uint_t ngx_http_qlm_webhook_status_format(ngx_http_request_t *r);
static ngx_chain_t *ngx_http_qlm_webhook_status_json(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_stat_t *st, int rc);
static ngx_chain_t *ngx_http_qlm_webhook_status_prometheus(
    ngx_http_request_t *r, ngx_http_qlm_webhook_main_conf_t *mcf,
    qlm_store_stat_t *st, int rc);


/* this worker's last walk of the queue */
static ngx_http_qlm_webhook_walk_t  ngx_http_qlm_webhook_walk;

/* this worker's last figures of the fleet's queue */
static ngx_http_qlm_webhook_fleet_t  ngx_http_qlm_webhook_fleet;


/* as "qlm-store ... summary" counts them */
static const char  ngx_http_qlm_webhook_fleet_sql[] =
    "SELECT count(*), count(*) FILTER (WHERE due <= $1), "
    "count(*) FILTER (WHERE lease <> 0 AND due > $1), "
    "coalesce(min(due), 0), (SELECT count(*) FROM qlm_dead), "
    "(SELECT count(*) FROM qlm_log) FROM qlm_queue";


/* upper bounds of the latency histogram, ms */
static ngx_uint_t  ngx_http_qlm_webhook_buckets[] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000, 300000, 3600000
};


char  *ngx_http_qlm_webhook_counter_names[] = {
    "answer_error",
    "answer_too_large",
    "answer_compressed",
    "answer_unreadable",
    "answer_unparsable",
    "answer_no_body",
    "answer_incomplete",
    "lost_store_full",
    "lost_store_not_open",
    "lost_other",
    "lease_taken_over",
    "task_runs",
    "task_licenses_scanned",
    "task_licenses_matched",
    "gone",
    "retry_after",
    "circuit_opened",
    "paused",
    "postgresql_forwarded",
    "postgresql_errors"
};


char  *ngx_http_qlm_webhook_outcomes[] = {
    "stored", "delivered", "retry", "dead"
};


ngx_int_t
ngx_http_qlm_webhook_status_zone(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_str_t  name;

    ngx_str_set(&name, "qlm_webhook");

    mcf->shm_zone = ngx_shared_memory_add(cf, &name,
                                          NGX_HTTP_QLM_WEBHOOK_ZONE_SIZE,
                                          &ngx_http_qlm_webhook_module);
    if (mcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    mcf->shm_zone->init = ngx_http_qlm_webhook_init_zone;
    mcf->shm_zone->data = mcf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_qlm_webhook_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t                   *shpool;
    ngx_http_qlm_webhook_main_conf_t  *mcf, *omcf;

    mcf = shm_zone->data;
    omcf = data;

    /* a reload keeps the counts */

    if (omcf) {
        mcf->sh = omcf->sh;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        mcf->sh = shpool->data;
        return NGX_OK;
    }

    mcf->sh = ngx_slab_calloc(shpool, sizeof(ngx_http_qlm_webhook_shctx_t));
    if (mcf->sh == NULL) {
        return NGX_ERROR;
    }

    mcf->sh->started = ngx_time();
    shpool->data = mcf->sh;

    return NGX_OK;
}


/*
 * event: an event's name, or a scheduled task's (its own row); latency:
 * ms from the answer to a successful delivery, or 0.
 */

void
ngx_http_qlm_webhook_count_delivery(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_str_t *event, ngx_uint_t what, uint64_t latency)
{
    ngx_int_t                      e;
    ngx_uint_t                     i;
    ngx_http_qlm_webhook_shctx_t  *sh;

    sh = mcf->sh;

    if (sh == NULL) {
        return;
    }

    e = ngx_http_qlm_webhook_event_by_name(event);

    if (e == NGX_ERROR) {
        e = NGX_HTTP_QLM_WEBHOOK_NEVENTS;
    }

    (void) ngx_atomic_fetch_add(&sh->deliveries[e][what], 1);

    if (what != NGX_HTTP_QLM_WEBHOOK_D_DELIVERED) {
        return;
    }

    for (i = 0; i < NGX_HTTP_QLM_WEBHOOK_NBUCKETS; i++) {
        if (latency <= ngx_http_qlm_webhook_buckets[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&sh->latency[i], 1);
    (void) ngx_atomic_fetch_add(&sh->latency_sum, (ngx_atomic_int_t) latency);
}


char *
ngx_http_qlm_webhook_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_qlm_webhook_status_handler;

    /* the figures come from the store and the shared zone */

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qlm_webhook_module);
    mcf->store_used = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_qlm_webhook_status_handler(ngx_http_request_t *r)
{
    int                                rc;
    ngx_int_t                          ret;
    ngx_uint_t                         format;
    ngx_chain_t                       *out, *cl;
    qlm_store_stat_t                   st;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    ret = ngx_http_discard_request_body(r);
    if (ret != NGX_OK) {
        return ret;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_qlm_webhook_module);

    rc = ngx_http_qlm_webhook_status_stat(mcf, &st);

    format = ngx_http_qlm_webhook_status_format(r);

    out = (format == NGX_HTTP_QLM_WEBHOOK_PROMETHEUS)
          ? ngx_http_qlm_webhook_status_prometheus(r, mcf, &st, rc)
          : ngx_http_qlm_webhook_status_json(r, mcf, &st, rc);

    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;

    for (cl = out; cl; cl = cl->next) {
        r->headers_out.content_length_n += ngx_buf_size(cl->buf);
        cl->buf->last_buf = (cl->next == NULL);
        cl->buf->last_in_chain = (cl->next == NULL);
    }

    if (format == NGX_HTTP_QLM_WEBHOOK_PROMETHEUS) {
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");

    } else {
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ret = ngx_http_send_header(r);

    if (ret == NGX_ERROR || ret > NGX_OK || r->header_only) {
        return ret;
    }

    return ngx_http_output_filter(r, out);
}


/*
 * The store's figures: counts of entries and the map's use are read each
 * time (no walk, no write); due and leased come from a bounded walk, at
 * most one a WALK_AGE in this worker.
 */

static int
ngx_http_qlm_webhook_status_stat(ngx_http_qlm_webhook_main_conf_t *mcf,
    qlm_store_stat_t *st)
{
    int                           rc;
    ngx_http_qlm_webhook_walk_t  *w;

    ngx_memzero(st, sizeof(qlm_store_stat_t));

    if (mcf->pg_conninfo.len) {
        ngx_http_qlm_webhook_status_fleet(mcf);
    }

    if (mcf->store == NULL) {
        return QLM_STORE_INVALID;
    }

    /* on PostgreSQL the store is the spool: its counts, no walk */

    if (mcf->pg_conninfo.len) {
        return qlm_store_stat(mcf->store, 0, st);
    }

    w = &ngx_http_qlm_webhook_walk;

    if (w->valid && ngx_current_msec - w->at < NGX_HTTP_QLM_WEBHOOK_WALK_AGE) {
        rc = qlm_store_stat(mcf->store, 0, st);

        st->due = w->due;
        st->leased = w->leased;
        st->examined = w->examined;
        st->partial = w->partial;

        return rc;
    }

    rc = qlm_store_stat_max(mcf->store, ngx_http_qlm_webhook_now(),
                            NGX_HTTP_QLM_WEBHOOK_WALK_MAX, st);

    if (rc == 0) {
        w->at = ngx_current_msec;
        w->due = st->due;
        w->leased = st->leased;
        w->examined = st->examined;
        w->partial = st->partial;
        w->valid = 1;
    }

    return rc;
}


static void
ngx_http_qlm_webhook_status_fleet(ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_http_qlm_webhook_fleet_t   *f;
    ngx_http_qlm_webhook_pg_req_t  *req;

    f = &ngx_http_qlm_webhook_fleet;

    /* none up: asked again by the next page, not a second later */

    if (!ngx_http_qlm_webhook_pg_up(mcf) || f->running
        || (f->asked_once
            && ngx_current_msec - f->asked < NGX_HTTP_QLM_WEBHOOK_WALK_AGE))
    {
        return;
    }

    req = ngx_http_qlm_webhook_pg_req(mcf->pg, 1);
    if (req == NULL) {
        return;
    }

    req->sql = ngx_http_qlm_webhook_fleet_sql;
    req->handler = ngx_http_qlm_webhook_status_fleet_done;

    if (ngx_http_qlm_webhook_pg_int8(req, ngx_http_qlm_webhook_now())
        != NGX_OK)
    {
        ngx_destroy_pool(req->pool);
        return;
    }

    f->running = 1;
    f->asked = ngx_current_msec;
    f->asked_once = 1;

    ngx_http_qlm_webhook_pg_run(mcf, req);
}


static void
ngx_http_qlm_webhook_status_fleet_done(ngx_http_qlm_webhook_pg_req_t *req,
    PGresult *res)
{
    ngx_http_qlm_webhook_fleet_t  *f;

    f = &ngx_http_qlm_webhook_fleet;

    f->running = 0;

    if (res == NULL || PQntuples(res) != 1) {
        return;
    }

    f->queued = ngx_http_qlm_webhook_pg_get8(res, 0, 0);
    f->due = ngx_http_qlm_webhook_pg_get8(res, 0, 1);
    f->leased = ngx_http_qlm_webhook_pg_get8(res, 0, 2);
    f->next_due = ngx_http_qlm_webhook_pg_get8(res, 0, 3);
    f->dead = ngx_http_qlm_webhook_pg_get8(res, 0, 4);
    f->log_records = ngx_http_qlm_webhook_pg_get8(res, 0, 5);
    f->at = ngx_http_qlm_webhook_now();
}


/* ?format=prometheus, or an Accept that asks for the text format */

static ngx_uint_t
ngx_http_qlm_webhook_status_format(ngx_http_request_t *r)
{
    u_char           *last;
    ngx_str_t         v;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (ngx_http_arg(r, (u_char *) "format", 6, &v) == NGX_OK) {
        return (v.len == 10
                && ngx_strncmp(v.data, "prometheus", 10) == 0)
               ? NGX_HTTP_QLM_WEBHOOK_PROMETHEUS : NGX_HTTP_QLM_WEBHOOK_JSON;
    }

    /* r->headers_in.accept is there only in some builds: read the list */

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != 6
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Accept", 6) != 0)
        {
            continue;
        }

        last = h[i].value.data + h[i].value.len;

        if (ngx_strlcasestrn(h[i].value.data, last,
                             (u_char *) "text/plain", 10 - 1)
            != NULL
            || ngx_strlcasestrn(h[i].value.data, last,
                                (u_char *) "openmetrics", 11 - 1)
               != NULL)
        {
            return NGX_HTTP_QLM_WEBHOOK_PROMETHEUS;
        }
    }

    return NGX_HTTP_QLM_WEBHOOK_JSON;
}


static ngx_chain_t *
ngx_http_qlm_webhook_status_json(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_stat_t *st, int rc)
{
    u_char                        *p;
    size_t                         size;
    ngx_buf_t                     *b;
    ngx_str_t                     *u;
    ngx_uint_t                     e, i, n;
    ngx_array_t                    paused;
    ngx_chain_t                   *cl;
    ngx_http_qlm_webhook_shctx_t  *sh;

    static ngx_http_qlm_webhook_shctx_t  zero;

    sh = mcf->sh;

    if (sh == NULL) {
        sh = &zero;
    }

    if (ngx_http_qlm_webhook_paused_urls(mcf, r->pool, &paused) != NGX_OK) {
        return NULL;
    }

    size = 4096 + NGX_HTTP_QLM_WEBHOOK_NEVENTS * 256
           + NGX_HTTP_QLM_WEBHOOK_NCOUNTERS * 64
           + NGX_HTTP_QLM_WEBHOOK_NBUCKETS * 48;

    u = paused.elts;

    for (i = 0; i < paused.nelts; i++) {
        size += qlm_payload_string(NULL, u[i].data, u[i].len) + 1;
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    p = ngx_sprintf(p, "{\"version\":\"" NGX_HTTP_QLM_WEBHOOK_VERSION "\","
                    "\"enabled\":%s,\"since\":%T,",
                    mcf->enable ? "true" : "false", (time_t) sh->started);

    if (rc == 0 && mcf->pg_conninfo.len) {
        p = ngx_http_qlm_webhook_status_fleet_json(p, st);

    } else if (rc == 0) {
        p = ngx_sprintf(p, "\"store\":{\"open\":true,\"queued\":%uL,"
                        "\"due\":%uL,\"leased\":%uL,\"walked\":%uL,"
                        "\"walk_partial\":%s,"
                        "\"dead_letters\":%uL,\"log_records\":%uL,"
                        "\"next_due\":%uL,\"map_size\":%uz,"
                        "\"map_used\":%uz},",
                        st->queued, st->due, st->leased, st->examined,
                        st->partial ? "true" : "false",
                        st->dead, st->log_records, st->next_due,
                        st->map_size, st->map_used);

    } else {
        p = ngx_sprintf(p, "\"store\":{\"open\":false},");
    }

    p = ngx_sprintf(p, "\"in_flight\":%uA,\"deliveries\":{", sh->in_flight);

    for (e = 0; e <= NGX_HTTP_QLM_WEBHOOK_NEVENTS; e++) {
        if (e < NGX_HTTP_QLM_WEBHOOK_NEVENTS) {
            p = ngx_sprintf(p, "%s\"%V\":{", e ? "," : "",
                            &ngx_http_qlm_webhook_event_names[e]);

        } else {
            p = ngx_sprintf(p, ",\"scheduled_tasks\":{");
        }

        for (i = 0; i < NGX_HTTP_QLM_WEBHOOK_ND; i++) {
            p = ngx_sprintf(p, "%s\"%s\":%uA", i ? "," : "",
                            ngx_http_qlm_webhook_outcomes[i],
                            sh->deliveries[e][i]);
        }

        *p++ = '}';
    }

    p = ngx_sprintf(p, "},\"counters\":{");

    for (i = 0; i < NGX_HTTP_QLM_WEBHOOK_NCOUNTERS; i++) {
        p = ngx_sprintf(p, "%s\"%s\":%uA", i ? "," : "",
                        ngx_http_qlm_webhook_counter_names[i],
                        sh->counters[i]);
    }

    p = ngx_sprintf(p, "},\"delivery_latency_ms\":{\"buckets\":[");

    n = 0;

    for (i = 0; i <= NGX_HTTP_QLM_WEBHOOK_NBUCKETS; i++) {
        n += sh->latency[i];

        if (i < NGX_HTTP_QLM_WEBHOOK_NBUCKETS) {
            p = ngx_sprintf(p, "%s[%ui,%ui]", i ? "," : "",
                            ngx_http_qlm_webhook_buckets[i], n);
        }
    }

    p = ngx_sprintf(p, "],\"count\":%ui,\"sum\":%uA},\"paused_urls\":[",
                    n, sh->latency_sum);

    for (i = 0; i < paused.nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p += qlm_payload_string(p, u[i].data, u[i].len);
    }

    p = ngx_sprintf(p, "]}\n");

    b->last = p;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}


static ngx_chain_t *
ngx_http_qlm_webhook_status_prometheus(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_stat_t *st, int rc)
{
    u_char                        *p, *s, *end;
    size_t                         size;
    ngx_buf_t                     *b;
    ngx_str_t                      name, *u;
    ngx_uint_t                     e, i, n;
    ngx_array_t                    paused;
    ngx_chain_t                   *cl;
    ngx_http_qlm_webhook_shctx_t  *sh;

    static ngx_http_qlm_webhook_shctx_t  zero;

    sh = mcf->sh;

    if (sh == NULL) {
        sh = &zero;
    }

    if (ngx_http_qlm_webhook_paused_urls(mcf, r->pool, &paused) != NGX_OK) {
        return NULL;
    }

    size = 8192 + NGX_HTTP_QLM_WEBHOOK_NEVENTS * 512
           + NGX_HTTP_QLM_WEBHOOK_NCOUNTERS * 128
           + NGX_HTTP_QLM_WEBHOOK_NBUCKETS * 96;

    u = paused.elts;

    for (i = 0; i < paused.nelts; i++) {
        size += 2 * u[i].len + 64;
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    p = ngx_sprintf(p,
            "# HELP qlm_webhook_up 1 when the store is open in the worker "
            "that answered\n"
            "# TYPE qlm_webhook_up gauge\n"
            "qlm_webhook_up %d\n", rc == 0);

    if (rc == 0 && mcf->pg_conninfo.len) {
        p = ngx_http_qlm_webhook_status_fleet_prometheus(p, st);

    } else if (rc == 0) {
        p = ngx_sprintf(p,
            "# HELP qlm_webhook_queue_items Deliveries waiting or in flight\n"
            "# TYPE qlm_webhook_queue_items gauge\n"
            "qlm_webhook_queue_items %uL\n"
            "# HELP qlm_webhook_queue_due Deliveries claimable now (walked "
            "at most once a second, up to 10000 items)\n"
            "# TYPE qlm_webhook_queue_due gauge\n"
            "qlm_webhook_queue_due %uL\n"
            "# HELP qlm_webhook_queue_leased Deliveries claimed, lease not "
            "expired\n"
            "# TYPE qlm_webhook_queue_leased gauge\n"
            "qlm_webhook_queue_leased %uL\n"
            "# HELP qlm_webhook_queue_walk_partial 1 when the walk stopped "
            "at its bound: due and leased are lower bounds\n"
            "# TYPE qlm_webhook_queue_walk_partial gauge\n"
            "qlm_webhook_queue_walk_partial %d\n"
            "# HELP qlm_webhook_dead_letters Deliveries out of retries\n"
            "# TYPE qlm_webhook_dead_letters gauge\n"
            "qlm_webhook_dead_letters %uL\n"
            "# HELP qlm_webhook_log_records Invocation log records\n"
            "# TYPE qlm_webhook_log_records gauge\n"
            "qlm_webhook_log_records %uL\n"
            "# HELP qlm_webhook_store_bytes The store's map: size and use\n"
            "# TYPE qlm_webhook_store_bytes gauge\n"
            "qlm_webhook_store_bytes{kind=\"size\"} %uz\n"
            "qlm_webhook_store_bytes{kind=\"used\"} %uz\n",
            st->queued, st->due, st->leased, st->partial ? 1 : 0,
            st->dead, st->log_records, st->map_size, st->map_used);
    }

    p = ngx_sprintf(p,
            "# HELP qlm_webhook_in_flight Delivery attempts in flight\n"
            "# TYPE qlm_webhook_in_flight gauge\n"
            "qlm_webhook_in_flight %uA\n"
            "# HELP qlm_webhook_deliveries_total Events stored, and "
            "delivery attempts by outcome\n"
            "# TYPE qlm_webhook_deliveries_total counter\n",
            sh->in_flight);

    for (e = 0; e <= NGX_HTTP_QLM_WEBHOOK_NEVENTS; e++) {
        if (e < NGX_HTTP_QLM_WEBHOOK_NEVENTS) {
            name = ngx_http_qlm_webhook_event_names[e];

        } else {
            ngx_str_set(&name, "scheduled_task");
        }

        for (i = 0; i < NGX_HTTP_QLM_WEBHOOK_ND; i++) {
            p = ngx_sprintf(p, "qlm_webhook_deliveries_total{event=\"%V\","
                            "outcome=\"%s\"} %uA\n", &name,
                            ngx_http_qlm_webhook_outcomes[i],
                            sh->deliveries[e][i]);
        }
    }

    p = ngx_sprintf(p,
            "# HELP qlm_webhook_events_total Answers that emitted no event, "
            "events lost, leases taken over, scheduled task work\n"
            "# TYPE qlm_webhook_events_total counter\n");

    for (i = 0; i < NGX_HTTP_QLM_WEBHOOK_NCOUNTERS; i++) {
        p = ngx_sprintf(p, "qlm_webhook_events_total{what=\"%s\"} %uA\n",
                        ngx_http_qlm_webhook_counter_names[i],
                        sh->counters[i]);
    }

    p = ngx_sprintf(p,
            "# HELP qlm_webhook_delivery_latency_seconds From the license "
            "server's answer to a successful delivery\n"
            "# TYPE qlm_webhook_delivery_latency_seconds histogram\n");

    n = 0;

    for (i = 0; i <= NGX_HTTP_QLM_WEBHOOK_NBUCKETS; i++) {
        n += sh->latency[i];

        if (i < NGX_HTTP_QLM_WEBHOOK_NBUCKETS) {
            p = ngx_sprintf(p, "qlm_webhook_delivery_latency_seconds_bucket"
                            "{le=\"%ui.%03ui\"} %ui\n",
                            ngx_http_qlm_webhook_buckets[i] / 1000,
                            ngx_http_qlm_webhook_buckets[i] % 1000, n);
        }
    }

    p = ngx_sprintf(p,
            "qlm_webhook_delivery_latency_seconds_bucket{le=\"+Inf\"} %ui\n"
            "qlm_webhook_delivery_latency_seconds_sum %uA.%03uA\n"
            "qlm_webhook_delivery_latency_seconds_count %ui\n",
            n, sh->latency_sum / 1000, sh->latency_sum % 1000, n);

    p = ngx_sprintf(p,
            "# HELP qlm_webhook_url_paused 1 for each receiver paused, by "
            "qlm_webhook_pause_after or the admin API\n"
            "# TYPE qlm_webhook_url_paused gauge\n");

    for (i = 0; i < paused.nelts; i++) {
        p = ngx_cpymem(p, "qlm_webhook_url_paused{url=\"",
                       sizeof("qlm_webhook_url_paused{url=\"") - 1);

        /* a label value escapes backslash, quote and newline */

        for (s = u[i].data, end = s + u[i].len; s < end; s++) {
            if (*s == '\\' || *s == '"') {
                *p++ = '\\';

            } else if (*s == '\n') {
                *p++ = '\\';
                *p++ = 'n';
                continue;
            }

            *p++ = *s;
        }

        p = ngx_cpymem(p, "\"} 1\n", sizeof("\"} 1\n") - 1);
    }

    b->last = p;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}


/*
 * PostgreSQL: "store" has the fleet's queue figures, null until the
 * first statement answered, with when they were read; the spool's own
 * depth and map are the instance's.
 */

static u_char *
ngx_http_qlm_webhook_status_fleet_json(u_char *p, qlm_store_stat_t *st)
{
    uint64_t                       now;
    ngx_http_qlm_webhook_fleet_t  *f;

    f = &ngx_http_qlm_webhook_fleet;

    p = ngx_sprintf(p, "\"store\":{\"open\":true,\"backend\":\"postgresql\",");

    if (f->at == 0) {
        p = ngx_sprintf(p, "\"queued\":null,\"due\":null,\"leased\":null,"
                        "\"dead_letters\":null,\"log_records\":null,"
                        "\"next_due\":null,\"fleet_at\":null,"
                        "\"fleet_age_ms\":null,");

    } else {
        now = ngx_http_qlm_webhook_now();

        p = ngx_sprintf(p, "\"queued\":%uL,\"due\":%uL,\"leased\":%uL,"
                        "\"dead_letters\":%uL,\"log_records\":%uL,"
                        "\"next_due\":%uL,\"fleet_at\":%uL,"
                        "\"fleet_age_ms\":%uL,",
                        f->queued, f->due, f->leased, f->dead,
                        f->log_records, f->next_due, f->at,
                        now > f->at ? now - f->at : 0);
    }

    return ngx_sprintf(p, "\"spool_queued\":%uL,\"map_size\":%uz,"
                       "\"map_used\":%uz},",
                       st->queued, st->map_size, st->map_used);
}


static u_char *
ngx_http_qlm_webhook_status_fleet_prometheus(u_char *p, qlm_store_stat_t *st)
{
    uint64_t                       now, age;
    ngx_http_qlm_webhook_fleet_t  *f;

    f = &ngx_http_qlm_webhook_fleet;

    /* no figures yet: no samples, as Prometheus has it */

    if (f->at) {
        now = ngx_http_qlm_webhook_now();
        age = now > f->at ? now - f->at : 0;

        p = ngx_sprintf(p,
            "# HELP qlm_webhook_queue_items Deliveries waiting or in flight, "
            "the whole fleet's (PostgreSQL)\n"
            "# TYPE qlm_webhook_queue_items gauge\n"
            "qlm_webhook_queue_items %uL\n"
            "# HELP qlm_webhook_queue_due Deliveries claimable now, the "
            "fleet's\n"
            "# TYPE qlm_webhook_queue_due gauge\n"
            "qlm_webhook_queue_due %uL\n"
            "# HELP qlm_webhook_queue_leased Deliveries claimed, lease not "
            "expired, the fleet's\n"
            "# TYPE qlm_webhook_queue_leased gauge\n"
            "qlm_webhook_queue_leased %uL\n"
            "# HELP qlm_webhook_dead_letters Deliveries out of retries, the "
            "fleet's\n"
            "# TYPE qlm_webhook_dead_letters gauge\n"
            "qlm_webhook_dead_letters %uL\n"
            "# HELP qlm_webhook_log_records Invocation log records, the "
            "fleet's\n"
            "# TYPE qlm_webhook_log_records gauge\n"
            "qlm_webhook_log_records %uL\n"
            "# HELP qlm_webhook_fleet_age_seconds Age of the fleet's figures "
            "(read at most once a second a worker)\n"
            "# TYPE qlm_webhook_fleet_age_seconds gauge\n"
            "qlm_webhook_fleet_age_seconds %uL.%03uL\n",
            f->queued, f->due, f->leased, f->dead, f->log_records,
            age / 1000, age % 1000);
    }

    return ngx_sprintf(p,
            "# HELP qlm_webhook_spool_items Deliveries in this instance's "
            "spool, not yet forwarded to PostgreSQL\n"
            "# TYPE qlm_webhook_spool_items gauge\n"
            "qlm_webhook_spool_items %uL\n"
            "# HELP qlm_webhook_store_bytes The spool's map: size and use\n"
            "# TYPE qlm_webhook_store_bytes gauge\n"
            "qlm_webhook_store_bytes{kind=\"size\"} %uz\n"
            "qlm_webhook_store_bytes{kind=\"used\"} %uz\n",
            st->queued, st->map_size, st->map_used);
}
