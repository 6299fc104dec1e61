
/*
 * ngx_qlm_webhook_module: the LMDB store's life in nginx's processes.
 *
 * LMDB forbids using an environment across fork(): the master only checks
 * the store at start and reload (and at "nginx -t"), then closes it; each
 * worker opens its own in init_process and closes it in exit_process.
 *
 * The master checks as root what the workers will do as "user": that the
 * user can reach the store through its parent directories.  A worker that
 * still cannot open it (the permissions changed since) says so once and
 * retries on a timer, with backoff, until it can.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <grp.h>
#include <pwd.h>
#if (NGX_LINUX)
#include <sys/vfs.h>
#endif

#include "ngx_http_qlm_webhook_module.h"


#define NGX_HTTP_QLM_WEBHOOK_MAX_GROUPS    64
#define NGX_HTTP_QLM_WEBHOOK_RETRY_FIRST   1000
#define NGX_HTTP_QLM_WEBHOOK_RETRY_MAX     60000


static void ngx_http_qlm_webhook_store_options(
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_options_t *opts);
static ngx_int_t ngx_http_qlm_webhook_store_reachable(ngx_log_t *log,
    ngx_uint_t level, ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uid_t uid,
    ngx_gid_t gid);
static ngx_uint_t ngx_http_qlm_webhook_store_perm(ngx_file_info_t *fi,
    ngx_uid_t uid, gid_t *groups, int ngroups);
static ngx_int_t ngx_http_qlm_webhook_store_chown(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t level);
static ngx_int_t ngx_http_qlm_webhook_store_chown_file(ngx_cycle_t *cycle,
    u_char *name, ngx_core_conf_t *ccf, ngx_uint_t level,
    ngx_uint_t may_vanish);
static ngx_int_t ngx_http_qlm_webhook_store_open(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
static ngx_int_t ngx_http_qlm_webhook_store_opened(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
static void ngx_http_qlm_webhook_store_retry_handler(ngx_event_t *ev);
static void ngx_http_qlm_webhook_store_sync_handler(ngx_event_t *ev);


/* per worker: the open retried after a failure */
static ngx_event_t  ngx_http_qlm_webhook_store_retry;
static ngx_http_qlm_webhook_opened_pt  ngx_http_qlm_webhook_store_started;
static ngx_msec_t   ngx_http_qlm_webhook_store_retry_delay;
static ngx_uint_t   ngx_http_qlm_webhook_store_retries;


/*
 * The write batch: group commit.  What one event-loop turn produces (the
 * events captured from answers, the outcomes of deliveries) is written in
 * one store transaction by an event posted for the end of the turn: the
 * transaction's fixed cost (the writer lock, the page writes) is paid once
 * per turn instead of once per event.  An answer's end waits in the body
 * filter until its event is committed (microseconds), so the promise holds:
 * an event is stored before the client has its whole answer.
 */

struct ngx_http_qlm_webhook_pending_s {
    ngx_queue_t                        queue;
    ngx_http_request_t                *r;        /* waits, or NULL */
    ngx_pool_cleanup_t                *cln;
    ngx_uint_t                         event;
    ngx_str_t                          event_id;
    qlm_store_item_t                  *items;
    size_t                             nitems;
    size_t                             nstored;  /* and PostgreSQL's mirror
                                                    item, its last */
    ngx_uint_t                         nleased;  /* items with lease_until */
    int                                table;
    qlm_store_record_t                *rec;
    ngx_http_qlm_webhook_early_t      *early;    /* nitems, or NULL */
    int                                rc;
    unsigned                           delivered:1;  /* all, before its
                                                        commit: not queued */
};


typedef struct {
    ngx_queue_t                        queue;
    ngx_uint_t                         op;
    uint64_t                           id;
    uint64_t                           lease;
    uint64_t                           due;
    uint32_t                           attempt;
    int32_t                            status;
    qlm_store_log_t                    log;
    ngx_http_qlm_webhook_early_t      *early;    /* id and lease from its
                                                    item, or NULL */
    int                                rc;
} ngx_http_qlm_webhook_result_t;


/* one turn's writes */
struct ngx_http_qlm_webhook_set_s {
    ngx_pool_t                        *pool;     /* all of its memory */
    ngx_queue_t                        events;
    ngx_queue_t                        results;
    ngx_queue_t                        later;    /* of early deliveries
                                                    that ended during its
                                                    commit: then recorded */
    ngx_uint_t                         nevents;
    ngx_uint_t                         nresults;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    /* the mirror records by key: ngx_http_qlm_webhook_fold_t, a table */
    ngx_rbtree_t                       records[2];
    ngx_rbtree_node_t                  sentinels[2];

    /* in the batch's flight: given to a thread, not yet committed */
    ngx_queue_t                        flight;
#if (NGX_THREADS)
    ngx_thread_task_t                 *jtask;    /* its journal record */
#endif
    uint64_t                           lsn;
    int                                jrc;
    unsigned                           journaling:1;
    unsigned                           released:1;
    unsigned                           ready:1;  /* to be committed */
    unsigned                           committing:1;  /* in a thread */
};


/* a journal record's task */
typedef struct {
    ngx_http_qlm_webhook_set_t        *set;
    qlm_store_journal_rec_t            rec;
} ngx_http_qlm_webhook_jctx_t;


/* the sets one commit in a thread takes, oldest first */
#define NGX_HTTP_QLM_WEBHOOK_COMMIT_SETS  16

typedef struct {
    ngx_http_qlm_webhook_set_t        *sets[NGX_HTTP_QLM_WEBHOOK_COMMIT_SETS];
    ngx_uint_t                         n;
} ngx_http_qlm_webhook_commit_t;


typedef struct {
    ngx_http_qlm_webhook_main_conf_t  *mcf;
    int                                rc;
} ngx_http_qlm_webhook_sync_ctx_t;


struct ngx_http_qlm_webhook_batch_s {
    ngx_http_qlm_webhook_set_t        *set;      /* filling */
    ngx_event_t                        flush;
    ngx_log_t                         *log;
    time_t                             lost_logged;
    ngx_uint_t                         lost;     /* since lost_logged */
#if (NGX_THREADS)
    /* commits in nginx's thread pool: sync=on, or while a sync runs */
    ngx_thread_pool_t                 *tp;
    ngx_thread_task_t                 *task;
    ngx_http_qlm_webhook_commit_t     *commit;   /* task's, while it runs */
    ngx_thread_task_t                 *sync_task;
    unsigned                           syncing:1;

    /* records being written, and whether the last write failed */
    ngx_uint_t                         journaling;
    unsigned                           journal_failed:1;
    ngx_event_t                        pace;
    ngx_msec_t                         committed;
#endif

    /*
     * sync=on: each turn's events are a record of the worker's journal,
     * written in a thread (several at once), their answers let go once
     * it is on disk; the sets are committed to LMDB behind, several at
     * once (NULL without threads: each commit is synced)
     */
    qlm_store_journal_t               *journal;
    ngx_queue_t                        flight;   /* sets, oldest first */
};


/* a journal this long waits for its records' commits, then rewinds */
#define NGX_HTTP_QLM_WEBHOOK_JOURNAL_MAX    (4 * 1024 * 1024)

/* records written at once */
#define NGX_HTTP_QLM_WEBHOOK_JOURNAL_TASKS  4

/* ms from a journaled commit's end to the next one's start, at least */
#define NGX_HTTP_QLM_WEBHOOK_PACE           2


