
/*
 * The invocation log: append, filters, retention.
 */

#include "qlm_test.h"

#include <lmdb.h>


typedef struct {
    size_t    n;
    uint64_t  time[256];
    uint64_t  item[256];
} got_t;


static int
collect(const qlm_store_log_t *rec, void *data)
{
    got_t  *g;

    g = data;

    assert_true(g->n < 256);
    assert_int_equal(rec->event.data[rec->event.len], '\0');
    assert_int_equal(rec->error.data[rec->error.len], '\0');

    g->time[g->n] = rec->time;
    g->item[g->n] = rec->item_id;
    g->n++;

    return 0;
}


static void
append(qlm_store_t *st, uint64_t time, uint64_t item, const char *event,
    const char *event_id, uint32_t outcome)
{
    qlm_store_log_t  log;

    memset(&log, 0, sizeof(log));

    log.time = time;
    log.item_id = item;
    log.attempt = 1;
    log.status = (outcome == QLM_STORE_DELIVERED) ? 200 : 503;
    log.duration = 12;
    log.outcome = outcome;
    log.event = qlm_t_str(event);
    log.event_id = qlm_t_str(event_id);
    log.url = qlm_t_str("https://hooks.example/x");
    log.error = qlm_t_str(outcome == QLM_STORE_DELIVERED ? "" : "HTTP 503");

    qlm_t_ok(qlm_store_log_append(st, &log));
}


static got_t *
query(qlm_store_t *st, qlm_store_log_filter_t *f)
{
    static got_t  g;

    memset(&g, 0, sizeof(g));
    qlm_t_ok(qlm_store_log_foreach(st, f, collect, &g));

    return &g;
}


static void
expect_items(got_t *g, size_t n, const uint64_t *items)
{
    size_t  i;

    if (g->n != n) {
        fail_msg("%zu records, expected %zu", g->n, n);
    }

    for (i = 0; i < n; i++) {
        if (g->item[i] != items[i]) {
            fail_msg("record %zu: item %llu, expected %llu", i,
                     (unsigned long long) g->item[i],
                     (unsigned long long) items[i]);
        }
    }
}


static void
fill(qlm_store_t *st)
{
    /* item i at time 1000 + 10 * i; two records share time 1050 */

    append(st, 1000, 0, "license.expired", "ev-a", QLM_STORE_DELIVERED);
    append(st, 1010, 1, "license.expired", "ev-b", QLM_STORE_RETRY);
    append(st, 1020, 2, "license.renewed", "ev-c", QLM_STORE_DELIVERED);
    append(st, 1030, 3, "license.expired", "ev-b", QLM_STORE_DEAD);
    append(st, 1040, 4, "license.renewed", "ev-d", QLM_STORE_RETRY);
    append(st, 1050, 5, "license.expired", "ev-e", QLM_STORE_DELIVERED);
    append(st, 1050, 6, "license.renewed", "ev-f", QLM_STORE_DELIVERED);
    append(st, 1070, 7, "license.expired", "ev-g", QLM_STORE_RETRY);
}


