
/*
 * ngx_qlm_webhook_module: a webhook's POST on nginx's own connections.
 *
 * For "http://" URLs whose host is an IP address, the delivery needs no
 * library: the request is written whole, the answer is read and parsed
 * here (the status line, the headers that matter, a body by
 * Content-Length, by chunks or up to the connection's close), and the
 * connection is kept alive in a cache of the worker's for the next
 * attempt to the same address, as nginx's upstream keepalive does.
 * libcurl keeps https, host names and credentials in the URL.
 *
 * With qlm_webhook_pipeline above 1, the requests to one address that
 * start in one turn of the event loop share a kept connection: they go
 * out in one write, and the answers are read in their order (HTTP/1.1
 * pipelining).  When that connection is lost, the requests not answered
 * yet start again, each on a connection of its own: a receiver may get
 * one twice, and tells by its webhook-id.
 *
 * A client that knows no more than this costs a small part of libcurl's
 * work a transfer: no URL parsing into parts at every attempt, no
 * allocation per header, no connection-cache search by host name.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qlm_webhook_module.h"


#define NGX_HTTP_QLM_WEBHOOK_HTTP_IDLE       256     /* kept connections */
#define NGX_HTTP_QLM_WEBHOOK_HTTP_IDLE_TIME  60000   /* ms */
#define NGX_HTTP_QLM_WEBHOOK_HTTP_HEADER     8192    /* the answer's header */


typedef struct {
    ngx_queue_t                        queue;
    ngx_connection_t                  *connection;
    ngx_http_qlm_webhook_keepalive_t  *keepalive;
    socklen_t                          socklen;
    ngx_sockaddr_t                     sockaddr;
} ngx_http_qlm_webhook_idle_t;


struct ngx_http_qlm_webhook_keepalive_s {
    ngx_queue_t                        cache;     /* most recent first */
    ngx_queue_t                        gathering; /* heads not written yet */
    ngx_queue_t                        free;
    ngx_uint_t                         nidle;
    ngx_log_t                         *log;
    ngx_http_qlm_webhook_idle_t        idle[NGX_HTTP_QLM_WEBHOOK_HTTP_IDLE];
};


enum {
    sw_header = 0,
    sw_length,
    sw_close,
    sw_chunk_size,
    sw_chunk_ext,
    sw_chunk_data,
    sw_chunk_data_end,
    sw_trailer,
    sw_trailer_line,
    sw_done
};


static void ngx_http_qlm_webhook_keepalive_drop(
    ngx_http_qlm_webhook_idle_t *idle);
static void ngx_http_qlm_webhook_http_go(ngx_http_qlm_webhook_http_t *h,
    ngx_uint_t group);
static ngx_int_t ngx_http_qlm_webhook_http_join(
    ngx_http_qlm_webhook_http_t *h);
static void ngx_http_qlm_webhook_http_ungather(ngx_http_qlm_webhook_http_t *h);
static ngx_int_t ngx_http_qlm_webhook_http_pass(
    ngx_http_qlm_webhook_http_t *h, ngx_connection_t *c);
static void ngx_http_qlm_webhook_http_scatter(ngx_http_qlm_webhook_http_t *h);
static void ngx_http_qlm_webhook_http_again(ngx_http_qlm_webhook_http_t *f);
static void ngx_http_qlm_webhook_http_unlink(ngx_http_qlm_webhook_http_t *h);
static ngx_int_t ngx_http_qlm_webhook_http_connect(
    ngx_http_qlm_webhook_http_t *h);
static void ngx_http_qlm_webhook_http_write(ngx_event_t *wev);
static void ngx_http_qlm_webhook_http_read(ngx_event_t *rev);
static ngx_int_t ngx_http_qlm_webhook_http_header(
    ngx_http_qlm_webhook_http_t *h);
static ngx_int_t ngx_http_qlm_webhook_http_body(ngx_http_qlm_webhook_http_t *h,
    ngx_buf_t *b);
static void ngx_http_qlm_webhook_http_retry(ngx_http_qlm_webhook_http_t *h);
static ngx_uint_t ngx_http_qlm_webhook_http_take(ngx_http_qlm_webhook_http_t *h,
    u_char **p, u_char *last);
static void ngx_http_qlm_webhook_http_keep(ngx_http_qlm_webhook_reply_t *a,
    u_char *p, size_t n);
static void ngx_http_qlm_webhook_http_timeout(ngx_event_t *ev);
static void ngx_http_qlm_webhook_http_fail(ngx_http_qlm_webhook_http_t *h,
    ngx_err_t err, const char *fmt, ...);
static void ngx_http_qlm_webhook_http_done(ngx_http_qlm_webhook_http_t *h,
    ngx_uint_t keep);
static void ngx_http_qlm_webhook_http_idle_handler(ngx_event_t *ev);
static void ngx_http_qlm_webhook_http_close(ngx_connection_t *c);
static void ngx_http_qlm_webhook_http_dummy(ngx_event_t *ev);


ngx_http_qlm_webhook_keepalive_t *
ngx_http_qlm_webhook_keepalive_create(ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_uint_t                         i;
    ngx_http_qlm_webhook_keepalive_t  *ka;

    ka = ngx_palloc(pool, sizeof(ngx_http_qlm_webhook_keepalive_t));
    if (ka == NULL) {
        return NULL;
    }

    ka->log = log;
    ka->nidle = 0;
    ngx_queue_init(&ka->cache);
    ngx_queue_init(&ka->gathering);
    ngx_queue_init(&ka->free);

    for (i = 0; i < NGX_HTTP_QLM_WEBHOOK_HTTP_IDLE; i++) {
        ka->idle[i].keepalive = ka;
        ka->idle[i].connection = NULL;
        ngx_queue_insert_tail(&ka->free, &ka->idle[i].queue);
    }

    return ka;
}


