
/*
 * ngx_qlm_webhook_module: webhook URLs.
 *
 * A URL is parsed by libcurl's URL API (curl_url()), the parser that
 * CURLOPT_URL uses at delivery time, so that what nginx -t accepts is what
 * libcurl reaches.  log_url, the form written to logs and to the store's
 * invocation log, is computed here once per configured URL: without the
 * userinfo (credentials) and the query string (often a token).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <curl/curl.h>

#include "ngx_http_qlm_webhook_module.h"


static char *ngx_http_qlm_webhook_curl_error(ngx_pool_t *pool, CURLUcode rc);
static ngx_int_t ngx_http_qlm_webhook_url_part(ngx_pool_t *pool, CURLU *h,
    CURLUPart what, ngx_str_t *part);


char *
ngx_http_qlm_webhook_parse_url(ngx_pool_t *pool, ngx_str_t *s,
    ngx_http_qlm_webhook_url_t *u)
{
    u_char     *p, *last, *str;
    char       *rv, *port;
    CURLU      *h;
    CURLUcode   rc;
    ngx_int_t   n;
    ngx_str_t   part;

    ngx_memzero(u, sizeof(ngx_http_qlm_webhook_url_t));

    u->url = *s;
    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            return "contains a space or a control character";
        }
    }

    str = ngx_pnalloc(pool, s->len + 1);
    if (str == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(str, s->data, s->len);
    str[s->len] = '\0';

    h = curl_url();
    if (h == NULL) {
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;

    rc = curl_url_set(h, CURLUPART_URL, (char *) str, 0);

    if (rc == CURLUE_BAD_SCHEME || rc == CURLUE_UNSUPPORTED_SCHEME) {
        rv = "must start with \"http://\" or \"https://\"";
        goto done;
    }

    if (rc != CURLUE_OK) {
        rv = ngx_http_qlm_webhook_curl_error(pool, rc);
        goto done;
    }

    if (ngx_http_qlm_webhook_url_part(pool, h, CURLUPART_SCHEME, &part)
        != NGX_OK)
    {
        goto done;
    }

    /* libcurl knows other schemes (ftp, file...): webhooks are HTTP */

    if (part.len == 4 && ngx_strncmp(part.data, "http", 4) == 0) {
        u->port = 80;

    } else if (part.len == 5 && ngx_strncmp(part.data, "https", 5) == 0) {
        u->port = 443;
        u->https = 1;

    } else {
        rv = "must start with \"http://\" or \"https://\"";
        goto done;
    }

    /* "http:///x": libcurl would take "x" for the host */

    p = (u_char *) ngx_strnstr(s->data, "://", s->len);

    if (p != NULL && p + 3 < last && p[3] == '/') {
        rv = "has no host";
        goto done;
    }

    /* libcurl never sends a fragment: one in the URL is a mistake */

    if (ngx_strlchr(s->data, last, '#') != NULL) {
        rv = "must not contain a fragment";
        goto done;
    }

    if (ngx_http_qlm_webhook_url_part(pool, h, CURLUPART_HOST, &u->host)
        != NGX_OK)
    {
        goto done;
    }

    if (u->host.len == 0) {
        rv = "has no host";
        goto done;
    }

    rc = curl_url_get(h, CURLUPART_PORT, &port, 0);

    if (rc == CURLUE_OK) {
        n = ngx_atoi((u_char *) port, ngx_strlen(port));
        curl_free(port);

        /* libcurl takes port 0, a connection never succeeds */

        if (n < 1 || n > 65535) {
            rv = "has an invalid port";
            goto done;
        }

        u->port = (in_port_t) n;

    } else if (rc != CURLUE_NO_PORT) {
        rv = ngx_http_qlm_webhook_curl_error(pool, rc);
        goto done;
    }

    if (curl_url_set(h, CURLUPART_USER, NULL, 0) != CURLUE_OK
        || curl_url_set(h, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK
        || curl_url_set(h, CURLUPART_OPTIONS, NULL, 0) != CURLUE_OK
        || curl_url_set(h, CURLUPART_QUERY, NULL, 0) != CURLUE_OK)
    {
        goto done;
    }

    if (ngx_http_qlm_webhook_url_part(pool, h, CURLUPART_URL, &u->log_url)
        != NGX_OK)
    {
        goto done;
    }

    rv = NGX_CONF_OK;

done:

    curl_url_cleanup(h);

    return rv;
}


/* the common errors in our words, the others in libcurl's, lowercase */

static char *
ngx_http_qlm_webhook_curl_error(ngx_pool_t *pool, CURLUcode rc)
{
    u_char      *p;
    size_t       len;
    const char  *text;

    switch (rc) {

    case CURLUE_NO_HOST:
        return "has no host";

    case CURLUE_BAD_PORT_NUMBER:
        return "has an invalid port";

    case CURLUE_BAD_IPV6:
        return "has an invalid IPv6 address";

    case CURLUE_BAD_HOSTNAME:
        return "has an invalid host";

    default:
        break;
    }

    text = curl_url_strerror(rc);
    len = ngx_strlen(text);

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(p, text, len + 1);

    if (len > 1 && p[1] != ' ' && !(p[1] >= 'A' && p[1] <= 'Z')) {
        /* "Bad IPv6 address", not "URL ..." or "IPv6 ..." */
        p[0] = ngx_tolower(p[0]);
    }

    return (char *) p;
}


