
/*
 * qlm_store: the delivery queue: enqueue, claim, ack, reschedule, dead,
 * next due.
 */


#include "qlm_store_int.h"


static int qlm_store_sched_del(qlm_store_t *st, MDB_txn *txn, uint64_t time,
    uint64_t id);
static int qlm_store_enqueue_prepare(qlm_store_t *st, qlm_store_item_t *items,
    size_t n, uint64_t **ids);
static int qlm_store_enqueue_txn(qlm_store_t *st, MDB_txn *txn,
    qlm_store_item_t *items, size_t n, uint64_t *ids);
static int qlm_store_claim_txn(qlm_store_t *st, MDB_txn *txn, uint64_t now,
    uint64_t expiry, qlm_store_item_t **out, size_t max, uint64_t *ids,
    size_t *n);
static int qlm_store_leased(qlm_store_t *st, MDB_txn *txn, uint64_t id,
    uint64_t lease, qlm_store_item_t *item);
static int qlm_store_ack_txn(qlm_store_t *st, MDB_txn *txn, uint64_t id,
    uint64_t lease, const qlm_store_log_t *log, int room);
static int qlm_store_retry_txn(qlm_store_t *st, MDB_txn *txn, uint64_t id,
    uint64_t lease, uint64_t due, uint32_t attempt, int32_t status,
    qlm_store_str_t error, const qlm_store_log_t *log, int room,
    unsigned dead);
static int qlm_store_retry(qlm_store_t *st, uint64_t id, uint64_t lease,
    uint64_t due, uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log, unsigned dead);
static int qlm_store_enqueue_event_also(qlm_store_t *st, MDB_txn *txn,
    void *data);


int
qlm_store_sched_put(qlm_store_t *st, MDB_txn *txn, uint64_t time,
    uint64_t id)
{
    MDB_val         key, val;
    unsigned char   buf[16];

    qlm_store_be64(buf, time);
    qlm_store_be64(buf + 8, id);

    key.mv_data = buf;
    key.mv_size = sizeof(buf);
    val.mv_data = "";
    val.mv_size = 0;

    return qlm_store_rc(mdb_put(txn, st->sched, &key, &val, 0));
}


static int
qlm_store_sched_del(qlm_store_t *st, MDB_txn *txn, uint64_t time,
    uint64_t id)
{
    int             rc;
    MDB_val         key;
    unsigned char   buf[16];

    qlm_store_be64(buf, time);
    qlm_store_be64(buf + 8, id);

    key.mv_data = buf;
    key.mv_size = sizeof(buf);

    rc = mdb_del(txn, st->sched, &key, NULL);

    /* every item has its sched entry: a missing one is damage */

    if (rc == MDB_NOTFOUND) {
        return QLM_STORE_CORRUPT;
    }

    return qlm_store_rc(rc);
}


/* the checks and room of an enqueue; *ids for the ids to come */

static int
qlm_store_enqueue_prepare(qlm_store_t *st, qlm_store_item_t *items,
    size_t n, uint64_t **ids)
{
    int     rc;
    size_t  i, size, bytes;

    *ids = NULL;

    if (st == NULL || (items == NULL && n)) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    if (n == 0) {
        return 0;
    }

    bytes = 0;

    for (i = 0; i < n; i++) {
        rc = qlm_store_item_size(&items[i], &size);
        if (rc != 0) {
            return rc;
        }

        /* an item and its sched key, with slack for LMDB's own headers */

        bytes += size + 64;

        if (bytes < size) {
            return QLM_STORE_INVALID;
        }
    }

    /* ids are set only once the transaction holds */

    *ids = malloc(n * sizeof(uint64_t));
    if (*ids == NULL) {
        return ENOMEM;
    }

    rc = qlm_store_room(st, bytes, 1);
    if (rc != 0) {
        free(*ids);
        *ids = NULL;
    }

    return rc;
}


static int
qlm_store_enqueue_txn(qlm_store_t *st, MDB_txn *txn, qlm_store_item_t *items,
    size_t n, uint64_t *ids)
{
    int               rc;
    size_t            i;
    qlm_store_item_t  item;

    for (i = 0; i < n; i++) {
        rc = qlm_store_seq_next(st, txn, "seq:id", &ids[i]);
        if (rc != 0) {
            return rc;
        }

        item = items[i];
        item.id = ids[i];
        item.lease = 0;
        item.attempt = 0;
        item.last_status = 0;
        item.last_error.len = 0;
        item.last_error.data = "";
        item.updated = item.created;

        rc = qlm_store_item_write(txn, st->items, &item, 1);
        if (rc != 0) {
            return rc;
        }

        rc = qlm_store_sched_put(st, txn, item.due, item.id);
        if (rc != 0) {
            return rc;
        }
    }

    return n ? qlm_store_counter_txn(st, txn, "enqueued", n) : 0;
}