static void
test_filters(void **state)
{
    qlm_test_t               *t;
    qlm_store_log_filter_t    f;
    qlm_store_stat_t          stat;

    static const uint64_t  all[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    static const uint64_t  all_rev[] = { 7, 6, 5, 4, 3, 2, 1, 0 };
    static const uint64_t  range[] = { 2, 3, 4, 5, 6 };
    static const uint64_t  range_rev[] = { 6, 5, 4, 3, 2 };
    static const uint64_t  expired[] = { 0, 1, 3, 5, 7 };
    static const uint64_t  ev_b[] = { 1, 3 };
    static const uint64_t  delivered[] = { 0, 2, 5, 6 };
    static const uint64_t  renewed_ok_rev[] = { 6, 2 };
    static const uint64_t  limited[] = { 1, 3, 5 };
    static const uint64_t  limited_rev[] = { 7, 5 };

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));
    fill(t->st);

    expect_items(query(t->st, NULL), 8, all);

    memset(&f, 0, sizeof(f));
    expect_items(query(t->st, &f), 8, all);

    f.newest_first = 1;
    expect_items(query(t->st, &f), 8, all_rev);

    /* [1020, 1070): from inclusive, to exclusive */

    memset(&f, 0, sizeof(f));
    f.from = 1020;
    f.to = 1070;
    expect_items(query(t->st, &f), 5, range);

    f.newest_first = 1;
    expect_items(query(t->st, &f), 5, range_rev);

    /* bounds between records */

    f.from = 1015;
    f.to = 1069;
    expect_items(query(t->st, &f), 5, range_rev);

    f.newest_first = 0;
    expect_items(query(t->st, &f), 5, range);

    /* empty ranges */

    f.from = 1071;
    f.to = 0;
    expect_items(query(t->st, &f), 0, NULL);
    f.newest_first = 1;
    expect_items(query(t->st, &f), 0, NULL);
    f.from = 0;
    f.to = 1000;
    expect_items(query(t->st, &f), 0, NULL);

    /* a "to" past the last record */

    f.to = 5000;
    expect_items(query(t->st, &f), 8, all_rev);

    memset(&f, 0, sizeof(f));
    f.event = qlm_t_str("license.expired");
    expect_items(query(t->st, &f), 5, expired);

    memset(&f, 0, sizeof(f));
    f.event_id = qlm_t_str("ev-b");
    expect_items(query(t->st, &f), 2, ev_b);

    memset(&f, 0, sizeof(f));
    f.outcome = QLM_STORE_DELIVERED;
    expect_items(query(t->st, &f), 4, delivered);

    f.event = qlm_t_str("license.renewed");
    f.newest_first = 1;
    expect_items(query(t->st, &f), 2, renewed_ok_rev);

    /* a prefix is no match */

    memset(&f, 0, sizeof(f));
    f.event = qlm_t_str("license");
    expect_items(query(t->st, &f), 0, NULL);

    /* limit counts matches, not records walked */

    memset(&f, 0, sizeof(f));
    f.event = qlm_t_str("license.expired");
    f.from = 1001;
    f.limit = 3;
    expect_items(query(t->st, &f), 3, limited);

    f.newest_first = 1;
    f.limit = 2;
    expect_items(query(t->st, &f), 2, limited_rev);

    qlm_t_ok(qlm_store_stat(t->st, 0, &stat));
    assert_int_equal(stat.log_records, 8);
}


static int
check_fields(const qlm_store_log_t *rec, void *data)
{
    assert_int_equal(rec->time, 123456789012ULL);
    assert_int_equal(rec->item_id, 77);
    assert_int_equal(rec->attempt, 3);
    assert_int_equal(rec->status, -1);
    assert_int_equal(rec->duration, 4000000000U);
    assert_int_equal(rec->outcome, QLM_STORE_DEAD);
    assert_true(qlm_t_str_is(rec->event_id, "id-\"1\""));
    assert_true(qlm_t_str_is(rec->event, "task.match"));
    assert_true(qlm_t_str_is(rec->url, "https://h/p?q=1"));
    assert_true(qlm_t_str_is(rec->error, "Connection refused"));

    (*(int *) data)++;

    return 1;
}


static void
test_fields_exact(void **state)
{
    int               calls;
    qlm_test_t       *t;
    qlm_store_log_t   log;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    memset(&log, 0, sizeof(log));
    log.time = 123456789012ULL;
    log.item_id = 77;
    log.attempt = 3;
    log.status = -1;
    log.duration = 4000000000U;
    log.outcome = QLM_STORE_DEAD;
    log.event_id = qlm_t_str("id-\"1\"");
    log.event = qlm_t_str("task.match");
    log.url = qlm_t_str("https://h/p?q=1");
    log.error = qlm_t_str("Connection refused");

    qlm_t_ok(qlm_store_log_append(t->st, &log));
    qlm_t_ok(qlm_store_log_append(t->st, &log));

    /* a non-zero return stops the walk and is not an error */

    calls = 0;
    qlm_t_ok(qlm_store_log_foreach(t->st, NULL, check_fields, &calls));
    assert_int_equal(calls, 1);
}


