
/*
 * ngx_qlm_webhook_module: definitions shared by the module's files.
 */


#ifndef _NGX_HTTP_QLM_WEBHOOK_MODULE_H_INCLUDED_
#define _NGX_HTTP_QLM_WEBHOOK_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <libpq-fe.h>

#include <qlm_store.h>
#include "qlm_search.h"


#define NGX_HTTP_QLM_WEBHOOK_VERSION      "0.1.0"

#define NGX_HTTP_QLM_WEBHOOK_SYNC_ON      0
#define NGX_HTTP_QLM_WEBHOOK_SYNC_OFF     1
#define NGX_HTTP_QLM_WEBHOOK_SYNC_TIMED   2

#define NGX_HTTP_QLM_WEBHOOK_MAP_OFF      0
#define NGX_HTTP_QLM_WEBHOOK_MAP_ON       1
#define NGX_HTTP_QLM_WEBHOOK_MAP_AUTO     2


typedef enum {
    NGX_HTTP_QLM_WEBHOOK_LICENSE_ACTIVATED = 0,
    NGX_HTTP_QLM_WEBHOOK_LICENSE_CREATED,
    NGX_HTTP_QLM_WEBHOOK_LICENSE_DELETED,
    NGX_HTTP_QLM_WEBHOOK_LICENSE_RELEASED,
    NGX_HTTP_QLM_WEBHOOK_LICENSE_MODIFIED,
    NGX_HTTP_QLM_WEBHOOK_CUSTOMER_CREATED,
    NGX_HTTP_QLM_WEBHOOK_CUSTOMER_DELETED,
    NGX_HTTP_QLM_WEBHOOK_CUSTOMER_MODIFIED,
    NGX_HTTP_QLM_WEBHOOK_NEVENTS
} ngx_http_qlm_webhook_event_e;


#define NGX_HTTP_QLM_WEBHOOK_LICENSE      0x01
#define NGX_HTTP_QLM_WEBHOOK_CUSTOMER     0x02

#define NGX_HTTP_QLM_WEBHOOK_FIELD_VALUE  0
#define NGX_HTTP_QLM_WEBHOOK_FIELD_XML    1
#define NGX_HTTP_QLM_WEBHOOK_FIELD_JSON   2

#define NGX_HTTP_QLM_WEBHOOK_TYPE_STRING  0
#define NGX_HTTP_QLM_WEBHOOK_TYPE_INT     1
#define NGX_HTTP_QLM_WEBHOOK_TYPE_BOOL    2
#define NGX_HTTP_QLM_WEBHOOK_TYPE_DATE    3

#define NGX_HTTP_QLM_WEBHOOK_SCHEME_QLM      0
#define NGX_HTTP_QLM_WEBHOOK_SCHEME_STANDARD 1

/* r->buffered: the answer's end waits for its event's commit */
#define NGX_HTTP_QLM_WEBHOOK_BUFFERED     0x08

/* a delivery's outcome, recorded by the write batch */
#define NGX_HTTP_QLM_WEBHOOK_OP_ACK         0
#define NGX_HTTP_QLM_WEBHOOK_OP_RESCHEDULE  1
#define NGX_HTTP_QLM_WEBHOOK_OP_DEAD        2
/* a claim given back: not tried (pg.c's SQL knows 0 to 3), or not started */
#define NGX_HTTP_QLM_WEBHOOK_OP_UNCLAIM     3
#define NGX_HTTP_QLM_WEBHOOK_OP_RELEASE     4


/* whole-server counters, in shared memory (see the status page) */
typedef enum {
    NGX_HTTP_QLM_WEBHOOK_C_ANSWER_ERROR = 0,   /* no event: QLM error */
    NGX_HTTP_QLM_WEBHOOK_C_ANSWER_TOO_LARGE,   /* skipped: unchecked */
    NGX_HTTP_QLM_WEBHOOK_C_ANSWER_COMPRESSED,
    NGX_HTTP_QLM_WEBHOOK_C_ANSWER_UNREADABLE,
    NGX_HTTP_QLM_WEBHOOK_C_ANSWER_UNPARSABLE,
    NGX_HTTP_QLM_WEBHOOK_C_ANSWER_NO_BODY,
    NGX_HTTP_QLM_WEBHOOK_C_ANSWER_INCOMPLETE,
    NGX_HTTP_QLM_WEBHOOK_C_LOST_STORE_FULL,    /* lost: not stored */
    NGX_HTTP_QLM_WEBHOOK_C_LOST_NO_STORE,
    NGX_HTTP_QLM_WEBHOOK_C_LOST_OTHER,
    NGX_HTTP_QLM_WEBHOOK_C_STALE,              /* a lease taken over */
    NGX_HTTP_QLM_WEBHOOK_C_TASK_RUNS,
    NGX_HTTP_QLM_WEBHOOK_C_TASK_SCANNED,
    NGX_HTTP_QLM_WEBHOOK_C_TASK_MATCHED,
    NGX_HTTP_QLM_WEBHOOK_C_GONE,               /* 410: dead letters */
    NGX_HTTP_QLM_WEBHOOK_C_RETRY_AFTER,        /* 429/503 waits obeyed */
    NGX_HTTP_QLM_WEBHOOK_C_CIRCUIT_OPENED,     /* a URL's breaker tripped */
    NGX_HTTP_QLM_WEBHOOK_C_PAUSED,             /* URLs paused, failing */
    NGX_HTTP_QLM_WEBHOOK_C_PG_FORWARDED,       /* spool to PostgreSQL */
    NGX_HTTP_QLM_WEBHOOK_C_PG_ERRORS,          /* its failures */
    NGX_HTTP_QLM_WEBHOOK_NCOUNTERS
} ngx_http_qlm_webhook_counter_e;

