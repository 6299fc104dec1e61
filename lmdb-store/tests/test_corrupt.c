
/*
 * Malformed records written behind the store's back give
 * QLM_STORE_CORRUPT, never a crash.
 */

#include "qlm_test.h"

#include <lmdb.h>


/* the dead letter an undecodable item became */
typedef struct {
    size_t            n;
    uint64_t          id;
    size_t            body_len;
    char              event[32];
    char              error[128];
} aside_t;


static int
aside(const qlm_store_item_t *item, void *data)
{
    aside_t  *a = data;

    a->n++;
    a->id = item->id;
    a->body_len = item->body.len;
    snprintf(a->event, sizeof(a->event), "%s", item->event.data);
    snprintf(a->error, sizeof(a->error), "%s", item->last_error.data);

    return 0;
}


static int
count_log(const qlm_store_log_t *rec, void *data)
{
    (*(size_t *) data)++;
    return 0;
}


/* every truncation and some damage of a valid item record is refused */

static void
test_item_records(void **state)
{
    size_t             len, n, seen;
    aside_t            as;
    uint64_t           due, v;
    MDB_val            good;
    qlm_test_t        *t;
    unsigned char      key[8], *bad;
    qlm_store_item_t   items[2], enq[2], *out[4];

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    items[0] = qlm_t_item(500, "ev-1", "x", "http://x/1", "{\"a\":1}");
    items[1] = qlm_t_item(600, "ev-2", "x", "http://x/2", "{\"b\":2}");
    qlm_t_ok(qlm_store_enqueue(t->st, items, 2));

    qlm_store_close(t->st);
    t->st = NULL;

    qlm_t_be64(key, 1);
    qlm_t_raw(t, "items", key, 8, NULL, 0, &good);

    bad = malloc(good.mv_size + 1);
    assert_non_null(bad);

    for (len = 0; len <= good.mv_size + 1; len++) {
        if (len == good.mv_size) {
            continue;
        }

        memcpy(bad, good.mv_data, good.mv_size);
        bad[good.mv_size] = 'z';    /* trailing garbage at size + 1 */

        qlm_t_raw(t, "items", key, 8, bad, len, NULL);

        qlm_t_ok(qlm_t_open(t, NULL));

        seen = 0;
        assert_int_equal(qlm_store_queue_foreach(t->st, qlm_t_count_item,
                                                 &seen),
                         QLM_STORE_CORRUPT);

        /* the sched index is intact */

        qlm_t_ok(qlm_store_next_due(t->st, &due));
        assert_int_equal(due, 500);

        qlm_store_close(t->st);
        t->st = NULL;
    }

    /* a wrong version, a huge string length, a missing NUL */

    memcpy(bad, good.mv_data, good.mv_size);
    bad[0] = 9;
    qlm_t_raw(t, "items", key, 8, bad, good.mv_size, NULL);
    qlm_t_ok(qlm_t_open(t, NULL));
    assert_int_equal(qlm_store_queue_foreach(t->st, qlm_t_count_item, &seen),
                     QLM_STORE_CORRUPT);

    /*
     * Version 2: u8 2, lease 0, created 500 (2 bytes), due, updated,
     * attempt, status (0 each), event "x" spelled out at 8 (code 0, length,
     * 'x', NUL), event_id's length at 12, "ev-1" and its NUL at 17.
     */

    assert_int_equal(((unsigned char *) good.mv_data)[0], 2);
    assert_int_equal(((unsigned char *) good.mv_data)[12], 4);

    memcpy(bad, good.mv_data, good.mv_size);
    memset(bad + 12, 0xff, 4);              /* event_id's length */
    qlm_store_close(t->st);
    t->st = NULL;
    qlm_t_raw(t, "items", key, 8, bad, good.mv_size, NULL);
    qlm_t_ok(qlm_t_open(t, NULL));
    assert_int_equal(qlm_store_queue_foreach(t->st, qlm_t_count_item, &seen),
                     QLM_STORE_CORRUPT);

    memcpy(bad, good.mv_data, good.mv_size);
    bad[17] = 'x';                          /* event_id's NUL */
    qlm_store_close(t->st);
    t->st = NULL;
    qlm_t_raw(t, "items", key, 8, bad, good.mv_size, NULL);
    qlm_t_ok(qlm_t_open(t, NULL));
    assert_int_equal(qlm_store_queue_foreach(t->st, qlm_t_count_item, &seen),
                     QLM_STORE_CORRUPT);

    /* the good record back: all is well again */

    qlm_store_close(t->st);
    t->st = NULL;
    qlm_t_raw(t, "items", key, 8, good.mv_data, good.mv_size, NULL);
    qlm_t_ok(qlm_t_open(t, NULL));

    seen = 0;
    qlm_t_ok(qlm_store_queue_foreach(t->st, qlm_t_count_item, &seen));
    assert_int_equal(seen, 2);

    qlm_t_ok(qlm_store_claim(t->st, 1000, 10, out, 4, &n));
    assert_int_equal(n, 2);
    qlm_store_item_free(out[0]);
    qlm_store_item_free(out[1]);

    /*
     * A claim sets an unreadable item aside and counts it, so that one bad
     * record does not stop every delivery; the other items are claimed.
     */

    qlm_store_close(t->st);
    t->st = NULL;

    enq[0] = qlm_t_item(700, "ev-3", "x", "http://x/3", "{}");
    enq[1] = qlm_t_item(800, "ev-4", "x", "http://x/4", "{}");
    qlm_t_ok(qlm_t_open(t, NULL));
    qlm_t_ok(qlm_store_enqueue(t->st, enq, 2));
    qlm_store_close(t->st);
    t->st = NULL;

    qlm_t_be64(key, enq[0].id);
    qlm_t_raw(t, "items", key, 8, good.mv_data, good.mv_size - 3, NULL);
    qlm_t_ok(qlm_t_open(t, NULL));

    qlm_t_ok(qlm_store_claim(t->st, 1005, 10, out, 4, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->id, enq[1].id);
    qlm_store_item_free(out[0]);

    qlm_t_ok(qlm_store_counter_get(t->st, "corrupt", &v));
    assert_int_equal(v, 1);

    /* set aside, not deleted: a dead letter with its bytes and the reason */

    memset(&as, 0, sizeof(aside_t));
    qlm_t_ok(qlm_store_dead_foreach(t->st, aside, &as));
    assert_int_equal(as.n, 1);
    assert_int_equal(as.id, enq[0].id);
    assert_int_equal(as.body_len, good.mv_size - 3);
    assert_string_equal(as.event, "(undecodable)");
    assert_non_null(strstr(as.error, "could not be decoded"));

    /* out of the queue: the two claimed earlier and ev-4 are left */

    seen = 0;
    qlm_t_ok(qlm_store_queue_foreach(t->st, qlm_t_count_item, &seen));
    assert_int_equal(seen, 3);

    free(bad);
    free(good.mv_data);
}


/* a sched entry without its item, damaged dead, log and meta records */

static void
test_other_records(void **state)
{
    size_t                   n, seen;
    uint64_t                 v;
    qlm_test_t              *t;
    unsigned char            key[16];
    qlm_store_item_t         item, *out[4];
    qlm_store_stat_t         stat;

    static const unsigned char  junk[] = { 1, 2, 3 };

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));
    item = qlm_t_item(500, "ev-1", "x", "http://x/1", "{}");
    qlm_t_ok(qlm_store_enqueue(t->st, &item, 1));
    qlm_store_close(t->st);
    t->st = NULL;

    /* sched (100, 77): no item 77 */

    qlm_t_be64(key, 100);
    qlm_t_be64(key + 8, 77);
    qlm_t_raw(t, "sched", key, 16, "", 0, NULL);

    qlm_t_ok(qlm_t_open(t, NULL));

    assert_int_equal(qlm_store_queue_foreach(t->st, qlm_t_count_item, &seen),
                     QLM_STORE_CORRUPT);

    /* a claim sets the entry aside, counts it, and claims the good item */

    qlm_t_ok(qlm_store_claim(t->st, 1000, 10, out, 4, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->id, item.id);
    qlm_store_item_free(out[0]);

    qlm_t_ok(qlm_store_counter_get(t->st, "corrupt", &v));
    assert_int_equal(v, 1);

    seen = 0;
    qlm_t_ok(qlm_store_queue_foreach(t->st, qlm_t_count_item, &seen));
    assert_int_equal(seen, 1);

    qlm_store_close(t->st);
    t->st = NULL;

    qlm_t_be64(key, 5);
    qlm_t_raw(t, "dead", key, 8, junk, sizeof(junk), NULL);

    qlm_t_be64(key, 1000);
    qlm_t_be64(key + 8, 1);
    qlm_t_raw(t, "log", key, 16, junk, sizeof(junk), NULL);

    qlm_t_raw(t, "meta", "c:broken", 8, junk, sizeof(junk), NULL);

    qlm_t_ok(qlm_t_open(t, NULL));

    assert_int_equal(qlm_store_dead_foreach(t->st, qlm_t_count_item, &seen),
                     QLM_STORE_CORRUPT);
    assert_int_equal(qlm_store_dead_replay(t->st, 5, 1, &v),
                     QLM_STORE_CORRUPT);
    assert_int_equal(qlm_store_dead_replay(t->st, 0, 1, &v),
                     QLM_STORE_CORRUPT);
    assert_int_equal(qlm_store_log_foreach(t->st, NULL, count_log, &seen),
                     QLM_STORE_CORRUPT);
    assert_int_equal(qlm_store_counter_get(t->st, "broken", &v),
                     QLM_STORE_CORRUPT);
    assert_int_equal(qlm_store_counter_add(t->st, "broken", 1),
                     QLM_STORE_CORRUPT);

    /* the rest still works; stat does not read dead or log records */

    qlm_t_ok(qlm_store_stat(t->st, 0, &stat));
    assert_int_equal(stat.dead, 1);
    assert_int_equal(stat.log_records, 1);

    qlm_t_ok(qlm_store_counter_add(t->st, "fine", 1));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_item_records),
        QLM_T(test_other_records),
    };

    return cmocka_run_group_tests_name("corrupt", tests, NULL, NULL);
}
