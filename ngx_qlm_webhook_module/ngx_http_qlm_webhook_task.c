
/*
 * ngx_qlm_webhook_module: saved searches and scheduled tasks.
 *
 * A task runs once a slot (every=TIME, from at=HH:MM or from the epoch):
 * one worker, the first, begins the slot in the store (once across
 * workers, reloads and restarts), then scans the license mirror in chunks,
 * a bounded number of records a turn of the event loop, and queues one
 * delivery a matching license and URL.  The scan's progress is kept in the
 * store, so a restart resumes where it stopped.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_http_qlm_webhook_module.h"
#include "qlm_slot.h"


#define NGX_HTTP_QLM_WEBHOOK_CHUNK       1024     /* records a step */
#define NGX_HTTP_QLM_WEBHOOK_STEP_USEC   250      /* a step's work, at most */
#define NGX_HTTP_QLM_WEBHOOK_STEP_PAUSE  1        /* ms between steps */
#define NGX_HTTP_QLM_WEBHOOK_ITEM_NS     1000     /* a match's write, guess */
#define NGX_HTTP_QLM_WEBHOOK_STEP_ITEMS  16       /* matches a step can hold */
#define NGX_HTTP_QLM_WEBHOOK_TICK        1000     /* ms */


typedef struct {
    ngx_http_qlm_webhook_main_conf_t  *mcf;
    ngx_http_qlm_webhook_task_t       *task;
    qlm_search_clock_t                 clock;
    ngx_pool_t                        *pool;
    ngx_array_t                        items;   /* qlm_store_item_t */
    ngx_log_t                         *log;
    uint64_t                           now;
    uint64_t                           deadline;  /* monotonic, usec */
    ngx_uint_t                         handled;
    ngx_uint_t                         paused;    /* stopped at deadline */
    ngx_int_t                          rc;
} ngx_http_qlm_webhook_chunk_t;


/* a step's write: its deliveries and progress, in one transaction */
typedef struct {
    ngx_http_qlm_webhook_chunk_t       ch;
    size_t                             seen;
    size_t                             saved_len;   /* the cursor before */
    u_char                             saved[401];
    ngx_uint_t                         scanned;
    ngx_uint_t                         matched;
    uint64_t                           start;       /* usec, the write's */
    uint64_t                           took;        /* usec */
    int                                rc;
    unsigned                           begin;       /* a slot's begin */
    unsigned                           scan;        /* the scan, then the
                                                       write: a thread's */
    uint64_t                           slot;        /* the begin's */
    uint64_t                           started;     /* the begin's */
    qlm_store_task_t                   prev;        /* the begin's */
} ngx_http_qlm_webhook_step_t;


static uint64_t ngx_http_qlm_webhook_usec(void);
static void ngx_http_qlm_webhook_search_cleanup(void *data);
static ngx_int_t ngx_http_qlm_webhook_task_signer(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_task_t *t);
static uint64_t ngx_http_qlm_webhook_slot(ngx_http_qlm_webhook_task_t *task,
    time_t now);
static void ngx_http_qlm_webhook_sched_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_qlm_webhook_task_start(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_task_t *task,
    ngx_log_t *log);
static ngx_http_qlm_webhook_step_t *ngx_http_qlm_webhook_step_room(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_step_t *local,
    ngx_uint_t scan);
static ngx_int_t ngx_http_qlm_webhook_step_post(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t scan);
static void ngx_http_qlm_webhook_step_scan(ngx_http_qlm_webhook_step_t *st);
static void ngx_http_qlm_webhook_task_begin(ngx_http_qlm_webhook_step_t *st);
static ngx_int_t ngx_http_qlm_webhook_task_begun(
    ngx_http_qlm_webhook_step_t *st);
static void ngx_http_qlm_webhook_step_write(ngx_http_qlm_webhook_step_t *st);
static ngx_int_t ngx_http_qlm_webhook_step_end(ngx_http_qlm_webhook_step_t *st);
#if (NGX_THREADS)
static void ngx_http_qlm_webhook_step_thread(void *data, ngx_log_t *log);
static void ngx_http_qlm_webhook_step_thread_done(ngx_event_t *ev);
static ngx_thread_pool_t *ngx_http_qlm_webhook_sched_pool(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t scan);
#endif
static ngx_int_t ngx_http_qlm_webhook_task_chunk(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_task_t *task,
    ngx_log_t *log);
static int ngx_http_qlm_webhook_task_record(const qlm_store_record_t *rec,
    void *data);
static int ngx_http_qlm_webhook_record_get(void *record, const char *name,
    size_t len, qlm_search_str_t *value);
static ngx_int_t ngx_http_qlm_webhook_task_id(ngx_pool_t *pool,
    ngx_str_t *task, uint64_t slot, qlm_store_str_t *key, ngx_str_t *id);


