
/*
 * qlm_store: the license mirror: one record a license (by ActivationKey)
 * or customer, its fields merged event after event.
 */


#include "qlm_store_int.h"


static int qlm_store_field_find(const qlm_store_field_t *fields, size_t n,
    const qlm_store_str_t *name);


static int
qlm_store_field_find(const qlm_store_field_t *fields, size_t n,
    const qlm_store_str_t *name)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (qlm_store_str_eq(&fields[i].name, name)) {
            return (int) i;
        }
    }

    return -1;
}


int
qlm_store_record_ok(const qlm_store_record_t *rec)
{
    return rec->key.len && rec->key.len <= 400 && rec->key.data
           && rec->nfields <= QLM_STORE_RECORD_FIELDS
           && (rec->fields || rec->nfields == 0);
}


/*
 * Through a cursor: the put replaces the record the get found (MDB_CURRENT)
 * without a second search of the tree.  cur: a batch's cursor on the
 * table, kept open; NULL: one opened and closed here.
 */

int
qlm_store_mirror_upsert_txn(qlm_store_t *st, MDB_txn *txn, int table,
    const qlm_store_record_t *rec, qlm_store_field_t *merged,
    MDB_cursor *cur)
{
    int                 rc, k;
    size_t              i, n, size;
    MDB_val             key, val;
    unsigned            found, kept, changed;
    unsigned char       codes[QLM_STORE_RECORD_FIELDS];
    qlm_store_record_t  old;

    if (!qlm_store_record_ok(rec)) {
        return QLM_STORE_INVALID;
    }

    key.mv_data = (void *) rec->key.data;
    key.mv_size = rec->key.len;

    kept = (cur != NULL);

    if (!kept) {
        rc = mdb_cursor_open(txn, st->mirror[table], &cur);
        if (rc != 0) {
            return rc;
        }
    }

    n = 0;
    found = 0;
    changed = 1;

    rc = mdb_cursor_get(cur, &key, &val, MDB_SET);

    if (rc == 0) {
        rc = qlm_store_record_decode(&key, &val, &old, merged);
        if (rc != 0) {
            goto done;
        }

        /* made again after its deletion: a new record, not the old one */

        n = (old.deleted && !rec->deleted) ? 0 : old.nfields;
        found = 1;
        changed = (old.deleted != rec->deleted);

    } else if (rc != MDB_NOTFOUND) {
        goto done;
    }

    /* a later event's fields overwrite, the others keep their value */

    for (i = 0; i < rec->nfields; i++) {
        /* an empty value is a value: QLM's empty fields, a cleared one */

        if (rec->fields[i].name.len == 0) {
            continue;
        }

        k = qlm_store_field_find(merged, n, &rec->fields[i].name);

        if (k >= 0) {
            if (!qlm_store_str_eq(&merged[k].value, &rec->fields[i].value)) {
                merged[k].value = rec->fields[i].value;
                changed = 1;
            }

        } else if (n < QLM_STORE_RECORD_FIELDS) {
            merged[n++] = rec->fields[i];
            changed = 1;
        }
    }

    /*
     * A call that changes nothing (a license validated again, with the
     * same fields) writes nothing: the record keeps the time of its last
     * change, and the commit its pages
     */

    if (!changed) {
        rc = 0;
        goto done;
    }

    rc = qlm_store_record_size(rec, merged, n, codes, &size);
    if (rc != 0) {
        goto done;
    }

    /* old values point into the map: the new record is built aside */

    if (qlm_store_scratch_grow(&st->wrec, size) != 0) {
        rc = ENOMEM;
        goto done;
    }

    qlm_store_record_encode(rec, merged, n, codes, st->wrec.data);

    val.mv_data = st->wrec.data;
    val.mv_size = size;

    rc = mdb_cursor_put(cur, &key, &val, found ? MDB_CURRENT : 0);

done:

    if (!kept) {
        mdb_cursor_close(cur);
    }

    return rc;
}


int
qlm_store_mirror_upsert(qlm_store_t *st, int table,
    const qlm_store_record_t *rec)
{
    if (rec == NULL) {
        return QLM_STORE_INVALID;
    }

    return qlm_store_mirror_upsert_batch(st, table, rec, 1);
}


/* n records in one transaction: all or none */

