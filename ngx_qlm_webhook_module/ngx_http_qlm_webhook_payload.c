
/*
 * ngx_qlm_webhook_module: payloads.
 *
 * Bodies are compact JSON with QLM's PascalCase keys, in QLM's order, and
 * dates as yyyy-MM-ddTHH:mm:ss without a zone (the server's local time).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_qlm_webhook_module.h"


#define S  NGX_HTTP_QLM_WEBHOOK_TYPE_STRING
#define I  NGX_HTTP_QLM_WEBHOOK_TYPE_INT
#define B  NGX_HTTP_QLM_WEBHOOK_TYPE_BOOL
#define D  NGX_HTTP_QLM_WEBHOOK_TYPE_DATE
#define L  NGX_HTTP_QLM_WEBHOOK_LICENSE
#define C  NGX_HTTP_QLM_WEBHOOK_CUSTOMER


/* LicenseInfo in QLM's order, then CustomerInfo */

ngx_http_qlm_webhook_key_t  ngx_http_qlm_webhook_keys[] = {
    { ngx_string("LicenseUpdatedOnServer"), B, L },
    { ngx_string("ActivationKey"), S, L },
    { ngx_string("FullName"), S, L|C },
    { ngx_string("Country"), S, L|C },
    { ngx_string("AffiliateID"), S, L },
    { ngx_string("Email"), S, L|C },
    { ngx_string("Duration"), I, L },
    { ngx_string("ExpiryDate"), D, L },
    { ngx_string("UsesAdminEncryption"), B, L },
    { ngx_string("MaintenanceRenewalDate"), D, L },
    { ngx_string("Features"), S, L },
    { ngx_string("OrderID"), S, L },
    { ngx_string("ReceiptID"), S, L },
    { ngx_string("SubscriptionID"), S, L },
    { ngx_string("LicenseModel"), I, L },
    { ngx_string("ProductID"), I, L },
    { ngx_string("MajorVersion"), I, L },
    { ngx_string("MinorVersion"), I, L },
    { ngx_string("NumLicenses"), I, L },
    { ngx_string("FloatingSeats"), I, L },
    { ngx_string("UserData"), S, L },
    { ngx_string("NewFeatures"), S, L },
    { ngx_string("NewFloatingSeats"), I, L },
    { ngx_string("ComputerID"), S, L },
    { ngx_string("ComputerName"), S, L },
    { ngx_string("Comment"), S, L|C },
    { ngx_string("LegacyKey"), S, L },
    { ngx_string("AvailableLicenses"), I, L },
    { ngx_string("OrderDate"), D, L },
    { ngx_string("ProductProperties"), S, L },
    { ngx_string("BundleID"), I, L },
    { ngx_string("ProductName"), S, L },
    { ngx_string("MaxReleaseCount"), I, L },
    { ngx_string("MaxReleasePeriodInDays"), I, L },
    { ngx_string("OrganizationID"), I, L },

    { ngx_string("CustomerID"), I, C },
    { ngx_string("Company"), S, C },
    { ngx_string("Address1"), S, C },
    { ngx_string("Address2"), S, C },
    { ngx_string("City"), S, C },
    { ngx_string("State"), S, C },
    { ngx_string("Zip"), S, C },
    { ngx_string("Phone"), S, C },
    { ngx_string("Fax"), S, C },
    { ngx_string("ContactID"), I, C },
    { ngx_null_string, 0, 0 }
};

#undef S
#undef I
#undef B
#undef D
#undef L
#undef C


static ngx_http_qlm_webhook_key_t *ngx_http_qlm_webhook_key(ngx_str_t *name);
static ngx_int_t ngx_http_qlm_webhook_date(u_char *p, size_t len,
    ngx_tm_t *tm);


ngx_uint_t
ngx_http_qlm_webhook_event_object(ngx_uint_t event)
{
    return event >= NGX_HTTP_QLM_WEBHOOK_CUSTOMER_CREATED
           ? NGX_HTTP_QLM_WEBHOOK_CUSTOMER : NGX_HTTP_QLM_WEBHOOK_LICENSE;
}


static ngx_http_qlm_webhook_key_t *
ngx_http_qlm_webhook_key(ngx_str_t *name)
{
    ngx_http_qlm_webhook_key_t  *k;

    for (k = ngx_http_qlm_webhook_keys; k->name.len; k++) {
        if (k->name.len == name->len
            && ngx_strncmp(k->name.data, name->data, name->len) == 0)
        {
            return k;
        }
    }

    return NULL;
}


size_t
ngx_http_qlm_webhook_json_string_len(ngx_str_t *s)
{
    return 2 + s->len + ngx_escape_json(NULL, s->data, s->len);
}


u_char *
ngx_http_qlm_webhook_json_string(u_char *p, ngx_str_t *s)
{
    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, s->data, s->len);
    *p++ = '"';

    return p;
}


/*
 * A value as JSON for its key's type.  A value that does not read as its
 * type is kept as a string, so that nothing the license server said is lost.
 */