static void ngx_http_qlm_webhook_store_recover(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
#if (NGX_THREADS)
static void ngx_http_qlm_webhook_journal_open(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
#endif
static ngx_http_qlm_webhook_set_t *ngx_http_qlm_webhook_batch_get(
    ngx_http_qlm_webhook_main_conf_t *mcf);
static void ngx_http_qlm_webhook_batch_handler(ngx_event_t *ev);
static qlm_store_record_t *ngx_http_qlm_webhook_record_copy(
    ngx_pool_t *pool, qlm_store_record_t *rec);
static u_char *ngx_http_qlm_webhook_str_put(u_char *p, qlm_store_str_t *dst,
    const qlm_store_str_t *src);
static ngx_int_t ngx_http_qlm_webhook_batch_index(
    ngx_http_qlm_webhook_set_t *set, int table, qlm_store_record_t *rec);
static void ngx_http_qlm_webhook_batch_lookup(ngx_http_qlm_webhook_set_t *set,
    int table, ngx_str_t *key, uint32_t hash,
    ngx_http_qlm_webhook_fold_pt cb, void *data);
static void ngx_http_qlm_webhook_batch_forget(void *data);
static void ngx_http_qlm_webhook_batch_commit(
    ngx_http_qlm_webhook_set_t **sets, ngx_uint_t n);
static void ngx_http_qlm_webhook_batch_failed(ngx_http_qlm_webhook_set_t *set,
    int rc);
static void ngx_http_qlm_webhook_batch_release(
    ngx_http_qlm_webhook_pending_t *p);
static void ngx_http_qlm_webhook_batch_ready(
    ngx_http_qlm_webhook_main_conf_t *mcf);
#if (NGX_THREADS)
static ngx_uint_t ngx_http_qlm_webhook_batch_paced(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_set_t **sets,
    ngx_uint_t n);
static void ngx_http_qlm_webhook_batch_pace_handler(ngx_event_t *ev);
#endif
static void ngx_http_qlm_webhook_batch_one_by_one(
    ngx_http_qlm_webhook_set_t *set);
static ngx_http_qlm_webhook_result_t *ngx_http_qlm_webhook_result_add(
    ngx_http_qlm_webhook_set_t *set, ngx_queue_t *queue, ngx_uint_t op,
    uint64_t due, uint32_t attempt, int32_t status, qlm_store_log_t *log);
static int ngx_http_qlm_webhook_batch_enqueue(qlm_store_write_t *w,
    ngx_http_qlm_webhook_pending_t *p, uint64_t lease_until);
static int ngx_http_qlm_webhook_batch_apply(qlm_store_t *st,
    qlm_store_write_t *w, ngx_http_qlm_webhook_result_t *res);
static void ngx_http_qlm_webhook_batch_done(ngx_http_qlm_webhook_set_t *set);
#if (NGX_THREADS)
static void ngx_http_qlm_webhook_thread_cpus(void);
static void ngx_http_qlm_webhook_batch_thread(void *data, ngx_log_t *log);
static void ngx_http_qlm_webhook_batch_thread_done(ngx_event_t *ev);
static ngx_int_t ngx_http_qlm_webhook_journal_post(
    ngx_http_qlm_webhook_set_t *set);
static void ngx_http_qlm_webhook_journal_thread(void *data, ngx_log_t *log);
static void ngx_http_qlm_webhook_journal_release(
    ngx_http_qlm_webhook_set_t *set);
static void ngx_http_qlm_webhook_journal_thread_done(ngx_event_t *ev);
static void ngx_http_qlm_webhook_sync_thread(void *data, ngx_log_t *log);
static void ngx_http_qlm_webhook_sync_thread_done(ngx_event_t *ev);
#endif
static ngx_uint_t ngx_http_qlm_webhook_store_map_fs(ngx_log_t *log,
    ngx_http_qlm_webhook_main_conf_t *mcf);
static ngx_int_t ngx_http_qlm_webhook_str_copy(ngx_pool_t *pool,
    qlm_store_str_t *dst, const char *data, size_t len);


static void
ngx_http_qlm_webhook_store_options(ngx_http_qlm_webhook_main_conf_t *mcf,
    qlm_store_options_t *opts)
{
    ngx_memzero(opts, sizeof(qlm_store_options_t));

    opts->map_size = mcf->store_max_size;
    opts->no_sync = (mcf->store_sync != NGX_HTTP_QLM_WEBHOOK_SYNC_ON);
    opts->write_map = (mcf->store_write_map == NGX_HTTP_QLM_WEBHOOK_MAP_ON);
    opts->mode = 0600;
}


/*
 * write_map=auto: a writable map only where space the store allocates
 * ahead (posix_fallocate) is there when a page of the map is written, so
 * that a full file system is an error code and not a SIGBUS: ext4, XFS,
 * tmpfs.  Copy-on-write file systems (btrfs, ZFS) and the others write
 * with pwrite().
 */

static ngx_uint_t
ngx_http_qlm_webhook_store_map_fs(ngx_log_t *log,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
#if (NGX_LINUX)
    struct statfs  fs;

    if (statfs((char *) mcf->store_path.data, &fs) == -1) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "qlm_webhook_store: statfs(\"%V\") failed, "
                      "write_map is off", &mcf->store_path);
        return NGX_HTTP_QLM_WEBHOOK_MAP_OFF;
    }

    switch ((unsigned long) fs.f_type) {

    case 0xef53:            /* ext2, ext3, ext4 */
    case 0x58465342:        /* XFS */
    case 0x01021994:        /* tmpfs */
        return NGX_HTTP_QLM_WEBHOOK_MAP_ON;
    }

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "qlm_webhook_store: \"%V\" is on a file system of type "
                  "0x%xl, where write_map=auto is off", &mcf->store_path,
                  (unsigned long) fs.f_type);
#endif

    return NGX_HTTP_QLM_WEBHOOK_MAP_OFF;
}


/*
 * At configuration time (nginx -t, start, reload): the user can reach the
 * store, which is created and opened once.  Done here rather than in
 * init_module, whose failure at a reload would end the master (nginx calls
 * exit() there) and orphan the workers; here a reload is refused and the
 * old configuration runs on.
 */

ngx_int_t
ngx_http_qlm_webhook_store_check(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    int                   rc;
    ngx_err_t             err;
    ngx_uid_t             uid;
    ngx_gid_t             gid;
    qlm_store_t          *st;
    struct group         *grp;
    struct passwd        *pwd;
    ngx_core_conf_t      *ccf;
    qlm_store_options_t   opts;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    uid = ccf->user;
    gid = ccf->group;

    /* no "user" (yet): nginx's default, as the core module sets it later */

    if (uid == (ngx_uid_t) NGX_CONF_UNSET_UINT && geteuid() == 0) {
        pwd = getpwnam(NGX_USER);
        grp = getgrnam(NGX_GROUP);

        if (pwd != NULL && grp != NULL) {
            uid = pwd->pw_uid;
            gid = grp->gr_gid;
        }
    }

    if (ccf->master != 0
        && ngx_http_qlm_webhook_store_reachable(cf->log, NGX_LOG_EMERG, mcf,
                                                uid, gid)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_create_dir(mcf->store_path.data, 0700) == NGX_FILE_ERROR) {
        err = ngx_errno;

        if (err != NGX_EEXIST) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, err,
                          "qlm_webhook_store: " ngx_create_dir_n
                          " \"%V\" failed", &mcf->store_path);
            return NGX_ERROR;
        }
    }

    /*
     * with sync=on every commit is flushed, and LMDB's msync() of a
     * writable map cost more than its pwrite() and fdatasync() (see
     * docs/benchmarks.md)
     */

    if (mcf->store_write_map == NGX_HTTP_QLM_WEBHOOK_MAP_AUTO) {
        mcf->store_write_map = (mcf->store_sync == NGX_HTTP_QLM_WEBHOOK_SYNC_ON)
                               ? NGX_HTTP_QLM_WEBHOOK_MAP_OFF
                               : ngx_http_qlm_webhook_store_map_fs(cf->log,
                                                                   mcf);
    }

    ngx_http_qlm_webhook_store_options(mcf, &opts);

    rc = qlm_store_open(&st, (char *) mcf->store_path.data, &opts);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "qlm_webhook_store: cannot open \"%V\": %s",
                      &mcf->store_path, qlm_store_strerror(rc));
        return NGX_ERROR;
    }

    qlm_store_close(st);

    return NGX_OK;
}


/*
 * The configuration is final: the store goes to the workers' user.  At a
 * reload a failure is only an alert (see above): the workers retry.
 */