/* at the worker's exit: the kept connections are closed */

void
ngx_http_qlm_webhook_keepalive_close(ngx_http_qlm_webhook_keepalive_t *ka)
{
    ngx_queue_t                  *q;
    ngx_http_qlm_webhook_idle_t  *idle;

    while (!ngx_queue_empty(&ka->cache)) {
        q = ngx_queue_head(&ka->cache);
        idle = ngx_queue_data(q, ngx_http_qlm_webhook_idle_t, queue);
        ngx_http_qlm_webhook_keepalive_drop(idle);
    }
}


static void
ngx_http_qlm_webhook_keepalive_drop(ngx_http_qlm_webhook_idle_t *idle)
{
    ngx_queue_remove(&idle->queue);
    ngx_queue_insert_head(&idle->keepalive->free, &idle->queue);
    idle->keepalive->nidle--;

    ngx_http_qlm_webhook_http_close(idle->connection);
    idle->connection = NULL;
}


/* kept connections are nginx's to take back (ngx_drain_connections()) */

ngx_uint_t
ngx_http_qlm_webhook_keepalive_idle(ngx_http_qlm_webhook_keepalive_t *ka)
{
    return ka->nidle;
}


/*
 * The URL's address, Host and request target if this client takes it:
 * "http://", an IPv4 or [IPv6] address, an optional port, no userinfo,
 * and a path that libcurl would send as it is (no dot segments).
 * NGX_DECLINED: libcurl's.
 */

