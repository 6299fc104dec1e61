
/*
 * qlm_store: the admin API's steps: pages of the log and of the dead
 * letters, and replays in bounded transactions.  Each call is one short
 * transaction, so that a caller in an event loop can spread a long walk
 * over many turns and never hold the writer lock for long.
 */


#include "qlm_store_int.h"


#define QLM_STORE_REPLAY_MAX      256
#define QLM_STORE_REPLAY_EXAMINE  4096


static int qlm_store_admin_match(const qlm_store_log_filter_t *f,
    const qlm_store_str_t *url, const qlm_store_log_t *log);
static int qlm_store_admin_in_range(const qlm_store_log_filter_t *f,
    uint64_t time);


static int
qlm_store_admin_match(const qlm_store_log_filter_t *f,
    const qlm_store_str_t *url, const qlm_store_log_t *log)
{
    if (f->event.len && !qlm_store_str_eq(&f->event, &log->event)) {
        return 0;
    }

    if (f->event_id.len && !qlm_store_str_eq(&f->event_id, &log->event_id)) {
        return 0;
    }

    if (f->outcome && f->outcome != log->outcome) {
        return 0;
    }

    if (url->len && !qlm_store_str_eq(url, &log->url)) {
        return 0;
    }

    return 1;
}


static int
qlm_store_admin_in_range(const qlm_store_log_filter_t *f, uint64_t time)
{
    return time >= f->from && (f->to == 0 || time < f->to);
}


