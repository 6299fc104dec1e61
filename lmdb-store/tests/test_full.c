
/*
 * A full map: QLM_STORE_FULL, nothing half-written, everything readable,
 * and room again once items are acked.
 */

#include "qlm_test.h"


#define MAP_SIZE  (1024 * 1024)


static char  body[400];


static qlm_store_item_t
item(uint64_t due)
{
    return qlm_t_item(due, "ev", "full", "http://full.example/hook", body);
}


typedef struct {
    uint64_t  next;
    uint64_t  bad;
} walk_t;


static int
walk(const qlm_store_item_t *it, void *data)
{
    walk_t  *w;

    w = data;

    if (it->id != w->next || !qlm_t_str_is(it->body, body)
        || !qlm_t_str_is(it->url, "http://full.example/hook"))
    {
        w->bad++;
    }

    w->next++;

    return 0;
}


static void
test_full(void **state)
{
    int                   rc;
    size_t                i, n, ok, claimed, acked, more;
    uint64_t              v, *leases;
    walk_t                w;
    qlm_test_t           *t;
    uint64_t              dropped;
    qlm_store_log_t       log;
    qlm_store_item_t      it, batch[20], *out[4];
    qlm_store_stat_t      stat;
    qlm_store_options_t   opts;

    t = *state;

    memset(body, 'b', sizeof(body) - 1);

    memset(&opts, 0, sizeof(opts));
    opts.map_size = MAP_SIZE;

    qlm_t_ok(qlm_t_open(t, &opts));

    /* due i: the queue order is the id order */

    for (ok = 0; ; ok++) {
        it = item(ok + 1);

        rc = qlm_store_enqueue(t->st, &it, 1);

        if (rc == QLM_STORE_FULL) {
            break;
        }

        qlm_t_ok(rc);
        assert_int_equal(it.id, ok + 1);
        assert_true(ok < 10000);
    }

    print_message("# %zu items fit in %d bytes\n", ok, MAP_SIZE);
    assert_true(ok > 500);

    /* a batch fails whole, with its ids untouched */

    for (i = 0; i < 20; i++) {
        batch[i] = item(1000000);
    }

    assert_int_equal(qlm_store_enqueue(t->st, batch, 20), QLM_STORE_FULL);

    for (i = 0; i < 20; i++) {
        assert_int_equal(batch[i].id, 0);
    }

    qlm_t_ok(qlm_store_stat(t->st, 0, &stat));
    assert_int_equal(stat.queued, ok);
    assert_int_equal(stat.map_size, MAP_SIZE);
    assert_true(stat.map_used <= MAP_SIZE);

    qlm_t_ok(qlm_store_counter_get(t->st, "enqueued", &v));
    assert_int_equal(v, ok);

    w.next = 1;
    w.bad = 0;
    qlm_t_ok(qlm_store_queue_foreach(t->st, walk, &w));
    assert_int_equal(w.bad, 0);
    assert_int_equal(w.next, ok + 1);

    /* it reopens */

    qlm_store_close(t->st);
    t->st = NULL;
    qlm_t_ok(qlm_t_open(t, &opts));

    w.next = 1;
    w.bad = 0;
    qlm_t_ok(qlm_store_queue_foreach(t->st, walk, &w));
    assert_int_equal(w.bad, 0);
    assert_int_equal(w.next, ok + 1);

    /*
     * Claim and ack the first items, a few per transaction: pages freed
     * by one transaction are reused by later ones.
     */

    memset(&log, 0, sizeof(log));
    log.outcome = QLM_STORE_DELIVERED;
    log.status = 200;
    log.event = qlm_t_str("full");
    log.url = qlm_t_str("http://full.example/hook");

    leases = calloc(ok + 1, sizeof(uint64_t));
    assert_non_null(leases);

    claimed = 0;
    acked = 0;

    while (acked < 100) {
        rc = qlm_store_claim(t->st, 100000, 1000, out, 4, &n);

        if (rc != 0) {
            fail_msg("claim after %zu: %s", claimed, qlm_store_strerror(rc));
        }

        assert_int_equal(n, 4);

        for (i = 0; i < n; i++) {
            assert_int_equal(out[i]->id, claimed + 1);
            assert_true(qlm_t_str_is(out[i]->body, body));
            claimed++;

            log.time = 100000;
            log.item_id = out[i]->id;

            rc = qlm_store_ack(t->st, out[i]->id, out[i]->lease, &log);

            if (rc != 0) {
                fail_msg("ack %llu: %s", (unsigned long long) out[i]->id,
                         qlm_store_strerror(rc));
            }

            acked++;
            qlm_store_item_free(out[i]);
        }
    }

    /* every ack was logged, or its log record dropped and counted */

    qlm_t_ok(qlm_store_stat(t->st, 0, &stat));
    qlm_t_ok(qlm_store_counter_get(t->st, "log_dropped", &dropped));
    qlm_t_ok(qlm_store_counter_get(t->st, "delivered", &v));
    assert_int_equal(v, acked);
    assert_true(stat.log_records + dropped >= acked);
    print_message("# %zu acks: %llu log records, %llu dropped\n", acked,
                  (unsigned long long) stat.log_records,
                  (unsigned long long) dropped);

    /* room again */

    for (more = 0; more < 20; more++) {
        it = item(200000 + more);
        qlm_t_ok(qlm_store_enqueue(t->st, &it, 1));
        assert_int_equal(it.id, ok + 1 + more);
    }

    /* every other item is still there, claimable exactly once */

    for ( ;; ) {
        qlm_t_ok(qlm_store_claim(t->st, 150000, 1000000000, out, 4, &n));

        if (n == 0) {
            break;
        }

        for (i = 0; i < n; i++) {
            assert_int_equal(out[i]->id, claimed + 1);
            assert_true(qlm_t_str_is(out[i]->body, body));
            assert_int_equal(leases[out[i]->id], 0);
            leases[out[i]->id] = out[i]->lease;
            claimed++;
            qlm_store_item_free(out[i]);
        }
    }

    assert_int_equal(claimed, ok);

    /* then the late ones, due at 200000 and after */

    for (more = 0; ; more += n) {
        qlm_t_ok(qlm_store_claim(t->st, 300000, 1000000000, out, 4, &n));

        if (n == 0) {
            break;
        }

        for (i = 0; i < n; i++) {
            assert_int_equal(out[i]->id, ok + 1 + more + i);
            qlm_store_item_free(out[i]);
        }
    }

    assert_int_equal(more, 20);

    free(leases);
}