ngx_int_t
ngx_http_qlm_webhook_http_target(ngx_pool_t *pool, ngx_str_t *url,
    ngx_http_qlm_webhook_target_t *tg)
{
    u_char     *p, *last, *host, *host_end, *port;
    ngx_int_t   n;
    ngx_addr_t  addr;

    if (url->len < sizeof("http://") - 1 + 1
        || ngx_strncasecmp(url->data, (u_char *) "http://", 7) != 0)
    {
        return NGX_DECLINED;
    }

    p = url->data + 7;
    last = url->data + url->len;

    tg->authority.data = p;

    while (p < last && *p != '/' && *p != '?') {
        if (*p == '@' || *p == '#' || *p <= ' ' || *p >= 0x7f) {
            return NGX_DECLINED;
        }

        p++;
    }

    tg->authority.len = p - tg->authority.data;

    host = tg->authority.data;
    port = NULL;

    if (host < p && *host == '[') {
        host++;
        host_end = ngx_strlchr(host, p, ']');

        if (host_end == NULL) {
            return NGX_DECLINED;
        }

        if (host_end + 1 < p) {
            if (host_end[1] != ':') {
                return NGX_DECLINED;
            }

            port = host_end + 2;
        }

    } else {
        host_end = ngx_strlchr(host, p, ':');

        if (host_end == NULL) {
            host_end = p;

        } else {
            port = host_end + 1;
        }
    }

    if (host_end == host) {
        return NGX_DECLINED;
    }

    n = 80;

    if (port) {
        n = ngx_atoi(port, p - port);

        if (n < 1 || n > 65535) {
            return NGX_DECLINED;
        }

        /* Host names a port other than the scheme's only, as libcurl's */

        if (n == 80) {
            tg->authority.len = port - 1 - tg->authority.data;
        }
    }

    /* a name is libcurl's to resolve, without blocking */

    if (ngx_parse_addr(pool, &addr, host, host_end - host) != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_inet_set_port(addr.sockaddr, (in_port_t) n);

    tg->sockaddr = addr.sockaddr;
    tg->socklen = addr.socklen;

    /* what libcurl sends: "/" for none, dot segments resolved (its) */

    if (p == last) {
        ngx_str_set(&tg->path, "/");
        return NGX_OK;
    }

    if (ngx_strnstr(p, "/.", last - p) != NULL) {
        return NGX_DECLINED;
    }

    if (*p == '?') {
        tg->path.len = last - p + 1;
        tg->path.data = ngx_pnalloc(pool, tg->path.len);
        if (tg->path.data == NULL) {
            return NGX_ERROR;
        }

        tg->path.data[0] = '/';
        ngx_memcpy(tg->path.data + 1, p, last - p);

        return NGX_OK;
    }

    tg->path.data = p;
    tg->path.len = last - p;

    return NGX_OK;
}


/*
 * Sends h->request (the whole request, header and body) to h->target and
 * reads the answer; h->handler is called once, from the event loop,
 * never from here.  On NGX_ERROR nothing was started.
 */

ngx_int_t
ngx_http_qlm_webhook_http_start(ngx_http_qlm_webhook_http_t *h)
{
    h->timer.handler = ngx_http_qlm_webhook_http_timeout;
    h->timer.data = h;
    h->timer.log = h->log;
    h->start = ngx_current_msec;
    h->answer->retry_after = -1;

    h->buf = ngx_create_temp_buf(h->pool, 1024);
    if (h->buf == NULL) {
        return NGX_ERROR;
    }

    ngx_add_timer(&h->timer, h->timeout);

    ngx_http_qlm_webhook_http_go(h, h->pipeline > 1);

    return NGX_OK;
}


/*
 * The request goes behind one to the same address that is still
 * gathering (with "group"), or on a kept connection, or on a new one.
 */

static void
ngx_http_qlm_webhook_http_go(ngx_http_qlm_webhook_http_t *h,
    ngx_uint_t group)
{
    ngx_queue_t                       *q;
    ngx_connection_t                  *c;
    ngx_http_qlm_webhook_idle_t       *idle;
    ngx_http_qlm_webhook_keepalive_t  *ka;

    ka = h->keepalive;

    if (group && ngx_http_qlm_webhook_http_join(h) == NGX_OK) {
        return;
    }

    /* a connection this worker kept to the same address, the newest */

    for (q = ngx_queue_head(&ka->cache);
         q != ngx_queue_sentinel(&ka->cache);
         q = ngx_queue_next(q))
    {
        idle = ngx_queue_data(q, ngx_http_qlm_webhook_idle_t, queue);

        if (ngx_cmp_sockaddr(&idle->sockaddr.sockaddr, idle->socklen,
                             h->target->sockaddr, h->target->socklen, 1)
            != NGX_OK)
        {
            continue;
        }

        ngx_queue_remove(q);
        ngx_queue_insert_head(&ka->free, q);

        c = idle->connection;
        idle->connection = NULL;
        ka->nidle--;

        ngx_reusable_connection(c, 0);
        c->idle = 0;
        c->log = h->log;
        c->read->log = h->log;
        c->write->log = h->log;

        if (c->read->timer_set) {
            ngx_del_timer(c->read);
        }

        h->connection = c;
        h->reused = 1;

        break;
    }

    /* a failure now is told from the event loop, not to our caller */

    h->starting = 1;

    if (h->connection == NULL) {
        (void) ngx_http_qlm_webhook_http_connect(h);

    } else {
        c = h->connection;
        c->data = h;
        c->read->handler = ngx_http_qlm_webhook_http_read;
        c->write->handler = ngx_http_qlm_webhook_http_write;

        if (group) {
            /* the turn's other requests there join it, in one write */
            h->gathering = 1;
            h->tail = h;
            h->npiped = 1;
            ngx_queue_insert_tail(&ka->gathering, &h->gather);
            ngx_post_event(c->write, &ngx_posted_events);

        } else {
            /* a kept connection is writable: the request goes at once */
            ngx_http_qlm_webhook_http_write(c->write);
        }
    }

    h->starting = 0;

    if (h->answer->error_len) {
        if (h->timer.timer_set) {
            ngx_del_timer(&h->timer);
        }

        ngx_post_event(&h->timer, &ngx_posted_events);
    }
}


/* behind the gathering requests to the same address, if there is room */

static ngx_int_t
ngx_http_qlm_webhook_http_join(ngx_http_qlm_webhook_http_t *h)
{
    ngx_queue_t                  *q;
    ngx_http_qlm_webhook_http_t  *head;

    for (q = ngx_queue_head(&h->keepalive->gathering);
         q != ngx_queue_sentinel(&h->keepalive->gathering);
         q = ngx_queue_next(q))
    {
        head = ngx_queue_data(q, ngx_http_qlm_webhook_http_t, gather);

        if (ngx_cmp_sockaddr(head->target->sockaddr, head->target->socklen,
                             h->target->sockaddr, h->target->socklen, 1)
            != NGX_OK)
        {
            continue;
        }

        head->tail->next = h;
        head->tail = h;
        h->piped = head->connection;

        if (++head->npiped >= h->pipeline) {
            ngx_http_qlm_webhook_http_ungather(head);
        }

        return NGX_OK;
    }

    return NGX_DECLINED;
}


static void
ngx_http_qlm_webhook_http_ungather(ngx_http_qlm_webhook_http_t *h)
{
    if (h->gathering) {
        ngx_queue_remove(&h->gather);
        h->gathering = 0;
    }
}


/*
 * h's answer has ended and the connection stays: it is the next
 * request's, with the bytes read past h's answer.  NGX_ERROR: the
 * connection went instead, and those behind h start again.
 */

static ngx_int_t
ngx_http_qlm_webhook_http_pass(ngx_http_qlm_webhook_http_t *h,
    ngx_connection_t *c)
{
    size_t                        n;
    ngx_buf_t                    *b;
    ngx_http_qlm_webhook_http_t  *nx;

    nx = h->next;
    h->next = NULL;

    b = h->buf;
    n = b->last - b->pos;

    if (n > (size_t) (nx->buf->end - nx->buf->start)) {
        nx->buf = ngx_create_temp_buf(nx->pool, n);

        if (nx->buf == NULL) {
            /* the bytes cannot be kept: nor can the connection */
            ngx_http_qlm_webhook_http_close(c);
            h->next = nx;
            ngx_http_qlm_webhook_http_scatter(h);
            return NGX_ERROR;
        }
    }

    nx->buf->last = ngx_cpymem(nx->buf->start, b->pos, n);
    nx->received = n;
    nx->buffered = (n != 0);
    nx->connection = c;
    nx->piped = NULL;
    nx->reused = 1;

    c->data = nx;

    return NGX_OK;
}


/*
 * h's connection is lost: the requests behind it start again, each on
 * a connection of its own (any of them may have reached the receiver).
 */

static void
ngx_http_qlm_webhook_http_scatter(ngx_http_qlm_webhook_http_t *h)
{
    ngx_http_qlm_webhook_http_t  *f;

    ngx_http_qlm_webhook_http_ungather(h);

    f = h->next;
    h->next = NULL;

    ngx_http_qlm_webhook_http_again(f);
}


/* f and those behind it start again, their timers running on */

static void
ngx_http_qlm_webhook_http_again(ngx_http_qlm_webhook_http_t *f)
{
    ngx_http_qlm_webhook_http_t  *next;

    for ( /* void */ ; f; f = next) {
        next = f->next;

        ngx_http_qlm_webhook_http_ungather(f);

        f->next = NULL;
        f->piped = NULL;
        f->connection = NULL;
        f->sent = 0;
        f->received = 0;
        f->state = sw_header;
        f->reused = 0;
        f->buffered = 0;
        f->buf->pos = f->buf->start;
        f->buf->last = f->buf->start;
        f->keepalive_ok = 0;
        f->answer->status = 0;
        f->answer->len = 0;
        f->answer->retry_after = -1;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, f->log, 0,
                       "qlm webhook: a pipelined request starts again, "
                       "%uz bytes", f->request.len);

        ngx_http_qlm_webhook_http_go(f, 0);
    }
}


