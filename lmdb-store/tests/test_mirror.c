
/*
 * The license mirror: merge rules, deleted records, bounded scans that
 * resume; task slots begun once across processes, progress and [date].
 */

#include "qlm_test.h"

#include <pthread.h>
#include <sys/wait.h>
#include <time.h>


static qlm_store_str_t
str(const char *s)
{
    qlm_store_str_t  v;

    v.data = s;
    v.len = strlen(s);

    return v;
}


typedef struct {
    size_t   n;
    char     keys[64][32];
    char     text[1024];
    unsigned deleted;
    uint64_t updated;
} seen_t;


/* the time upsert() gives its records */
static uint64_t  upsert_time = 1000;


static int
collect(const qlm_store_record_t *rec, void *data)
{
    size_t   i, len;
    seen_t  *s;

    s = data;

    assert_true(s->n < 64 && rec->key.len < 32);

    memcpy(s->keys[s->n], rec->key.data, rec->key.len);
    s->keys[s->n][rec->key.len] = '\0';
    s->n++;
    s->deleted = rec->deleted;
    s->updated = rec->updated;

    /* "Name=Value;" in the stored order */

    s->text[0] = '\0';
    len = 0;

    for (i = 0; i < rec->nfields; i++) {
        len += snprintf(s->text + len, sizeof(s->text) - len, "%.*s=%.*s;",
                        (int) rec->fields[i].name.len, rec->fields[i].name.data,
                        (int) rec->fields[i].value.len,
                        rec->fields[i].value.data);
    }

    return 0;
}


static int
upsert(qlm_store_t *st, int table, const char *key, unsigned deleted,
    const char **nv)
{
    size_t              n;
    qlm_store_field_t   f[16];
    qlm_store_record_t  rec;

    for (n = 0; nv[2 * n]; n++) {
        f[n].name = str(nv[2 * n]);
        f[n].value = str(nv[2 * n + 1]);
    }

    rec.key = str(key);
    rec.updated = upsert_time;
    rec.deleted = deleted;
    rec.nfields = n;
    rec.fields = f;

    return qlm_store_mirror_upsert(st, table, &rec);
}


static void
test_merge(void **state)
{
    seen_t       s;
    qlm_test_t  *t;

    const char  *created[] = { "ActivationKey", "K-1", "Email", "a@b.c",
                               "ProductID", "7", NULL };
    const char  *activated[] = { "ComputerID", "PC-1", "Email", "new@b.c",
                                 "ProductID", "", NULL };
    const char  *moved[] = { "ComputerID", "PC-2", NULL };
    const char  *none[] = { NULL };

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, "K-1", 0, created));
    qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, "K-1", 0, activated));

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-1"),
                                  collect, &s));

    /* fields given overwrite, an empty value too (it clears) */
    assert_string_equal(s.text, "ActivationKey=K-1;Email=new@b.c;"
                                "ProductID=;ComputerID=PC-1;");
    assert_int_equal(s.deleted, 0);

    /* deleted: marked, fields kept */

    qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, "K-1", 1, none));

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-1"),
                                  collect, &s));
    assert_int_equal(s.deleted, 1);
    assert_string_equal(s.text, "ActivationKey=K-1;Email=new@b.c;"
                                "ProductID=;ComputerID=PC-1;");

    /* made again after its deletion: afresh, not merged with the old */

    qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, "K-1", 0, activated));

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-1"),
                                  collect, &s));
    assert_int_equal(s.deleted, 0);
    assert_string_equal(s.text, "ComputerID=PC-1;Email=new@b.c;ProductID=;");

    /* the same fields again, later: nothing written, the time stays */

    upsert_time = 2000;
    qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, "K-1", 0, activated));

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-1"),
                                  collect, &s));
    assert_int_equal(s.updated, 1000);
    assert_string_equal(s.text, "ComputerID=PC-1;Email=new@b.c;ProductID=;");

    /* one value changed: written, with its time */

    qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, "K-1", 0, moved));

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-1"),
                                  collect, &s));
    assert_int_equal(s.updated, 2000);
    assert_string_equal(s.text, "ComputerID=PC-2;Email=new@b.c;ProductID=;");

    /* a field new to the record: written */

    upsert_time = 3000;
    qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, "K-1", 0, created));

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-1"),
                                  collect, &s));
    assert_int_equal(s.updated, 3000);
    assert_string_equal(s.text, "ComputerID=PC-2;Email=a@b.c;ProductID=7;"
                                "ActivationKey=K-1;");

    /* deleted, then deleted again: the second writes nothing */

    upsert_time = 4000;
    qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, "K-1", 1, none));
    upsert_time = 5000;
    qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, "K-1", 1, none));

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-1"),
                                  collect, &s));
    assert_int_equal(s.deleted, 1);
    assert_int_equal(s.updated, 4000);

    upsert_time = 1000;

    /* tables are apart */

    assert_int_equal(qlm_store_mirror_get(t->st, QLM_STORE_CUSTOMERS,
                                          str("K-1"), collect, &s),
                     QLM_STORE_NOTFOUND);

    assert_int_equal(upsert(t->st, 5, "x", 0, none), QLM_STORE_INVALID);
    assert_int_equal(upsert(t->st, QLM_STORE_LICENSES, "", 0, none),
                     QLM_STORE_INVALID);
}


