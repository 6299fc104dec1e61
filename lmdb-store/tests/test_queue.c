
/*
 * The queue: enqueue, claim, ack, reschedule, dead letters, replay.
 */

#include "qlm_test.h"

#include <lmdb.h>


#define MAX_SEEN  64


typedef struct {
    size_t            n;
    qlm_store_item_t  items[MAX_SEEN];
    char              strs[MAX_SEEN][6][64];
} seen_t;


/* copies each item: the strings die with the callback */

static int
collect(const qlm_store_item_t *item, void *data)
{
    seen_t           *s;
    unsigned          i;
    qlm_store_str_t  *d[6];

    s = data;

    assert_true(s->n < MAX_SEEN);

    s->items[s->n] = *item;

    d[0] = &s->items[s->n].event_id;
    d[1] = &s->items[s->n].event;
    d[2] = &s->items[s->n].url;
    d[3] = &s->items[s->n].headers;
    d[4] = &s->items[s->n].body;
    d[5] = &s->items[s->n].last_error;

    for (i = 0; i < 6; i++) {
        assert_true(d[i]->len < 64);
        assert_int_equal(d[i]->data[d[i]->len], '\0');
        memcpy(s->strs[s->n][i], d[i]->data, d[i]->len + 1);
        d[i]->data = s->strs[s->n][i];
    }

    s->n++;

    return 0;
}


static int
stop_after_one(const qlm_store_item_t *item, void *data)
{
    (*(int *) data)++;
    return 1;
}


static void
check_counter(qlm_store_t *st, const char *name, uint64_t expect)
{
    uint64_t  v;

    qlm_t_ok(qlm_store_counter_get(st, name, &v));

    if (v != expect) {
        fail_msg("counter %s: %llu, expected %llu", name,
                 (unsigned long long) v, (unsigned long long) expect);
    }
}


static void
test_open_errors(void **state)
{
    qlm_test_t           *t;
    qlm_store_t          *st;
    qlm_store_options_t   opts;
    char                  path[300];

    t = *state;

    st = (qlm_store_t *) 1;
    assert_int_equal(qlm_store_open(&st, "", NULL), QLM_STORE_INVALID);
    assert_null(st);

    /* read-only does not create anything */

    memset(&opts, 0, sizeof(opts));
    opts.read_only = 1;

    qlm_t_path(t, path, sizeof(path));

    st = (qlm_store_t *) 1;
    assert_int_equal(qlm_store_open(&st, path, &opts), ENOENT);
    assert_null(st);
    assert_int_equal(access(path, F_OK), -1);

    /* a missing parent directory */

    snprintf(path, sizeof(path), "%s/no/such", t->dir);

    st = (qlm_store_t *) 1;
    assert_int_equal(qlm_store_open(&st, path, NULL), ENOENT);
    assert_null(st);

    qlm_store_close(NULL);
}


static void
test_format(void **state)
{
    int           rc;
    MDB_env      *env;
    MDB_txn      *txn;
    MDB_dbi       dbi;
    MDB_val       key, val;
    qlm_test_t   *t;
    struct stat   sb;
    char          path[300];

    static const unsigned char  v3[4] = { 3, 0, 0, 0 };

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));
    qlm_store_close(t->st);
    t->st = NULL;

    /* the directory is 0700, the files 0600 */

    qlm_t_path(t, path, sizeof(path));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/store/data.mdb", t->dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    qlm_t_path(t, path, sizeof(path));

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);

    key.mv_data = "format";
    key.mv_size = 6;
    val.mv_data = (void *) v3;
    val.mv_size = 4;

    assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    rc = qlm_t_open(t, NULL);
    assert_int_equal(rc, QLM_STORE_INCOMPATIBLE);
    assert_null(t->st);

    assert_string_equal(qlm_store_strerror(QLM_STORE_FULL),
                        "store is full (max_size reached, or no room on "
                        "the file system)");
    assert_string_equal(qlm_store_strerror(ENOENT), strerror(ENOENT));
    assert_string_equal(qlm_store_strerror(MDB_MAP_FULL),
                        mdb_strerror(MDB_MAP_FULL));
}