/* the log has no reserve: LMDB's own MDB_MAP_FULL, from a put or commit */

static void
test_full_log(void **state)
{
    int                   rc;
    size_t                ok, i;
    uint64_t              v, removed;
    qlm_test_t           *t;
    qlm_store_log_t       log;
    qlm_store_stat_t      stat;
    qlm_store_options_t   opts;
    static char           error[8192];

    t = *state;

    memset(error, 'e', sizeof(error) - 1);

    memset(&opts, 0, sizeof(opts));
    opts.map_size = MAP_SIZE;

    qlm_t_ok(qlm_t_open(t, &opts));

    memset(&log, 0, sizeof(log));
    log.event = qlm_t_str("full");
    log.error = qlm_t_str(error);

    for (ok = 0; ; ok++) {
        log.time = 1000 + ok;

        rc = qlm_store_log_append(t->st, &log);

        if (rc == QLM_STORE_FULL) {
            break;
        }

        qlm_t_ok(rc);
        assert_true(ok < 1000);
    }

    print_message("# %zu log records of 8 KiB fit\n", ok);
    assert_true(ok > 50);

    /* the failed append left no trace, not even in the counter */

    qlm_t_ok(qlm_store_stat(t->st, 0, &stat));
    assert_int_equal(stat.log_records, ok);
    qlm_t_ok(qlm_store_counter_get(t->st, "attempts", &v));
    assert_int_equal(v, ok);

    qlm_store_close(t->st);
    t->st = NULL;

    /*
     * A map full to the last page cannot even delete: LMDB copies pages
     * on write, and reuses freed ones only two transactions later.  It
     * reopens, reads, and works again with a larger map.
     */

    qlm_t_ok(qlm_t_open(t, &opts));
    qlm_t_ok(qlm_store_stat(t->st, 0, &stat));
    assert_int_equal(stat.log_records, ok);
    qlm_store_close(t->st);
    t->st = NULL;

    opts.map_size = 2 * MAP_SIZE;
    opts.log_max_records = 10;
    qlm_t_ok(qlm_t_open(t, &opts));

    qlm_t_ok(qlm_store_stat(t->st, 0, &stat));
    assert_int_equal(stat.map_size, 2 * MAP_SIZE);

    qlm_t_ok(qlm_store_log_trim(t->st, 0, &removed));
    assert_int_equal(removed, ok - 10);

    for (i = 0; i < 20; i++) {
        log.time = 100000 + i;
        qlm_t_ok(qlm_store_log_append(t->st, &log));
    }

    qlm_t_ok(qlm_store_stat(t->st, 0, &stat));
    assert_int_equal(stat.log_records, 10);
}


