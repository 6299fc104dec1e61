
/*
 * The journal of events: a record written is replayed once its process
 * is gone, unless the store holds it already; a torn record ends the
 * journal; a rewound journal replays only what follows the rewind; a live
 * process's journal is left alone, and a look at the journals counts
 * what a replay would take.  And a writer killed at random points
 * between its journal and its commits loses no event it reported, and
 * duplicates none.
 */

#include "qlm_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>


#define K            5
#define MAX_BATCHES  100000
#define ROUNDS       5


typedef struct {
    uint64_t   first;
    uint64_t   n;
    uint64_t   bad;
    uint32_t  *count;
} tally_t;


static int
tally(const qlm_store_item_t *item, void *data)
{
    uint64_t   b;
    tally_t   *t;

    t = data;

    if (sscanf(item->event_id.data, "b%llu", (unsigned long long *) &b) != 1
        || item->lease != 0 || !qlm_t_str_is(item->url, "http://x/")
        || !qlm_t_str_is(item->body, "{\"n\":1}"))
    {
        t->bad++;
        return 0;
    }

    if (b >= t->first && b < t->first + t->n) {
        t->count[b - t->first]++;
    }

    return 0;
}


static void
batch_items(qlm_store_item_t *items, uint64_t b, char *tag, size_t size)
{
    size_t  i;

    snprintf(tag, size, "b%llu", (unsigned long long) b);

    for (i = 0; i < K; i++) {
        items[i] = qlm_t_item(b, tag, "license_activated", "http://x/",
                              "{\"n\":1}");
    }
}


/* batch b: K items journaled; committed too when commit is set */

static int
batch(qlm_store_t *st, qlm_store_journal_t *j, uint64_t b, unsigned commit,
    uint64_t *lsn)
{
    int                      rc;
    char                     tag[32];
    qlm_store_item_t         items[K];
    qlm_store_write_t       *w;
    qlm_store_journal_rec_t  rec;

    batch_items(items, b, tag, sizeof(tag));

    memset(&rec, 0, sizeof(rec));

    rc = qlm_store_journal_add(&rec, items, K, 0, NULL);

    if (rc == 0) {
        rc = qlm_store_journal_write(j, &rec, lsn);
    }

    qlm_store_journal_rec_free(&rec);

    if (rc != 0 || !commit) {
        return rc;
    }

    rc = qlm_store_write_begin(st, &w);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_write_enqueue_event(w, items, K, 0, NULL);

    if (rc == 0) {
        rc = qlm_store_write_journaled(w, j, *lsn);
    }

    if (rc != 0) {
        qlm_store_write_abort(w);
        return rc;
    }

    return qlm_store_write_commit(w);
}


/* a writer of its own: 0 in the child, its store and journal open */

static pid_t
child_begin(const char *path, qlm_store_t **st, qlm_store_journal_t **j)
{
    pid_t  pid;

    pid = fork();
    assert_true(pid != -1);

    if (pid == 0
        && (qlm_store_open(st, path, NULL) != 0
            || qlm_store_journal_open(*st, path, j) != 0))
    {
        _exit(1);
    }

    return pid;
}


/* a child's end as a process's: its lock goes, its file stays */

static void
child_end(qlm_store_t *st, qlm_store_journal_t *j)
{
    qlm_store_journal_close(st, j, 0);
    qlm_store_close(st);

    _exit(0);
}


/* the child ended well; the test's own store is opened after it */

static void
child_wait(qlm_test_t *t, pid_t pid)
{
    int  status;

    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    qlm_t_ok(qlm_t_open(t, NULL));
}


static size_t
journals(const char *dir, char *name, size_t size)
{
    DIR            *d;
    size_t          n;
    struct dirent  *de;

    d = opendir(dir);
    assert_non_null(d);

    n = 0;

    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "journal-", 8) == 0) {
            if (name) {
                snprintf(name, size, "%s/%s", dir, de->d_name);
            }

            n++;
        }
    }

    closedir(d);

    return n;
}


static void
count(qlm_test_t *t, uint64_t first, uint64_t n, uint32_t *c)
{
    tally_t  tl;

    tl.first = first;
    tl.n = n;
    tl.bad = 0;
    tl.count = c;

    memset(c, 0, n * sizeof(uint32_t));

    qlm_t_ok(qlm_store_queue_foreach(t->st, tally, &tl));
    assert_int_equal(tl.bad, 0);
}


/*
 * A child writes batches 1..4: 1 and 2 committed, 3 and 4 journaled only;
 * with torn, a byte of record 4 is changed (a write cut short).  It ends
 * without closing.
 */