ngx_int_t
ngx_http_qlm_webhook_store_init_module(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_uint_t        level;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    level = (ngx_process == NGX_PROCESS_MASTER) ? NGX_LOG_ALERT
                                                : NGX_LOG_EMERG;

    /* "user" after http{}: checked again with the final user */

    if ((ccf->master
         && ngx_http_qlm_webhook_store_reachable(cycle->log, level, mcf,
                                                 ccf->user, ccf->group)
            != NGX_OK)
        || ngx_http_qlm_webhook_store_chown(cycle, mcf, level) != NGX_OK)
    {
        return (level == NGX_LOG_ALERT) ? NGX_OK : NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The master runs as root and the workers as "user": every directory above
 * the store must let that user search it, or each worker fails to open the
 * store that the master opened.  Mode bits only (owner, group, the user's
 * other groups, others), as the kernel checks them without ACLs.
 */

static ngx_int_t
ngx_http_qlm_webhook_store_reachable(ngx_log_t *log, ngx_uint_t level,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uid_t uid, ngx_gid_t gid)
{
    int               ngroups;
    u_char           *name, *user, *path;
    size_t            i, n, len;
    mode_t            m;
    struct passwd    *pw;
    ngx_file_info_t   fi;
    gid_t             groups[NGX_HTTP_QLM_WEBHOOK_MAX_GROUPS];

    /* not root, or workers as root: nobody else to check for */

    if (geteuid() != 0 || uid == (ngx_uid_t) NGX_CONF_UNSET_UINT || uid == 0) {
        return NGX_OK;
    }

    user = (u_char *) "?";
    ngroups = 0;

    pw = getpwuid(uid);

    if (pw != NULL) {
        user = (u_char *) pw->pw_name;
        ngroups = NGX_HTTP_QLM_WEBHOOK_MAX_GROUPS;

        if (getgrouplist(pw->pw_name, gid, groups, &ngroups) == -1) {
            ngroups = 0;
        }
    }

    if (ngroups == 0) {
        groups[0] = gid;
        ngroups = 1;
    }

    path = mcf->store_path.data;
    len = mcf->store_path.len;

    while (len > 1 && path[len - 1] == '/') {
        len--;
    }

    name = ngx_alloc(len + 1, log);
    if (name == NULL) {
        return NGX_ERROR;
    }

    /*
     * "/", "/a", "/a/b"... up to the store's parent, while they exist; the
     * store itself is the master's to create and hand to the user
     */

    for (i = 0; i < len; i++) {

        if (path[i] != '/' || (i > 0 && path[i - 1] == '/')) {
            continue;
        }

        n = (i == 0) ? 1 : i;

        ngx_memcpy(name, path, n);
        name[n] = '\0';

        if (ngx_file_info(name, &fi) == NGX_FILE_ERROR || !ngx_is_dir(&fi)) {
            /* the master's mkdir or open says what is wrong */
            break;
        }

        if (ngx_http_qlm_webhook_store_perm(&fi, uid, groups, ngroups) & 1) {
            continue;
        }

        m = fi.st_mode;

        ngx_log_error(level, log, 0,
                      "qlm_webhook_store: user \"%s\" cannot reach \"%V\": "
                      "no search permission on directory \"%s\" "
                      "(mode %ui%ui%ui%ui, owner %uL:%uL)",
                      user, &mcf->store_path, name,
                      (ngx_uint_t) (m >> 9) & 7, (ngx_uint_t) (m >> 6) & 7,
                      (ngx_uint_t) (m >> 3) & 7, (ngx_uint_t) m & 7,
                      (uint64_t) fi.st_uid, (uint64_t) fi.st_gid);
        ngx_free(name);
        return NGX_ERROR;
    }

    ngx_free(name);

    return NGX_OK;
}


/* rwx (4, 2, 1) that a user with these groups has on a file */

static ngx_uint_t
ngx_http_qlm_webhook_store_perm(ngx_file_info_t *fi, ngx_uid_t uid,
    gid_t *groups, int ngroups)
{
    int  i;

    if (fi->st_uid == uid) {
        return (fi->st_mode >> 6) & 7;
    }

    for (i = 0; i < ngroups; i++) {
        if (fi->st_gid == groups[i]) {
            return (fi->st_mode >> 3) & 7;
        }
    }

    return fi->st_mode & 7;
}


/*
 * The master may run as root, the workers open the store as "user"; the
 * journals that workers of another user left behind (a changed "user",
 * nginx once run as root) are theirs to replay too
 */

static ngx_int_t
ngx_http_qlm_webhook_store_chown(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t level)
{
    u_char           *name;
    size_t            len;
    ngx_dir_t         dir;
    ngx_err_t         err;
    ngx_int_t         rc;
    ngx_uint_t        i;
    ngx_core_conf_t  *ccf;

    static char      *files[] = { "", "/data.mdb", "/lock.mdb" };

    if (geteuid() != 0) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        return NGX_OK;
    }

    name = ngx_pnalloc(cycle->pool, mcf->store_path.len + NGX_MAX_PATH + 2);
    if (name == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {

        ngx_sprintf(name, "%V%s%Z", &mcf->store_path, files[i]);

        if (ngx_http_qlm_webhook_store_chown_file(cycle, name, ccf, level, 0)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_open_dir(&mcf->store_path, &dir) == NGX_ERROR) {
        ngx_log_error(level, cycle->log, ngx_errno,
                      "qlm_webhook_store: " ngx_open_dir_n " \"%V\" failed",
                      &mcf->store_path);
        return NGX_ERROR;
    }

    rc = NGX_OK;

    for ( ;; ) {
        ngx_set_errno(0);

        if (ngx_read_dir(&dir) == NGX_ERROR) {
            err = ngx_errno;

            if (err != NGX_ENOMOREFILES) {
                ngx_log_error(level, cycle->log, err,
                              "qlm_webhook_store: " ngx_read_dir_n
                              " \"%V\" failed", &mcf->store_path);
                rc = NGX_ERROR;
            }

            break;
        }

        len = ngx_de_namelen(&dir);

        if (len > NGX_MAX_PATH
            || ngx_strncmp(ngx_de_name(&dir), QLM_STORE_JOURNAL_PREFIX,
                           sizeof(QLM_STORE_JOURNAL_PREFIX) - 1)
               != 0)
        {
            continue;
        }

        ngx_sprintf(name, "%V/%*s%Z", &mcf->store_path, len,
                    ngx_de_name(&dir));

        /* a running worker may replay and remove it meanwhile (nginx -t) */

        if (ngx_http_qlm_webhook_store_chown_file(cycle, name, ccf, level, 1)
            != NGX_OK)
        {
            rc = NGX_ERROR;
            break;
        }
    }

    if (ngx_close_dir(&dir) == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "qlm_webhook_store: " ngx_close_dir_n " \"%V\" failed",
                      &mcf->store_path);
    }

    return rc;
}


static ngx_int_t
ngx_http_qlm_webhook_store_chown_file(ngx_cycle_t *cycle, u_char *name,
    ngx_core_conf_t *ccf, ngx_uint_t level, ngx_uint_t may_vanish)
{
    ngx_err_t        err;
    ngx_file_info_t  fi;

    if (ngx_file_info(name, &fi) == NGX_FILE_ERROR) {
        err = ngx_errno;

        if (may_vanish && err == NGX_ENOENT) {
            return NGX_OK;
        }

        ngx_log_error(level, cycle->log, err,
                      "qlm_webhook_store: " ngx_file_info_n
                      " \"%s\" failed", name);
        return NGX_ERROR;
    }

    if (fi.st_uid == ccf->user) {
        return NGX_OK;
    }

    if (chown((const char *) name, ccf->user, ccf->group) == -1) {
        err = ngx_errno;

        if (may_vanish && err == NGX_ENOENT) {
            return NGX_OK;
        }

        ngx_log_error(level, cycle->log, err,
                      "qlm_webhook_store: chown(\"%s\", %d) failed",
                      name, ccf->user);
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_qlm_webhook_store_init_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_opened_pt opened)
{
    ngx_event_t  *ev;

    ngx_http_qlm_webhook_store_started = opened;

    if (ngx_http_qlm_webhook_store_open(cycle, mcf) == NGX_OK) {
        return ngx_http_qlm_webhook_store_opened(cycle, mcf);
    }

    /* license traffic goes on; the open is retried, with backoff */

    ev = &ngx_http_qlm_webhook_store_retry;

    ev->handler = ngx_http_qlm_webhook_store_retry_handler;
    ev->data = mcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_http_qlm_webhook_store_retries = 0;
    ngx_http_qlm_webhook_store_retry_delay = NGX_HTTP_QLM_WEBHOOK_RETRY_FIRST;

    ngx_add_timer(ev, ngx_http_qlm_webhook_store_retry_delay);

    return NGX_OK;
}


/* the first failure is an alert, the retries' are debug lines */

static ngx_int_t
ngx_http_qlm_webhook_store_open(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    int                   rc;
    ngx_uint_t            level;
    qlm_store_options_t   opts;

    ngx_http_qlm_webhook_store_options(mcf, &opts);

    rc = qlm_store_open(&mcf->store, (char *) mcf->store_path.data, &opts);

    if (rc == 0) {
        return NGX_OK;
    }

    mcf->store = NULL;

    level = ngx_http_qlm_webhook_store_retries ? NGX_LOG_DEBUG : NGX_LOG_ALERT;

    ngx_log_error(level, cycle->log, 0,
                  "qlm_webhook_store: cannot open \"%V\": %s, webhooks are "
                  "disabled in this worker until it can, retrying",
                  &mcf->store_path, qlm_store_strerror(rc));

    return NGX_ERROR;
}


static void
ngx_http_qlm_webhook_store_retry_handler(ngx_event_t *ev)
{
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    mcf = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_http_qlm_webhook_store_retries++;

    if (ngx_http_qlm_webhook_store_open((ngx_cycle_t *) ngx_cycle, mcf)
        == NGX_OK)
    {
        ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                      "qlm_webhook_store: \"%V\" opened after %ui retries",
                      &mcf->store_path, ngx_http_qlm_webhook_store_retries);

        if (ngx_http_qlm_webhook_store_opened((ngx_cycle_t *) ngx_cycle, mcf)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                          "qlm_webhook_store: deliveries could not start "
                          "in this worker");
        }

        return;
    }

    ngx_http_qlm_webhook_store_retry_delay =
        ngx_min(2 * ngx_http_qlm_webhook_store_retry_delay,
                NGX_HTTP_QLM_WEBHOOK_RETRY_MAX);

    ngx_add_timer(ev, ngx_http_qlm_webhook_store_retry_delay);
}


/* the store is open in this worker: its timers, then the caller's work */

static ngx_int_t
ngx_http_qlm_webhook_store_opened(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_event_t                   *ev;
    ngx_http_qlm_webhook_batch_t  *b;
#if (NGX_THREADS)
    ngx_str_t                      name;
#endif

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "qlm webhook store \"%V\" opened%s", &mcf->store_path,
                   mcf->store_write_map == NGX_HTTP_QLM_WEBHOOK_MAP_ON
                   ? " with a writable map" : "");

    b = ngx_pcalloc(cycle->pool, sizeof(ngx_http_qlm_webhook_batch_t));
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->log = cycle->log;
    b->flush.handler = ngx_http_qlm_webhook_batch_handler;
    b->flush.data = mcf;
    b->flush.log = cycle->log;
    ngx_queue_init(&b->flight);
#if (NGX_THREADS)
    b->pace.handler = ngx_http_qlm_webhook_batch_pace_handler;
    b->pace.data = mcf;
    b->pace.log = cycle->log;
    b->pace.cancelable = 1;
#endif

    mcf->batch = b;

    ngx_http_qlm_webhook_store_recover(cycle, mcf);

#if (NGX_THREADS)

    if (mcf->store_sync != NGX_HTTP_QLM_WEBHOOK_SYNC_OFF) {
        ngx_str_set(&name, "default");

        b->tp = ngx_thread_pool_get(cycle, &name);

        if (b->tp == NULL) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "qlm_webhook_store: no thread pool \"default\", "
                          "the store is flushed in the event loop");
        }
    }

    /*
     * Commits run in the thread pool with sync=on, and while the timed
     * sync flushes: a write of the loop's own would then wait on the
     * file system, whose journal commit forced by the flush holds up the
     * inode's next update: milliseconds in which no license call is
     * answered.  Otherwise they run in the loop: a thread's hand-over
     * costs more than a commit of a few events (a seventh of N's rate).
     */

    if (b->tp) {
        b->task = ngx_thread_task_alloc(cycle->pool,
                                     sizeof(ngx_http_qlm_webhook_commit_t));
        if (b->task == NULL) {
            return NGX_ERROR;
        }

        b->task->handler = ngx_http_qlm_webhook_batch_thread;
        b->task->event.handler = ngx_http_qlm_webhook_batch_thread_done;
        b->task->event.data = mcf;
        b->task->event.log = cycle->log;
    }

    if (b->tp && mcf->store_sync == NGX_HTTP_QLM_WEBHOOK_SYNC_ON) {
        ngx_http_qlm_webhook_journal_open(cycle, mcf);
    }

    if (b->tp && mcf->store_sync == NGX_HTTP_QLM_WEBHOOK_SYNC_TIMED) {
        b->sync_task = ngx_thread_task_alloc(cycle->pool,
                                    sizeof(ngx_http_qlm_webhook_sync_ctx_t));
        if (b->sync_task == NULL) {
            return NGX_ERROR;
        }

        ((ngx_http_qlm_webhook_sync_ctx_t *) b->sync_task->ctx)->mcf = mcf;
        b->sync_task->handler = ngx_http_qlm_webhook_sync_thread;
        b->sync_task->event.handler = ngx_http_qlm_webhook_sync_thread_done;
        b->sync_task->event.data = mcf;
        b->sync_task->event.log = cycle->log;
    }

#endif

    if (mcf->store_sync == NGX_HTTP_QLM_WEBHOOK_SYNC_TIMED && ngx_worker == 0)
    {
        /* one process syncs the whole environment for every worker */

        if (mcf->sh) {
            /* a predecessor killed while it flushed left it set */
            mcf->sh->syncing = 0;
        }

        ev = &mcf->sync_event;

        ev->handler = ngx_http_qlm_webhook_store_sync_handler;
        ev->data = mcf;
        ev->log = cycle->log;
        ev->cancelable = 1;

        ngx_add_timer(ev, mcf->store_sync_interval);
    }

    return ngx_http_qlm_webhook_store_started(cycle, mcf);
}


