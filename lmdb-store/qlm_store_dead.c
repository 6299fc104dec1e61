
/*
 * qlm_store: dead letters: listed and replayed.
 */


#include "qlm_store_int.h"


int
qlm_store_dead_foreach(qlm_store_t *st, qlm_store_item_pt cb, void *data)
{
    int                   rc;
    MDB_val               key, val;
    MDB_txn              *txn;
    MDB_cursor           *cur;
    qlm_store_item_t      item;
    qlm_store_scratch_t   sc;

    if (st == NULL || cb == NULL) {
        return QLM_STORE_INVALID;
    }

    sc.data = NULL;
    sc.size = 0;

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_open(txn, st->dead, &cur);
    if (rc != 0) {
        qlm_store_abort(txn);
        return rc;
    }

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size != 8) {
            rc = QLM_STORE_CORRUPT;
            break;
        }

        rc = qlm_store_item_decode(qlm_store_get_be64(key.mv_data), &val,
                                   &item, &sc);
        if (rc != 0) {
            break;
        }

        if (cb(&item, data) != 0) {
            break;
        }
    }

    if (rc == MDB_NOTFOUND) {
        rc = 0;
    }

    qlm_store_scratch_free(&sc);
    mdb_cursor_close(cur);
    qlm_store_abort(txn);

    return rc;
}


/* shared with qlm_store_admin.c */

int
qlm_store_replay_one(qlm_store_t *st, MDB_txn *txn, uint64_t id,
    const MDB_val *val, uint64_t now)
{
    int                   rc;
    MDB_val               key;
    unsigned char         buf[8];
    qlm_store_item_t      item;
    qlm_store_scratch_t   sc;

    sc.data = NULL;
    sc.size = 0;

    rc = qlm_store_item_decode(id, val, &item, &sc);

    if (rc == 0) {
        item.lease = 0;
        item.due = now;
        item.attempt = 0;
        item.updated = now;

        rc = qlm_store_item_write(st, txn, st->items, NULL, &item, 0);
    }

    qlm_store_scratch_free(&sc);

    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_sched_put(st, txn, NULL, now, id);
    if (rc != 0) {
        return rc;
    }

    qlm_store_be64(buf, id);

    key.mv_data = buf;
    key.mv_size = sizeof(buf);

    return qlm_store_rc(mdb_del(txn, st->dead, &key, NULL));
}


/*
 * Replaying all goes in transactions of a bounded size: one huge
 * transaction could exceed LMDB's dirty page limit.
 */

#define QLM_STORE_REPLAY_STEP  128     /* items a transaction: ~1 ms */

int
qlm_store_dead_replay(qlm_store_t *st, uint64_t id, uint64_t now,
    uint64_t *replayed)
{
    int             rc;
    size_t          n;
    MDB_val         key, val;
    MDB_txn        *txn;
    MDB_cursor     *cur;
    unsigned char   buf[8];

    if (replayed) {
        *replayed = 0;
    }

    if (st == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    for ( ;; ) {
        rc = qlm_store_txn_begin(st, 0, &txn);
        if (rc != 0) {
            return rc;
        }

        n = 0;

        if (id) {
            qlm_store_be64(buf, id);

            key.mv_data = buf;
            key.mv_size = sizeof(buf);

            rc = mdb_get(txn, st->dead, &key, &val);

            if (rc == MDB_NOTFOUND) {
                rc = QLM_STORE_NOTFOUND;
            }

            if (rc != 0) {
                goto failed;
            }

            rc = qlm_store_replay_one(st, txn, id, &val, now);
            if (rc != 0) {
                goto failed;
            }

            n = 1;

        } else {
            rc = mdb_cursor_open(txn, st->dead, &cur);
            if (rc != 0) {
                goto failed;
            }

            while (n < QLM_STORE_REPLAY_STEP) {
                rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
                if (rc != 0) {
                    break;
                }

                if (key.mv_size != 8) {
                    rc = QLM_STORE_CORRUPT;
                    break;
                }

                rc = qlm_store_replay_one(st, txn,
                                          qlm_store_get_be64(key.mv_data),
                                          &val, now);
                if (rc != 0) {
                    break;
                }

                n++;
            }

            mdb_cursor_close(cur);

            if (rc != 0 && rc != MDB_NOTFOUND) {
                goto failed;
            }
        }

        if (n == 0) {
            qlm_store_abort(txn);
            return 0;
        }

        rc = qlm_store_counter_txn(st, txn, "replayed", n);
        if (rc != 0) {
            goto failed;
        }

        rc = qlm_store_commit(txn);
        if (rc != 0) {
            return rc;
        }

        if (replayed) {
            *replayed += n;
        }

        if (id || n < QLM_STORE_REPLAY_STEP) {
            return 0;
        }
    }

failed:

    qlm_store_abort(txn);

    return rc;
}