/* h, behind others on a connection, leaves their line */

static void
ngx_http_qlm_webhook_http_unlink(ngx_http_qlm_webhook_http_t *h)
{
    ngx_http_qlm_webhook_http_t  *head, *p;

    head = h->piped->data;

    for (p = head; p->next != h; p = p->next) {
        /* void */
    }

    p->next = h->next;

    if (head->tail == h) {
        head->tail = p;
    }

    head->npiped--;

    h->next = NULL;
    h->piped = NULL;
}


/* nginx's ngx_event_connect_peer(), without its log line: ours says it */

static ngx_int_t
ngx_http_qlm_webhook_http_connect(ngx_http_qlm_webhook_http_t *h)
{
    int                                rc;
    ngx_err_t                          err;
    ngx_uint_t                         event;
    ngx_queue_t                       *q;
    ngx_socket_t                       s;
    ngx_connection_t                  *c;
    ngx_http_qlm_webhook_idle_t       *idle;
    ngx_http_qlm_webhook_keepalive_t  *ka;
    u_char                             text[NGX_SOCKADDR_STRLEN];

    ka = h->keepalive;

    /* the quarter of connections kept for nginx's traffic: a kept one goes */

    if (ngx_cycle->free_connection_n <= ngx_cycle->connection_n / 4
        && !ngx_queue_empty(&ka->cache))
    {
        q = ngx_queue_last(&ka->cache);
        idle = ngx_queue_data(q, ngx_http_qlm_webhook_idle_t, queue);
        ngx_http_qlm_webhook_keepalive_drop(idle);
    }

    s = ngx_socket(h->target->sockaddr->sa_family, SOCK_STREAM, 0);

    if (s == (ngx_socket_t) -1) {
        ngx_http_qlm_webhook_http_fail(h, ngx_socket_errno,
                                       ngx_socket_n " failed");
        return NGX_ERROR;
    }

    c = ngx_get_connection(s, h->log);

    if (c == NULL) {
        (void) ngx_close_socket(s);
        ngx_http_qlm_webhook_http_fail(h, 0, "no free connection");
        return NGX_ERROR;
    }

    c->type = SOCK_STREAM;
    c->recv = ngx_recv;
    c->send = ngx_send;
    c->log_error = NGX_ERROR_INFO;
    c->data = h;
    c->start_time = ngx_current_msec;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);
    c->read->log = h->log;
    c->write->log = h->log;
    c->read->handler = ngx_http_qlm_webhook_http_read;
    c->write->handler = ngx_http_qlm_webhook_http_write;

    h->connection = c;
    h->connecting = 1;

    if (ngx_nonblocking(s) == -1) {
        ngx_http_qlm_webhook_http_fail(h, ngx_socket_errno,
                                       ngx_nonblocking_n " failed");
        return NGX_ERROR;
    }

    if (ngx_add_conn && ngx_add_conn(c) == NGX_ERROR) {
        ngx_http_qlm_webhook_http_fail(h, 0, "adding the connection failed");
        return NGX_ERROR;
    }

    rc = connect(s, h->target->sockaddr, h->target->socklen);

    if (rc == -1) {
        err = ngx_socket_errno;

        if (err != NGX_EINPROGRESS) {
            (void) ngx_sock_ntop(h->target->sockaddr, h->target->socklen,
                                 text, NGX_SOCKADDR_STRLEN, 1);
            ngx_http_qlm_webhook_http_fail(h, err, "connect() to %s failed",
                                           text);
            return NGX_ERROR;
        }
    }

    if (!ngx_add_conn) {
        event = (ngx_event_flags & NGX_USE_CLEAR_EVENT) ? NGX_CLEAR_EVENT
                                                         : NGX_LEVEL_EVENT;

        if (ngx_add_event(c->read, NGX_READ_EVENT, event) != NGX_OK
            || (rc == -1
                && ngx_add_event(c->write, NGX_WRITE_EVENT, event) != NGX_OK))
        {
            ngx_http_qlm_webhook_http_fail(h, 0, "adding events failed");
            return NGX_ERROR;
        }
    }

    if (rc == 0) {
        h->connecting = 0;
        c->write->ready = 1;
        ngx_http_qlm_webhook_http_write(c->write);
    }

    return NGX_OK;
}


