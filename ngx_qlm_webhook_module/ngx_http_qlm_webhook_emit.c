
/*
 * ngx_qlm_webhook_module: response capture and event emission.
 *
 * A location with qlm_webhook_emit watches the license server's answer: the
 * header filter decides whether the call succeeded and which event it is,
 * the body filter reads the answer (whole in one buffer: where it is; else
 * a copy, up to qlm_webhook_capture_size) and, before the last buffer goes
 * to the client, builds the event, commits it to the store and wakes the
 * delivery.  The client's bytes are never changed; any failure here is
 * logged and counted, never sent to the client.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <jansson.h>

#include "ngx_http_qlm_webhook_module.h"
#include "qlm_field.h"
#include "qlm_form.h"


#define NGX_HTTP_QLM_WEBHOOK_ARG_PREFIX   "qlm_webhook_arg_"
#define NGX_HTTP_QLM_WEBHOOK_FORM_MAX     65536
#define NGX_HTTP_QLM_WEBHOOK_SCAN_MAX     1024

/* longer names are looked up by the prefix variable, without a slot */
#define NGX_HTTP_QLM_WEBHOOK_ARG_NAME_MAX 64

#define NGX_HTTP_QLM_WEBHOOK_ARG_ENCODED  1
#define NGX_HTTP_QLM_WEBHOOK_ARG_DECODED  2


typedef struct {
    ngx_http_request_t           *r;
    ngx_http_qlm_webhook_ctx_t   *ctx;
    ngx_pool_t                   *pool;     /* the emission's, see below */
    xmlDocPtr                     doc;
    xmlXPathContextPtr            xc;       /* one for all the fields */
    json_t                       *json;
    qlm_field_elt_t              *elts;     /* the fast reader's */
    size_t                        nelts;
    unsigned                      scan_tried:1;
    unsigned                      xml_tried:1;
    unsigned                      json_tried:1;
    unsigned                      unparsable:1;
} ngx_http_qlm_webhook_answer_t;


/* the record the module knows of a license or customer, being built */
typedef struct {
    ngx_pool_t                   *pool;
    ngx_array_t                  *fields;      /* ngx_keyval_t */
    ngx_uint_t                    deleted;
    ngx_uint_t                    error;
    ngx_uint_t                    records;     /* read so far */
} ngx_http_qlm_webhook_known_t;


static xmlXPathContextPtr  ngx_http_qlm_webhook_xpath_context;

/*
 * What an emission builds and the batch then copies (the answer's
 * elements, the fields, the record, the payload) goes in a pool the worker
 * keeps and empties after each emission.  In the request's pool, these
 * 8 KB a call took two more 4 KB blocks from malloc(), and back.
 */
static ngx_pool_t         *ngx_http_qlm_webhook_emit_pool;
static ngx_uint_t          ngx_http_qlm_webhook_emit_busy;
static ngx_pool_cleanup_t *ngx_http_qlm_webhook_emit_cln;


static ngx_int_t ngx_http_qlm_webhook_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_qlm_webhook_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_qlm_webhook_hold(ngx_http_request_t *r,
    ngx_http_qlm_webhook_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_qlm_webhook_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_qlm_webhook_success(
    ngx_http_qlm_webhook_loc_conf_t *lcf, ngx_uint_t status);
static ngx_http_qlm_webhook_emit_t *ngx_http_qlm_webhook_choose(
    ngx_http_request_t *r, ngx_http_qlm_webhook_loc_conf_t *lcf,
    ngx_http_qlm_webhook_answer_t *a);
static ngx_int_t ngx_http_qlm_webhook_true(ngx_str_t *v);
static void ngx_http_qlm_webhook_capture(ngx_http_request_t *r,
    ngx_http_qlm_webhook_ctx_t *ctx, ngx_buf_t *b);
static ngx_int_t ngx_http_qlm_webhook_capture_whole(ngx_http_request_t *r,
    ngx_http_qlm_webhook_ctx_t *ctx, ngx_chain_t *in, ngx_uint_t last);
static ngx_int_t ngx_http_qlm_webhook_capture_grow(ngx_http_request_t *r,
    ngx_http_qlm_webhook_ctx_t *ctx, size_t need, size_t max);
static void ngx_http_qlm_webhook_emit(ngx_http_request_t *r,
    ngx_http_qlm_webhook_ctx_t *ctx);
static ngx_int_t ngx_http_qlm_webhook_is_error(
    ngx_http_qlm_webhook_answer_t *a);
static xmlDocPtr ngx_http_qlm_webhook_xml(ngx_http_qlm_webhook_answer_t *a);
static ngx_int_t ngx_http_qlm_webhook_scan(ngx_http_qlm_webhook_answer_t *a);
static ngx_int_t ngx_http_qlm_webhook_scan_local_name(
    ngx_http_qlm_webhook_answer_t *a, ngx_str_t *name, ngx_str_t *value,
    ngx_array_t *more);
static json_t *ngx_http_qlm_webhook_json(ngx_http_qlm_webhook_answer_t *a);
static ngx_int_t ngx_http_qlm_webhook_field_value(
    ngx_http_qlm_webhook_answer_t *a, ngx_http_qlm_webhook_field_t *f,
    ngx_str_t *value, ngx_array_t *more);
static ngx_int_t ngx_http_qlm_webhook_local_name(
    ngx_http_qlm_webhook_answer_t *a, xmlDocPtr doc, ngx_str_t *name,
    ngx_str_t *value, ngx_array_t *more);
static ngx_int_t ngx_http_qlm_webhook_node_string(ngx_pool_t *pool,
    xmlNodePtr node, ngx_str_t *value);
static ngx_int_t ngx_http_qlm_webhook_more(ngx_pool_t *pool,
    xmlNodeSetPtr set, ngx_array_t *more);
static ngx_int_t ngx_http_qlm_webhook_json_pointer(ngx_pool_t *pool,
    json_t *root, ngx_str_t *pointer, ngx_str_t *value);
static ngx_pool_t *ngx_http_qlm_webhook_emit_pool_get(ngx_http_request_t *r);
static void ngx_http_qlm_webhook_emit_pool_done(ngx_pool_t *pool);
static void ngx_http_qlm_webhook_emit_pool_free(void *data);
static void ngx_http_qlm_webhook_emit_one(ngx_http_request_t *r,
    ngx_pool_t *pool, ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_uint_t event, ngx_array_t *values, ngx_str_t *previous);
static ngx_int_t ngx_http_qlm_webhook_enqueue(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t event,
    ngx_str_t *event_id, ngx_str_t *payload, qlm_store_record_t *rec,
    int table);
static void ngx_http_qlm_webhook_skip(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t event,
    ngx_uint_t cause);
static ngx_int_t ngx_http_qlm_webhook_mirror(ngx_http_request_t *r,
    ngx_pool_t *pool, ngx_uint_t event, ngx_array_t *values,
    qlm_store_record_t *rec, int *table);
static ngx_int_t ngx_http_qlm_webhook_known(ngx_http_request_t *r,
    ngx_pool_t *pool, ngx_http_qlm_webhook_main_conf_t *mcf, int table,
    qlm_store_record_t *rec, ngx_str_t *previous, ngx_array_t *values,
    ngx_array_t *full, ngx_uint_t *moved);
static void ngx_http_qlm_webhook_known_read(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, int table, qlm_store_str_t key,
    ngx_http_qlm_webhook_known_t *known);
static int ngx_http_qlm_webhook_known_record(const qlm_store_record_t *rec,
    void *data);
static void ngx_http_qlm_webhook_known_fold(ngx_pool_t *pool,
    ngx_http_qlm_webhook_fold_t *fold, void *data);
static ngx_int_t ngx_http_qlm_webhook_fold(ngx_pool_t *pool,
    ngx_http_qlm_webhook_fold_t *f);
static ngx_int_t ngx_http_qlm_webhook_overlay_record(ngx_pool_t *pool,
    ngx_array_t *fields, const qlm_store_record_t *rec, ngx_uint_t copy);
static ngx_int_t ngx_http_qlm_webhook_overlay(ngx_pool_t *pool,
    ngx_array_t *fields, ngx_str_t *name, ngx_str_t *value, ngx_uint_t copy);
static void ngx_http_qlm_webhook_var_set(ngx_http_variable_value_t *v,
    ngx_str_t *value);
static ngx_int_t ngx_http_qlm_webhook_arg_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_qlm_webhook_arg_slot_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_qlm_webhook_arg(ngx_http_request_t *r, ngx_uint_t n,
    ngx_str_t *value);
static ngx_int_t ngx_http_qlm_webhook_fields_args(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_variable_t *v);
static void ngx_http_qlm_webhook_args_fill(
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_qlm_webhook_ctx_t *ctx,
    ngx_str_t *s);
static ngx_int_t ngx_http_qlm_webhook_form(ngx_http_request_t *r,
    ngx_http_qlm_webhook_ctx_t *ctx);
static ngx_int_t ngx_http_qlm_webhook_unescape(ngx_pool_t *pool,
    ngx_str_t *s);
static void ngx_http_qlm_webhook_xml_error(void *data, xmlErrorPtr error);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_http_variable_t  ngx_http_qlm_webhook_vars[] = {

    { ngx_string(NGX_HTTP_QLM_WEBHOOK_ARG_PREFIX), NULL,
      ngx_http_qlm_webhook_arg_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_qlm_webhook_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_qlm_webhook_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_qlm_webhook_emit_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_qlm_webhook_log_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_qlm_webhook_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_qlm_webhook_body_filter;

    return NGX_OK;
}


/* libxml2 must not write to stderr: errors are ours to report */

static void
ngx_http_qlm_webhook_xml_error(void *data, xmlErrorPtr error)
{
    return;
}


static ngx_int_t
ngx_http_qlm_webhook_header_filter(ngx_http_request_t *r)
{
    ngx_table_elt_t                   *ce;
    ngx_http_qlm_webhook_ctx_t        *ctx;
    ngx_http_qlm_webhook_emit_t       *emit;
    ngx_http_qlm_webhook_loc_conf_t   *lcf;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_qlm_webhook_module);

    /* only answers of a license server: not return, not error pages */

    if (lcf->emits == NULL || r != r->main || r->upstream == NULL) {
        return ngx_http_next_header_filter(r);
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_qlm_webhook_module);

    if (!mcf->enable) {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_http_qlm_webhook_success(lcf, r->headers_out.status) != NGX_OK) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "qlm webhook: status %ui, no event",
                       r->headers_out.status);
        return ngx_http_next_header_filter(r);
    }

    emit = ngx_http_qlm_webhook_choose(r, lcf, NULL);

    if (emit == NULL || emit->event == NGX_HTTP_QLM_WEBHOOK_NEVENTS) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_qlm_webhook_get_ctx(r);
    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    ctx->emit = emit;
    ctx->capture = lcf->error_detect || emit->answer;
    ctx->length = r->headers_out.content_length_n;

    /*
     * nginx closes a body's temporary file once the header is sent: a form
     * there is copied now, for the fields ($qlm_webhook_arg_*) read later
     */

    if (r->request_body && r->request_body->temp_file) {
        (void) ngx_http_qlm_webhook_form(r, ctx);
    }

    if (lcf->fields_answer) {
        ctx->capture = 1;
    }

    if (ctx->capture) {
        ce = r->headers_out.content_encoding;

        if (ce && ce->hash && ce->value.len
            && !(ce->value.len == 8
                 && ngx_strncasecmp(ce->value.data, (u_char *) "identity", 8)
                    == 0))
        {
            ctx->encoded = 1;

        } else if (r->headers_out.content_length_n > (off_t) lcf->capture_size)
        {
            ctx->overflow = 1;
        }
    }

    /* the header filter sets header_only only later: no body will come */

    if (r->header_only
        || r->method == NGX_HTTP_HEAD
        || r->headers_out.status == NGX_HTTP_NO_CONTENT
        || r->headers_out.status == NGX_HTTP_NOT_MODIFIED)
    {
        ctx->done = 1;
        ctx->no_body = 1;
        ngx_http_qlm_webhook_emit(r, ctx);

        /* no body to hold back: the header waits for the commit instead */

        if (ctx->pending) {
            ngx_http_qlm_webhook_batch_flush(mcf);
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_qlm_webhook_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_uint_t                   last;
    ngx_chain_t                 *cl;
    ngx_http_qlm_webhook_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_qlm_webhook_module);

    if (ctx == NULL || ctx->emit == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->held) {
        return ngx_http_qlm_webhook_hold(r, ctx, in);
    }

    if (ctx->done || in == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        if (cl->buf->last_buf) {
            last = 1;
        }
    }

    if (ngx_http_qlm_webhook_capture_whole(r, ctx, in, last) != NGX_OK) {

        for (cl = in; cl; cl = cl->next) {
            ngx_http_qlm_webhook_capture(r, ctx, cl->buf);

            if (!ngx_buf_special(cl->buf)) {
                ctx->seen += ngx_buf_size(cl->buf);
            }
        }
    }

    /*
     * Committed before the last byte reaches the client: with a length,
     * before the buffer that completes it goes on (nginx's own last buffer
     * may come later and empty); else with the last buffer, before the
     * chunked or closing end of the response.
     */

    if (last || (ctx->length >= 0 && ctx->seen >= ctx->length)) {
        ctx->done = 1;
        ngx_http_qlm_webhook_emit(r, ctx);

        if (ctx->size == 0) {
            /* a borrowed answer is not pointed at once read */
            ctx->buf = NULL;
            ctx->len = 0;
        }

        if (ctx->pending) {
            return ngx_http_qlm_webhook_hold(r, ctx, in);
        }
    }

    return ngx_http_next_body_filter(r, in);
}


