
/*
 * The write batch: many ops in one transaction, soft errors that leave the
 * rest of the batch alone, a poisoned batch that writes nothing, counters
 * summed.
 */

#include "qlm_test.h"

#include <lmdb.h>


/*
 * LMDB's last transaction id: each commit that wrote something adds one.
 * Read with a raw environment while the store is closed (an environment
 * must not be open twice in one process).
 */

static uint64_t
txnid(qlm_test_t *t, const qlm_store_options_t *opts)
{
    MDB_env      *env;
    MDB_envinfo   info;
    char          path[300];

    qlm_store_close(t->st);
    t->st = NULL;

    qlm_t_path(t, path, sizeof(path));

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 12), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_env_info(env, &info), 0);
    mdb_env_close(env);

    qlm_t_ok(qlm_t_open(t, opts));

    return info.me_last_txnid;
}


typedef struct {
    size_t      n;
    uint64_t    first;
    uint64_t    last;
    unsigned    leased;
} walk_t;


static int
walk(const qlm_store_item_t *it, void *data)
{
    walk_t  *w;

    w = data;

    if (w->n++ == 0 || it->id < w->first) {
        w->first = it->id;
    }

    if (it->id > w->last) {
        w->last = it->id;
    }

    w->leased += it->lease != 0;

    return 0;
}


static int
count_log(const qlm_store_log_t *rec, void *data)
{
    (*(size_t *) data)++;
    return 0;
}


static uint64_t
counter(qlm_test_t *t, const char *name)
{
    uint64_t  v;

    qlm_t_ok(qlm_store_counter_get(t->st, name, &v));

    return v;
}


static qlm_store_log_t
log_of(const qlm_store_item_t *it, uint64_t time, uint32_t outcome)
{
    qlm_store_log_t  log;

    memset(&log, 0, sizeof(log));

    log.time = time;
    log.item_id = it->id;
    log.attempt = it->attempt + 1;
    log.status = 200;
    log.outcome = outcome;
    log.event_id = it->event_id;
    log.event = it->event;
    log.url = it->url;

    return log;
}


#define N  1000


static void raw_item(qlm_test_t *t, uint64_t id, const void *data,
    size_t len, MDB_val *old);


static void
test_batch(void **state)
{
    size_t               i, n, logs;
    uint64_t             before;
    walk_t               w;
    qlm_test_t          *t;
    qlm_store_log_t      log;
    qlm_store_item_t    *items, **out;
    qlm_store_write_t   *wb;
    char                 ev[32];

    t = *state;

    items = calloc(2 * N, sizeof(qlm_store_item_t));
    out = calloc(N, sizeof(qlm_store_item_t *));
    assert_non_null(items);
    assert_non_null(out);

    qlm_t_ok(qlm_t_open(t, NULL));

    /* N enqueue ops, one transaction */

    before = txnid(t, NULL);

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));

    for (i = 0; i < N; i++) {
        snprintf(ev, sizeof(ev), "ev-%zu", i);
        items[i] = qlm_t_item(10, strdup(ev), "batch",
                              "http://batch.example/", "{}");
        qlm_t_ok(qlm_store_write_enqueue_event(wb, &items[i], 1, 0, NULL));
        assert_int_equal(items[i].id, i + 1);
    }

    qlm_t_ok(qlm_store_write_commit(wb));

    assert_int_equal(txnid(t, NULL), before + 1);

    qlm_t_ok(qlm_store_claim(t->st, 10, 60000, out, N, &n));
    assert_int_equal(n, N);

    /* N more enqueues and N acks with their log records, one transaction */

    before = txnid(t, NULL);

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));

    for (i = 0; i < N; i++) {
        items[N + i] = qlm_t_item(20, items[i].event_id.data, "batch",
                                  "http://batch.example/", "{}");
        qlm_t_ok(qlm_store_write_enqueue_event(wb, &items[N + i], 1, 0,
                                               NULL));

        log = log_of(out[i], 30 + i, QLM_STORE_DELIVERED);
        qlm_t_ok(qlm_store_write_ack(wb, out[i]->id, out[i]->lease, &log));
    }

    qlm_t_ok(qlm_store_write_commit(wb));

    assert_int_equal(txnid(t, NULL), before + 1);

    /* every item is there: the acked ones gone, the new ones queued */

    memset(&w, 0, sizeof(w));
    qlm_t_ok(qlm_store_queue_foreach(t->st, walk, &w));
    assert_int_equal(w.n, N);
    assert_int_equal(w.first, N + 1);
    assert_int_equal(w.last, 2 * N);
    assert_int_equal(w.leased, 0);

    logs = 0;
    qlm_t_ok(qlm_store_log_foreach(t->st, NULL, count_log, &logs));
    assert_int_equal(logs, N);

    /* the counters are the sums, written once each */

    assert_int_equal(counter(t, "enqueued"), 2 * N);
    assert_int_equal(counter(t, "delivered"), N);
    assert_int_equal(counter(t, "attempts"), N);

    for (i = 0; i < N; i++) {
        free((char *) items[i].event_id.data);
        qlm_store_item_free(out[i]);
    }

    free(items);
    free(out);
}


