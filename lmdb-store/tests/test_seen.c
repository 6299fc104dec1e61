
/*
 * Replay protection: a key seen within its time to live is refused, in
 * this process and in another one, across close and reopen; expired
 * records go away a few at a time.
 */

#include "qlm_test.h"

#include <sys/wait.h>


static qlm_store_str_t
str(const char *s)
{
    qlm_store_str_t  v;

    v.data = s;
    v.len = strlen(s);

    return v;
}


static void
test_seen(void **state)
{
    qlm_test_t  *t;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    qlm_t_ok(qlm_store_seen(t->st, str("msg_1"), 1000, 300000));
    assert_int_equal(qlm_store_seen(t->st, str("msg_1"), 2000, 300000),
                     QLM_STORE_EXISTS);
    qlm_t_ok(qlm_store_seen(t->st, str("msg_2"), 2000, 300000));

    /* the last millisecond of its life, then expired */

    assert_int_equal(qlm_store_seen(t->st, str("msg_1"), 300999, 300000),
                     QLM_STORE_EXISTS);
    qlm_t_ok(qlm_store_seen(t->st, str("msg_1"), 301000, 300000));
    assert_int_equal(qlm_store_seen(t->st, str("msg_1"), 301001, 300000),
                     QLM_STORE_EXISTS);

    /* kept across close and reopen */

    qlm_store_close(t->st);
    t->st = NULL;
    qlm_t_ok(qlm_t_open(t, NULL));

    assert_int_equal(qlm_store_seen(t->st, str("msg_2"), 3000, 300000),
                     QLM_STORE_EXISTS);

    /* bad keys */

    assert_int_equal(qlm_store_seen(t->st, str(""), 1, 1), QLM_STORE_INVALID);
}


static void
test_seen_other_process(void **state)
{
    int          status;
    pid_t        pid;
    qlm_test_t  *t;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));
    qlm_t_ok(qlm_store_seen(t->st, str("shared"), 1000, 60000));
    qlm_store_close(t->st);
    t->st = NULL;

    pid = fork();
    assert_true(pid >= 0);

    if (pid == 0) {
        /* the child opens its own environment, as an nginx worker does */
        if (qlm_t_open(t, NULL) != 0) {
            _exit(2);
        }

        status = qlm_store_seen(t->st, str("shared"), 2000, 60000);
        qlm_store_close(t->st);

        _exit(status == QLM_STORE_EXISTS ? 0 : 1);
    }

    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}


static void
test_seen_bounded(void **state)
{
    size_t       i;
    char         key[32];
    qlm_test_t  *t;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%zu", i);
        qlm_t_ok(qlm_store_seen(t->st, str(key), 1000 + i, 1000));
    }

    /* long after: each call clears up to 16 expired records */

    for (i = 0; i < 7; i++) {
        snprintf(key, sizeof(key), "late%zu", i);
        qlm_t_ok(qlm_store_seen(t->st, str(key), 100000, 1000));
    }

    /* every early key has expired and is accepted again */

    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%zu", i);
        qlm_t_ok(qlm_store_seen(t->st, str(key), 100001, 1000));
    }

    /* a refreshed key is not removed by its own stale index entry */

    assert_int_equal(qlm_store_seen(t->st, str("k5"), 100500, 1000),
                     QLM_STORE_EXISTS);
}


/*
 * The two steps of a verify location: pending while the application
 * answers, then kept on success or forgotten on failure, so that the
 * sender's retry passes and a replay of a delivered message does not.
 */

static void
test_seen_update(void **state)
{
    qlm_test_t  *t;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    /* pending for 60 s: a concurrent copy is refused */

    qlm_t_ok(qlm_store_seen(t->st, str("msg_r"), 1000, 60000));
    assert_int_equal(qlm_store_seen(t->st, str("msg_r"), 1500, 60000),
                     QLM_STORE_EXISTS);

    /* the application failed: forgotten, the retry passes */

    qlm_t_ok(qlm_store_seen_update(t->st, str("msg_r"), 61000, 0));
    qlm_t_ok(qlm_store_seen(t->st, str("msg_r"), 2000, 60000));

    /* forgetting again, or what is not there, changes nothing */

    qlm_t_ok(qlm_store_seen_update(t->st, str("msg_none"), 5000, 0));
    assert_int_equal(qlm_store_seen_update(t->st, str("msg_r"), 61000, 0),
                     QLM_STORE_EXISTS);

    /* the retry succeeded: kept for 600 s, past its pending minute */

    qlm_t_ok(qlm_store_seen_update(t->st, str("msg_r"), 62000, 602000));
    assert_int_equal(qlm_store_seen(t->st, str("msg_r"), 100000, 60000),
                     QLM_STORE_EXISTS);
    assert_int_equal(qlm_store_seen(t->st, str("msg_r"), 601999, 60000),
                     QLM_STORE_EXISTS);

    /* a stale update (the old pending expiry) does not touch it */

    assert_int_equal(qlm_store_seen_update(t->st, str("msg_r"), 62000, 0),
                     QLM_STORE_EXISTS);
    assert_int_equal(qlm_store_seen(t->st, str("msg_r"), 300000, 60000),
                     QLM_STORE_EXISTS);

    /* expired at last: a new message with that id passes */

    qlm_t_ok(qlm_store_seen(t->st, str("msg_r"), 602000, 60000));

    /* a record cleared before its request ended is made again on success */

    qlm_t_ok(qlm_store_seen(t->st, str("msg_slow"), 1000, 1000));
    qlm_t_ok(qlm_store_seen(t->st, str("msg_other"), 700000, 1000));
    qlm_t_ok(qlm_store_seen_update(t->st, str("msg_slow"), 2000, 900000));
    assert_int_equal(qlm_store_seen(t->st, str("msg_slow"), 800000, 1000),
                     QLM_STORE_EXISTS);

    /* an id forgotten then taken again is not cleared by the first */

    qlm_t_ok(qlm_store_seen(t->st, str("msg_f"), 1000, 1000));
    qlm_t_ok(qlm_store_seen_update(t->st, str("msg_f"), 2000, 0));
    qlm_t_ok(qlm_store_seen(t->st, str("msg_f"), 1500, 100000));
    qlm_t_ok(qlm_store_seen(t->st, str("msg_g"), 3000, 1000));
    assert_int_equal(qlm_store_seen(t->st, str("msg_f"), 4000, 100000),
                     QLM_STORE_EXISTS);

    /* kept across close and reopen */

    qlm_store_close(t->st);
    t->st = NULL;
    qlm_t_ok(qlm_t_open(t, NULL));

    assert_int_equal(qlm_store_seen(t->st, str("msg_slow"), 800001, 1000),
                     QLM_STORE_EXISTS);

    /* bad keys */

    assert_int_equal(qlm_store_seen_update(t->st, str(""), 1, 0),
                     QLM_STORE_INVALID);
    assert_int_equal(qlm_store_seen_update(NULL, str("k"), 1, 0),
                     QLM_STORE_INVALID);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_seen),
        QLM_T(test_seen_other_process),
        QLM_T(test_seen_bounded),
        QLM_T(test_seen_update),
    };

    return cmocka_run_group_tests_name("seen", tests, NULL, NULL);
}
