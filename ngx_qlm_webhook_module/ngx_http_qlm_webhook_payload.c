
/*
 * ngx_qlm_webhook_module: events and payloads.
 *
 * The events by name, and the objects they are about.
 *
 * Bodies are compact JSON with QLM's PascalCase keys, in QLM's order, and
 * dates as yyyy-MM-ddTHH:mm:ss without a zone (the server's local time).
 * The JSON itself is written by qlm_payload.c, which has no nginx in it so
 * that its fuzzer runs alone; this file gives it nginx's strings and pools.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_qlm_webhook_module.h"
#include "qlm_payload.h"


static ngx_int_t ngx_http_qlm_webhook_fields(ngx_pool_t *pool,
    ngx_array_t *values, qlm_payload_field_t **fields);


ngx_str_t  ngx_http_qlm_webhook_event_names[] = {
    ngx_string("license_activated"),
    ngx_string("license_created"),
    ngx_string("license_deleted"),
    ngx_string("license_released"),
    ngx_string("license_modified"),
    ngx_string("customer_created"),
    ngx_string("customer_deleted"),
    ngx_string("customer_modified"),
    ngx_null_string
};


ngx_int_t
ngx_http_qlm_webhook_event_by_name(ngx_str_t *name)
{
    ngx_int_t  i;

    for (i = 0; i < NGX_HTTP_QLM_WEBHOOK_NEVENTS; i++) {
        if (name->len == ngx_http_qlm_webhook_event_names[i].len
            && ngx_strncmp(name->data, ngx_http_qlm_webhook_event_names[i].data,
                           name->len)
               == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


ngx_uint_t
ngx_http_qlm_webhook_event_object(ngx_uint_t event)
{
    return event >= NGX_HTTP_QLM_WEBHOOK_CUSTOMER_CREATED
           ? NGX_HTTP_QLM_WEBHOOK_CUSTOMER : NGX_HTTP_QLM_WEBHOOK_LICENSE;
}


/* 16 bytes as a UUID of the given version (4 random, 5 name-based) */

ngx_int_t
ngx_http_qlm_webhook_uuid(ngx_pool_t *pool, u_char *r, ngx_uint_t version,
    ngx_str_t *id)
{
    u_char  *p;

    r[6] = (u_char) ((r[6] & 0x0f) | (version << 4));
    r[8] = (r[8] & 0x3f) | 0x80;

    p = ngx_pnalloc(pool, 36);
    if (p == NULL) {
        return NGX_ERROR;
    }

    id->data = p;

    p = ngx_hex_dump(p, r, 4);
    *p++ = '-';
    p = ngx_hex_dump(p, r + 4, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, r + 6, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, r + 8, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, r + 10, 6);

    id->len = p - id->data;

    return NGX_OK;
}


/* a random UUID: stable across retries, unique across proxies */

/*
 * OpenSSL's generator costs some 6,000 instructions a call, whatever the
 * size: its bytes are taken 4 KiB at a time.  The pid is checked so that
 * no two processes ever hand out the bytes of one buffer (a buffer filled
 * before a fork would be in every worker).
 */

#define NGX_HTTP_QLM_WEBHOOK_RANDOM  4096

static u_char      ngx_http_qlm_webhook_random[NGX_HTTP_QLM_WEBHOOK_RANDOM];
static size_t      ngx_http_qlm_webhook_random_used
                                   = NGX_HTTP_QLM_WEBHOOK_RANDOM;
static ngx_pid_t   ngx_http_qlm_webhook_random_pid;

/* the Timestamp of the events of one second, local time */
static time_t      ngx_http_qlm_webhook_stamp_time = -1;
static u_char      ngx_http_qlm_webhook_stamp[sizeof("yyyy-mm-ddThh:mm:ss")];