/* qlm_webhook_search NAME EXPRESSION [table=licenses|customers] */

char *
ngx_http_qlm_webhook_search_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_qlm_webhook_main_conf_t *mcf = conf;

    char                            msg[256];
    unsigned                        tables;
    ngx_str_t                      *value;
    ngx_uint_t                      i;
    qlm_search_error_t              err;
    ngx_pool_cleanup_t             *cln;
    ngx_http_qlm_webhook_search_t  *s;

    value = cf->args->elts;

    if (mcf->searches == NULL) {
        mcf->searches = ngx_array_create(cf->pool, 4,
                                         sizeof(ngx_http_qlm_webhook_search_t));
        if (mcf->searches == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    s = mcf->searches->elts;

    for (i = 0; i < mcf->searches->nelts; i++) {
        if (s[i].name.len == value[1].len
            && ngx_strncmp(s[i].name.data, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate search \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    s = ngx_array_push(mcf->searches);
    if (s == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(s, sizeof(ngx_http_qlm_webhook_search_t));

    s->name = value[1];
    s->text = value[2];
    s->table = QLM_STORE_LICENSES;
    tables = QLM_SEARCH_LICENSES;

    if (cf->args->nelts == 4) {
        if (value[3].len == sizeof("table=customers") - 1
            && ngx_strncmp(value[3].data, "table=customers", value[3].len)
               == 0)
        {
            s->table = QLM_STORE_CUSTOMERS;
            tables = QLM_SEARCH_CUSTOMERS;

        } else if (!(value[3].len == sizeof("table=licenses") - 1
                     && ngx_strncmp(value[3].data, "table=licenses",
                                    value[3].len)
                        == 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", it must be "
                               "\"table=licenses\" or \"table=customers\"",
                               &value[3]);
            return NGX_CONF_ERROR;
        }
    }

    if (value[1].len == 0) {
        return "has an empty name";
    }

    if (qlm_search_compile((char *) s->text.data, s->text.len, tables,
                           &s->search, &err)
        != 0)
    {
        (void) qlm_search_strerror((char *) s->text.data, s->text.len, &err,
                                   msg, sizeof(msg));

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "search \"%V\": %s",
                           &s->name, msg);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        qlm_search_free(s->search);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_qlm_webhook_search_cleanup;
    cln->data = s->search;

    return NGX_CONF_OK;
}


static void
ngx_http_qlm_webhook_search_cleanup(void *data)
{
    qlm_search_free(data);
}


/*
 * qlm_webhook_task NAME search=NAME every=TIME [at=HH:MM] url=URL[;URL]
 *                  [secret=S|secret=file=PATH] [user_data=S]
 *                  [retry=exponential[:BASE[:CAP]]|retry=T,T,...]
 */

char *
ngx_http_qlm_webhook_task_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_qlm_webhook_main_conf_t *mcf = conf;

    time_t                         every;
    ngx_int_t                      h, m;
    ngx_str_t                     *value, v;
    ngx_uint_t                     i;
    ngx_http_qlm_webhook_url_t    *u;
    ngx_http_qlm_webhook_task_t   *t;
    ngx_http_qlm_webhook_retry_t  *retry;

    value = cf->args->elts;

    if (mcf->tasks == NULL) {
        mcf->tasks = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_http_qlm_webhook_task_t));
        if (mcf->tasks == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    t = mcf->tasks->elts;

    for (i = 0; i < mcf->tasks->nelts; i++) {
        if (t[i].name.len == value[1].len
            && ngx_strncmp(t[i].name.data, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate task \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (value[1].len == 0 || value[1].len > 200) {
        return "has an empty or too long name";
    }

    t = ngx_array_push(mcf->tasks);
    if (t == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(t, sizeof(ngx_http_qlm_webhook_task_t));

    t->name = value[1];
    t->at = -1;
    retry = NULL;

    if (ngx_array_init(&t->urls, cf->pool, 2,
                       sizeof(ngx_http_qlm_webhook_url_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "search=", 7) == 0) {
            t->search_name.data = value[i].data + 7;
            t->search_name.len = value[i].len - 7;
            continue;
        }

        if (ngx_strncmp(value[i].data, "every=", 6) == 0) {
            v.data = value[i].data + 6;
            v.len = value[i].len - 6;

            every = ngx_parse_time(&v, 1);

            if (every == (time_t) NGX_ERROR || every <= 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid every \"%V\" in task \"%V\"",
                                   &v, &t->name);
                return NGX_CONF_ERROR;
            }

            t->every = every;
            continue;
        }

        if (ngx_strncmp(value[i].data, "at=", 3) == 0) {
            v.data = value[i].data + 3;
            v.len = value[i].len - 3;

            h = (v.len == 5 && v.data[2] == ':') ? ngx_atoi(v.data, 2)
                                                 : NGX_ERROR;
            m = (h != NGX_ERROR) ? ngx_atoi(v.data + 3, 2) : NGX_ERROR;

            if (h == NGX_ERROR || m == NGX_ERROR || h > 23 || m > 59) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid at \"%V\" in task \"%V\", it "
                                   "must be HH:MM", &v, &t->name);
                return NGX_CONF_ERROR;
            }

            t->at = h * 60 + m;
            continue;
        }

        if (ngx_strncmp(value[i].data, "url=", 4) == 0) {
            v.data = value[i].data + 4;
            v.len = value[i].len - 4;

            if (ngx_http_qlm_webhook_parse_url_list(cf, &v, &t->urls)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "secret=", 7) == 0) {
            v.data = value[i].data + 7;
            v.len = value[i].len - 7;

            if (ngx_http_qlm_webhook_read_secret(cf, &v, &t->secret)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            t->has_secret = 1;
            continue;
        }

        /* as qlm_webhook_url's: this task's URLs' retry schedule */

        if (ngx_strncmp(value[i].data, "retry=", 6) == 0) {
            if (retry != NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate \"retry=\" in task \"%V\"",
                                   &t->name);
                return NGX_CONF_ERROR;
            }

            if (ngx_http_qlm_webhook_retry_parse(cf, &value[i], &retry)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "user_data=", 10) == 0) {
            t->user_data.data = value[i].data + 10;
            t->user_data.len = value[i].len - 10;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in task \"%V\"",
                           &value[i], &t->name);
        return NGX_CONF_ERROR;
    }

    if (t->search_name.len == 0 || t->every == 0 || t->urls.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "task \"%V\" needs search=, every= and url=",
                           &t->name);
        return NGX_CONF_ERROR;
    }

    u = t->urls.elts;

    for (i = 0; i < t->urls.nelts; i++) {
        u[i].retry = retry;
    }

    return NGX_CONF_OK;
}


/* searches may be defined after the tasks that use them */

char *
ngx_http_qlm_webhook_tasks_init(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_uint_t                      i, j, n;
    ngx_http_qlm_webhook_task_t    *t;
    ngx_http_qlm_webhook_search_t  *s;

    t = mcf->tasks->elts;
    s = mcf->searches ? mcf->searches->elts : NULL;
    n = mcf->searches ? mcf->searches->nelts : 0;

    for (i = 0; i < mcf->tasks->nelts; i++) {

        for (j = 0; j < n; j++) {
            if (s[j].name.len == t[i].search_name.len
                && ngx_strncmp(s[j].name.data, t[i].search_name.data,
                               s[j].name.len)
                   == 0)
            {
                t[i].search = &s[j];
                break;
            }
        }

        if (t[i].search == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "task \"%V\" uses an unknown search \"%V\"",
                               &t[i].name, &t[i].search_name);
            return NGX_CONF_ERROR;
        }

        if (t[i].search->table != QLM_STORE_LICENSES) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "task \"%V\" uses search \"%V\" over "
                               "customers; tasks send licenses",
                               &t[i].name, &t[i].search_name);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_qlm_webhook_task_signer(cf, mcf, &t[i]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * A task's deliveries name the signer "task:NAME", the form queue items
 * have always stored: the task's own secret, or without one (or once the
 * task is gone from the configuration) the global secret.
 */

static ngx_int_t
ngx_http_qlm_webhook_task_signer(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_task_t *t)
{
    ngx_str_t                    id;
    ngx_uint_t                   i;
    ngx_http_qlm_webhook_url_t  *u;

    id.len = sizeof("task:") - 1 + t->name.len;
    id.data = ngx_pnalloc(cf->pool, id.len);
    if (id.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(id.data, "task:", sizeof("task:") - 1),
               t->name.data, t->name.len);

    if (t->has_secret
        && ngx_http_qlm_webhook_signer_add(cf, mcf, &id,
                                           NGX_HTTP_QLM_WEBHOOK_SCHEME_QLM,
                                           &t->secret)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    u = t->urls.elts;

    for (i = 0; i < t->urls.nelts; i++) {
        u[i].signer = id;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_qlm_webhook_sched_init_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_event_t  *ev;

    /* one process runs the schedules; the store keeps them once anyway */

    if (mcf->tasks == NULL || mcf->store == NULL || ngx_worker != 0) {
        return NGX_OK;
    }

    ev = &mcf->sched_event;

    ev->handler = ngx_http_qlm_webhook_sched_handler;
    ev->data = mcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

#if (NGX_THREADS)

    if (ngx_http_qlm_webhook_store_thread_pool(mcf, 0)) {
        mcf->sched_task = ngx_thread_task_alloc(cycle->pool,
                                       sizeof(ngx_http_qlm_webhook_step_t));
        if (mcf->sched_task == NULL) {
            return NGX_ERROR;
        }

        mcf->sched_task->handler = ngx_http_qlm_webhook_step_thread;
        mcf->sched_task->event.handler = ngx_http_qlm_webhook_step_thread_done;
        mcf->sched_task->event.data = mcf;
        mcf->sched_task->event.log = cycle->log;
    }

#endif

    ngx_post_event(ev, &ngx_posted_events);

    return NGX_OK;
}


/*
 * The slot of a task at "now", in seconds: the last start of a period of
 * "every" from at=HH:MM today (local time) or from the epoch.
 */

static uint64_t
ngx_http_qlm_webhook_slot(ngx_http_qlm_webhook_task_t *task, time_t now)
{
    time_t      anchor, off;
    ngx_tm_t    tm;

    anchor = 0;

    if (task->at >= 0) {
        ngx_localtime(now, &tm);

#if (NGX_HAVE_GMTOFF)
        off = tm.ngx_tm_gmtoff;
#else
        off = ngx_cached_time->gmtoff * 60;
#endif

        /* today's at=HH:MM: local midnight, then the minutes */

        anchor = qlm_slot_start(now + off, 0, 86400) + task->at * 60 - off;
    }

    return (uint64_t) qlm_slot_start(now, anchor, task->every);
}


static void
ngx_http_qlm_webhook_sched_handler(ngx_event_t *ev)
{
    ngx_int_t                          rc;
    ngx_uint_t                         i, busy;
    ngx_http_qlm_webhook_task_t       *t;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    mcf = ev->data;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    if (ngx_exiting || mcf->store == NULL) {
        return;
    }

    /* a begin or a step in a thread: its end sets the timer again */

    if (mcf->sched_writing) {
        return;
    }

    busy = 0;
    t = mcf->tasks->elts;

    for (i = 0; i < mcf->tasks->nelts; i++) {

        if (t[i].slot == 0) {
            rc = ngx_http_qlm_webhook_task_start(mcf, &t[i], ev->log);

            if (rc == NGX_BUSY) {
                /* the others wait for this begin's write */
                return;
            }

            if (rc != NGX_OK || t[i].slot == 0) {
                continue;
            }
        }

        rc = ngx_http_qlm_webhook_task_chunk(mcf, &t[i], ev->log);

        if (rc == NGX_BUSY) {
            /* the others wait for this step's write */
            return;
        }

        if (rc == NGX_AGAIN) {
            busy = 1;
        }
    }

    /*
     * A scan in progress goes on a millisecond later: a step works a
     * quarter of a millisecond at most, so that the scan takes at most
     * about a fifth of a worker that license calls keep busy (when every
     * turn ran a step, a scan whose licenses matched took most of it:
     * license calls at 0.3 of their rate, p99 4 times).
     */

    if (busy) {
        ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_STEP_PAUSE);
        return;
    }

    ngx_add_timer(ev, NGX_HTTP_QLM_WEBHOOK_TICK);
}


/*
 * A write of the scheduler (a begin, a step) is made in the worker's
 * thread task when the batch's commits go to the pool, in the loop
 * otherwise (local); a step's scan (scan), with its write, whenever the
 * worker has the pool
 */

static ngx_http_qlm_webhook_step_t *
ngx_http_qlm_webhook_step_room(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_step_t *local, ngx_uint_t scan)
{
    ngx_http_qlm_webhook_step_t  *st;

    st = local;

#if (NGX_THREADS)
    if (mcf->sched_task && ngx_http_qlm_webhook_sched_pool(mcf, scan)) {
        st = mcf->sched_task->ctx;
    }
#endif

    ngx_memzero(st, sizeof(ngx_http_qlm_webhook_step_t));

    return st;
}


/* NGX_OK: the work is the pool's, and the scheduler waits for it */

static ngx_int_t
ngx_http_qlm_webhook_step_post(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_uint_t scan)
{
#if (NGX_THREADS)
    ngx_thread_pool_t  *pool;

    pool = ngx_http_qlm_webhook_sched_pool(mcf, scan);

    if (pool && ngx_thread_task_post(pool, mcf->sched_task) == NGX_OK) {
        mcf->sched_writing = 1;
        return NGX_OK;
    }

    /* the pool's queue is full: the loop does this once */
#endif

    return NGX_DECLINED;
}


#if (NGX_THREADS)

static ngx_thread_pool_t *
ngx_http_qlm_webhook_sched_pool(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_uint_t scan)
{
    if (!scan) {
        return ngx_http_qlm_webhook_store_thread_pool(mcf, 1);
    }

    return ngx_exiting ? NULL : ngx_http_qlm_webhook_store_thread_pool(mcf, 0);
}

#endif


/*
 * Begins the current slot if no process did, or resumes its scan.  The
 * begin is a write: in nginx's thread pool when the batch's commits go
 * there (NGX_BUSY: the scheduler waits for it), as a step's is.
 */

static ngx_int_t
ngx_http_qlm_webhook_task_start(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_task_t *task, ngx_log_t *log)
{
    time_t                        now;
    uint64_t                      slot;
    ngx_http_qlm_webhook_step_t   local, *st;

    now = ngx_time();
    slot = ngx_http_qlm_webhook_slot(task, now) * 1000;

    /* in a fleet, one node runs each slot: PostgreSQL says which */

    if (mcf->pg_conninfo.len
        && ngx_http_qlm_webhook_pg_task_slot(mcf, task, slot) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    /*
     * A begin is tried once a tick: the scheduler runs again a step's
     * pause after a begin's write in a thread, and a slot begun and
     * ended elsewhere would be tried again then
     */

    if (task->begun
        && (ngx_msec_int_t) (ngx_current_msec - task->begun)
           < NGX_HTTP_QLM_WEBHOOK_TICK)
    {
        return NGX_DECLINED;
    }

    /* nginx's millisecond clock is never 0 in a running worker */

    task->begun = ngx_current_msec;

    st = ngx_http_qlm_webhook_step_room(mcf, &local, 0);

    st->begin = 1;
    st->ch.mcf = mcf;
    st->ch.task = task;
    st->ch.log = log;
    st->slot = slot;
    st->started = (uint64_t) now * 1000;

    if (st != &local && ngx_http_qlm_webhook_step_post(mcf, 0) == NGX_OK) {
        return NGX_BUSY;
    }

    ngx_http_qlm_webhook_task_begin(st);

    return ngx_http_qlm_webhook_task_begun(st);
}


static void
ngx_http_qlm_webhook_task_begin(ngx_http_qlm_webhook_step_t *st)
{
    qlm_store_str_t               name;
    ngx_http_qlm_webhook_task_t  *task;

    task = st->ch.task;

    name.data = (char *) task->name.data;
    name.len = task->name.len;

    st->rc = qlm_store_task_begin(st->ch.mcf->store, name, st->slot,
                                  st->started, &st->prev);
}


/* after the begin's write, in the loop */

static ngx_int_t
ngx_http_qlm_webhook_task_begun(ngx_http_qlm_webhook_step_t *st)
{
    int                                rc;
    char                               cursor[400];
    ngx_log_t                         *log;
    qlm_store_str_t                    name;
    qlm_store_task_t                   state;
    ngx_http_qlm_webhook_task_t       *task;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    rc = st->rc;
    mcf = st->ch.mcf;
    task = st->ch.task;
    log = st->ch.log;

    if (rc == 0) {
        task->slot = st->slot;
        task->last_run = (time_t) (st->prev.started / 1000);
        task->cursor_len = 0;
        task->matched = 0;
        task->scanned = 0;

        ngx_http_qlm_webhook_count(mcf, NGX_HTTP_QLM_WEBHOOK_C_TASK_RUNS, 1);

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "qlm webhook: task \"%V\" runs", &task->name);
        return NGX_OK;
    }

    if (rc != QLM_STORE_EXISTS) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "qlm webhook: task \"%V\" not begun: %s",
                      &task->name, qlm_store_strerror(rc));
        return NGX_ERROR;
    }

    /* begun already: by an earlier process that stopped before the end? */

    name.data = (char *) task->name.data;
    name.len = task->name.len;

    rc = qlm_store_task_get(mcf->store, name, &state, cursor);

    if (rc != 0 || state.slot != st->slot || state.done) {
        return NGX_DECLINED;
    }

    task->slot = st->slot;
    task->last_run = (time_t) (state.last_run / 1000);
    task->cursor_len = state.cursor.len;
    ngx_memcpy(task->cursor, state.cursor.data, state.cursor.len);
    task->matched = 0;
    task->scanned = 0;

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "qlm webhook: task \"%V\" resumes its run", &task->name);

    return NGX_OK;
}


/*
 * One bounded step of a task's scan: NGX_AGAIN while there is more.  Its
 * write goes to nginx's thread pool when the batch's commits do (sync=on,
 * or while the timed sync flushes: a write of the loop's would wait on the
 * disk); the scheduler waits for it then (NGX_BUSY).
 */

static ngx_int_t
ngx_http_qlm_webhook_task_chunk(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_task_t *task, ngx_log_t *log)
{
    ngx_tm_t                       tm;
    ngx_time_t                    *tp;
    ngx_http_qlm_webhook_step_t    local, *st;
    ngx_http_qlm_webhook_chunk_t  *ch;

    st = ngx_http_qlm_webhook_step_room(mcf, &local, 1);
    ch = &st->ch;

    if (task->item_ns == 0) {
        task->item_ns = NGX_HTTP_QLM_WEBHOOK_ITEM_NS;
    }

    ch->pool = ngx_create_pool(4096, log);
    if (ch->pool == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&ch->items, ch->pool, 16, sizeof(qlm_store_item_t))
        != NGX_OK)
    {
        ngx_destroy_pool(ch->pool);
        return NGX_ERROR;
    }

    tp = ngx_timeofday();

    ch->mcf = mcf;
    ch->task = task;
    ch->log = log;
    ch->now = (uint64_t) tp->sec * 1000 + tp->msec;

    /* the macros resolve against the slot's time, in local time */

    ngx_localtime((time_t) (task->slot / 1000), &tm);

    ch->clock.now = (int64_t) (task->slot / 1000);
    ch->clock.last_run = task->last_run;
#if (NGX_HAVE_GMTOFF)
    ch->clock.utc_offset = tm.ngx_tm_gmtoff;
#else
    ch->clock.utc_offset = ngx_cached_time->gmtoff * 60;
#endif

    /* the callback moves the cursor; a failed chunk puts it back */

    st->saved_len = task->cursor_len;
    ngx_memcpy(st->saved, task->cursor, st->saved_len);
    st->scanned = task->scanned;
    st->matched = task->matched;

    /*
     * The scan reads, tests and builds payloads for a quarter of a
     * millisecond: in a thread, the loop goes on serving license calls
     * meanwhile (a step in the loop held each call that came during it,
     * and the calls that came after it waited for those)
     */

    if (st != &local) {
        st->scan = 1;

        if (ngx_http_qlm_webhook_step_post(mcf, 1) == NGX_OK) {
            return NGX_BUSY;
        }

        st->scan = 0;
    }

    ngx_http_qlm_webhook_step_scan(st);

    if (st->rc == 0 && st != &local
        && ngx_http_qlm_webhook_step_post(mcf, 0) == NGX_OK)
    {
        return NGX_BUSY;
    }

    if (st->rc == 0) {
        ngx_http_qlm_webhook_step_write(st);
    }

    return ngx_http_qlm_webhook_step_end(st);
}


/* the step's records: in the loop, or in the scheduler's thread task */

static void
ngx_http_qlm_webhook_step_scan(ngx_http_qlm_webhook_step_t *st)
{
    int                            rc;
    qlm_store_str_t                after;
    ngx_http_qlm_webhook_task_t   *task;
    ngx_http_qlm_webhook_chunk_t  *ch;

    ch = &st->ch;
    task = ch->task;

    ch->deadline = ngx_http_qlm_webhook_usec()
                   + NGX_HTTP_QLM_WEBHOOK_STEP_USEC;

    after.data = (char *) task->cursor;
    after.len = task->cursor_len;

    rc = qlm_store_mirror_scan(ch->mcf->store, QLM_STORE_LICENSES, after,
                               NGX_HTTP_QLM_WEBHOOK_CHUNK,
                               ngx_http_qlm_webhook_task_record, ch,
                               &st->seen);

    if (rc == 0 && ch->rc != NGX_OK) {
        rc = QLM_STORE_INVALID;
    }

    st->rc = rc;
}


/* the step's deliveries and its progress: one transaction */

static void
ngx_http_qlm_webhook_step_write(ngx_http_qlm_webhook_step_t *st)
{
    qlm_store_str_t                name, from, after;
    ngx_http_qlm_webhook_task_t   *task;
    ngx_http_qlm_webhook_chunk_t  *ch;

    ch = &st->ch;
    task = ch->task;

    name.data = (char *) task->name.data;
    name.len = task->name.len;
    from.data = (char *) st->saved;
    from.len = st->saved_len;
    after.data = (char *) task->cursor;
    after.len = task->cursor_len;

    st->start = ngx_http_qlm_webhook_usec();

    st->rc = qlm_store_task_step(ch->mcf->store, name, task->slot, from,
                                 after,
                                 st->seen < NGX_HTTP_QLM_WEBHOOK_CHUNK
                                 && !ch->paused,
                                 ch->items.elts, ch->items.nelts);

    st->took = ngx_http_qlm_webhook_usec() - st->start;
}


/* after the write, in the loop */

static ngx_int_t
ngx_http_qlm_webhook_step_end(ngx_http_qlm_webhook_step_t *st)
{
    int                                rc;
    ngx_log_t                         *log;
    ngx_http_qlm_webhook_task_t       *task;
    ngx_http_qlm_webhook_chunk_t      *ch;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    ch = &st->ch;
    rc = st->rc;
    task = ch->task;
    mcf = ch->mcf;
    log = ch->log;

    /*
     * The write is a third of a step's time or more (some 100 matches):
     * the next step's scan leaves room for its own, at this pace
     */

    if (rc == 0 && ch->items.nelts) {
        task->item_ns = (3 * task->item_ns
                         + st->took * 1000 / ch->items.nelts)
                        / 4;
    }

    if (rc == QLM_STORE_STALE) {
        /* another process runs this slot now, or a later one began */

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "qlm webhook: task \"%V\" run taken over",
                      &task->name);
        ngx_destroy_pool(ch->pool);
        task->slot = 0;
        return NGX_OK;
    }

    if (rc != 0) {
        /* the step is tried again on the next tick */

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "qlm webhook: task \"%V\" scan failed: %s",
                      &task->name, qlm_store_strerror(rc));

        ngx_memcpy(task->cursor, st->saved, st->saved_len);
        task->cursor_len = st->saved_len;
        task->scanned = st->scanned;
        task->matched = st->matched;

        ngx_destroy_pool(ch->pool);
        return NGX_ERROR;
    }

    if (ch->items.nelts) {
        if (mcf->sh) {
            (void) ngx_atomic_fetch_add(
                &mcf->sh->deliveries[NGX_HTTP_QLM_WEBHOOK_NEVENTS]
                                    [NGX_HTTP_QLM_WEBHOOK_D_STORED],
                ch->items.nelts);
        }

        ngx_http_qlm_webhook_deliver_kick_task(mcf);
    }

    ngx_destroy_pool(ch->pool);

    if (st->seen == NGX_HTTP_QLM_WEBHOOK_CHUNK || ch->paused) {
        return NGX_AGAIN;
    }

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "qlm webhook: task \"%V\" done: %ui licenses scanned, "
                  "%ui matched", &task->name, task->scanned, task->matched);

    task->slot = 0;

    return NGX_OK;
}