static void
test_roundtrip(void **state)
{
    int                stops;
    size_t             n;
    uint64_t           due, lease1, lease2, replayed;
    qlm_test_t        *t;
    seen_t             s;
    qlm_store_log_t    log;
    qlm_store_item_t   items[3], *out[10];
    qlm_store_stat_t   stat;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    qlm_t_ok(qlm_store_next_due(t->st, &due));
    assert_int_equal(due, 0);

    items[0] = qlm_t_item(1000, "ev-1", "license.expired", "http://a/1",
                          "{\"a\":1}");
    items[1] = qlm_t_item(500, "ev-2", "license.renewed", "http://b/2",
                          "{\"b\":2}");
    items[2] = qlm_t_item(2000, "ev-3", "license.expired", "http://c/3", "");
    items[2].headers.data = NULL;
    items[2].headers.len = 0;
    items[2].created = 10;

    qlm_t_ok(qlm_store_enqueue(t->st, items, 3));

    assert_int_equal(items[0].id, 1);
    assert_int_equal(items[1].id, 2);
    assert_int_equal(items[2].id, 3);

    qlm_t_ok(qlm_store_next_due(t->st, &due));
    assert_int_equal(due, 500);

    /* due order, exact fields */

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_queue_foreach(t->st, collect, &s));

    assert_int_equal(s.n, 3);
    assert_int_equal(s.items[0].id, 2);
    assert_int_equal(s.items[1].id, 1);
    assert_int_equal(s.items[2].id, 3);

    assert_int_equal(s.items[0].due, 500);
    assert_int_equal(s.items[0].created, 500);
    assert_int_equal(s.items[0].updated, 500);
    assert_int_equal(s.items[0].lease, 0);
    assert_int_equal(s.items[0].attempt, 0);
    assert_int_equal(s.items[0].last_status, 0);
    assert_true(qlm_t_str_is(s.items[0].event_id, "ev-2"));
    assert_true(qlm_t_str_is(s.items[0].event, "license.renewed"));
    assert_true(qlm_t_str_is(s.items[0].url, "http://b/2"));
    assert_true(qlm_t_str_is(s.items[0].headers, "X-Test: 1"));
    assert_true(qlm_t_str_is(s.items[0].body, "{\"b\":2}"));
    assert_true(qlm_t_str_is(s.items[0].last_error, ""));

    assert_int_equal(s.items[2].created, 10);
    assert_true(qlm_t_str_is(s.items[2].headers, ""));
    assert_true(qlm_t_str_is(s.items[2].body, ""));

    /* a callback stops the walk */

    stops = 0;
    qlm_t_ok(qlm_store_queue_foreach(t->st, stop_after_one, &stops));
    assert_int_equal(stops, 1);

    /* only item 2 is due at 999 */

    qlm_t_ok(qlm_store_claim(t->st, 999, 100, out, 10, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->id, 2);
    assert_int_not_equal(out[0]->lease, 0);
    assert_int_equal(out[0]->due, 1099);
    assert_int_equal(out[0]->updated, 999);
    assert_int_equal(out[0]->created, 500);
    assert_int_equal(out[0]->attempt, 1);      /* counted by the claim */
    assert_true(qlm_t_str_is(out[0]->event_id, "ev-2"));
    assert_true(qlm_t_str_is(out[0]->url, "http://b/2"));
    assert_true(qlm_t_str_is(out[0]->body, "{\"b\":2}"));
    assert_true(qlm_t_str_is(out[0]->headers, "X-Test: 1"));
    lease2 = out[0]->lease;
    qlm_store_item_free(out[0]);

    /* nothing more: 1 is not due, 2 is leased */

    qlm_t_ok(qlm_store_claim(t->st, 999, 100, out, 10, &n));
    assert_int_equal(n, 0);

    qlm_t_ok(qlm_store_next_due(t->st, &due));
    assert_int_equal(due, 1000);

    qlm_t_ok(qlm_store_stat(t->st, 1000, &stat));
    assert_int_equal(stat.queued, 3);
    assert_int_equal(stat.due, 1);
    assert_int_equal(stat.leased, 1);
    assert_int_equal(stat.dead, 0);
    assert_int_equal(stat.log_records, 0);
    assert_int_equal(stat.next_due, 1000);
    assert_int_equal(stat.map_size, 64 * 1024 * 1024);
    assert_true(stat.map_used > 0 && stat.map_used < stat.map_size);

    /* at 1000: item 1 only, item 2's lease runs to 1099 */

    qlm_t_ok(qlm_store_claim(t->st, 1000, 100, out, 10, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->id, 1);
    lease1 = out[0]->lease;
    assert_int_not_equal(lease1, lease2);
    qlm_store_item_free(out[0]);

    /* ack item 2 */

    memset(&log, 0, sizeof(log));
    log.time = 1005;
    log.item_id = 2;
    log.attempt = 1;
    log.status = 200;
    log.duration = 5;
    log.outcome = QLM_STORE_DELIVERED;
    log.event_id = qlm_t_str("ev-2");
    log.event = qlm_t_str("license.renewed");
    log.url = qlm_t_str("http://b/2");

    assert_int_equal(qlm_store_ack(t->st, 2, lease2 + 1000, &log),
                     QLM_STORE_STALE);
    assert_int_equal(qlm_store_ack(t->st, 2, 0, &log), QLM_STORE_STALE);
    qlm_t_ok(qlm_store_ack(t->st, 2, lease2, &log));
    assert_int_equal(qlm_store_ack(t->st, 2, lease2, &log),
                     QLM_STORE_NOTFOUND);

    /* reschedule item 1 */

    log.time = 1010;
    log.item_id = 1;
    log.status = 500;
    log.outcome = QLM_STORE_RETRY;
    log.error = qlm_t_str("HTTP status 500");

    qlm_t_ok(qlm_store_reschedule(t->st, 1, lease1, 5000, 1, 500,
                                  qlm_t_str("HTTP status 500"), &log));

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_queue_foreach(t->st, collect, &s));

    assert_int_equal(s.n, 2);
    assert_int_equal(s.items[0].id, 3);
    assert_int_equal(s.items[1].id, 1);
    assert_int_equal(s.items[1].due, 5000);
    assert_int_equal(s.items[1].lease, 0);
    assert_int_equal(s.items[1].attempt, 1);
    assert_int_equal(s.items[1].last_status, 500);
    assert_int_equal(s.items[1].updated, 1010);
    assert_int_equal(s.items[1].created, 1000);
    assert_true(qlm_t_str_is(s.items[1].last_error, "HTTP status 500"));
    assert_true(qlm_t_str_is(s.items[1].body, "{\"a\":1}"));

    /* the old token is gone with the lease */

    assert_int_equal(qlm_store_reschedule(t->st, 1, lease1, 5000, 1, 500,
                                          qlm_t_str(""), NULL),
                     QLM_STORE_STALE);

    /* at 5000: 3 (due 2000) then 1 (due 5000) */

    qlm_t_ok(qlm_store_claim(t->st, 5000, 30000, out, 10, &n));
    assert_int_equal(n, 2);
    assert_int_equal(out[0]->id, 3);
    assert_int_equal(out[1]->id, 1);
    assert_int_equal(out[1]->attempt, 2);      /* its second attempt */
    assert_true(qlm_t_str_is(out[1]->last_error, "HTTP status 500"));

    /* item 3 dies */

    qlm_t_ok(qlm_store_dead(t->st, 3, out[0]->lease, 5001, 3, 0,
                            qlm_t_str("timed out"), NULL));

    /* item 1 goes back without a log: updated is the due time */

    qlm_t_ok(qlm_store_reschedule(t->st, 1, out[1]->lease, 7000, 2, 502,
                                  qlm_t_str("bad gateway"), NULL));

    qlm_store_item_free(out[0]);
    qlm_store_item_free(out[1]);

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_dead_foreach(t->st, collect, &s));

    assert_int_equal(s.n, 1);
    assert_int_equal(s.items[0].id, 3);
    assert_int_equal(s.items[0].lease, 0);
    assert_int_equal(s.items[0].attempt, 3);
    assert_int_equal(s.items[0].last_status, 0);
    assert_int_equal(s.items[0].updated, 5001);
    assert_int_equal(s.items[0].created, 10);
    assert_true(qlm_t_str_is(s.items[0].last_error, "timed out"));
    assert_true(qlm_t_str_is(s.items[0].event_id, "ev-3"));
    assert_true(qlm_t_str_is(s.items[0].url, "http://c/3"));

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_queue_foreach(t->st, collect, &s));

    assert_int_equal(s.n, 1);
    assert_int_equal(s.items[0].id, 1);
    assert_int_equal(s.items[0].due, 7000);
    assert_int_equal(s.items[0].updated, 7000);
    assert_int_equal(s.items[0].attempt, 2);
    assert_int_equal(s.items[0].last_status, 502);

    qlm_t_ok(qlm_store_stat(t->st, 5001, &stat));
    assert_int_equal(stat.queued, 1);
    assert_int_equal(stat.dead, 1);
    assert_int_equal(stat.due, 0);
    assert_int_equal(stat.leased, 0);
    assert_int_equal(stat.log_records, 2);
    assert_int_equal(stat.next_due, 7000);

    /* replay */

    assert_int_equal(qlm_store_dead_replay(t->st, 99, 6000, &replayed),
                     QLM_STORE_NOTFOUND);
    assert_int_equal(replayed, 0);

    qlm_t_ok(qlm_store_dead_replay(t->st, 3, 6000, &replayed));
    assert_int_equal(replayed, 1);

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_dead_foreach(t->st, collect, &s));
    assert_int_equal(s.n, 0);

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_queue_foreach(t->st, collect, &s));

    assert_int_equal(s.n, 2);
    assert_int_equal(s.items[0].id, 3);
    assert_int_equal(s.items[0].due, 6000);
    assert_int_equal(s.items[0].attempt, 0);
    assert_int_equal(s.items[0].lease, 0);
    assert_int_equal(s.items[0].updated, 6000);
    assert_true(qlm_t_str_is(s.items[0].last_error, "timed out"));
    assert_true(qlm_t_str_is(s.items[0].event_id, "ev-3"));

    qlm_t_ok(qlm_store_next_due(t->st, &due));
    assert_int_equal(due, 6000);

    /* a replayed item is claimable again */

    qlm_t_ok(qlm_store_claim(t->st, 6000, 10, out, 10, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->id, 3);
    qlm_t_ok(qlm_store_ack(t->st, 3, out[0]->lease, NULL));
    qlm_store_item_free(out[0]);

    check_counter(t->st, "enqueued", 3);
    check_counter(t->st, "delivered", 2);
    check_counter(t->st, "retried", 2);
    check_counter(t->st, "dead", 1);
    check_counter(t->st, "replayed", 1);
    check_counter(t->st, "attempts", 2);
}


