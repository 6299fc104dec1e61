
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
static ngx_int_t ngx_http_qlm_webhook_store_open(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
static ngx_int_t ngx_http_qlm_webhook_store_opened(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
static void ngx_http_qlm_webhook_store_retry_handler(ngx_event_t *ev);
static void ngx_http_qlm_webhook_store_sync_handler(ngx_event_t *ev);


/* per worker: the open retried after a failure */
static ngx_event_t  ngx_http_qlm_webhook_store_retry;
static ngx_msec_t   ngx_http_qlm_webhook_store_retry_delay;
static ngx_uint_t   ngx_http_qlm_webhook_store_retries;


static void
ngx_http_qlm_webhook_store_options(ngx_http_qlm_webhook_main_conf_t *mcf,
    qlm_store_options_t *opts)
{
    ngx_memzero(opts, sizeof(qlm_store_options_t));

    opts->map_size = mcf->store_max_size;
    opts->no_sync = (mcf->store_sync != NGX_HTTP_QLM_WEBHOOK_SYNC_ON);
    opts->mode = 0600;
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


/* the master may run as root, the workers open the store as "user" */

static ngx_int_t
ngx_http_qlm_webhook_store_chown(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t level)
{
    u_char            *name;
    ngx_uint_t         i;
    ngx_core_conf_t   *ccf;
    ngx_file_info_t    fi;

    static char       *files[] = { "", "/data.mdb", "/lock.mdb" };

    if (geteuid() != 0) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        return NGX_OK;
    }

    name = ngx_pnalloc(cycle->pool, mcf->store_path.len + sizeof("/data.mdb"));
    if (name == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {

        ngx_sprintf(name, "%V%s%Z", &mcf->store_path, files[i]);

        if (ngx_file_info(name, &fi) == NGX_FILE_ERROR) {
            ngx_log_error(level, cycle->log, ngx_errno,
                          "qlm_webhook_store: " ngx_file_info_n
                          " \"%s\" failed", name);
            return NGX_ERROR;
        }

        if (fi.st_uid == ccf->user) {
            continue;
        }

        if (chown((const char *) name, ccf->user, ccf->group) == -1) {
            ngx_log_error(level, cycle->log, ngx_errno,
                          "qlm_webhook_store: chown(\"%s\", %d) failed",
                          name, ccf->user);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_qlm_webhook_store_init_process(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_event_t  *ev;

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


/* the store is open in this worker: its timers, deliveries and tasks */

static ngx_int_t
ngx_http_qlm_webhook_store_opened(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_event_t  *ev;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "qlm webhook store \"%V\" opened", &mcf->store_path);

    if (mcf->store_sync == NGX_HTTP_QLM_WEBHOOK_SYNC_TIMED && ngx_worker == 0)
    {
        /* one process syncs the whole environment for every worker */

        ev = &mcf->sync_event;

        ev->handler = ngx_http_qlm_webhook_store_sync_handler;
        ev->data = mcf;
        ev->log = cycle->log;
        ev->cancelable = 1;

        ngx_add_timer(ev, mcf->store_sync_interval);
    }

    if (ngx_http_qlm_webhook_deliver_init_process(cycle, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_qlm_webhook_sched_init_process(cycle, mcf);
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

    rc = qlm_store_sync(mcf->store);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "qlm_webhook_store: sync \"%V\" failed: %s",
                      &mcf->store_path, qlm_store_strerror(rc));
    }

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

    /* qlm_store_close() syncs a store opened without per-commit sync */

    qlm_store_close(mcf->store);
    mcf->store = NULL;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "qlm webhook store \"%V\" closed", &mcf->store_path);
}