/* a reschedule and a death count too, and an empty batch writes nothing */

/* the log's records in order: their times and items */

typedef struct {
    size_t    n;
    uint64_t  time[64];
    uint64_t  item[64];
} logs_t;


static int
collect_log(const qlm_store_log_t *rec, void *data)
{
    logs_t  *l;

    l = data;

    assert_true(l->n < 64);

    l->time[l->n] = rec->time;
    l->item[l->n] = rec->item_id;
    l->n++;

    return 0;
}


/*
 * Acks of one batch, their records put at the end of the log through the
 * batch's cursor, some timed behind the last, and the oldest deleted by
 * the retention in the same txn: the newest 50 are kept, in time order.
 */

static void
test_batch_log(void **state)
{
    size_t                i, n;
    logs_t                l;
    uint64_t              time;
    qlm_test_t           *t;
    qlm_store_log_t       log;
    qlm_store_item_t      items[200], *out[200];
    qlm_store_write_t    *wb;
    qlm_store_options_t   opts;

    t = *state;

    memset(&opts, 0, sizeof(opts));
    opts.log_max_records = 50;

    qlm_t_ok(qlm_t_open(t, &opts));

    for (i = 0; i < 200; i++) {
        items[i] = qlm_t_item(10, "ev", "batch", "http://batch.example/",
                              "{}");
    }

    qlm_t_ok(qlm_store_enqueue(t->st, items, 200));
    qlm_t_ok(qlm_store_claim(t->st, 10, 60000, out, 200, &n));
    assert_int_equal(n, 200);

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));

    for (i = 0; i < 200; i++) {
        /* every 7th behind: 500 + i, the others 1000 + i */

        time = (i % 7 == 3) ? 500 + i : 1000 + i;

        log = log_of(out[i], time, QLM_STORE_DELIVERED);
        qlm_t_ok(qlm_store_write_ack(wb, out[i]->id, out[i]->lease, &log));
    }

    qlm_t_ok(qlm_store_write_commit(wb));

    memset(&l, 0, sizeof(l));
    qlm_t_ok(qlm_store_log_foreach(t->st, NULL, collect_log, &l));
    assert_int_equal(l.n, 50);

    /* the 50 latest at 1000 + i, i up to 199, none of those behind */

    for (i = 0, n = 199; i < 50; i++, n--) {
        if (n % 7 == 3) {
            n--;
        }

        assert_int_equal(l.time[49 - i], 1000 + n);
        assert_int_equal(l.item[49 - i], out[n]->id);
    }

    for (i = 0; i < 200; i++) {
        qlm_store_item_free(out[i]);
    }
}


/* an event's ids, in the caller's buffer (up to 8 items) or malloc'd */