static void
replay(void **state, unsigned torn)
{
    char                      path[300], name[600];
    pid_t                     pid;
    uint32_t                  c[6];
    uint64_t                  lsn, events;
    int                       fd;
    qlm_test_t               *t;
    qlm_store_t              *st;
    qlm_store_journal_t      *j;
    qlm_store_journal_info_t  ji;

    t = *state;
    qlm_t_path(t, path, sizeof(path));

    pid = child_begin(path, &st, &j);

    if (pid == 0) {
        if (batch(st, j, 1, 1, &lsn) != 0 || lsn != 1
            || batch(st, j, 2, 1, &lsn) != 0 || lsn != 2
            || batch(st, j, 3, 0, &lsn) != 0 || lsn != 3
            || batch(st, j, 4, 0, &lsn) != 0 || lsn != 4)
        {
            _exit(1);
        }

        child_end(st, j);
    }

    child_wait(t, pid);

    assert_int_equal(journals(path, name, sizeof(name)), 1);

    if (torn) {
        /* records begin at blocks: a byte of the fourth's events, lost */
        fd = open(name, O_RDWR);
        assert_true(fd != -1);
        assert_int_equal(pwrite(fd, "?", 1, 3 * 4096 + 40), 1);
        close(fd);
    }

    count(t, 1, 6, c);
    assert_int_equal(c[0], K);
    assert_int_equal(c[1], K);
    assert_int_equal(c[2], 0);

    /* a look finds what a replay would, and replays nothing */

    qlm_t_ok(qlm_store_journal_info(t->st, path, &ji));
    assert_int_equal(ji.live, 0);
    assert_int_equal(ji.ended, 1);
    assert_int_equal(ji.events, torn ? 1 : 2);
    assert_int_equal(journals(path, NULL, 0), 1);

    qlm_t_ok(qlm_store_journal_recover(t->st, path, &events));
    assert_int_equal(events, torn ? 1 : 2);

    qlm_t_ok(qlm_store_journal_info(t->st, path, &ji));
    assert_int_equal(ji.ended, 0);
    assert_int_equal(ji.events, 0);

    count(t, 1, 6, c);
    assert_int_equal(c[0], K);
    assert_int_equal(c[1], K);
    assert_int_equal(c[2], K);
    assert_int_equal(c[3], torn ? 0 : K);

    /* gone, with its mark: a second recovery finds nothing */

    assert_int_equal(journals(path, NULL, 0), 0);

    qlm_t_ok(qlm_store_journal_recover(t->st, path, &events));
    assert_int_equal(events, 0);

    count(t, 1, 6, c);
    assert_int_equal(c[2], K);
}


static void
test_replay(void **state)
{
    replay(state, 0);
}


static void
test_torn(void **state)
{
    replay(state, 1);
}


/* after a rewind, what the file held before it is not replayed */

static void
test_rewind(void **state)
{
    char                  path[300];
    pid_t                 pid;
    uint32_t              c[8];
    uint64_t              lsn, events;
    qlm_test_t           *t;
    qlm_store_t          *st;
    qlm_store_journal_t  *j;

    t = *state;
    qlm_t_path(t, path, sizeof(path));

    pid = child_begin(path, &st, &j);

    if (pid == 0) {
        if (batch(st, j, 1, 1, &lsn) != 0
            || batch(st, j, 2, 1, &lsn) != 0
            || batch(st, j, 3, 1, &lsn) != 0
            || qlm_store_journal_size(j) == 0)
        {
            _exit(1);
        }

        qlm_store_journal_rewind(j);

        /* 4 is committed, 5 is not: the file holds 4, 5, then 3's end */

        if (qlm_store_journal_size(j) != 0
            || batch(st, j, 4, 1, &lsn) != 0 || lsn != 4
            || batch(st, j, 5, 0, &lsn) != 0 || lsn != 5)
        {
            _exit(2);
        }

        child_end(st, j);
    }

    child_wait(t, pid);

    qlm_t_ok(qlm_store_journal_recover(t->st, path, &events));
    assert_int_equal(events, 1);

    count(t, 1, 8, c);
    assert_int_equal(c[0], K);
    assert_int_equal(c[2], K);
    assert_int_equal(c[3], K);
    assert_int_equal(c[4], K);
    assert_int_equal(c[5], 0);
}


/* a live journal is not touched; closed with forget, it is gone */