static void
ngx_http_qlm_webhook_store_sync_handler(ngx_event_t *ev)
{
    int                                rc;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    mcf = ev->data;

    if (mcf->store == NULL) {
        return;
    }

#if (NGX_THREADS)

    if (mcf->batch->sync_task) {
        if (!mcf->batch->syncing) {
            /* every worker's commits go to threads while it flushes */

            if (mcf->sh) {
                mcf->sh->syncing = 1;
            }

            if (ngx_thread_task_post(mcf->batch->tp, mcf->batch->sync_task)
                == NGX_OK)
            {
                mcf->batch->syncing = 1;

            } else if (mcf->sh) {
                mcf->sh->syncing = 0;
            }
        }

        goto next;
    }

#endif

    rc = qlm_store_sync(mcf->store);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "qlm_webhook_store: sync \"%V\" failed: %s",
                      &mcf->store_path, qlm_store_strerror(rc));
    }

#if (NGX_THREADS)
next:
#endif

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, mcf->store_sync_interval);
}


void
ngx_http_qlm_webhook_store_exit_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    if (ngx_http_qlm_webhook_store_retry.timer_set) {
        ngx_del_timer(&ngx_http_qlm_webhook_store_retry);
    }

    if (mcf->store == NULL) {
        return;
    }

    if (mcf->sync_event.timer_set) {
        ngx_del_timer(&mcf->sync_event);
    }

    ngx_http_qlm_webhook_batch_exit(mcf);

    /* qlm_store_close() syncs a store opened without per-commit sync */

    qlm_store_close(mcf->store);
    mcf->store = NULL;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "qlm webhook store \"%V\" closed", &mcf->store_path);
}


/*
 * The events in the journals of workers that ended before their commits
 * (killed, or the machine stopped): into the store, before this worker's
 * own work.
 */

static void
ngx_http_qlm_webhook_store_recover(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    int       rc;
    uint64_t  replayed;

    rc = qlm_store_journal_recover(mcf->store, (char *) mcf->store_path.data,
                                   &replayed);

    if (replayed) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "qlm_webhook_store: %uL event%s replayed from the "
                      "journals of ended workers in \"%V\"",
                      replayed, replayed == 1 ? "" : "s", &mcf->store_path);
    }

    if (rc != 0) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "qlm_webhook_store: a journal in \"%V\" could not "
                      "be replayed: %s; it stays for the next worker",
                      &mcf->store_path, qlm_store_strerror(rc));
    }
}


#if (NGX_THREADS)

static void
ngx_http_qlm_webhook_journal_open(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    int  rc;

    rc = qlm_store_journal_open(mcf->store, (char *) mcf->store_path.data,
                                &mcf->batch->journal);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "qlm_webhook_store: no journal in \"%V\": %s; each "
                      "answer waits for a synced commit of the store",
                      &mcf->store_path, qlm_store_strerror(rc));
    }
}

#endif


static ngx_http_qlm_webhook_set_t *
ngx_http_qlm_webhook_batch_get(ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_pool_t                    *pool;
    ngx_http_qlm_webhook_set_t    *set;
    ngx_http_qlm_webhook_batch_t  *b;

    b = mcf->batch;

    if (b->set == NULL) {
        pool = ngx_create_pool(16384, b->log);
        if (pool == NULL) {
            return NULL;
        }

        set = ngx_palloc(pool, sizeof(ngx_http_qlm_webhook_set_t));
        if (set == NULL) {
            ngx_destroy_pool(pool);
            return NULL;
        }

        set->pool = pool;
        ngx_queue_init(&set->events);
        ngx_queue_init(&set->results);
        ngx_queue_init(&set->later);
        set->nevents = 0;
        set->nresults = 0;
        set->mcf = mcf;
#if (NGX_THREADS)
        set->jtask = NULL;
#endif
        set->lsn = 0;
        set->jrc = 0;
        set->journaling = 0;
        set->released = 0;
        set->ready = 0;
        set->committing = 0;

        ngx_rbtree_init(&set->records[QLM_STORE_LICENSES],
                        &set->sentinels[QLM_STORE_LICENSES],
                        ngx_str_rbtree_insert_value);
        ngx_rbtree_init(&set->records[QLM_STORE_CUSTOMERS],
                        &set->sentinels[QLM_STORE_CUSTOMERS],
                        ngx_str_rbtree_insert_value);

        b->set = set;
    }

    if (!b->flush.posted) {
        ngx_post_event(&b->flush, &ngx_posted_events);
    }

    return b->set;
}


static ngx_int_t
ngx_http_qlm_webhook_str_copy(ngx_pool_t *pool, qlm_store_str_t *dst,
    const char *data, size_t len)
{
    u_char           *p;
    qlm_store_str_t   src;

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    src.data = data;
    src.len = len;

    (void) ngx_http_qlm_webhook_str_put(p, dst, &src);

    return NGX_OK;
}


/* a record and its strings in one piece of the set's pool */

static qlm_store_record_t *
ngx_http_qlm_webhook_record_copy(ngx_pool_t *pool, qlm_store_record_t *rec)
{
    u_char              *p;
    size_t               i, size;
    qlm_store_field_t   *fields;
    qlm_store_record_t  *copy;

    size = sizeof(qlm_store_record_t)
           + (rec->nfields + 1) * sizeof(qlm_store_field_t)
           + rec->key.len + 1;

    for (i = 0; i < rec->nfields; i++) {
        size += rec->fields[i].name.len + rec->fields[i].value.len + 2;
    }

    copy = ngx_palloc(pool, size);
    if (copy == NULL) {
        return NULL;
    }

    fields = (qlm_store_field_t *) (copy + 1);
    p = (u_char *) (fields + rec->nfields + 1);

    *copy = *rec;
    copy->fields = fields;

    p = ngx_http_qlm_webhook_str_put(p, &copy->key, &rec->key);

    for (i = 0; i < rec->nfields; i++) {
        p = ngx_http_qlm_webhook_str_put(p, &fields[i].name,
                                         &rec->fields[i].name);
        p = ngx_http_qlm_webhook_str_put(p, &fields[i].value,
                                         &rec->fields[i].value);
    }

    return copy;
}


/* src into p, NUL-terminated, as dst; the byte after it */

static u_char *
ngx_http_qlm_webhook_str_put(u_char *p, qlm_store_str_t *dst,
    const qlm_store_str_t *src)
{
    dst->data = (char *) p;
    dst->len = src->len;

    if (src->len) {
        p = ngx_cpymem(p, src->data, src->len);
    }

    *p++ = '\0';

    return p;
}


/* the record joins its key's in the set, for the emitter's reads */

