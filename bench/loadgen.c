/*
 * loadgen: an HTTP/1.1 load generator for bench/event-path, in two modes.
 *
 * Open loop (-r RATE): request i is due at start + i/RATE, whether or not
 * the earlier ones were answered (wrk waits for an answer before it sends
 * again: a closed loop, which hides the queueing delay of a fixed rate;
 * Debian has no wrk2).  A request that finds no idle connection waits for
 * one, and its latency is counted from its due time.
 *
 * Closed loop (-r 0): -n requests in all, as fast as -c connections go.
 *
 * Every request gets its own key: the path is PATH followed by PREFIX and
 * the request's number, so that the event it emits can be found at the
 * receiver.  With -o FILE, one line per request: "KEY SEND_US" (the time
 * it was written to the socket, microseconds since the epoch).
 *
 *   loadgen -p PORT -u PATH [-k PREFIX] [-c CONNS] (-r RATE -d SECONDS |
 *           -r 0 -n COUNT) [-t LIMIT_SECONDS] [-o FILE]
 *
 * It prints "name value" lines: sent, answered, errors, non2xx, seconds,
 * rate, p50_ms, p99_ms, max_ms (answer latency from the due time, open
 * loop; from the send time, closed loop) and lag_max_ms (how late the
 * latest request was sent after its due time).  It stops by itself after
 * LIMIT_SECONDS (default: the duration plus 30 s, or 600 s).
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#define MAX_CONNS  1024
#define BUF_SIZE   16384


typedef struct {
    int       fd;
    int       busy;
    long      req;          /* the request in flight */
    size_t    len;          /* bytes of the answer read so far */
    char      buf[BUF_SIZE];
} conn_t;


static int        port;
static const char *path, *prefix = "";
static uint64_t   *due_us, *send_us, *lat_us;
static long        nanswered, nerrors, nnon2xx;


static uint64_t
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static int
conn_open(conn_t *c, int ep)
{
    int                 one = 1;
    struct sockaddr_in  sa;
    struct epoll_event  ev;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd == -1) {
        return -1;
    }

    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) == -1
        && errno != EINPROGRESS)
    {
        close(c->fd);
        c->fd = -1;
        return -1;
    }

    ev.events = EPOLLIN;
    ev.data.ptr = c;
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);

    c->busy = 0;
    c->len = 0;

    return 0;
}


static void
conn_reset(conn_t *c, int ep)
{
    if (c->fd != -1) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }

    c->fd = -1;
    conn_open(c, ep);
}


/* a small blocking write: the request is far smaller than a socket buffer;
 * a connection still connecting is waited for */