/*
 * n items (n may be 0) and, when also is not NULL, more work, in one
 * transaction: all or nothing; the items' ids are set once it holds.
 */

int
qlm_store_enqueue_also(qlm_store_t *st, qlm_store_item_t *items, size_t n,
    qlm_store_also_pt also, void *data)
{
    int        rc;
    size_t     i;
    MDB_txn   *txn;
    uint64_t  *ids;

    rc = qlm_store_enqueue_prepare(st, items, n, &ids);
    if (rc != 0 || (n == 0 && also == NULL)) {
        return rc;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        free(ids);
        return rc;
    }

    rc = qlm_store_enqueue_txn(st, txn, items, n, ids);

    if (rc == 0 && also) {
        rc = also(st, txn, data);
    }

    if (rc != 0) {
        mdb_txn_abort(txn);
        free(ids);
        return qlm_store_rc(rc);
    }

    rc = qlm_store_commit(txn);

    if (rc == 0) {
        for (i = 0; i < n; i++) {
            items[i].id = ids[i];
        }
    }

    free(ids);

    return rc;
}


int
qlm_store_enqueue(qlm_store_t *st, qlm_store_item_t *items, size_t n)
{
    return qlm_store_enqueue_also(st, items, n, NULL, NULL);
}


/*
 * Leases up to max due items; *n counts those copied to out, which the
 * caller frees on error.
 */

