
/*
 * qlm_store: paused receivers, durable and shared by every process that
 * opens the store (nginx's workers, qlm-store).
 *
 *   paused     url -> u8 version, u64 since (ms), str by
 *   meta       "paused:gen" -> u64, added to at every change
 *
 * A reader polls the generation (one read of one key) and reads the table
 * only when it moved.
 */


#include "qlm_store_int.h"


#define QLM_STORE_PAUSED_V1     1
#define QLM_STORE_PAUSED_GEN    "paused:gen"
#define QLM_STORE_URL_MAX       511     /* LMDB's longest key */
#define QLM_STORE_BY_MAX        64


static int qlm_store_paused_decode(const MDB_val *key, const MDB_val *val,
    qlm_store_paused_t *p);


static int
qlm_store_paused_decode(const MDB_val *key, const MDB_val *val,
    qlm_store_paused_t *p)
{
    uint32_t         len;
    qlm_store_buf_t  b;

    b.pos = val->mv_data;
    b.end = b.pos + val->mv_size;
    b.error = 0;

    if (val->mv_size < 1 + 8 + 4 || b.pos[0] != QLM_STORE_PAUSED_V1) {
        return QLM_STORE_CORRUPT;
    }

    b.pos++;

    p->url.data = key->mv_data;
    p->url.len = key->mv_size;
    p->since = qlm_store_get_u64(&b);

    len = qlm_store_get_u32(&b);

    if (b.error || (size_t) (b.end - b.pos) != (size_t) len + 1
        || b.pos[len] != '\0')
    {
        return QLM_STORE_CORRUPT;
    }

    p->by.data = (const char *) b.pos;
    p->by.len = len;

    return 0;
}


/* pause (pause 1) or resume (pause 0) url, and move the generation */

int
qlm_store_url_pause(qlm_store_t *st, qlm_store_str_t url, unsigned pause,
    uint64_t now, qlm_store_str_t by)
{
    int             rc;
    uint64_t        gen;
    MDB_val         key, val;
    MDB_txn        *txn;
    unsigned char   buf[1 + 8 + 4 + QLM_STORE_BY_MAX + 1], *p;

    if (st == NULL || url.len == 0 || url.len > QLM_STORE_URL_MAX
        || url.data == NULL || by.len > QLM_STORE_BY_MAX
        || !qlm_store_str_ok(&by))
    {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    if (!st->has_paused) {
        /* opened read-only first, on a store made before the table */
        return QLM_STORE_INCOMPATIBLE;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    key.mv_data = (void *) url.data;
    key.mv_size = url.len;

    rc = mdb_get(txn, st->paused_dbi, &key, &val);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        goto failed;
    }

    /* nothing to change: already so */

    if (pause ? rc == 0 : rc == MDB_NOTFOUND) {
        qlm_store_abort(txn);
        return pause ? QLM_STORE_EXISTS : QLM_STORE_NOTFOUND;
    }

    if (pause) {
        p = buf;
        *p++ = QLM_STORE_PAUSED_V1;
        qlm_store_put_u64(&p, now);
        qlm_store_put_str(&p, &by);

        val.mv_data = buf;
        val.mv_size = p - buf;

        rc = qlm_store_rc(mdb_put(txn, st->paused_dbi, &key, &val, 0));

    } else {
        rc = mdb_del(txn, st->paused_dbi, &key, NULL);
    }

    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_meta_get_u64(st, txn, QLM_STORE_PAUSED_GEN, &gen);
    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_meta_put_u64(st, txn, QLM_STORE_PAUSED_GEN, gen + 1);
    if (rc != 0) {
        goto failed;
    }

    return qlm_store_commit(txn);

failed:

    qlm_store_abort(txn);

    return rc;
}


int
qlm_store_paused_gen(qlm_store_t *st, uint64_t *gen)
{
    int       rc;
    MDB_txn  *txn;

    if (st == NULL || gen == NULL) {
        return QLM_STORE_INVALID;
    }

    *gen = 0;

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_meta_get_u64(st, txn, QLM_STORE_PAUSED_GEN, gen);

    qlm_store_abort(txn);

    return rc;
}


int
qlm_store_paused_foreach(qlm_store_t *st, qlm_store_paused_pt cb,
    void *data, uint64_t *gen)
{
    int                  rc;
    MDB_val              key, val;
    MDB_txn             *txn;
    MDB_cursor          *cur;
    qlm_store_paused_t   p;

    if (st == NULL || cb == NULL) {
        return QLM_STORE_INVALID;
    }

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    if (gen) {
        rc = qlm_store_meta_get_u64(st, txn, QLM_STORE_PAUSED_GEN, gen);
        if (rc != 0) {
            goto done;
        }
    }

    if (!st->has_paused) {
        /* a store from before the table: nothing is paused */
        goto done;
    }

    rc = mdb_cursor_open(txn, st->paused_dbi, &cur);
    if (rc != 0) {
        goto done;
    }

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        rc = qlm_store_paused_decode(&key, &val, &p);
        if (rc != 0) {
            break;
        }

        if (cb(&p, data) != 0) {
            rc = 0;
            break;
        }
    }

    mdb_cursor_close(cur);

    if (rc == MDB_NOTFOUND) {
        rc = 0;
    }

done:

    qlm_store_abort(txn);

    return rc;
}
