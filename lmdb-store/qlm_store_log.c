
/*
 * qlm_store: the invocation log, bounded by a record count and an age.
 */


#include "qlm_store_int.h"


static int qlm_store_log_expire(qlm_store_t *st, MDB_txn *txn, uint64_t now,
    size_t max, unsigned force, size_t *removed);
static int qlm_store_log_match(const qlm_store_log_filter_t *f,
    const qlm_store_log_t *log);


/* a log record, in a batch; its retention, a bounded amount per append */

int
qlm_store_log_txn(qlm_store_write_t *w, const qlm_store_log_t *log)
{
    int             rc;
    size_t          size, removed;
    uint64_t        seq;
    MDB_val         key, val;
    MDB_cursor     *cur;
    unsigned char   kbuf[16], *p;

    rc = qlm_store_log_size(log, &size);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_write_seq(w, QLM_STORE_SEQ_LOG, &seq);
    if (rc != 0) {
        return rc;
    }

    qlm_store_be64(kbuf, log->time);
    qlm_store_be64(kbuf + 8, seq);

    key.mv_data = kbuf;
    key.mv_size = sizeof(kbuf);
    val.mv_data = NULL;
    val.mv_size = size;

    /*
     * Keys mostly grow (the time, then the sequence) and MDB_APPEND puts
     * at the last page without a search; a time behind the last key's
     * (another process's clock, a clock set back) is refused with
     * MDB_KEYEXIST before anything is written, and put the usual way.
     */

    rc = qlm_store_write_cursor(w, QLM_STORE_CUR_LOG, w->st->log, &cur);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_put(cur, &key, &val, MDB_RESERVE | MDB_APPEND);

    if (rc == MDB_KEYEXIST) {
        rc = mdb_cursor_put(cur, &key, &val, MDB_RESERVE);
    }

    if (rc != 0) {
        return qlm_store_rc(rc);
    }

    p = val.mv_data;

    *p++ = QLM_STORE_LOG_V2;
    qlm_store_put_u64(&p, log->item_id);
    qlm_store_put_u32(&p, log->attempt);
    qlm_store_put_u32(&p, (uint32_t) log->status);
    qlm_store_put_u32(&p, log->duration);
    qlm_store_put_u32(&p, log->outcome);
    qlm_store_put_str(&p, &log->event_id);
    qlm_store_put_str(&p, &log->event);
    qlm_store_put_str(&p, &log->url);
    qlm_store_put_str(&p, &log->error);
    qlm_store_put_str(&p, &log->answer);

    qlm_store_write_count(w, QLM_STORE_C_ATTEMPTS, 1);

    return qlm_store_log_expire(w->st, w->txn, log->time, QLM_STORE_LOG_STEP,
                                0, &removed);
}


/*
 * The log record of an ack, reschedule or death, or, when it was dropped
 * for want of room (the queue must drain even so), a count of that and
 * the oldest records deleted to make room.
 */

int
qlm_store_log_done(qlm_store_write_t *w, const qlm_store_log_t *log,
    unsigned dropped)
{
    size_t  removed;

    if (log) {
        return qlm_store_log_txn(w, log);
    }

    if (!dropped) {
        return 0;
    }

    qlm_store_write_count(w, QLM_STORE_C_LOG_DROPPED, 1);

    return qlm_store_log_expire(w->st, w->txn, 0, QLM_STORE_LOG_STEP, 1,
                                &removed);
}


/* deletes the oldest records over the count or age bound, up to max */

static int
qlm_store_log_expire(qlm_store_t *st, MDB_txn *txn, uint64_t now, size_t max,
    unsigned force, size_t *removed)
{
    int          rc;
    size_t       entries;
    uint64_t     time;
    MDB_val      key, val;
    MDB_stat     ms;
    MDB_cursor  *cur;

    *removed = 0;

    rc = mdb_stat(txn, st->log, &ms);
    if (rc != 0) {
        return rc;
    }

    entries = ms.ms_entries;

    /* under the count, and no age bound: nothing to see in the oldest */

    if (!force && entries <= st->log_max_records && st->log_max_age == 0) {
        return 0;
    }

    rc = mdb_cursor_open(txn, st->log, &cur);
    if (rc != 0) {
        return rc;
    }

    while (*removed < max) {
        rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
        if (rc != 0) {
            break;
        }

        if (key.mv_size != 16) {
            rc = QLM_STORE_CORRUPT;
            break;
        }

        time = qlm_store_get_be64(key.mv_data);

        if (!force
            && entries <= st->log_max_records
            && (st->log_max_age == 0
                || now < st->log_max_age
                || time >= now - st->log_max_age))
        {
            break;
        }

        rc = qlm_store_rc(mdb_cursor_del(cur, 0));
        if (rc != 0) {
            break;
        }

        entries--;
        (*removed)++;
    }

    mdb_cursor_close(cur);

    return (rc == MDB_NOTFOUND) ? 0 : rc;
}