static void
test_many_ids(void **state)
{
    size_t              i;
    qlm_test_t         *t;
    qlm_store_item_t    items[12];
    qlm_store_write_t  *wb;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    for (i = 0; i < 12; i++) {
        items[i] = qlm_t_item(10, "ev", "batch", "http://batch.example/",
                              "{}");
    }

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));
    qlm_t_ok(qlm_store_write_enqueue_event(wb, items, 10, 0, NULL));
    qlm_t_ok(qlm_store_write_enqueue_event(wb, items + 10, 2, 0, NULL));
    qlm_t_ok(qlm_store_write_commit(wb));

    for (i = 0; i < 12; i++) {
        assert_int_equal(items[i].id, i + 1);
    }

    qlm_t_ok(qlm_store_enqueue_event(t->st, items, 9, 0, NULL));
    qlm_t_ok(qlm_store_enqueue_event(t->st, items + 9, 3, 0, NULL));

    for (i = 0; i < 12; i++) {
        assert_int_equal(items[i].id, 13 + i);
    }
}


static void
test_counters(void **state)
{
    size_t              n;
    uint64_t            before;
    qlm_test_t         *t;
    qlm_store_log_t     log[3];
    qlm_store_item_t    items[3], *out[3];
    qlm_store_write_t  *wb;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    items[0] = qlm_t_item(1, "a", "e", "http://x/", "1");
    items[1] = qlm_t_item(2, "b", "e", "http://x/", "2");
    items[2] = qlm_t_item(3, "c", "e", "http://x/", "3");

    /* three items in one op */

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));
    qlm_t_ok(qlm_store_write_enqueue_event(wb, items, 3, 0, NULL));
    qlm_t_ok(qlm_store_write_commit(wb));

    qlm_t_ok(qlm_store_claim(t->st, 5, 1000, out, 3, &n));
    assert_int_equal(n, 3);

    log[0] = log_of(out[0], 6, QLM_STORE_DELIVERED);
    log[1] = log_of(out[1], 6, QLM_STORE_RETRY);
    log[2] = log_of(out[2], 6, QLM_STORE_DEAD);

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));
    qlm_t_ok(qlm_store_write_ack(wb, out[0]->id, out[0]->lease, &log[0]));
    qlm_t_ok(qlm_store_write_reschedule(wb, out[1]->id, out[1]->lease, 100,
                                        1, 503, qlm_t_str("HTTP 503"),
                                        &log[1]));
    qlm_t_ok(qlm_store_write_dead(wb, out[2]->id, out[2]->lease, 7, 1, 500,
                                  qlm_t_str("HTTP 500"), &log[2]));
    qlm_t_ok(qlm_store_write_commit(wb));

    assert_int_equal(counter(t, "enqueued"), 3);
    assert_int_equal(counter(t, "delivered"), 1);
    assert_int_equal(counter(t, "retried"), 1);
    assert_int_equal(counter(t, "dead"), 1);
    assert_int_equal(counter(t, "attempts"), 3);

    before = txnid(t, NULL);

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));
    qlm_t_ok(qlm_store_write_commit(wb));

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));
    qlm_store_write_abort(wb);

    assert_int_equal(txnid(t, NULL), before);

    qlm_store_item_free(out[0]);
    qlm_store_item_free(out[1]);
    qlm_store_item_free(out[2]);
}


/* soft errors change nothing and leave the batch usable */