static int
qlm_store_claim_txn(qlm_store_t *st, MDB_txn *txn, uint64_t now,
    uint64_t expiry, qlm_store_item_t **out, size_t max, uint64_t *ids,
    size_t *n)
{
    int                rc;
    size_t             i, found;
    uint64_t          *times;
    MDB_val            key, val;
    MDB_cursor        *cur;
    unsigned char      id[8];
    qlm_store_item_t   item;

    /*
     * The keys are collected first and moved afterwards: a moved key may
     * sort after the cursor again (a zero lease), and must not be seen twice.
     */

    times = ids + max;

    rc = mdb_cursor_open(txn, st->sched, &cur);
    if (rc != 0) {
        return rc;
    }

    found = 0;

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
         rc == 0 && found < max;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size != 16) {
            rc = QLM_STORE_CORRUPT;
            break;
        }

        times[found] = qlm_store_get_be64(key.mv_data);

        if (times[found] > now) {
            break;
        }

        ids[found++] = qlm_store_get_be64((unsigned char *) key.mv_data + 8);
    }

    mdb_cursor_close(cur);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }

    for (i = 0; i < found; i++) {
        qlm_store_be64(id, ids[i]);

        key.mv_data = id;
        key.mv_size = sizeof(id);

        rc = mdb_get(txn, st->items, &key, &val);

        if (rc != 0 && rc != MDB_NOTFOUND) {
            return rc;
        }

        if (rc == MDB_NOTFOUND
            || qlm_store_item_decode(ids[i], &val, &item) != 0
            || item.due != times[i])
        {
            /*
             * An entry that cannot be read is set aside and counted, so
             * that one bad record does not stop every claim for good.
             */

            rc = qlm_store_sched_del(st, txn, times[i], ids[i]);
            if (rc != 0) {
                return rc;
            }

            rc = mdb_del(txn, st->items, &key, NULL);
            if (rc != 0 && rc != MDB_NOTFOUND) {
                return rc;
            }

            rc = qlm_store_counter_txn(st, txn, "corrupt", 1);
            if (rc != 0) {
                return rc;
            }

            continue;
        }

        /* a new token makes the holder of an expired lease stale */

        rc = qlm_store_seq_next(st, txn, "seq:lease", &item.lease);
        if (rc != 0) {
            return rc;
        }

        item.due = expiry;
        item.updated = now;

        /* the copy is made before the write, which may move val */

        rc = qlm_store_item_copy(&item, &out[*n]);
        if (rc != 0) {
            return rc;
        }

        (*n)++;

        rc = qlm_store_item_write(txn, st->items, out[*n - 1], 1);
        if (rc != 0) {
            return rc;
        }

        rc = qlm_store_sched_del(st, txn, times[i], ids[i]);
        if (rc != 0) {
            return rc;
        }

        rc = qlm_store_sched_put(st, txn, expiry, ids[i]);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


int
qlm_store_claim(qlm_store_t *st, uint64_t now, uint64_t lease_ms,
    qlm_store_item_t **out, size_t max, size_t *n)
{
    int        rc;
    size_t     i;
    uint64_t   expiry, *ids;
    MDB_txn   *txn;

    if (n == NULL) {
        return QLM_STORE_INVALID;
    }

    *n = 0;

    if (st == NULL || (out == NULL && max)
        || max > SIZE_MAX / (2 * sizeof(uint64_t)))
    {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    if (max == 0) {
        return 0;
    }

    expiry = (now > UINT64_MAX - lease_ms) ? UINT64_MAX : now + lease_ms;

    ids = malloc(2 * max * sizeof(uint64_t));
    if (ids == NULL) {
        return ENOMEM;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        free(ids);
        return rc;
    }

    rc = qlm_store_claim_txn(st, txn, now, expiry, out, max, ids, n);

    free(ids);

    if (rc != 0) {
        mdb_txn_abort(txn);

    } else {
        rc = qlm_store_commit(txn);
    }

    if (rc != 0) {
        for (i = 0; i < *n; i++) {
            qlm_store_item_free(out[i]);
            out[i] = NULL;
        }

        *n = 0;
    }

    return rc;
}


/* fetches a leased item and checks the token */

static int
qlm_store_leased(qlm_store_t *st, MDB_txn *txn, uint64_t id, uint64_t lease,
    qlm_store_item_t *item)
{
    int             rc;
    MDB_val         key, val;
    unsigned char   buf[8];

    qlm_store_be64(buf, id);

    key.mv_data = buf;
    key.mv_size = sizeof(buf);

    rc = mdb_get(txn, st->items, &key, &val);

    if (rc == MDB_NOTFOUND) {
        return QLM_STORE_NOTFOUND;
    }

    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_item_decode(id, &val, item);
    if (rc != 0) {
        return rc;
    }

    if (lease == 0 || item->lease != lease) {
        return QLM_STORE_STALE;
    }

    return 0;
}


/* delivered: the item goes, its attempt is logged */

static int
qlm_store_ack_txn(qlm_store_t *st, MDB_txn *txn, uint64_t id, uint64_t lease,
    const qlm_store_log_t *log, int room)
{
    int                rc;
    MDB_val            key;
    unsigned char      buf[8];
    qlm_store_item_t   item;

    rc = qlm_store_leased(st, txn, id, lease, &item);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_sched_del(st, txn, item.due, id);
    if (rc != 0) {
        return rc;
    }

    qlm_store_be64(buf, id);

    key.mv_data = buf;
    key.mv_size = sizeof(buf);

    rc = qlm_store_rc(mdb_del(txn, st->items, &key, NULL));
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_log_done(st, txn, log, room);
    if (rc != 0) {
        return rc;
    }

    return qlm_store_counter_txn(st, txn, "delivered", 1);
}


int
qlm_store_ack(qlm_store_t *st, uint64_t id, uint64_t lease,
    const qlm_store_log_t *log)
{
    int       rc, room;
    MDB_txn  *txn;

    if (st == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    room = qlm_store_log_room(st, &log);
    if (room != 0 && room != QLM_STORE_FULL) {
        return room;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_ack_txn(st, txn, id, lease, log, room);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }

    return qlm_store_commit(txn);
}


/* failed: due again later, or (dead) moved to the dead letters */

static int
qlm_store_retry_txn(qlm_store_t *st, MDB_txn *txn, uint64_t id,
    uint64_t lease, uint64_t due, uint32_t attempt, int32_t status,
    qlm_store_str_t error, const qlm_store_log_t *log, int room,
    unsigned dead)
{
    int                rc;
    MDB_val            key;
    unsigned char      buf[8];
    qlm_store_item_t   item;

    rc = qlm_store_leased(st, txn, id, lease, &item);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_sched_del(st, txn, item.due, id);
    if (rc != 0) {
        return rc;
    }

    item.lease = 0;
    item.due = due;
    item.attempt = attempt;
    item.last_status = status;
    item.last_error = error;

    if (dead) {
        item.updated = due;

        rc = qlm_store_item_write(txn, st->dead, &item, 0);
        if (rc != 0) {
            return rc;
        }

        qlm_store_be64(buf, id);

        key.mv_data = buf;
        key.mv_size = sizeof(buf);

        rc = qlm_store_rc(mdb_del(txn, st->items, &key, NULL));

    } else {
        item.updated = log ? log->time : due;

        rc = qlm_store_item_write(txn, st->items, &item, 0);
        if (rc != 0) {
            return rc;
        }

        rc = qlm_store_sched_put(st, txn, due, id);
    }

    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_log_done(st, txn, log, room);
    if (rc != 0) {
        return rc;
    }

    return qlm_store_counter_txn(st, txn, dead ? "dead" : "retried", 1);
}


static int
qlm_store_retry(qlm_store_t *st, uint64_t id, uint64_t lease, uint64_t due,
    uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log, unsigned dead)
{
    int       rc, room;
    MDB_txn  *txn;

    if (st == NULL || !qlm_store_str_ok(&error)) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    room = qlm_store_log_room(st, &log);
    if (room != 0 && room != QLM_STORE_FULL) {
        return room;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_retry_txn(st, txn, id, lease, due, attempt, status, error,
                             log, room, dead);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }

    return qlm_store_commit(txn);
}


int
qlm_store_reschedule(qlm_store_t *st, uint64_t id, uint64_t lease,
    uint64_t due, uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log)
{
    return qlm_store_retry(st, id, lease, due, attempt, status, error, log,
                           0);
}


int
qlm_store_dead(qlm_store_t *st, uint64_t id, uint64_t lease, uint64_t now,
    uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log)
{
    return qlm_store_retry(st, id, lease, now, attempt, status, error, log,
                           1);
}


int
qlm_store_next_due(qlm_store_t *st, uint64_t *due)
{
    int          rc;
    MDB_val      key, val;
    MDB_txn     *txn;
    MDB_cursor  *cur;

    if (st == NULL || due == NULL) {
        return QLM_STORE_INVALID;
    }

    *due = 0;

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_open(txn, st->sched, &cur);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }

    rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);

    if (rc == 0) {
        if (key.mv_size == 16) {
            *due = qlm_store_get_be64(key.mv_data);

        } else {
            rc = QLM_STORE_CORRUPT;
        }

    } else if (rc == MDB_NOTFOUND) {
        rc = 0;
    }

    mdb_cursor_close(cur);
    mdb_txn_abort(txn);

    return rc;
}


int
qlm_store_queue_foreach(qlm_store_t *st, qlm_store_item_pt cb, void *data)
{
    int                rc;
    uint64_t           id;
    MDB_val            key, val, ikey, ival;
    MDB_txn           *txn;
    MDB_cursor        *cur;
    qlm_store_item_t   item;

    if (st == NULL || cb == NULL) {
        return QLM_STORE_INVALID;
    }

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_open(txn, st->sched, &cur);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size != 16) {
            rc = QLM_STORE_CORRUPT;
            break;
        }

        id = qlm_store_get_be64((unsigned char *) key.mv_data + 8);

        ikey.mv_data = (unsigned char *) key.mv_data + 8;
        ikey.mv_size = 8;

        rc = mdb_get(txn, st->items, &ikey, &ival);

        if (rc == MDB_NOTFOUND) {
            rc = QLM_STORE_CORRUPT;
        }

        if (rc != 0) {
            break;
        }

        rc = qlm_store_item_decode(id, &ival, &item);
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

    mdb_cursor_close(cur);
    mdb_txn_abort(txn);

    return rc;
}