/* what became of deliveries, by event (the last row: scheduled tasks) */
#define NGX_HTTP_QLM_WEBHOOK_D_STORED      0     /* events stored */
#define NGX_HTTP_QLM_WEBHOOK_D_DELIVERED   1
#define NGX_HTTP_QLM_WEBHOOK_D_RETRY       2
#define NGX_HTTP_QLM_WEBHOOK_D_DEAD        3
#define NGX_HTTP_QLM_WEBHOOK_ND            4

#define NGX_HTTP_QLM_WEBHOOK_NBUCKETS      12

/* receivers whose state all workers share; more share no state */
#define NGX_HTTP_QLM_WEBHOOK_NURLS         256
/* a column of attempts in flight for each worker (ngx_worker modulo) */
#define NGX_HTTP_QLM_WEBHOOK_NCOLUMNS      32


/* one receiver (a URL as stored), the same for every worker */
typedef struct {
    ngx_atomic_t              key;         /* of the URL; 0: a free slot */
    ngx_atomic_t              failures;    /* in a row */
    ngx_atomic_t              open_until;  /* s: circuit open, no attempt
                                              before; a probe's deadline */
    ngx_atomic_t              failing_since;  /* s; 0: the last attempt
                                                 succeeded */
    ngx_atomic_t              paused;      /* no attempts until resumed */
    /* a worker's own column, zeroed when it starts: a crash leaks none */
    ngx_atomic_t              in_flight[NGX_HTTP_QLM_WEBHOOK_NCOLUMNS];
} ngx_http_qlm_webhook_urlstate_t;


typedef struct {
    ngx_atomic_t              counters[NGX_HTTP_QLM_WEBHOOK_NCOUNTERS];
    ngx_atomic_t              deliveries[NGX_HTTP_QLM_WEBHOOK_NEVENTS + 1]
                                        [NGX_HTTP_QLM_WEBHOOK_ND];
    /* answer to first successful delivery, ms */
    ngx_atomic_t              latency[NGX_HTTP_QLM_WEBHOOK_NBUCKETS + 1];
    ngx_atomic_t              latency_sum;
    ngx_atomic_t              in_flight;
    ngx_atomic_t              started;   /* time the zone was made */
    ngx_atomic_t              syncing;   /* the timed sync is flushing */
    ngx_http_qlm_webhook_urlstate_t  urls[NGX_HTTP_QLM_WEBHOOK_NURLS];

    /* PostgreSQL: what qlm_counter has of the above, and who adds */
    ngx_atomic_t              pg_counters[NGX_HTTP_QLM_WEBHOOK_NCOUNTERS];
    ngx_atomic_t              pg_deliveries[NGX_HTTP_QLM_WEBHOOK_NEVENTS + 1]
                                           [NGX_HTTP_QLM_WEBHOOK_ND];
    ngx_atomic_t              pg_adding;   /* s: since when, or 0 */
} ngx_http_qlm_webhook_shctx_t;


typedef struct ngx_http_qlm_webhook_batch_s    ngx_http_qlm_webhook_batch_t;
typedef struct ngx_http_qlm_webhook_pending_s  ngx_http_qlm_webhook_pending_t;
typedef struct ngx_http_qlm_webhook_set_s      ngx_http_qlm_webhook_set_t;


/*
 * sync=on: a leased delivery started once its event's journal record is
 * on disk, before the commit that gives its item an id and a lease; it
 * lives in the event's write set, and links the set and the transfer
 * until that commit is done.
 */