static void
test_expired_lease(void **state)
{
    size_t             n;
    uint64_t           a, b;
    qlm_test_t        *t;
    qlm_store_item_t   item, *out[4];

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    item = qlm_t_item(1000, "e", "x", "http://x/", "{}");
    qlm_t_ok(qlm_store_enqueue(t->st, &item, 1));

    qlm_t_ok(qlm_store_claim(t->st, 1000, 100, out, 4, &n));
    assert_int_equal(n, 1);
    a = out[0]->lease;
    qlm_store_item_free(out[0]);

    qlm_t_ok(qlm_store_claim(t->st, 1099, 100, out, 4, &n));
    assert_int_equal(n, 0);

    /* the lease ends at 1100 */

    qlm_t_ok(qlm_store_claim(t->st, 1100, 100, out, 4, &n));
    assert_int_equal(n, 1);
    b = out[0]->lease;
    assert_int_not_equal(a, b);
    assert_int_not_equal(b, 0);
    assert_int_equal(out[0]->due, 1200);
    assert_int_equal(out[0]->updated, 1100);
    qlm_store_item_free(out[0]);

    assert_int_equal(qlm_store_ack(t->st, item.id, a, NULL), QLM_STORE_STALE);
    assert_int_equal(qlm_store_reschedule(t->st, item.id, a, 2000, 1, 0,
                                          qlm_t_str("x"), NULL),
                     QLM_STORE_STALE);
    assert_int_equal(qlm_store_dead(t->st, item.id, a, 2000, 1, 0,
                                    qlm_t_str("x"), NULL),
                     QLM_STORE_STALE);

    /* the stale calls changed nothing */

    qlm_t_ok(qlm_store_claim(t->st, 1150, 100, out, 4, &n));
    assert_int_equal(n, 0);

    qlm_t_ok(qlm_store_ack(t->st, item.id, b, NULL));

    qlm_t_ok(qlm_store_next_due(t->st, &a));
    assert_int_equal(a, 0);
}