static ngx_int_t
ngx_http_qlm_webhook_batch_index(ngx_http_qlm_webhook_set_t *set, int table,
    qlm_store_record_t *rec)
{
    uint32_t                      hash;
    ngx_str_t                     key;
    qlm_store_record_t          **r;
    ngx_http_qlm_webhook_fold_t  *f;

    key.data = (u_char *) rec->key.data;
    key.len = rec->key.len;
    hash = ngx_murmur_hash2(key.data, key.len);

    f = (ngx_http_qlm_webhook_fold_t *)
            ngx_str_rbtree_lookup(&set->records[table], &key, hash);

    if (f == NULL) {
        f = ngx_pcalloc(set->pool, sizeof(ngx_http_qlm_webhook_fold_t));
        if (f == NULL
            || ngx_array_init(&f->recs, set->pool, 4,
                              sizeof(qlm_store_record_t *))
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        f->sn.str = key;
        f->sn.node.key = hash;

        ngx_rbtree_insert(&set->records[table], &f->sn.node);
    }

    r = ngx_array_push(&f->recs);
    if (r == NULL) {
        return NGX_ERROR;
    }

    *r = rec;

    return NGX_OK;
}


/*
 * Queues an event's deliveries and mirror record for this turn's commit;
 * without a payload, the mirror record only (a customer's old record,
 * when it moves); with r, the answer's end waits for it (ctx->pending).
 * The deliveries this worker has free slots for are stored already leased
 * to it, and are started from memory once committed: no claim for them.
 */

ngx_int_t
ngx_http_qlm_webhook_batch_event(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_request_t *r, ngx_uint_t event, ngx_str_t *event_id,
    ngx_str_t *payload, int table, qlm_store_record_t *rec)
{
    size_t                           i;
    uint64_t                         now;
    ngx_int_t                        rc;
    ngx_str_t                       *name;
    ngx_uint_t                       reserved;
    ngx_pool_t                      *pool;
    ngx_array_t                     *urls;
    qlm_store_str_t                  body, id;
    qlm_store_item_t                *items;
    ngx_http_qlm_webhook_ctx_t      *ctx;
    ngx_http_qlm_webhook_url_t      *u;
    ngx_http_qlm_webhook_set_t      *set;
    ngx_http_qlm_webhook_pending_t  *p;

    set = ngx_http_qlm_webhook_batch_get(mcf);
    if (set == NULL) {
        return NGX_ERROR;
    }

    pool = set->pool;
    name = &ngx_http_qlm_webhook_event_names[event];
    urls = &mcf->urls[event];

    p = ngx_pcalloc(pool, sizeof(ngx_http_qlm_webhook_pending_t));
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_qlm_webhook_str_copy(pool, &id, (char *) event_id->data,
                                      event_id->len)
        != NGX_OK
        || (payload
            && ngx_http_qlm_webhook_str_copy(pool, &body,
                                             (char *) payload->data,
                                             payload->len)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    p->event = event;
    p->event_id.data = (u_char *) id.data;
    p->event_id.len = id.len;
    p->table = table;
    p->nitems = payload ? urls->nelts : 0;

    /* with PostgreSQL the record travels to the fleet's mirror too */

    p->nstored = p->nitems + (rec && mcf->pg_conninfo.len);

    if (p->nstored) {
        items = ngx_pcalloc(pool, p->nstored * sizeof(qlm_store_item_t));
        if (items == NULL) {
            return NGX_ERROR;
        }

        p->items = items;

        if (p->nstored > p->nitems) {
            rc = ngx_http_qlm_webhook_pg_mirror_item(pool, table, rec,
                                                     &items[p->nitems]);
            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (rc == NGX_DECLINED) {
                p->nstored = p->nitems;
            }
        }
    }

    if (p->nitems) {
        items = p->items;
        reserved = ngx_http_qlm_webhook_deliver_reserve(mcf, p->nitems,
                                                mcf->batch->journal != NULL);
        p->nleased = 0;

        now = ngx_http_qlm_webhook_now();
        u = urls->elts;

        for (i = 0; i < p->nitems; i++) {
            items[i].due = now;
            items[i].created = now;
            items[i].event_id = id;
            items[i].event.data = (char *) name->data;
            items[i].event.len = name->len;
            items[i].url.data = (char *) u[i].url.data;
            items[i].url.len = u[i].url.len;
            items[i].body = body;

            /* a receiver that is not to be tried now waits in the queue */

            if (p->nleased < reserved
                && ngx_http_qlm_webhook_deliver_admit(mcf, &u[i].url))
            {
                p->nleased++;
                items[i].lease_until =
                    now + ngx_http_qlm_webhook_deliver_lease_time(mcf);

                /* the store counts the first attempt so, as a claim would */
                items[i].attempt = 1;
            }

            /* signed at each attempt: the signer's id, never a secret */

            items[i].headers.data = (char *) u[i].signer.data;
            items[i].headers.len = u[i].signer.len;
        }

        ngx_http_qlm_webhook_deliver_unreserve(mcf, reserved - p->nleased);
    }

    if (rec) {
        p->rec = ngx_http_qlm_webhook_record_copy(pool, rec);

        if (p->rec == NULL
            || ngx_http_qlm_webhook_batch_index(set, table, p->rec)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (r) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_qlm_webhook_module);

        p->cln = ngx_pool_cleanup_add(r->pool, 0);

        if (ctx && p->cln) {
            p->cln->handler = ngx_http_qlm_webhook_batch_forget;
            p->cln->data = p;
            p->r = r;
            ctx->pending = p;
        }
    }

    ngx_queue_insert_tail(&set->events, &p->queue);
    set->nevents++;

    return NGX_OK;
}


/*
 * The mirror records this worker has queued and not yet committed for key
 * (the batch being committed, then the one filling), in the order they
 * will be applied: an event built now sees the events before it, as the
 * store will once they are committed.
 */

void
ngx_http_qlm_webhook_batch_record(ngx_http_qlm_webhook_main_conf_t *mcf,
    int table, ngx_str_t *key, ngx_http_qlm_webhook_fold_pt cb, void *data)
{
    uint32_t                       hash;
    ngx_queue_t                   *q;
    ngx_http_qlm_webhook_set_t    *set;
    ngx_http_qlm_webhook_batch_t  *b;

    b = mcf->batch;

    if (b == NULL) {
        return;
    }

    hash = ngx_murmur_hash2(key->data, key->len);

    /*
     * The sets not yet committed, oldest first, then the one filling;
     * their threads read the records only, and never take from their
     * pools
     */

    for (q = ngx_queue_head(&b->flight);
         q != ngx_queue_sentinel(&b->flight);
         q = ngx_queue_next(q))
    {
        set = ngx_queue_data(q, ngx_http_qlm_webhook_set_t, flight);
        ngx_http_qlm_webhook_batch_lookup(set, table, key, hash, cb, data);
    }

    if (b->set) {
        ngx_http_qlm_webhook_batch_lookup(b->set, table, key, hash, cb,
                                          data);
    }
}


static void
ngx_http_qlm_webhook_batch_lookup(ngx_http_qlm_webhook_set_t *set, int table,
    ngx_str_t *key, uint32_t hash, ngx_http_qlm_webhook_fold_pt cb,
    void *data)
{
    ngx_http_qlm_webhook_fold_t  *f;

    f = (ngx_http_qlm_webhook_fold_t *)
            ngx_str_rbtree_lookup(&set->records[table], key, hash);

    if (f) {
        cb(set->pool, f, data);
    }
}


/* the request is gone before the commit: its event is stored all the same */

static void
ngx_http_qlm_webhook_batch_forget(void *data)
{
    ngx_http_qlm_webhook_pending_t  *p = data;

    p->r = NULL;
    p->cln = NULL;
}


ngx_int_t
ngx_http_qlm_webhook_batch_op(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_uint_t op, uint64_t id, uint64_t lease, uint64_t due,
    uint32_t attempt, int32_t status, qlm_store_log_t *log)
{
    ngx_http_qlm_webhook_set_t     *set;
    ngx_http_qlm_webhook_result_t  *res;

    /* with PostgreSQL the item is a row there, not in the local spool */

    if (mcf->pg_conninfo.len) {
        return ngx_http_qlm_webhook_pg_result(mcf, op, id, lease, due,
                                              attempt, status, log);
    }

    set = ngx_http_qlm_webhook_batch_get(mcf);
    if (set == NULL) {
        return NGX_ERROR;
    }

    res = ngx_http_qlm_webhook_result_add(set, &set->results, op, due,
                                          attempt, status, log);
    if (res == NULL) {
        return NGX_ERROR;
    }

    res->id = id;
    res->lease = lease;
    set->nresults++;

    return NGX_OK;
}


/*
 * The outcome of a delivery started before its event's commit: recorded
 * in that commit, right after the event (an item acknowledged there never
 * waits in the queue), or, if the commit is running, after it.
 */

ngx_int_t
ngx_http_qlm_webhook_batch_op_early(ngx_http_qlm_webhook_early_t *e,
    ngx_uint_t op, uint64_t due, uint32_t attempt, int32_t status,
    qlm_store_log_t *log)
{
    ngx_http_qlm_webhook_set_t     *set;
    ngx_http_qlm_webhook_result_t  *res;

    set = e->set;

    res = ngx_http_qlm_webhook_result_add(set, set->committing
                                               ? &set->later : &set->results,
                                          op, due, attempt, status, log);
    if (res == NULL) {
        return NGX_ERROR;
    }

    res->early = e;

    if (!set->committing) {
        set->nresults++;

        if (op == NGX_HTTP_QLM_WEBHOOK_OP_ACK) {
            e->ack = res;
        }
    }

    return NGX_OK;
}


static ngx_http_qlm_webhook_result_t *
ngx_http_qlm_webhook_result_add(ngx_http_qlm_webhook_set_t *set,
    ngx_queue_t *queue, ngx_uint_t op, uint64_t due, uint32_t attempt,
    int32_t status, qlm_store_log_t *log)
{
    ngx_pool_t                     *pool;
    ngx_http_qlm_webhook_result_t  *res;

    pool = set->pool;

    res = ngx_palloc(pool, sizeof(ngx_http_qlm_webhook_result_t));
    if (res == NULL) {
        return NULL;
    }

    res->op = op;
    res->id = 0;
    res->lease = 0;
    res->due = due;
    res->attempt = attempt;
    res->status = status;
    res->log = *log;
    res->early = NULL;
    res->rc = 0;

    if (ngx_http_qlm_webhook_str_copy(pool, &res->log.event_id,
                                      log->event_id.data, log->event_id.len)
        != NGX_OK
        || ngx_http_qlm_webhook_str_copy(pool, &res->log.event,
                                         log->event.data, log->event.len)
           != NGX_OK
        || ngx_http_qlm_webhook_str_copy(pool, &res->log.url,
                                         log->url.data, log->url.len)
           != NGX_OK
        || ngx_http_qlm_webhook_str_copy(pool, &res->log.error,
                                         log->error.data, log->error.len)
           != NGX_OK
        || ngx_http_qlm_webhook_str_copy(pool, &res->log.answer,
                                         log->answer.data, log->answer.len)
           != NGX_OK)
    {
        return NULL;
    }

    ngx_queue_insert_tail(queue, &res->queue);

    return res;
}


/*
 * At exit nginx's thread pools have already finished their queues (their
 * module exits first), so a commit handed to a thread is done: only its
 * completion, posted to a loop that no longer runs, is left to do here.
 */

void
ngx_http_qlm_webhook_batch_exit(ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_http_qlm_webhook_batch_t  *b;
#if (NGX_THREADS)
    ngx_uint_t                     i, n;
    ngx_queue_t                   *q;
    ngx_thread_task_t             *task;
    ngx_http_qlm_webhook_set_t    *set,
                                *sets[NGX_HTTP_QLM_WEBHOOK_JOURNAL_TASKS];
#endif

    b = mcf->batch;

    if (b == NULL) {
        return;
    }

#if (NGX_THREADS)

    /*
     * The pool's threads are joined by now: what they were given is done,
     * its ends are handled here, and what is left is committed in the loop
     */

    task = b->task;
    b->task = NULL;

    n = 0;

    for (q = ngx_queue_head(&b->flight);
         q != ngx_queue_sentinel(&b->flight)
         && n < NGX_HTTP_QLM_WEBHOOK_JOURNAL_TASKS;
         q = ngx_queue_next(q))
    {
        set = ngx_queue_data(q, ngx_http_qlm_webhook_set_t, flight);

        if (set->journaling) {
            sets[n++] = set;
        }
    }

    for (i = 0; i < n; i++) {
        ngx_http_qlm_webhook_journal_thread_done(&sets[i]->jtask->event);
    }

    if (b->commit) {
        ngx_http_qlm_webhook_batch_thread_done(&task->event);
    }

    ngx_http_qlm_webhook_batch_ready(mcf);

#endif

    ngx_http_qlm_webhook_batch_flush(mcf);

    if (b->journal) {
        /* every record is committed, or its events were lost and said so */
        qlm_store_journal_close(mcf->store, b->journal, 1);
        b->journal = NULL;
    }

    mcf->batch = NULL;
}


static void
ngx_http_qlm_webhook_batch_handler(ngx_event_t *ev)
{
    ngx_http_qlm_webhook_batch_flush(ev->data);
}


void
ngx_http_qlm_webhook_batch_flush(ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_uint_t                     threaded;
    ngx_http_qlm_webhook_set_t    *set;
    ngx_http_qlm_webhook_batch_t  *b;

    b = mcf->batch;

    if (b == NULL || b->set == NULL) {
        return;
    }

    if (b->flush.posted) {
        ngx_delete_posted_event(&b->flush);
    }

    threaded = 0;

#if (NGX_THREADS)

    if (b->journal && b->task && !ngx_exiting) {

        if (b->journaling == NGX_HTTP_QLM_WEBHOOK_JOURNAL_TASKS) {
            /* the end of one flushes */
            return;
        }

        if (ngx_queue_empty(&b->flight)) {
            /* every record is committed, and that on disk */
            qlm_store_journal_rewind(b->journal);

        } else if (qlm_store_journal_size(b->journal)
                   >= NGX_HTTP_QLM_WEBHOOK_JOURNAL_MAX)
        {
            /* it waits for the commits, then rewinds */
            return;
        }

        set = b->set;
        b->set = NULL;

        ngx_queue_insert_tail(&b->flight, &set->flight);

        if (set->nevents && ngx_http_qlm_webhook_journal_post(set) == NGX_OK)
        {
            return;
        }

        /* nothing to write, or no task: its commit's own sync holds it */

        set->ready = 1;
        ngx_http_qlm_webhook_batch_ready(mcf);
        return;
    }

    threaded = (b->task && !ngx_exiting
                && (mcf->store_sync == NGX_HTTP_QLM_WEBHOOK_SYNC_ON
                    || (mcf->sh && mcf->sh->syncing)));

    if (threaded && b->commit) {
        /* one commit at a time: the next turn's waits for this one */
        return;
    }

#endif

    set = b->set;
    b->set = NULL;

    if (threaded || !ngx_queue_empty(&b->flight)) {
        /* to a thread, or behind the sets before it: the mirror in turn */
        ngx_queue_insert_tail(&b->flight, &set->flight);
        set->ready = 1;

        ngx_http_qlm_webhook_batch_ready(mcf);
        return;
    }

    ngx_http_qlm_webhook_batch_commit(&set, 1);
    ngx_http_qlm_webhook_batch_done(set);
    ngx_destroy_pool(set->pool);
}


/*
 * The sets at the flight's head that wait for their commit: one commit
 * for them all, in a thread when there is one
 */

static void
ngx_http_qlm_webhook_batch_ready(ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_uint_t                      i, n;
    ngx_queue_t                    *q;
    ngx_http_qlm_webhook_set_t     *sets[NGX_HTTP_QLM_WEBHOOK_COMMIT_SETS];
    ngx_http_qlm_webhook_batch_t   *b;
#if (NGX_THREADS)
    ngx_http_qlm_webhook_commit_t  *commit;
#endif

    b = mcf->batch;

#if (NGX_THREADS)
    if (b->commit) {
        /* its end takes the next */
        return;
    }
#endif

    for ( ;; ) {
        n = 0;

        for (q = ngx_queue_head(&b->flight);
             q != ngx_queue_sentinel(&b->flight)
             && n < NGX_HTTP_QLM_WEBHOOK_COMMIT_SETS;
             q = ngx_queue_next(q))
        {
            sets[n] = ngx_queue_data(q, ngx_http_qlm_webhook_set_t, flight);

            if (!sets[n]->ready) {
                break;
            }

            n++;
        }

        if (n == 0) {
            return;
        }

#if (NGX_THREADS)
        if (b->task && !ngx_exiting) {

            if (ngx_http_qlm_webhook_batch_paced(mcf, sets, n)) {
                return;
            }

            commit = b->task->ctx;

            ngx_memcpy(commit->sets, sets, n * sizeof(sets[0]));
            commit->n = n;

            if (ngx_thread_task_post(b->tp, b->task) == NGX_OK) {
                b->commit = commit;

                for (i = 0; i < n; i++) {
                    sets[i]->committing = 1;
                }

                return;
            }

            /* the pool's queue is full: the loop waits this once */
        }
#endif

        ngx_http_qlm_webhook_batch_commit(sets, n);

        for (i = 0; i < n; i++) {
            ngx_queue_remove(&sets[i]->flight);
        }

        for (i = 0; i < n; i++) {
            ngx_http_qlm_webhook_batch_done(sets[i]);
            ngx_destroy_pool(sets[i]->pool);
        }
    }
}


#if (NGX_THREADS)

/*
 * The thread pool a write of the loop's goes to now: with sync=on, and
 * while the timed sync flushes (see store_opened); with now 0, whether
 * the worker has one at all.
 */

ngx_thread_pool_t *
ngx_http_qlm_webhook_store_thread_pool(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_uint_t now)
{
    ngx_http_qlm_webhook_batch_t  *b;

    b = mcf->batch;

    if (b == NULL || b->task == NULL) {
        return NULL;
    }

    if (!now) {
        return b->tp;
    }

    if (ngx_exiting) {
        return NULL;
    }

    return (mcf->store_sync == NGX_HTTP_QLM_WEBHOOK_SYNC_ON
            || (mcf->sh && mcf->sh->syncing))
           ? b->tp : NULL;
}


/*
 * A write nobody waits for (verify's outcome, a pause): the task is the
 * worker's, on the heap, its context after it; the handler of its end
 * frees it.
 */

ngx_thread_task_t *
ngx_http_qlm_webhook_heap_task_alloc(size_t size,
    ngx_http_qlm_webhook_thread_pt handler, ngx_event_handler_pt done)
{
    ngx_thread_task_t  *task;

    task = ngx_calloc(sizeof(ngx_thread_task_t) + size, ngx_cycle->log);
    if (task == NULL) {
        return NULL;
    }

    task->ctx = task + 1;
    task->handler = handler;
    task->event.handler = done;
    task->event.data = task;
    task->event.log = ngx_cycle->log;

    return task;
}


ngx_int_t
ngx_http_qlm_webhook_heap_task(ngx_thread_pool_t *tp, ngx_thread_task_t *task)
{
    if (ngx_thread_task_post(tp, task) != NGX_OK) {
        ngx_free(task);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A thread writing the store waits on the disk, but costs CPU too (page
 * copies, the device's doorbell, switches): on its worker's CPU, which
 * the pool's threads inherit under worker_cpu_affinity, it took a third
 * of that CPU from the event loop with sync=on.  It may run wherever
 * nginx's master may.
 */

static void
ngx_http_qlm_webhook_thread_cpus(void)
{
#if (NGX_HAVE_SCHED_SETAFFINITY)
    cpu_set_t                    set;
    static __thread ngx_uint_t   done;

    if (done) {
        return;
    }

    done = 1;

    if (sched_getaffinity(getppid(), sizeof(cpu_set_t), &set) == 0) {
        (void) sched_setaffinity(0, sizeof(cpu_set_t), &set);
    }
#endif
}


static void
ngx_http_qlm_webhook_batch_thread(void *data, ngx_log_t *log)
{
    ngx_http_qlm_webhook_commit_t  *commit = data;

    ngx_http_qlm_webhook_thread_cpus();

    ngx_http_qlm_webhook_batch_commit(commit->sets, commit->n);
}


static void
ngx_http_qlm_webhook_batch_thread_done(ngx_event_t *ev)
{
    ngx_uint_t                         i, n;
    ngx_http_qlm_webhook_set_t        *sets[NGX_HTTP_QLM_WEBHOOK_COMMIT_SETS];
    ngx_http_qlm_webhook_batch_t      *b;
    ngx_http_qlm_webhook_commit_t     *commit;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    mcf = ev->data;
    b = mcf->batch;

    commit = b->commit;
    b->commit = NULL;

    if (commit == NULL) {
        return;
    }

    b->committed = ngx_current_msec;

    /* the task's context is the next commit's */

    n = commit->n;
    ngx_memcpy(sets, commit->sets, n * sizeof(sets[0]));

    for (i = 0; i < n; i++) {
        ngx_queue_remove(&sets[i]->flight);
    }

    /*
     * The next record and the next commit first: their threads write
     * while these answers are let go and their deliveries start, not after
     */

    if (b->set) {
        ngx_http_qlm_webhook_batch_flush(mcf);
    }

    ngx_http_qlm_webhook_batch_ready(mcf);

    for (i = 0; i < n; i++) {
        ngx_http_qlm_webhook_batch_done(sets[i]);
        ngx_destroy_pool(sets[i]->pool);
    }
}


/*
 * sync=on: the answers and the deliveries of journaled sets do not wait
 * for their commit, so it waits a little (NGX_HTTP_QLM_WEBHOOK_PACE after
 * the last one ended): one commit takes more sets, and the outcomes of
 * their deliveries that came meanwhile, whose items are then acknowledged
 * in the transaction that stores them.  Not while answers wait for it (a
 * record that failed), nor when the journal waits to rewind.
 */

static ngx_uint_t
ngx_http_qlm_webhook_batch_paced(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_set_t **sets, ngx_uint_t n)
{
    ngx_uint_t                     i;
    ngx_msec_t                     since;
    ngx_http_qlm_webhook_batch_t  *b;

    b = mcf->batch;

    if (b->journal == NULL
        || qlm_store_journal_size(b->journal)
           >= NGX_HTTP_QLM_WEBHOOK_JOURNAL_MAX)
    {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (sets[i]->nevents && !sets[i]->released) {
            return 0;
        }
    }

    since = ngx_current_msec - b->committed;

    if (since >= NGX_HTTP_QLM_WEBHOOK_PACE) {
        return 0;
    }

    if (!b->pace.timer_set) {
        ngx_add_timer(&b->pace, NGX_HTTP_QLM_WEBHOOK_PACE - since);
    }

    return 1;
}


static void
ngx_http_qlm_webhook_batch_pace_handler(ngx_event_t *ev)
{
    ngx_http_qlm_webhook_batch_ready(ev->data);
}


/* sync=on: a set's events as a record of the journal, in a thread */

static ngx_int_t
ngx_http_qlm_webhook_journal_post(ngx_http_qlm_webhook_set_t *set)
{
    ngx_thread_task_t             *task;
    ngx_http_qlm_webhook_jctx_t   *jc;
    ngx_http_qlm_webhook_batch_t  *b;

    b = set->mcf->batch;

    task = ngx_thread_task_alloc(set->pool,
                                 sizeof(ngx_http_qlm_webhook_jctx_t));
    if (task == NULL) {
        set->jrc = NGX_ERROR;
        return NGX_ERROR;
    }

    jc = task->ctx;
    jc->set = set;
    ngx_memzero(&jc->rec, sizeof(qlm_store_journal_rec_t));

    task->handler = ngx_http_qlm_webhook_journal_thread;
    task->event.handler = ngx_http_qlm_webhook_journal_thread_done;
    task->event.data = set;
    task->event.log = b->log;

    set->jtask = task;

    if (ngx_thread_task_post(b->tp, task) != NGX_OK) {
        /* the pool's queue is full: the commit's own sync holds them */
        set->jrc = NGX_ERROR;
        return NGX_ERROR;
    }

    set->journaling = 1;
    b->journaling++;

    return NGX_OK;
}


static void
ngx_http_qlm_webhook_journal_thread(void *data, ngx_log_t *log)
{
    ngx_queue_t                     *q;
    qlm_store_journal_rec_t         *rec;
    ngx_http_qlm_webhook_set_t      *set;
    ngx_http_qlm_webhook_jctx_t     *jc = data;
    ngx_http_qlm_webhook_pending_t  *p;

    ngx_http_qlm_webhook_thread_cpus();

    set = jc->set;
    rec = &jc->rec;

    for (q = ngx_queue_head(&set->events);
         q != ngx_queue_sentinel(&set->events);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_qlm_webhook_pending_t, queue);

        if (p->nstored || p->rec) {
            (void) qlm_store_journal_add(rec, p->items, p->nstored,
                                         p->table, p->rec);
        }
    }

    set->jrc = qlm_store_journal_write(set->mcf->batch->journal, rec,
                                       &set->lsn);

    qlm_store_journal_rec_free(rec);
}


/*
 * On disk: the answers go, and the leased deliveries start now rather
 * than at the commit, which may come milliseconds later; those not
 * started here (no slot, the receiver not admitted) are left to it.
 */

static void
ngx_http_qlm_webhook_journal_release(ngx_http_qlm_webhook_set_t *set)
{
    size_t                           i;
    ngx_queue_t                     *q;
    ngx_http_qlm_webhook_early_t    *e;
    ngx_http_qlm_webhook_pending_t  *p;

    set->released = 1;

    for (q = ngx_queue_head(&set->events);
         q != ngx_queue_sentinel(&set->events);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_qlm_webhook_pending_t, queue);

        ngx_http_qlm_webhook_batch_release(p);

        if (p->nleased == 0) {
            continue;
        }

        e = ngx_pcalloc(set->pool,
                        p->nitems * sizeof(ngx_http_qlm_webhook_early_t));
        if (e == NULL) {
            continue;
        }

        p->early = e;

        for (i = 0; i < p->nitems; i++) {
            if (p->items[i].lease_until == 0) {
                continue;
            }

            e[i].set = set;
            e[i].pending = p;
            e[i].item = &p->items[i];

            if (ngx_http_qlm_webhook_deliver_early(set->mcf, &e[i])
                != NGX_OK)
            {
                e[i].item = NULL;
            }
        }
    }
}


static void
ngx_http_qlm_webhook_journal_thread_done(ngx_event_t *ev)
{
    ngx_queue_t                       *q;
    ngx_http_qlm_webhook_set_t        *set, *s;
    ngx_http_qlm_webhook_batch_t      *b;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    set = ev->data;
    mcf = set->mcf;
    b = mcf->batch;

    set->journaling = 0;
    set->ready = 1;
    b->journaling--;

    /*
     * On disk: the answers go, the commit follows.  Records written at
     * once may end in any order, and a replay stops at the first record
     * missing: a set's answers wait for those of the sets before it, and
     * behind a record that failed (a flush that failed may have lost a
     * record that a later flush reports on disk) for their commits.
     */

    for (q = ngx_queue_head(&b->flight);
         q != ngx_queue_sentinel(&b->flight);
         q = ngx_queue_next(q))
    {
        s = ngx_queue_data(q, ngx_http_qlm_webhook_set_t, flight);

        if (s->journaling || s->jrc != 0) {
            break;
        }

        /* written, or nothing of it to write */

        if (s->jtask && !s->released) {
            ngx_http_qlm_webhook_journal_release(s);
        }
    }

    if (set->jrc == 0) {
        b->journal_failed = 0;

    } else if (!b->journal_failed) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "qlm_webhook_store: writing the journal in \"%V\" "
                      "failed: %s; answers wait for the store's synced "
                      "commits until it works again", &mcf->store_path,
                      qlm_store_strerror(set->jrc));

        b->journal_failed = 1;
    }

    if (b->set) {
        ngx_http_qlm_webhook_batch_flush(mcf);
    }

    ngx_http_qlm_webhook_batch_ready(mcf);
}


/* the timed sync, off the event loop */

static void
ngx_http_qlm_webhook_sync_thread(void *data, ngx_log_t *log)
{
    ngx_http_qlm_webhook_sync_ctx_t  *ctx = data;

    ngx_http_qlm_webhook_thread_cpus();

    ctx->rc = qlm_store_sync(ctx->mcf->store);
}


static void
ngx_http_qlm_webhook_sync_thread_done(ngx_event_t *ev)
{
    ngx_http_qlm_webhook_sync_ctx_t   *ctx;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    mcf = ev->data;
    mcf->batch->syncing = 0;

    if (mcf->sh) {
        mcf->sh->syncing = 0;
    }

    ctx = mcf->batch->sync_task->ctx;

    if (ctx->rc != 0) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "qlm_webhook_store: sync \"%V\" failed: %s",
                      &mcf->store_path, qlm_store_strerror(ctx->rc));
    }
}

