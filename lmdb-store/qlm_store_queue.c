
/*
 * qlm_store: the delivery queue: enqueue, claim, ack, reschedule, dead,
 * next due; each write also as an op of a write batch.
 */


#include <stdio.h>

#include "qlm_store_int.h"


#define QLM_STORE_ACK          0
#define QLM_STORE_RESCHEDULE   1
#define QLM_STORE_TO_DEAD      2
#define QLM_STORE_RELEASE      3
#define QLM_STORE_UNCLAIM      4


static int qlm_store_sched_del(qlm_store_t *st, MDB_txn *txn,
    MDB_cursor *cur, uint64_t time, uint64_t id);
static int qlm_store_write_back(qlm_store_write_t *w, uint64_t id,
    uint64_t lease, uint64_t due, unsigned what);
static int qlm_store_enqueue_txn(qlm_store_write_t *w,
    const qlm_store_item_t *items, size_t n, uint64_t *ids);
static int qlm_store_claim_txn(qlm_store_t *st, MDB_txn *txn,
    qlm_store_claim_pt filter, void *data, size_t scan, uint64_t now,
    uint64_t expiry, qlm_store_item_t **out, size_t max, uint64_t *ids,
    size_t *n, qlm_store_scratch_t *sc);
static int qlm_store_set_aside(qlm_store_t *st, MDB_txn *txn, uint64_t id,
    uint64_t time, const MDB_val *raw, uint64_t now);
static int qlm_store_leased(MDB_cursor *cur, uint64_t id,
    uint64_t lease, qlm_store_item_t *item, qlm_store_scratch_t *sc);
static int qlm_store_finish_txn(qlm_store_write_t *w, uint64_t id,
    uint64_t lease, uint64_t due, uint32_t attempt, int32_t status,
    qlm_store_str_t error, const qlm_store_log_t *log, unsigned what);
static int qlm_store_finish(qlm_store_t *st, uint64_t id, uint64_t lease,
    uint64_t due, uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log, unsigned what);


int
qlm_store_sched_put(qlm_store_t *st, MDB_txn *txn, MDB_cursor *cur,
    uint64_t time, uint64_t id)
{
    MDB_val         key, val;
    unsigned char   buf[16];

    qlm_store_be64(buf, time);
    qlm_store_be64(buf + 8, id);

    key.mv_data = buf;
    key.mv_size = sizeof(buf);
    val.mv_data = "";
    val.mv_size = 0;

    return qlm_store_rc(qlm_store_put(txn, st->sched, cur, &key, &val, 0));
}


static int
qlm_store_sched_del(qlm_store_t *st, MDB_txn *txn, MDB_cursor *cur,
    uint64_t time, uint64_t id)
{
    int             rc;
    MDB_val         key, val;
    unsigned char   buf[16];

    qlm_store_be64(buf, time);
    qlm_store_be64(buf + 8, id);

    key.mv_data = buf;
    key.mv_size = sizeof(buf);

    if (cur) {
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET);

        if (rc == 0) {
            rc = mdb_cursor_del(cur, 0);
        }

    } else {
        rc = mdb_del(txn, st->sched, &key, NULL);
    }

    /* every item has its sched entry: a missing one is damage */

    if (rc == MDB_NOTFOUND) {
        return QLM_STORE_CORRUPT;
    }

    return qlm_store_rc(rc);
}


/*
 * n items, as an op of the batch: ids[i] is set to the id of items[i],
 * ids[n + i] to its lease token (0: not leased).  The checks are done, and
 * the room, by qlm_store_write_items().
 */