typedef struct {
    void                           *transfer;  /* NULL: not started, or
                                                  ended */
    ngx_http_qlm_webhook_set_t     *set;
    ngx_http_qlm_webhook_pending_t *pending;
    qlm_store_item_t               *item;      /* the set's: id and lease,
                                                  once committed */
    void                           *ack;       /* its outcome in the set,
                                                  if delivered */
} ngx_http_qlm_webhook_early_t;


/*
 * A key's mirror records in one write batch, in order; the emitter folds
 * them into one (fields, last value first seen) when it first reads them,
 * and folds only the ones added since at later reads.
 */

typedef struct {
    ngx_str_node_t              sn;        /* the key */
    ngx_array_t                 recs;      /* qlm_store_record_t * */
    ngx_uint_t                  folded;    /* of recs, in fields */
    ngx_array_t                 fields;    /* ngx_keyval_t */
    unsigned                    first_deleted:1;
    unsigned                    last_deleted:1;
    unsigned                    reset:1;   /* deleted, then made again */
} ngx_http_qlm_webhook_fold_t;

typedef void (*ngx_http_qlm_webhook_fold_pt)(ngx_pool_t *pool,
    ngx_http_qlm_webhook_fold_t *fold, void *data);

typedef struct ngx_http_qlm_webhook_pg_s       ngx_http_qlm_webhook_pg_t;


/* a URL's retry schedule; none: the fixed interval, as QLM */
#define NGX_HTTP_QLM_WEBHOOK_RETRY_EXP    1
#define NGX_HTTP_QLM_WEBHOOK_RETRY_LIST   2

typedef struct {
    ngx_uint_t                type;
    ngx_msec_t                base;       /* exponential: first wait */
    ngx_msec_t                cap;        /* exponential: longest wait */
    ngx_array_t              *delays;     /* list: of ngx_msec_t */
} ngx_http_qlm_webhook_retry_t;


typedef struct {
    ngx_str_t                 url;        /* as configured */
    ngx_str_t                 log_url;    /* without userinfo and query */
    ngx_str_t                 host;
    in_port_t                 port;
    ngx_str_t                 signer;     /* its signer's id, see sign.c */
    unsigned                  https:1;
    unsigned                  standard:1;   /* Standard Webhooks headers */
    ngx_http_qlm_webhook_retry_t  *retry;   /* NULL: the fixed interval */
} ngx_http_qlm_webhook_url_t;


/*
 * A scheme and a secret, found by the id that queue items store in their
 * opaque "headers" field: "" (the global secret, QLM's scheme),
 * "standard" (the global secret, Standard Webhooks), "task:NAME" (a task's
 * own secret).  Ids are names, so an item queued before a reload finds its
 * signer in the new configuration.
 */

typedef struct {
    ngx_str_t                 id;
    ngx_uint_t                scheme;
    ngx_str_t                 secret;     /* as configured, never logged */
    ngx_str_t                 key;        /* standard: the decoded key */
    unsigned                  bad_key:1;  /* standard: not "whsec_" base64 */
} ngx_http_qlm_webhook_signer_t;


typedef struct {
    ngx_str_t                  name;
    ngx_str_t                  text;
    ngx_uint_t                 table;     /* QLM_STORE_LICENSES, ... */
    qlm_search_t              *search;
} ngx_http_qlm_webhook_search_t;


typedef struct {
    ngx_str_t                      name;
    ngx_str_t                      search_name;
    ngx_http_qlm_webhook_search_t *search;
    time_t                         every;      /* seconds */
    ngx_int_t                      at;         /* minutes, or -1 */
    ngx_array_t                    urls;       /* ngx_http_qlm_webhook_url_t */
    ngx_str_t                      secret;
    ngx_str_t                      user_data;
    unsigned                       has_secret:1;

    /* per process, in the worker that runs schedules */
    uint64_t                       slot;       /* ms; 0: not scanning */
    time_t                         last_run;
    ngx_uint_t                     matched;
    ngx_uint_t                     scanned;
    ngx_uint_t                     item_ns;    /* a match's write, so far */
    ngx_msec_t                     begun;      /* the last begin tried,
                                                  or 0 */
    size_t                         cursor_len;
    u_char                         cursor[401];

    /* PostgreSQL: whose slot pg_slot is, across the fleet */
    uint64_t                       pg_slot;
    ngx_uint_t                     pg_state;
} ngx_http_qlm_webhook_task_t;