static void
test_due_order(void **state)
{
    size_t             i, n, total;
    uint64_t           last, last_id, seed;
    qlm_test_t        *t;
    qlm_store_item_t   items[50], *out[7];

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    seed = 42;

    for (i = 0; i < 50; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        items[i] = qlm_t_item(1000 + (seed >> 33) % 20, "e", "x",
                              "http://x/", "{}");
    }

    qlm_t_ok(qlm_store_enqueue(t->st, items, 25));
    qlm_t_ok(qlm_store_enqueue(t->st, items + 25, 25));

    /* claimed 7 at a time, in (due, id) order */

    last = 0;
    last_id = 0;
    total = 0;

    for ( ;; ) {
        qlm_t_ok(qlm_store_claim(t->st, 1010, 1000000, out, 7, &n));

        if (n == 0) {
            break;
        }

        assert_true(n <= 7);

        for (i = 0; i < n; i++) {
            assert_true(items[out[i]->id - 1].due <= 1010);
            assert_int_equal(out[i]->created, items[out[i]->id - 1].due);
            assert_true(items[out[i]->id - 1].due > last
                        || (items[out[i]->id - 1].due == last
                            && out[i]->id > last_id));
            last = items[out[i]->id - 1].due;
            last_id = out[i]->id;
            qlm_store_item_free(out[i]);
            total++;
        }
    }

    for (n = 0, i = 0; i < 50; i++) {
        n += (items[i].due <= 1010);
    }

    assert_int_equal(total, n);
    assert_true(total > 0 && total < 50);
}


