
/*
 * The record formats: items and mirror records of version 1, as the store
 * wrote them before version 2 (bytes taken from such a store), still decode,
 * claim, replay and merge; version 2's bytes are pinned; every truncation of
 * a version 2 record is refused.
 */

#include "qlm_test.h"

#include <lmdb.h>


#define T1    0x01a21497f905ULL     /* item 1 created, record updated */
#define T2    0x01a21497f907ULL     /* item 2 created and due */
#define T3    0x01a214981e21ULL     /* item 1 due again */


/* an item tried once, its next attempt at T3, version 1 */
static const char  item1[] =
    "\001\000\000\000\000\000\000\000\000!\036\230\024\242\001\000\000\005"
    "\371\227\024\242\001\000\000!\036\230\024\242\001\000\000\001\000\000"
    "\000\000\000\000\000$\000\000\000bdd1dd48-e8a6-4b96-95f9-08cf553429f4"
    "\000\021\000\000\000license_activated\000 \000\000\000http://127.0.0.1"
    ":19004/hooks/qlm\000\000\000\000\000\000\373\000\000\000{\"EventType\""
    ":\"license_activated\",\"EventId\":\"bdd1dd48-e8a6-4b96-95f9-08cf55342"
    "9f4\",\"Timestamp\":\"2026-11-25T21:23:53\",\"LicenseInfo\":{\"Activat"
    "ionKey\":\"MEM0\",\"Email\":\"bench@example.com\",\"ProductID\":1,\"Ma"
    "jorVersion\":5,\"MinorVersion\":0,\"ComputerID\":\"PC-1\"}}\000\000"
    "\000\000\000\000";

/* a queued item, version 1 */
static const char  item2[] =
    "\001\000\000\000\000\000\000\000\000\007\371\227\024\242\001\000\000"
    "\007\371\227\024\242\001\000\000\007\371\227\024\242\001\000\000\000"
    "\000\000\000\000\000\000\000$\000\000\000088e6ee2-d081-4539-a48c-09445"
    "76ef05f\000\021\000\000\000license_activated\000 \000\000\000http://12"
    "7.0.0.1:19004/hooks/qlm\000\000\000\000\000\000\373\000\000\000{\"Even"
    "tType\":\"license_activated\",\"EventId\":\"088e6ee2-d081-4539-a48c-09"
    "44576ef05f\",\"Timestamp\":\"2026-11-25T21:23:53\",\"LicenseInfo\":{\""
    "ActivationKey\":\"MEM1\",\"Email\":\"bench@example.com\",\"ProductID\""
    ":1,\"MajorVersion\":5,\"MinorVersion\":0,\"ComputerID\":\"PC-1\"}}\000"
    "\000\000\000\000\000";

/* the license MEM0, version 1 */
static const char  rec0[] =
    "\001\000\005\371\227\024\242\001\000\000\006\000\000\000\015\000\000"
    "\000ActivationKey\000\004\000\000\000MEM0\000\012\000\000\000ComputerI"
    "D\000\004\000\000\000PC-1\000\011\000\000\000ProductID\000\001\000\000"
    "\0001\000\014\000\000\000MajorVersion\000\001\000\000\0005\000\014\000"
    "\000\000MinorVersion\000\001\000\000\0000\000\005\000\000\000Email\000"
    "\021\000\000\000bench@example.com\000";

#define URL   "http://127.0.0.1:19004/hooks/qlm"
#define BODY1                                                                 \
    "{\"EventType\":\"license_activated\",\"EventId\":\"bdd1dd48-e8a6-4b96-"  \
    "95f9-08cf553429f4\",\"Timestamp\":\"2026-11-25T21:23:53\",\"LicenseInf"  \
    "o\":{\"ActivationKey\":\"MEM0\",\"Email\":\"bench@example.com\",\"Prod"  \
    "uctID\":1,\"MajorVersion\":5,\"MinorVersion\":0,\"ComputerID\":\"PC-1"   \
    "\"}}"
#define BODY2                                                                 \
    "{\"EventType\":\"license_activated\",\"EventId\":\"088e6ee2-d081-4539-"  \
    "a48c-0944576ef05f\",\"Timestamp\":\"2026-11-25T21:23:53\",\"LicenseInf"  \
    "o\":{\"ActivationKey\":\"MEM1\",\"Email\":\"bench@example.com\",\"Prod"  \
    "uctID\":1,\"MajorVersion\":5,\"MinorVersion\":0,\"ComputerID\":\"PC-1"   \
    "\"}}"