static void
test_scan(void **state)
{
    size_t       i, n, total;
    seen_t       s;
    char         key[32], last[32];
    qlm_test_t  *t;

    const char  *f[] = { "Email", "x@y.z", NULL };

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    for (i = 0; i < 25; i++) {
        snprintf(key, sizeof(key), "K-%03zu", i);
        qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, key, 0, f));
    }

    /* steps of 10 resume after the last key seen */

    last[0] = '\0';
    total = 0;

    for ( ;; ) {
        memset(&s, 0, sizeof(s));
        qlm_t_ok(qlm_store_mirror_scan(t->st, QLM_STORE_LICENSES, str(last),
                                       10, collect, &s, &n));
        assert_int_equal(n, s.n);
        assert_true(n <= 10);

        for (i = 0; i < n; i++) {
            snprintf(key, sizeof(key), "K-%03zu", total + i);
            assert_string_equal(s.keys[i], key);
        }

        total += n;

        if (n < 10) {
            break;
        }

        strcpy(last, s.keys[n - 1]);
    }

    assert_int_equal(total, 25);

    /* a key that is gone still works as a place to resume */

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_scan(t->st, QLM_STORE_LICENSES, str("K-0105"),
                                   100, collect, &s, &n));
    assert_int_equal(n, 14);
    assert_string_equal(s.keys[0], "K-011");
}