static void
ngx_http_qlm_webhook_http_write(ngx_event_t *wev)
{
    int                           value;
    size_t                        k;
    ssize_t                       n;
    socklen_t                     len;
    ngx_err_t                     err;
    ngx_uint_t                    niov;
    ngx_connection_t             *c;
    ngx_http_qlm_webhook_http_t  *h, *x;
    struct iovec                  iov[NGX_HTTP_QLM_WEBHOOK_PIPELINE_MAX];

    c = wev->data;
    h = c->data;

    ngx_http_qlm_webhook_http_ungather(h);

    if (h->connecting) {
        value = 0;
        len = sizeof(int);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &value, &len)
            == -1)
        {
            value = ngx_socket_errno;
        }

        if (value) {
            ngx_http_qlm_webhook_http_fail(h, value, "connect() failed");
            return;
        }

        if (!wev->ready) {
            return;
        }

        h->connecting = 0;
    }

    /* the requests on the connection not sent yet, in one write */

    for ( ;; ) {
        niov = 0;

        for (x = h; x && niov < NGX_HTTP_QLM_WEBHOOK_PIPELINE_MAX;
             x = x->next)
        {
            if (x->sent < x->request.len) {
                iov[niov].iov_base = x->request.data + x->sent;
                iov[niov].iov_len = x->request.len - x->sent;
                niov++;
            }
        }

        if (niov == 0) {
            break;
        }

        n = (niov == 1) ? send(c->fd, iov[0].iov_base, iov[0].iov_len, 0)
                        : writev(c->fd, iov, niov);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "qlm webhook: %ui request(s) in a write: %z",
                       niov, n);

        if (n > 0) {
            for (x = h; n && x; x = x->next) {
                k = ngx_min((size_t) n, x->request.len - x->sent);
                x->sent += k;
                n -= k;
            }

            continue;
        }

        err = ngx_socket_errno;

        if (n == -1 && err == NGX_EINTR) {
            continue;
        }

        if (n == -1 && err == NGX_EAGAIN) {
            wev->ready = 0;

            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_http_qlm_webhook_http_fail(h, 0, "adding events failed");
            }

            return;
        }

        if (h->reused && !h->retried) {
            ngx_http_qlm_webhook_http_retry(h);
            return;
        }

        ngx_http_qlm_webhook_http_fail(h, err, "send() failed");
        return;
    }

    /* all sent: the answers are all there is to wait for */

    if (wev->active && !(ngx_event_flags & NGX_USE_CLEAR_EVENT)) {
        (void) ngx_del_event(wev, NGX_WRITE_EVENT, 0);
    }

    wev->handler = ngx_http_qlm_webhook_http_dummy;

    if (c->read->ready || h->buffered) {
        ngx_http_qlm_webhook_http_read(c->read);
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_qlm_webhook_http_fail(h, 0, "adding events failed");
    }
}