/* what meta's "format" says */

static uint32_t
format(qlm_test_t *t)
{
    MDB_val         val;
    uint32_t        v;
    unsigned char  *p;

    qlm_t_raw(t, "meta", "format", 6, NULL, 0, &val);
    assert_int_equal(val.mv_size, 4);

    p = val.mv_data;
    v = p[0] | p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;

    free(val.mv_data);

    return v;
}


/* a store as the module wrote it before version 2: format 1 */

static void
format1(qlm_test_t *t)
{
    static const unsigned char  v1[4] = { 1, 0, 0, 0 };

    qlm_t_raw(t, "meta", "format", 6, v1, 4, NULL);
}


static void
sched(qlm_test_t *t, uint64_t time, uint64_t id)
{
    unsigned char  key[16];

    qlm_t_be64(key, time);
    qlm_t_be64(key + 8, id);
    qlm_t_raw(t, "sched", key, 16, "", 0, NULL);
}


/* what a walk saw, copied */
typedef struct {
    size_t            n;
    qlm_store_item_t  item[4];
    char             *body[4];
} seen_t;


static int
collect(const qlm_store_item_t *item, void *data)
{
    seen_t  *s = data;

    if (s->n == 4) {
        return -1;
    }

    s->item[s->n] = *item;

    assert_true(qlm_t_str_is(item->event, "license_activated"));
    assert_true(qlm_t_str_is(item->url, URL));
    assert_true(qlm_t_str_is(item->headers, ""));
    assert_true(qlm_t_str_is(item->last_error, ""));
    assert_int_equal(item->event_id.len, 36);
    assert_int_equal(item->event_id.data[36], '\0');

    s->body[s->n] = strndup(item->body.data, item->body.len);
    assert_non_null(s->body[s->n]);
    assert_int_equal(item->body.data[item->body.len], '\0');

    s->item[s->n].body.data = s->body[s->n];
    s->item[s->n].event_id.data = NULL;
    s->n++;

    return 0;
}


static void
seen_free(seen_t *s)
{
    size_t  i;

    for (i = 0; i < s->n; i++) {
        free(s->body[i]);
    }

    s->n = 0;
}


