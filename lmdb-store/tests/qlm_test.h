
/*
 * Helpers shared by the qlm_store unit tests: a temporary store directory
 * per test, and items built from C strings.
 */

#ifndef _QLM_TEST_H_INCLUDED_
#define _QLM_TEST_H_INCLUDED_


#define _GNU_SOURCE

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <ftw.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <lmdb.h>

#include "qlm_store.h"


#define QLM_T_UNUSED  __attribute__((unused))


typedef struct {
    char          dir[256];
    qlm_store_t  *st;
} qlm_test_t;


static QLM_T_UNUSED qlm_store_str_t
qlm_t_str(const char *s)
{
    qlm_store_str_t  str;

    str.data = s;
    str.len = s ? strlen(s) : 0;

    return str;
}


static QLM_T_UNUSED int
qlm_t_str_is(qlm_store_str_t s, const char *expect)
{
    return s.len == strlen(expect) && memcmp(s.data, expect, s.len) == 0
           && s.data[s.len] == '\0';
}


static QLM_T_UNUSED qlm_store_item_t
qlm_t_item(uint64_t due, const char *event_id, const char *event,
    const char *url, const char *body)
{
    qlm_store_item_t  item;

    memset(&item, 0, sizeof(qlm_store_item_t));

    item.due = due;
    item.created = due;
    item.event_id = qlm_t_str(event_id);
    item.event = qlm_t_str(event);
    item.url = qlm_t_str(url);
    item.body = qlm_t_str(body);
    item.headers = qlm_t_str("X-Test: 1");

    return item;
}


static int
qlm_t_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}


static QLM_T_UNUSED void
qlm_t_mkdtemp(char *buf, size_t size)
{
    const char  *tmp;

    tmp = getenv("TMPDIR");
    if (tmp == NULL || *tmp == '\0') {
        tmp = "/tmp";
    }

    snprintf(buf, size, "%s/qlm-store-test.XXXXXX", tmp);

    if (mkdtemp(buf) == NULL) {
        fail_msg("mkdtemp(%s): %s", buf, strerror(errno));
    }
}


static QLM_T_UNUSED void
qlm_t_rmtree(const char *dir)
{
    (void) nftw(dir, qlm_t_rm, 16, FTW_DEPTH | FTW_PHYS);
}


/* the store lives in "store" under the temporary directory */

static QLM_T_UNUSED int
qlm_t_open(qlm_test_t *t, const qlm_store_options_t *opts)
{
    char  path[300];

    snprintf(path, sizeof(path), "%s/store", t->dir);

    return qlm_store_open(&t->st, path, opts);
}


static QLM_T_UNUSED void
qlm_t_path(qlm_test_t *t, char *buf, size_t size)
{
    snprintf(buf, size, "%s/store", t->dir);
}


static QLM_T_UNUSED int
qlm_t_setup(void **state)
{
    qlm_test_t  *t;

    t = calloc(1, sizeof(qlm_test_t));
    assert_non_null(t);

    qlm_t_mkdtemp(t->dir, sizeof(t->dir));

    *state = t;

    return 0;
}


static QLM_T_UNUSED int
qlm_t_teardown(void **state)
{
    qlm_test_t  *t;

    t = *state;

    qlm_store_close(t->st);
    qlm_t_rmtree(t->dir);
    free(t);

    return 0;
}


static QLM_T_UNUSED int
qlm_t_valgrind(void)
{
    return getenv("QLM_TEST_VALGRIND") != NULL;
}


static QLM_T_UNUSED void
qlm_t_be64(unsigned char *p, uint64_t v)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char) v;
        v >>= 8;
    }
}


/*
 * A raw LMDB put, or get (out not NULL), or del (v NULL, out NULL), into
 * one of the store's databases, for tests of what the store reads.
 */

static QLM_T_UNUSED void
qlm_t_raw(qlm_test_t *t, const char *db, const void *k, size_t klen,
    const void *v, size_t vlen, MDB_val *out)
{
    MDB_env  *env;
    MDB_txn  *txn;
    MDB_dbi   dbi;
    MDB_val   key, val;
    char      path[300];

    qlm_t_path(t, path, sizeof(path));

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);

    key.mv_data = (void *) k;
    key.mv_size = klen;

    if (out) {
        assert_int_equal(mdb_get(txn, dbi, &key, &val), 0);
        out->mv_data = malloc(val.mv_size);
        assert_non_null(out->mv_data);
        memcpy(out->mv_data, val.mv_data, val.mv_size);
        out->mv_size = val.mv_size;

    } else if (v == NULL) {
        assert_int_equal(mdb_del(txn, dbi, &key, NULL), 0);

    } else {
        val.mv_data = (void *) v;
        val.mv_size = vlen;
        assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
    }

    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}



/* a foreach() callback that counts the items it is given */

static QLM_T_UNUSED int
qlm_t_count_item(const qlm_store_item_t *item, void *data)
{
    (*(size_t *) data)++;
    return 0;
}


#define qlm_t_ok(expr)                                                        \
    do {                                                                      \
        int  qlm_t_rc_ = (expr);                                              \
        if (qlm_t_rc_ != 0) {                                                 \
            fail_msg("%s: %s (%d)", #expr, qlm_store_strerror(qlm_t_rc_),     \
                     qlm_t_rc_);                                              \
        }                                                                     \
    } while (0)


#define QLM_T(f)  cmocka_unit_test_setup_teardown(f, qlm_t_setup,             \
                                                  qlm_t_teardown)


#endif /* _QLM_TEST_H_INCLUDED_ */