static void
test_soft(void **state)
{
    size_t              n;
    walk_t              w;
    qlm_test_t         *t;
    qlm_store_str_t     bad;
    qlm_store_item_t    a, b, c, inv, *out[1];
    qlm_store_record_t  rec;
    qlm_store_write_t  *wb;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    a = qlm_t_item(1, "a", "e", "http://x/", "1");
    qlm_t_ok(qlm_store_enqueue(t->st, &a, 1));

    /* claimed twice: the first token is stale */

    qlm_t_ok(qlm_store_claim(t->st, 1, 10, out, 1, &n));
    assert_int_equal(n, 1);
    qlm_store_item_free(out[0]);
    qlm_t_ok(qlm_store_claim(t->st, 20, 10, out, 1, &n));
    assert_int_equal(n, 1);

    b = qlm_t_item(2, "b", "e", "http://x/", "2");
    c = qlm_t_item(3, "c", "e", "http://x/", "3");
    inv = qlm_t_item(4, "inv", "e", "http://x/", "4");
    inv.body.data = NULL;

    bad.len = 3;
    bad.data = NULL;

    memset(&rec, 0, sizeof(rec));

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));

    qlm_t_ok(qlm_store_write_enqueue_event(wb, &b, 1, 0, NULL));

    assert_int_equal(qlm_store_write_ack(wb, a.id, out[0]->lease - 1, NULL),
                     QLM_STORE_STALE);
    assert_int_equal(qlm_store_write_ack(wb, 999, 1, NULL),
                     QLM_STORE_NOTFOUND);
    assert_int_equal(qlm_store_write_reschedule(wb, a.id, out[0]->lease, 50,
                                                1, 0, bad, NULL),
                     QLM_STORE_INVALID);
    assert_int_equal(qlm_store_write_enqueue_event(wb, &inv, 1, 0, NULL),
                     QLM_STORE_INVALID);
    assert_int_equal(inv.id, 0);

    /* a record without a key: nothing of the event is written */

    assert_int_equal(qlm_store_write_enqueue_event(wb, &inv, 0,
                                                   QLM_STORE_LICENSES, &rec),
                     QLM_STORE_INVALID);

    qlm_t_ok(qlm_store_write_enqueue_event(wb, &c, 1, 0, NULL));
    qlm_t_ok(qlm_store_write_reschedule(wb, a.id, out[0]->lease, 50, 1, 503,
                                        qlm_t_str("HTTP 503"), NULL));

    qlm_t_ok(qlm_store_write_commit(wb));

    memset(&w, 0, sizeof(w));
    qlm_t_ok(qlm_store_queue_foreach(t->st, walk, &w));
    assert_int_equal(w.n, 3);
    assert_int_equal(w.leased, 0);
    assert_int_equal(b.id, 2);
    assert_int_equal(c.id, 3);

    assert_int_equal(counter(t, "enqueued"), 3);
    assert_int_equal(counter(t, "retried"), 1);
    assert_int_equal(counter(t, "delivered"), 0);

    qlm_store_item_free(out[0]);
}


/*
 * A full map mid-batch is soft for an enqueue: the enqueues before it and
 * an ack after it are committed.
 */

static void
test_soft_full(void **state)
{
    int                   rc;
    size_t                i, n, ok;
    walk_t                w;
    qlm_test_t           *t;
    qlm_store_item_t      it, first, *out[1];
    qlm_store_write_t    *wb;
    qlm_store_options_t   opts;
    static char           body[2000];

    t = *state;

    memset(body, 'x', sizeof(body) - 1);

    memset(&opts, 0, sizeof(opts));
    opts.map_size = 1024 * 1024;

    qlm_t_ok(qlm_t_open(t, &opts));

    first = qlm_t_item(1, "first", "e", "http://x/", "1");
    qlm_t_ok(qlm_store_enqueue(t->st, &first, 1));
    qlm_t_ok(qlm_store_claim(t->st, 1, 1000, out, 1, &n));
    assert_int_equal(n, 1);

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));

    for (i = 0, ok = 0; i < 2000; i++) {
        it = qlm_t_item(2, "fill", "e", "http://x/", body);

        rc = qlm_store_write_enqueue_event(wb, &it, 1, 0, NULL);

        if (rc == QLM_STORE_FULL) {
            break;
        }

        qlm_t_ok(rc);
        ok++;
    }

    print_message("# %zu items of 2 KB in one batch in a 1 MiB map\n", ok);
    assert_true(ok > 50);
    assert_true(i < 2000);

    /* the batch is still usable: the ack goes in, and so does the rest */

    qlm_t_ok(qlm_store_write_ack(wb, out[0]->id, out[0]->lease, NULL));
    qlm_t_ok(qlm_store_write_commit(wb));

    memset(&w, 0, sizeof(w));
    qlm_t_ok(qlm_store_queue_foreach(t->st, walk, &w));
    assert_int_equal(w.n, ok);
    assert_int_equal(w.first, 2);
    assert_int_equal(counter(t, "enqueued"), 1 + ok);
    assert_int_equal(counter(t, "delivered"), 1);

    qlm_store_item_free(out[0]);
}