#endif


/*
 * Runs in a thread of nginx's pool (or in the event loop without one, or
 * with sync=off): it touches the store and the set only, and logs
 * nothing.
 */

static void
ngx_http_qlm_webhook_batch_commit(ngx_http_qlm_webhook_set_t **sets,
    ngx_uint_t n)
{
    int                                rc;
    uint64_t                           lsn, until;
    ngx_uint_t                         i, ops;
    ngx_queue_t                       *q;
    struct timeval                     tv;
    qlm_store_write_t                 *w;
    ngx_http_qlm_webhook_result_t     *res;
    ngx_http_qlm_webhook_pending_t    *p;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    mcf = sets[0]->mcf;
    lsn = 0;
    ops = 0;

    if (mcf->store == NULL) {
        rc = QLM_STORE_INVALID;
        goto failed;
    }

    rc = qlm_store_write_begin(mcf->store, &w);
    if (rc != 0) {
        goto failed;
    }

    /*
     * The leases of deliveries started before the commit (sync=on) run
     * from their start; a commit held up past them (another process had
     * the writer lock) must not store them over already, or another
     * worker claims them while their outcome waits for the next commit.
     * The clock is read here, in a thread maybe: not nginx's cached one.
     */

    ngx_gettimeofday(&tv);
    until = (uint64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000
            + ngx_http_qlm_webhook_deliver_lease_time(mcf);

    for (i = 0; i < n; i++) {

        for (q = ngx_queue_head(&sets[i]->events);
             q != ngx_queue_sentinel(&sets[i]->events);
             q = ngx_queue_next(q))
        {
            p = ngx_queue_data(q, ngx_http_qlm_webhook_pending_t, queue);
            p->rc = ngx_http_qlm_webhook_batch_enqueue(w, p, until);
        }

        for (q = ngx_queue_head(&sets[i]->results);
             q != ngx_queue_sentinel(&sets[i]->results);
             q = ngx_queue_next(q))
        {
            res = ngx_queue_data(q, ngx_http_qlm_webhook_result_t, queue);

            /* not the acks batch_enqueue() wrote as its event's */

            if (res->early == NULL || !res->early->pending->delivered) {
                res->rc = ngx_http_qlm_webhook_batch_apply(NULL, w, res);
            }
        }

        ops += sets[i]->nevents + sets[i]->nresults;

        if (sets[i]->lsn) {
            lsn = sets[i]->lsn;
        }
    }

    if (lsn) {
        (void) qlm_store_write_journaled(w, mcf->batch->journal, lsn);
    }

    rc = qlm_store_write_commit(w);

    if (rc == 0) {
        return;
    }

    if (ops > 1) {
        /* a failure of one must not take the others with it */

        for (i = 0; i < n; i++) {
            ngx_http_qlm_webhook_batch_one_by_one(sets[i]);
        }

        if (lsn && qlm_store_write_begin(mcf->store, &w) == 0) {
            (void) qlm_store_write_journaled(w, mcf->batch->journal, lsn);
            (void) qlm_store_write_commit(w);
        }

        return;
    }

failed:

    for (i = 0; i < n; i++) {
        ngx_http_qlm_webhook_batch_failed(sets[i], rc);
    }
}


static void
ngx_http_qlm_webhook_batch_failed(ngx_http_qlm_webhook_set_t *set, int rc)
{
    ngx_queue_t                     *q;
    ngx_http_qlm_webhook_result_t   *res;
    ngx_http_qlm_webhook_pending_t  *p;

    for (q = ngx_queue_head(&set->events);
         q != ngx_queue_sentinel(&set->events);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_qlm_webhook_pending_t, queue);
        p->rc = rc;
    }

    for (q = ngx_queue_head(&set->results);
         q != ngx_queue_sentinel(&set->results);
         q = ngx_queue_next(q))
    {
        res = ngx_queue_data(q, ngx_http_qlm_webhook_result_t, queue);
        res->rc = rc;
    }
}