static void
test_item_v1(void **state)
{
    size_t             n;
    seen_t             s;
    uint64_t           replayed;
    MDB_val            val;
    qlm_test_t        *t;
    unsigned char      key[8];
    qlm_store_item_t  *out[4];
    qlm_store_stat_t   stat;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));
    qlm_store_close(t->st);
    t->st = NULL;

    format1(t);

    qlm_t_be64(key, 1);
    qlm_t_raw(t, "items", key, 8, item1, sizeof(item1) - 1, NULL);
    sched(t, T3, 1);
    qlm_t_be64(key, 2);
    qlm_t_raw(t, "items", key, 8, item2, sizeof(item2) - 1, NULL);
    sched(t, T2, 2);

    qlm_t_ok(qlm_t_open(t, NULL));

    /* every field as it was written */

    memset(&s, 0, sizeof(seen_t));
    qlm_t_ok(qlm_store_queue_foreach(t->st, collect, &s));
    assert_int_equal(s.n, 2);

    /* in sched order: item 2 is due first */

    assert_int_equal(s.item[0].id, 2);
    assert_int_equal(s.item[0].lease, 0);
    assert_int_equal(s.item[0].due, T2);
    assert_int_equal(s.item[0].created, T2);
    assert_int_equal(s.item[0].updated, T2);
    assert_int_equal(s.item[0].attempt, 0);
    assert_int_equal(s.item[0].last_status, 0);
    assert_string_equal(s.body[0], BODY2);

    assert_int_equal(s.item[1].id, 1);
    assert_int_equal(s.item[1].lease, 0);
    assert_int_equal(s.item[1].lease_until, 0);
    assert_int_equal(s.item[1].due, T3);
    assert_int_equal(s.item[1].created, T1);
    assert_int_equal(s.item[1].updated, T3);
    assert_int_equal(s.item[1].attempt, 1);
    assert_string_equal(s.body[1], BODY1);
    seen_free(&s);

    qlm_t_ok(qlm_store_stat(t->st, T2 + 1, &stat));
    assert_int_equal(stat.queued, 2);
    assert_int_equal(stat.due, 1);
    assert_int_equal(stat.leased, 0);

    /* a claim delivers item 2 and writes it again, as version 2 */

    qlm_t_ok(qlm_store_claim(t->st, T2 + 1, 1000000, out, 4, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->id, 2);
    assert_int_equal(out[0]->attempt, 1);
    assert_int_equal(out[0]->created, T2);
    assert_true(qlm_t_str_is(out[0]->event_id,
                             "088e6ee2-d081-4539-a48c-0944576ef05f"));
    assert_true(qlm_t_str_is(out[0]->body, BODY2));
    qlm_store_item_free(out[0]);

    /* item 1 is due: its second attempt */

    qlm_t_ok(qlm_store_claim(t->st, T3 + 1, 1000, out, 4, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->id, 1);
    assert_int_equal(out[0]->attempt, 2);
    assert_int_equal(out[0]->created, T1);
    assert_true(qlm_t_str_is(out[0]->event_id,
                             "bdd1dd48-e8a6-4b96-95f9-08cf553429f4"));
    assert_true(qlm_t_str_is(out[0]->body, BODY1));
    qlm_store_item_free(out[0]);

    qlm_store_close(t->st);
    t->st = NULL;

    qlm_t_be64(key, 2);
    qlm_t_raw(t, "items", key, 8, NULL, 0, &val);
    assert_int_equal(((unsigned char *) val.mv_data)[0], 2);
    assert_true(val.mv_size < sizeof(item2) - 1);
    free(val.mv_data);

    /* a dead letter of version 1: listed and replayed */

    qlm_t_be64(key, 7);
    qlm_t_raw(t, "dead", key, 8, item2, sizeof(item2) - 1, NULL);

    qlm_t_ok(qlm_t_open(t, NULL));

    memset(&s, 0, sizeof(seen_t));
    qlm_t_ok(qlm_store_dead_foreach(t->st, collect, &s));
    assert_int_equal(s.n, 1);
    assert_int_equal(s.item[0].id, 7);
    assert_int_equal(s.item[0].created, T2);
    assert_string_equal(s.body[0], BODY2);
    seen_free(&s);

    qlm_t_ok(qlm_store_dead_replay(t->st, 7, T3 + 5000, &replayed));
    assert_int_equal(replayed, 1);

    memset(&s, 0, sizeof(seen_t));
    qlm_t_ok(qlm_store_queue_foreach(t->st, collect, &s));
    assert_int_equal(s.n, 3);

    /* sched order: item 1 (leased to T3 + 1001), then 7, then 2 */

    assert_int_equal(s.item[1].id, 7);
    assert_int_equal(s.item[1].due, T3 + 5000);
    assert_int_equal(s.item[1].created, T2);
    assert_string_equal(s.body[1], BODY2);
    seen_free(&s);
}


/* a mirror record, copied */
typedef struct {
    size_t    n;
    uint64_t  updated;
    unsigned  deleted;
    char      name[16][32];
    char      value[16][32];
} rec_t;


static int
rec_copy(const qlm_store_record_t *rec, void *data)
{
    size_t   i;
    rec_t   *r = data;

    assert_true(rec->nfields <= 16);

    r->n = rec->nfields;
    r->updated = rec->updated;
    r->deleted = rec->deleted;

    for (i = 0; i < rec->nfields; i++) {
        assert_int_equal(rec->fields[i].name.data[rec->fields[i].name.len],
                         '\0');
        assert_int_equal(rec->fields[i].value.data[rec->fields[i].value.len],
                         '\0');
        snprintf(r->name[i], 32, "%s", rec->fields[i].name.data);
        snprintf(r->value[i], 32, "%s", rec->fields[i].value.data);
    }

    return 0;
}


static void
test_record_v1(void **state)
{
    size_t               len;
    rec_t                r;
    MDB_val              val;
    qlm_test_t          *t;
    qlm_store_field_t    f[2];
    qlm_store_record_t   rec;
    qlm_store_options_t  opts;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));
    qlm_store_close(t->st);
    t->st = NULL;

    format1(t);
    qlm_t_raw(t, "licenses", "MEM0", 4, rec0, sizeof(rec0) - 1, NULL);

    /* read-only, format 1 opens and stays 1 */

    memset(&opts, 0, sizeof(qlm_store_options_t));
    opts.read_only = 1;

    qlm_t_ok(qlm_t_open(t, &opts));

    memset(&r, 0, sizeof(rec_t));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES,
                                  qlm_t_str("MEM0"), rec_copy, &r));
    assert_int_equal(r.n, 6);

    qlm_store_close(t->st);
    t->st = NULL;
    assert_int_equal(format(t), 1);

    /* opened for writing, it says 2: a module of format 1 refuses it */

    qlm_t_ok(qlm_t_open(t, NULL));
    qlm_store_close(t->st);
    t->st = NULL;
    assert_int_equal(format(t), 2);

    qlm_t_ok(qlm_t_open(t, NULL));

    memset(&r, 0, sizeof(rec_t));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES,
                                  qlm_t_str("MEM0"), rec_copy, &r));
    assert_int_equal(r.n, 6);
    assert_int_equal(r.updated, T1);
    assert_int_equal(r.deleted, 0);
    assert_string_equal(r.name[0], "ActivationKey");
    assert_string_equal(r.value[0], "MEM0");
    assert_string_equal(r.name[1], "ComputerID");
    assert_string_equal(r.value[1], "PC-1");
    assert_string_equal(r.name[2], "ProductID");
    assert_string_equal(r.value[2], "1");
    assert_string_equal(r.name[3], "MajorVersion");
    assert_string_equal(r.value[3], "5");
    assert_string_equal(r.name[4], "MinorVersion");
    assert_string_equal(r.value[4], "0");
    assert_string_equal(r.name[5], "Email");
    assert_string_equal(r.value[5], "bench@example.com");

    /* merged into: written as version 2, a field not of QLM spelled out */

    f[0].name = qlm_t_str("Email");
    f[0].value = qlm_t_str("new@example.com");
    f[1].name = qlm_t_str("Custom");
    f[1].value = qlm_t_str("");

    memset(&rec, 0, sizeof(qlm_store_record_t));
    rec.key = qlm_t_str("MEM0");
    rec.updated = T2;
    rec.fields = f;
    rec.nfields = 2;

    qlm_t_ok(qlm_store_mirror_upsert(t->st, QLM_STORE_LICENSES, &rec));

    memset(&r, 0, sizeof(rec_t));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES,
                                  qlm_t_str("MEM0"), rec_copy, &r));
    assert_int_equal(r.n, 7);
    assert_int_equal(r.updated, T2);
    assert_string_equal(r.name[0], "ActivationKey");
    assert_string_equal(r.value[0], "MEM0");
    assert_string_equal(r.name[5], "Email");
    assert_string_equal(r.value[5], "new@example.com");
    assert_string_equal(r.name[6], "Custom");
    assert_string_equal(r.value[6], "");

    qlm_store_close(t->st);
    t->st = NULL;

    qlm_t_raw(t, "licenses", "MEM0", 4, NULL, 0, &val);
    assert_int_equal(((unsigned char *) val.mv_data)[0], 2);
    assert_true(val.mv_size < sizeof(rec0) - 1);

    /* every truncation of it, and a byte more, is refused */

    for (len = 0; len <= val.mv_size + 1; len++) {
        if (len == val.mv_size) {
            continue;
        }

        val.mv_data = realloc(val.mv_data, val.mv_size + 1);
        assert_non_null(val.mv_data);
        ((unsigned char *) val.mv_data)[val.mv_size] = 0;

        qlm_t_raw(t, "licenses", "MEM1", 4, val.mv_data, len, NULL);

        qlm_t_ok(qlm_t_open(t, NULL));
        assert_int_equal(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES,
                                              qlm_t_str("MEM1"), rec_copy,
                                              &r),
                         QLM_STORE_CORRUPT);
        qlm_store_close(t->st);
        t->st = NULL;
    }

    free(val.mv_data);
}