ngx_int_t
ngx_http_qlm_webhook_json_value(ngx_pool_t *pool, ngx_uint_t type,
    ngx_str_t *value, ngx_str_t *out)
{
    u_char    *p;
    size_t     i;
    ngx_tm_t   tm;

    switch (type) {

    case NGX_HTTP_QLM_WEBHOOK_TYPE_INT:
        i = (value->len > 1 && value->data[0] == '-') ? 1 : 0;

        if (value->len > i && value->len - i <= 18) {
            for ( /* void */ ; i < value->len; i++) {
                if (value->data[i] < '0' || value->data[i] > '9') {
                    break;
                }
            }

            if (i == value->len) {
                *out = *value;
                return NGX_OK;
            }
        }

        break;

    case NGX_HTTP_QLM_WEBHOOK_TYPE_BOOL:
        if ((value->len == 4
             && ngx_strncasecmp(value->data, (u_char *) "true", 4) == 0)
            || (value->len == 1 && value->data[0] == '1'))
        {
            ngx_str_set(out, "true");
            return NGX_OK;
        }

        if ((value->len == 5
             && ngx_strncasecmp(value->data, (u_char *) "false", 5) == 0)
            || (value->len == 1 && value->data[0] == '0'))
        {
            ngx_str_set(out, "false");
            return NGX_OK;
        }

        break;

    case NGX_HTTP_QLM_WEBHOOK_TYPE_DATE:
        if (ngx_http_qlm_webhook_date(value->data, value->len, &tm) != NGX_OK) {
            break;
        }

        p = ngx_pnalloc(pool, sizeof("\"yyyy-mm-ddThh:mm:ss\"") - 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        out->data = p;
        out->len = ngx_sprintf(p, "\"%4d-%02d-%02dT%02d:%02d:%02d\"",
                               tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                               tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec)
                   - p;
        return NGX_OK;

    default:
        break;
    }

    p = ngx_pnalloc(pool, ngx_http_qlm_webhook_json_string_len(value));
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    out->len = ngx_http_qlm_webhook_json_string(p, value) - p;

    return NGX_OK;
}


/*
 * yyyy-MM-dd, yyyy-MM-ddTHH:mm[:ss][.fff][zone], yyyy-MM-dd HH:mm[:ss],
 * and QLM's US form M/d/yyyy [h:mm[:ss] [AM|PM]]; the zone is dropped.
 */

static ngx_int_t
ngx_http_qlm_webhook_date(u_char *p, size_t len, ngx_tm_t *tm)
{
    u_char     *last;
    ngx_int_t   n[6], i, k;

    last = p + len;

    ngx_memzero(n, sizeof(n));

    for (i = 0; i < 6 && p < last; i++) {

        if (*p < '0' || *p > '9') {
            break;
        }

        for (k = 0; p < last && *p >= '0' && *p <= '9' && k < 5; p++, k++) {
            n[i] = n[i] * 10 + (*p - '0');
        }

        if (p == last) {
            i++;
            break;
        }

        if (*p == '-' || *p == '/' || *p == ':' || *p == 'T' || *p == ' ') {
            p++;
            continue;
        }

        i++;
        break;
    }

    if (i < 3) {
        return NGX_ERROR;
    }

    ngx_memzero(tm, sizeof(ngx_tm_t));

    if (n[0] >= 1000) {
        tm->ngx_tm_year = n[0];
        tm->ngx_tm_mon = n[1];
        tm->ngx_tm_mday = n[2];

    } else if (n[2] >= 1000) {
        tm->ngx_tm_year = n[2];
        tm->ngx_tm_mon = n[0];
        tm->ngx_tm_mday = n[1];

    } else {
        return NGX_ERROR;
    }

    tm->ngx_tm_hour = n[3];
    tm->ngx_tm_min = n[4];
    tm->ngx_tm_sec = n[5];

    while (p < last && *p == ' ') {
        p++;
    }

    if (last - p >= 2 && (p[1] == 'M' || p[1] == 'm')) {
        if ((p[0] == 'P' || p[0] == 'p') && tm->ngx_tm_hour < 12) {
            tm->ngx_tm_hour += 12;

        } else if ((p[0] == 'A' || p[0] == 'a') && tm->ngx_tm_hour == 12) {
            tm->ngx_tm_hour = 0;
        }
    }

    if (tm->ngx_tm_mon < 1 || tm->ngx_tm_mon > 12
        || tm->ngx_tm_mday < 1 || tm->ngx_tm_mday > 31
        || tm->ngx_tm_hour > 23 || tm->ngx_tm_min > 59
        || tm->ngx_tm_sec > 60)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
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

ngx_int_t
ngx_http_qlm_webhook_event_id(ngx_pool_t *pool, ngx_str_t *id)
{
    u_char  r[16];

    if (RAND_bytes(r, sizeof(r)) != 1) {
        return NGX_ERROR;
    }

    return ngx_http_qlm_webhook_uuid(pool, r, 4, id);
}


/*
 * The object of a payload, "{...}": known keys in QLM's order, then keys
 * QLM does not define, in the order they were configured; known keys of
 * the other object (kind) are left out.
 */

static ngx_int_t
ngx_http_qlm_webhook_object(ngx_pool_t *pool, ngx_uint_t kind,
    ngx_array_t *values, ngx_str_t *out)
{
    u_char                      *p;
    size_t                       len;
    ngx_str_t                   *json;
    ngx_uint_t                   i, n, first, type;
    ngx_keyval_t                *kv;
    ngx_http_qlm_webhook_key_t  *k;

    kv = values->elts;
    n = values->nelts;

    /* the JSON form of each value; empty when it is left out */

    json = ngx_pcalloc(pool, (n + 1) * sizeof(ngx_str_t));
    if (json == NULL) {
        return NGX_ERROR;
    }

    len = 2;

    for (i = 0; i < n; i++) {
        k = ngx_http_qlm_webhook_key(&kv[i].key);

        if (k && !(k->objects & kind)) {
            continue;
        }

        type = k ? k->type : NGX_HTTP_QLM_WEBHOOK_TYPE_STRING;

        if (ngx_http_qlm_webhook_json_value(pool, type, &kv[i].value, &json[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        len += ngx_http_qlm_webhook_json_string_len(&kv[i].key) + 2
               + json[i].len;
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    *p++ = '{';
    first = 1;

    for (k = ngx_http_qlm_webhook_keys; k->name.len; k++) {
        for (i = 0; i < n; i++) {
            if (json[i].len == 0
                || kv[i].key.len != k->name.len
                || ngx_strncmp(kv[i].key.data, k->name.data, k->name.len) != 0)
            {
                continue;
            }

            if (!first) {
                *p++ = ',';
            }

            first = 0;
            p = ngx_http_qlm_webhook_json_string(p, &kv[i].key);
            *p++ = ':';
            p = ngx_cpymem(p, json[i].data, json[i].len);
            json[i].len = 0;
        }
    }

    for (i = 0; i < n; i++) {
        if (json[i].len == 0) {
            continue;
        }

        if (!first) {
            *p++ = ',';
        }

        first = 0;
        p = ngx_http_qlm_webhook_json_string(p, &kv[i].key);
        *p++ = ':';
        p = ngx_cpymem(p, json[i].data, json[i].len);
    }

    *p++ = '}';

    out->len = p - out->data;

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
    u_char      *p;
    ngx_tm_t     tm;
    ngx_str_t   *name, object, obj;
    ngx_uint_t   kind;

    kind = ngx_http_qlm_webhook_event_object(event);
    name = &ngx_http_qlm_webhook_event_names[event];

    if (kind == NGX_HTTP_QLM_WEBHOOK_LICENSE) {
        ngx_str_set(&object, "LicenseInfo");

    } else {
        ngx_str_set(&object, "CustomerInfo");
    }

    if (ngx_http_qlm_webhook_object(pool, kind, values, &obj) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, sizeof("{\"EventType\":,\"EventId\":,\"Timestamp\":"
                                 "\"yyyy-mm-ddThh:mm:ss\",\"\":}") - 1
                          + ngx_http_qlm_webhook_json_string_len(name)
                          + ngx_http_qlm_webhook_json_string_len(event_id)
                          + object.len + obj.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    ngx_localtime(now, &tm);

    p = ngx_cpymem(p, "{\"EventType\":", sizeof("{\"EventType\":") - 1);
    p = ngx_http_qlm_webhook_json_string(p, name);
    p = ngx_cpymem(p, ",\"EventId\":", sizeof(",\"EventId\":") - 1);
    p = ngx_http_qlm_webhook_json_string(p, event_id);
    p = ngx_sprintf(p, ",\"Timestamp\":\"%4d-%02d-%02dT%02d:%02d:%02d\","
                    "\"%V\":%V}",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                    &object, &obj);

    out->len = p - out->data;

    return NGX_OK;
}


/* a scheduled task's, exactly as QLM sends it */

ngx_int_t
ngx_http_qlm_webhook_task_payload(ngx_pool_t *pool, ngx_str_t *task,
    ngx_str_t *user_data, ngx_array_t *values, ngx_str_t *out)
{
    u_char     *p;
    ngx_str_t   obj;

    if (ngx_http_qlm_webhook_object(pool, NGX_HTTP_QLM_WEBHOOK_LICENSE,
                                    values, &obj)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, sizeof("{\"Name\":,\"WebHookUserData\":,"
                                 "\"LicenseInfo\":}") - 1
                          + ngx_http_qlm_webhook_json_string_len(task)
                          + ngx_http_qlm_webhook_json_string_len(user_data)
                          + obj.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    p = ngx_cpymem(p, "{\"Name\":", sizeof("{\"Name\":") - 1);
    p = ngx_http_qlm_webhook_json_string(p, task);
    p = ngx_cpymem(p, ",\"WebHookUserData\":",
                   sizeof(",\"WebHookUserData\":") - 1);
    p = ngx_http_qlm_webhook_json_string(p, user_data);
    p = ngx_cpymem(p, ",\"LicenseInfo\":", sizeof(",\"LicenseInfo\":") - 1);
    p = ngx_cpymem(p, obj.data, obj.len);
    *p++ = '}';

    out->len = p - out->data;

    return NGX_OK;
}
