
/*
 * A writer killed with SIGKILL at a random point loses no committed batch
 * and leaves no partial one.
 */

#include "qlm_test.h"

#include <fcntl.h>
#include <signal.h>
#include <time.h>


#define ROUNDS       6
#define K            7
#define MAX_BATCHES  100000


/* each batch: K items tagged "b<n>", one txn, synced; then n to the pipe */

static int
writer(const char *path, uint64_t first, int out)
{
    size_t                i;
    uint64_t              b;
    char                  tag[32], body[300];
    qlm_store_t          *st;
    qlm_store_item_t      items[K];
    qlm_store_options_t   opts;

    alarm(20);

    memset(&opts, 0, sizeof(opts));

    if (qlm_store_open(&st, path, &opts) != 0) {
        return 11;
    }

    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';

    for (b = first; b < first + MAX_BATCHES; b++) {
        snprintf(tag, sizeof(tag), "b%llu", (unsigned long long) b);

        for (i = 0; i < K; i++) {
            items[i] = qlm_t_item(b, tag, "crash", "http://x/", body);
        }

        if (qlm_store_enqueue(st, items, K) != 0) {
            return 12;
        }

        if (write(out, &b, sizeof(b)) != sizeof(b)) {
            return 13;
        }
    }

    qlm_store_close(st);

    return 0;
}


typedef struct {
    uint64_t   first;
    uint64_t   bad;
    uint32_t  *count;
} tally_t;


static int
tally(const qlm_store_item_t *item, void *data)
{
    uint64_t   b;
    tally_t   *t;

    t = data;

    if (strcmp(item->event_id.data, "after") == 0) {
        return 0;
    }

    if (sscanf(item->event_id.data, "b%llu", (unsigned long long *) &b) != 1
        || item->due != b || item->body.len != 299)
    {
        t->bad++;
        return 0;
    }

    if (b >= t->first && b < t->first + MAX_BATCHES) {
        t->count[b - t->first]++;
    }

    return 0;
}


static void
test_kill(void **state)
{
    int            fds[2], status, dead;
    pid_t          pid;
    size_t         r, i, reported, total, present;
    ssize_t        n;
    uint64_t       b, last;
    unsigned       seed;
    tally_t        tl;
    qlm_test_t    *t;
    char           path[300];
    struct timespec  ts;

    t = *state;

    qlm_t_path(t, path, sizeof(path));

    seed = (unsigned) time(NULL) ^ (unsigned) getpid();
    print_message("# seed %u\n", seed);
    srand(seed);

    tl.count = calloc(MAX_BATCHES, sizeof(uint32_t));
    assert_non_null(tl.count);

    total = 0;

    for (r = 0; r < ROUNDS; r++) {
        assert_int_equal(pipe(fds), 0);

        pid = fork();
        assert_true(pid != -1);

        if (pid == 0) {
            close(fds[0]);
            _exit(writer(path, (r + 1) * MAX_BATCHES, fds[1]));
        }

        close(fds[1]);

        /* 5 ... 150 ms, the first round short */

        ts.tv_sec = 0;
        ts.tv_nsec = (5 + (r ? rand() % 146 : 0)) * 1000000L;
        nanosleep(&ts, NULL);

        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);

        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            fail_msg("writer finished before the kill: status 0x%x",
                     status);
        }

        reported = 0;
        last = 0;

        while ((n = read(fds[0], &b, sizeof(b))) == sizeof(b)) {
            assert_int_equal(b, (r + 1) * MAX_BATCHES + reported);
            last = b;
            reported++;
        }

        assert_true(n == 0);
        close(fds[0]);

        /* a killed process leaves a reader slot, maybe the write lock */

        qlm_t_ok(qlm_t_open(t, NULL));

        qlm_t_ok(qlm_store_reader_check(t->st, &dead));

        memset(tl.count, 0, MAX_BATCHES * sizeof(uint32_t));
        tl.first = (r + 1) * MAX_BATCHES;
        tl.bad = 0;

        qlm_t_ok(qlm_store_queue_foreach(t->st, tally, &tl));
        assert_int_equal(tl.bad, 0);

        present = 0;

        for (i = 0; i < MAX_BATCHES; i++) {
            if (i < reported) {
                /* committed and reported: all there */
                assert_int_equal(tl.count[i], K);
            }

            if (tl.count[i]) {
                /* complete, and at most one past the last reported */
                assert_int_equal(tl.count[i], K);
                assert_true(i <= reported);
                present++;
            }
        }

        print_message("# round %zu: %zu batches reported, %zu present\n",
                      r, reported, present);

        total += reported;

        /* the store goes on working: one more batch */

        {
            qlm_store_item_t  item;

            item = qlm_t_item(1, "after", "crash", "http://x/", "");
            qlm_t_ok(qlm_store_enqueue(t->st, &item, 1));
        }

        qlm_store_close(t->st);
        t->st = NULL;

        (void) last;
    }

    free(tl.count);

    /* some kills did land in the middle of the work */

    assert_true(total > 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_kill),
    };

    return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
