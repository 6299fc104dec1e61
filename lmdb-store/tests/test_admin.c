
/*
 * The admin API's steps: pages of the log with a cursor (no record twice,
 * none missed, equal times included), pages of dead letters, and replays
 * in bounded steps with a "since".
 */

#include "qlm_test.h"


typedef struct {
    size_t               n;
    uint64_t             item[512];
    qlm_store_log_key_t  key[512];
} got_t;


static int
collect(const qlm_store_log_t *rec, const qlm_store_log_key_t *key,
    void *data)
{
    got_t  *g;

    g = data;

    assert_true(g->n < 512);
    assert_int_equal(key->time, rec->time);

    g->item[g->n] = rec->item_id;
    g->key[g->n] = *key;
    g->n++;

    return 0;
}


static void
append(qlm_store_t *st, uint64_t time, uint64_t item, const char *url,
    uint32_t outcome)
{
    qlm_store_log_t  log;

    memset(&log, 0, sizeof(log));

    log.time = time;
    log.item_id = item;
    log.attempt = 1;
    log.outcome = outcome;
    log.event = qlm_t_str("license_created");
    log.event_id = qlm_t_str("ev");
    log.url = qlm_t_str(url);
    log.error = qlm_t_str("");

    qlm_t_ok(qlm_store_log_append(st, &log));
}


/* items 1..40 at times 1000, 1000, 1001, 1001, ...: two a millisecond */

static void
fill_log(qlm_store_t *st)
{
    uint64_t  i;

    for (i = 1; i <= 40; i++) {
        append(st, 1000 + (i - 1) / 2, i,
               (i % 4 == 0) ? "http://b.example/" : "http://a.example/",
               (i % 5 == 0) ? QLM_STORE_DEAD : QLM_STORE_DELIVERED);
    }
}


static void
test_log_pages(void **state)
{
    size_t                  i, pages;
    unsigned                more;
    qlm_test_t             *t;
    got_t                   g;
    qlm_store_str_t         none;
    qlm_store_log_key_t     after, last;
    qlm_store_log_filter_t  f;

    t = *state;
    qlm_t_ok(qlm_t_open(t, NULL));
    fill_log(t->st);

    none = qlm_t_str(NULL);

    /* newest first, 7 a page: 40, 39, ..., 1, each once */

    memset(&f, 0, sizeof(f));
    memset(&g, 0, sizeof(g));
    memset(&after, 0, sizeof(after));
    f.newest_first = 1;
    f.limit = 7;
    pages = 0;

    do {
        qlm_t_ok(qlm_store_log_page(t->st, &f, none, &after, 0, collect, &g,
                                    &last, &more));
        after = last;
        pages++;
        assert_true(pages <= 6);
    } while (more);

    assert_int_equal(pages, 6);
    assert_int_equal(g.n, 40);

    for (i = 0; i < 40; i++) {
        assert_int_equal(g.item[i], 40 - i);
    }

    /* the cursor is the last record's key */

    assert_int_equal(last.time, g.key[39].time);
    assert_int_equal(last.seq, g.key[39].seq);

    /* oldest first, 8 a page, a range */

    memset(&f, 0, sizeof(f));
    memset(&g, 0, sizeof(g));
    memset(&after, 0, sizeof(after));
    f.from = 1005;
    f.to = 1015;
    f.limit = 8;
    pages = 0;

    do {
        qlm_t_ok(qlm_store_log_page(t->st, &f, none, &after, 0, collect, &g,
                                    &last, &more));
        after = last;
        pages++;
        assert_true(pages <= 3);
    } while (more);

    /* 1005..1014: items 11..30; 20 in pages of 8, 8, 4 */

    assert_int_equal(pages, 3);
    assert_int_equal(g.n, 20);

    for (i = 0; i < 20; i++) {
        assert_int_equal(g.item[i], 11 + i);
    }
}


static void
test_log_filters_and_bound(void **state)
{
    size_t                  steps;
    unsigned                more;
    qlm_test_t             *t;
    got_t                   g;
    qlm_store_log_key_t     after, last;
    qlm_store_log_filter_t  f;

    t = *state;
    qlm_t_ok(qlm_t_open(t, NULL));
    fill_log(t->st);

    /* by URL and outcome: items 20 and 40 only */

    memset(&f, 0, sizeof(f));
    memset(&g, 0, sizeof(g));
    f.newest_first = 1;
    f.outcome = QLM_STORE_DEAD;

    qlm_t_ok(qlm_store_log_page(t->st, &f, qlm_t_str("http://b.example/"),
                                NULL, 0, collect, &g, &last, &more));
    assert_int_equal(g.n, 2);
    assert_int_equal(g.item[0], 40);
    assert_int_equal(g.item[1], 20);
    assert_int_equal(more, 0);

    /*
     * At most 6 records read a step: a step may pass none, and still says
     * where to go on; the walk ends with nothing missed.
     */

    memset(&g, 0, sizeof(g));
    memset(&after, 0, sizeof(after));
    steps = 0;

    do {
        qlm_t_ok(qlm_store_log_page(t->st, &f,
                                    qlm_t_str("http://b.example/"), &after,
                                    6, collect, &g, &last, &more));
        after = last;
        steps++;
        assert_true(steps <= 7);
    } while (more);

    assert_int_equal(steps, 7);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.item[0], 40);
    assert_int_equal(g.item[1], 20);

    /* an empty log */

    qlm_store_close(t->st);
    t->st = NULL;
    qlm_t_rmtree(t->dir);
    qlm_t_mkdtemp(t->dir, sizeof(t->dir));
    qlm_t_ok(qlm_t_open(t, NULL));

    memset(&g, 0, sizeof(g));
    qlm_t_ok(qlm_store_log_page(t->st, &f, qlm_t_str(NULL), NULL, 0,
                                collect, &g, &last, &more));
    assert_int_equal(g.n, 0);
    assert_int_equal(more, 0);
    assert_int_equal(last.time, 0);
}