/*
 * The answer's end waits here while its event's commit is pending (this
 * turn's write batch); the commit posts the write event, and nginx's
 * writer calls the filters again with nothing new.
 */

static ngx_int_t
ngx_http_qlm_webhook_hold(ngx_http_request_t *r,
    ngx_http_qlm_webhook_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_chain_t  *cl;

    if (in && ngx_chain_add_copy(r->pool, &ctx->held, in) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->pending) {
        r->buffered |= NGX_HTTP_QLM_WEBHOOK_BUFFERED;
        return NGX_AGAIN;
    }

    r->buffered &= ~NGX_HTTP_QLM_WEBHOOK_BUFFERED;

    cl = ctx->held;
    ctx->held = NULL;

    return ngx_http_next_body_filter(r, cl);
}


/*
 * The client went away before the end of the answer: the body filter saw
 * no end.  The license server did its part if the upstream answer arrived
 * whole; the event is emitted then, unless it depends on an answer that
 * did not pass here whole (its fields, or the error check).
 */

static ngx_int_t
ngx_http_qlm_webhook_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t                         whole;
    ngx_http_upstream_t               *u;
    ngx_http_qlm_webhook_ctx_t        *ctx;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_qlm_webhook_module);

    if (ctx == NULL || ctx->emit == NULL || ctx->done) {
        return NGX_OK;
    }

    ctx->done = 1;
    u = r->upstream;

    whole = u
            && ((u->pipe && u->pipe->upstream_done && !u->pipe->upstream_error)
                || (!u->buffering && u->length == 0));

    if (whole && !ctx->capture) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "qlm webhook: the client went away, the license "
                      "server's answer arrived whole");
        ngx_http_qlm_webhook_emit(r, ctx);
        return NGX_OK;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_qlm_webhook_module);
    ngx_http_qlm_webhook_count(mcf, NGX_HTTP_QLM_WEBHOOK_C_ANSWER_INCOMPLETE,
                               1);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "qlm webhook: no \"%V\" event: the answer %s",
                  &ngx_http_qlm_webhook_event_names[ctx->emit->event],
                  whole ? "did not reach the client whole, so it could not "
                          "be checked"
                        : "of the license server did not arrive whole");

    return NGX_OK;
}