/*
 * An event: its deliveries and the mirror's record of the affected license
 * or customer in one transaction (one flush with per-commit sync); n may
 * be 0, rec may be NULL.
 */

typedef struct {
    int                        table;
    const qlm_store_record_t  *rec;
} qlm_store_event_t;


static int
qlm_store_enqueue_event_also(qlm_store_t *st, MDB_txn *txn, void *data)
{
    qlm_store_event_t  *ev = data;

    int                 rc;
    qlm_store_field_t  *merged;

    merged = malloc(2 * QLM_STORE_RECORD_FIELDS * sizeof(qlm_store_field_t));
    if (merged == NULL) {
        return ENOMEM;
    }

    rc = qlm_store_mirror_upsert_txn(st, txn, ev->table, ev->rec, merged);

    free(merged);

    return rc;
}


int
qlm_store_enqueue_event(qlm_store_t *st, qlm_store_item_t *items, size_t n,
    int table, const qlm_store_record_t *rec)
{
    qlm_store_event_t  ev;

    if (rec == NULL) {
        return qlm_store_enqueue(st, items, n);
    }

    if (table != QLM_STORE_LICENSES && table != QLM_STORE_CUSTOMERS) {
        return QLM_STORE_INVALID;
    }

    ev.table = table;
    ev.rec = rec;

    return qlm_store_enqueue_also(st, items, n, qlm_store_enqueue_event_also,
                                  &ev);
}