int
qlm_store_log_page(qlm_store_t *st, const qlm_store_log_filter_t *filter,
    qlm_store_str_t url, const qlm_store_log_key_t *after, size_t examine,
    qlm_store_log_key_pt cb, void *data, qlm_store_log_key_t *last,
    unsigned *more)
{
    int                   rc;
    size_t                n, seen;
    MDB_val               key, val;
    MDB_txn              *txn;
    MDB_cursor_op         op;
    MDB_cursor           *cur;
    unsigned char         kbuf[16], start[16];
    qlm_store_log_t       log;
    qlm_store_log_key_t   k;

    if (st == NULL || filter == NULL || cb == NULL || last == NULL
        || more == NULL)
    {
        return QLM_STORE_INVALID;
    }

    last->time = 0;
    last->seq = 0;
    *more = 0;

    if (!qlm_store_str_ok(&filter->event)
        || !qlm_store_str_ok(&filter->event_id)
        || !qlm_store_str_ok(&url))
    {
        return QLM_STORE_INVALID;
    }

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_open(txn, st->log, &cur);
    if (rc != 0) {
        qlm_store_abort(txn);
        return rc;
    }

    /*
     * The walk starts at the range's edge, or past "after" when that is
     * further in: keys are (time, seq), so a key compares as 16 bytes.
     */

    op = filter->newest_first ? MDB_PREV : MDB_NEXT;

    if (filter->newest_first) {
        memset(start, 0xff, 16);

        if (filter->to) {
            qlm_store_be64(start, filter->to);
            memset(start + 8, 0, 8);
        }

    } else {
        qlm_store_be64(start, filter->from);
        memset(start + 8, 0, 8);
    }

    if (after && (after->time || after->seq)) {
        qlm_store_be64(kbuf, after->time);
        qlm_store_be64(kbuf + 8, after->seq);

        if (filter->newest_first ? memcmp(kbuf, start, 16) < 0
                                 : memcmp(kbuf, start, 16) >= 0)
        {
            memcpy(start, kbuf, 16);

            if (!filter->newest_first) {
                /* strictly after: the next key up */
                for (n = 16; n-- > 0; ) {
                    if (++start[n] != 0) {
                        break;
                    }
                }
            }
        }
    }

    key.mv_data = start;
    key.mv_size = 16;

    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);

    if (filter->newest_first) {
        /* the first key below start */

        if (rc == 0) {
            rc = mdb_cursor_get(cur, &key, &val, MDB_PREV);

        } else if (rc == MDB_NOTFOUND) {
            rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
        }
    }

    n = 0;
    seen = 0;

    for ( /* void */ ; rc == 0; rc = mdb_cursor_get(cur, &key, &val, op)) {

        rc = qlm_store_log_decode(&key, &val, &log);
        if (rc != 0) {
            break;
        }

        if (!qlm_store_admin_in_range(filter, log.time)) {
            break;
        }

        k.time = log.time;
        k.seq = qlm_store_get_be64((unsigned char *) key.mv_data + 8);

        *last = k;
        seen++;

        if (qlm_store_admin_match(filter, &url, &log)) {
            if (cb(&log, &k, data) != 0) {
                break;
            }

            n++;
        }

        if ((filter->limit && n == filter->limit)
            || (examine && seen == examine))
        {
            /* is there more in the range? */

            rc = mdb_cursor_get(cur, &key, &val, op);

            if (rc == 0 && key.mv_size == 16) {
                *more = qlm_store_admin_in_range(filter,
                                             qlm_store_get_be64(key.mv_data));
            }

            rc = 0;
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


int
qlm_store_dead_page(qlm_store_t *st, uint64_t after, size_t max,
    unsigned oldest_first, qlm_store_item_pt cb, void *data, uint64_t *last,
    unsigned *more)
{
    int                   rc;
    size_t                n;
    MDB_val               key, val;
    MDB_txn              *txn;
    MDB_cursor_op         op;
    MDB_cursor           *cur;
    unsigned char         buf[8];
    qlm_store_item_t      item;
    qlm_store_scratch_t   sc;

    if (st == NULL || cb == NULL || last == NULL || more == NULL) {
        return QLM_STORE_INVALID;
    }

    sc.data = NULL;
    sc.size = 0;

    *last = 0;
    *more = 0;

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_open(txn, st->dead, &cur);
    if (rc != 0) {
        qlm_store_abort(txn);
        return rc;
    }

    op = oldest_first ? MDB_NEXT : MDB_PREV;

    if (after == 0) {
        rc = mdb_cursor_get(cur, &key, &val, oldest_first ? MDB_FIRST
                                                          : MDB_LAST);

    } else if (oldest_first) {
        if (after == UINT64_MAX) {
            rc = MDB_NOTFOUND;

        } else {
            qlm_store_be64(buf, after + 1);
            key.mv_data = buf;
            key.mv_size = 8;

            rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        }

    } else {
        qlm_store_be64(buf, after);
        key.mv_data = buf;
        key.mv_size = 8;

        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);

        if (rc == 0) {
            rc = mdb_cursor_get(cur, &key, &val, MDB_PREV);

        } else if (rc == MDB_NOTFOUND) {
            rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
        }
    }

    n = 0;

    for ( /* void */ ; rc == 0; rc = mdb_cursor_get(cur, &key, &val, op)) {

        if (key.mv_size != 8) {
            rc = QLM_STORE_CORRUPT;
            break;
        }

        rc = qlm_store_item_decode(qlm_store_get_be64(key.mv_data), &val,
                                   &item, &sc);
        if (rc != 0) {
            break;
        }

        *last = item.id;

        if (cb(&item, data) != 0) {
            break;
        }

        if (max && ++n == max) {
            rc = mdb_cursor_get(cur, &key, &val, op);
            *more = (rc == 0);
            rc = 0;
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


int
qlm_store_dead_replay_step(qlm_store_t *st, uint64_t after, uint64_t since,
    uint64_t now, size_t max, size_t examine, uint64_t *replayed,
    uint64_t *last, unsigned *more)
{
    int                rc;
    size_t             n, seen;
    uint64_t           id;
    MDB_val            key, val;
    MDB_txn           *txn;
    MDB_cursor        *cur;
    unsigned char      buf[8];
    qlm_store_item_t   item;

    if (st == NULL || replayed == NULL || last == NULL || more == NULL) {
        return QLM_STORE_INVALID;
    }

    *replayed = 0;
    *last = after;
    *more = 0;

    if (st->read_only) {
        return EACCES;
    }

    if (max == 0) {
        max = QLM_STORE_REPLAY_MAX;
    }

    if (examine == 0) {
        examine = QLM_STORE_REPLAY_EXAMINE;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_open(txn, st->dead, &cur);
    if (rc != 0) {
        qlm_store_abort(txn);
        return rc;
    }

    n = 0;
    seen = 0;

    while (after < UINT64_MAX) {

        /* a replay deletes under the cursor: it is placed anew each time */

        qlm_store_be64(buf, after + 1);
        key.mv_data = buf;
        key.mv_size = 8;

        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc != 0) {
            break;
        }

        if (key.mv_size != 8) {
            rc = QLM_STORE_CORRUPT;
            break;
        }

        id = qlm_store_get_be64(key.mv_data);

        /* only its time: replay_one() reads it again */

        rc = qlm_store_item_decode(id, &val, &item, NULL);
        if (rc != 0) {
            break;
        }

        after = id;
        seen++;

        if (item.updated >= since) {
            rc = qlm_store_replay_one(st, txn, id, &val, now);
            if (rc != 0) {
                break;
            }

            n++;
        }

        if (n == max || seen == examine) {
            *more = 1;
            break;
        }
    }

    mdb_cursor_close(cur);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        qlm_store_abort(txn);
        return qlm_store_rc(rc);
    }

    if (n == 0) {
        qlm_store_abort(txn);
        *last = after;
        return 0;
    }

    rc = qlm_store_counter_txn(st, txn, "replayed", n);
    if (rc != 0) {
        qlm_store_abort(txn);
        return qlm_store_rc(rc);
    }

    rc = qlm_store_commit(txn);
    if (rc != 0) {
        return rc;
    }

    *replayed = n;
    *last = after;

    return 0;
}


int
qlm_store_item_where(qlm_store_t *st, uint64_t id, int *where)
{
    int             rc;
    MDB_val         key, val;
    MDB_txn        *txn;
    unsigned char   buf[8];

    if (st == NULL || where == NULL) {
        return QLM_STORE_INVALID;
    }

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    qlm_store_be64(buf, id);
    key.mv_data = buf;
    key.mv_size = 8;

    rc = mdb_get(txn, st->items, &key, &val);

    if (rc == 0) {
        *where = QLM_STORE_IN_QUEUE;

    } else if (rc == MDB_NOTFOUND) {
        rc = mdb_get(txn, st->dead, &key, &val);

        if (rc == 0) {
            *where = QLM_STORE_IN_DEAD;

        } else if (rc == MDB_NOTFOUND) {
            rc = QLM_STORE_NOTFOUND;
        }
    }

    qlm_store_abort(txn);

    return rc;
}