static void
test_live(void **state)
{
    char                      path[300];
    size_t                    size;
    uint32_t                  c[2];
    uint64_t                  lsn, events;
    qlm_test_t               *t;
    qlm_store_journal_t      *j;
    qlm_store_journal_rec_t   jr;
    qlm_store_journal_info_t  ji;

    t = *state;
    qlm_t_path(t, path, sizeof(path));
    qlm_t_ok(qlm_t_open(t, NULL));

    qlm_t_ok(qlm_store_journal_open(t->st, path, &j));
    qlm_t_ok(batch(t->st, j, 1, 0, &lsn));
    assert_int_equal(lsn, 1);

    /* nothing added: nothing written */

    size = qlm_store_journal_size(j);
    assert_true(size > 0);

    memset(&jr, 0, sizeof(jr));

    qlm_t_ok(qlm_store_journal_write(j, &jr, &lsn));
    assert_int_equal(lsn, 0);
    assert_int_equal(qlm_store_journal_size(j), size);

    /* an add that fails fails its record: nothing of it is written */

    {
        qlm_store_record_t  rec;

        memset(&rec, 0, sizeof(rec));
        rec.key = qlm_t_str("K1");

        qlm_t_ok(qlm_store_journal_add(&jr, NULL, 0, QLM_STORE_LICENSES,
                                       &rec));
        assert_int_equal(qlm_store_journal_add(&jr, NULL, 0, 7, &rec),
                         QLM_STORE_INVALID);
        assert_int_equal(qlm_store_journal_write(j, &jr, &lsn),
                         QLM_STORE_INVALID);
        assert_int_equal(lsn, 0);
        assert_int_equal(qlm_store_journal_size(j), size);
        qlm_store_journal_rec_free(&jr);

        qlm_t_ok(batch(t->st, j, 2, 0, &lsn));
        assert_int_equal(lsn, 2);
    }

    qlm_t_ok(qlm_store_journal_recover(t->st, path, &events));
    assert_int_equal(events, 0);
    assert_int_equal(journals(path, NULL, 0), 1);

    count(t, 1, 2, c);
    assert_int_equal(c[0], 0);

    /* its flock() in the kernel's table: live, its events not counted */

    qlm_t_ok(qlm_store_journal_info(t->st, path, &ji));
    assert_int_equal(ji.live, 1);
    assert_int_equal(ji.ended, 0);
    assert_int_equal(ji.events, 0);

    qlm_store_journal_close(t->st, j, 1);
    assert_int_equal(journals(path, NULL, 0), 0);

    /* a bad argument changes nothing */

    assert_int_equal(qlm_store_journal_open(NULL, path, &j),
                     QLM_STORE_INVALID);
    assert_int_equal(qlm_store_journal_add(NULL, NULL, 0, 0, NULL),
                     QLM_STORE_INVALID);
    assert_int_equal(qlm_store_journal_write(NULL, &jr, &lsn),
                     QLM_STORE_INVALID);
}


/*
 * A writer journals batch after batch, reports each one written, and
 * commits them to the store a few at a time, rewinding when all are in;
 * killed at random, then recovered: every batch reported is there, once,
 * and none is there twice.
 */

static int
writer(const char *path, uint64_t first, int out)
{
    size_t                   i, pending;
    uint64_t                 b, lsn;
    char                     tags[4][32];
    qlm_store_t             *st;
    qlm_store_item_t         items[4][K];
    qlm_store_write_t       *w;
    qlm_store_journal_t     *j;
    qlm_store_journal_rec_t  jr;

    alarm(20);

    memset(&jr, 0, sizeof(jr));

    if (qlm_store_open(&st, path, NULL) != 0
        || qlm_store_journal_open(st, path, &j) != 0)
    {
        return 11;
    }

    pending = 0;

    for (b = first; b < first + MAX_BATCHES; b++) {
        batch_items(items[pending], b, tags[pending], sizeof(tags[0]));

        if (qlm_store_journal_add(&jr, items[pending], K, 0, NULL) != 0
            || qlm_store_journal_write(j, &jr, &lsn) != 0)
        {
            return 12;
        }

        if (write(out, &b, sizeof(b)) != sizeof(b)) {
            return 13;
        }

        if (++pending < 1 + b % 4) {
            continue;
        }

        if (qlm_store_write_begin(st, &w) != 0) {
            return 14;
        }

        for (i = 0; i < pending; i++) {
            if (qlm_store_write_enqueue_event(w, items[i], K, 0, NULL)
                != 0)
            {
                return 15;
            }
        }

        if (qlm_store_write_journaled(w, j, lsn) != 0
            || qlm_store_write_commit(w) != 0)
        {
            return 16;
        }

        pending = 0;

        if (b % 8 == 0) {
            qlm_store_journal_rewind(j);
        }
    }

    return 0;
}


