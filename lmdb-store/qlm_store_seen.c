
/*
 * qlm_store: replay protection: the ids a verify location accepted.
 */


#include "qlm_store_int.h"


static int qlm_store_seen_txn(qlm_store_t *st, MDB_txn *txn,
    qlm_store_str_t key, uint64_t now, uint64_t expiry);
static int qlm_store_seen_update_txn(qlm_store_t *st, MDB_txn *txn,
    qlm_store_str_t key, uint64_t expiry, uint64_t to);


int
qlm_store_seen(qlm_store_t *st, qlm_store_str_t key, uint64_t now,
    uint64_t ttl_ms)
{
    int        rc;
    uint64_t   expiry;
    MDB_txn   *txn;

    if (st == NULL || key.len == 0 || key.len > 256 || key.data == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    expiry = (now > UINT64_MAX - ttl_ms) ? UINT64_MAX : now + ttl_ms;

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_seen_txn(st, txn, key, now, expiry);
    if (rc != 0) {
        qlm_store_abort(txn);
        return rc;
    }

    return qlm_store_commit(txn);
}


static int
qlm_store_seen_txn(qlm_store_t *st, MDB_txn *txn, qlm_store_str_t key,
    uint64_t now, uint64_t expiry)
{
    int             rc;
    size_t          n;
    uint64_t        old;
    MDB_val         k, v, xk;
    MDB_cursor     *cur;
    unsigned char   exp[8], xkey[8 + 256];

    k.mv_data = (void *) key.data;
    k.mv_size = key.len;

    rc = mdb_get(txn, st->seen, &k, &v);

    if (rc == 0) {
        if (v.mv_size != 8) {
            return QLM_STORE_CORRUPT;
        }

        old = qlm_store_get_be64(v.mv_data);

        if (old > now) {
            return QLM_STORE_EXISTS;
        }

        /* expired: its index entry goes, a new one comes */

        qlm_store_be64(xkey, old);
        memcpy(xkey + 8, key.data, key.len);

        xk.mv_data = xkey;
        xk.mv_size = 8 + key.len;

        rc = mdb_del(txn, st->seenx, &xk, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            return qlm_store_rc(rc);
        }

    } else if (rc != MDB_NOTFOUND) {
        return qlm_store_rc(rc);
    }

    qlm_store_be64(exp, expiry);

    v.mv_data = exp;
    v.mv_size = 8;

    rc = mdb_put(txn, st->seen, &k, &v, 0);
    if (rc != 0) {
        return qlm_store_rc(rc);
    }

    qlm_store_be64(xkey, expiry);
    memcpy(xkey + 8, key.data, key.len);

    xk.mv_data = xkey;
    xk.mv_size = 8 + key.len;
    v.mv_data = "";
    v.mv_size = 0;

    rc = mdb_put(txn, st->seenx, &xk, &v, 0);
    if (rc != 0) {
        return qlm_store_rc(rc);
    }

    /* a few expired records at a time: bounded work per call */

    rc = mdb_cursor_open(txn, st->seenx, &cur);
    if (rc != 0) {
        return qlm_store_rc(rc);
    }

    for (n = 0; n < 16; n++) {
        rc = mdb_cursor_get(cur, &xk, &v, MDB_FIRST);

        if (rc != 0 || xk.mv_size <= 8
            || qlm_store_get_be64(xk.mv_data) > now)
        {
            break;
        }

        k.mv_data = (unsigned char *) xk.mv_data + 8;
        k.mv_size = xk.mv_size - 8;

        /* the record goes only if this index entry is still its own */

        rc = mdb_get(txn, st->seen, &k, &v);

        if (rc == 0 && v.mv_size == 8
            && memcmp(v.mv_data, xk.mv_data, 8) == 0)
        {
            rc = mdb_del(txn, st->seen, &k, NULL);
        }

        if (rc != 0 && rc != MDB_NOTFOUND) {
            break;
        }

        rc = mdb_cursor_del(cur, 0);
        if (rc != 0) {
            break;
        }
    }

    mdb_cursor_close(cur);

    return (rc == MDB_NOTFOUND) ? 0 : qlm_store_rc(rc);
}


/*
 * The second step: a verify location marks an id pending with a short ttl,
 * and when the request ends, keeps it (to: the longer expiry) or forgets
 * it (to: 0).  Only its own record, the one that expires at "expiry",
 * changes: one that another request took since is left alone.
 */

int
qlm_store_seen_update(qlm_store_t *st, qlm_store_str_t key, uint64_t expiry,
    uint64_t to)
{
    int       rc;
    MDB_txn  *txn;

    if (st == NULL || key.len == 0 || key.len > 256 || key.data == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_seen_update_txn(st, txn, key, expiry, to);
    if (rc != 0) {
        qlm_store_abort(txn);
        return (rc == MDB_NOTFOUND) ? 0 : rc;
    }

    return qlm_store_commit(txn);
}


/* 0 to commit; MDB_NOTFOUND: nothing to change */

static int
qlm_store_seen_update_txn(qlm_store_t *st, MDB_txn *txn, qlm_store_str_t key,
    uint64_t expiry, uint64_t to)
{
    int             rc;
    uint64_t        old;
    MDB_val         k, v, xk;
    unsigned char   exp[8], xkey[8 + 256];

    k.mv_data = (void *) key.data;
    k.mv_size = key.len;

    memcpy(xkey + 8, key.data, key.len);

    xk.mv_data = xkey;
    xk.mv_size = 8 + key.len;

    rc = mdb_get(txn, st->seen, &k, &v);

    if (rc == MDB_NOTFOUND) {
        /* gone (expired and cleared): forgotten already, or kept anew */

        if (to == 0) {
            return MDB_NOTFOUND;
        }

    } else if (rc != 0) {
        return qlm_store_rc(rc);

    } else {
        if (v.mv_size != 8) {
            return QLM_STORE_CORRUPT;
        }

        old = qlm_store_get_be64(v.mv_data);

        if (old != expiry) {
            return QLM_STORE_EXISTS;
        }

        qlm_store_be64(xkey, old);

        rc = mdb_del(txn, st->seenx, &xk, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            return qlm_store_rc(rc);
        }

        if (to == 0) {
            rc = mdb_del(txn, st->seen, &k, NULL);
            return qlm_store_rc(rc);
        }
    }

    qlm_store_be64(exp, to);

    v.mv_data = exp;
    v.mv_size = 8;

    rc = mdb_put(txn, st->seen, &k, &v, 0);
    if (rc != 0) {
        return qlm_store_rc(rc);
    }

    qlm_store_be64(xkey, to);
    v.mv_data = "";
    v.mv_size = 0;

    return qlm_store_rc(mdb_put(txn, st->seenx, &xk, &v, 0));
}