typedef struct {
    ngx_str_t                 store_path;
    size_t                    store_max_size;
    ngx_uint_t                store_sync;
    ngx_msec_t                store_sync_interval;
    ngx_uint_t                store_write_map;

    /* PostgreSQL: the store is then the local spool */
    ngx_str_t                 pg_conninfo;     /* NUL-terminated */
    ngx_str_t                 pg_password;     /* never logged */
    ngx_str_t                 pg_node;
    ngx_uint_t                pg_pool;

    ngx_flag_t                enable;
    ngx_str_t                 secret;
    ngx_int_t                 max_retries;
    ngx_msec_t                retry_interval;
    ngx_msec_t                retry_after_max;
    ngx_msec_t                timeout;
    ngx_uint_t                concurrency;
    ngx_uint_t                url_concurrency;   /* whole server */
    ngx_uint_t                pipeline;   /* requests a write; 1: off */
    ngx_uint_t                task_concurrency;  /* a worker */
    ngx_uint_t                task_rate;  /* a worker, 1/1000 a second */
    ngx_uint_t                breaker;           /* failures; 0: off */
    time_t                    pause_after;       /* s; 0: off */
    ngx_flag_t                ssl_verify;
    ngx_str_t                 ssl_trusted_certificate;

    /* the $qlm_webhook_arg_NAME the configuration uses: NAME to slot + 1 */
    ngx_hash_t                args_hash;
    ngx_uint_t                nargs;
    ngx_array_t              *field_lists;   /* each lcf->fields */

    /* of ngx_http_qlm_webhook_url_t, one array an event */
    ngx_array_t               urls[NGX_HTTP_QLM_WEBHOOK_NEVENTS];

    ngx_array_t              *searches;  /* ngx_http_qlm_webhook_search_t */
    ngx_array_t              *tasks;     /* ngx_http_qlm_webhook_task_t */
    ngx_array_t              *signers;   /* ngx_http_qlm_webhook_signer_t */

    ngx_shm_zone_t           *shm_zone;
    ngx_http_qlm_webhook_shctx_t  *sh;      /* NULL until init_zone */

    /* per process, from init_process to exit_process */
    qlm_store_t              *store;
    ngx_event_t               sync_event;
    ngx_event_t               sched_event;
#if (NGX_THREADS)
    ngx_thread_task_t        *sched_task;     /* a begin, a step */
#endif
    ngx_uint_t                sched_writing;  /* in a thread now */
    ngx_event_t               pause_event;
    uint64_t                  pause_gen;     /* of the pauses applied */
    void                     *deliver;
    ngx_http_qlm_webhook_batch_t  *batch;
    ngx_http_qlm_webhook_pg_t     *pg;

    unsigned                  store_set:1;
    unsigned                  secret_set:1;
    unsigned                  store_used:1;
    unsigned                  pause_synced:1;
} ngx_http_qlm_webhook_main_conf_t;


/* what a worker starts once its store is open, maybe after retries */
typedef ngx_int_t (*ngx_http_qlm_webhook_opened_pt)(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);


typedef struct {
    ngx_str_t                  name;
    ngx_uint_t                 source;
    ngx_http_complex_value_t  *value;
    ngx_str_t                  path;      /* XPath or JSON pointer */
    void                      *xpath;     /* compiled XPath */
    ngx_str_t                  local_name;  /* of a local-name() XPath */
    ngx_uint_t                 index;     /* "$name" alone: its index + 1 */
    ngx_uint_t                 group;     /* the first field of its name */
    ngx_array_t               *vars;      /* a value of these and blanks */
    ngx_array_t               *args;      /* ...all of them arguments */
    ngx_uint_t                 arg;       /* or that of one: its slot + 1 */
} ngx_http_qlm_webhook_field_t;


typedef struct {
    ngx_uint_t                     event;
    ngx_str_t                      method;  /* empty: any */
    ngx_http_complex_value_t      *cond;    /* NULL: always */
    ngx_http_qlm_webhook_field_t  *answer;  /* if=xml:/json:, or NULL */
} ngx_http_qlm_webhook_emit_t;


typedef struct {
    ngx_array_t               *emits;     /* ngx_http_qlm_webhook_emit_t */
    ngx_array_t               *fields;    /* ngx_http_qlm_webhook_field_t */
    ngx_flag_t                 fields_answer;   /* one reads the answer */
    ngx_array_t               *success_status;  /* ngx_uint_t; NULL: 2xx */
    size_t                     capture_size;
    ngx_flag_t                 error_detect;

    ngx_flag_t                 verify;
    ngx_uint_t                 verify_scheme;
    ngx_array_t               *verify_secrets;  /* .._verify_secret_t */
    ngx_array_t               *verify_keys;     /* ngx_str_t, as signed */
    ngx_msec_t                 verify_tolerance;
    u_char                    *verify_file;     /* of "qlm_webhook_verify" */
    ngx_uint_t                 verify_line;
} ngx_http_qlm_webhook_loc_conf_t;


typedef struct {
    ngx_str_t                  value;     /* as configured, never logged */
    u_char                    *file;      /* where, for errors */
    ngx_uint_t                 line;
} ngx_http_qlm_webhook_verify_secret_t;