static void
ngx_http_qlm_webhook_http_read(ngx_event_t *rev)
{
    size_t                        size;
    ssize_t                       n;
    ngx_buf_t                    *b, *nb;
    ngx_err_t                     err;
    ngx_int_t                     rc;
    ngx_connection_t             *c;
    ngx_http_qlm_webhook_http_t  *h;

    c = rev->data;
    h = c->data;

    if (h->connecting || h->sent < h->request.len) {
        /* a connection error shows here first: the write tells it */
        if (h->connecting) {
            ngx_http_qlm_webhook_http_write(c->write);
        }

        return;
    }

    b = h->buf;

    for ( ;; ) {

        if (h->buffered) {
            /* the answer's first bytes came with the one before it */
            h->buffered = 0;
            goto parse;
        }

        if (b->last == b->end) {
            if (h->state != sw_header) {
                /* what the body's parse has taken may go */
                b->pos = b->start;
                b->last = b->start;

            } else if (b->end - b->start
                       >= NGX_HTTP_QLM_WEBHOOK_HTTP_HEADER)
            {
                ngx_http_qlm_webhook_http_fail(h, 0, "the answer's header "
                                               "is larger than %d bytes",
                                         NGX_HTTP_QLM_WEBHOOK_HTTP_HEADER);
                return;

            } else {
                size = 2 * (b->end - b->start);
                nb = ngx_create_temp_buf(h->pool, size);
                if (nb == NULL) {
                    ngx_http_qlm_webhook_http_fail(h, 0, "out of memory");
                    return;
                }

                nb->last = ngx_cpymem(nb->last, b->pos, b->last - b->pos);
                h->buf = nb;
                b = nb;
            }
        }

        size = b->end - b->last;

        n = recv(c->fd, b->last, size, 0);

        if (n == -1) {
            err = ngx_socket_errno;

            if (err == NGX_EINTR) {
                continue;
            }

            if (err == NGX_EAGAIN) {
                rev->ready = 0;
                break;
            }

            if (h->reused && h->received == 0 && !h->retried) {
                ngx_http_qlm_webhook_http_retry(h);
                return;
            }

            ngx_http_qlm_webhook_http_fail(h, err, "recv() failed");
            return;
        }

        if (n == 0) {
            if (h->state == sw_close) {
                ngx_http_qlm_webhook_http_done(h, 0);
                return;
            }

            /* a kept connection the receiver had closed meanwhile */

            if (h->reused && h->received == 0 && !h->retried) {
                ngx_http_qlm_webhook_http_retry(h);
                return;
            }

            ngx_http_qlm_webhook_http_fail(h, 0, h->received
                                    ? "the receiver closed the connection "
                                      "before its answer ended"
                                    : "empty reply from the receiver");
            return;
        }

        h->received += n;
        b->last += n;

        /*
         * A short read emptied the socket: the next edge says when more.
         * Not so after the receiver's close (EPOLLRDHUP): no edge would
         * tell it, and the next request there must see it.
         */

        if ((size_t) n < size && !rev->pending_eof) {
            rev->ready = 0;
        }

    parse:

        if (h->state == sw_header) {
            rc = ngx_http_qlm_webhook_http_header(h);

            if (rc == NGX_ERROR) {
                return;
            }

            /* the header's end is in b->pos, the body may follow */

            b = h->buf;
        }

        if (h->state != sw_header) {
            rc = ngx_http_qlm_webhook_http_body(h, b);

            if (rc == NGX_ERROR) {
                return;
            }

            if (rc == NGX_OK) {
                /* bytes past the answer are the next one's, or unasked */
                ngx_http_qlm_webhook_http_done(h, h->keepalive_ok
                                                  && (b->pos == b->last
                                                      || h->next));
                return;
            }
        }

        if (!rev->ready) {
            break;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_qlm_webhook_http_fail(h, 0, "adding events failed");
    }
}


/* once, on a new connection: the request never reached a receiver */

static void
ngx_http_qlm_webhook_http_retry(ngx_http_qlm_webhook_http_t *h)
{
    ngx_http_qlm_webhook_http_close(h->connection);
    ngx_http_qlm_webhook_http_scatter(h);

    h->connection = NULL;
    h->retried = 1;
    h->reused = 0;
    h->sent = 0;
    h->received = 0;
    h->buf->pos = h->buf->start;
    h->buf->last = h->buf->start;

    (void) ngx_http_qlm_webhook_http_connect(h);
}


/*
 * The answer's header, once whole: its status, how its body ends,
 * whether the connection stays, Retry-After.  NGX_AGAIN: not whole yet.
 */

static ngx_int_t
ngx_http_qlm_webhook_http_header(ngx_http_qlm_webhook_http_t *h)
{
    u_char      *p, *last, *end, *line, *colon, *v, *ve;
    off_t        length;
    size_t       nlen;
    ngx_buf_t   *b;
    ngx_uint_t   status, chunked, close, minor;

    b = h->buf;
    last = b->last;

    /* the empty line that ends it */

    end = NULL;

    for (p = b->pos; p < last; p++) {
        if (*p == '\n'
            && ((p + 1 < last && p[1] == '\n')
                || (p + 2 < last && p[1] == '\r' && p[2] == '\n')))
        {
            end = p + (p[1] == '\n' ? 2 : 3);
            break;
        }
    }

    if (end == NULL) {
        return NGX_AGAIN;
    }

    p = b->pos;

    if (end - p < 12
        || ngx_strncmp(p, "HTTP/1.", 7) != 0
        || p[7] < '0' || p[7] > '9' || p[8] != ' '
        || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9'
        || p[11] < '0' || p[11] > '9')
    {
        ngx_http_qlm_webhook_http_fail(h, 0, "the receiver's answer is not "
                                       "HTTP/1.x");
        return NGX_ERROR;
    }

    minor = p[7] - '0';
    status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');

    length = -1;
    chunked = 0;
    close = (minor == 0);

    /* a header line at a time, after the status line */

    for (line = ngx_strlchr(p, end, '\n') + 1; line < end; line = ve + 1) {
        ve = ngx_strlchr(line, end, '\n');
        last = ve;

        if (last > line && last[-1] == '\r') {
            last--;
        }

        colon = ngx_strlchr(line, last, ':');

        if (colon == NULL) {
            continue;
        }

        nlen = colon - line;

        for (v = colon + 1; v < last && (*v == ' ' || *v == '\t'); v++) {
            /* void */
        }

        while (last > v && (last[-1] == ' ' || last[-1] == '\t')) {
            last--;
        }

        if (nlen == 14
            && ngx_strncasecmp(line, (u_char *) "Content-Length", 14) == 0)
        {
            length = ngx_atoof(v, last - v);

            if (length < 0) {
                ngx_http_qlm_webhook_http_fail(h, 0, "the receiver's answer "
                                               "has an invalid "
                                               "Content-Length");
                return NGX_ERROR;
            }

        } else if (nlen == 17
                   && ngx_strncasecmp(line, (u_char *) "Transfer-Encoding",
                                      17) == 0)
        {
            chunked = (ngx_strlcasestrn(v, last, (u_char *) "chunked", 7 - 1)
                       != NULL);
            close |= !chunked;

        } else if (nlen == 10
                   && ngx_strncasecmp(line, (u_char *) "Connection", 10)
                      == 0)
        {
            if (ngx_strlcasestrn(v, last, (u_char *) "close", 5 - 1)
                != NULL)
            {
                close = 1;

            } else if (minor == 0
                       && ngx_strlcasestrn(v, last, (u_char *) "keep-alive",
                                           10 - 1)
                          != NULL)
            {
                close = 0;
            }

        } else if (nlen == 11
                   && ngx_strncasecmp(line, (u_char *) "Retry-After", 11)
                      == 0)
        {
            h->answer->retry_after = ngx_http_qlm_webhook_retry_after(v,
                                                                      last);
        }
    }

    b->pos = end;

    if (status < 200) {
        /* an interim answer (100 Continue...): the real one follows */
        h->answer->retry_after = -1;
        return (b->pos == b->last) ? NGX_AGAIN
                                   : ngx_http_qlm_webhook_http_header(h);
    }

    h->answer->status = status;
    h->keepalive_ok = !close;

    if (status == 204 || status == 304) {
        h->state = sw_done;

    } else if (chunked) {
        h->state = sw_chunk_size;
        h->size = 0;

    } else if (length >= 0) {
        h->state = (length == 0) ? sw_done : sw_length;
        h->size = length;

    } else {
        h->state = sw_close;
        h->keepalive_ok = 0;
    }

    return NGX_OK;
}


/*
 * The body's bytes in the buffer, taken: the first ones are kept for the
 * log.  NGX_OK: the answer has ended (b->pos after it); NGX_AGAIN: more
 * is to come.
 */

static ngx_int_t
ngx_http_qlm_webhook_http_body(ngx_http_qlm_webhook_http_t *h, ngx_buf_t *b)
{
    u_char     ch, *p, *last;
    ngx_int_t  digit;

    p = b->pos;
    last = b->last;

    while (p < last || h->state == sw_done) {

        switch (h->state) {

        case sw_done:
            b->pos = p;
            return NGX_OK;

        case sw_close:
            ngx_http_qlm_webhook_http_keep(h->answer, p, last - p);
            p = last;
            break;

        case sw_length:
            if (ngx_http_qlm_webhook_http_take(h, &p, last)) {
                h->state = sw_done;
            }

            break;

        case sw_chunk_size:
            ch = *p++;

            if (ch >= '0' && ch <= '9') {
                digit = ch - '0';

            } else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') {
                digit = (ch | 0x20) - 'a' + 10;

            } else if (ch == ';' || ch == ' ' || ch == '\t' || ch == '\r') {
                h->state = sw_chunk_ext;
                break;

            } else if (ch == '\n') {
                h->state = h->size ? sw_chunk_data : sw_trailer;
                break;

            } else {
                goto invalid;
            }

            if (h->size > (NGX_MAX_OFF_T_VALUE - 15) / 16) {
                goto invalid;
            }

            h->size = h->size * 16 + digit;
            break;

        case sw_chunk_ext:
            if (*p++ == '\n') {
                h->state = h->size ? sw_chunk_data : sw_trailer;
            }

            break;

        case sw_chunk_data:
            if (ngx_http_qlm_webhook_http_take(h, &p, last)) {
                h->state = sw_chunk_data_end;
            }

            break;

        case sw_chunk_data_end:
            ch = *p++;

            if (ch == '\n') {
                h->state = sw_chunk_size;

            } else if (ch != '\r') {
                goto invalid;
            }

            break;

        case sw_trailer:
            ch = *p++;

            if (ch == '\n') {
                h->state = sw_done;

            } else if (ch != '\r') {
                h->state = sw_trailer_line;
            }

            break;

        case sw_trailer_line:
            if (*p++ == '\n') {
                h->state = sw_trailer;
            }

            break;
        }
    }

    b->pos = p;

    return NGX_AGAIN;

invalid:

    ngx_http_qlm_webhook_http_fail(h, 0, "the receiver's answer has an "
                                   "invalid chunk");
    return NGX_ERROR;
}