static int
qlm_store_enqueue_txn(qlm_store_write_t *w, const qlm_store_item_t *items,
    size_t n, uint64_t *ids)
{
    int               rc;
    size_t            i;
    MDB_cursor       *icur, *scur;
    qlm_store_item_t  item;

    rc = qlm_store_write_cursor(w, QLM_STORE_CUR_ITEMS, w->st->items, &icur);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_write_cursor(w, QLM_STORE_CUR_SCHED, w->st->sched, &scur);
    if (rc != 0) {
        return rc;
    }

    for (i = 0; i < n; i++) {
        rc = qlm_store_write_seq(w, QLM_STORE_SEQ_ID, &ids[i]);
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

        /* leased by the caller: stored as a claim leaves an item */

        if (item.lease_until) {
            rc = qlm_store_write_seq(w, QLM_STORE_SEQ_LEASE, &item.lease);
            if (rc != 0) {
                return rc;
            }

            item.due = item.lease_until;

            /* the caller's first attempt is counted now, as by a claim */
            item.attempt = 1;
        }

        ids[n + i] = item.lease;

        rc = qlm_store_item_write(w->st, w->txn, w->st->items, icur, &item,
                                  QLM_STORE_W_RESERVE | QLM_STORE_W_APPEND);
        if (rc != 0) {
            return rc;
        }

        rc = qlm_store_sched_put(w->st, w->txn, scur, item.due, item.id);
        if (rc != 0) {
            return rc;
        }
    }

    qlm_store_write_count(w, QLM_STORE_C_ENQUEUED, n);

    return 0;
}


/*
 * An event's n deliveries (n may be 0) and its mirror record (rec may be
 * NULL), as an op of the batch; *ids (freed by the caller) gets their ids,
 * then their lease tokens.
 * The checks and the room come first: a failure there is soft and changes
 * nothing; a failure once writing has begun poisons the batch.
 */

