
/*
 * ngx_qlm_webhook_module: directives, configuration and process hooks.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qlm_webhook_module.h"


#define NGX_HTTP_QLM_WEBHOOK_MAX_RETRIES      1000


static ngx_int_t ngx_http_qlm_webhook_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_qlm_webhook_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_qlm_webhook_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_qlm_webhook_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_qlm_webhook_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_qlm_webhook_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);

static char *ngx_http_qlm_webhook_store(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qlm_webhook_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qlm_webhook_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qlm_webhook_emit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qlm_webhook_field(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qlm_webhook_field_source(ngx_conf_t *cf,
    ngx_str_t *value, ngx_http_qlm_webhook_field_t *f);
static char *ngx_http_qlm_webhook_success_status(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_qlm_webhook_field_vars(ngx_conf_t *cf,
    ngx_str_t *value, ngx_http_qlm_webhook_field_t *f);
static ngx_http_complex_value_t *ngx_http_qlm_webhook_complex_value(
    ngx_conf_t *cf, ngx_str_t *value);
static char *ngx_http_qlm_webhook_std_secret(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf);
static ngx_uint_t ngx_http_qlm_webhook_has_standard(
    ngx_http_qlm_webhook_main_conf_t *mcf);
static char *ngx_http_qlm_webhook_verify(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qlm_webhook_verify_secret(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_qlm_webhook_verify_scheme(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_qlm_webhook_task_rate(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_qlm_webhook_num_bounds(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_qlm_webhook_positive_msec(ngx_conf_t *cf, void *post,
    void *data);

static ngx_int_t ngx_http_qlm_webhook_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_qlm_webhook_init_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_qlm_webhook_worker_start(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf);
static void ngx_http_qlm_webhook_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_qlm_webhook_max_retries_bounds = {
    ngx_http_qlm_webhook_num_bounds, 0, NGX_HTTP_QLM_WEBHOOK_MAX_RETRIES
};

static ngx_conf_num_bounds_t  ngx_http_qlm_webhook_concurrency_bounds = {
    ngx_http_qlm_webhook_num_bounds, 1, 10000
};

static ngx_conf_num_bounds_t  ngx_http_qlm_webhook_pipeline_bounds = {
    ngx_http_qlm_webhook_num_bounds, 1, NGX_HTTP_QLM_WEBHOOK_PIPELINE_MAX
};

static ngx_conf_num_bounds_t  ngx_http_qlm_webhook_breaker_bounds = {
    ngx_http_qlm_webhook_num_bounds, 0, 1000
};

static ngx_conf_post_t  ngx_http_qlm_webhook_positive_msec_post = {
    ngx_http_qlm_webhook_positive_msec
};


static ngx_command_t  ngx_http_qlm_webhook_commands[] = {

    { ngx_string("qlm_webhook_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_qlm_webhook_store,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qlm_webhooks"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_main_conf_t, enable),
      NULL },

    { ngx_string("qlm_webhook_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_qlm_webhook_secret,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qlm_webhook_max_retries"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_main_conf_t, max_retries),
      &ngx_http_qlm_webhook_max_retries_bounds },

    { ngx_string("qlm_webhook_retry_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_main_conf_t, retry_interval),
      &ngx_http_qlm_webhook_positive_msec_post },

    { ngx_string("qlm_webhook_retry_after_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_main_conf_t, retry_after_max),
      NULL },

    { ngx_string("qlm_webhook_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_main_conf_t, timeout),
      &ngx_http_qlm_webhook_positive_msec_post },

    { ngx_string("qlm_webhook_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_qlm_webhook_url,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qlm_webhook_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_main_conf_t, concurrency),
      &ngx_http_qlm_webhook_concurrency_bounds },

    { ngx_string("qlm_webhook_url_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_main_conf_t, url_concurrency),
      &ngx_http_qlm_webhook_concurrency_bounds },

    { ngx_string("qlm_webhook_pipeline"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_main_conf_t, pipeline),
      &ngx_http_qlm_webhook_pipeline_bounds },

    { ngx_string("qlm_webhook_task_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_main_conf_t, task_concurrency),
      &ngx_http_qlm_webhook_concurrency_bounds },

    { ngx_string("qlm_webhook_task_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_qlm_webhook_task_rate,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qlm_webhook_breaker"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_main_conf_t, breaker),
      &ngx_http_qlm_webhook_breaker_bounds },

    { ngx_string("qlm_webhook_pause_after"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_qlm_webhook_pause_after,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qlm_webhook_ssl_verify"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_main_conf_t, ssl_verify),
      NULL },

    { ngx_string("qlm_webhook_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_main_conf_t, ssl_trusted_certificate),
      NULL },

    { ngx_string("qlm_webhook_search"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE23,
      ngx_http_qlm_webhook_search_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qlm_webhook_task"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_qlm_webhook_task_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qlm_webhook_emit"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_qlm_webhook_emit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qlm_webhook_field"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_qlm_webhook_field,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qlm_webhook_capture_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_loc_conf_t, capture_size),
      NULL },

    { ngx_string("qlm_webhook_error_detect"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_loc_conf_t, error_detect),
      NULL },

    { ngx_string("qlm_webhook_verify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_qlm_webhook_verify,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_loc_conf_t, verify),
      NULL },

    { ngx_string("qlm_webhook_verify_scheme"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_qlm_webhook_verify_scheme,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qlm_webhook_verify_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_qlm_webhook_verify_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qlm_webhook_verify_tolerance"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_qlm_webhook_loc_conf_t, verify_tolerance),
      &ngx_http_qlm_webhook_positive_msec_post },

    { ngx_string("qlm_webhook_success_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_qlm_webhook_success_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qlm_webhook_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_qlm_webhook_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qlm_webhook_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_qlm_webhook_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_qlm_webhook_module_ctx = {
    ngx_http_qlm_webhook_preconfiguration, /* preconfiguration */
    ngx_http_qlm_webhook_postconfiguration, /* postconfiguration */

    ngx_http_qlm_webhook_create_main_conf, /* create main configuration */
    ngx_http_qlm_webhook_init_main_conf,   /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_qlm_webhook_create_loc_conf,  /* create location configuration */
    ngx_http_qlm_webhook_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_qlm_webhook_module = {
    NGX_MODULE_V1,
    &ngx_http_qlm_webhook_module_ctx,      /* module context */
    ngx_http_qlm_webhook_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_qlm_webhook_init_module,      /* init module */
    ngx_http_qlm_webhook_init_process,     /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_qlm_webhook_exit_process,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_qlm_webhook_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_qlm_webhook_add_variables(cf);
}