/*
 * Large items (40 KB, ten pages each) filling a 1 MiB map, as the module
 * does with a receiver down: each event stored leased, its failed attempt
 * rescheduled a turn later, two at a time.  A claim or a reschedule
 * copies an item, which needs a run of ten free pages; the last commit
 * freed such runs, and LMDB reuses them only after another commit.  An
 * op refused so must make them reusable, else it is refused for ever and
 * nothing drains.
 */

static char  large[40001];


typedef struct {
    size_t    stored;
    size_t    done;         /* rescheduled */
    uint64_t  now;
    uint64_t  ids[120];
    uint64_t  leases[120];
} large_t;


static void
large_log(qlm_store_log_t *log, uint64_t time, uint64_t id, int32_t status)
{
    memset(log, 0, sizeof(qlm_store_log_t));

    log->time = time;
    log->item_id = id;
    log->attempt = 1;
    log->status = status;
    log->outcome = (status == 200) ? QLM_STORE_DELIVERED : QLM_STORE_RETRY;
    log->event = qlm_t_str("license_created");
    log->url = qlm_t_str("http://full.example/hook");
    log->error = qlm_t_str(status == 200 ? "" : "HTTP status 503");
}


/* the newest "hold" items stay leased (their attempts still running) */

static void
large_fill(qlm_test_t *t, large_t *l, size_t hold)
{
    int                   rc;
    size_t                i, refused;
    qlm_store_log_t       log;
    qlm_store_item_t      it;
    qlm_store_write_t    *w;
    qlm_store_options_t   opts;

    memset(large, 'k', sizeof(large) - 1);

    memset(&opts, 0, sizeof(opts));
    opts.map_size = MAP_SIZE;

    qlm_t_ok(qlm_t_open(t, &opts));

    l->now = 1000000;
    l->stored = 0;
    l->done = 0;
    refused = 0;

    for (i = 0; i < 120; i++) {
        it = qlm_t_item(l->now + i, "e", "license_created",
                        "http://full.example/hook", large);
        it.lease_until = l->now + i + 4000;

        qlm_t_ok(qlm_store_write_begin(t->st, &w));

        rc = qlm_store_write_enqueue_event(w, &it, 1, 0, NULL);

        qlm_t_ok(qlm_store_write_commit(w));

        if (rc == QLM_STORE_FULL) {
            refused++;

        } else {
            qlm_t_ok(rc);
            l->ids[l->stored] = it.id;
            l->leases[l->stored] = it.lease;
            l->stored++;
        }

        if (i % 2 == 0) {
            continue;
        }

        /* the attempts that failed meanwhile, due again in a second */

        qlm_t_ok(qlm_store_write_begin(t->st, &w));

        for ( /* void */ ; l->done + hold < l->stored; l->done++) {
            large_log(&log, l->now + i, l->ids[l->done], 503);

            qlm_t_ok(qlm_store_write_reschedule(w, l->ids[l->done],
                                                l->leases[l->done],
                                                l->now + i + 1000, 1, 503,
                                                log.error, &log));
        }

        qlm_t_ok(qlm_store_write_commit(w));
    }

    print_message("# %zu items of 40 KB stored, %zu refused\n", l->stored,
                  refused);
    assert_true(l->stored >= 10);
    assert_true(refused > 0);
}