static void
test_enqueue_invalid(void **state)
{
    qlm_test_t        *t;
    qlm_store_item_t   items[3];
    qlm_store_stat_t   stat;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    items[0] = qlm_t_item(1, "a", "x", "http://x/", "{}");
    items[1] = qlm_t_item(1, "b", "x", "http://x/", "{}");
    items[2] = qlm_t_item(1, "c", "x", "http://x/", "{}");
    items[2].url.data = NULL;

    assert_int_equal(qlm_store_enqueue(t->st, items, 3), QLM_STORE_INVALID);
    assert_int_equal(items[0].id, 0);
    assert_int_equal(items[1].id, 0);

    qlm_t_ok(qlm_store_stat(t->st, 1, &stat));
    assert_int_equal(stat.queued, 0);

    items[2].url = qlm_t_str("http://x/");
    qlm_t_ok(qlm_store_enqueue(t->st, items, 3));
    assert_int_equal(items[0].id, 1);
    assert_int_equal(items[2].id, 3);
}


static void
test_read_only(void **state)
{
    size_t                n;
    seen_t                s;
    qlm_test_t           *t;
    qlm_store_item_t      item, *out[1];
    qlm_store_options_t   opts;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));
    item = qlm_t_item(7, "ro", "x", "http://x/", "{}");
    qlm_t_ok(qlm_store_enqueue(t->st, &item, 1));
    qlm_store_close(t->st);
    t->st = NULL;

    memset(&opts, 0, sizeof(opts));
    opts.read_only = 1;

    qlm_t_ok(qlm_t_open(t, &opts));

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_queue_foreach(t->st, collect, &s));
    assert_int_equal(s.n, 1);
    assert_true(qlm_t_str_is(s.items[0].event_id, "ro"));

    assert_int_equal(qlm_store_enqueue(t->st, &item, 1), EACCES);
    assert_int_equal(qlm_store_claim(t->st, 7, 1, out, 1, &n), EACCES);
    assert_int_equal(n, 0);
    assert_int_equal(qlm_store_counter_add(t->st, "x", 1), EACCES);
    qlm_t_ok(qlm_store_sync(t->st));
}


/* an attempt handed back unfinished keeps its count and error */