static ngx_int_t
ngx_http_qlm_webhook_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    if (ngx_http_qlm_webhook_emit_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_qlm_webhook_verify_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qlm_webhook_module);

    if (!mcf->store_used) {
        return NGX_OK;
    }

#if (NGX_THREADS)

    /* flushes of the store run in nginx's default thread pool */

    if (mcf->store_sync != NGX_HTTP_QLM_WEBHOOK_SYNC_OFF
        && ngx_thread_pool_add(cf, NULL) == NULL)
    {
        return NGX_ERROR;
    }

#endif

    if (ngx_http_qlm_webhook_status_zone(cf, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the store is checked here, where a failed reload is harmless */

    return ngx_http_qlm_webhook_store_check(cf, mcf);
}


static void *
ngx_http_qlm_webhook_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_qlm_webhook_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->store_path = { 0, NULL };
     *     mcf->secret = { 0, NULL };
     *     mcf->urls[] = { NULL, 0, ... };
     *     mcf->store = NULL;
     */

    mcf->store_max_size = NGX_CONF_UNSET_SIZE;
    mcf->store_sync = NGX_CONF_UNSET_UINT;
    mcf->store_sync_interval = NGX_CONF_UNSET_MSEC;
    mcf->store_write_map = NGX_CONF_UNSET_UINT;
    mcf->pg_pool = NGX_CONF_UNSET_UINT;
    mcf->enable = NGX_CONF_UNSET;
    mcf->max_retries = NGX_CONF_UNSET;
    mcf->retry_interval = NGX_CONF_UNSET_MSEC;
    mcf->retry_after_max = NGX_CONF_UNSET_MSEC;
    mcf->timeout = NGX_CONF_UNSET_MSEC;
    mcf->concurrency = NGX_CONF_UNSET_UINT;
    mcf->url_concurrency = NGX_CONF_UNSET_UINT;
    mcf->pipeline = NGX_CONF_UNSET_UINT;
    mcf->task_concurrency = NGX_CONF_UNSET_UINT;
    mcf->task_rate = NGX_CONF_UNSET_UINT;
    mcf->breaker = NGX_CONF_UNSET_UINT;
    mcf->pause_after = NGX_CONF_UNSET;
    mcf->ssl_verify = NGX_CONF_UNSET;

    return mcf;
}