/* a $qlm_webhook_arg_NAME of the configuration, in a request */

typedef struct {
    ngx_str_t                  value;
    ngx_uint_t                 state;     /* NGX_HTTP_QLM_WEBHOOK_ARG_* */
} ngx_http_qlm_webhook_arg_t;


/* per request: emission (emit != NULL); verify.c keeps its own */

typedef struct {
    ngx_http_qlm_webhook_emit_t  *emit;
    ngx_http_qlm_webhook_pending_t  *pending;  /* commit not done yet */
    ngx_chain_t                  *held;     /* the answer's end, meanwhile */
    u_short                      *slots;    /* mcf->nargs: argv index + 1 */
    ngx_array_t                   argv;     /* the arguments found, once */
    ngx_str_t                     form;     /* the form body, copied once */
    u_char                       *buf;
    size_t                        len;
    size_t                        size;     /* of buf */
    off_t                         length;   /* Content-Length, or -1 */
    off_t                         seen;
    unsigned                      capture:1;
    unsigned                      overflow:1;
    unsigned                      encoded:1;
    unsigned                      unreadable:1;
    unsigned                      no_body:1;
    unsigned                      done:1;
    unsigned                      form_done:1;  /* the body was looked at */
    unsigned                      args_form:1;  /* its fields in args */
} ngx_http_qlm_webhook_ctx_t;


extern ngx_module_t  ngx_http_qlm_webhook_module;
extern char         *ngx_http_qlm_webhook_counter_names[];
extern char         *ngx_http_qlm_webhook_outcomes[];
extern ngx_str_t     ngx_http_qlm_webhook_event_names[];


ngx_int_t ngx_http_qlm_webhook_event_by_name(ngx_str_t *name);
char *ngx_http_qlm_webhook_parse_url(ngx_pool_t *pool, ngx_str_t *s,
    ngx_http_qlm_webhook_url_t *u);
ngx_str_t ngx_http_qlm_webhook_url_display(ngx_pool_t *pool, ngx_str_t *s);
void ngx_http_qlm_webhook_log_url(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_pool_t *pool, ngx_str_t *url, ngx_str_t *log_url);
ngx_uint_t ngx_http_qlm_webhook_event_object(ngx_uint_t event);

ngx_int_t ngx_http_qlm_webhook_emit_init(ngx_conf_t *cf);
void ngx_http_qlm_webhook_emit_exit(void);
void ngx_http_qlm_webhook_sign_exit(void);
ngx_http_qlm_webhook_ctx_t *ngx_http_qlm_webhook_get_ctx(
    ngx_http_request_t *r);
ngx_int_t ngx_http_qlm_webhook_verify_init(ngx_conf_t *cf);
char *ngx_http_qlm_webhook_verify_merge(ngx_conf_t *cf,
    ngx_http_qlm_webhook_loc_conf_t *prev,
    ngx_http_qlm_webhook_loc_conf_t *conf);
