
/*
 * Several processes, each with its own environment opened after fork(),
 * enqueue and claim at once: every item is claimed exactly once.
 */

#include "qlm_test.h"

#include <signal.h>


#define NPROC        3
#define BATCH        5
#define CLAIM_MAX    4
#define NOW          1000
#define LEASE        (1000ULL * 1000 * 1000 * 1000)


static size_t
items_per_child(void)
{
    return qlm_t_valgrind() ? 100 : 2000;
}


/*
 * enq.N holds the ids enqueued, claim.N the (id, token) pairs claimed; a
 * claimed item with an odd id is acked, the others stay leased.
 */

static int
child(const char *dir, const char *path, int k, int start)
{
    char                  c;

    int                   rc;
    size_t                i, n, done;
    FILE                 *enq, *cl;
    char                  name[300], tag[32];
    qlm_store_t          *st;
    qlm_store_item_t      items[BATCH], *out[CLAIM_MAX];
    qlm_store_options_t   opts;

    alarm(60);

    /* all start at once, for the most contention */

    if (read(start, &c, 1) != 0) {
        return 9;
    }

    close(start);

    snprintf(name, sizeof(name), "%s/enq.%d", dir, k);
    enq = fopen(name, "w");
    snprintf(name, sizeof(name), "%s/claim.%d", dir, k);
    cl = fopen(name, "w");

    if (enq == NULL || cl == NULL) {
        return 10;
    }

    memset(&opts, 0, sizeof(opts));
    opts.no_sync = 1;

    if (qlm_store_open(&st, path, &opts) != 0) {
        return 11;
    }

    snprintf(tag, sizeof(tag), "child-%d", k);

    for (done = 0; done < items_per_child(); done += BATCH) {

        for (i = 0; i < BATCH; i++) {
            items[i] = qlm_t_item(NOW, tag, "concurrency", "http://x/",
                                  "{\"x\":1}");
        }

        if (qlm_store_enqueue(st, items, BATCH) != 0) {
            return 12;
        }

        for (i = 0; i < BATCH; i++) {
            fwrite(&items[i].id, sizeof(uint64_t), 1, enq);
        }

        rc = qlm_store_claim(st, NOW, LEASE, out, CLAIM_MAX, &n);
        if (rc != 0) {
            return 13;
        }

        for (i = 0; i < n; i++) {
            fwrite(&out[i]->id, sizeof(uint64_t), 1, cl);
            fwrite(&out[i]->lease, sizeof(uint64_t), 1, cl);

            if ((out[i]->id & 1)
                && qlm_store_ack(st, out[i]->id, out[i]->lease, NULL) != 0)
            {
                return 14;
            }

            qlm_store_item_free(out[i]);
        }
    }

    qlm_store_close(st);

    if (fclose(enq) != 0 || fclose(cl) != 0) {
        return 15;
    }

    return 0;
}


static size_t
read_ids(const char *dir, const char *what, int k, uint64_t **ids)
{
    long    size;
    FILE   *f;
    char    name[300];

    snprintf(name, sizeof(name), "%s/%s.%d", dir, what, k);

    f = fopen(name, "r");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    rewind(f);

    *ids = malloc(size + 8);
    assert_non_null(*ids);
    assert_int_equal(fread(*ids, 1, size, f), (size_t) size);
    fclose(f);

    return size / sizeof(uint64_t);
}


static void
test_concurrent_claims(void **state)
{
    int                status, fds[2];
    pid_t              pids[NPROC];
    size_t             i, j, n, total, claimed, acked, leased, cross;
    uint64_t          *ids, v;
    qlm_test_t        *t;
    unsigned char     *enqueued, *seen;
    qlm_store_item_t  *out[64];
    qlm_store_stat_t   stat;
    char               path[300];

    t = *state;

    qlm_t_path(t, path, sizeof(path));

    /* the store exists before the children race to create it */

    qlm_t_ok(qlm_t_open(t, NULL));
    qlm_store_close(t->st);
    t->st = NULL;

    assert_int_equal(pipe(fds), 0);

    for (i = 0; i < NPROC; i++) {
        pids[i] = fork();
        assert_true(pids[i] != -1);

        if (pids[i] == 0) {
            close(fds[1]);
            _exit(child(t->dir, path, (int) i, fds[0]));
        }
    }

    close(fds[0]);
    close(fds[1]);

    for (i = 0; i < NPROC; i++) {
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);

        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fail_msg("child %zu: status 0x%x", i, status);
        }
    }

    total = NPROC * items_per_child();

    enqueued = calloc(total + 1, 1);
    seen = calloc(total + 1, 1);
    assert_non_null(enqueued);
    assert_non_null(seen);

    /* ids are 1 ... total, each enqueued once */

    for (i = 0; i < NPROC; i++) {
        n = read_ids(t->dir, "enq", (int) i, &ids);
        assert_int_equal(n, items_per_child());

        for (j = 0; j < n; j++) {
            assert_true(ids[j] >= 1 && ids[j] <= total);
            assert_int_equal(enqueued[ids[j]], 0);
            enqueued[ids[j]] = (unsigned char) (i + 1);
        }

        free(ids);
    }

    claimed = 0;
    acked = 0;
    cross = 0;

    for (i = 0; i < NPROC; i++) {
        n = read_ids(t->dir, "claim", (int) i, &ids);
        assert_int_equal(n % 2, 0);

        for (j = 0; j < n; j += 2) {
            if (seen[ids[j]]) {
                fail_msg("item %llu claimed twice",
                         (unsigned long long) ids[j]);
            }

            assert_int_not_equal(ids[j + 1], 0);
            seen[ids[j]] = 1;
            claimed++;
            acked += ids[j] & 1;
            cross += (enqueued[ids[j]] != i + 1);
        }

        free(ids);
    }

    /* the children did run at once: they took each other's items */

    print_message("# %zu items, %zu claimed by children, %zu of them "
                  "enqueued by another child\n", total, claimed, cross);
    assert_true(cross > 0);

    /* what no child claimed is still there, claimable once */

    qlm_t_ok(qlm_t_open(t, NULL));

    qlm_t_ok(qlm_store_stat(t->st, NOW, &stat));
    leased = claimed - acked;
    assert_int_equal(stat.queued, total - acked);
    assert_int_equal(stat.leased, leased);
    assert_int_equal(stat.due, total - claimed);

    for ( ;; ) {
        qlm_t_ok(qlm_store_claim(t->st, NOW, LEASE, out, 64, &n));

        if (n == 0) {
            break;
        }

        for (j = 0; j < n; j++) {
            if (seen[out[j]->id]) {
                fail_msg("item %llu claimed twice",
                         (unsigned long long) out[j]->id);
            }

            seen[out[j]->id] = 1;
            claimed++;
            qlm_store_item_free(out[j]);
        }
    }

    assert_int_equal(claimed, total);

    for (i = 1; i <= total; i++) {
        assert_int_equal(seen[i], 1);
    }

    qlm_t_ok(qlm_store_counter_get(t->st, "enqueued", &v));
    assert_int_equal(v, total);
    qlm_t_ok(qlm_store_counter_get(t->st, "delivered", &v));
    assert_int_equal(v, acked);

    free(enqueued);
    free(seen);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_concurrent_claims),
    };

    return cmocka_run_group_tests_name("concurrency", tests, NULL, NULL);
}