static char *
ngx_http_qlm_webhook_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_qlm_webhook_main_conf_t *mcf = conf;

    ngx_str_t   id;
    ngx_uint_t  i;

    if (mcf->store_path.data == NULL) {
        ngx_str_set(&mcf->store_path, "qlm_webhook");

        if (ngx_conf_full_name(cf->cycle, &mcf->store_path, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_conf_init_size_value(mcf->store_max_size, 64 * 1024 * 1024);
    ngx_conf_init_uint_value(mcf->pg_pool, 2);

    if (mcf->pg_conninfo.len && mcf->pg_node.len == 0) {
        mcf->pg_node = cf->cycle->hostname;
    }
    ngx_conf_init_uint_value(mcf->store_sync,
                             NGX_HTTP_QLM_WEBHOOK_SYNC_TIMED);
    ngx_conf_init_msec_value(mcf->store_sync_interval, 1000);
    ngx_conf_init_uint_value(mcf->store_write_map,
                             NGX_HTTP_QLM_WEBHOOK_MAP_AUTO);

    ngx_conf_init_value(mcf->enable, 1);
    ngx_conf_init_value(mcf->max_retries, 3);
    ngx_conf_init_msec_value(mcf->retry_interval, 60000);
    ngx_conf_init_msec_value(mcf->retry_after_max, 3600000);
    ngx_conf_init_msec_value(mcf->timeout, 10000);
    ngx_conf_init_uint_value(mcf->concurrency, 32);

    /* one receiver, or the tasks, never take every slot by default */
    ngx_conf_init_uint_value(mcf->url_concurrency,
                             ngx_max(mcf->concurrency / 2, 1));
    ngx_conf_init_uint_value(mcf->pipeline, 1);
    ngx_conf_init_uint_value(mcf->task_concurrency,
                             ngx_max(mcf->concurrency / 2, 1));
    ngx_conf_init_uint_value(mcf->task_rate, 0);
    ngx_conf_init_uint_value(mcf->breaker, 0);
    ngx_conf_init_value(mcf->pause_after, 0);
    ngx_conf_init_value(mcf->ssl_verify, 1);

    if (mcf->ssl_trusted_certificate.len
        && ngx_conf_full_name(cf->cycle, &mcf->ssl_trusted_certificate, 1)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    mcf->store_used |= mcf->store_set;

    /* the global secret's signers, one a scheme; tasks add their own */

    ngx_str_null(&id);

    if (ngx_http_qlm_webhook_signer_add(cf, mcf, &id,
                                        NGX_HTTP_QLM_WEBHOOK_SCHEME_QLM,
                                        &mcf->secret)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&id, "standard");

    if (ngx_http_qlm_webhook_signer_add(cf, mcf, &id,
                                        NGX_HTTP_QLM_WEBHOOK_SCHEME_STANDARD,
                                        &mcf->secret)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (mcf->tasks) {
        if (ngx_http_qlm_webhook_tasks_init(cf, mcf) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

        mcf->store_used = 1;
    }

    for (i = 0; i < NGX_HTTP_QLM_WEBHOOK_NEVENTS; i++) {
        if (mcf->urls[i].nelts) {
            mcf->store_used = 1;
        }
    }

    /* the format was checked by whichever directive came second */

    if (!mcf->secret_set && ngx_http_qlm_webhook_has_standard(mcf)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scheme=standard\" of \"qlm_webhook_url\" "
                           "needs \"qlm_webhook_secret\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_qlm_webhook_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_qlm_webhook_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_qlm_webhook_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->emits = NULL;
     *     lcf->fields = NULL;
     *     lcf->verify_secrets = NULL;
     */

    lcf->success_status = NGX_CONF_UNSET_PTR;
    lcf->capture_size = NGX_CONF_UNSET_SIZE;
    lcf->error_detect = NGX_CONF_UNSET;
    lcf->verify = NGX_CONF_UNSET;
    lcf->verify_scheme = NGX_CONF_UNSET_UINT;
    lcf->verify_tolerance = NGX_CONF_UNSET_MSEC;

    return lcf;
}


static char *
ngx_http_qlm_webhook_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_qlm_webhook_loc_conf_t *prev = parent;
    ngx_http_qlm_webhook_loc_conf_t *conf = child;

    ngx_uint_t                         i;
    ngx_http_qlm_webhook_field_t      *f;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    /* as proxy_set_header: fields are inherited when none are set here */

    if (conf->fields == NULL) {
        conf->fields = prev->fields;
    }

    if (conf->fields) {
        f = conf->fields->elts;

        for (i = 0; i < conf->fields->nelts; i++) {
            if (f[i].source != NGX_HTTP_QLM_WEBHOOK_FIELD_VALUE) {
                conf->fields_answer = 1;
            }
        }
    }

    ngx_conf_merge_ptr_value(conf->success_status, prev->success_status,
                             NULL);
    ngx_conf_merge_size_value(conf->capture_size, prev->capture_size,
                              64 * 1024);
    ngx_conf_merge_value(conf->error_detect, prev->error_detect, 1);

    if (conf->capture_size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"qlm_webhook_capture_size\" must be greater "
                           "than 0");
        return NGX_CONF_ERROR;
    }

    if (conf->verify == NGX_CONF_UNSET) {
        conf->verify_file = prev->verify_file;
        conf->verify_line = prev->verify_line;
    }

    ngx_conf_merge_value(conf->verify, prev->verify, 0);
    ngx_conf_merge_uint_value(conf->verify_scheme, prev->verify_scheme,
                              NGX_HTTP_QLM_WEBHOOK_SCHEME_QLM);
    ngx_conf_merge_msec_value(conf->verify_tolerance, prev->verify_tolerance,
                              300000);

    if (conf->verify_secrets == NULL) {
        conf->verify_secrets = prev->verify_secrets;
    }

    if (conf->verify
        && ngx_http_qlm_webhook_verify_merge(cf, prev, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qlm_webhook_module);

    /* the store holds the events, and the ids seen for replay protection */

    if (conf->emits
        || (conf->verify
            && conf->verify_scheme == NGX_HTTP_QLM_WEBHOOK_SCHEME_STANDARD))
    {
        mcf->store_used = 1;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_qlm_webhook_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qlm_webhook_main_conf_t *mcf = conf;

    ssize_t     size;
    ngx_int_t   ms, rc;
    ngx_str_t  *value, s;
    ngx_uint_t  i;

    if (mcf->store_set) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "has an empty path";
    }

    if ((value[1].len > 13
         && ngx_strncmp(value[1].data, "postgresql://", 13) == 0)
        || (value[1].len > 11
            && ngx_strncmp(value[1].data, "postgres://", 11) == 0))
    {
        /* the local LMDB store is then the spool, at spool= */

        if (ngx_http_qlm_webhook_pg_conf(cf, mcf, &value[1]) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

    } else {
        mcf->store_path = value[1];

        if (ngx_conf_full_name(cf->cycle, &mcf->store_path, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (mcf->pg_conninfo.len) {
            rc = ngx_http_qlm_webhook_pg_param(cf, mcf, &value[i]);

            if (rc == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            if (rc == NGX_OK) {
                continue;
            }
        }

        if (ngx_strncmp(value[i].data, "max_size=", 9) == 0) {

            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            /* the ngx_parse_size() of older nginx, as 1.22, stops at "m" */

            if (s.len > 1 && (s.data[s.len - 1] == 'g'
                              || s.data[s.len - 1] == 'G'))
            {
                s.len--;
                size = ngx_parse_size(&s);
                s.len++;

                size = (size == NGX_ERROR
                        || size > NGX_MAX_SIZE_T_VALUE / (1024 * 1024 * 1024))
                       ? NGX_ERROR : size * 1024 * 1024 * 1024;

            } else {
                size = ngx_parse_size(&s);
            }

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid max_size \"%V\"", &s);
                return NGX_CONF_ERROR;
            }

            if (size < 1024 * 1024) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "max_size \"%V\" is less than 1m", &s);
                return NGX_CONF_ERROR;
            }

            mcf->store_max_size = ngx_align(size, ngx_pagesize);
            continue;
        }

        if (ngx_strncmp(value[i].data, "sync=", 5) == 0) {

            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (s.len == 2 && ngx_strncmp(s.data, "on", 2) == 0) {
                mcf->store_sync = NGX_HTTP_QLM_WEBHOOK_SYNC_ON;
                continue;
            }

            if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
                mcf->store_sync = NGX_HTTP_QLM_WEBHOOK_SYNC_OFF;
                continue;
            }

            ms = ngx_parse_time(&s, 0);

            if (ms == NGX_ERROR || ms == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid sync \"%V\", it must be \"on\", "
                                   "\"off\" or a time", &s);
                return NGX_CONF_ERROR;
            }

            mcf->store_sync = NGX_HTTP_QLM_WEBHOOK_SYNC_TIMED;
            mcf->store_sync_interval = (ngx_msec_t) ms;
            continue;
        }

        if (ngx_strncmp(value[i].data, "write_map=", 10) == 0) {

            s.data = value[i].data + 10;
            s.len = value[i].len - 10;

            if (s.len == 2 && ngx_strncmp(s.data, "on", 2) == 0) {
                mcf->store_write_map = NGX_HTTP_QLM_WEBHOOK_MAP_ON;
                continue;
            }

            if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
                mcf->store_write_map = NGX_HTTP_QLM_WEBHOOK_MAP_OFF;
                continue;
            }

            if (s.len == 4 && ngx_strncmp(s.data, "auto", 4) == 0) {
                mcf->store_write_map = NGX_HTTP_QLM_WEBHOOK_MAP_AUTO;
                continue;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid write_map \"%V\", it must be "
                               "\"on\", \"off\" or \"auto\"", &s);
            return NGX_CONF_ERROR;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    mcf->store_set = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_qlm_webhook_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qlm_webhook_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->secret_set) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_qlm_webhook_read_secret(cf, &value[1], &mcf->secret)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    mcf->secret_set = 1;

    if (ngx_http_qlm_webhook_has_standard(mcf)) {
        return ngx_http_qlm_webhook_std_secret(cf, mcf);
    }

    return NGX_CONF_OK;
}


/* Standard Webhooks URLs are signed with the key that the secret encodes */

static char *
ngx_http_qlm_webhook_std_secret(ngx_conf_t *cf,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    const char  *err;

    err = ngx_http_qlm_webhook_std_check(&mcf->secret);

    if (err == NULL) {
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"qlm_webhook_secret\" %s for \"scheme=standard\"",
                       err);

    return NGX_CONF_ERROR;
}


static ngx_uint_t
ngx_http_qlm_webhook_has_standard(ngx_http_qlm_webhook_main_conf_t *mcf)
{
    ngx_uint_t                   i, j;
    ngx_http_qlm_webhook_url_t  *u;

    for (i = 0; i < NGX_HTTP_QLM_WEBHOOK_NEVENTS; i++) {
        u = mcf->urls[i].elts;

        for (j = 0; j < mcf->urls[i].nelts; j++) {
            if (u[j].standard) {
                return 1;
            }
        }
    }

    return 0;
}


static char *
ngx_http_qlm_webhook_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qlm_webhook_main_conf_t *mcf = conf;

    ngx_int_t                      ev;
    ngx_str_t                     *value;
    ngx_uint_t                     i, first, last, standard;
    ngx_array_t                   *urls;
    ngx_http_qlm_webhook_url_t    *u;
    ngx_http_qlm_webhook_retry_t  *retry;

    value = cf->args->elts;

    ev = ngx_http_qlm_webhook_event_by_name(&value[1]);

    if (ev == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid event name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    urls = &mcf->urls[ev];

    if (urls->elts == NULL
        && ngx_array_init(urls, cf->pool, 2,
                          sizeof(ngx_http_qlm_webhook_url_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* "scheme=standard" signs the URLs of this directive that way too */

    standard = 0;
    retry = NULL;
    last = cf->args->nelts;

    /* "retry=" gives the URLs of this directive their retry schedule */

    if (last > 3 && ngx_strncmp(value[last - 1].data, "retry=", 6) == 0) {
        last--;

        if (ngx_http_qlm_webhook_retry_parse(cf, &value[last], &retry)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_strncmp(value[last - 1].data, "scheme=", 7) == 0) {
        last--;

        if (value[last].len == 7 + 8
            && ngx_strncmp(value[last].data + 7, "standard", 8) == 0)
        {
            standard = 1;

        } else if (!(value[last].len == 7 + 3
                     && ngx_strncmp(value[last].data + 7, "qlm", 3) == 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid scheme \"%V\", it must be "
                               "\"qlm\" or \"standard\"", &value[last]);
            return NGX_CONF_ERROR;
        }

        if (last == 2) {
            return "has no URL";
        }
    }

    first = urls->nelts;

    for (i = 2; i < last; i++) {
        if (ngx_http_qlm_webhook_parse_url_list(cf, &value[i], urls)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    u = urls->elts;

    /* the id of the signer that their queue items name (sign.c) */

    for (i = first; i < urls->nelts; i++) {
        u[i].standard = standard;

        if (standard) {
            ngx_str_set(&u[i].signer, "standard");
        }

        u[i].retry = retry;
    }

    if (standard && mcf->secret_set) {
        return ngx_http_qlm_webhook_std_secret(cf, mcf);
    }

    return NGX_CONF_OK;
}


static ngx_http_complex_value_t *
ngx_http_qlm_webhook_complex_value(ngx_conf_t *cf, ngx_str_t *value)
{
    ngx_http_compile_complex_value_t  ccv;

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));

    if (ccv.complex_value == NULL
        || ngx_http_compile_complex_value(&ccv) != NGX_OK)
    {
        return NULL;
    }

    return ccv.complex_value;
}


/* qlm_webhook_emit EVENT|none [method=NAME] [if=VALUE|xml:XPATH|json:PTR] */

static char *
ngx_http_qlm_webhook_emit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qlm_webhook_loc_conf_t *lcf = conf;

    char                                *rv;
    ngx_int_t                            ev;
    ngx_str_t                           *value, s;
    ngx_uint_t                           i;
    ngx_http_qlm_webhook_emit_t         *e;

    value = cf->args->elts;

    /* "none": a rule that matches and emits nothing, for exceptions */

    if (value[1].len == 4 && ngx_strncmp(value[1].data, "none", 4) == 0) {
        ev = NGX_HTTP_QLM_WEBHOOK_NEVENTS;

    } else {
        ev = ngx_http_qlm_webhook_event_by_name(&value[1]);
    }

    if (ev == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid event name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (lcf->emits == NULL) {
        lcf->emits = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_http_qlm_webhook_emit_t));
        if (lcf->emits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    e = ngx_array_push(lcf->emits);
    if (e == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(e, sizeof(ngx_http_qlm_webhook_emit_t));
    e->event = ev;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "method=", 7) == 0) {
            e->method.data = value[i].data + 7;
            e->method.len = value[i].len - 7;

            if (e->method.len == 0
                || ngx_strlchr(e->method.data,
                               e->method.data + e->method.len, '/'))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid method \"%V\"", &e->method);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "if=", 3) == 0) {
            s.data = value[i].data + 3;
            s.len = value[i].len - 3;

            if (s.len == 0) {
                return "has an empty \"if=\"";
            }

            /* xml: and json: read the answer: decided at its end */

            if (ngx_strncmp(s.data, "xml:", 4) == 0
                || ngx_strncmp(s.data, "json:", 5) == 0)
            {
                e->answer = ngx_pcalloc(cf->pool,
                                        sizeof(ngx_http_qlm_webhook_field_t));
                if (e->answer == NULL) {
                    return NGX_CONF_ERROR;
                }

                ngx_str_set(&e->answer->name, "if");

                rv = ngx_http_qlm_webhook_field_source(cf, &s, e->answer);
                if (rv != NGX_CONF_OK) {
                    return rv;
                }

                continue;
            }

            e->cond = ngx_http_qlm_webhook_complex_value(cf, &s);
            if (e->cond == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* qlm_webhook_field NAME VALUE | xml:XPATH | json:POINTER */

static char *
ngx_http_qlm_webhook_field(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qlm_webhook_loc_conf_t *lcf = conf;

    u_char                             *p;
    ngx_str_t                          *value;
    ngx_uint_t                          i;
    ngx_array_t                       **list;
    ngx_http_qlm_webhook_field_t       *f, *fields;
    ngx_http_qlm_webhook_main_conf_t   *mcf;

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "has an empty name";
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (!(isalnum(*p) || *p == '_')) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid field name \"%V\", letters, digits "
                               "and \"_\" only", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (lcf->fields == NULL) {
        lcf->fields = ngx_array_create(cf->pool, 16,
                                       sizeof(ngx_http_qlm_webhook_field_t));
        if (lcf->fields == NULL) {
            return NGX_CONF_ERROR;
        }

        /* init_module tells each field which arguments its value reads */

        mcf = ngx_http_conf_get_module_main_conf(cf,
                                                 ngx_http_qlm_webhook_module);

        if (mcf->field_lists == NULL) {
            mcf->field_lists = ngx_array_create(cf->pool, 4,
                                                sizeof(ngx_array_t *));
            if (mcf->field_lists == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        list = ngx_array_push(mcf->field_lists);
        if (list == NULL) {
            return NGX_CONF_ERROR;
        }

        *list = lcf->fields;
    }

    f = ngx_array_push(lcf->fields);
    if (f == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(f, sizeof(ngx_http_qlm_webhook_field_t));
    f->name = value[1];

    /* a name given again is a fallback: the group of its first field */

    fields = lcf->fields->elts;
    f->group = lcf->fields->nelts - 1;

    for (i = 0; i < lcf->fields->nelts - 1; i++) {
        if (fields[i].name.len == f->name.len
            && ngx_strncmp(fields[i].name.data, f->name.data, f->name.len)
               == 0)
        {
            f->group = fields[i].group;
            break;
        }
    }

    return ngx_http_qlm_webhook_field_source(cf, &value[2], f);
}


/* VALUE | xml:XPATH | json:POINTER, NUL-terminated as arguments are */

static char *
ngx_http_qlm_webhook_field_source(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_qlm_webhook_field_t *f)
{
    u_char      ch;
    ngx_int_t   index;
    ngx_str_t   name;
    ngx_uint_t  i;

    if (ngx_strncmp(value->data, "xml:", 4) == 0) {
        f->source = NGX_HTTP_QLM_WEBHOOK_FIELD_XML;
        f->path.data = value->data + 4;
        f->path.len = value->len - 4;

        if (f->path.len == 0) {
            return "has an empty XPath";
        }

        return ngx_http_qlm_webhook_compile_xpath(cf, f);
    }

    if (ngx_strncmp(value->data, "json:", 5) == 0) {
        f->source = NGX_HTTP_QLM_WEBHOOK_FIELD_JSON;
        f->path.data = value->data + 5;
        f->path.len = value->len - 5;

        if (f->path.len && f->path.data[0] != '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid JSON pointer \"%V\", it must be "
                               "empty or start with \"/\"", &f->path);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    f->source = NGX_HTTP_QLM_WEBHOOK_FIELD_VALUE;

    f->value = ngx_http_qlm_webhook_complex_value(cf, value);

    if (f->value == NULL
        || ngx_http_qlm_webhook_field_vars(cf, value, f) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* a variable alone is read as it is, without the script engine */

    if (value->len > 1 && value->data[0] == '$') {
        name.data = value->data + 1;
        name.len = value->len - 1;

        for (i = 0; i < name.len; i++) {
            ch = name.data[i];

            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
                  || (ch >= '0' && ch <= '9') || ch == '_'))
            {
                break;
            }
        }

        if (i == name.len) {
            index = ngx_http_get_variable_index(cf, &name);

            if (index == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            f->index = (ngx_uint_t) index + 1;
        }
    }

    return NGX_CONF_OK;
}


/*
 * A value of variables and blanks only ("$first $last"): their indexes.
 * Once the variables are bound (args_init), a field whose variables are
 * all arguments that a call does not have is passed over unread: its
 * value would be blank.
 */

static ngx_int_t
ngx_http_qlm_webhook_field_vars(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_qlm_webhook_field_t *f)
{
    u_char       *p, *last, *start;
    ngx_int_t     index;
    ngx_str_t     name;
    ngx_uint_t    brace, *n;
    ngx_array_t  *vars;

    vars = ngx_array_create(cf->pool, 2, sizeof(ngx_uint_t));
    if (vars == NULL) {
        return NGX_ERROR;
    }

    p = value->data;
    last = p + value->len;

    while (p < last) {

        if (*p == ' ' || *p == '\t') {
            p++;
            continue;
        }

        /* other text: the value is never blank */

        if (*p++ != '$') {
            return NGX_OK;
        }

        brace = (p < last && *p == '{');
        p += brace;
        start = p;

        while (p < last && (isalnum(*p) || *p == '_')) {
            p++;
        }

        /* "$1", a capture, is not a variable */

        if (p == start || (*start >= '0' && *start <= '9')) {
            return NGX_OK;
        }

        name.data = start;
        name.len = p - start;

        if (brace) {
            if (p == last || *p != '}') {
                return NGX_OK;
            }

            p++;
        }

        index = ngx_http_get_variable_index(cf, &name);
        if (index == NGX_ERROR) {
            return NGX_ERROR;
        }

        n = ngx_array_push(vars);
        if (n == NULL) {
            return NGX_ERROR;
        }

        *n = (ngx_uint_t) index;
    }

    if (vars->nelts) {
        f->vars = vars;
    }

    return NGX_OK;
}


static char *
ngx_http_qlm_webhook_verify_scheme(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_qlm_webhook_loc_conf_t *lcf = conf;

    ngx_str_t  *value;

    if (lcf->verify_scheme != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "qlm", 3) == 0) {
        lcf->verify_scheme = NGX_HTTP_QLM_WEBHOOK_SCHEME_QLM;
        return NGX_CONF_OK;
    }

    if (value[1].len == 8 && ngx_strncmp(value[1].data, "standard", 8) == 0) {
        lcf->verify_scheme = NGX_HTTP_QLM_WEBHOOK_SCHEME_STANDARD;
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid scheme \"%V\", it must be \"qlm\" or "
                       "\"standard\"", &value[1]);
    return NGX_CONF_ERROR;
}


/* "off", or deliveries a second ("r/s") or a minute ("r/m"), as limit_req */

static char *
ngx_http_qlm_webhook_task_rate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_qlm_webhook_main_conf_t *mcf = conf;

    size_t      len;
    ngx_int_t   n, scale;
    ngx_str_t  *value;

    if (mcf->task_rate != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    len = value[1].len;

    if (len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        mcf->task_rate = 0;
        return NGX_CONF_OK;
    }

    scale = 0;

    if (len > 3 && ngx_strncmp(value[1].data + len - 3, "r/s", 3) == 0) {
        scale = 1;

    } else if (len > 3
               && ngx_strncmp(value[1].data + len - 3, "r/m", 3) == 0)
    {
        scale = 60;
    }

    n = scale ? ngx_atoi(value[1].data, len - 3) : NGX_ERROR;

    if (n <= 0 || n > 1000000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid rate \"%V\", it must be \"off\" or a "
                           "number from 1 to 1000000 followed by \"r/s\" or "
                           "\"r/m\", as \"200r/s\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    /* thousandths of a delivery a second, as limit_req keeps its rate */

    mcf->task_rate = n * 1000 / scale;

    return NGX_CONF_OK;
}


/* "on" or "off", and where, for the errors found at merge */

static char *
ngx_http_qlm_webhook_verify(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qlm_webhook_loc_conf_t *lcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    lcf->verify_file = cf->conf_file->file.name.data;
    lcf->verify_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* several secrets at a time: a key rotation without downtime */

static char *
ngx_http_qlm_webhook_verify_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_qlm_webhook_loc_conf_t *lcf = conf;

    ngx_str_t                             *value;
    ngx_http_qlm_webhook_verify_secret_t  *secret;

    value = cf->args->elts;

    if (lcf->verify_secrets == NULL) {
        lcf->verify_secrets = ngx_array_create(cf->pool, 2,
                                  sizeof(ngx_http_qlm_webhook_verify_secret_t));
        if (lcf->verify_secrets == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    secret = ngx_array_push(lcf->verify_secrets);
    if (secret == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_qlm_webhook_read_secret(cf, &value[1], &secret->value)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    secret->file = cf->conf_file->file.name.data;
    secret->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


static char *
ngx_http_qlm_webhook_success_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_qlm_webhook_loc_conf_t *lcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_uint_t   i, *code;

    if (lcf->success_status != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    lcf->success_status = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                           sizeof(ngx_uint_t));
    if (lcf->success_status == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        n = ngx_atoi(value[i].data, value[i].len);

        if (n < 100 || n > 599) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid status \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        code = ngx_array_push(lcf->success_status);
        if (code == NULL) {
            return NGX_CONF_ERROR;
        }

        *code = (ngx_uint_t) n;
    }

    return NGX_CONF_OK;
}


/* as ngx_conf_check_num_bounds(), with the directive's name in the error */

static char *
ngx_http_qlm_webhook_num_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_conf_num_bounds_t  *b = post;
    ngx_int_t              *np = data;

    u_char  *p;

    if (*np >= b->low && *np <= b->high) {
        return NGX_CONF_OK;
    }

    p = ngx_pnalloc(cf->pool,
                    sizeof("must be between  and ") + 2 * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(p, "must be between %i and %i%Z", b->low, b->high);

    return (char *) p;
}


static char *
ngx_http_qlm_webhook_positive_msec(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *ms = data;

    if (*ms == 0) {
        return "must be greater than 0";
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_qlm_webhook_init_module(ngx_cycle_t *cycle)
{
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_qlm_webhook_module);

    if (mcf == NULL) {
        return NGX_OK;
    }

    if (ngx_http_qlm_webhook_args_init(cycle, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!mcf->store_used) {
        return NGX_OK;
    }

    return ngx_http_qlm_webhook_store_init_module(cycle, mcf);
}


static ngx_int_t
ngx_http_qlm_webhook_init_process(ngx_cycle_t *cycle)
{
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_qlm_webhook_module);

    if (mcf == NULL || !mcf->store_used) {
        return NGX_OK;
    }

    /* deliveries and tasks start once the store is open, maybe later */

    return ngx_http_qlm_webhook_store_init_process(cycle, mcf,
                                           ngx_http_qlm_webhook_worker_start);
}


static ngx_int_t
ngx_http_qlm_webhook_worker_start(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    if (ngx_http_qlm_webhook_deliver_init_process(cycle, mcf) != NGX_OK
        || ngx_http_qlm_webhook_pg_init_process(cycle, mcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_qlm_webhook_pause_init_process(cycle, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_qlm_webhook_sched_init_process(cycle, mcf);
}


static void
ngx_http_qlm_webhook_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    ngx_http_qlm_webhook_emit_exit();
    ngx_http_qlm_webhook_sign_exit();

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_qlm_webhook_module);

    if (mcf == NULL) {
        return;
    }

    /* this turn's writes first: leased deliveries go back to the queue */

    ngx_http_qlm_webhook_batch_exit(mcf);

    ngx_http_qlm_webhook_deliver_exit_process(cycle, mcf);
    ngx_http_qlm_webhook_pg_exit_process(mcf);
    ngx_http_qlm_webhook_store_exit_process(cycle, mcf);
}