/* n items enqueued, claimed and buried at times 5000, 5001, ... */

static void
fill_dead(qlm_store_t *st, size_t n)
{
    size_t             i, got;
    qlm_store_item_t   item, *out[1];

    for (i = 0; i < n; i++) {
        item = qlm_t_item(1000, "ev", "license_created", "http://a/", "{}");
        qlm_t_ok(qlm_store_enqueue(st, &item, 1));
        qlm_t_ok(qlm_store_claim(st, 1000, 1000, out, 1, &got));
        assert_int_equal(got, 1);
        qlm_t_ok(qlm_store_dead(st, out[0]->id, out[0]->lease, 5000 + i, 1,
                                500, qlm_t_str("HTTP 500"), NULL));
        qlm_store_item_free(out[0]);
    }
}


typedef struct {
    size_t    n;
    uint64_t  id[1024];
} ids_t;


static int
collect_id(const qlm_store_item_t *item, void *data)
{
    ids_t  *g = data;

    assert_true(g->n < 1024);
    g->id[g->n++] = item->id;

    return 0;
}


static void
test_dead_pages(void **state)
{
    size_t       i, pages;
    uint64_t     after, last;
    unsigned     more;
    qlm_test_t  *t;
    ids_t        g;

    t = *state;
    qlm_t_ok(qlm_t_open(t, NULL));
    fill_dead(t->st, 10);

    for (i = 0; i < 2; i++) {
        memset(&g, 0, sizeof(g));
        after = 0;
        pages = 0;

        do {
            qlm_t_ok(qlm_store_dead_page(t->st, after, 4, i, collect_id, &g,
                                         &last, &more));
            after = last;
            pages++;
            assert_true(pages <= 3);
        } while (more);

        assert_int_equal(pages, 3);
        assert_int_equal(g.n, 10);
        assert_int_equal(g.id[0], i ? 1 : 10);
        assert_int_equal(g.id[9], i ? 10 : 1);
    }

    /* exactly a page: no "more" past the last */

    memset(&g, 0, sizeof(g));
    qlm_t_ok(qlm_store_dead_page(t->st, 0, 10, 0, collect_id, &g, &last,
                                 &more));
    assert_int_equal(g.n, 10);
    assert_int_equal(more, 0);
}


static void
test_replay_steps(void **state)
{
    int           where;
    size_t        steps;
    uint64_t      after, n, total;
    unsigned      more;
    qlm_test_t   *t;
    qlm_store_stat_t  st;

    t = *state;
    qlm_t_ok(qlm_t_open(t, NULL));
    fill_dead(t->st, 600);

    /* died at 5000 ... 5599: recover since 5500 takes the last 100 */

    after = 0;
    total = 0;
    steps = 0;

    do {
        qlm_t_ok(qlm_store_dead_replay_step(t->st, after, 5500, 9000, 64, 0,
                                            &n, &after, &more));
        assert_true(n <= 64);
        total += n;
        steps++;
        assert_true(steps <= 10);
    } while (more);

    assert_int_equal(total, 100);

    qlm_t_ok(qlm_store_stat(t->st, 0, &st));
    assert_int_equal(st.dead, 500);
    assert_int_equal(st.queued, 100);

    qlm_t_ok(qlm_store_item_where(t->st, 600, &where));
    assert_int_equal(where, QLM_STORE_IN_QUEUE);
    qlm_t_ok(qlm_store_item_where(t->st, 1, &where));
    assert_int_equal(where, QLM_STORE_IN_DEAD);
    assert_int_equal(qlm_store_item_where(t->st, 601, &where),
                     QLM_STORE_NOTFOUND);

    /* all the rest, in steps of at most 256 (the default) */

    after = 0;
    total = 0;
    steps = 0;

    do {
        qlm_t_ok(qlm_store_dead_replay_step(t->st, after, 0, 9000, 0, 0, &n,
                                            &after, &more));
        assert_true(n <= 256);
        total += n;
        steps++;
        assert_true(steps <= 4);
    } while (more);

    assert_int_equal(total, 500);
    assert_int_equal(steps, 2);

    qlm_t_ok(qlm_store_stat(t->st, 0, &st));
    assert_int_equal(st.dead, 0);
    assert_int_equal(st.queued, 600);

    qlm_t_ok(qlm_store_counter_get(t->st, "replayed", &n));
    assert_int_equal(n, 600);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_log_pages),
        QLM_T(test_log_filters_and_bound),
        QLM_T(test_dead_pages),
        QLM_T(test_replay_steps),
    };

    return cmocka_run_group_tests_name("admin", tests, NULL, NULL);
}