static int
conn_send(conn_t *c, long i)
{
    int      n, len, tries;
    char     req[4096];

    len = snprintf(req, sizeof(req),
                   "GET %s%s%ld HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "User-Agent: loadgen\r\n\r\n", path, prefix, i);

    for (tries = 0; tries < 1000; tries++) {
        n = send(c->fd, req, len, MSG_NOSIGNAL);
        if (n == len) {
            c->busy = 1;
            c->req = i;
            c->len = 0;
            return 0;
        }

        if (n == -1 && (errno == EAGAIN || errno == ENOTCONN)) {
            usleep(100);
            continue;
        }

        return -1;
    }

    return -1;
}


/* 1: a whole answer is in the buffer, 0: not yet, -1: malformed */

static int
answer_done(conn_t *c, int *status)
{
    char    *end, *p;
    size_t   hlen;
    long     clen;

    c->buf[c->len] = '\0';

    end = strstr(c->buf, "\r\n\r\n");
    if (end == NULL) {
        return 0;
    }

    if (c->len < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0) {
        return -1;
    }

    *status = atoi(c->buf + 9);
    hlen = end + 4 - c->buf;

    p = strcasestr(c->buf, "\r\ncontent-length:");
    if (p != NULL && p < end) {
        clen = strtol(p + 17, NULL, 10);
        return c->len >= hlen + (size_t) clen ? 1 : 0;
    }

    p = strcasestr(c->buf, "\r\ntransfer-encoding: chunked");
    if (p != NULL && p < end) {
        return c->len >= hlen + 5
               && memcmp(c->buf + c->len - 5, "0\r\n\r\n", 5) == 0;
    }

    return 1;
}


static int
cmp_u64(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}


static void
usage(void)
{
    fprintf(stderr, "usage: loadgen -p PORT -u PATH [-k PREFIX] [-c CONNS] "
            "(-r RATE -d SECONDS | -r 0 -n COUNT) [-t LIMIT] [-o FILE]\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    int                 opt, ep, n, k, status, rc;
    long                i, total = 0, next = 0, nconns = 32;
    double              rate = 0, duration = 0, limit = 0;
    uint64_t            start, now, deadline, lag, lag_max = 0, wait_us;
    const char         *out = NULL;
    conn_t             *conns, *c;
    FILE               *f;
    ssize_t             r;
    struct timespec     ts;
    struct epoll_event  evs[256];

    while ((opt = getopt(argc, argv, "p:u:k:c:r:d:n:t:o:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'u': path = optarg; break;
        case 'k': prefix = optarg; break;
        case 'c': nconns = atol(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'n': total = atol(optarg); break;
        case 't': limit = atof(optarg); break;
        case 'o': out = optarg; break;
        default: usage();
        }
    }

    if (port <= 0 || path == NULL || nconns < 1 || nconns > MAX_CONNS
        || rate < 0 || (rate > 0 && duration <= 0)
        || (rate == 0 && total <= 0))
    {
        usage();
    }

    if (rate > 0) {
        total = (long) (rate * duration);
    }

    if (total > 50000000) {
        fprintf(stderr, "loadgen: at most 50000000 requests\n");
        return 2;
    }

    if (limit <= 0) {
        limit = rate > 0 ? duration + 30 : 600;
    }

    due_us = calloc(total, sizeof(uint64_t));
    send_us = calloc(total, sizeof(uint64_t));
    lat_us = calloc(total, sizeof(uint64_t));
    conns = calloc(nconns, sizeof(conn_t));
    if (due_us == NULL || send_us == NULL || lat_us == NULL || conns == NULL)
    {
        fprintf(stderr, "loadgen: out of memory\n");
        return 1;
    }

    ep = epoll_create1(0);

    for (k = 0; k < nconns; k++) {
        conns[k].fd = -1;
        if (conn_open(&conns[k], ep) == -1) {
            fprintf(stderr, "loadgen: connect: %s\n", strerror(errno));
            return 1;
        }
    }

    start = now_us() + 10000;   /* the connections are established */
    deadline = start + (uint64_t) (limit * 1e6);

    for ( ;; ) {
        now = now_us();

        if (now >= deadline || nanswered + nerrors >= total) {
            break;
        }

        /* send what is due, on idle connections */

        for (k = 0; k < nconns && next < total; k++) {
            c = &conns[k];

            if (c->busy || c->fd == -1) {
                continue;
            }

            due_us[next] = rate > 0
                           ? start + (uint64_t) (next * 1e6 / rate) : now;

            if (due_us[next] > now) {
                break;
            }

            send_us[next] = now_us();
            lag = send_us[next] - due_us[next];
            lag_max = lag > lag_max ? lag : lag_max;

            if (conn_send(c, next) == -1) {
                nerrors++;
                next++;
                conn_reset(c, ep);
                continue;
            }

            next++;
        }

        wait_us = 100000;
        if (rate > 0 && next < total) {
            uint64_t  d = start + (uint64_t) (next * 1e6 / rate);

            wait_us = d > now ? d - now : 0;
            wait_us = wait_us > 100000 ? 100000 : wait_us;
        }

        ts.tv_sec = wait_us / 1000000;
        ts.tv_nsec = (wait_us % 1000000) * 1000;

        n = epoll_pwait2(ep, evs, 256, &ts, NULL);

        for (k = 0; k < n; k++) {
            c = evs[k].data.ptr;

            r = read(c->fd, c->buf + c->len, BUF_SIZE - 1 - c->len);

            if (r == -1 && errno == EAGAIN) {
                continue;
            }

            if (r <= 0 || !c->busy) {
                if (c->busy) {
                    nerrors++;
                }
                conn_reset(c, ep);
                continue;
            }

            c->len += r;
            rc = answer_done(c, &status);

            if (rc == 0 && c->len < BUF_SIZE - 1) {
                continue;
            }

            if (rc != 1) {
                nerrors++;
                conn_reset(c, ep);
                continue;
            }

            lat_us[nanswered++] = now_us() - due_us[c->req];

            if (status < 200 || status > 299) {
                nnon2xx++;
            }

            c->busy = 0;
            c->len = 0;
        }
    }

    now = now_us();

    if (out != NULL) {
        f = fopen(out, "w");
        if (f == NULL) {
            fprintf(stderr, "loadgen: %s: %s\n", out, strerror(errno));
            return 1;
        }

        for (i = 0; i < next; i++) {
            fprintf(f, "%s%ld %llu\n", prefix, i,
                    (unsigned long long) send_us[i]);
        }

        fclose(f);
    }

    qsort(lat_us, nanswered, sizeof(uint64_t), cmp_u64);

    printf("sent %ld\nanswered %ld\nerrors %ld\nnon2xx %ld\n",
           next, nanswered, nerrors, nnon2xx);
    printf("seconds %.3f\nrate %.0f\n", (now - start) / 1e6,
           nanswered / ((now - start) / 1e6));

    if (nanswered > 0) {
        printf("p50_ms %.3f\np99_ms %.3f\nmax_ms %.3f\n",
               lat_us[nanswered / 2] / 1e3,
               lat_us[(long) (nanswered * 0.99)] / 1e3,
               lat_us[nanswered - 1] / 1e3);
    }

    printf("lag_max_ms %.3f\n", lag_max / 1e3);

    return (nanswered + nerrors >= total) ? 0 : 1;
}