static void
test_tasks(void **state)
{
    int               status;
    char              cursor[400];
    pid_t             pid;
    qlm_test_t       *t;
    qlm_store_task_t  prev, task;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    assert_int_equal(qlm_store_task_get(t->st, str("renewals"), &task,
                                        cursor),
                     QLM_STORE_NOTFOUND);

    /* the first slot: no previous run */

    qlm_t_ok(qlm_store_task_begin(t->st, str("renewals"), 86400000, 86400500,
                                  &prev));
    assert_int_equal(prev.started, 0);

    /* the same slot again, from this process or another: refused */

    assert_int_equal(qlm_store_task_begin(t->st, str("renewals"), 86400000,
                                          86401000, &prev),
                     QLM_STORE_EXISTS);

    qlm_store_close(t->st);
    t->st = NULL;

    pid = fork();
    assert_true(pid >= 0);

    if (pid == 0) {
        if (qlm_t_open(t, NULL) != 0) {
            _exit(2);
        }

        status = qlm_store_task_begin(t->st, str("renewals"), 86400000,
                                      86402000, NULL);
        qlm_store_close(t->st);
        _exit(status == QLM_STORE_EXISTS ? 0 : 1);
    }

    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    qlm_t_ok(qlm_t_open(t, NULL));

    /* progress survives a reopen: a restart resumes the scan */

    qlm_t_ok(qlm_store_task_progress(t->st, str("renewals"), 86400000,
                                     str("K-042"), 0));
    qlm_t_ok(qlm_store_task_get(t->st, str("renewals"), &task, cursor));
    assert_int_equal(task.slot, 86400000);
    assert_int_equal(task.done, 0);
    assert_int_equal(task.cursor.len, 5);
    assert_memory_equal(task.cursor.data, "K-042", 5);

    qlm_t_ok(qlm_store_task_progress(t->st, str("renewals"), 86400000,
                                     str("K-099"), 1));

    /* the next slot: [date] is when the one before began */

    qlm_t_ok(qlm_store_task_begin(t->st, str("renewals"), 172800000,
                                  172800100, &prev));
    assert_int_equal(prev.started, 86400500);
    assert_int_equal(prev.done, 1);

    qlm_t_ok(qlm_store_task_get(t->st, str("renewals"), &task, cursor));
    assert_int_equal(task.last_run, 86400500);
    assert_int_equal(task.done, 0);
    assert_int_equal(task.cursor.len, 0);

    /* progress for a slot that is over is stale */

    assert_int_equal(qlm_store_task_progress(t->st, str("renewals"),
                                             86400000, str("K-1"), 1),
                     QLM_STORE_STALE);

    /* a step: deliveries and progress together, or neither */

    {
        size_t            n;
        qlm_store_stat_t  stat;
        qlm_store_item_t  items[2];

        items[0] = qlm_t_item(172800100, "ev-a", "renewals", "http://x/1",
                              "{}");
        items[1] = qlm_t_item(172800100, "ev-b", "renewals", "http://x/2",
                              "{}");

        qlm_t_ok(qlm_store_task_step(t->st, str("renewals"), 172800000,
                                     str(""), str("K-007"), 0, items, 2));
        assert_true(items[0].id != 0 && items[1].id != 0);

        qlm_t_ok(qlm_store_task_get(t->st, str("renewals"), &task, cursor));
        assert_int_equal(task.cursor.len, 5);
        assert_memory_equal(task.cursor.data, "K-007", 5);

        qlm_t_ok(qlm_store_stat(t->st, 172800200, &stat));
        n = stat.queued;
        assert_int_equal(n, 2);

        /* a step of a slot that is over: nothing is queued */

        assert_int_equal(qlm_store_task_step(t->st, str("renewals"),
                                             86400000, str("K-007"),
                                             str("K-008"), 0, items, 2),
                         QLM_STORE_STALE);

        /* a step another process took already: nothing is queued */

        assert_int_equal(qlm_store_task_step(t->st, str("renewals"),
                                             172800000, str(""),
                                             str("K-007"), 0, items, 2),
                         QLM_STORE_STALE);

        qlm_t_ok(qlm_store_stat(t->st, 172800200, &stat));
        assert_int_equal(stat.queued, n);

        /* the next step, from where the scan is */

        qlm_t_ok(qlm_store_task_step(t->st, str("renewals"), 172800000,
                                     str("K-007"), str("K-020"), 1,
                                     items, 1));
    }

    /* an earlier slot cannot begin after a later one */

    assert_int_equal(qlm_store_task_begin(t->st, str("renewals"), 86400000,
                                          172900000, NULL),
                     QLM_STORE_EXISTS);
}