int
qlm_store_mirror_upsert_batch(qlm_store_t *st, int table,
    const qlm_store_record_t *recs, size_t n)
{
    int                 rc;
    size_t              i;
    MDB_txn            *txn;
    qlm_store_field_t  *merged;

    if (st == NULL || (recs == NULL && n) || (table != QLM_STORE_LICENSES
                                             && table != QLM_STORE_CUSTOMERS))
    {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    merged = malloc(2 * QLM_STORE_RECORD_FIELDS * sizeof(qlm_store_field_t));
    if (merged == NULL) {
        return ENOMEM;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        free(merged);
        return rc;
    }

    for (i = 0; i < n; i++) {
        rc = qlm_store_mirror_upsert_txn(st, txn, table, &recs[i], merged,
                                         NULL);
        if (rc != 0) {
            qlm_store_abort(txn);
            free(merged);
            return qlm_store_rc(rc);
        }
    }

    free(merged);

    return qlm_store_commit(txn);
}


/* an event's read, on the event loop: the kept read txn and its fields */

int
qlm_store_mirror_get(qlm_store_t *st, int table, qlm_store_str_t k,
    qlm_store_record_pt cb, void *data)
{
    int                  rc;
    MDB_val              key, val;
    MDB_txn             *txn;
    unsigned             kept;
    qlm_store_record_t   rec;
    qlm_store_field_t   *fields;

    if (st == NULL || cb == NULL || k.len == 0 || k.len > 400
        || (table != QLM_STORE_LICENSES && table != QLM_STORE_CUSTOMERS))
    {
        return QLM_STORE_INVALID;
    }

    rc = qlm_store_read_begin(st, &txn, &kept);
    if (rc != 0) {
        return rc;
    }

    fields = kept ? st->rfields : NULL;

    if (fields == NULL) {
        fields = malloc(QLM_STORE_RECORD_FIELDS * sizeof(qlm_store_field_t));
        if (fields == NULL) {
            qlm_store_read_end(st, txn, kept);
            return ENOMEM;
        }

        if (kept) {
            st->rfields = fields;
        }
    }

    key.mv_data = (void *) k.data;
    key.mv_size = k.len;

    rc = mdb_get(txn, st->mirror[table], &key, &val);

    if (rc == MDB_NOTFOUND) {
        rc = QLM_STORE_NOTFOUND;

    } else if (rc == 0) {
        rc = qlm_store_record_decode(&key, &val, &rec, fields);

        if (rc == 0) {
            (void) cb(&rec, data);
        }
    }

    qlm_store_read_end(st, txn, kept);

    if (!kept) {
        free(fields);
    }

    return rc;
}


/*
 * Records whose key sorts after "after" (all when its len is 0), at most
 * max of them, in key order: a scan goes on from the last key it saw, one
 * bounded read transaction at a time.
 */

int
qlm_store_mirror_scan(qlm_store_t *st, int table, qlm_store_str_t after,
    size_t max, qlm_store_record_pt cb, void *data, size_t *seen)
{
    int                  rc;
    size_t               n;
    MDB_val              key, val;
    MDB_txn             *txn;
    MDB_cursor          *cur;
    MDB_cursor_op        op;
    qlm_store_record_t   rec;
    qlm_store_field_t   *fields;

    if (seen) {
        *seen = 0;
    }

    if (st == NULL || cb == NULL
        || (table != QLM_STORE_LICENSES && table != QLM_STORE_CUSTOMERS))
    {
        return QLM_STORE_INVALID;
    }

    fields = malloc(QLM_STORE_RECORD_FIELDS * sizeof(qlm_store_field_t));
    if (fields == NULL) {
        return ENOMEM;
    }

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        free(fields);
        return rc;
    }

    rc = mdb_cursor_open(txn, st->mirror[table], &cur);
    if (rc != 0) {
        goto done;
    }

    if (after.len) {
        key.mv_data = (void *) after.data;
        key.mv_size = after.len;
        op = MDB_SET_RANGE;

    } else {
        op = MDB_FIRST;
    }

    n = 0;

    for (rc = mdb_cursor_get(cur, &key, &val, op);
         rc == 0 && n < max;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        /* SET_RANGE lands on "after" itself when it still exists */

        if (after.len && key.mv_size == after.len
            && memcmp(key.mv_data, after.data, after.len) == 0)
        {
            continue;
        }

        rc = qlm_store_record_decode(&key, &val, &rec, fields);
        if (rc != 0) {
            break;
        }

        n++;

        if (cb(&rec, data) != 0) {
            break;
        }
    }

    mdb_cursor_close(cur);

    if (seen) {
        *seen = n;
    }

    if (rc == MDB_NOTFOUND) {
        rc = 0;
    }

done:

    qlm_store_abort(txn);
    free(fields);

    return rc;
}