static void
test_release(void **state)
{
    size_t             n;
    qlm_test_t        *t;
    seen_t             s;
    qlm_store_item_t   item, *out[2];

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    item = qlm_t_item(100, "ev-r", "e", "http://r/", "{}");
    qlm_t_ok(qlm_store_enqueue(t->st, &item, 1));

    qlm_t_ok(qlm_store_claim(t->st, 100, 1000, out, 2, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->attempt, 1);

    qlm_t_ok(qlm_store_reschedule(t->st, item.id, out[0]->lease, 200, 1,
                                  503, qlm_t_str("HTTP status 503"), NULL));
    qlm_store_item_free(out[0]);

    qlm_t_ok(qlm_store_claim(t->st, 200, 1000, out, 2, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->attempt, 2);

    /* the process exits during attempt 2: due again at once */

    assert_int_equal(qlm_store_release(t->st, item.id, out[0]->lease + 1,
                                       250),
                     QLM_STORE_STALE);
    qlm_t_ok(qlm_store_release(t->st, item.id, out[0]->lease, 250));
    qlm_store_item_free(out[0]);

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_queue_foreach(t->st, collect, &s));
    assert_int_equal(s.n, 1);
    assert_int_equal(s.items[0].due, 250);
    assert_int_equal(s.items[0].lease, 0);
    assert_int_equal(s.items[0].attempt, 2);
    assert_int_equal(s.items[0].last_status, 503);
    assert_true(qlm_t_str_is(s.items[0].last_error, "HTTP status 503"));

    /* no retry that did not happen is counted */
    check_counter(t->st, "retried", 1);

    qlm_t_ok(qlm_store_claim(t->st, 250, 1000, out, 2, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->attempt, 3);

    /* claimed, then refused (its receiver at its limit): never attempted */

    qlm_t_ok(qlm_store_unclaim(t->st, item.id, out[0]->lease, 300));
    qlm_store_item_free(out[0]);

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_queue_foreach(t->st, collect, &s));
    assert_int_equal(s.items[0].due, 300);
    assert_int_equal(s.items[0].lease, 0);
    assert_int_equal(s.items[0].attempt, 2);

    qlm_t_ok(qlm_store_claim(t->st, 300, 1000, out, 2, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->attempt, 3);
    qlm_store_item_free(out[0]);
}


/* refuses URLs with "slow" in them */

static int
not_slow(const qlm_store_item_t *item, void *data)
{
    size_t  *seen = data;

    (*seen)++;

    return strstr(item->url.data, "slow") == NULL;
}


/* a filtered claim passes over refused items, which stay due, in order */

static void
test_claim_filter(void **state)
{
    size_t             n, seen;
    qlm_test_t        *t;
    qlm_store_item_t   items[6], *out[6];

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    items[0] = qlm_t_item(100, "e1", "x", "http://slow/", "{}");
    items[1] = qlm_t_item(101, "e2", "x", "http://slow/", "{}");
    items[2] = qlm_t_item(102, "e3", "x", "http://slow/", "{}");
    items[3] = qlm_t_item(103, "e4", "x", "http://fast/", "{}");
    items[4] = qlm_t_item(104, "e5", "x", "http://fast/", "{}");
    items[5] = qlm_t_item(105, "e6", "x", "http://fast/", "{}");
    qlm_t_ok(qlm_store_enqueue(t->st, items, 6));

    /* a plain claim of two would take two slow ones */

    seen = 0;
    qlm_t_ok(qlm_store_claim_filter(t->st, 1000, 100, not_slow, &seen, 16,
                                    out, 2, &n));
    assert_int_equal(n, 2);
    assert_int_equal(seen, 5);
    assert_true(qlm_t_str_is(out[0]->event_id, "e4"));
    assert_true(qlm_t_str_is(out[1]->event_id, "e5"));
    qlm_store_item_free(out[0]);
    qlm_store_item_free(out[1]);

    /* scan bounds what is looked at: the first 3 are all refused */

    seen = 0;
    qlm_t_ok(qlm_store_claim_filter(t->st, 1000, 100, not_slow, &seen, 3,
                                    out, 2, &n));
    assert_int_equal(n, 0);
    assert_int_equal(seen, 3);

    /* the refused ones are untouched: a plain claim gets them, in order */

    qlm_t_ok(qlm_store_claim(t->st, 1000, 100, out, 6, &n));
    assert_int_equal(n, 4);
    assert_true(qlm_t_str_is(out[0]->event_id, "e1"));
    assert_int_equal(out[0]->attempt, 1);
    assert_true(qlm_t_str_is(out[3]->event_id, "e6"));

    for (n = 0; n < 4; n++) {
        qlm_store_item_free(out[n]);
    }
}


/* takes one item, then ends the scan at the next */

static int
one_then_stop(const qlm_store_item_t *item, void *data)
{
    size_t  *seen = data;

    return (*seen)++ == 0 ? 1 : -1;
}


/* a filter's negative answer ends the scan: nothing after it is read */

static void
test_claim_filter_stop(void **state)
{
    size_t             n, seen;
    qlm_test_t        *t;
    qlm_store_item_t   items[4], *out[4];

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    items[0] = qlm_t_item(100, "e1", "x", "http://a/", "{}");
    items[1] = qlm_t_item(101, "e2", "x", "http://a/", "{}");
    items[2] = qlm_t_item(102, "e3", "x", "http://a/", "{}");
    items[3] = qlm_t_item(103, "e4", "x", "http://a/", "{}");
    qlm_t_ok(qlm_store_enqueue(t->st, items, 4));

    seen = 0;
    qlm_t_ok(qlm_store_claim_filter(t->st, 1000, 100, one_then_stop, &seen,
                                    16, out, 4, &n));
    assert_int_equal(n, 1);
    assert_int_equal(seen, 2);
    assert_true(qlm_t_str_is(out[0]->event_id, "e1"));
    qlm_store_item_free(out[0]);

    /* the one it stopped at, and those after, stay due, in order */

    qlm_t_ok(qlm_store_claim(t->st, 1000, 100, out, 4, &n));
    assert_int_equal(n, 3);
    assert_true(qlm_t_str_is(out[0]->event_id, "e2"));
    assert_int_equal(out[0]->attempt, 1);
    assert_true(qlm_t_str_is(out[2]->event_id, "e4"));

    for (n = 0; n < 3; n++) {
        qlm_store_item_free(out[n]);
    }
}


/* stat_max(): due, leased and waiting items, and a walk cut at its bound */

static void
test_stat_bounded(void **state)
{
    size_t             n;
    qlm_test_t        *t;
    qlm_store_item_t   items[4], *out[1];
    qlm_store_stat_t   stat;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    items[0] = qlm_t_item(1000, "e1", "x", "http://a/", "{}");
    items[1] = qlm_t_item(1500, "e2", "x", "http://a/", "{}");
    items[2] = qlm_t_item(9000, "e3", "x", "http://a/", "{}");
    items[3] = qlm_t_item(9500, "e4", "x", "http://a/", "{}");
    qlm_t_ok(qlm_store_enqueue(t->st, items, 4));

    /* e1 leased until 6000 (a sched entry after e2's) */

    qlm_t_ok(qlm_store_claim(t->st, 1000, 5000, out, 1, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->id, 1);
    qlm_store_item_free(out[0]);

    qlm_t_ok(qlm_store_stat_max(t->st, 2000, 0, &stat));
    assert_int_equal(stat.queued, 4);
    assert_int_equal(stat.due, 1);
    assert_int_equal(stat.leased, 1);
    assert_int_equal(stat.examined, 4);
    assert_int_equal(stat.partial, 0);

    /* the bound: e2 (due) and e1 (leased) are walked, e3 and e4 not */

    qlm_t_ok(qlm_store_stat_max(t->st, 2000, 2, &stat));
    assert_int_equal(stat.queued, 4);
    assert_int_equal(stat.due, 1);
    assert_int_equal(stat.leased, 1);
    assert_int_equal(stat.examined, 2);
    assert_int_equal(stat.partial, 1);

    qlm_t_ok(qlm_store_stat_max(t->st, 2000, 1, &stat));
    assert_int_equal(stat.due, 1);
    assert_int_equal(stat.leased, 0);
    assert_int_equal(stat.partial, 1);

    /* a bound the queue fits in is not partial */

    qlm_t_ok(qlm_store_stat_max(t->st, 2000, 4, &stat));
    assert_int_equal(stat.examined, 4);
    assert_int_equal(stat.partial, 0);

    /* past the lease, e1 is due again; now 0 walks nothing */

    qlm_t_ok(qlm_store_stat_max(t->st, 6000, 0, &stat));
    assert_int_equal(stat.due, 2);
    assert_int_equal(stat.leased, 0);

    qlm_t_ok(qlm_store_stat_max(t->st, 0, 1, &stat));
    assert_int_equal(stat.queued, 4);
    assert_int_equal(stat.examined, 0);
    assert_int_equal(stat.due, 0);
    assert_int_equal(stat.partial, 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_open_errors),
        QLM_T(test_format),
        QLM_T(test_roundtrip),
        QLM_T(test_expired_lease),
        QLM_T(test_due_order),
        QLM_T(test_enqueue_invalid),
        QLM_T(test_read_only),
        QLM_T(test_release),
        QLM_T(test_claim_filter),
        QLM_T(test_claim_filter_stop),
        QLM_T(test_stat_bounded),
    };

    return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