static void
test_event(void **state)
{
    seen_t              s;
    qlm_test_t         *t;
    qlm_store_stat_t    stat;
    qlm_store_item_t    items[2];
    qlm_store_field_t   f[2];
    qlm_store_record_t  rec;

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    items[0] = qlm_t_item(100, "ev-1", "license_created", "http://x/1", "{}");
    items[1] = qlm_t_item(100, "ev-1", "license_created", "http://x/2", "{}");

    f[0].name = str("ActivationKey");
    f[0].value = str("K-9");
    f[1].name = str("Email");
    f[1].value = str("e@x.y");

    rec.key = str("K-9");
    rec.updated = 100;
    rec.deleted = 0;
    rec.nfields = 2;
    rec.fields = f;

    /* deliveries and the record, together */

    qlm_t_ok(qlm_store_enqueue_event(t->st, items, 2, QLM_STORE_LICENSES,
                                     &rec));
    assert_true(items[0].id && items[1].id && items[0].id != items[1].id);

    qlm_t_ok(qlm_store_stat(t->st, 200, &stat));
    assert_int_equal(stat.queued, 2);

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-9"),
                                  collect, &s));
    assert_string_equal(s.text, "ActivationKey=K-9;Email=e@x.y;");

    /* the record alone (no URL), and no record at all */

    f[1].value = str("new@x.y");
    qlm_t_ok(qlm_store_enqueue_event(t->st, NULL, 0, QLM_STORE_LICENSES,
                                     &rec));
    qlm_t_ok(qlm_store_enqueue_event(t->st, items, 1, QLM_STORE_LICENSES,
                                     NULL));

    qlm_t_ok(qlm_store_stat(t->st, 200, &stat));
    assert_int_equal(stat.queued, 3);

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-9"),
                                  collect, &s));
    assert_string_equal(s.text, "ActivationKey=K-9;Email=new@x.y;");

    /* a bad record: neither is written */

    rec.key = str("");
    assert_int_equal(qlm_store_enqueue_event(t->st, items, 2,
                                             QLM_STORE_LICENSES, &rec),
                     QLM_STORE_INVALID);

    qlm_t_ok(qlm_store_stat(t->st, 200, &stat));
    assert_int_equal(stat.queued, 3);
}


/*
 * One batch, its ops interleaved: records of both tables through the
 * batch's kept cursors (one merged twice), acks and a death through its
 * cursor on items, a rewrite of an item in between.
 */

static void
batch_rec(qlm_store_write_t *wb, int table, const char *key,
    qlm_store_field_t *f, size_t n)
{
    qlm_store_record_t  rec;

    rec.key = str(key);
    rec.updated = 100;
    rec.deleted = 0;
    rec.nfields = n;
    rec.fields = f;

    qlm_t_ok(qlm_store_write_enqueue_event(wb, NULL, 0, table, &rec));
}


static void
test_batch_cursors(void **state)
{
    size_t              i, n;
    seen_t              s;
    qlm_test_t         *t;
    qlm_store_stat_t    stat;
    qlm_store_item_t    items[4], *out[4];
    qlm_store_field_t   f[2];
    qlm_store_write_t  *wb;
    qlm_store_str_t     none = { 0, NULL };

    t = *state;

    qlm_t_ok(qlm_t_open(t, NULL));

    for (i = 0; i < 4; i++) {
        items[i] = qlm_t_item(100, "ev-1", "license_created", "http://x/",
                              "{\"Email\":\"e@x.y\"}");
    }

    qlm_t_ok(qlm_store_enqueue_event(t->st, items, 4, 0, NULL));
    qlm_t_ok(qlm_store_claim(t->st, 100, 60000, out, 4, &n));
    assert_int_equal(n, 4);

    qlm_t_ok(qlm_store_write_begin(t->st, &wb));

    f[0].name = str("Email");
    f[0].value = str("a@x.y");
    batch_rec(wb, QLM_STORE_LICENSES, "K-1", f, 1);

    qlm_t_ok(qlm_store_write_ack(wb, out[0]->id, out[0]->lease, NULL));

    f[0].name = str("Company");
    f[0].value = str("C");
    batch_rec(wb, QLM_STORE_CUSTOMERS, "C-1", f, 1);

    qlm_t_ok(qlm_store_write_dead(wb, out[1]->id, out[1]->lease, 200, 1,
                                  500, str("HTTP 500"), NULL));

    f[0].name = str("Email");
    f[0].value = str("b@x.y");
    f[1].name = str("Country");
    f[1].value = str("US");
    batch_rec(wb, QLM_STORE_LICENSES, "K-1", f, 2);

    qlm_t_ok(qlm_store_write_reschedule(wb, out[2]->id, out[2]->lease, 300,
                                        1, 503, none, NULL));
    qlm_t_ok(qlm_store_write_ack(wb, out[3]->id, out[3]->lease, NULL));

    batch_rec(wb, QLM_STORE_LICENSES, "K-2", f, 1);

    qlm_t_ok(qlm_store_write_commit(wb));

    for (i = 0; i < n; i++) {
        qlm_store_item_free(out[i]);
    }

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-1"),
                                  collect, &s));
    assert_string_equal(s.text, "Email=b@x.y;Country=US;");

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-2"),
                                  collect, &s));
    assert_string_equal(s.text, "Email=b@x.y;");

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_CUSTOMERS, str("C-1"),
                                  collect, &s));
    assert_string_equal(s.text, "Company=C;");

    /* the rescheduled item alone is queued, the dead one in dead */

    qlm_t_ok(qlm_store_stat(t->st, 1000, &stat));
    assert_int_equal(stat.queued, 1);
    assert_int_equal(stat.dead, 1);
    assert_int_equal(stat.next_due, 300);
}