int
qlm_store_log_append(qlm_store_t *st, const qlm_store_log_t *log)
{
    int                 rc;
    qlm_store_write_t  *w;

    if (st == NULL || log == NULL) {
        return QLM_STORE_INVALID;
    }

    rc = qlm_store_write_begin(st, &w);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_log_txn(w, log);
    if (rc != 0) {
        qlm_store_write_abort(w);
        return rc;
    }

    return qlm_store_write_commit(w);
}


int
qlm_store_log_trim(qlm_store_t *st, uint64_t now, uint64_t *removed)
{
    int       rc;
    size_t    n;
    MDB_txn  *txn;

    if (removed) {
        *removed = 0;
    }

    if (st == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    do {
        rc = qlm_store_txn_begin(st, 0, &txn);
        if (rc != 0) {
            return rc;
        }

        rc = qlm_store_log_expire(st, txn, now, QLM_STORE_TRIM_STEP, 0, &n);
        if (rc != 0) {
            qlm_store_abort(txn);
            return rc;
        }

        if (n == 0) {
            qlm_store_abort(txn);
            return 0;
        }

        rc = qlm_store_commit(txn);
        if (rc != 0) {
            return rc;
        }

        if (removed) {
            *removed += n;
        }

    } while (n == QLM_STORE_TRIM_STEP);

    return 0;
}


static int
qlm_store_log_match(const qlm_store_log_filter_t *f,
    const qlm_store_log_t *log)
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

    return 1;
}


int
qlm_store_log_foreach(qlm_store_t *st, const qlm_store_log_filter_t *filter,
    qlm_store_log_pt cb, void *data)
{
    int                      rc;
    size_t                   n;
    MDB_val                  key, val;
    MDB_txn                 *txn;
    MDB_cursor_op            op;
    MDB_cursor              *cur;
    unsigned char            kbuf[16];
    qlm_store_log_t          log;
    qlm_store_log_filter_t   all;

    if (st == NULL || cb == NULL) {
        return QLM_STORE_INVALID;
    }

    if (filter == NULL) {
        memset(&all, 0, sizeof(qlm_store_log_filter_t));
        filter = &all;
    }

    if (!qlm_store_str_ok(&filter->event)
        || !qlm_store_str_ok(&filter->event_id))
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

    /* position on the first record of the range at the walk's start */

    if (filter->newest_first) {
        op = MDB_PREV;

        if (filter->to) {
            qlm_store_be64(kbuf, filter->to);
            memset(kbuf + 8, 0, 8);

            key.mv_data = kbuf;
            key.mv_size = sizeof(kbuf);

            rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);

            if (rc == 0) {
                rc = mdb_cursor_get(cur, &key, &val, MDB_PREV);

            } else if (rc == MDB_NOTFOUND) {
                rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
            }

        } else {
            rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
        }

    } else {
        op = MDB_NEXT;

        qlm_store_be64(kbuf, filter->from);
        memset(kbuf + 8, 0, 8);

        key.mv_data = kbuf;
        key.mv_size = sizeof(kbuf);

        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    }

    n = 0;

    for ( /* void */ ; rc == 0; rc = mdb_cursor_get(cur, &key, &val, op)) {

        rc = qlm_store_log_decode(&key, &val, &log);
        if (rc != 0) {
            break;
        }

        if (log.time < filter->from || (filter->to && log.time >= filter->to))
        {
            break;
        }

        if (!qlm_store_log_match(filter, &log)) {
            continue;
        }

        if (cb(&log, data) != 0) {
            break;
        }

        if (filter->limit && ++n == filter->limit) {
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