ngx_int_t
ngx_http_qlm_webhook_event_id(ngx_pool_t *pool, ngx_str_t *id)
{
    u_char  *r;

    if (ngx_http_qlm_webhook_random_pid != ngx_pid
        || ngx_http_qlm_webhook_random_used + 16
           > NGX_HTTP_QLM_WEBHOOK_RANDOM)
    {
        if (RAND_bytes(ngx_http_qlm_webhook_random,
                       NGX_HTTP_QLM_WEBHOOK_RANDOM) != 1)
        {
            return NGX_ERROR;
        }

        ngx_http_qlm_webhook_random_used = 0;
        ngx_http_qlm_webhook_random_pid = ngx_pid;
    }

    r = ngx_http_qlm_webhook_random + ngx_http_qlm_webhook_random_used;
    ngx_http_qlm_webhook_random_used += 16;

    return ngx_http_qlm_webhook_uuid(pool, r, 4, id);
}


/* the values as qlm_payload's fields: the strings are shared */

static ngx_int_t
ngx_http_qlm_webhook_fields(ngx_pool_t *pool, ngx_array_t *values,
    qlm_payload_field_t **fields)
{
    ngx_uint_t            i;
    ngx_keyval_t         *kv;
    qlm_payload_field_t  *f;

    f = ngx_palloc(pool, (values->nelts + 1) * sizeof(qlm_payload_field_t));
    if (f == NULL) {
        return NGX_ERROR;
    }

    kv = values->elts;

    for (i = 0; i < values->nelts; i++) {
        f[i].name.data = kv[i].key.data;
        f[i].name.len = kv[i].key.len;
        f[i].value.data = kv[i].value.data;
        f[i].value.len = kv[i].value.len;
    }

    *fields = f;

    return NGX_OK;
}


/*
 * {"EventType":"...","EventId":"...","Timestamp":"...","LicenseInfo":{...}}
 * with CustomerInfo for customer events.
 */

ngx_int_t
ngx_http_qlm_webhook_event_payload(ngx_pool_t *pool, ngx_uint_t event,
    ngx_str_t *event_id, time_t now, ngx_array_t *values, ngx_str_t *out)
{
    size_t                len;
    ngx_tm_t              tm;
    unsigned              kind;
    ngx_str_t            *name;
    qlm_payload_str_t     ev, id, stamp;
    qlm_payload_field_t  *fields;

    if (ngx_http_qlm_webhook_fields(pool, values, &fields) != NGX_OK) {
        return NGX_ERROR;
    }

    kind = ngx_http_qlm_webhook_event_object(event)
           == NGX_HTTP_QLM_WEBHOOK_LICENSE
           ? QLM_PAYLOAD_LICENSE : QLM_PAYLOAD_CUSTOMER;

    name = &ngx_http_qlm_webhook_event_names[event];

    /* the second's text, made once a second: a busy worker's events share */

    if (now != ngx_http_qlm_webhook_stamp_time) {
        ngx_localtime(now, &tm);

        (void) ngx_sprintf(ngx_http_qlm_webhook_stamp,
                           "%4d-%02d-%02dT%02d:%02d:%02d",
                           tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                           tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

        ngx_http_qlm_webhook_stamp_time = now;
    }

    stamp.data = ngx_http_qlm_webhook_stamp;
    stamp.len = sizeof("yyyy-mm-ddThh:mm:ss") - 1;

    ev.data = name->data;
    ev.len = name->len;
    id.data = event_id->data;
    id.len = event_id->len;

    /* one pass, into room for the longest it can be */

    len = qlm_payload_event_max(&ev, &id, &stamp, fields, values->nelts);

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = qlm_payload_event(out->data, kind, &ev, &id, &stamp, fields,
                                 values->nelts);

    return NGX_OK;
}


/* a scheduled task's, exactly as QLM sends it */

ngx_int_t
ngx_http_qlm_webhook_task_payload(ngx_pool_t *pool, ngx_str_t *task,
    ngx_str_t *user_data, ngx_array_t *values, ngx_str_t *out)
{
    size_t                len;
    qlm_payload_str_t     name, data;
    qlm_payload_field_t  *fields;

    if (ngx_http_qlm_webhook_fields(pool, values, &fields) != NGX_OK) {
        return NGX_ERROR;
    }

    name.data = task->data;
    name.len = task->len;
    data.data = user_data->data;
    data.len = user_data->len;

    len = qlm_payload_task(NULL, &name, &data, fields, values->nelts);

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = qlm_payload_task(out->data, &name, &data, fields,
                                values->nelts);

    return NGX_OK;
}
