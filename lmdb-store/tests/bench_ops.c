
/*
 * A micro-benchmark of the store's event path (not a test, not run by
 * "make test"): events enqueued already leased, then acked with their log
 * record, as a worker that delivers what it captured does.  One op per
 * transaction (an enqueue, then an ack: two commits an event) against
 * batches of 64 (one commit a turn: 64 new events and the acks of the 64
 * before), each with and without write_map.  Prints events per second,
 * the median of interleaved rounds, and the ratios.
 *
 *   make bench                       (in lmdb-store/)
 *   build/tests/bench-ops [EVENTS [ROUNDS]]
 *   SYNC=1 build/tests/bench-ops     per-commit sync on (fewer events)
 *
 * The stores are made under $TMPDIR (else /tmp) and removed.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qlm_store.h"


#define BATCH    64
#define ROUNDS   3


static char  body[600];


static void
check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "bench-ops: %s: %s\n", what, qlm_store_strerror(rc));
        exit(1);
    }
}


static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}


static qlm_store_item_t
event(uint64_t i)
{
    qlm_store_item_t  it;

    memset(&it, 0, sizeof(it));

    it.due = 1000 + i;
    it.created = 1000 + i;
    it.lease_until = 1000 + i + 30000;
    it.event_id.data = "evt_2q8HqXo6n3bcs7gMfsd1x";
    it.event_id.len = strlen(it.event_id.data);
    it.event.data = "license_activated";
    it.event.len = strlen(it.event.data);
    it.url.data = "http://127.0.0.1:8080/hooks/qlm";
    it.url.len = strlen(it.url.data);
    it.headers.data = "standard";
    it.headers.len = strlen(it.headers.data);
    it.body.data = body;
    it.body.len = sizeof(body) - 1;

    return it;
}


static qlm_store_log_t
log_of(const qlm_store_item_t *it)
{
    qlm_store_log_t  log;

    memset(&log, 0, sizeof(log));

    log.time = it->created + 2;
    log.item_id = it->id;
    log.attempt = 1;
    log.status = 200;
    log.duration = 1;
    log.outcome = QLM_STORE_DELIVERED;
    log.event_id = it->event_id;
    log.event = it->event;
    log.url = it->url;

    return log;
}


static int
rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}


/* events per second for one store: batch 1 or BATCH, write_map or not */

static double
run(size_t events, size_t batch, unsigned write_map, unsigned sync)
{
    size_t                i, k, n;
    uint64_t              t0, t1;
    const char           *tmp;
    qlm_store_t          *st;
    qlm_store_log_t       log;
    qlm_store_item_t      items[2][BATCH];
    qlm_store_write_t    *w;
    qlm_store_options_t   opts;
    char                  dir[256], path[300];

    tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/qlm-bench.XXXXXX",
             (tmp && *tmp) ? tmp : "/tmp");

    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench-ops: mkdtemp: %s\n", strerror(errno));
        exit(1);
    }

    snprintf(path, sizeof(path), "%s/store", dir);

    memset(&opts, 0, sizeof(opts));
    opts.map_size = (size_t) 1024 * 1024 * 1024;
    opts.no_sync = !sync;
    opts.write_map = write_map;

    check(qlm_store_open(&st, path, &opts), "open");

    t0 = now_ns();

    if (batch == 1) {
        for (i = 0; i < events; i++) {
            items[0][0] = event(i);
            check(qlm_store_enqueue(st, &items[0][0], 1), "enqueue");

            log = log_of(&items[0][0]);
            check(qlm_store_ack(st, items[0][0].id, items[0][0].lease, &log),
                  "ack");
        }

    } else {
        /* a turn: this turn's events in, the last turn's acked */

        for (i = 0, k = 0; i < events + batch; i += batch, k ^= 1) {
            check(qlm_store_write_begin(st, &w), "write_begin");

            for (n = 0; n < batch && i + n < events; n++) {
                items[k][n] = event(i + n);
                check(qlm_store_write_enqueue_event(w, &items[k][n], 1, 0,
                                                    NULL),
                      "write_enqueue_event");
            }

            for (n = 0; i > 0 && n < batch && i - batch + n < events; n++) {
                log = log_of(&items[k ^ 1][n]);
                check(qlm_store_write_ack(w, items[k ^ 1][n].id,
                                          items[k ^ 1][n].lease, &log),
                      "write_ack");
            }

            check(qlm_store_write_commit(w), "write_commit");
        }
    }

    t1 = now_ns();

    qlm_store_close(st);
    (void) nftw(dir, rm, 16, FTW_DEPTH | FTW_PHYS);

    return (double) events * 1e9 / (double) (t1 - t0);
}


static int
cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


int
main(int argc, char **argv)
{
    size_t       events, rounds, r, c;
    unsigned     sync;
    double       rate[4][16], med[4];
    const char  *names[4] = {
        "1 op a txn,  pwrite   ", "batch of 64, pwrite   ",
        "1 op a txn,  write_map", "batch of 64, write_map"
    };

    sync = getenv("SYNC") != NULL && strcmp(getenv("SYNC"), "0") != 0;

    events = (argc > 1) ? strtoul(argv[1], NULL, 10) : (sync ? 2000 : 20000);
    rounds = (argc > 2) ? strtoul(argv[2], NULL, 10) : ROUNDS;

    if (events == 0 || rounds == 0 || rounds > 16) {
        fprintf(stderr, "usage: bench-ops [EVENTS [ROUNDS (1-16)]]\n");
        return 2;
    }

    memset(body, 'b', sizeof(body) - 1);

    printf("%zu events (enqueue leased + ack with its log record), "
           "sync %s, median of %zu interleaved rounds\n",
           events, sync ? "on" : "off", rounds);

    for (r = 0; r < rounds; r++) {
        for (c = 0; c < 4; c++) {
            rate[c][r] = run(events, (c & 1) ? BATCH : 1, c >> 1, sync);
        }
    }

    for (c = 0; c < 4; c++) {
        qsort(rate[c], rounds, sizeof(double), cmp);
        med[c] = rate[c][rounds / 2];
        printf("  %s  %10.0f events/s\n", names[c], med[c]);
    }

    printf("  batch / 1 op:        pwrite %.2fx, write_map %.2fx\n",
           med[1] / med[0], med[3] / med[2]);
    printf("  write_map / pwrite:  1 op %.2fx, batch %.2fx\n",
           med[2] / med[0], med[3] / med[1]);
    printf("  batch+write_map / 1 op+pwrite: %.2fx\n", med[3] / med[0]);

    return 0;
}