static ngx_int_t
ngx_http_qlm_webhook_success(ngx_http_qlm_webhook_loc_conf_t *lcf,
    ngx_uint_t status)
{
    ngx_uint_t   i, *code;

    if (lcf->success_status == NULL) {
        return (status >= 200 && status < 300) ? NGX_OK : NGX_DECLINED;
    }

    code = lcf->success_status->elts;

    for (i = 0; i < lcf->success_status->nelts; i++) {
        if (code[i] == status) {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * The first qlm_webhook_emit whose method= matches the last segment of
 * the path (qlmservice.asmx/ActivateKey) and whose if= holds.  An if= on
 * the answer (xml:, json:) can only be read at the answer's end: without
 * the answer (a == NULL, the header filter) it is taken as holding, and
 * the choice is made again with the answer before the event is built.
 */

static ngx_http_qlm_webhook_emit_t *
ngx_http_qlm_webhook_choose(ngx_http_request_t *r,
    ngx_http_qlm_webhook_loc_conf_t *lcf, ngx_http_qlm_webhook_answer_t *a)
{
    u_char                       *p;
    ngx_str_t                     method, v;
    ngx_uint_t                    i;
    ngx_http_qlm_webhook_emit_t  *e;

    p = r->uri.data + r->uri.len;

    while (p > r->uri.data && p[-1] != '/') {
        p--;
    }

    method.data = p;
    method.len = r->uri.data + r->uri.len - p;

    e = lcf->emits->elts;

    for (i = 0; i < lcf->emits->nelts; i++) {

        if (e[i].method.len
            && (e[i].method.len != method.len
                || ngx_strncasecmp(e[i].method.data, method.data, method.len)
                   != 0))
        {
            continue;
        }

        if (e[i].cond) {
            if (ngx_http_complex_value(r, e[i].cond, &v) != NGX_OK) {
                return NULL;
            }

            if (!ngx_http_qlm_webhook_true(&v)) {
                continue;
            }
        }

        if (e[i].answer && a) {
            if (ngx_http_qlm_webhook_field_value(a, e[i].answer, &v, NULL)
                == NGX_ERROR)
            {
                return NULL;
            }

            /* an answer that cannot be read does not hold */

            if (!ngx_http_qlm_webhook_true(&v)) {
                continue;
            }
        }

        return &e[i];
    }

    return NULL;
}


/* false: empty, "0", "false" (any case) */

static ngx_int_t
ngx_http_qlm_webhook_true(ngx_str_t *v)
{
    if (v->len == 0
        || (v->len == 1 && v->data[0] == '0')
        || (v->len == 5
            && ngx_strncasecmp(v->data, (u_char *) "false", 5) == 0))
    {
        return 0;
    }

    return 1;
}


static void
ngx_http_qlm_webhook_capture(ngx_http_request_t *r,
    ngx_http_qlm_webhook_ctx_t *ctx, ngx_buf_t *b)
{
    off_t                             size;
    ssize_t                           n;
    ngx_http_qlm_webhook_loc_conf_t  *lcf;

    if (!ctx->capture || ctx->overflow || ctx->encoded || ctx->unreadable) {
        return;
    }

    size = ngx_buf_size(b);

    if (size == 0) {
        return;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_qlm_webhook_module);

    if (ctx->len + size > lcf->capture_size) {
        ctx->overflow = 1;
        return;
    }

    if (ctx->len + size > ctx->size) {
        if (ngx_http_qlm_webhook_capture_grow(r, ctx, ctx->len + size,
                                              lcf->capture_size)
            != NGX_OK)
        {
            ctx->unreadable = 1;
            return;
        }
    }

    if (ngx_buf_in_memory(b)) {
        ngx_memcpy(ctx->buf + ctx->len, b->pos, (size_t) size);
        ctx->len += (size_t) size;
        return;
    }

    if (b->in_file && b->file) {
        /* an answer larger than proxy_buffers went to a temp file */
        n = ngx_read_file(b->file, ctx->buf + ctx->len, (size_t) size,
                          b->file_pos);

        if (n == (ssize_t) size) {
            ctx->len += (size_t) size;
            return;
        }
    }

    ctx->unreadable = 1;
}


/*
 * An answer that comes whole in one buffer in memory, the commonest, is
 * read where it is, not copied: the emission that follows in the same
 * call is its only reader, and keeps no pointer into it; last: the chain
 * ends the answer.  NGX_DECLINED: it is captured buffer by buffer.
 */

static ngx_int_t
ngx_http_qlm_webhook_capture_whole(ngx_http_request_t *r,
    ngx_http_qlm_webhook_ctx_t *ctx, ngx_chain_t *in, ngx_uint_t last)
{
    off_t                             size;
    ngx_buf_t                        *b;
    ngx_chain_t                      *cl;
    ngx_http_qlm_webhook_loc_conf_t  *lcf;

    if (!ctx->capture || ctx->seen || ctx->overflow || ctx->encoded
        || ctx->unreadable)
    {
        return NGX_DECLINED;
    }

    b = NULL;

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_special(cl->buf)) {
            continue;
        }

        if (b || !ngx_buf_in_memory(cl->buf)) {
            return NGX_DECLINED;
        }

        b = cl->buf;
    }

    if (b == NULL) {
        return NGX_DECLINED;
    }

    size = b->last - b->pos;

    if (!last && (ctx->length < 0 || size < ctx->length)) {
        return NGX_DECLINED;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_qlm_webhook_module);

    if (size > (off_t) lcf->capture_size) {
        return NGX_DECLINED;
    }

    ctx->seen = size;
    ctx->buf = b->pos;
    ctx->len = (size_t) size;
    ctx->size = 0;

    return NGX_OK;
}


/*
 * The copy is sized by Content-Length when there is one, else it starts
 * small and doubles: most answers are far below qlm_webhook_capture_size.
 */

static ngx_int_t
ngx_http_qlm_webhook_capture_grow(ngx_http_request_t *r,
    ngx_http_qlm_webhook_ctx_t *ctx, size_t need, size_t max)
{
    u_char  *buf;
    size_t   size;

    if (ctx->size == 0 && ctx->length >= 0 && (off_t) need <= ctx->length) {
        size = (size_t) ctx->length;

    } else {
        size = ngx_max(ctx->size * 2, 1024);
    }

    size = ngx_min(ngx_max(size, need), max);

    buf = ngx_pnalloc(r->pool, size);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    if (ctx->len) {
        ngx_memcpy(buf, ctx->buf, ctx->len);
    }

    if (ctx->buf) {
        (void) ngx_pfree(r->pool, ctx->buf);
    }

    ctx->buf = buf;
    ctx->size = size;

    return NGX_OK;
}


static void
ngx_http_qlm_webhook_emit(ngx_http_request_t *r,
    ngx_http_qlm_webhook_ctx_t *ctx)
{
    u_char                            *seen;
    ngx_str_t                          value, event, previous, *key;
    ngx_uint_t                         i, k, g, cause, akey, nfields;
    ngx_uint_t                        *slot;
    ngx_array_t                        values, keys, *more;
    ngx_keyval_t                      *kv;
    ngx_http_qlm_webhook_field_t      *f;
    ngx_http_qlm_webhook_answer_t      a;
    ngx_http_qlm_webhook_loc_conf_t   *lcf;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_qlm_webhook_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_qlm_webhook_module);

    event = ngx_http_qlm_webhook_event_names[ctx->emit->event];

    ngx_memzero(&a, sizeof(ngx_http_qlm_webhook_answer_t));
    a.r = r;
    a.ctx = ctx;
    a.pool = ngx_http_qlm_webhook_emit_pool_get(r);

    if (lcf->error_detect) {
        cause = ctx->overflow ? NGX_HTTP_QLM_WEBHOOK_C_ANSWER_TOO_LARGE
                : ctx->encoded ? NGX_HTTP_QLM_WEBHOOK_C_ANSWER_COMPRESSED
                : ctx->unreadable ? NGX_HTTP_QLM_WEBHOOK_C_ANSWER_UNREADABLE
                : ctx->no_body ? NGX_HTTP_QLM_WEBHOOK_C_ANSWER_NO_BODY
                : ngx_http_qlm_webhook_is_error(&a) == NGX_OK
                  ? NGX_HTTP_QLM_WEBHOOK_C_ANSWER_ERROR
                : NGX_HTTP_QLM_WEBHOOK_NCOUNTERS;

        if (cause != NGX_HTTP_QLM_WEBHOOK_NCOUNTERS) {
            ngx_http_qlm_webhook_skip(r, mcf, ctx->emit->event, cause);
            goto done;
        }
    }

    if (ctx->emit->answer) {
        ctx->emit = ngx_http_qlm_webhook_choose(r, lcf, &a);

        if (ctx->emit == NULL
            || ctx->emit->event == NGX_HTTP_QLM_WEBHOOK_NEVENTS)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "qlm webhook: no event, no \"qlm_webhook_emit\" "
                          "holds for the answer");
            goto done;
        }

        event = ngx_http_qlm_webhook_event_names[ctx->emit->event];
    }

    if (ngx_array_init(&values, a.pool, 16, sizeof(ngx_keyval_t)) != NGX_OK
        || ngx_array_init(&keys, a.pool, 1, sizeof(ngx_str_t)) != NGX_OK)
    {
        goto done;
    }

    akey = NGX_CONF_UNSET_UINT;

    f = NULL;
    seen = NULL;

    if (lcf->fields) {
        f = lcf->fields->elts;

        /* a bit a group: the fields of one name */

        seen = ngx_pcalloc(a.pool, (lcf->fields->nelts + 7) / 8);
        if (seen == NULL) {
            goto done;
        }
    }

    nfields = lcf->fields ? lcf->fields->nelts : 0;

    for (i = 0; i < nfields; i++) {

        /* a name given again is a fallback: the first value found wins */

        g = f[i].group;

        if (seen[g / 8] & (1 << (g % 8))) {
            continue;
        }

        /*
         * Most of the seventy arguments a configuration reads are not in a
         * given call: once the query and the form are in the slots, a
         * field of empty slots only is passed over here, not looked up
         */

        if (f[i].arg && ctx->args_form) {
            if (ctx->slots[f[i].arg - 1] == 0) {
                continue;
            }

        } else if (f[i].args && ctx->args_form) {
            slot = f[i].args->elts;

            for (k = 0; k < f[i].args->nelts; k++) {
                if (ctx->slots[slot[k]]) {
                    break;
                }
            }

            if (k == f[i].args->nelts) {
                continue;
            }
        }

        /*
         * an answer that lists several new keys (GetActivationKey with a
         * quantity) gives one event a key
         */

        more = NULL;

        if (f[i].source == NGX_HTTP_QLM_WEBHOOK_FIELD_XML
            && ngx_http_qlm_webhook_event_object(ctx->emit->event)
               == NGX_HTTP_QLM_WEBHOOK_LICENSE
            && f[i].name.len == sizeof("ActivationKey") - 1
            && ngx_strncmp(f[i].name.data, "ActivationKey",
                           sizeof("ActivationKey") - 1) == 0)
        {
            more = &keys;
        }

        if (ngx_http_qlm_webhook_field_value(&a, &f[i], &value, more)
            != NGX_OK
            || value.len == 0)
        {
            if (more) {
                keys.nelts = 0;
            }

            continue;
        }

        if (more) {
            akey = values.nelts;
        }

        kv = ngx_array_push(&values);
        if (kv == NULL) {
            goto done;
        }

        kv->key = f[i].name;
        kv->value = value;

        seen[g / 8] |= (u_char) (1 << (g % 8));
    }

    /* without error detection, an event needs no answer to go out */

    if (ctx->overflow || ctx->encoded || ctx->unreadable || a.unparsable) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "qlm webhook: \"%V\" event without the fields of the "
                      "answer: the answer is %s", &event,
                      ctx->overflow ? "larger than qlm_webhook_capture_size"
                      : ctx->encoded ? "compressed"
                      : ctx->unreadable ? "unreadable" : "not parsable");
        ngx_http_qlm_webhook_count(mcf,
                                   ctx->overflow
                                   ? NGX_HTTP_QLM_WEBHOOK_C_ANSWER_TOO_LARGE
                                   : ctx->encoded
                                   ? NGX_HTTP_QLM_WEBHOOK_C_ANSWER_COMPRESSED
                                   : ctx->unreadable
                                   ? NGX_HTTP_QLM_WEBHOOK_C_ANSWER_UNREADABLE
                                   : NGX_HTTP_QLM_WEBHOOK_C_ANSWER_UNPARSABLE,
                                   1);
    }

    /*
     * PreviousEmail is not a field: it names the customer's record before
     * this call (QLM's is_previousemail), which moves to the new e-mail
     */

    ngx_str_null(&previous);
    kv = values.elts;

    for (i = 0; i < values.nelts; i++) {
        if (kv[i].key.len == sizeof("PreviousEmail") - 1
            && ngx_strncmp(kv[i].key.data, "PreviousEmail",
                           sizeof("PreviousEmail") - 1) == 0)
        {
            previous = kv[i].value;

            ngx_memmove(&kv[i], &kv[i + 1],
                        (values.nelts - i - 1) * sizeof(ngx_keyval_t));
            values.nelts--;

            if (akey != NGX_CONF_UNSET_UINT && akey > i) {
                akey--;
            }

            break;
        }
    }

    ngx_http_qlm_webhook_emit_one(r, a.pool, mcf, ctx->emit->event, &values,
                                  &previous);

    if (keys.nelts && akey != NGX_CONF_UNSET_UINT) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "qlm webhook: the answer lists %ui keys, one \"%V\" "
                      "event each", keys.nelts + 1, &event);

        kv = values.elts;
        key = keys.elts;

        for (i = 0; i < keys.nelts; i++) {
            kv[akey].value = key[i];
            ngx_http_qlm_webhook_emit_one(r, a.pool, mcf, ctx->emit->event,
                                          &values, &previous);
        }
    }