/*
 * Any other error poisons the batch: a corrupt item record (written behind
 * the store's back) met by an ack.  Nothing of the batch is written.
 */

static void
test_poisoned(void **state)
{
    int                 rc;
    size_t              n;
    walk_t              w;
    MDB_val             saved;
    qlm_test_t         *t;
    qlm_store_log_t     log;
    qlm_store_item_t    a, b, c, d, *out[2];
    qlm_store_write_t  *wb;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    a = qlm_t_item(1, "a", "e", "http://x/", "1");
    b = qlm_t_item(2, "b", "e", "http://x/", "2");
    qlm_t_ok(qlm_store_enqueue(t->st, &a, 1));
    qlm_t_ok(qlm_store_enqueue(t->st, &b, 1));
    qlm_t_ok(qlm_store_claim(t->st, 5, 1000, out, 2, &n));
    assert_int_equal(n, 2);

    /* item 2's record becomes garbage */

    raw_item(t, 2, "garbage", 7, &saved);

    c = qlm_t_item(3, "c", "e", "http://x/", "3");
    d = qlm_t_item(4, "d", "e", "http://x/", "4");
    log = log_of(out[0], 6, QLM_STORE_DELIVERED);

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));
    qlm_t_ok(qlm_store_write_enqueue_event(wb, &c, 1, 0, NULL));
    qlm_t_ok(qlm_store_write_ack(wb, out[0]->id, out[0]->lease, &log));

    rc = qlm_store_write_ack(wb, out[1]->id, out[1]->lease, NULL);
    assert_int_equal(rc, QLM_STORE_CORRUPT);

    /* every later op and the commit give that error */

    assert_int_equal(qlm_store_write_enqueue_event(wb, &d, 1, 0, NULL),
                     QLM_STORE_CORRUPT);
    assert_int_equal(d.id, 0);
    assert_int_equal(qlm_store_write_ack(wb, out[0]->id, out[0]->lease,
                                         NULL),
                     QLM_STORE_CORRUPT);
    assert_int_equal(qlm_store_write_commit(wb), QLM_STORE_CORRUPT);

    /* nothing was written: item 1 still leased, no item 3, no log */

    raw_item(t, 2, saved.mv_data, saved.mv_size, NULL);
    free(saved.mv_data);

    memset(&w, 0, sizeof(w));
    qlm_t_ok(qlm_store_queue_foreach(t->st, walk, &w));
    assert_int_equal(w.n, 2);
    assert_int_equal(w.first, 1);
    assert_int_equal(w.last, 2);
    assert_int_equal(w.leased, 2);

    n = 0;
    qlm_t_ok(qlm_store_log_foreach(t->st, NULL, count_log, &n));
    assert_int_equal(n, 0);

    assert_int_equal(counter(t, "enqueued"), 2);
    assert_int_equal(counter(t, "delivered"), 0);

    /* the store goes on: the same ack alone holds */

    qlm_t_ok(qlm_store_ack(t->st, out[0]->id, out[0]->lease, &log));

    qlm_store_item_free(out[0]);
    qlm_store_item_free(out[1]);
}


/* item "id"'s record set behind the store's back; the old one to *old */

static void
raw_item(qlm_test_t *t, uint64_t id, const void *data, size_t len,
    MDB_val *old)
{
    int             i;
    MDB_env        *env;
    MDB_txn        *txn;
    MDB_dbi         dbi;
    MDB_val         key, val;
    unsigned char   k[8];
    char            path[300];

    qlm_store_close(t->st);
    t->st = NULL;

    for (i = 7; i >= 0; i--) {
        k[i] = (unsigned char) id;
        id >>= 8;
    }

    qlm_t_path(t, path, sizeof(path));

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 12), 0);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "items", 0, &dbi), 0);

    key.mv_data = k;
    key.mv_size = sizeof(k);

    if (old) {
        assert_int_equal(mdb_get(txn, dbi, &key, &val), 0);
        old->mv_data = malloc(val.mv_size);
        assert_non_null(old->mv_data);
        memcpy(old->mv_data, val.mv_data, val.mv_size);
        old->mv_size = val.mv_size;
    }

    val.mv_data = (void *) data;
    val.mv_size = len;

    assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    qlm_t_ok(qlm_t_open(t, NULL));
}