/* up to h->size bytes of the body, taken and kept; 1: all were */

static ngx_uint_t
ngx_http_qlm_webhook_http_take(ngx_http_qlm_webhook_http_t *h, u_char **p,
    u_char *last)
{
    size_t  n;

    n = (size_t) ngx_min((off_t) (last - *p), h->size);

    ngx_http_qlm_webhook_http_keep(h->answer, *p, n);

    *p += n;
    h->size -= n;

    return h->size == 0;
}


static void
ngx_http_qlm_webhook_http_keep(ngx_http_qlm_webhook_reply_t *a, u_char *p,
    size_t n)
{
    n = ngx_min(n, NGX_HTTP_QLM_WEBHOOK_ANSWER - a->len);

    if (n) {
        ngx_memcpy(a->data + a->len, p, n);
        a->len += n;
    }
}


static void
ngx_http_qlm_webhook_http_timeout(ngx_event_t *ev)
{
    ngx_http_qlm_webhook_http_t  *h, *head;

    h = ev->data;

    if (h->answer->error_len) {
        /* a failure at the start, told now */
        ngx_http_qlm_webhook_http_done(h, 0);
        return;
    }

    if (h->piped) {
        /*
         * Behind others, it cannot leave its line alone: the answers
         * would be taken for the wrong requests.  The connection goes,
         * those others start again.
         */

        head = h->piped->data;
        ngx_http_qlm_webhook_http_unlink(h);

        ngx_http_qlm_webhook_http_close(head->connection);
        ngx_http_qlm_webhook_http_again(head);
    }

    ngx_http_qlm_webhook_http_fail(h, 0, "timed out after %M ms",
                                   ngx_current_msec - h->start);
}


/* the attempt ends with an error text, libcurl's kind, for the log */

static void
ngx_http_qlm_webhook_http_fail(ngx_http_qlm_webhook_http_t *h, ngx_err_t err,
    const char *fmt, ...)
{
    u_char                         *p, *last;
    va_list                         args;
    ngx_http_qlm_webhook_reply_t  *a;

    a = h->answer;
    last = (u_char *) a->error + sizeof(a->error);

    va_start(args, fmt);
    p = ngx_vslprintf((u_char *) a->error, last, fmt, args);
    va_end(args);

    if (err) {
        p = ngx_slprintf(p, last, " (%d: ", err);
        p = ngx_strerror(err, p, last - p);
        p = ngx_slprintf(p, last, ")");
    }

    a->error_len = p - (u_char *) a->error;

    if (h->connection) {
        ngx_http_qlm_webhook_http_close(h->connection);
        h->connection = NULL;
    }

    ngx_http_qlm_webhook_http_scatter(h);

    /* at the start the failure is posted, and told from the loop */

    if (!h->starting) {
        ngx_http_qlm_webhook_http_done(h, 0);
    }
}