#if (NGX_THREADS)

static void
ngx_http_qlm_webhook_step_thread(void *data, ngx_log_t *log)
{
    ngx_http_qlm_webhook_step_t  *st = data;

    if (st->begin) {
        ngx_http_qlm_webhook_task_begin(st);
        return;
    }

    if (st->scan) {
        ngx_http_qlm_webhook_step_scan(st);
    }

    if (st->rc == 0) {
        ngx_http_qlm_webhook_step_write(st);
    }
}


static void
ngx_http_qlm_webhook_step_thread_done(ngx_event_t *ev)
{
    ngx_http_qlm_webhook_step_t       *st;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    mcf = ev->data;
    mcf->sched_writing = 0;
    st = mcf->sched_task->ctx;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "qlm webhook: a task %s in a thread",
                   st->begin ? "begin written"
                   : st->scan ? "step scanned and written" : "step written");

    if (st->begin) {
        (void) ngx_http_qlm_webhook_task_begun(st);

    } else {
        (void) ngx_http_qlm_webhook_step_end(st);
    }

    /* the next step, after the connections had their say */

    if (!ngx_exiting && !mcf->sched_event.posted) {
        if (mcf->sched_event.timer_set) {
            ngx_del_timer(&mcf->sched_event);
        }

        ngx_add_timer(&mcf->sched_event, NGX_HTTP_QLM_WEBHOOK_STEP_PAUSE);
    }
}