done:

    /* the shared XPath context keeps no pointer to a freed document */

    if (a.xc) {
        a.xc->doc = NULL;
        a.xc->node = NULL;
    }

    if (a.doc) {
        xmlFreeDoc(a.doc);
    }

    if (a.json) {
        json_decref(a.json);
    }

    ngx_http_qlm_webhook_emit_pool_done(a.pool);
}


static ngx_pool_t *
ngx_http_qlm_webhook_emit_pool_get(ngx_http_request_t *r)
{
    /* an emission within an emission, were there one, keeps to r's */

    if (ngx_http_qlm_webhook_emit_busy) {
        return r->pool;
    }

    /* freed with the cycle, before the module is unloaded */

    if (ngx_http_qlm_webhook_emit_cln == NULL) {
        ngx_http_qlm_webhook_emit_cln = ngx_pool_cleanup_add(ngx_cycle->pool,
                                                             0);
        if (ngx_http_qlm_webhook_emit_cln == NULL) {
            return r->pool;
        }

        ngx_http_qlm_webhook_emit_cln->handler =
                                       ngx_http_qlm_webhook_emit_pool_free;
    }

    if (ngx_http_qlm_webhook_emit_pool == NULL) {
        ngx_http_qlm_webhook_emit_pool = ngx_create_pool(16384,
                                                         ngx_cycle->log);
        if (ngx_http_qlm_webhook_emit_pool == NULL) {
            return r->pool;
        }
    }

    ngx_http_qlm_webhook_emit_busy = 1;

    return ngx_http_qlm_webhook_emit_pool;
}


static void
ngx_http_qlm_webhook_emit_pool_done(ngx_pool_t *pool)
{
    if (pool != ngx_http_qlm_webhook_emit_pool) {
        return;
    }

    ngx_http_qlm_webhook_emit_busy = 0;

    /* a large answer's extra blocks are not kept for the next ones */

    if (pool->d.next) {
        ngx_destroy_pool(pool);
        ngx_http_qlm_webhook_emit_pool = NULL;
        return;
    }

    ngx_reset_pool(pool);
}


static void
ngx_http_qlm_webhook_emit_pool_free(void *data)
{
    if (ngx_http_qlm_webhook_emit_pool) {
        ngx_destroy_pool(ngx_http_qlm_webhook_emit_pool);
        ngx_http_qlm_webhook_emit_pool = NULL;
    }

    ngx_http_qlm_webhook_emit_cln = NULL;
}


/* an answer is an error: an <error> element, or text starting "Error" */

static ngx_int_t
ngx_http_qlm_webhook_is_error(ngx_http_qlm_webhook_answer_t *a)
{
    u_char                      *scratch;
    xmlDocPtr                    doc;
    ngx_http_qlm_webhook_ctx_t  *ctx;

    ctx = a->ctx;

    if (ctx->buf == NULL || ctx->overflow || ctx->encoded || ctx->unreadable) {
        return NGX_DECLINED;
    }

    switch (qlm_field_text_error(ctx->buf, ctx->len)) {

    case QLM_FIELD_ERROR:
        return NGX_OK;

    case QLM_FIELD_MAYBE_XML:
        break;

    default:
        return NGX_DECLINED;
    }

    if (ngx_http_qlm_webhook_scan(a) == NGX_OK) {
        scratch = ngx_pnalloc(a->pool, ctx->len);
        if (scratch == NULL) {
            return NGX_DECLINED;
        }

        return (qlm_field_xml_scan_error(a->elts, a->nelts, scratch)
                == QLM_FIELD_ERROR) ? NGX_OK : NGX_DECLINED;
    }

    doc = ngx_http_qlm_webhook_xml(a);
    if (doc == NULL) {
        return NGX_DECLINED;
    }

    return (qlm_field_xml_error(doc) == QLM_FIELD_ERROR) ? NGX_OK
                                                         : NGX_DECLINED;
}


static xmlDocPtr
ngx_http_qlm_webhook_xml(ngx_http_qlm_webhook_answer_t *a)
{
    ngx_http_qlm_webhook_ctx_t  *ctx;

    if (a->xml_tried) {
        return a->doc;
    }

    a->xml_tried = 1;
    ctx = a->ctx;

    if (ctx->buf == NULL || ctx->overflow || ctx->encoded || ctx->unreadable) {
        return NULL;
    }

    a->doc = qlm_field_xml(ctx->buf, ctx->len);

    if (a->doc == NULL) {
        a->unparsable = 1;
    }

    return a->doc;
}


/*
 * The fast reader first: most answers are small plain XML it reads in
 * one pass, with no tree (libxml2's DOM cost some 19,000 instructions an
 * answer); what it declines goes to libxml2.
 */