/* the receiver is back: every item is claimed and acked */

static void
test_full_large(void **state)
{
    int                rc;
    size_t             i, n, max, acked, rounds;
    uint64_t           v;
    unsigned           again;
    large_t            l;
    qlm_test_t        *t;
    qlm_store_log_t    log;
    qlm_store_item_t   it, *out[64];

    t = *state;

    large_fill(t, &l, 0);

    acked = 0;

    for (rounds = 0; rounds < 100 && acked < l.stored; rounds++) {
        l.now += 5000;
        again = 0;

        /* as the module claims: fewer on a full map, down to one, twice */

        for (max = 64; ; ) {
            rc = qlm_store_claim(t->st, l.now, 4000, out, max, &n);

            if (rc != QLM_STORE_FULL || again) {
                break;
            }

            if (max == 1) {
                again = 1;

            } else {
                max /= 2;
            }
        }

        if (rc != 0) {
            fail_msg("claim after %zu of %zu acked: %s", acked, l.stored,
                     qlm_store_strerror(rc));
        }

        assert_true(n > 0);

        for (i = 0; i < n; i++) {
            large_log(&log, l.now, out[i]->id, 200);

            qlm_t_ok(qlm_store_ack(t->st, out[i]->id, out[i]->lease, &log));
            acked++;

            qlm_store_item_free(out[i]);
        }
    }

    assert_int_equal(acked, l.stored);

    qlm_t_ok(qlm_store_counter_get(t->st, "delivered", &v));
    assert_int_equal(v, l.stored);

    qlm_t_ok(qlm_store_counter_get(t->st, "full_retries", &v));
    print_message("# drained in %zu rounds, %llu full retries\n", rounds,
                  (unsigned long long) v);
    assert_true(v > 0);

    /* and room again: a large item is stored */

    it = qlm_t_item(l.now, "e", "license_created", "http://full.example/hook",
                    large);
    qlm_t_ok(qlm_store_enqueue(t->st, &it, 1));
}


/* an attempt that ends on such a map is recorded all the same */

static void
test_full_large_outcome(void **state)
{
    uint64_t          v;
    large_t           l;
    qlm_test_t       *t;
    qlm_store_log_t   log;

    t = *state;

    large_fill(t, &l, 1);

    assert_int_equal(l.done + 1, l.stored);

    large_log(&log, l.now + 200, l.ids[l.done], 503);

    qlm_t_ok(qlm_store_reschedule(t->st, l.ids[l.done], l.leases[l.done],
                                  l.now + 1200, 1, 503, log.error, &log));

    qlm_t_ok(qlm_store_counter_get(t->st, "full_retries", &v));
    assert_int_equal(v, 1);

    qlm_t_ok(qlm_store_counter_get(t->st, "retried", &v));
    assert_int_equal(v, l.stored);
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_full),
        QLM_T(test_full_log),
        QLM_T(test_full_large),
        QLM_T(test_full_large_outcome),
    };

    return cmocka_run_group_tests_name("full", tests, NULL, NULL);
}