/* the first item of a walk */
typedef struct {
    size_t    n;
    uint64_t  created;
    uint64_t  due;
    uint64_t  updated;
    size_t    body_len;
    char      body[64];
} edge_t;


static int
edge(const qlm_store_item_t *item, void *data)
{
    edge_t  *e = data;

    if (e->n++ == 0) {
        e->created = item->created;
        e->due = item->due;
        e->updated = item->updated;
        e->body_len = item->body.len;

        if (item->body.len < sizeof(e->body)) {
            memcpy(e->body, item->body.data, item->body.len + 1);
        }
    }

    return 0;
}


/* version 2's bytes, pinned: the name tables must not move */

static void
test_v2_bytes(void **state)
{
    edge_t              e;
    MDB_val             val;
    qlm_test_t         *t;
    unsigned char       key[8];
    qlm_store_item_t    item;
    qlm_store_field_t   f[2];
    qlm_store_record_t  rec;

    static const unsigned char  ib[] = {
        2, 0, 0xac, 0x02, 0, 0, 0, 0,       /* lease, created 300, ... */
        1,                                  /* license_activated */
        1, 'e', 0, 1, 'u', 0, 1, 'h', 0,
        2, 'b', 0,                          /* body: length << 1, plain */
        0, 0
    };

    /* a body with QLM's keys, an unknown one and a 0 byte */

    static const char           json[] =
        "{\"EventType\":\"x\",\"ProductID\":1,\"Zz\":\"\000\"}";

    static const unsigned char  jb[] = {
        2, 0, 0xac, 0x02, 0, 0, 0, 0, 1, 1, 'e', 0, 1, 'u', 0, 1, 'h', 0,
        21 << 1 | 1, 40,                    /* packed: 21 bytes, of 40 */
        '{', 0, 54, '"', 'x', '"', ',',     /* "EventType": */
        0, 4, '1', ',',                     /* "ProductID": */
        '"', 'Z', 'z', '"', ':', '"', 0, 0, '"', '}',
        0, 0
    };

    static const unsigned char  rb[] = {
        2, 1, 5, 2,                         /* deleted, updated, n */
        1, 1, 'K', 0,                       /* ActivationKey */
        0, 2, 'Z', 'z', 0, 0, 0             /* Zz, spelled out; "" */
    };

    t = *state;

    memset(&item, 0, sizeof(qlm_store_item_t));
    item.created = 300;
    item.due = 300;
    item.event_id = qlm_t_str("e");
    item.event = qlm_t_str("license_activated");
    item.url = qlm_t_str("u");
    item.headers = qlm_t_str("h");
    item.body = qlm_t_str("b");

    f[0].name = qlm_t_str("ActivationKey");
    f[0].value = qlm_t_str("K");
    f[1].name = qlm_t_str("Zz");
    f[1].value = qlm_t_str("");

    memset(&rec, 0, sizeof(qlm_store_record_t));
    rec.key = qlm_t_str("K");
    rec.updated = 5;
    rec.deleted = 1;
    rec.fields = f;
    rec.nfields = 2;

    qlm_t_ok(qlm_t_open(t, NULL));
    qlm_t_ok(qlm_store_enqueue(t->st, &item, 1));
    qlm_t_ok(qlm_store_mirror_upsert(t->st, QLM_STORE_LICENSES, &rec));
    qlm_store_close(t->st);
    t->st = NULL;

    /* a new store is of format 2 */

    assert_int_equal(format(t), 2);

    qlm_t_be64(key, item.id);
    qlm_t_raw(t, "items", key, 8, NULL, 0, &val);
    assert_int_equal(val.mv_size, sizeof(ib));
    assert_memory_equal(val.mv_data, ib, sizeof(ib));
    free(val.mv_data);

    qlm_t_raw(t, "licenses", "K", 1, NULL, 0, &val);
    assert_int_equal(val.mv_size, sizeof(rb));
    assert_memory_equal(val.mv_data, rb, sizeof(rb));
    free(val.mv_data);

    item.body.data = json;
    item.body.len = sizeof(json) - 1;

    qlm_t_ok(qlm_t_open(t, NULL));
    qlm_t_ok(qlm_store_enqueue(t->st, &item, 1));
    qlm_store_close(t->st);
    t->st = NULL;

    qlm_t_be64(key, item.id);
    qlm_t_raw(t, "items", key, 8, NULL, 0, &val);
    assert_int_equal(val.mv_size, sizeof(jb));
    assert_memory_equal(val.mv_data, jb, sizeof(jb));
    free(val.mv_data);

    /* the widest varint (10 bytes), due before created: read back */

    item.created = UINT64_MAX;
    item.due = 1;

    qlm_t_ok(qlm_t_open(t, NULL));
    qlm_t_ok(qlm_store_enqueue(t->st, &item, 1));

    memset(&e, 0, sizeof(edge_t));
    qlm_t_ok(qlm_store_queue_foreach(t->st, edge, &e));
    assert_int_equal(e.n, 3);
    assert_int_equal(e.created, UINT64_MAX);
    assert_int_equal(e.due, 1);
    assert_int_equal(e.updated, UINT64_MAX);
    assert_int_equal(e.body_len, sizeof(json) - 1);
    assert_memory_equal(e.body, json, sizeof(json));
}