static ngx_int_t
ngx_http_qlm_webhook_url_part(ngx_pool_t *pool, CURLU *h, CURLUPart what,
    ngx_str_t *part)
{
    char  *s;

    if (curl_url_get(h, what, &s, 0) != CURLUE_OK) {
        return NGX_ERROR;
    }

    part->len = ngx_strlen(s);
    part->data = ngx_pnalloc(pool, part->len);

    if (part->data == NULL) {
        curl_free(s);
        return NGX_ERROR;
    }

    ngx_memcpy(part->data, s, part->len);
    curl_free(s);

    return NGX_OK;
}


/*
 * An invalid URL as shown in an error message: without what follows the
 * last "@" of the authority or a "?", since a URL that libcurl could not
 * parse may still carry credentials or a token.
 */

ngx_str_t
ngx_http_qlm_webhook_url_display(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char     *p, *host, *rest, *last, *end;
    ngx_str_t   d;

    last = s->data + s->len;

    p = (u_char *) ngx_strnstr(s->data, "://", s->len);
    host = (p == NULL) ? s->data : p + 3;

    for (rest = host; rest < last; rest++) {
        if (*rest == '/' || *rest == '?' || *rest == '#') {
            break;
        }
    }

    for (p = rest; p > host; p--) {
        if (p[-1] == '@') {
            break;
        }
    }

    end = ngx_strlchr(rest, last, '?');
    if (end == NULL) {
        end = last;
    }

    d.len = (host - s->data) + (end - p);
    d.data = ngx_pnalloc(pool, d.len);

    if (d.data == NULL) {
        ngx_str_set(&d, "(URL)");
        return d;
    }

    ngx_memcpy(ngx_cpymem(d.data, s->data, host - s->data), p, end - p);

    return d;
}


/* "url[;url...]" as QLM reads it: empty elements and spaces are ignored */

char *
ngx_http_qlm_webhook_parse_url_list(ngx_conf_t *cf, ngx_str_t *list,
    ngx_array_t *urls)
{
    u_char                      *p, *start, *end, *last;
    char                        *rv;
    ngx_str_t                    s, d;
    ngx_uint_t                   i, n;
    ngx_http_qlm_webhook_url_t  *u, *old;

    n = 0;
    last = list->data + list->len;

    for (start = list->data; start < last; start = end + 1) {

        end = ngx_strlchr(start, last, ';');
        if (end == NULL) {
            end = last;
        }

        p = end;

        while (start < p && (*start == ' ' || *start == '\t')) {
            start++;
        }

        while (p > start && (p[-1] == ' ' || p[-1] == '\t')) {
            p--;
        }

        if (p == start) {
            continue;
        }

        s.data = start;
        s.len = p - start;

        u = ngx_array_push(urls);
        if (u == NULL) {
            return NGX_CONF_ERROR;
        }

        rv = ngx_http_qlm_webhook_parse_url(cf->pool, &s, u);

        if (rv != NGX_CONF_OK) {
            d = ngx_http_qlm_webhook_url_display(cf->pool, &s);

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid URL \"%V\": %s",
                               &d, rv == NGX_CONF_ERROR
                                   ? "cannot be parsed" : rv);
            return NGX_CONF_ERROR;
        }

        old = urls->elts;

        for (i = 0; i < urls->nelts - 1; i++) {
            if (old[i].url.len == s.len
                && ngx_strncmp(old[i].url.data, s.data, s.len) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate URL \"%V\"", &u->log_url);
                return NGX_CONF_ERROR;
            }
        }

        n++;
    }

    if (n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty URL list \"%V\"", list);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * log_url of a queued item's URL: the one computed at configuration time,
 * or, for an item queued under an earlier configuration, parsed now.
 */

void
ngx_http_qlm_webhook_log_url(ngx_http_qlm_webhook_main_conf_t *mcf,
    ngx_pool_t *pool, ngx_str_t *url, ngx_str_t *log_url)
{
    ngx_uint_t                    i, k, t, ntasks;
    ngx_array_t                  *a;
    ngx_http_qlm_webhook_url_t   *u, parsed;
    ngx_http_qlm_webhook_task_t  *task;

    task = (mcf->tasks != NULL) ? mcf->tasks->elts : NULL;
    ntasks = (mcf->tasks != NULL) ? mcf->tasks->nelts : 0;

    for (i = 0; i < NGX_HTTP_QLM_WEBHOOK_NEVENTS + ntasks; i++) {

        a = (i < NGX_HTTP_QLM_WEBHOOK_NEVENTS)
            ? &mcf->urls[i] : &task[i - NGX_HTTP_QLM_WEBHOOK_NEVENTS].urls;

        u = a->elts;
        t = (u != NULL) ? a->nelts : 0;

        for (k = 0; k < t; k++) {
            if (u[k].url.len == url->len
                && ngx_strncmp(u[k].url.data, url->data, url->len) == 0)
            {
                *log_url = u[k].log_url;
                return;
            }
        }
    }

    if (ngx_http_qlm_webhook_parse_url(pool, url, &parsed) == NGX_CONF_OK) {
        *log_url = parsed.log_url;
        return;
    }

    ngx_str_set(log_url, "(invalid URL)");
}