static void
test_kill(void **state)
{
    int              fds[2], status;
    char             path[300];
    pid_t            pid;
    size_t           r, i, reported, total;
    ssize_t          n;
    uint32_t        *c;
    uint64_t         b, first, events;
    unsigned         seed;
    qlm_test_t      *t;
    struct timespec  ts;

    t = *state;
    qlm_t_path(t, path, sizeof(path));

    seed = (unsigned) time(NULL) ^ (unsigned) getpid();
    print_message("# seed %u\n", seed);
    srand(seed);

    c = calloc(MAX_BATCHES, sizeof(uint32_t));
    assert_non_null(c);

    total = 0;

    for (r = 0; r < ROUNDS; r++) {
        first = (r + 1) * MAX_BATCHES;

        assert_int_equal(pipe(fds), 0);

        pid = fork();
        assert_true(pid != -1);

        if (pid == 0) {
            close(fds[0]);
            _exit(writer(path, first, fds[1]));
        }

        close(fds[1]);

        /* the kill comes 0 to 100 ms after its first batch, however long
         * the journal's file took to be written at open */

        assert_int_equal(read(fds[0], &b, sizeof(b)), sizeof(b));
        assert_int_equal(b, first);

        ts.tv_sec = 0;
        ts.tv_nsec = (rand() % 100) * 1000000L;
        nanosleep(&ts, NULL);

        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);

        if (!WIFSIGNALED(status)) {
            fail_msg("writer ended before the kill: status 0x%x", status);
        }

        reported = 1;

        while ((n = read(fds[0], &b, sizeof(b))) == sizeof(b)) {
            assert_int_equal(b, first + reported);
            reported++;
        }

        close(fds[0]);

        qlm_t_ok(qlm_t_open(t, NULL));
        qlm_t_ok(qlm_store_journal_recover(t->st, path, &events));
        assert_int_equal(journals(path, NULL, 0), 0);

        count(t, first, MAX_BATCHES, c);

        for (i = 0; i < MAX_BATCHES; i++) {
            if (i < reported) {
                assert_int_equal(c[i], K);

            } else if (c[i]) {
                /* written, the kill before its report */
                assert_int_equal(c[i], K);
                assert_int_equal(i, reported);
            }
        }

        print_message("# round %zu: %zu batches reported, %llu events "
                      "replayed\n", r, reported,
                      (unsigned long long) events);

        total += reported;

        qlm_store_close(t->st);
        t->st = NULL;
    }

    free(c);

    assert_true(total > 0);
}


/* four threads write at once: every record is there, in one chain */

#define THREADS  4
#define EACH     100

typedef struct {
    qlm_store_journal_t  *j;
    uint64_t              first;
    int                   rc;
} jthread_t;


static void *
jthread(void *data)
{
    char                     tag[32];
    uint64_t                 b, lsn;
    jthread_t               *jt;
    qlm_store_item_t         items[K];
    qlm_store_journal_rec_t  rec;

    jt = data;
    memset(&rec, 0, sizeof(rec));

    for (b = jt->first; b < jt->first + EACH; b++) {
        batch_items(items, b, tag, sizeof(tag));

        jt->rc = qlm_store_journal_add(&rec, items, K, 0, NULL);

        if (jt->rc == 0) {
            jt->rc = qlm_store_journal_write(jt->j, &rec, &lsn);
        }

        if (jt->rc != 0) {
            break;
        }
    }

    qlm_store_journal_rec_free(&rec);

    return NULL;
}


static void
test_threads(void **state)
{
    char                  path[300];
    pid_t                 pid;
    size_t                i;
    uint32_t             *c;
    uint64_t              events;
    pthread_t             tid[THREADS];
    jthread_t             jt[THREADS];
    qlm_test_t           *t;
    qlm_store_t          *st;
    qlm_store_journal_t  *j;

    t = *state;
    qlm_t_path(t, path, sizeof(path));

    pid = child_begin(path, &st, &j);

    if (pid == 0) {
        for (i = 0; i < THREADS; i++) {
            jt[i].j = j;
            jt[i].first = 1 + i * EACH;
            jt[i].rc = -1;

            if (pthread_create(&tid[i], NULL, jthread, &jt[i]) != 0) {
                _exit(2);
            }
        }

        for (i = 0; i < THREADS; i++) {
            if (pthread_join(tid[i], NULL) != 0 || jt[i].rc != 0) {
                _exit(3);
            }
        }

        child_end(st, j);
    }

    child_wait(t, pid);
    qlm_t_ok(qlm_store_journal_recover(t->st, path, &events));
    assert_int_equal(events, THREADS * EACH);

    c = calloc(THREADS * EACH, sizeof(uint32_t));
    assert_non_null(c);

    count(t, 1, THREADS * EACH, c);

    for (i = 0; i < THREADS * EACH; i++) {
        assert_int_equal(c[i], K);
    }

    free(c);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_replay),
        QLM_T(test_torn),
        QLM_T(test_rewind),
        QLM_T(test_live),
        QLM_T(test_threads),
        QLM_T(test_kill),
    };

    return cmocka_run_group_tests_name("journal", tests, NULL, NULL);
}