int
qlm_store_write_items(qlm_store_write_t *w, const qlm_store_item_t *items,
    size_t n, int table, const qlm_store_record_t *rec, uint64_t *buf,
    uint64_t **ids)
{
    int          rc;
    size_t       i, size, bytes;
    MDB_cursor  *cur;

    *ids = NULL;

    if (w->error) {
        return w->error;
    }

    if (items == NULL && n) {
        return QLM_STORE_INVALID;
    }

    if (rec && ((table != QLM_STORE_LICENSES && table != QLM_STORE_CUSTOMERS)
                || !qlm_store_record_ok(rec)))
    {
        return QLM_STORE_INVALID;
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

    if (n) {
        if (n > SIZE_MAX / (2 * sizeof(uint64_t))) {
            return QLM_STORE_INVALID;
        }

        /* appends: the last leaves, copied once a batch, are in the slack */

        rc = qlm_store_write_room(w, bytes, 0, 1);

        if (rc != 0 && rc != QLM_STORE_FULL && rc != QLM_STORE_INVALID) {
            w->error = rc;
        }

        if (rc != 0) {
            return rc;
        }

        /* the ids, then the leases: a few items in buf, not malloc'd */

        *ids = (n <= QLM_STORE_IDS_INLINE)
               ? buf : malloc(2 * n * sizeof(uint64_t));

        if (*ids == NULL) {
            w->error = ENOMEM;
            return ENOMEM;
        }

        rc = qlm_store_enqueue_txn(w, items, n, *ids);
        if (rc != 0) {
            w->error = qlm_store_rc(rc);
            return w->error;
        }
    }

    if (rec) {
        /* the store's, as its other buffers of a write txn */

        if (w->st->wmerged == NULL) {
            w->st->wmerged = malloc(2 * QLM_STORE_RECORD_FIELDS
                                    * sizeof(qlm_store_field_t));
            if (w->st->wmerged == NULL) {
                w->error = ENOMEM;
                return ENOMEM;
            }
        }

        rc = qlm_store_write_cursor(w, QLM_STORE_CUR_MIRROR + table,
                                    w->st->mirror[table], &cur);

        if (rc == 0) {
            rc = qlm_store_mirror_upsert_txn(w->st, w->txn, table, rec,
                                             w->st->wmerged, cur);
        }

        if (rc != 0) {
            w->error = qlm_store_rc(rc);
            return w->error;
        }
    }

    return 0;
}


int
qlm_store_write_enqueue_event(qlm_store_write_t *w, qlm_store_item_t *items,
    size_t n, int table, const qlm_store_record_t *rec)
{
    int        rc;
    size_t     i;
    uint64_t  *ids, buf[2 * QLM_STORE_IDS_INLINE];

    if (w == NULL) {
        return QLM_STORE_INVALID;
    }

    rc = qlm_store_write_items(w, items, n, table, rec, buf, &ids);

    if (rc == 0) {
        for (i = 0; i < n; i++) {
            items[i].id = ids[i];
            items[i].lease = ids[n + i];
        }
    }

    if (ids != buf) {
        free(ids);
    }

    return rc;
}


/*
 * A delivery made before its event was stored (sync=on, where the journal
 * holds the event meanwhile), as an op of the batch: what an enqueue and
 * an ack of it would leave, its id, its counts and its log record, and
 * not the item or its schedule, which the ack would delete again.
 */

int
qlm_store_write_delivered(qlm_store_write_t *w, qlm_store_item_t *item,
    const qlm_store_log_t *log)
{
    int               rc;
    size_t            size;
    uint64_t          id;
    unsigned          dropped;
    qlm_store_log_t   rec;

    if (w == NULL || item == NULL || log == NULL) {
        return QLM_STORE_INVALID;
    }

    if (w->error) {
        return w->error;
    }

    /* the item's strings are checked as an enqueue would check them */

    rc = qlm_store_item_size(item, &size);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_log_size(log, &size);
    if (rc != 0) {
        return rc;
    }

    /* the log record charged as an ack's, and dropped when it would be */

    dropped = 0;
    rc = qlm_store_write_room(w, size, 1, 2);

    if (rc == QLM_STORE_FULL) {
        dropped = 1;

    } else if (rc != 0) {
        return rc;
    }

    rc = qlm_store_write_seq(w, QLM_STORE_SEQ_ID, &id);
    if (rc != 0) {
        w->error = qlm_store_rc(rc);
        return w->error;
    }

    rec = *log;
    rec.item_id = id;

    rc = qlm_store_log_done(w, dropped ? NULL : &rec, dropped);
    if (rc != 0) {
        w->error = qlm_store_rc(rc);
        return w->error;
    }

    qlm_store_write_count(w, QLM_STORE_C_ENQUEUED, 1);
    qlm_store_write_count(w, QLM_STORE_C_DELIVERED, 1);

    item->id = id;
    item->lease = 0;

    return 0;
}


/*
 * One event in one transaction: all or nothing; the items' ids are set
 * only once it holds.
 */

int
qlm_store_enqueue_event(qlm_store_t *st, qlm_store_item_t *items, size_t n,
    int table, const qlm_store_record_t *rec)
{
    int                 rc;
    size_t              i;
    uint64_t           *ids, buf[2 * QLM_STORE_IDS_INLINE];
    qlm_store_write_t  *w;

    if (st == NULL || (items == NULL && n)) {
        return QLM_STORE_INVALID;
    }

    if (n == 0 && rec == NULL) {
        return st->read_only ? EACCES : 0;
    }

    rc = qlm_store_write_begin(st, &w);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_write_items(w, items, n, table, rec, buf, &ids);
    if (rc != 0) {
        qlm_store_write_abort(w);

        if (ids != buf) {
            free(ids);
        }

        return rc;
    }

    rc = qlm_store_write_commit(w);

    if (rc == 0) {
        for (i = 0; i < n; i++) {
            items[i].id = ids[i];
            items[i].lease = ids[n + i];
        }
    }

    if (ids != buf) {
        free(ids);
    }

    return rc;
}


int
qlm_store_enqueue(qlm_store_t *st, qlm_store_item_t *items, size_t n)
{
    return qlm_store_enqueue_event(st, items, n, 0, NULL);
}


/*
 * Leases up to max due items among the first scan due ones, those the
 * filter takes; *n counts those copied to out, which the caller frees on
 * error.
 */

static int
qlm_store_claim_txn(qlm_store_t *st, MDB_txn *txn, qlm_store_claim_pt filter,
    void *data, size_t scan, uint64_t now, uint64_t expiry,
    qlm_store_item_t **out, size_t max, uint64_t *ids, size_t *n,
    qlm_store_scratch_t *sc)
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

    times = ids + scan;

    rc = mdb_cursor_open(txn, st->sched, &cur);
    if (rc != 0) {
        return rc;
    }

    found = 0;

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
         rc == 0 && found < scan;
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

    for (i = 0; i < found && *n < max; i++) {
        qlm_store_be64(id, ids[i]);

        key.mv_data = id;
        key.mv_size = sizeof(id);

        rc = mdb_get(txn, st->items, &key, &val);

        if (rc != 0 && rc != MDB_NOTFOUND) {
            return rc;
        }

        if (rc == MDB_NOTFOUND) {
            /* a schedule entry without its item: nothing to deliver */

            rc = qlm_store_sched_del(st, txn, NULL, times[i], ids[i]);
            if (rc != 0) {
                return rc;
            }

            rc = qlm_store_counter_txn(st, txn, "corrupt", 1);
            if (rc != 0) {
                return rc;
            }

            continue;
        }

        rc = qlm_store_item_decode(ids[i], &val, &item, sc);

        if (rc == ENOMEM) {
            return rc;
        }

        if (rc != 0) {
            /*
             * An item that cannot be read is set aside, as a dead letter
             * that keeps its bytes and says why, and counted: one bad
             * record must not stop every claim for good.
             */

            rc = qlm_store_set_aside(st, txn, ids[i], times[i], &val, now);
            if (rc != 0) {
                return rc;
            }

            continue;
        }

        if (item.due != times[i]) {
            /* a stale schedule entry: the item keeps its own */

            rc = qlm_store_sched_del(st, txn, NULL, times[i], ids[i]);
            if (rc == 0) {
                rc = qlm_store_sched_put(st, txn, NULL, item.due, ids[i]);
            }

            if (rc != 0) {
                return rc;
            }

            continue;
        }

        /* skipped: stays due, as it was, for a later claim */

        if (filter != NULL) {
            rc = filter(&item, data);

            if (rc < 0) {
                /* the filter takes nothing more: the rest stays due */
                break;
            }

            if (rc == 0) {
                continue;
            }
        }

        /* a new token makes the holder of an expired lease stale */

        rc = qlm_store_seq_next(st, txn, "seq:lease", &item.lease);
        if (rc != 0) {
            return rc;
        }

        item.due = expiry;
        item.lease_until = expiry;
        item.updated = now;

        /*
         * The attempt is counted where it is claimed: a holder that dies
         * still counts, and the next one sends the next number.
         */
        item.attempt++;

        /* the copy is made before the write, which may move val */

        rc = qlm_store_item_copy(&item, &out[*n]);
        if (rc != 0) {
            return rc;
        }

        (*n)++;

        rc = qlm_store_item_write(st, txn, st->items, NULL, out[*n - 1],
                                  QLM_STORE_W_RESERVE);
        if (rc != 0) {
            return rc;
        }

        rc = qlm_store_sched_del(st, txn, NULL, times[i], ids[i]);
        if (rc != 0) {
            return rc;
        }

        rc = qlm_store_sched_put(st, txn, NULL, expiry, ids[i]);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


/*
 * An undecodable queue item becomes a dead letter (event "(undecodable)",
 * the raw record as its body, the reason as its last error), so that it
 * can be looked at with "qlm-store dead --body" and is not lost silently.
 */

static int
qlm_store_set_aside(qlm_store_t *st, MDB_txn *txn, uint64_t id,
    uint64_t time, const MDB_val *raw, uint64_t now)
{
    int                rc;
    char               why[96];
    MDB_val            key;
    qlm_store_item_t   dead;
    unsigned char      k[8];

    memset(&dead, 0, sizeof(qlm_store_item_t));

    snprintf(why, sizeof(why),
             "the queue record could not be decoded (%zu bytes)",
             raw->mv_size);

    dead.id = id;
    dead.created = now;
    dead.updated = now;
    dead.event.data = "(undecodable)";
    dead.event.len = sizeof("(undecodable)") - 1;
    dead.event_id.data = "";
    dead.url.data = "";
    dead.headers.data = "";
    dead.body.data = raw->mv_data;
    dead.body.len = raw->mv_size;
    dead.last_error.data = why;
    dead.last_error.len = strlen(why);

    /* the raw bytes are copied by the write, before the item is deleted */

    rc = qlm_store_item_write(st, txn, st->dead, NULL, &dead,
                              QLM_STORE_W_RESERVE);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_sched_del(st, txn, NULL, time, id);
    if (rc != 0) {
        return rc;
    }

    qlm_store_be64(k, id);
    key.mv_data = k;
    key.mv_size = sizeof(k);

    rc = mdb_del(txn, st->items, &key, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }

    return qlm_store_counter_txn(st, txn, "corrupt", 1);
}


int
qlm_store_claim(qlm_store_t *st, uint64_t now, uint64_t lease_ms,
    qlm_store_item_t **out, size_t max, size_t *n)
{
    return qlm_store_claim_filter(st, now, lease_ms, NULL, NULL, max, out,
                                  max, n);
}


/*
 * A claim that passes over what the filter refuses (a receiver at its
 * limit, say) instead of stopping at it: up to scan due items are looked
 * at, oldest first, so the cost stays bounded when many are refused.
 */

int
qlm_store_claim_filter(qlm_store_t *st, uint64_t now, uint64_t lease_ms,
    qlm_store_claim_pt filter, void *data, size_t scan,
    qlm_store_item_t **out, size_t max, size_t *n)
{
    int                   rc;
    size_t                i;
    uint64_t              expiry, *ids;
    MDB_txn              *txn;
    qlm_store_scratch_t   sc;

    if (n == NULL) {
        return QLM_STORE_INVALID;
    }

    *n = 0;

    if (scan < max) {
        scan = max;
    }

    if (st == NULL || (out == NULL && max)
        || scan > SIZE_MAX / (2 * sizeof(uint64_t)))
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

    ids = malloc(2 * scan * sizeof(uint64_t));
    if (ids == NULL) {
        return ENOMEM;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        free(ids);
        return rc;
    }

    sc.data = NULL;
    sc.size = 0;

    rc = qlm_store_claim_txn(st, txn, filter, data, scan, now, expiry, out,
                             max, ids, n, &sc);

    qlm_store_scratch_free(&sc);
    free(ids);

    if (rc != 0) {
        qlm_store_abort(txn);

        /* as a commit says it: the caller may claim fewer */
        rc = qlm_store_rc(rc);

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

    /*
     * The pages freed by the last commit are made reusable for the
     * caller's next claim (the filter's state is the caller's: no retry
     * here)
     */

    if (rc == QLM_STORE_FULL) {
        (void) qlm_store_full_retry(st);
    }

    return rc;
}


/* fetches a leased item and checks the token; cur is left on it */

static int
qlm_store_leased(MDB_cursor *cur, uint64_t id, uint64_t lease,
    qlm_store_item_t *item, qlm_store_scratch_t *sc)
{
    int             rc;
    MDB_val         key, val;
    unsigned char   buf[8];

    qlm_store_be64(buf, id);

    key.mv_data = buf;
    key.mv_size = sizeof(buf);

    rc = mdb_cursor_get(cur, &key, &val, MDB_SET);

    if (rc == MDB_NOTFOUND) {
        return QLM_STORE_NOTFOUND;
    }

    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_item_decode(id, &val, item, sc);
    if (rc != 0) {
        return rc;
    }

    if (lease == 0 || item->lease != lease) {
        return QLM_STORE_STALE;
    }

    return 0;
}


/*
 * The end of a leased item's attempt, as an op of the batch: delivered
 * (ack), due again later (reschedule) or moved to the dead letters; the
 * attempt logged.  The token is checked first: STALE or NOTFOUND change
 * nothing.  Deep in the map's reserve the log record is left out (and
 * counted), and the oldest records go to make room, so that the queue can
 * always drain.
 */

static int
qlm_store_finish_txn(qlm_store_write_t *w, uint64_t id, uint64_t lease,
    uint64_t due, uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log, unsigned what)
{
    int                   rc;
    size_t                size, pages;
    unsigned              dropped;
    MDB_cursor           *cur, *scur;
    qlm_store_t          *st;
    qlm_store_item_t      item;
    qlm_store_scratch_t   sc;

    if (w->error) {
        return w->error;
    }

    st = w->st;

    if (!qlm_store_str_ok(&error)) {
        return QLM_STORE_INVALID;
    }

    size = 0;

    if (log) {
        rc = qlm_store_log_size(log, &size);
        if (rc != 0) {
            return rc;
        }
    }

    sc.data = NULL;
    sc.size = 0;

    /* the batch's cursor on items: an ack or a death deletes through it */

    rc = qlm_store_write_cursor(w, QLM_STORE_CUR_ITEMS, st->items, &cur);
    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_write_cursor(w, QLM_STORE_CUR_SCHED, st->sched, &scur);
    if (rc != 0) {
        goto failed;
    }

    /* an ack drops the item: its body is not read */

    rc = qlm_store_leased(cur, id, lease, &item,
                          what == QLM_STORE_ACK ? NULL : &sc);

    if (rc == QLM_STORE_STALE || rc == QLM_STORE_NOTFOUND) {
        qlm_store_scratch_free(&sc);
        return rc;
    }

    if (rc != 0) {
        goto failed;
    }

    /* a leaf page of items and of sched (and of dead) is copied */

    pages = (what == QLM_STORE_TO_DEAD) ? 3 : 2;
    dropped = 0;

    if (log) {
        rc = qlm_store_write_room(w, size, pages, 2);

        if (rc == QLM_STORE_FULL) {
            log = NULL;
            dropped = 1;

        } else if (rc != 0) {
            goto failed;
        }
    }

    if (log == NULL) {
        /* no log record, and yet the copies: charged, never refused */
        (void) qlm_store_write_room(w, 0, pages, 0);
    }

    rc = qlm_store_sched_del(st, w->txn, scur, item.due, id);
    if (rc != 0) {
        goto failed;
    }

    /* cur is still on the item: other tables' writes do not move it */

    switch (what) {

    case QLM_STORE_ACK:
        rc = qlm_store_rc(mdb_cursor_del(cur, 0));
        qlm_store_write_count(w, QLM_STORE_C_DELIVERED, 1);
        break;

    case QLM_STORE_UNCLAIM:
        /* never attempted: the claim's count is taken back */
        if (item.attempt) {
            item.attempt--;
        }

        /* fall through */

    case QLM_STORE_RELEASE:
        /* handed back unfinished: due again, its count and error kept */
        item.lease = 0;
        item.due = due;
        item.updated = due;

        rc = qlm_store_item_write(st, w->txn, st->items, cur, &item, 0);

        if (rc == 0) {
            rc = qlm_store_sched_put(st, w->txn, scur, due, id);
        }

        break;

    case QLM_STORE_RESCHEDULE:
        item.lease = 0;
        item.due = due;
        item.attempt = attempt;
        item.last_status = status;
        item.last_error = error;
        item.updated = log ? log->time : due;

        rc = qlm_store_item_write(st, w->txn, st->items, cur, &item, 0);

        if (rc == 0) {
            rc = qlm_store_sched_put(st, w->txn, scur, due, id);
        }

        qlm_store_write_count(w, QLM_STORE_C_RETRIED, 1);
        break;

    default: /* QLM_STORE_TO_DEAD */
        item.lease = 0;
        item.due = due;
        item.attempt = attempt;
        item.last_status = status;
        item.last_error = error;
        item.updated = due;

        rc = qlm_store_item_write(st, w->txn, st->dead, NULL, &item, 0);

        if (rc == 0) {
            rc = qlm_store_rc(mdb_cursor_del(cur, 0));
        }

        qlm_store_write_count(w, QLM_STORE_C_DEAD, 1);
    }

    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_log_done(w, log, dropped);
    if (rc != 0) {
        goto failed;
    }

    qlm_store_scratch_free(&sc);

    return 0;

failed:

    qlm_store_scratch_free(&sc);

    w->error = qlm_store_rc(rc);

    return w->error;
}


int
qlm_store_write_ack(qlm_store_write_t *w, uint64_t id, uint64_t lease,
    const qlm_store_log_t *log)
{
    qlm_store_str_t  none = { 0, NULL };

    if (w == NULL) {
        return QLM_STORE_INVALID;
    }

    return qlm_store_finish_txn(w, id, lease, 0, 0, 0, none, log,
                                QLM_STORE_ACK);
}


int
qlm_store_write_reschedule(qlm_store_write_t *w, uint64_t id,
    uint64_t lease, uint64_t due, uint32_t attempt, int32_t status,
    qlm_store_str_t error, const qlm_store_log_t *log)
{
    if (w == NULL) {
        return QLM_STORE_INVALID;
    }

    return qlm_store_finish_txn(w, id, lease, due, attempt, status, error,
                                log, QLM_STORE_RESCHEDULE);
}


int
qlm_store_write_dead(qlm_store_write_t *w, uint64_t id, uint64_t lease,
    uint64_t now, uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log)
{
    if (w == NULL) {
        return QLM_STORE_INVALID;
    }

    return qlm_store_finish_txn(w, id, lease, now, attempt, status, error,
                                log, QLM_STORE_TO_DEAD);
}


int
qlm_store_write_release(qlm_store_write_t *w, uint64_t id, uint64_t lease,
    uint64_t due)
{
    return qlm_store_write_back(w, id, lease, due, QLM_STORE_RELEASE);
}


int
qlm_store_write_unclaim(qlm_store_write_t *w, uint64_t id, uint64_t lease,
    uint64_t due)
{
    return qlm_store_write_back(w, id, lease, due, QLM_STORE_UNCLAIM);
}


/* a leased item back in the queue, as it was (release, unclaim) */

static int
qlm_store_write_back(qlm_store_write_t *w, uint64_t id, uint64_t lease,
    uint64_t due, unsigned what)
{
    qlm_store_str_t  none = { 0, "" };

    if (w == NULL) {
        return QLM_STORE_INVALID;
    }

    return qlm_store_finish_txn(w, id, lease, due, 0, 0, none, NULL, what);
}


/*
 * One op, one transaction; on a full map once more, after the pages the
 * last commit freed were made reusable: a delivery's end frees room, and
 * must not wait for another commit that may never come.
 */

static int
qlm_store_finish(qlm_store_t *st, uint64_t id, uint64_t lease, uint64_t due,
    uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log, unsigned what)
{
    int                 rc;
    unsigned            again;
    qlm_store_write_t  *w;

    for (again = 0; ; again++) {
        rc = qlm_store_write_begin(st, &w);
        if (rc != 0) {
            return rc;
        }

        rc = qlm_store_finish_txn(w, id, lease, due, attempt, status, error,
                                  log, what);
        if (rc != 0) {
            qlm_store_write_abort(w);

        } else {
            rc = qlm_store_write_commit(w);
        }

        if (rc != QLM_STORE_FULL || again
            || qlm_store_full_retry(st) != 0)
        {
            return rc;
        }
    }
}


int
qlm_store_ack(qlm_store_t *st, uint64_t id, uint64_t lease,
    const qlm_store_log_t *log)
{
    qlm_store_str_t  none = { 0, NULL };

    return qlm_store_finish(st, id, lease, 0, 0, 0, none, log,
                            QLM_STORE_ACK);
}


int
qlm_store_release(qlm_store_t *st, uint64_t id, uint64_t lease,
    uint64_t due)
{
    qlm_store_str_t  none = { 0, "" };

    return qlm_store_finish(st, id, lease, due, 0, 0, none, NULL,
                            QLM_STORE_RELEASE);
}


int
qlm_store_unclaim(qlm_store_t *st, uint64_t id, uint64_t lease,
    uint64_t due)
{
    qlm_store_str_t  none = { 0, "" };

    return qlm_store_finish(st, id, lease, due, 0, 0, none, NULL,
                            QLM_STORE_UNCLAIM);
}


int
qlm_store_reschedule(qlm_store_t *st, uint64_t id, uint64_t lease,
    uint64_t due, uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log)
{
    return qlm_store_finish(st, id, lease, due, attempt, status, error, log,
                            QLM_STORE_RESCHEDULE);
}


int
qlm_store_dead(qlm_store_t *st, uint64_t id, uint64_t lease, uint64_t now,
    uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log)
{
    return qlm_store_finish(st, id, lease, now, attempt, status, error, log,
                            QLM_STORE_TO_DEAD);
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
        qlm_store_abort(txn);
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
    qlm_store_abort(txn);

    return rc;
}


int
qlm_store_queue_foreach(qlm_store_t *st, qlm_store_item_pt cb, void *data)
{
    int                   rc;
    uint64_t              id;
    MDB_val               key, val, ikey, ival;
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

    rc = mdb_cursor_open(txn, st->sched, &cur);
    if (rc != 0) {
        qlm_store_abort(txn);
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

        rc = qlm_store_item_decode(id, &ival, &item, &sc);
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
