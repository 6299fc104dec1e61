
/*
 * Paused receivers: pause, resume, the generation, a second handle (as
 * nginx's workers and qlm-store are), persistence, bad arguments.
 */

#include "qlm_test.h"


typedef struct {
    size_t    n;
    char      urls[8][600];
    char      by[8][80];
    uint64_t  since[8];
} list_t;


static int
collect(const qlm_store_paused_t *p, void *data)
{
    list_t  *l;

    l = data;

    assert_true(l->n < 8);
    assert_true(p->url.len < 600 && p->by.len < 80);

    memcpy(l->urls[l->n], p->url.data, p->url.len);
    l->urls[l->n][p->url.len] = '\0';
    memcpy(l->by[l->n], p->by.data, p->by.len);
    l->by[l->n][p->by.len] = '\0';
    l->since[l->n] = p->since;
    l->n++;

    return 0;
}


static void
test_pause_resume(void **state)
{
    uint64_t      gen, gen2;
    list_t        l;
    qlm_test_t   *t;
    qlm_store_t  *other;
    char          path[300];

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    qlm_t_ok(qlm_store_paused_gen(t->st, &gen));
    assert_int_equal(gen, 0);

    qlm_t_ok(qlm_store_url_pause(t->st, qlm_t_str("http://b/hook"), 1, 5000,
                                 qlm_t_str("admin API")));
    qlm_t_ok(qlm_store_url_pause(t->st, qlm_t_str("http://a/hook"), 1, 6000,
                                 qlm_t_str("qlm-store")));

    /* again: nothing changes, the generation stays */

    assert_int_equal(qlm_store_url_pause(t->st, qlm_t_str("http://a/hook"), 1,
                                         7000, qlm_t_str("x")),
                     QLM_STORE_EXISTS);

    qlm_t_ok(qlm_store_paused_gen(t->st, &gen));
    assert_int_equal(gen, 2);

    /* a second handle, as another process, sees them, in URL order */

    qlm_t_path(t, path, sizeof(path));
    qlm_t_ok(qlm_store_open(&other, path, NULL));

    memset(&l, 0, sizeof(l));
    qlm_t_ok(qlm_store_paused_foreach(other, collect, &l, &gen2));
    assert_int_equal(gen2, 2);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.urls[0], "http://a/hook");
    assert_string_equal(l.by[0], "qlm-store");
    assert_int_equal(l.since[0], 6000);
    assert_string_equal(l.urls[1], "http://b/hook");
    assert_string_equal(l.by[1], "admin API");
    assert_int_equal(l.since[1], 5000);

    /* resumed by the other handle: the generation moves for both */

    qlm_t_ok(qlm_store_url_pause(other, qlm_t_str("http://b/hook"), 0, 8000,
                                 qlm_t_str("")));
    assert_int_equal(qlm_store_url_pause(other, qlm_t_str("http://b/hook"), 0,
                                         8000, qlm_t_str("")),
                     QLM_STORE_NOTFOUND);

    qlm_t_ok(qlm_store_paused_gen(t->st, &gen));
    assert_int_equal(gen, 3);

    memset(&l, 0, sizeof(l));
    qlm_t_ok(qlm_store_paused_foreach(t->st, collect, &l, NULL));
    assert_int_equal(l.n, 1);
    assert_string_equal(l.urls[0], "http://a/hook");

    qlm_store_close(other);

    /* a restart keeps them */

    qlm_store_close(t->st);
    t->st = NULL;
    qlm_t_ok(qlm_t_open(t, NULL));

    memset(&l, 0, sizeof(l));
    qlm_t_ok(qlm_store_paused_foreach(t->st, collect, &l, &gen));
    assert_int_equal(gen, 3);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.urls[0], "http://a/hook");
}


static void
test_pause_invalid(void **state)
{
    qlm_test_t           *t;
    qlm_store_options_t   opts;
    char                  url[600], by[80];

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    assert_int_equal(qlm_store_url_pause(t->st, qlm_t_str(""), 1, 1,
                                         qlm_t_str("x")),
                     QLM_STORE_INVALID);

    memset(url, 'u', 512);
    url[512] = '\0';
    assert_int_equal(qlm_store_url_pause(t->st, qlm_t_str(url), 1, 1,
                                         qlm_t_str("x")),
                     QLM_STORE_INVALID);

    url[511] = '\0';
    qlm_t_ok(qlm_store_url_pause(t->st, qlm_t_str(url), 1, 1,
                                 qlm_t_str("x")));

    memset(by, 'b', 65);
    by[65] = '\0';
    assert_int_equal(qlm_store_url_pause(t->st, qlm_t_str("http://x/"), 1, 1,
                                         qlm_t_str(by)),
                     QLM_STORE_INVALID);

    assert_int_equal(qlm_store_paused_foreach(t->st, NULL, NULL, NULL),
                     QLM_STORE_INVALID);

    /* read-only: no writes */

    qlm_store_close(t->st);
    t->st = NULL;

    memset(&opts, 0, sizeof(opts));
    opts.read_only = 1;
    qlm_t_ok(qlm_t_open(t, &opts));

    assert_int_equal(qlm_store_url_pause(t->st, qlm_t_str("http://x/"), 1, 1,
                                         qlm_t_str("x")),
                     EACCES);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_pause_resume),
        QLM_T(test_pause_invalid),
    };

    return cmocka_run_group_tests_name("pause", tests, NULL, NULL);
}