/* a packed body cut short, its length wrong, a code out of the table */

static void
test_packed_damage(void **state)
{
    size_t             len, n, k;
    MDB_val            good;
    qlm_test_t        *t;
    unsigned char      key[8], *bad;
    qlm_store_item_t   item;

    static const struct {
        size_t         at;
        unsigned char  byte;
    } damage[] = {
        { 19, 41 },                         /* unpacked length + 1 */
        { 19, 39 },                         /* unpacked length - 1 */
        { 22, 61 },                         /* no name 61 */
        { 22, 127 },
        { 18, 23 << 1 | 1 },                /* packed length + 2 */
    };

    t = *state;

    memset(&item, 0, sizeof(qlm_store_item_t));
    item.created = 300;
    item.due = 300;
    item.event_id = qlm_t_str("e");
    item.event = qlm_t_str("license_activated");
    item.url = qlm_t_str("u");
    item.headers = qlm_t_str("h");
    item.body.data = "{\"EventType\":\"x\",\"ProductID\":1,\"Zz\":\"\000\"}";
    item.body.len = 40;

    qlm_t_ok(qlm_t_open(t, NULL));
    qlm_t_ok(qlm_store_enqueue(t->st, &item, 1));
    qlm_store_close(t->st);
    t->st = NULL;

    qlm_t_be64(key, item.id);
    qlm_t_raw(t, "items", key, 8, NULL, 0, &good);
    assert_int_equal(((unsigned char *) good.mv_data)[18], 21 << 1 | 1);

    bad = malloc(good.mv_size + 1);
    assert_non_null(bad);

    for (len = 0; len <= good.mv_size + 1; len++) {
        if (len == good.mv_size) {
            continue;
        }

        memcpy(bad, good.mv_data, good.mv_size);
        bad[good.mv_size] = 0;

        qlm_t_raw(t, "items", key, 8, bad, len, NULL);

        qlm_t_ok(qlm_t_open(t, NULL));
        n = 0;
        assert_int_equal(qlm_store_queue_foreach(t->st, qlm_t_count_item, &n),
                         QLM_STORE_CORRUPT);
        qlm_store_close(t->st);
        t->st = NULL;
    }

    for (k = 0; k < sizeof(damage) / sizeof(damage[0]); k++) {
        memcpy(bad, good.mv_data, good.mv_size);
        bad[damage[k].at] = damage[k].byte;

        qlm_t_raw(t, "items", key, 8, bad, good.mv_size, NULL);

        qlm_t_ok(qlm_t_open(t, NULL));
        n = 0;
        assert_int_equal(qlm_store_queue_foreach(t->st, qlm_t_count_item, &n),
                         QLM_STORE_CORRUPT);
        qlm_store_close(t->st);
        t->st = NULL;
    }

    /* the good bytes back: read */

    qlm_t_raw(t, "items", key, 8, good.mv_data, good.mv_size, NULL);
    qlm_t_ok(qlm_t_open(t, NULL));
    n = 0;
    qlm_t_ok(qlm_store_queue_foreach(t->st, qlm_t_count_item, &n));
    assert_int_equal(n, 1);

    free(bad);
    free(good.mv_data);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_item_v1),
        QLM_T(test_record_v1),
        QLM_T(test_v2_bytes),
        QLM_T(test_packed_damage),
    };

    return cmocka_run_group_tests_name("format", tests, NULL, NULL);
}