static void
ngx_http_qlm_webhook_http_done(ngx_http_qlm_webhook_http_t *h,
    ngx_uint_t keep)
{
    ngx_queue_t                       *q;
    ngx_connection_t                  *c, *line;
    ngx_http_qlm_webhook_http_t       *nx;
    ngx_http_qlm_webhook_idle_t       *idle;
    ngx_http_qlm_webhook_keepalive_t  *ka;

    if (h->timer.timer_set) {
        ngx_del_timer(&h->timer);
    }

    if (h->timer.posted) {
        ngx_delete_posted_event(&h->timer);
    }

    c = h->connection;
    h->connection = NULL;
    line = NULL;

    if (c && (!keep || ngx_exiting || ngx_terminate)) {
        ngx_http_qlm_webhook_http_close(c);
        c = NULL;

    } else if (c && h->next) {
        if (ngx_http_qlm_webhook_http_pass(h, c) == NGX_OK) {
            line = c;
        }

        c = NULL;
    }

    ngx_http_qlm_webhook_http_scatter(h);

    if (c) {
        ka = h->keepalive;

        /* the oldest kept one makes room */

        if (ngx_queue_empty(&ka->free)) {
            q = ngx_queue_last(&ka->cache);
            idle = ngx_queue_data(q, ngx_http_qlm_webhook_idle_t, queue);
            ngx_http_qlm_webhook_keepalive_drop(idle);
        }

        q = ngx_queue_head(&ka->free);
        ngx_queue_remove(q);
        ngx_queue_insert_head(&ka->cache, q);

        idle = ngx_queue_data(q, ngx_http_qlm_webhook_idle_t, queue);
        idle->connection = c;
        ka->nidle++;
        idle->socklen = h->target->socklen;
        ngx_memcpy(&idle->sockaddr, h->target->sockaddr, h->target->socklen);

        c->data = idle;
        c->idle = 1;

        /* license traffic short of connections takes it (c->close) */
        ngx_reusable_connection(c, 1);
        c->log = ka->log;
        c->read->log = ka->log;
        c->write->log = ka->log;
        c->read->handler = ngx_http_qlm_webhook_http_idle_handler;
        c->write->handler = ngx_http_qlm_webhook_http_dummy;

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        ngx_add_timer(c->read, NGX_HTTP_QLM_WEBHOOK_HTTP_IDLE_TIME);

        if (c->read->ready) {
            /* a close, or bytes not asked for: it goes */
            ngx_http_qlm_webhook_http_idle_handler(c->read);
        }
    }

    h->handler(h);

    /*
     * The next answers of the line may be read already, or waiting: they
     * are taken in this turn, so that their outcomes join h's in the
     * store's next batch rather than a batch each.
     */

    if (line) {
        nx = line->data;

        if (nx->buffered || line->read->ready) {
            ngx_http_qlm_webhook_http_read(line->read);
        }
    }
}


/*
 * A kept connection that becomes readable has been closed by the
 * receiver (or says what was not asked): it goes.  So does one idle too
 * long, and all of them when the worker shuts down (c->close).
 */

static void
ngx_http_qlm_webhook_http_idle_handler(ngx_event_t *ev)
{
    char                          buf[1];
    ssize_t                       n;
    ngx_connection_t             *c;
    ngx_http_qlm_webhook_idle_t  *idle;

    c = ev->data;
    idle = c->data;

    if (!ev->timedout && !c->close) {
        n = recv(c->fd, buf, 1, MSG_PEEK);

        if (n == -1 && ngx_socket_errno == NGX_EAGAIN) {
            ev->ready = 0;

            if (ngx_handle_read_event(ev, 0) == NGX_OK) {
                return;
            }
        }
    }

    ngx_http_qlm_webhook_keepalive_drop(idle);
}


static void
ngx_http_qlm_webhook_http_close(ngx_connection_t *c)
{
    ngx_close_connection(c);
}


/* at the worker's exit: the attempt ends without a word */

void
ngx_http_qlm_webhook_http_abort(ngx_http_qlm_webhook_http_t *h)
{
    ngx_http_qlm_webhook_http_t  *f;

    ngx_http_qlm_webhook_http_ungather(h);

    if (h->piped) {
        ngx_http_qlm_webhook_http_unlink(h);
    }

    /* at the worker's exit: those behind it are aborted as well */

    for (f = h->next; f; f = f->next) {
        f->piped = NULL;
    }

    h->next = NULL;

    if (h->timer.timer_set) {
        ngx_del_timer(&h->timer);
    }

    if (h->timer.posted) {
        ngx_delete_posted_event(&h->timer);
    }

    if (h->connection) {
        ngx_http_qlm_webhook_http_close(h->connection);
        h->connection = NULL;
    }
}


static void
ngx_http_qlm_webhook_http_dummy(ngx_event_t *ev)
{
}


/* Retry-After: delta-seconds or an HTTP-date (RFC 9110, 10.2.3); -1: none */

time_t
ngx_http_qlm_webhook_retry_after(u_char *p, u_char *last)
{
    u_char  *q;
    time_t   when;

    if (p == last) {
        return -1;
    }

    if (*p >= '0' && *p <= '9') {
        for (q = p; q < last; q++) {
            if (*q < '0' || *q > '9') {
                return -1;
            }
        }

        when = ngx_atotm(p, last - p);

        /* more digits than a time_t: "a long time", capped later */
        return (when != NGX_ERROR) ? when : NGX_MAX_INT32_VALUE;
    }

    when = ngx_parse_http_time(p, last - p);

    if (when == NGX_ERROR) {
        return -1;
    }

    return (when > ngx_time()) ? when - ngx_time() : 0;
}