static int
check_answer(const qlm_store_log_t *rec, void *data)
{
    const char  *want = data;

    assert_int_equal(rec->answer.len, strlen(want));
    assert_memory_equal(rec->answer.data, want, rec->answer.len);
    assert_int_equal(rec->answer.data[rec->answer.len], '\0');
    assert_true(qlm_t_str_is(rec->error, "HTTP status 500"));

    return 0;
}


/*
 * Records keep the receiver's answer (version 2); a version 1 record, as
 * written before, is still read, with an empty answer.
 */

static void
test_answer_and_v1(void **state)
{
    char              path[300];
    size_t            cut;
    MDB_env          *env;
    MDB_txn          *txn;
    MDB_dbi           dbi;
    MDB_val           key, val, v1;
    MDB_cursor       *cur;
    qlm_test_t       *t;
    qlm_store_log_t   log;
    unsigned char     buf[512];

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    memset(&log, 0, sizeof(log));
    log.time = 1000;
    log.item_id = 1;
    log.attempt = 1;
    log.status = 500;
    log.outcome = QLM_STORE_RETRY;
    log.event_id = qlm_t_str("id");
    log.event = qlm_t_str("e");
    log.url = qlm_t_str("http://h/");
    log.error = qlm_t_str("HTTP status 500");
    log.answer = qlm_t_str("{\"error\":\"database down\"}\n");

    qlm_t_ok(qlm_store_log_append(t->st, &log));
    qlm_t_ok(qlm_store_log_foreach(t->st, NULL, check_answer,
                                   "{\"error\":\"database down\"}\n"));

    qlm_store_close(t->st);
    t->st = NULL;

    /* the record made version 1: its first byte, without the answer */

    qlm_t_path(t, path, sizeof(path));

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 12), 0);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log", 0, &dbi), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    assert_int_equal(mdb_cursor_get(cur, &key, &val, MDB_FIRST), 0);
    assert_int_equal(((unsigned char *) val.mv_data)[0], 2);

    cut = 4 + 1 + log.answer.len;
    assert_true(val.mv_size - cut <= sizeof(buf));
    memcpy(buf, val.mv_data, val.mv_size - cut);
    buf[0] = 1;
    v1.mv_data = buf;
    v1.mv_size = val.mv_size - cut;

    mdb_cursor_close(cur);
    assert_int_equal(mdb_put(txn, dbi, &key, &v1, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    qlm_t_ok(qlm_t_open(t, NULL));
    qlm_t_ok(qlm_store_log_foreach(t->st, NULL, check_answer, ""));
}


/*
 * A record timed before the last one (another process's clock, a clock
 * set back) is kept, in time order: an append at the end is tried first.
 */

static void
test_time_back(void **state)
{
    got_t                 *g;
    qlm_test_t            *t;
    static const uint64_t  items[] = { 3, 1, 0, 2, 4 };

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    append(t->st, 1050, 0, "e", "id", QLM_STORE_DELIVERED);
    append(t->st, 1030, 1, "e", "id", QLM_STORE_DELIVERED);
    append(t->st, 1050, 2, "e", "id", QLM_STORE_DELIVERED);
    append(t->st, 1010, 3, "e", "id", QLM_STORE_DELIVERED);
    append(t->st, 1060, 4, "e", "id", QLM_STORE_DELIVERED);

    g = query(t->st, NULL);
    expect_items(g, 5, items);

    assert_int_equal(g->time[0], 1010);
    assert_int_equal(g->time[4], 1060);
}


static void
test_retention_count(void **state)
{
    size_t                 i;
    uint64_t               v;
    got_t                 *g;
    qlm_test_t            *t;
    qlm_store_options_t    opts;

    t = *state;

    memset(&opts, 0, sizeof(opts));
    opts.log_max_records = 10;

    qlm_t_ok(qlm_t_open(t, &opts));

    for (i = 0; i < 25; i++) {
        append(t->st, 1000 + i, i, "e", "id", QLM_STORE_RETRY);
    }

    g = query(t->st, NULL);
    assert_int_equal(g->n, 10);

    for (i = 0; i < 10; i++) {
        assert_int_equal(g->item[i], 15 + i);
        assert_int_equal(g->time[i], 1015 + i);
    }

    qlm_t_ok(qlm_store_counter_get(t->st, "attempts", &v));
    assert_int_equal(v, 25);
}


static void
test_retention_age(void **state)
{
    size_t                 i;
    got_t                 *g;
    qlm_test_t            *t;
    qlm_store_options_t    opts;

    t = *state;

    memset(&opts, 0, sizeof(opts));
    opts.log_max_age = 100;

    qlm_t_ok(qlm_t_open(t, &opts));

    /* 800, 810, ... 990 */

    for (i = 0; i < 20; i++) {
        append(t->st, 800 + 10 * i, i, "e", "id", QLM_STORE_DELIVERED);
    }

    /* at 990, records before 890 went: 890 ... 990 stay */

    g = query(t->st, NULL);
    assert_int_equal(g->n, 11);
    assert_int_equal(g->time[0], 890);

    /* a record at 1000 keeps [900, 1000] */

    append(t->st, 1000, 99, "e", "id", QLM_STORE_DELIVERED);

    g = query(t->st, NULL);
    assert_int_equal(g->n, 11);
    assert_int_equal(g->time[0], 900);
    assert_int_equal(g->time[10], 1000);

    /* a much later record removes every older one */

    append(t->st, 100000, 100, "e", "id", QLM_STORE_DELIVERED);

    g = query(t->st, NULL);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->item[0], 100);
}


