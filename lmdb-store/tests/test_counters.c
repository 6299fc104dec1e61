
/*
 * Counters, persistence across close and reopen, both sync modes.
 */

#include "qlm_test.h"


typedef struct {
    size_t    n;
    char      names[16][256];
    uint64_t  values[16];
} list_t;


static int
collect(const char *name, uint64_t value, void *data)
{
    list_t  *l;

    l = data;

    assert_true(l->n < 16);
    assert_true(strlen(name) < 256);

    strcpy(l->names[l->n], name);
    l->values[l->n] = value;
    l->n++;

    return 0;
}


static void
test_counters(void **state)
{
    uint64_t     v;
    list_t       l;
    qlm_test_t  *t;
    char         name[256];

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    qlm_t_ok(qlm_store_counter_get(t->st, "lost", &v));
    assert_int_equal(v, 0);

    qlm_t_ok(qlm_store_counter_add(t->st, "lost", 1));
    qlm_t_ok(qlm_store_counter_add(t->st, "lost", 41));
    qlm_t_ok(qlm_store_counter_add(t->st, "emitted", 7));
    qlm_t_ok(qlm_store_counter_add(t->st, "b", 0));

    assert_int_equal(qlm_store_counter_add(t->st, "", 1), QLM_STORE_INVALID);

    memset(name, 'x', 201);
    name[201] = '\0';
    assert_int_equal(qlm_store_counter_add(t->st, name, 1),
                     QLM_STORE_INVALID);
    name[200] = '\0';
    qlm_t_ok(qlm_store_counter_add(t->st, name, 1));

    qlm_store_close(t->st);
    t->st = NULL;

    qlm_t_ok(qlm_t_open(t, NULL));

    qlm_t_ok(qlm_store_counter_get(t->st, "lost", &v));
    assert_int_equal(v, 42);
    qlm_t_ok(qlm_store_counter_get(t->st, "emitted", &v));
    assert_int_equal(v, 7);

    memset(&l, 0, sizeof(l));
    qlm_t_ok(qlm_store_counter_foreach(t->st, collect, &l));

    /* sorted by name; nothing but counters */

    assert_int_equal(l.n, 4);
    assert_string_equal(l.names[0], "b");
    assert_int_equal(l.values[0], 0);
    assert_string_equal(l.names[1], "emitted");
    assert_int_equal(l.values[1], 7);
    assert_string_equal(l.names[2], "lost");
    assert_int_equal(l.values[2], 42);
    assert_int_equal(strlen(l.names[3]), 200);
    assert_int_equal(l.values[3], 1);
}


/* the built-in counters survive a reopen too */

static void
run_sync_mode(qlm_test_t *t, unsigned no_sync)
{
    int                   dead;
    size_t                i, n;
    uint64_t              v;
    qlm_store_item_t      items[10], *out[10];
    qlm_store_options_t   opts;

    memset(&opts, 0, sizeof(opts));
    opts.no_sync = no_sync;

    qlm_t_ok(qlm_t_open(t, &opts));

    for (i = 0; i < 10; i++) {
        items[i] = qlm_t_item(100 + i, "e", "x", "http://x/", "{}");
    }

    qlm_t_ok(qlm_store_enqueue(t->st, items, 10));
    qlm_t_ok(qlm_store_claim(t->st, 104, 1000, out, 10, &n));
    assert_int_equal(n, 5);

    for (i = 0; i < n; i++) {
        qlm_t_ok(qlm_store_ack(t->st, out[i]->id, out[i]->lease, NULL));
        qlm_store_item_free(out[i]);
    }

    qlm_t_ok(qlm_store_sync(t->st));
    qlm_t_ok(qlm_store_reader_check(t->st, &dead));
    assert_int_equal(dead, 0);

    qlm_store_close(t->st);
    t->st = NULL;

    /* the other mode reads what this one wrote */

    opts.no_sync = !no_sync;

    qlm_t_ok(qlm_t_open(t, &opts));

    qlm_t_ok(qlm_store_counter_get(t->st, "enqueued", &v));
    assert_int_equal(v, 10);
    qlm_t_ok(qlm_store_counter_get(t->st, "delivered", &v));
    assert_int_equal(v, 5);

    qlm_t_ok(qlm_store_claim(t->st, 1000, 1000, out, 10, &n));
    assert_int_equal(n, 5);

    for (i = 0; i < n; i++) {
        assert_int_equal(out[i]->id, 6 + i);
        qlm_store_item_free(out[i]);
    }
}


static void
test_sync(void **state)
{
    run_sync_mode(*state, 0);
}


static void
test_no_sync(void **state)
{
    run_sync_mode(*state, 1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_counters),
        QLM_T(test_sync),
        QLM_T(test_no_sync),
    };

    return cmocka_run_group_tests_name("counters", tests, NULL, NULL);
}
