
/*
 * qlm_store: counters that survive restarts.
 */


#include "qlm_store_int.h"


int
qlm_store_counter_txn(qlm_store_t *st, MDB_txn *txn, const char *name,
    uint64_t delta)
{
    int       rc;
    size_t    len;
    uint64_t  v;
    char      key[2 + QLM_STORE_COUNTER_MAX + 1];

    len = strlen(name);

    if (len == 0 || len > QLM_STORE_COUNTER_MAX) {
        return QLM_STORE_INVALID;
    }

    key[0] = 'c';
    key[1] = ':';
    memcpy(key + 2, name, len + 1);

    rc = qlm_store_meta_get_u64(st, txn, key, &v);
    if (rc != 0) {
        return rc;
    }

    return qlm_store_meta_put_u64(st, txn, key, v + delta);
}


int
qlm_store_counter_add(qlm_store_t *st, const char *name, uint64_t delta)
{
    int       rc;
    MDB_txn  *txn;

    if (st == NULL || name == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_counter_txn(st, txn, name, delta);
    if (rc != 0) {
        qlm_store_abort(txn);
        return rc;
    }

    return qlm_store_commit(txn);
}


int
qlm_store_counter_get(qlm_store_t *st, const char *name, uint64_t *value)
{
    int       rc;
    size_t    len;
    MDB_txn  *txn;
    char      key[2 + QLM_STORE_COUNTER_MAX + 1];

    if (st == NULL || name == NULL || value == NULL) {
        return QLM_STORE_INVALID;
    }

    *value = 0;

    len = strlen(name);

    if (len == 0 || len > QLM_STORE_COUNTER_MAX) {
        return QLM_STORE_INVALID;
    }

    key[0] = 'c';
    key[1] = ':';
    memcpy(key + 2, name, len + 1);

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_meta_get_u64(st, txn, key, value);

    qlm_store_abort(txn);

    return rc;
}


int
qlm_store_counter_foreach(qlm_store_t *st, qlm_store_counter_pt cb,
    void *data)
{
    int              rc;
    MDB_val          key, val;
    MDB_txn         *txn;
    MDB_cursor      *cur;
    qlm_store_buf_t  b;
    char             name[QLM_STORE_COUNTER_MAX + 1];

    if (st == NULL || cb == NULL) {
        return QLM_STORE_INVALID;
    }

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_open(txn, st->meta, &cur);
    if (rc != 0) {
        qlm_store_abort(txn);
        return rc;
    }

    key.mv_data = "c:";
    key.mv_size = 2;

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size < 2 || memcmp(key.mv_data, "c:", 2) != 0) {
            break;
        }

        if (key.mv_size - 2 > QLM_STORE_COUNTER_MAX || val.mv_size != 8) {
            rc = QLM_STORE_CORRUPT;
            break;
        }

        memcpy(name, (char *) key.mv_data + 2, key.mv_size - 2);
        name[key.mv_size - 2] = '\0';

        b.pos = val.mv_data;
        b.end = b.pos + 8;
        b.error = 0;

        if (cb(name, qlm_store_get_u64(&b), data) != 0) {
            break;
        }
    }

    if (rc == MDB_NOTFOUND) {
        rc = 0;
    }

    mdb_cursor_close(cur);
    qlm_store_abort(txn);

    return rc;
}
