
/*
 * ngx_qlm_webhook_module: the LMDB store's life in nginx's processes.
 *
 * LMDB forbids using an environment across fork(): the master only checks
 * the store at start and reload (and at "nginx -t"), then closes it; each
 * worker opens its own in init_process and closes it in exit_process.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qlm_webhook_module.h"


static void ngx_http_qlm_webhook_store_options(
    ngx_http_qlm_webhook_main_conf_t *mcf, qlm_store_options_t *opts);
static ngx_int_t ngx_http_qlm_webhook_store_chown(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
static void ngx_http_qlm_webhook_store_sync_handler(ngx_event_t *ev);


static void
ngx_http_qlm_webhook_store_options(ngx_http_qlm_webhook_main_conf_t *mcf,
    qlm_store_options_t *opts)
{
    ngx_memzero(opts, sizeof(qlm_store_options_t));

    opts->map_size = mcf->store_max_size;
    opts->no_sync = (mcf->store_sync != NGX_HTTP_QLM_WEBHOOK_SYNC_ON);
    opts->mode = 0600;
}


ngx_int_t
ngx_http_qlm_webhook_store_init_module(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    int                   rc;
    ngx_err_t             err;
    qlm_store_t          *st;
    qlm_store_options_t   opts;

    if (ngx_create_dir(mcf->store_path.data, 0700) == NGX_FILE_ERROR) {
        err = ngx_errno;

        if (err != NGX_EEXIST) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, err,
                          "qlm_webhook_store: " ngx_create_dir_n
                          " \"%V\" failed", &mcf->store_path);
            return NGX_ERROR;
        }
    }

    ngx_http_qlm_webhook_store_options(mcf, &opts);

    rc = qlm_store_open(&st, (char *) mcf->store_path.data, &opts);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "qlm_webhook_store: cannot open \"%V\": %s",
                      &mcf->store_path, qlm_store_strerror(rc));
        return NGX_ERROR;
    }

    qlm_store_close(st);

    return ngx_http_qlm_webhook_store_chown(cycle, mcf);
}


/* the master may run as root, the workers open the store as "user" */

static ngx_int_t
ngx_http_qlm_webhook_store_chown(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
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
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "qlm_webhook_store: " ngx_file_info_n
                          " \"%s\" failed", name);
            return NGX_ERROR;
        }

        if (fi.st_uid == ccf->user) {
            continue;
        }

        if (chown((const char *) name, ccf->user, ccf->group) == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
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
    int                   rc;
    ngx_event_t          *ev;
    qlm_store_options_t   opts;

    ngx_http_qlm_webhook_store_options(mcf, &opts);

    rc = qlm_store_open(&mcf->store, (char *) mcf->store_path.data, &opts);

    if (rc != 0) {
        /* license traffic goes on; events are counted as lost */
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "qlm_webhook_store: cannot open \"%V\": %s, "
                      "webhooks are disabled in this worker",
                      &mcf->store_path, qlm_store_strerror(rc));
        mcf->store = NULL;
        return NGX_OK;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "qlm webhook store \"%V\" opened", &mcf->store_path);

    if (mcf->store_sync != NGX_HTTP_QLM_WEBHOOK_SYNC_TIMED || ngx_worker != 0)
    {
        return NGX_OK;
    }

    /* one process syncs the whole environment for every worker */

    ev = &mcf->sync_event;

    ev->handler = ngx_http_qlm_webhook_store_sync_handler;
    ev->data = mcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, mcf->store_sync_interval);

    return NGX_OK;
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
    if (mcf->sync_event.timer_set) {
        ngx_del_timer(&mcf->sync_event);
    }

    /* qlm_store_close() syncs a store opened without per-commit sync */

    qlm_store_close(mcf->store);
    mcf->store = NULL;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "qlm webhook store \"%V\" closed", &mcf->store_path);
}