ngx_int_t ngx_http_qlm_webhook_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_qlm_webhook_args_init(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
char *ngx_http_qlm_webhook_compile_xpath(ngx_conf_t *cf,
    ngx_http_qlm_webhook_field_t *field);

ngx_int_t ngx_http_qlm_webhook_event_payload(ngx_pool_t *pool,
    ngx_uint_t event, ngx_str_t *event_id, time_t now, ngx_array_t *values,
    ngx_str_t *out);
ngx_int_t ngx_http_qlm_webhook_task_payload(ngx_pool_t *pool,
    ngx_str_t *task, ngx_str_t *user_data, ngx_array_t *values,
    ngx_str_t *out);
ngx_int_t ngx_http_qlm_webhook_event_id(ngx_pool_t *pool, ngx_str_t *id);
ngx_int_t ngx_http_qlm_webhook_uuid(ngx_pool_t *pool, u_char *r,
    ngx_uint_t version, ngx_str_t *id);

ngx_int_t ngx_http_qlm_webhook_read_secret(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *secret);
ngx_int_t ngx_http_qlm_webhook_signer_add(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_str_t *id, ngx_uint_t scheme,
    ngx_str_t *secret);
ngx_http_qlm_webhook_signer_t *ngx_http_qlm_webhook_signer_find(
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_str_t *id);
ngx_array_t *ngx_http_qlm_webhook_signer_headers(ngx_pool_t *pool,
    ngx_http_qlm_webhook_signer_t *signer, qlm_store_item_t *item);
void ngx_http_qlm_webhook_sign(ngx_str_t *body, ngx_str_t *secret,
    u_char *hex);
const char *ngx_http_qlm_webhook_std_check(ngx_str_t *secret);
ngx_int_t ngx_http_qlm_webhook_std_key(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_str_t *key);
void *ngx_http_qlm_webhook_std_open(ngx_str_t *key, ngx_str_t *id,
    ngx_str_t *ts);
ngx_int_t ngx_http_qlm_webhook_std_update(void *ctx, u_char *data,
    size_t len);
ngx_int_t ngx_http_qlm_webhook_std_close(void *ctx, u_char *b64);

ngx_int_t ngx_http_qlm_webhook_deliver_init_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
void ngx_http_qlm_webhook_deliver_exit_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
void ngx_http_qlm_webhook_deliver_kick(ngx_http_qlm_webhook_main_conf_t *mcf);
void ngx_http_qlm_webhook_deliver_kick_task(
    ngx_http_qlm_webhook_main_conf_t *mcf);
ngx_uint_t ngx_http_qlm_webhook_deliver_reserve(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t n,
    ngx_uint_t journaled);
void ngx_http_qlm_webhook_deliver_unreserve(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t n);
ngx_uint_t ngx_http_qlm_webhook_deliver_admit(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_str_t *url);
void ngx_http_qlm_webhook_deliver_leased(
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_item_t *item);
ngx_int_t ngx_http_qlm_webhook_deliver_early(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_early_t *e);
void ngx_http_qlm_webhook_deliver_stored(ngx_http_qlm_webhook_early_t *e,
    ngx_uint_t stored);
ngx_int_t ngx_http_qlm_webhook_watch(ngx_connection_t *c, ngx_uint_t read,
    ngx_uint_t write);
void ngx_http_qlm_webhook_unwatch(ngx_connection_t *c, ngx_uint_t closed);
ngx_uint_t ngx_http_qlm_webhook_deliver_room(
    ngx_http_qlm_webhook_main_conf_t *mcf);
void ngx_http_qlm_webhook_deliver_claimed(
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_item_t *items,
    ngx_uint_t n, u_char *refused);


/* a delivery on nginx's own connections (ngx_http_qlm_webhook_http.c) */

#define NGX_HTTP_QLM_WEBHOOK_ANSWER     1024     /* the answer's bytes kept */
#define NGX_HTTP_QLM_WEBHOOK_ERROR      256      /* libcurl's CURL_ERROR_SIZE */
#define NGX_HTTP_QLM_WEBHOOK_PIPELINE_MAX  64    /* qlm_webhook_pipeline */


typedef struct ngx_http_qlm_webhook_keepalive_s
    ngx_http_qlm_webhook_keepalive_t;
typedef struct ngx_http_qlm_webhook_http_s  ngx_http_qlm_webhook_http_t;

typedef void (*ngx_http_qlm_webhook_http_pt)(ngx_http_qlm_webhook_http_t *h);


/* what an attempt got: error_len 0 if an answer came */
typedef struct {
    ngx_uint_t                           status;
    time_t                               retry_after;   /* s; -1: none */
    size_t                               len;
    size_t                               error_len;
    u_char                               data[NGX_HTTP_QLM_WEBHOOK_ANSWER];
    char                                 error[NGX_HTTP_QLM_WEBHOOK_ERROR];
} ngx_http_qlm_webhook_reply_t;


typedef struct {
    ngx_str_t                            authority;     /* Host */
    ngx_str_t                            path;
    struct sockaddr                     *sockaddr;
    socklen_t                            socklen;
} ngx_http_qlm_webhook_target_t;


struct ngx_http_qlm_webhook_http_s {
    ngx_http_qlm_webhook_target_t       *target;
    ngx_str_t                            request;
    ngx_msec_t                           timeout;
    ngx_uint_t                           pipeline;  /* qlm_webhook_pipeline */
    ngx_pool_t                          *pool;
    ngx_log_t                           *log;
    ngx_http_qlm_webhook_keepalive_t    *keepalive;
    ngx_http_qlm_webhook_reply_t       *answer;
    ngx_http_qlm_webhook_http_pt         handler;
    void                                *data;

    /* the client's own */
    ngx_connection_t                    *connection;   /* the head's */
    ngx_http_qlm_webhook_http_t         *next;     /* behind it, same conn. */
    ngx_http_qlm_webhook_http_t         *tail;     /* a gathering head's */
    ngx_connection_t                    *piped;    /* a follower's conn. */
    ngx_queue_t                          gather;
    ngx_uint_t                           npiped;
    ngx_event_t                          timer;
    ngx_buf_t                           *buf;
    ngx_msec_t                           start;
    size_t                               sent;
    size_t                               received;
    off_t                                size;
    ngx_uint_t                           state;
    unsigned                             starting:1;
    unsigned                             connecting:1;
    unsigned                             reused:1;
    unsigned                             retried:1;
    unsigned                             keepalive_ok:1;
    unsigned                             gathering:1;
    unsigned                             buffered:1;
};


ngx_http_qlm_webhook_keepalive_t *ngx_http_qlm_webhook_keepalive_create(
    ngx_pool_t *pool, ngx_log_t *log);
void ngx_http_qlm_webhook_keepalive_close(ngx_http_qlm_webhook_keepalive_t *ka);
ngx_uint_t ngx_http_qlm_webhook_keepalive_idle(
    ngx_http_qlm_webhook_keepalive_t *ka);
ngx_int_t ngx_http_qlm_webhook_http_target(ngx_pool_t *pool, ngx_str_t *url,
    ngx_http_qlm_webhook_target_t *tg);
ngx_int_t ngx_http_qlm_webhook_http_start(ngx_http_qlm_webhook_http_t *h);
void ngx_http_qlm_webhook_http_abort(ngx_http_qlm_webhook_http_t *h);
time_t ngx_http_qlm_webhook_retry_after(u_char *p, u_char *last);


ngx_int_t ngx_http_qlm_webhook_pg_init_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
void ngx_http_qlm_webhook_pg_exit_process(
    ngx_http_qlm_webhook_main_conf_t *mcf);
void ngx_http_qlm_webhook_pg_kick(ngx_http_qlm_webhook_main_conf_t *mcf);
/*
 * A statement for PostgreSQL, in a pool of its own (destroyed after its
 * handler returns): its SQL in sql, its parameters added in order, each
 * in binary (integers in network order), text ones in text format.
 */

typedef struct ngx_http_qlm_webhook_pg_req_s  ngx_http_qlm_webhook_pg_req_t;

/* res is NULL when the statement failed (said in the log already) */
typedef void (*ngx_http_qlm_webhook_pg_done_pt)(
    ngx_http_qlm_webhook_pg_req_t *req, PGresult *res);

struct ngx_http_qlm_webhook_pg_req_s {
    ngx_queue_t                        queue;
    ngx_pool_t                        *pool;
    ngx_http_qlm_webhook_pg_t         *pg;
    const char                        *name;     /* prepared, or NULL */
    const char                        *sql;
    ngx_uint_t                         prepare;  /* PQsendPrepare() */
    int                                n;
    int                                nalloc;
    Oid                               *types;
    const char                       **values;
    int                               *lengths;
    int                               *formats;
    ngx_http_qlm_webhook_pg_done_pt    handler;
    void                              *data;
};

#define NGX_HTTP_QLM_WEBHOOK_INT4OID        23
#define NGX_HTTP_QLM_WEBHOOK_INT8OID        20
#define NGX_HTTP_QLM_WEBHOOK_TEXTOID        25
#define NGX_HTTP_QLM_WEBHOOK_BYTEAOID       17

ngx_http_qlm_webhook_pg_req_t *ngx_http_qlm_webhook_pg_req(
    ngx_http_qlm_webhook_pg_t *pg, int nparams);
ngx_int_t ngx_http_qlm_webhook_pg_int8(ngx_http_qlm_webhook_pg_req_t *r,
    uint64_t v);
ngx_int_t ngx_http_qlm_webhook_pg_int4(ngx_http_qlm_webhook_pg_req_t *r,
    int32_t v);
ngx_int_t ngx_http_qlm_webhook_pg_bytes(ngx_http_qlm_webhook_pg_req_t *r,
    Oid type, const char *data, size_t len);
ngx_int_t ngx_http_qlm_webhook_pg_text(ngx_http_qlm_webhook_pg_req_t *r,
    const char *value);
uint64_t ngx_http_qlm_webhook_pg_get8(PGresult *res, int row, int col);
uint32_t ngx_http_qlm_webhook_pg_get4(PGresult *res, int row, int col);
uint16_t ngx_http_qlm_webhook_pg_get2(PGresult *res, int row, int col);
void ngx_http_qlm_webhook_pg_get_str(PGresult *res, int row, int col,
    qlm_store_str_t *s);
void ngx_http_qlm_webhook_pg_run(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_pg_req_t *req);
ngx_uint_t ngx_http_qlm_webhook_pg_up(ngx_http_qlm_webhook_main_conf_t *mcf);
ngx_int_t ngx_http_qlm_webhook_pg_mirror_item(ngx_pool_t *pool, int table,
    qlm_store_record_t *rec, qlm_store_item_t *item);
ngx_int_t ngx_http_qlm_webhook_pg_task_slot(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_task_t *task,
    uint64_t slot);
ngx_int_t ngx_http_qlm_webhook_pg_result(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t op, uint64_t id,
    uint64_t lease, uint64_t due, uint32_t attempt, int32_t status,
    qlm_store_log_t *log);
char *ngx_http_qlm_webhook_pg_conf(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_str_t *conninfo);
ngx_int_t ngx_http_qlm_webhook_pg_param(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_str_t *value);
ngx_msec_t ngx_http_qlm_webhook_deliver_lease_time(
    ngx_http_qlm_webhook_main_conf_t *mcf);
uint64_t ngx_http_qlm_webhook_now(void);
char *ngx_http_qlm_webhook_pause_after(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_qlm_webhook_url_pause(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_str_t *want, ngx_uint_t pause,
    ngx_log_t *log, ngx_str_t *shown);
ngx_int_t ngx_http_qlm_webhook_paused_urls(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_pool_t *pool,
    ngx_array_t *out);
char *ngx_http_qlm_webhook_retry_parse(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_qlm_webhook_retry_t **retry);
ngx_http_qlm_webhook_urlstate_t *ngx_http_qlm_webhook_url_state(
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_str_t *url);

/* calls handler for each configured URL, events' and tasks' */
typedef ngx_int_t (*ngx_http_qlm_webhook_url_pt)(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_url_t *u,
    void *data);
ngx_int_t ngx_http_qlm_webhook_urls_each(
    ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_url_pt handler, void *data);

ngx_int_t ngx_http_qlm_webhook_pause_record(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_str_t *log_url,
    ngx_uint_t pause, char *by, ngx_log_t *log);
ngx_int_t ngx_http_qlm_webhook_pause_result(int rc, u_char *url, size_t len,
    ngx_uint_t pause, ngx_log_t *log);
ngx_int_t ngx_http_qlm_webhook_pause_init_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);

ngx_int_t ngx_http_qlm_webhook_status_zone(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf);
char *ngx_http_qlm_webhook_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_qlm_webhook_admin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_qlm_webhook_count_delivery(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_str_t *event, ngx_uint_t what,
    uint64_t latency);

static ngx_inline void
ngx_http_qlm_webhook_count(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_uint_t counter, ngx_atomic_int_t n)
{
    if (mcf->sh) {
        (void) ngx_atomic_fetch_add(&mcf->sh->counters[counter], n);
    }
}

#if (NGX_THREADS)
typedef void (*ngx_http_qlm_webhook_thread_pt)(void *data, ngx_log_t *log);

ngx_thread_pool_t *ngx_http_qlm_webhook_store_thread_pool(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t now);
ngx_int_t ngx_http_qlm_webhook_heap_task(ngx_thread_pool_t *tp,
    ngx_thread_task_t *task);
ngx_thread_task_t *ngx_http_qlm_webhook_heap_task_alloc(size_t size,
    ngx_http_qlm_webhook_thread_pt handler, ngx_event_handler_pt done);
#endif
ngx_int_t ngx_http_qlm_webhook_batch_event(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_request_t *r,
    ngx_uint_t event, ngx_str_t *event_id, ngx_str_t *payload, int table,
    qlm_store_record_t *rec);
ngx_int_t ngx_http_qlm_webhook_batch_op(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_uint_t op, uint64_t id, uint64_t lease, uint64_t due,
    uint32_t attempt, int32_t status, qlm_store_log_t *log);
ngx_int_t ngx_http_qlm_webhook_batch_op_early(
    ngx_http_qlm_webhook_early_t *e, ngx_uint_t op, uint64_t due,
    uint32_t attempt, int32_t status, qlm_store_log_t *log);
void ngx_http_qlm_webhook_batch_record(
    ngx_http_qlm_webhook_main_conf_t *mcf, int table, ngx_str_t *key,
    ngx_http_qlm_webhook_fold_pt cb, void *data);
void ngx_http_qlm_webhook_batch_flush(ngx_http_qlm_webhook_main_conf_t *mcf);
void ngx_http_qlm_webhook_batch_exit(ngx_http_qlm_webhook_main_conf_t *mcf);

char *ngx_http_qlm_webhook_search_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_qlm_webhook_task_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_qlm_webhook_tasks_init(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf);
ngx_int_t ngx_http_qlm_webhook_sched_init_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
char *ngx_http_qlm_webhook_parse_url_list(ngx_conf_t *cf, ngx_str_t *list,
    ngx_array_t *urls);

ngx_int_t ngx_http_qlm_webhook_store_check(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf);
ngx_int_t ngx_http_qlm_webhook_store_init_module(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
ngx_int_t ngx_http_qlm_webhook_store_init_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_opened_pt opened);
void ngx_http_qlm_webhook_store_exit_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);


#endif /* _NGX_HTTP_QLM_WEBHOOK_MODULE_H_INCLUDED_ */