/*
 * Another process (a store of its own, with a map of map_size) writes 600
 * records of 3,000 bytes, past this process's map, and then, if email is
 * given, K-1's e-mail.
 */

static void
grow_map(qlm_test_t *t, size_t map_size, const char *email)
{
    int                   status;
    char                  big[3000];
    pid_t                 pid;
    size_t                i;
    qlm_store_t          *st;
    qlm_store_options_t   opts;
    char                  path[300], key[32];
    const char           *nv[] = { "Email", email, NULL };
    const char           *nvbig[] = { "Notes", big, NULL };

    memset(big, 'n', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    pid = fork();
    assert_true(pid >= 0);

    if (pid == 0) {

        /* the parent's handle is not for this process: one of its own */

        memset(&opts, 0, sizeof(opts));
        opts.map_size = map_size;
        qlm_t_path(t, path, sizeof(path));

        if (qlm_store_open(&st, path, &opts) != 0) {
            _exit(2);
        }

        for (i = 0; i < 600; i++) {
            snprintf(key, sizeof(key), "B-%03zu", i);

            if (upsert(st, QLM_STORE_LICENSES, key, 0, nvbig) != 0) {
                _exit(3);
            }
        }

        status = email ? upsert(st, QLM_STORE_LICENSES, "K-1", 0, nv) : 0;

        qlm_store_close(st);
        _exit(status == 0 ? 0 : 1);
    }

    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}


/*
 * Reads keep one read txn, reset between them: each read sees what was
 * committed before it, by another process too, and one that grew the map
 * beyond this process's (the renewed txn adopts the new size).
 */

static void
test_reader(void **state)
{
    seen_t                s;
    qlm_test_t           *t;
    qlm_store_options_t   opts;
    const char           *nv[] = { "Email", "a@x.y", NULL };

    t = *state;

    memset(&opts, 0, sizeof(opts));
    opts.map_size = 1024 * 1024;

    qlm_t_ok(qlm_t_open(t, &opts));
    qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, "K-1", 0, nv));

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-1"),
                                  collect, &s));
    assert_string_equal(s.text, "Email=a@x.y;");

    grow_map(t, 4 * 1024 * 1024, "b@x.y");

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-1"),
                                  collect, &s));
    assert_string_equal(s.text, "Email=b@x.y;");

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("B-599"),
                                  collect, &s));
    assert_memory_equal(s.text, "Notes=nnnn", 10);

    /* and this process writes on, in the grown map */

    nv[1] = "c@x.y";
    qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, "K-1", 0, nv));

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("K-1"),
                                  collect, &s));
    assert_string_equal(s.text, "Email=c@x.y;");
}


/*
 * A map grown by another process is adopted only when no txn of this
 * process is open: a write begun while another thread reads waits for the
 * read to end.  Adopted under the read, the map would move, and the
 * reader's record (pointers into the map) would be gone.
 */