static ngx_int_t
ngx_http_qlm_webhook_scan(ngx_http_qlm_webhook_answer_t *a)
{
    size_t                       max;
    ngx_http_qlm_webhook_ctx_t  *ctx;

    if (a->scan_tried) {
        return a->elts ? NGX_OK : NGX_DECLINED;
    }

    a->scan_tried = 1;
    ctx = a->ctx;

    if (ctx->buf == NULL || ctx->overflow || ctx->encoded || ctx->unreadable) {
        return NGX_DECLINED;
    }

    /* an element takes 4 bytes at least ("<a/>") */

    max = ngx_min(ctx->len / 4 + 1, NGX_HTTP_QLM_WEBHOOK_SCAN_MAX);

    a->elts = ngx_palloc(a->pool, max * sizeof(qlm_field_elt_t));
    if (a->elts == NULL) {
        return NGX_DECLINED;
    }

    if (qlm_field_xml_scan(ctx->buf, ctx->len, a->elts, max, &a->nelts)
        != QLM_FIELD_XML_OK)
    {
        a->elts = NULL;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static json_t *
ngx_http_qlm_webhook_json(ngx_http_qlm_webhook_answer_t *a)
{
    ngx_http_qlm_webhook_ctx_t  *ctx;

    if (a->json_tried) {
        return a->json;
    }

    a->json_tried = 1;
    ctx = a->ctx;

    if (ctx->buf == NULL || ctx->overflow || ctx->encoded || ctx->unreadable) {
        return NULL;
    }

    a->json = qlm_field_json(ctx->buf, ctx->len);

    if (a->json == NULL) {
        a->unparsable = 1;
    }

    return a->json;
}


/*
 * A field's value; with more, the values of the other nodes an XPath
 * selects, in document order (the value is the first one's).
 */

static ngx_int_t
ngx_http_qlm_webhook_field_value(ngx_http_qlm_webhook_answer_t *a,
    ngx_http_qlm_webhook_field_t *f, ngx_str_t *value, ngx_array_t *more)
{
    xmlChar                    *s;
    json_t                     *json;
    xmlDocPtr                   doc;
    ngx_int_t                   rc;
    xmlXPathObjectPtr           obj;
    ngx_http_variable_value_t  *vv;

    ngx_str_null(value);

    switch (f->source) {

    case NGX_HTTP_QLM_WEBHOOK_FIELD_VALUE:

        if (f->index && f->arg) {
            /* an argument of a slot: without nginx's variable machinery */

            (void) ngx_http_qlm_webhook_arg(a->r, f->arg - 1, value);

        } else if (f->index) {
            /* flushed: a lookup before the body was read is not kept */

            vv = ngx_http_get_flushed_variable(a->r, f->index - 1);

            if (vv && !vv->not_found) {
                value->data = vv->data;
                value->len = vv->len;
            }

        } else if (ngx_http_complex_value(a->r, f->value, value) != NGX_OK) {
            return NGX_ERROR;
        }

        /* "$first $last" of two missing arguments is missing, not " " */

        while (value->len && (value->data[0] == ' '
                              || value->data[0] == '\t'))
        {
            value->data++;
            value->len--;
        }

        while (value->len && (value->data[value->len - 1] == ' '
                              || value->data[value->len - 1] == '\t'))
        {
            value->len--;
        }

        return NGX_OK;

    case NGX_HTTP_QLM_WEBHOOK_FIELD_XML:

        if (f->local_name.len && ngx_http_qlm_webhook_scan(a) == NGX_OK) {
            return ngx_http_qlm_webhook_scan_local_name(a, &f->local_name,
                                                        value, more);
        }

        doc = ngx_http_qlm_webhook_xml(a);
        if (doc == NULL) {
            return NGX_DECLINED;
        }

        /* the commonest XPath of all, without XPath */

        if (f->local_name.len) {
            return ngx_http_qlm_webhook_local_name(a, doc, &f->local_name,
                                                   value, more);
        }

        /*
         * A context registers libxml2's every XPath function (some 20,000
         * instructions): one for the process, given each answer's document
         */

        if (a->xc == NULL) {
            if (ngx_http_qlm_webhook_xpath_context == NULL) {
                ngx_http_qlm_webhook_xpath_context = xmlXPathNewContext(doc);
                if (ngx_http_qlm_webhook_xpath_context == NULL) {
                    return NGX_ERROR;
                }

                ngx_http_qlm_webhook_xpath_context->error =
                                             ngx_http_qlm_webhook_xml_error;
            }

            a->xc = ngx_http_qlm_webhook_xpath_context;
            a->xc->doc = doc;
            a->xc->node = NULL;
            a->xc->contextSize = -1;
            a->xc->proximityPosition = -1;
        }

        obj = xmlXPathCompiledEval(f->xpath, a->xc);
        rc = NGX_DECLINED;

        if (obj) {
            s = xmlXPathCastToString(obj);

            if (s) {
                value->len = ngx_strlen(s);
                value->data = ngx_pnalloc(a->pool, value->len);

                if (value->data) {
                    ngx_memcpy(value->data, s, value->len);
                    rc = NGX_OK;

                } else {
                    rc = NGX_ERROR;
                }

                xmlFree(s);
            }

            /* the cast sorted the node set in document order */

            if (rc == NGX_OK && more && obj->type == XPATH_NODESET
                && obj->nodesetval && obj->nodesetval->nodeNr > 1)
            {
                rc = ngx_http_qlm_webhook_more(a->pool, obj->nodesetval,
                                               more);
            }

            xmlXPathFreeObject(obj);
        }

        return rc;

    default: /* NGX_HTTP_QLM_WEBHOOK_FIELD_JSON */
        json = ngx_http_qlm_webhook_json(a);
        if (json == NULL) {
            return NGX_DECLINED;
        }

        return ngx_http_qlm_webhook_json_pointer(a->pool, json, &f->path,
                                                 value);
    }
}


/* the values of a node set's nodes after the first, the empty ones left */

/*
 * The XPath that selects every element by its local name, the commonest
 * of all (conf/qlm.conf's), by a walk of the tree: the elements named
 * NAME, whatever their namespace, in document order; the value is the
 * first one's string value (its text, descendants' included), as XPath's
 * string() gives it, and more gets the others' that are not empty.
 */

static ngx_int_t
ngx_http_qlm_webhook_local_name(ngx_http_qlm_webhook_answer_t *a,
    xmlDocPtr doc, ngx_str_t *name, ngx_str_t *value, ngx_array_t *more)
{
    ngx_int_t    found;
    ngx_str_t    s, *v;
    xmlNodePtr   node, next;

    found = 0;
    node = doc->children;

    while (node) {

        if (node->type == XML_ELEMENT_NODE
            && node->name
            && ngx_strlen(node->name) == name->len
            && ngx_strncmp(node->name, name->data, name->len) == 0)
        {
            if (!found) {
                if (ngx_http_qlm_webhook_node_string(a->pool, node, value)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                found = 1;

                if (more == NULL) {
                    return NGX_OK;
                }

            } else {
                if (ngx_http_qlm_webhook_node_string(a->pool, node, &s)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                if (s.len) {
                    v = ngx_array_push(more);
                    if (v == NULL) {
                        return NGX_ERROR;
                    }

                    *v = s;
                }
            }
        }

        /* preorder: children, then the next sibling, or an ancestor's */

        if (node->type == XML_ELEMENT_NODE && node->children) {
            node = node->children;
            continue;
        }

        for ( ;; ) {
            next = node->next;

            if (next) {
                node = next;
                break;
            }

            node = node->parent;

            if (node == NULL || node == (xmlNodePtr) doc) {
                node = NULL;
                break;
            }
        }
    }

    /* no such element: an empty string, as XPath's string() of nothing */

    if (!found) {
        value->len = 0;
        value->data = (u_char *) "";
    }

    return NGX_OK;
}


/* the same, from the fast reader's elements */

static ngx_int_t
ngx_http_qlm_webhook_scan_local_name(ngx_http_qlm_webhook_answer_t *a,
    ngx_str_t *name, ngx_str_t *value, ngx_array_t *more)
{
    size_t            i;
    ngx_str_t         s, *v;
    ngx_uint_t        found;
    qlm_field_elt_t  *e;

    found = 0;

    for (i = 0; i < a->nelts; i++) {
        e = &a->elts[i];

        if (e->name_len != name->len
            || ngx_strncmp(e->name, name->data, name->len) != 0)
        {
            continue;
        }

        /* plain text is its own value, in the captured answer */

        if (e->plain) {
            s.data = (u_char *) e->content;
            s.len = e->content_len;

        } else {
            s.data = ngx_pnalloc(a->pool, e->content_len);
            if (s.data == NULL) {
                return NGX_ERROR;
            }

            s.len = qlm_field_xml_text(e, s.data);
        }

        if (!found) {
            *value = s;
            found = 1;

            if (more == NULL) {
                return NGX_OK;
            }

            continue;
        }

        if (s.len) {
            v = ngx_array_push(more);
            if (v == NULL) {
                return NGX_ERROR;
            }

            *v = s;
        }
    }

    if (!found) {
        value->len = 0;
        value->data = (u_char *) "";
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_qlm_webhook_node_string(ngx_pool_t *pool, xmlNodePtr node,
    ngx_str_t *value)
{
    xmlChar  *s;

    s = xmlNodeGetContent(node);
    if (s == NULL) {
        return NGX_ERROR;
    }

    value->len = ngx_strlen(s);
    value->data = ngx_pnalloc(pool, value->len);

    if (value->data == NULL) {
        xmlFree(s);
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, s, value->len);
    xmlFree(s);

    return NGX_OK;
}


static ngx_int_t
ngx_http_qlm_webhook_more(ngx_pool_t *pool, xmlNodeSetPtr set,
    ngx_array_t *more)
{
    int         i;
    size_t      len;
    xmlChar    *s;
    ngx_str_t  *v;

    for (i = 1; i < set->nodeNr; i++) {
        s = xmlXPathCastNodeToString(set->nodeTab[i]);
        if (s == NULL) {
            return NGX_ERROR;
        }

        len = ngx_strlen(s);

        if (len) {
            v = ngx_array_push(more);
            if (v == NULL) {
                xmlFree(s);
                return NGX_ERROR;
            }

            v->data = ngx_pnalloc(pool, len);
            if (v->data == NULL) {
                xmlFree(s);
                return NGX_ERROR;
            }

            ngx_memcpy(v->data, s, len);
            v->len = len;
        }

        xmlFree(s);
    }

    return NGX_OK;
}


/* RFC 6901; a scalar becomes its text, an object or array compact JSON */

static ngx_int_t
ngx_http_qlm_webhook_json_pointer(ngx_pool_t *pool, json_t *root,
    ngx_str_t *pointer, ngx_str_t *value)
{
    char    *s;
    json_t  *node;

    node = qlm_field_json_pointer(root, pointer->data, pointer->len);

    if (node == NULL || json_is_null(node)) {
        return NGX_DECLINED;
    }

    if (json_is_string(node)) {
        value->len = json_string_length(node);
        value->data = ngx_pnalloc(pool, value->len);
        if (value->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(value->data, json_string_value(node), value->len);
        return NGX_OK;
    }

    s = json_dumps(node, JSON_COMPACT|JSON_ENCODE_ANY);
    if (s == NULL) {
        return NGX_ERROR;
    }

    value->len = ngx_strlen(s);
    value->data = ngx_pnalloc(pool, value->len);

    if (value->data) {
        ngx_memcpy(value->data, s, value->len);
    }

    free(s);

    return value->data ? NGX_OK : NGX_ERROR;
}


/*
 * One event: QLM sends the affected object, so the payload carries the
 * record the module knows (the mirror, and this worker's uncommitted
 * events) with this call's changes over it; the mirror gets the call's
 * fields, merged into its record when committed.
 */

static void
ngx_http_qlm_webhook_emit_one(ngx_http_request_t *r, ngx_pool_t *pool,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t event,
    ngx_array_t *values, ngx_str_t *previous)
{
    int                  table;
    ngx_str_t            id, payload;
    ngx_int_t            mirror;
    ngx_uint_t           move;
    ngx_array_t          full;
    qlm_store_record_t   rec, old;

    mirror = ngx_http_qlm_webhook_mirror(r, pool, event, values, &rec,
                                         &table);

    if (mirror == NGX_ERROR) {
        goto failed;
    }

    /* a customer whose e-mail changes: its record moves to the new one */

    move = mirror == NGX_OK && table == QLM_STORE_CUSTOMERS
           && previous->len && previous->len <= 400
           && (previous->len != rec.key.len
               || ngx_strncmp(previous->data, rec.key.data, previous->len)
                  != 0);

    /* without a URL the payload is not kept: no need to read */

    if (mirror == NGX_OK && mcf->store
        && (mcf->urls[event].nelts || move))
    {
        if (ngx_http_qlm_webhook_known(r, pool, mcf, table, &rec,
                                       move ? previous : NULL, values, &full,
                                       &move)
            != NGX_OK)
        {
            goto failed;
        }

        values = &full;

        /* the new record is the whole one; the old one is marked deleted */

        if (move) {
            if (ngx_http_qlm_webhook_mirror(r, pool, event, &full, &rec,
                                            &table)
                != NGX_OK)
            {
                goto failed;
            }

            old = rec;
            old.key.data = (char *) previous->data;
            old.key.len = previous->len;
            old.deleted = 1;
            old.nfields = 0;
        }
    }

    if (ngx_http_qlm_webhook_event_id(pool, &id) != NGX_OK) {
        goto failed;
    }

    /* no URL takes the event: only its record is kept, no payload built */

    ngx_str_null(&payload);

    if (mcf->urls[event].nelts
        && ngx_http_qlm_webhook_event_payload(pool, event, &id,
                                              ngx_time(), values, &payload)
           != NGX_OK)
    {
        goto failed;
    }

    if (move && mcf->store
        && ngx_http_qlm_webhook_batch_event(mcf, NULL, event, &id, NULL,
                                            table, &old)
           != NGX_OK)
    {
        goto failed;
    }

    (void) ngx_http_qlm_webhook_enqueue(r, mcf, event, &id,
                                        payload.data ? &payload : NULL,
                                        mirror == NGX_OK ? &rec : NULL,
                                        table);
    return;

failed:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "qlm webhook: \"%V\" event lost: out of memory",
                  &ngx_http_qlm_webhook_event_names[event]);
}


/*
 * The record of rec's key as it will be once this worker's queued events
 * are committed (over the record of previous, the key before this call,
 * if given), with values over it.  A record deleted and then named again
 * by an event that is not a deletion starts afresh, as in the store.
 */

static ngx_int_t
ngx_http_qlm_webhook_known(ngx_http_request_t *r, ngx_pool_t *pool,
    ngx_http_qlm_webhook_main_conf_t *mcf, int table,
    qlm_store_record_t *rec, ngx_str_t *previous, ngx_array_t *values,
    ngx_array_t *full, ngx_uint_t *moved)
{
    ngx_uint_t                     i;
    ngx_keyval_t                  *kv;
    qlm_store_str_t                key;
    ngx_http_qlm_webhook_known_t   known;

    if (ngx_array_init(full, pool, 48, sizeof(ngx_keyval_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    known.pool = pool;
    known.fields = full;
    known.deleted = 0;
    known.error = 0;
    known.records = 0;

    if (previous) {
        key.data = (char *) previous->data;
        key.len = previous->len;

        ngx_http_qlm_webhook_known_read(r, mcf, table, key, &known);

        /* nothing known under the old e-mail: nothing to move */

        *moved = (known.records != 0);
    }

    ngx_http_qlm_webhook_known_read(r, mcf, table, rec->key, &known);

    if (known.error) {
        return NGX_ERROR;
    }

    if (known.deleted && !rec->deleted) {
        full->nelts = 0;
    }

    kv = values->elts;

    for (i = 0; i < values->nelts; i++) {
        if (ngx_http_qlm_webhook_overlay(pool, full, &kv[i].key,
                                         &kv[i].value, 0)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the mirror's record of key, then this worker's uncommitted ones */

static void
ngx_http_qlm_webhook_known_read(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, int table, qlm_store_str_t key,
    ngx_http_qlm_webhook_known_t *known)
{
    int            rc;
    ngx_str_t      k;

    static time_t  logged;

    /* a read transaction: no writer lock, never waits for a commit */

    rc = qlm_store_mirror_get(mcf->store, table, key,
                              ngx_http_qlm_webhook_known_record, known);

    if (rc != 0 && rc != QLM_STORE_NOTFOUND && !known->error
        && ngx_time() >= logged + 60)
    {
        logged = ngx_time();
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "qlm webhook: the license mirror could not be read "
                      "(%s): events lack the fields it holds (said once a "
                      "minute)", qlm_store_strerror(rc));
    }

    k.data = (u_char *) key.data;
    k.len = key.len;

    ngx_http_qlm_webhook_batch_record(mcf, table, &k,
                                      ngx_http_qlm_webhook_known_fold, known);
}


/*
 * A batch's records of the key over the known: their fold, brought up to
 * date first, as its records would be one after another.
 */

static void
ngx_http_qlm_webhook_known_fold(ngx_pool_t *pool,
    ngx_http_qlm_webhook_fold_t *fold, void *data)
{
    ngx_http_qlm_webhook_known_t  *known = data;

    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    if (ngx_http_qlm_webhook_fold(pool, fold) != NGX_OK) {
        known->error = 1;
        return;
    }

    if (fold->reset || (known->deleted && !fold->first_deleted)) {
        known->fields->nelts = 0;
    }

    known->deleted = fold->last_deleted;
    known->records += fold->recs.nelts;

    /* the batch's memory outlives the event being built */

    kv = fold->fields.elts;

    for (i = 0; i < fold->fields.nelts; i++) {
        if (ngx_http_qlm_webhook_overlay(known->pool, known->fields,
                                         &kv[i].key, &kv[i].value, 0)
            != NGX_OK)
        {
            known->error = 1;
            return;
        }
    }
}


/* the records of a batch not yet in its fold; pool: the batch's */

static ngx_int_t
ngx_http_qlm_webhook_fold(ngx_pool_t *pool, ngx_http_qlm_webhook_fold_t *f)
{
    qlm_store_record_t  **recs, *rec;

    if (f->fields.elts == NULL
        && ngx_array_init(&f->fields, pool, 16, sizeof(ngx_keyval_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    recs = f->recs.elts;

    for ( /* void */ ; f->folded < f->recs.nelts; f->folded++) {
        rec = recs[f->folded];

        /* a record made again after its deletion starts afresh */

        if (f->folded == 0) {
            f->first_deleted = rec->deleted;

        } else if (f->last_deleted && !rec->deleted) {
            f->reset = 1;
            f->fields.nelts = 0;
        }

        if (ngx_http_qlm_webhook_overlay_record(pool, &f->fields, rec, 0)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        f->last_deleted = rec->deleted;
    }

    return NGX_OK;
}


/* the mirror's record of the key over the known */

static int
ngx_http_qlm_webhook_known_record(const qlm_store_record_t *rec, void *data)
{
    ngx_http_qlm_webhook_known_t  *known = data;

    if (known->deleted && !rec->deleted) {
        known->fields->nelts = 0;
    }

    known->deleted = rec->deleted;
    known->records++;

    /* the mirror's values live in its map only for this transaction */

    if (ngx_http_qlm_webhook_overlay_record(known->pool, known->fields, rec,
                                            1)
        != NGX_OK)
    {
        known->error = 1;
        return 1;
    }

    return 0;
}


/* a record's fields over fields: an empty name is no field */

static ngx_int_t
ngx_http_qlm_webhook_overlay_record(ngx_pool_t *pool, ngx_array_t *fields,
    const qlm_store_record_t *rec, ngx_uint_t copy)
{
    size_t     i;
    ngx_str_t  name, value;

    for (i = 0; i < rec->nfields; i++) {
        name.data = (u_char *) rec->fields[i].name.data;
        name.len = rec->fields[i].name.len;
        value.data = (u_char *) rec->fields[i].value.data;
        value.len = rec->fields[i].value.len;

        if (name.len
            && ngx_http_qlm_webhook_overlay(pool, fields, &name, &value, copy)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_qlm_webhook_overlay(ngx_pool_t *pool, ngx_array_t *fields,
    ngx_str_t *name, ngx_str_t *value, ngx_uint_t copy)
{
    ngx_str_t      v;
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    v = *value;

    if (copy && v.len) {
        v.data = ngx_pnalloc(pool, v.len);
        if (v.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(v.data, value->data, v.len);
    }

    kv = fields->elts;

    for (i = 0; i < fields->nelts; i++) {
        if (kv[i].key.len == name->len
            && ngx_strncmp(kv[i].key.data, name->data, name->len) == 0)
        {
            kv[i].value = v;
            return NGX_OK;
        }
    }

    kv = ngx_array_push(fields);
    if (kv == NULL) {
        return NGX_ERROR;
    }

    kv->key = *name;
    kv->value = v;

    if (copy) {
        kv->key.data = ngx_pnalloc(pool, name->len);
        if (kv->key.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(kv->key.data, name->data, name->len);
    }

    return NGX_OK;
}


/*
 * One queue item a subscribed URL and the mirror's record, committed
 * together (never one without the other) with the rest of this turn's
 * writes.
 */

static ngx_int_t
ngx_http_qlm_webhook_enqueue(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t event,
    ngx_str_t *event_id, ngx_str_t *payload, qlm_store_record_t *rec,
    int table)
{
    ngx_str_t           *name;

    static time_t        lost_logged;

    name = &ngx_http_qlm_webhook_event_names[event];

    if (mcf->urls[event].nelts == 0 && rec == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "qlm webhook: no URL for \"%V\"", name);
        return NGX_DECLINED;
    }

    if (mcf->store == NULL) {
        ngx_http_qlm_webhook_count(mcf, NGX_HTTP_QLM_WEBHOOK_C_LOST_NO_STORE,
                                   1);

        /* said once a minute, not once a request: the worker alerted */

        if (ngx_time() >= lost_logged + 60) {
            lost_logged = ngx_time();
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "qlm webhook: \"%V\" event %V lost: the store is "
                          "not open in this worker (said once a minute)",
                          name, event_id);
        }

        return NGX_ERROR;
    }

    /* stored with this turn's other writes; the answer's end waits */

    if (ngx_http_qlm_webhook_batch_event(mcf, r, event, event_id, payload,
                                         table, rec)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qlm webhook: \"%V\" event %V lost: out of memory",
                      name, event_id);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The license mirror's record of the event, for the scheduled tasks'
 * searches: the license (by ActivationKey) or customer (by Email, else
 * CustomerID) gets the event's fields; a delete event marks it deleted.
 * NGX_DECLINED when the event names no license or customer.
 */

static ngx_int_t
ngx_http_qlm_webhook_mirror(ngx_http_request_t *r, ngx_pool_t *pool,
    ngx_uint_t event, ngx_array_t *values, qlm_store_record_t *rec,
    int *table)
{
    ngx_str_t            key;
    ngx_uint_t           i;
    ngx_time_t          *tp;
    ngx_keyval_t        *kv;
    qlm_store_field_t   *fields;

    *table = ngx_http_qlm_webhook_event_object(event)
             == NGX_HTTP_QLM_WEBHOOK_LICENSE
             ? QLM_STORE_LICENSES : QLM_STORE_CUSTOMERS;

    kv = values->elts;
    ngx_str_null(&key);

    for (i = 0; i < values->nelts; i++) {
        if (*table == QLM_STORE_LICENSES
            ? (kv[i].key.len == 13
               && ngx_strncmp(kv[i].key.data, "ActivationKey", 13) == 0)
            : ((kv[i].key.len == 5
                && ngx_strncmp(kv[i].key.data, "Email", 5) == 0)
               || (key.len == 0 && kv[i].key.len == 10
                   && ngx_strncmp(kv[i].key.data, "CustomerID", 10) == 0)))
        {
            key = kv[i].value;
        }
    }

    if (key.len == 0 || key.len > 400) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "qlm webhook: \"%V\" event without a key for the "
                       "mirror", &ngx_http_qlm_webhook_event_names[event]);
        return NGX_DECLINED;
    }

    fields = ngx_palloc(pool, (values->nelts + 1) * sizeof(qlm_store_field_t));
    if (fields == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < values->nelts; i++) {
        fields[i].name.data = (char *) kv[i].key.data;
        fields[i].name.len = kv[i].key.len;
        fields[i].value.data = (char *) kv[i].value.data;
        fields[i].value.len = kv[i].value.len;
    }

    tp = ngx_timeofday();

    rec->key.data = (char *) key.data;
    rec->key.len = key.len;
    rec->updated = (uint64_t) tp->sec * 1000 + tp->msec;
    rec->deleted = (event == NGX_HTTP_QLM_WEBHOOK_LICENSE_DELETED
                    || event == NGX_HTTP_QLM_WEBHOOK_CUSTOMER_DELETED);
    rec->nfields = values->nelts;
    rec->fields = fields;

    return NGX_OK;
}


/*
 * An answer whose success could not be checked emits nothing: counted,
 * and said at most once a minute for each cause, not once a request.
 */

static void
ngx_http_qlm_webhook_skip(ngx_http_request_t *r,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_uint_t event, ngx_uint_t cause)
{
    static time_t  logged[NGX_HTTP_QLM_WEBHOOK_NCOUNTERS];
    static char   *why[] = {
        "the license server answered an error",
        "the answer is larger than qlm_webhook_capture_size",
        "the answer is compressed (proxy_set_header Accept-Encoding \"\")",
        "the answer could not be read",
        "the answer does not parse",
        "the answer has no body",
        "the answer did not pass whole"
    };

    ngx_http_qlm_webhook_count(mcf, cause, 1);

    if (cause == NGX_HTTP_QLM_WEBHOOK_C_ANSWER_ERROR) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "qlm webhook: no \"%V\" event, %s",
                      &ngx_http_qlm_webhook_event_names[event], why[cause]);
        return;
    }

    if (ngx_time() < logged[cause] + 60) {
        return;
    }

    logged[cause] = ngx_time();

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "qlm webhook: no \"%V\" event: %s, so its success could "
                  "not be checked (counted; said once a minute)",
                  &ngx_http_qlm_webhook_event_names[event], why[cause]);
}


/*
 * $qlm_webhook_arg_NAME: the query argument NAME, else the field NAME of
 * a form-encoded request body, URL-decoded ("+" is a space).  The first
 * argument of a name wins, the name compared without case, as
 * ngx_http_arg() does.
 *
 * Each NAME the configuration uses (qlm.conf's some seventy) has a slot
 * (ngx_http_qlm_webhook_args_init): at the first lookup of a request the
 * query string is walked once and gives every slot its argument, then the
 * body when a slot is still empty, once the body is read whole.  Other
 * names (looked up by name, as SSI's echo does) come here.
 */

static ngx_int_t
ngx_http_qlm_webhook_arg_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  *var = (ngx_str_t *) data;

    size_t                       len;
    ngx_str_t                    name, value;
    const u_char                *p;
    ngx_http_qlm_webhook_ctx_t  *ctx;

    name.data = var->data + sizeof(NGX_HTTP_QLM_WEBHOOK_ARG_PREFIX) - 1;
    name.len = var->len - (sizeof(NGX_HTTP_QLM_WEBHOOK_ARG_PREFIX) - 1);

    ctx = ngx_http_qlm_webhook_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (qlm_form_find(r->args.data, r->args.len, name.data, name.len, &p,
                      &len)
        != 0)
    {
        if (ngx_http_qlm_webhook_form(r, ctx) != NGX_OK
            || qlm_form_find(ctx->form.data, ctx->form.len, name.data,
                             name.len, &p, &len)
               != 0)
        {
            v->not_found = 1;
            return NGX_OK;
        }
    }

    value.data = (u_char *) p;
    value.len = len;

    if (ngx_http_qlm_webhook_unescape(r->pool, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_qlm_webhook_var_set(v, &value);

    return NGX_OK;
}


/* a NAME of the configuration: data is its slot */

static ngx_int_t
ngx_http_qlm_webhook_arg_slot_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    rc = ngx_http_qlm_webhook_arg(r, data, &value);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_qlm_webhook_var_set(v, &value);

    return NGX_OK;
}


static void
ngx_http_qlm_webhook_var_set(ngx_http_variable_value_t *v, ngx_str_t *value)
{
    v->data = value->data;
    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
}


/*
 * The argument of slot n, decoded: NGX_OK, NGX_DECLINED when the request
 * has none, or NGX_ERROR.  Some seventy lookups a call: the common case
 * (the slots filled, the body looked at) is a few loads.
 */

static ngx_int_t
ngx_http_qlm_webhook_arg(ngx_http_request_t *r, ngx_uint_t n,
    ngx_str_t *value)
{
    ngx_http_qlm_webhook_arg_t        *arg;
    ngx_http_qlm_webhook_ctx_t        *ctx;
    ngx_http_qlm_webhook_main_conf_t  *mcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_qlm_webhook_module);

    if (ctx == NULL || ctx->slots == NULL) {
        ctx = ngx_http_qlm_webhook_get_ctx(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        mcf = ngx_http_get_module_main_conf(r, ngx_http_qlm_webhook_module);

        /* a short a slot and the arguments found, not a record a slot */

        ctx->slots = ngx_pcalloc(r->pool, mcf->nargs * sizeof(u_short));
        if (ctx->slots == NULL
            || ngx_array_init(&ctx->argv, r->pool, 8,
                              sizeof(ngx_http_qlm_webhook_arg_t))
               != NGX_OK)
        {
            ctx->slots = NULL;
            return NGX_ERROR;
        }

        ngx_http_qlm_webhook_args_fill(mcf, ctx, &r->args);
    }

    if (ctx->slots[n] == 0) {

        if (ctx->args_form) {
            return NGX_DECLINED;
        }

        /* the body only where the query has none: the query comes first */

        if (ngx_http_qlm_webhook_form(r, ctx) == NGX_OK) {
            mcf = ngx_http_get_module_main_conf(r,
                                                ngx_http_qlm_webhook_module);
            ngx_http_qlm_webhook_args_fill(mcf, ctx, &ctx->form);
        }

        ctx->args_form = ctx->form_done;

        if (ctx->slots[n] == 0) {
            return NGX_DECLINED;
        }
    }

    arg = ctx->argv.elts;
    arg += ctx->slots[n] - 1;

    if (arg->state == NGX_HTTP_QLM_WEBHOOK_ARG_ENCODED) {
        if (ngx_http_qlm_webhook_unescape(r->pool, &arg->value) != NGX_OK) {
            return NGX_ERROR;
        }

        arg->state = NGX_HTTP_QLM_WEBHOOK_ARG_DECODED;
    }

    *value = arg->value;

    return NGX_OK;
}


/* each argument of a query or form to its slot, unless it has one */

static void
ngx_http_qlm_webhook_args_fill(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_http_qlm_webhook_ctx_t *ctx, ngx_str_t *s)
{
    u_char                       c, low[NGX_HTTP_QLM_WEBHOOK_ARG_NAME_MAX];
    size_t                       i;
    ngx_uint_t                   key, slot;
    const u_char                *pos, *last;
    qlm_form_field_t             field;
    ngx_http_qlm_webhook_arg_t  *arg;

    pos = s->data;
    last = s->data + s->len;

    while (qlm_form_next(&pos, last, &field)) {

        if (field.name_len > NGX_HTTP_QLM_WEBHOOK_ARG_NAME_MAX) {
            continue;
        }

        key = 0;

        for (i = 0; i < field.name_len; i++) {
            c = ngx_tolower(field.name[i]);
            low[i] = c;
            key = ngx_hash(key, c);
        }

        slot = (ngx_uint_t) (uintptr_t) ngx_hash_find(&mcf->args_hash, key,
                                                      low, field.name_len);
        if (slot == 0 || ctx->slots[slot - 1]) {
            continue;
        }

        /* out of memory: the argument is not found, as if not given */

        arg = ngx_array_push(&ctx->argv);
        if (arg == NULL) {
            return;
        }

        arg->value.data = (u_char *) field.value;
        arg->value.len = field.value_len;
        arg->state = qlm_form_encoded(field.value, field.value_len)
                     ? NGX_HTTP_QLM_WEBHOOK_ARG_ENCODED
                     : NGX_HTTP_QLM_WEBHOOK_ARG_DECODED;

        ctx->slots[slot - 1] = (u_short) ctx->argv.nelts;
    }
}


/*
 * The request body when it is a form (up to NGX_HTTP_QLM_WEBHOOK_FORM_MAX),
 * in one piece: copied once, and only once it is read whole (rest 0); a
 * lookup before then (a "set" in the rewrite phase) finds no field, and
 * leaves the body to a later lookup.
 */

static ngx_int_t
ngx_http_qlm_webhook_form(ngx_http_request_t *r,
    ngx_http_qlm_webhook_ctx_t *ctx)
{
    u_char                   *p, *start;
    off_t                     len;
    ssize_t                   n;
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_table_elt_t          *h;
    ngx_http_request_body_t  *rb;

    if (ctx->form_done) {
        return ctx->form.len ? NGX_OK : NGX_DECLINED;
    }

    h = r->headers_in.content_type;

    if (h == NULL
        || h->value.len < sizeof("application/x-www-form-urlencoded") - 1
        || ngx_strncasecmp(h->value.data,
                           (u_char *) "application/x-www-form-urlencoded",
                           sizeof("application/x-www-form-urlencoded") - 1)
           != 0)
    {
        /* a GET, or not a form: the request's headers stay as they are */
        ctx->form_done = 1;
        return NGX_DECLINED;
    }

    rb = r->request_body;

    if (rb == NULL || rb->rest != 0) {
        return NGX_DECLINED;
    }

    ctx->form_done = 1;

    if (rb->bufs == NULL) {
        return NGX_DECLINED;
    }

    len = 0;

    for (cl = rb->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len == 0 || len > NGX_HTTP_QLM_WEBHOOK_FORM_MAX) {
        return NGX_DECLINED;
    }

    start = ngx_pnalloc(r->pool, (size_t) len);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = start;

    for (cl = rb->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        if (b->in_file) {
            n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                              b->file_pos);

            if (n != b->file_last - b->file_pos) {
                return NGX_DECLINED;
            }

            p += n;
        }
    }

    ctx->form.data = start;
    ctx->form.len = p - start;

    return ctx->form.len ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_qlm_webhook_unescape(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    if (!qlm_form_encoded(s->data, s->len)) {
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, s->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    s->len = qlm_form_unescape(p, s->data, s->len);
    s->data = p;

    return NGX_OK;
}


/*
 * At the end of the http block nginx binds each $qlm_webhook_arg_NAME the
 * configuration uses to the prefix variable; here (init_module, before the
 * workers fork) each gets a slot and the slot's handler, and NAME (lowercase,
 * as variable names are) goes in the hash that the walk of a query or form
 * looks names up in.  A variable of that very name ("set") is not touched.
 */

ngx_int_t
ngx_http_qlm_webhook_args_init(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf)
{
    size_t                      plen;
    ngx_uint_t                  i;
    ngx_array_t                 names;
    ngx_hash_key_t             *hk;
    ngx_hash_init_t             hash;
    ngx_http_variable_t        *v;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_core_module);

    if (ngx_array_init(&names, cycle->pool, 16, sizeof(ngx_hash_key_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    plen = sizeof(NGX_HTTP_QLM_WEBHOOK_ARG_PREFIX) - 1;
    v = cmcf->variables.elts;

    for (i = 0; i < cmcf->variables.nelts; i++) {

        if (v[i].get_handler != ngx_http_qlm_webhook_arg_variable
            || v[i].name.len <= plen
            || v[i].name.len - plen > NGX_HTTP_QLM_WEBHOOK_ARG_NAME_MAX)
        {
            continue;
        }

        /* a request's index of its arguments is a short */

        if (names.nelts == 65535) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "more than 65535 $qlm_webhook_arg_ variables");
            return NGX_ERROR;
        }

        hk = ngx_array_push(&names);
        if (hk == NULL) {
            return NGX_ERROR;
        }

        hk->key.data = v[i].name.data + plen;
        hk->key.len = v[i].name.len - plen;
        hk->key_hash = ngx_hash_key(hk->key.data, hk->key.len);
        hk->value = (void *) (uintptr_t) names.nelts;

        v[i].get_handler = ngx_http_qlm_webhook_arg_slot_variable;
        v[i].data = names.nelts - 1;
    }

    mcf->nargs = names.nelts;

    if (ngx_http_qlm_webhook_fields_args(cycle, mcf, v) != NGX_OK) {
        return NGX_ERROR;
    }

    if (mcf->nargs == 0) {
        return NGX_OK;
    }

    hash.hash = &mcf->args_hash;
    hash.key = ngx_hash_key;
    hash.max_size = ngx_max(1024, 8 * names.nelts);
    hash.bucket_size = ngx_align(2 * sizeof(void *)
                                 + NGX_HTTP_QLM_WEBHOOK_ARG_NAME_MAX + 2,
                                 ngx_cacheline_size);
    hash.name = "qlm_webhook_arg_hash";
    hash.pool = cycle->pool;
    hash.temp_pool = NULL;

    return ngx_hash_init(&hash, names.elts, names.nelts);
}


/* the slots of a field whose variables are all arguments */

static ngx_int_t
ngx_http_qlm_webhook_fields_args(ngx_cycle_t *cycle,
    ngx_http_qlm_webhook_main_conf_t *mcf, ngx_http_variable_t *v)
{
    ngx_uint_t                     i, j, k, *index, *slot;
    ngx_array_t                  **lists;
    ngx_http_qlm_webhook_field_t  *f;

    if (mcf->field_lists == NULL) {
        return NGX_OK;
    }

    lists = mcf->field_lists->elts;

    for (i = 0; i < mcf->field_lists->nelts; i++) {
        f = lists[i]->elts;

        for (j = 0; j < lists[i]->nelts; j++) {
            f[j].arg = 0;
            f[j].args = NULL;

            if (f[j].vars == NULL) {
                continue;
            }

            index = f[j].vars->elts;

            for (k = 0; k < f[j].vars->nelts; k++) {
                if (v[index[k]].get_handler
                    != ngx_http_qlm_webhook_arg_slot_variable)
                {
                    break;
                }
            }

            if (k < f[j].vars->nelts) {
                continue;
            }

            /* one argument, the common case, is looked at without a loop */

            if (f[j].vars->nelts == 1) {
                f[j].arg = v[index[0]].data + 1;
                continue;
            }

            f[j].args = ngx_array_create(cycle->pool, f[j].vars->nelts,
                                         sizeof(ngx_uint_t));
            if (f[j].args == NULL) {
                return NGX_ERROR;
            }

            for (k = 0; k < f[j].vars->nelts; k++) {
                slot = ngx_array_push(f[j].args);
                *slot = v[index[k]].data;
            }
        }
    }

    return NGX_OK;
}


/* what the process keeps for reading answers, freed at its exit */

void
ngx_http_qlm_webhook_emit_exit(void)
{
    if (ngx_http_qlm_webhook_xpath_context) {
        xmlXPathFreeContext(ngx_http_qlm_webhook_xpath_context);
        ngx_http_qlm_webhook_xpath_context = NULL;
    }

    qlm_field_xml_done();
}


/* the XPath of every element named NAME, any namespace: walked in C */

static void
ngx_http_qlm_webhook_xpath_shape(ngx_http_qlm_webhook_field_t *field)
{
    u_char     *p, *last;
    ngx_str_t  *path;

    static u_char  head[] = "//*[local-name()='";
    static u_char  tail[] = "']";

    path = &field->path;

    if (path->len <= sizeof(head) - 1 + sizeof(tail) - 1
        || ngx_strncmp(path->data, head, sizeof(head) - 1) != 0
        || ngx_strncmp(path->data + path->len - (sizeof(tail) - 1), tail,
                       sizeof(tail) - 1) != 0)
    {
        return;
    }

    p = path->data + sizeof(head) - 1;
    last = path->data + path->len - (sizeof(tail) - 1);

    for (field->local_name.data = p; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'
              || *p == '.'))
        {
            field->local_name.data = NULL;
            return;
        }
    }

    field->local_name.len = last - field->local_name.data;
}


char *
ngx_http_qlm_webhook_compile_xpath(ngx_conf_t *cf,
    ngx_http_qlm_webhook_field_t *field)
{
    ngx_pool_cleanup_t  *cln;
    xmlXPathContextPtr   xc;

    xc = xmlXPathNewContext(NULL);
    if (xc == NULL) {
        return NGX_CONF_ERROR;
    }

    xc->error = ngx_http_qlm_webhook_xml_error;

    field->xpath = xmlXPathCtxtCompile(xc, field->path.data);

    xmlXPathFreeContext(xc);

    if (field->xpath == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid XPath \"%V\"", &field->path);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        xmlXPathFreeCompExpr(field->xpath);
        return NGX_CONF_ERROR;
    }

    cln->handler = (ngx_pool_cleanup_pt) xmlXPathFreeCompExpr;
    cln->data = field->xpath;

    ngx_http_qlm_webhook_xpath_shape(field);

    return NGX_CONF_OK;
}


/* one context a request, shared by emission and verification */

ngx_http_qlm_webhook_ctx_t *
ngx_http_qlm_webhook_get_ctx(ngx_http_request_t *r)
{
    ngx_http_qlm_webhook_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_qlm_webhook_module);

    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_qlm_webhook_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_qlm_webhook_module);

    return ctx;
}