/* enqueue-as-leased: delivered from memory, acked with no claim */

typedef struct {
    size_t            n;
    qlm_store_item_t  item;
} one_t;


static int
one(const qlm_store_item_t *it, void *data)
{
    one_t  *o;

    o = data;

    if (o->n++ == 0) {
        o->item = *it;
    }

    return 0;
}


static void
test_leased(void **state)
{
    size_t              n;
    one_t               o;
    qlm_test_t         *t;
    qlm_store_log_t     log;
    qlm_store_stat_t    stat;
    qlm_store_item_t    a, b, *out[1];
    qlm_store_write_t  *wb;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    a = qlm_t_item(100, "ev-a", "e", "http://x/", "1");
    a.lease_until = 1000;

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));
    qlm_t_ok(qlm_store_write_enqueue_event(wb, &a, 1, 0, NULL));
    assert_int_equal(a.id, 1);
    assert_int_not_equal(a.lease, 0);
    qlm_t_ok(qlm_store_write_commit(wb));

    /* invisible to claimers until the lease expires */

    qlm_t_ok(qlm_store_claim(t->st, 999, 1000, out, 1, &n));
    assert_int_equal(n, 0);

    qlm_t_ok(qlm_store_stat(t->st, 500, &stat));
    assert_int_equal(stat.queued, 1);
    assert_int_equal(stat.leased, 1);
    assert_int_equal(stat.due, 0);
    assert_int_equal(stat.next_due, 1000);

    memset(&o, 0, sizeof(o));
    qlm_t_ok(qlm_store_queue_foreach(t->st, one, &o));
    assert_int_equal(o.n, 1);
    assert_int_equal(o.item.lease, a.lease);
    assert_int_equal(o.item.lease_until, 1000);
    assert_int_equal(o.item.due, 1000);
    assert_int_equal(o.item.attempt, 1);      /* the caller's attempt */

    /* the capturing worker acks it straight away */

    log = log_of(&a, 200, QLM_STORE_DELIVERED);
    qlm_t_ok(qlm_store_ack(t->st, a.id, a.lease, &log));

    memset(&o, 0, sizeof(o));
    qlm_t_ok(qlm_store_queue_foreach(t->st, one, &o));
    assert_int_equal(o.n, 0);
    assert_int_equal(counter(t, "enqueued"), 1);
    assert_int_equal(counter(t, "delivered"), 1);

    /* or reschedules it: the attempt it made is recorded then */

    b = qlm_t_item(100, "ev-b", "e", "http://x/", "2");
    b.lease_until = 1000;

    qlm_t_ok(qlm_store_enqueue(t->st, &b, 1));
    assert_int_equal(b.id, 2);
    assert_int_not_equal(b.lease, 0);
    assert_int_not_equal(b.lease, a.lease);

    qlm_t_ok(qlm_store_reschedule(t->st, b.id, b.lease, 300, 1, 503,
                                  qlm_t_str("HTTP 503"), NULL));

    qlm_t_ok(qlm_store_claim(t->st, 300, 1000, out, 1, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->id, b.id);
    assert_int_equal(out[0]->attempt, 2);
    assert_true(qlm_t_str_is(out[0]->event_id, "ev-b"));
    qlm_store_item_free(out[0]);

    /* an unleased item in the same op gets lease 0 */

    a = qlm_t_item(100, "ev-c", "e", "http://x/", "3");
    a.lease = 77;
    qlm_t_ok(qlm_store_enqueue(t->st, &a, 1));
    assert_int_equal(a.lease, 0);
}


/*
 * A delivery made before its event was stored: recorded in the batch that
 * stores the event, with an id of the items' sequence, its log record and
 * the counts of an enqueue and an ack, and no item left behind.
 */