static void
ngx_http_qlm_webhook_batch_one_by_one(ngx_http_qlm_webhook_set_t *set)
{
    size_t                            i;
    qlm_store_t                      *st;
    ngx_queue_t                      *q;
    ngx_http_qlm_webhook_result_t    *res;
    ngx_http_qlm_webhook_pending_t   *p;

    st = set->mcf->store;

    for (q = ngx_queue_head(&set->events);
         q != ngx_queue_sentinel(&set->events);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_qlm_webhook_pending_t, queue);

        for (i = 0; i < p->nstored; i++) {
            p->items[i].id = 0;
            p->items[i].lease = 0;
        }

        p->delivered = 0;

        p->rc = qlm_store_enqueue_event(st, p->items, p->nstored, p->table,
                                        p->rec);
    }

    for (q = ngx_queue_head(&set->results);
         q != ngx_queue_sentinel(&set->results);
         q = ngx_queue_next(q))
    {
        res = ngx_queue_data(q, ngx_http_qlm_webhook_result_t, queue);
        res->rc = ngx_http_qlm_webhook_batch_apply(st, NULL, res);
    }
}


/*
 * An event in the batch w.  When every delivery of it was made before this
 * commit (sync=on), its items are not stored only to be acknowledged in
 * the same transaction: their log records are written instead.  Otherwise
 * the outcomes that came are applied to the stored items after it.
 */