static void
test_bounded_and_trim(void **state)
{
    size_t                 i;
    uint64_t               removed;
    got_t                 *g;
    qlm_test_t            *t;
    qlm_store_stat_t       stat;
    qlm_store_options_t    opts;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    for (i = 0; i < 200; i++) {
        append(t->st, 1000 + i, i, "e", "id", QLM_STORE_DELIVERED);
    }

    qlm_store_close(t->st);
    t->st = NULL;

    /* a tighter bound: one append deletes at most 16 of the 190 over it */

    memset(&opts, 0, sizeof(opts));
    opts.log_max_records = 10;

    qlm_t_ok(qlm_t_open(t, &opts));

    append(t->st, 2000, 1000, "e", "id", QLM_STORE_DELIVERED);

    qlm_t_ok(qlm_store_stat(t->st, 0, &stat));
    assert_int_equal(stat.log_records, 201 - 16);

    /* the oldest went first */

    g = query(t->st, NULL);
    assert_int_equal(g->n, 185);
    assert_int_equal(g->time[0], 1016);

    append(t->st, 2001, 1001, "e", "id", QLM_STORE_DELIVERED);

    qlm_t_ok(qlm_store_stat(t->st, 0, &stat));
    assert_int_equal(stat.log_records, 186 - 16);

    /* trim removes everything over the bound */

    qlm_t_ok(qlm_store_log_trim(t->st, 3000, &removed));
    assert_int_equal(removed, 160);

    g = query(t->st, NULL);
    assert_int_equal(g->n, 10);
    assert_int_equal(g->item[9], 1001);
    assert_int_equal(g->item[8], 1000);
    assert_int_equal(g->item[7], 199);

    qlm_t_ok(qlm_store_log_trim(t->st, 3000, &removed));
    assert_int_equal(removed, 0);

    qlm_store_close(t->st);
    t->st = NULL;

    /* trim by age, relative to "now" */

    memset(&opts, 0, sizeof(opts));
    opts.log_max_age = 1000;

    qlm_t_ok(qlm_t_open(t, &opts));

    /* kept: 1192 ... 1199, 2000, 2001 */

    qlm_t_ok(qlm_store_log_trim(t->st, 2197, &removed));
    assert_int_equal(removed, 5);

    qlm_t_ok(qlm_store_log_trim(t->st, 3000, &removed));
    assert_int_equal(removed, 3);

    g = query(t->st, NULL);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->time[0], 2000);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_filters),
        QLM_T(test_fields_exact),
        QLM_T(test_answer_and_v1),
        QLM_T(test_time_back),
        QLM_T(test_retention_count),
        QLM_T(test_retention_age),
        QLM_T(test_bounded_and_trim),
    };

    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