static void
test_delivered(void **state)
{
    logs_t              l;
    one_t               o;
    qlm_test_t         *t;
    qlm_store_log_t     log;
    qlm_store_item_t    a, b, c;
    qlm_store_write_t  *wb;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    a = qlm_t_item(100, "ev-a", "e", "http://x/", "1");
    a.lease_until = 1000;
    b = qlm_t_item(100, "ev-b", "e", "http://x/", "2");

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));

    log = log_of(&a, 200, QLM_STORE_DELIVERED);
    log.item_id = 99;
    qlm_t_ok(qlm_store_write_delivered(wb, &a, &log));
    assert_int_equal(a.id, 1);
    assert_int_equal(a.lease, 0);

    qlm_t_ok(qlm_store_write_enqueue_event(wb, &b, 1, 0, NULL));
    assert_int_equal(b.id, 2);

    qlm_t_ok(qlm_store_write_commit(wb));

    /* only b waits */

    memset(&o, 0, sizeof(o));
    qlm_t_ok(qlm_store_queue_foreach(t->st, one, &o));
    assert_int_equal(o.n, 1);
    assert_int_equal(o.item.id, 2);

    assert_int_equal(counter(t, "enqueued"), 2);
    assert_int_equal(counter(t, "delivered"), 1);
    assert_int_equal(counter(t, "attempts"), 1);

    /* a's record names the id it was given, not the caller's */

    memset(&l, 0, sizeof(l));
    qlm_t_ok(qlm_store_log_foreach(t->st, NULL, collect_log, &l));
    assert_int_equal(l.n, 1);
    assert_int_equal(l.time[0], 200);
    assert_int_equal(l.item[0], 1);

    /* the ids go on after it */

    c = qlm_t_item(100, "ev-c", "e", "http://x/", "3");
    qlm_t_ok(qlm_store_enqueue(t->st, &c, 1));
    assert_int_equal(c.id, 3);

    /* bad arguments change nothing, and leave the batch usable */

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));
    assert_int_equal(qlm_store_write_delivered(wb, NULL, &log),
                     QLM_STORE_INVALID);
    assert_int_equal(qlm_store_write_delivered(wb, &a, NULL),
                     QLM_STORE_INVALID);
    assert_int_equal(qlm_store_write_delivered(NULL, &a, &log),
                     QLM_STORE_INVALID);
    qlm_t_ok(qlm_store_write_delivered(wb, &a, &log));
    assert_int_equal(a.id, 4);
    qlm_t_ok(qlm_store_write_commit(wb));

    assert_int_equal(counter(t, "delivered"), 2);
}


/*
 * Items leased at their event's commit that the worker does not start go
 * back in a batch: unclaimed (never tried: the attempt counted at the
 * lease is taken back) or released (as they were), due at once; a stale
 * lease changes nothing and leaves the batch usable.
 */

static void
test_give_back(void **state)
{
    size_t              n;
    one_t               o;
    qlm_test_t         *t;
    qlm_store_item_t    a, b, *out[2];
    qlm_store_write_t  *wb;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    a = qlm_t_item(100, "ev-a", "e", "http://x/", "1");
    a.lease_until = 1000;
    a.attempt = 1;
    b = qlm_t_item(100, "ev-b", "e", "http://y/", "2");
    b.lease_until = 1000;
    b.attempt = 1;

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));
    qlm_t_ok(qlm_store_write_enqueue_event(wb, &a, 1, 0, NULL));
    qlm_t_ok(qlm_store_write_enqueue_event(wb, &b, 1, 0, NULL));
    qlm_t_ok(qlm_store_write_commit(wb));

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));
    assert_int_equal(qlm_store_write_unclaim(wb, a.id, a.lease + 1, 150),
                     QLM_STORE_STALE);
    qlm_t_ok(qlm_store_write_unclaim(wb, a.id, a.lease, 150));
    qlm_t_ok(qlm_store_write_release(wb, b.id, b.lease, 160));
    assert_int_equal(qlm_store_write_release(NULL, b.id, b.lease, 160),
                     QLM_STORE_INVALID);
    qlm_t_ok(qlm_store_write_commit(wb));

    /* due again, no longer leased: a claim takes both */

    qlm_t_ok(qlm_store_claim(t->st, 160, 1000, out, 2, &n));
    assert_int_equal(n, 2);
    assert_int_equal(out[0]->id, a.id);
    assert_int_equal(out[0]->attempt, 1);      /* the unclaimed: 0 + 1 */
    assert_int_equal(out[1]->id, b.id);
    assert_int_equal(out[1]->attempt, 2);      /* the released: 1 + 1 */
    qlm_store_item_free(out[0]);
    qlm_store_item_free(out[1]);

    memset(&o, 0, sizeof(o));
    qlm_t_ok(qlm_store_queue_foreach(t->st, one, &o));
    assert_int_equal(o.n, 2);
}