static int
ngx_http_qlm_webhook_batch_enqueue(qlm_store_write_t *w,
    ngx_http_qlm_webhook_pending_t *p, uint64_t lease_until)
{
    int                             rc;
    size_t                          i;
    ngx_http_qlm_webhook_result_t  *res;

    for (i = 0; i < p->nitems; i++) {
        if (p->items[i].lease_until
            && p->items[i].lease_until < lease_until)
        {
            p->items[i].lease_until = lease_until;
        }
    }

    if (p->early == NULL || p->nstored != p->nitems) {
        goto stored;
    }

    for (i = 0; i < p->nitems; i++) {
        if (p->early[i].ack == NULL) {
            goto stored;
        }
    }

    for (i = 0; i < p->nitems; i++) {
        res = p->early[i].ack;

        rc = qlm_store_write_delivered(w, &p->items[i], &res->log);
        if (rc != 0) {
            return rc;
        }
    }

    p->delivered = 1;

    return qlm_store_write_enqueue_event(w, NULL, 0, p->table, p->rec);

stored:

    return qlm_store_write_enqueue_event(w, p->items, p->nstored, p->table,
                                         p->rec);
}


/* a delivery's outcome: in the batch w, or in its own transaction */

static int
ngx_http_qlm_webhook_batch_apply(qlm_store_t *st, qlm_store_write_t *w,
    ngx_http_qlm_webhook_result_t *res)
{
    if (res->early) {
        /* enqueued just before, in this transaction */
        res->id = res->early->item->id;
        res->lease = res->early->item->lease;
        res->log.item_id = res->id;
    }

    switch (res->op) {

    case NGX_HTTP_QLM_WEBHOOK_OP_RELEASE:
        return w ? qlm_store_write_release(w, res->id, res->lease, res->due)
                 : qlm_store_release(st, res->id, res->lease, res->due);

    case NGX_HTTP_QLM_WEBHOOK_OP_UNCLAIM:
        return w ? qlm_store_write_unclaim(w, res->id, res->lease, res->due)
                 : qlm_store_unclaim(st, res->id, res->lease, res->due);

    case NGX_HTTP_QLM_WEBHOOK_OP_ACK:
        return w ? qlm_store_write_ack(w, res->id, res->lease, &res->log)
                 : qlm_store_ack(st, res->id, res->lease, &res->log);

    case NGX_HTTP_QLM_WEBHOOK_OP_DEAD:
        return w ? qlm_store_write_dead(w, res->id, res->lease, res->due,
                                        res->attempt, res->status,
                                        res->log.error, &res->log)
                 : qlm_store_dead(st, res->id, res->lease, res->due,
                                  res->attempt, res->status, res->log.error,
                                  &res->log);

    default: /* NGX_HTTP_QLM_WEBHOOK_OP_RESCHEDULE */
        return w ? qlm_store_write_reschedule(w, res->id, res->lease,
                                              res->due, res->attempt,
                                              res->status, res->log.error,
                                              &res->log)
                 : qlm_store_reschedule(st, res->id, res->lease, res->due,
                                        res->attempt, res->status,
                                        res->log.error, &res->log);
    }
}


static void
ngx_http_qlm_webhook_batch_done(ngx_http_qlm_webhook_set_t *set)
{
    size_t                           i;
    ngx_str_t                       *name;
    ngx_uint_t                       kick;
    ngx_queue_t                     *q;
    ngx_http_qlm_webhook_result_t   *res;
    ngx_http_qlm_webhook_pending_t  *p;
    ngx_http_qlm_webhook_batch_t    *b;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    mcf = set->mcf;
    b = mcf->batch;
    kick = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, b->log, 0,
                   "qlm webhook: batch of %ui events, %ui results done",
                   set->nevents, set->nresults);

    for (q = ngx_queue_head(&set->events);
         q != ngx_queue_sentinel(&set->events);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_qlm_webhook_pending_t, queue);
        name = &ngx_http_qlm_webhook_event_names[p->event];

        if (p->rc != 0) {
            ngx_http_qlm_webhook_count(mcf, p->rc == QLM_STORE_FULL
                                       ? NGX_HTTP_QLM_WEBHOOK_C_LOST_STORE_FULL
                                       : NGX_HTTP_QLM_WEBHOOK_C_LOST_OTHER, 1);

            /* a full store loses many: one line every 10 s, and a count */

            if (ngx_time() >= b->lost_logged + 10) {
                ngx_log_error(NGX_LOG_ERR, b->log, 0,
                              "qlm webhook: \"%V\" event %V lost: %s "
                              "(%ui more lost since the last such line)",
                              name, &p->event_id, qlm_store_strerror(p->rc),
                              b->lost);
                b->lost_logged = ngx_time();
                b->lost = 0;

            } else {
                b->lost++;
            }

        } else if (p->nitems) {
            ngx_http_qlm_webhook_count_delivery(mcf, name,
                                                NGX_HTTP_QLM_WEBHOOK_D_STORED,
                                                0);

            /* sync=on: delivered everywhere before its commit, not queued */

            ngx_log_error(NGX_LOG_INFO, b->log, 0,
                          "qlm webhook: \"%V\" event %V %s for %uz URL%s%s",
                          name, &p->event_id,
                          p->delivered ? "stored" : "queued",
                          p->nitems, p->nitems == 1 ? "" : "s",
                          p->delivered ? ", delivered before its commit" : "");
        }

        for (i = 0; i < p->nitems; i++) {
            if (p->items[i].lease_until == 0) {
                continue;
            }

            if (p->early && p->early[i].item) {
                /* started at its journal record: its id and lease now */
                ngx_http_qlm_webhook_deliver_stored(&p->early[i],
                                                    p->rc == 0
                                                    && p->items[i].lease);
                continue;
            }

            ngx_http_qlm_webhook_deliver_leased(mcf, p->rc == 0
                                                     && p->items[i].lease
                                                     ? &p->items[i] : NULL);
        }

        if (p->rc == 0 && p->nstored > p->nleased) {
            kick = 1;
        }

        /* the answer's end goes on, whatever became of its event */

        ngx_http_qlm_webhook_batch_release(p);
    }

    for (q = ngx_queue_head(&set->results);
         q != ngx_queue_sentinel(&set->results);
         q = ngx_queue_next(q))
    {
        res = ngx_queue_data(q, ngx_http_qlm_webhook_result_t, queue);

        /* a retry, or an item given back, may be due before the poll's
         * nap ends: it looks again */

        if (res->rc == 0 && res->op != NGX_HTTP_QLM_WEBHOOK_OP_ACK
            && res->op != NGX_HTTP_QLM_WEBHOOK_OP_DEAD)
        {
            kick = 1;
        }

        if (res->rc == QLM_STORE_STALE) {
            ngx_http_qlm_webhook_count(mcf, NGX_HTTP_QLM_WEBHOOK_C_STALE, 1);

            ngx_log_error(NGX_LOG_INFO, b->log, 0,
                          "qlm webhook: the lease on %s to %s expired, "
                          "another worker took the delivery over",
                          res->log.event_id.data, res->log.url.data);

        } else if (res->rc != 0) {
            ngx_log_error(NGX_LOG_ERR, b->log, 0,
                          "qlm webhook: recording the attempt of %s to %s "
                          "failed: %s", res->log.event_id.data,
                          res->log.url.data, qlm_store_strerror(res->rc));
        }
    }

    /* outcomes of early deliveries that came during the commit */

    for (q = ngx_queue_head(&set->later);
         q != ngx_queue_sentinel(&set->later);
         q = ngx_queue_next(q))
    {
        res = ngx_queue_data(q, ngx_http_qlm_webhook_result_t, queue);

        p = res->early->pending;

        if (p->rc == 0 && res->early->item->lease) {
            res->log.item_id = res->early->item->id;

            if (ngx_http_qlm_webhook_batch_op(mcf, res->op,
                                              res->early->item->id,
                                              res->early->item->lease,
                                              res->due, res->attempt,
                                              res->status, &res->log)
                == NGX_OK)
            {
                continue;
            }
        }

        /*
         * Its event was not stored (counted lost above), or, out of
         * memory, the lease expires and the delivery is made again
         */

        ngx_log_error(NGX_LOG_ERR, b->log, 0,
                      "qlm webhook: recording the attempt of %s to %s "
                      "failed: %s", res->log.event_id.data,
                      res->log.url.data,
                      p->rc ? qlm_store_strerror(p->rc) : "out of memory");
    }

    if (kick) {
        ngx_http_qlm_webhook_deliver_kick(mcf);
    }
}


static void
ngx_http_qlm_webhook_batch_release(ngx_http_qlm_webhook_pending_t *p)
{
    ngx_http_request_t          *r;
    ngx_http_qlm_webhook_ctx_t  *ctx;

    r = p->r;

    if (r == NULL) {
        return;
    }

    p->cln->handler = NULL;
    p->r = NULL;

    ctx = ngx_http_get_module_ctx(r, ngx_http_qlm_webhook_module);
    ctx->pending = NULL;

    if (ctx->held) {
        ngx_post_event(r->connection->write, &ngx_posted_events);
    }
}