typedef struct {
    qlm_store_t      *st;
    pthread_mutex_t   lock;
    pthread_cond_t    cond;
    int               in;          /* the reader is in its txn */
    int               grown;       /* the child grew the map */
    char              text[64];    /* what the reader read, late */
    struct timespec   done;        /* when its txn ended */
} mover_t;


static int
read_slowly(const qlm_store_record_t *rec, void *data)
{
    mover_t          *m;
    struct timespec   ts;

    m = data;

    pthread_mutex_lock(&m->lock);
    m->in = 1;
    pthread_cond_broadcast(&m->cond);

    while (!m->grown) {
        pthread_cond_wait(&m->cond, &m->lock);
    }

    pthread_mutex_unlock(&m->lock);

    /* the writer starts meanwhile, and finds the map grown */

    ts.tv_sec = 0;
    ts.tv_nsec = 100 * 1000 * 1000;
    nanosleep(&ts, NULL);

    snprintf(m->text, sizeof(m->text), "%.*s=%.*s",
             (int) rec->fields[0].name.len, rec->fields[0].name.data,
             (int) rec->fields[0].value.len, rec->fields[0].value.data);

    return 0;
}


static void *
reader(void *data)
{
    mover_t  *m;

    m = data;

    if (qlm_store_mirror_get(m->st, QLM_STORE_LICENSES, str("K-1"),
                             read_slowly, m)
        != 0)
    {
        m->text[0] = '\0';
    }

    clock_gettime(CLOCK_MONOTONIC, &m->done);

    return NULL;
}


static void
test_resize_waits(void **state)
{
    double                wrote, read_done;
    seen_t                s;
    mover_t               m;
    pthread_t             th;
    qlm_test_t           *t;
    struct timespec       ts;
    qlm_store_options_t   opts;
    const char           *nv[] = { "Email", "a@x.y", NULL };

    t = *state;

    memset(&opts, 0, sizeof(opts));
    opts.map_size = 1024 * 1024;

    qlm_t_ok(qlm_t_open(t, &opts));
    qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, "K-1", 0, nv));

    memset(&m, 0, sizeof(m));
    m.st = t->st;
    pthread_mutex_init(&m.lock, NULL);
    pthread_cond_init(&m.cond, NULL);

    assert_int_equal(pthread_create(&th, NULL, reader, &m), 0);

    pthread_mutex_lock(&m.lock);
    while (!m.in) {
        pthread_cond_wait(&m.cond, &m.lock);
    }
    pthread_mutex_unlock(&m.lock);

    /* the reader's snapshot keeps the pages each txn frees */
    grow_map(t, 16 * 1024 * 1024, NULL);

    pthread_mutex_lock(&m.lock);
    m.grown = 1;
    pthread_cond_broadcast(&m.cond);
    pthread_mutex_unlock(&m.lock);

    /* the reader's txn is still open: this write waits for its end */

    nv[1] = "b@x.y";
    qlm_t_ok(upsert(t->st, QLM_STORE_LICENSES, "K-1", 0, nv));
    clock_gettime(CLOCK_MONOTONIC, &ts);

    assert_int_equal(pthread_join(th, NULL), 0);

    assert_string_equal(m.text, "Email=a@x.y");

    wrote = ts.tv_sec + ts.tv_nsec / 1e9;
    read_done = m.done.tv_sec + m.done.tv_nsec / 1e9;
    assert_true(wrote >= read_done);

    /* and the grown map is this process's now */

    memset(&s, 0, sizeof(s));
    qlm_t_ok(qlm_store_mirror_get(t->st, QLM_STORE_LICENSES, str("B-599"),
                                  collect, &s));
    assert_memory_equal(s.text, "Notes=nnnn", 10);

    pthread_cond_destroy(&m.cond);
    pthread_mutex_destroy(&m.lock);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_event),
        QLM_T(test_merge),
        QLM_T(test_scan),
        QLM_T(test_tasks),
        QLM_T(test_reader),
        QLM_T(test_resize_waits),
        QLM_T(test_batch_cursors),
    };

    return cmocka_run_group_tests_name("mirror", tests, NULL, NULL);
}