/*
 * The capturing worker dies: its lease expires, and another process claims
 * the item, with its event id, as it was enqueued.
 */

static void
test_leased_expiry(void **state)
{
    int                 status;
    pid_t               pid;
    one_t               o;
    qlm_test_t         *t;
    qlm_store_item_t    c;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    c = qlm_t_item(100, "ev-c", "e", "http://x/", "body-c");
    c.lease_until = 1000;

    qlm_t_ok(qlm_store_enqueue(t->st, &c, 1));

    qlm_store_close(t->st);
    t->st = NULL;

    pid = fork();
    assert_true(pid != -1);

    if (pid == 0) {
        size_t             n;
        qlm_store_t       *st;
        qlm_store_item_t  *out[2];
        char               path[300];

        qlm_t_path(t, path, sizeof(path));

        if (qlm_store_open(&st, path, NULL) != 0) {
            _exit(2);
        }

        /* before the expiry: nothing; after: the item */

        if (qlm_store_claim(st, 999, 1000, out, 2, &n) != 0 || n != 0) {
            _exit(3);
        }

        if (qlm_store_claim(st, 1500, 1000, out, 2, &n) != 0 || n != 1) {
            _exit(4);
        }

        if (out[0]->id != c.id || out[0]->lease == c.lease
            || out[0]->lease == 0 || out[0]->attempt != 2
            || out[0]->lease_until != 2500
            || !qlm_t_str_is(out[0]->event_id, "ev-c")
            || !qlm_t_str_is(out[0]->body, "body-c"))
        {
            _exit(5);
        }

        qlm_store_item_free(out[0]);
        qlm_store_close(st);

        _exit(0);
    }

    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    qlm_t_ok(qlm_t_open(t, NULL));

    /* the dead worker's token no longer holds */

    assert_int_equal(qlm_store_ack(t->st, c.id, c.lease, NULL),
                     QLM_STORE_STALE);

    memset(&o, 0, sizeof(o));
    qlm_t_ok(qlm_store_queue_foreach(t->st, one, &o));
    assert_int_equal(o.n, 1);
    assert_int_equal(o.item.lease_until, 2500);
    assert_int_not_equal(o.item.lease, c.lease);
}


static void
test_args(void **state)
{
    qlm_test_t         *t;
    qlm_store_write_t  *wb;

    t = *state;

    assert_int_equal(qlm_store_write_begin(NULL, &wb), QLM_STORE_INVALID);
    assert_null(wb);
    assert_int_equal(qlm_store_write_ack(NULL, 1, 1, NULL),
                     QLM_STORE_INVALID);
    assert_int_equal(qlm_store_write_commit(NULL), QLM_STORE_INVALID);
    qlm_store_write_abort(NULL);

    qlm_t_ok(qlm_t_open(t, NULL));
    assert_int_equal(qlm_store_write_begin(t->st, NULL), QLM_STORE_INVALID);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_batch),
        QLM_T(test_many_ids),
        QLM_T(test_batch_log),
        QLM_T(test_counters),
        QLM_T(test_soft),
        QLM_T(test_soft_full),
        QLM_T(test_poisoned),
        QLM_T(test_leased),
        QLM_T(test_delivered),
        QLM_T(test_give_back),
        QLM_T(test_leased_expiry),
        QLM_T(test_args),
    };

    return cmocka_run_group_tests_name("write", tests, NULL, NULL);
}