#endif


/* a monotonic clock in microseconds: nginx's own moves once a turn */

static uint64_t
ngx_http_qlm_webhook_usec(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


static int
ngx_http_qlm_webhook_task_record(const qlm_store_record_t *rec, void *data)
{
    ngx_http_qlm_webhook_chunk_t *ch = data;

    int                            m;
    uint64_t                       now;
    ngx_str_t                      id, payload;
    ngx_uint_t                     i;
    ngx_array_t                    values;
    ngx_keyval_t                  *kv;
    qlm_store_item_t              *item;
    qlm_store_str_t                key;
    ngx_http_qlm_webhook_url_t    *u;
    ngx_http_qlm_webhook_task_t   *task;

    task = ch->task;

    /*
     * The step's time is up, counting the write of the matches it has
     * (a few always fit: the estimate includes the commit, which a step
     * of few matches would make look dear): this record is the next
     * step's first
     */

    if (ch->handled) {
        now = ngx_http_qlm_webhook_usec();

        if (ch->items.nelts >= NGX_HTTP_QLM_WEBHOOK_STEP_ITEMS) {
            now += ch->items.nelts * task->item_ns / 1000;
        }

        if (now >= ch->deadline) {
            ch->paused = 1;
            return 1;
        }
    }

    ch->handled++;

    /* the cursor moves past every record seen, matched or not */

    ngx_memcpy(task->cursor, rec->key.data, rec->key.len);
    task->cursor_len = rec->key.len;
    task->scanned++;
    ngx_http_qlm_webhook_count(ch->mcf, NGX_HTTP_QLM_WEBHOOK_C_TASK_SCANNED, 1);

    if (rec->deleted) {
        return 0;
    }

    m = qlm_search_match(task->search->search, &ch->clock,
                         ngx_http_qlm_webhook_record_get, (void *) rec);

    if (m != 1) {
        return 0;
    }

    task->matched++;
    ngx_http_qlm_webhook_count(ch->mcf, NGX_HTTP_QLM_WEBHOOK_C_TASK_MATCHED, 1);

    if (ngx_array_init(&values, ch->pool, rec->nfields + 1,
                       sizeof(ngx_keyval_t))
        != NGX_OK)
    {
        goto failed;
    }

    /* the record's strings live until the callback returns: copied */

    for (i = 0; i < rec->nfields; i++) {
        kv = ngx_array_push(&values);
        if (kv == NULL) {
            goto failed;
        }

        kv->key.len = rec->fields[i].name.len;
        kv->key.data = ngx_pstrdup(ch->pool, &(ngx_str_t) {
                           rec->fields[i].name.len,
                           (u_char *) rec->fields[i].name.data });
        kv->value.len = rec->fields[i].value.len;
        kv->value.data = ngx_pstrdup(ch->pool, &(ngx_str_t) {
                             rec->fields[i].value.len,
                             (u_char *) rec->fields[i].value.data });

        if (kv->key.data == NULL || kv->value.data == NULL) {
            goto failed;
        }
    }

    key = rec->key;

    if (ngx_http_qlm_webhook_task_payload(ch->pool, &task->name,
                                          &task->user_data, &values,
                                          &payload)
        != NGX_OK
        || ngx_http_qlm_webhook_task_id(ch->pool, &task->name, task->slot,
                                        &key, &id)
           != NGX_OK)
    {
        goto failed;
    }

    u = task->urls.elts;

    for (i = 0; i < task->urls.nelts; i++) {
        item = ngx_array_push(&ch->items);
        if (item == NULL) {
            goto failed;
        }

        ngx_memzero(item, sizeof(qlm_store_item_t));

        item->due = ch->now;
        item->created = ch->now;
        item->event_id.data = (char *) id.data;
        item->event_id.len = id.len;
        item->event.data = (char *) task->name.data;
        item->event.len = task->name.len;
        item->url.data = (char *) u[i].url.data;
        item->url.len = u[i].url.len;
        item->body.data = (char *) payload.data;
        item->body.len = payload.len;

        /* signed at each attempt by the signer it names, "task:NAME" */

        item->headers.data = (char *) u[i].signer.data;
        item->headers.len = u[i].signer.len;
    }

    return 0;

failed:

    ch->rc = NGX_ERROR;

    return 1;
}


static int
ngx_http_qlm_webhook_record_get(void *record, const char *name, size_t len,
    qlm_search_str_t *value)
{
    const qlm_store_record_t *rec = record;

    size_t  i;

    for (i = 0; i < rec->nfields; i++) {
        if (rec->fields[i].name.len == len
            && ngx_strncasecmp((u_char *) rec->fields[i].name.data,
                               (u_char *) name, len)
               == 0)
        {
            value->data = rec->fields[i].value.data;
            value->len = rec->fields[i].value.len;
            return 0;
        }
    }

    return 1;
}


/*
 * The same license in the same slot of a task gets the same id, even when
 * a restart scans a chunk again: receivers can drop the duplicate.
 */

static ngx_int_t
ngx_http_qlm_webhook_task_id(ngx_pool_t *pool, ngx_str_t *task,
    uint64_t slot, qlm_store_str_t *key, ngx_str_t *id)
{
    u_char       *p, md[EVP_MAX_MD_SIZE], buf[NGX_INT64_LEN];
    unsigned int  len;
    EVP_MD_CTX   *ctx;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(buf, "%uL", slot);

    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(ctx, task->data, task->len) != 1
        || EVP_DigestUpdate(ctx, "\n", 1) != 1
        || EVP_DigestUpdate(ctx, buf, p - buf) != 1
        || EVP_DigestUpdate(ctx, "\n", 1) != 1
        || EVP_DigestUpdate(ctx, key->data, key->len) != 1
        || EVP_DigestFinal_ex(ctx, md, &len) != 1)
    {
        EVP_MD_CTX_free(ctx);
        return NGX_ERROR;
    }

    EVP_MD_CTX_free(ctx);

    /* shaped as a name-based UUID */

    return ngx_http_qlm_webhook_uuid(pool, md, 5, id);
}
