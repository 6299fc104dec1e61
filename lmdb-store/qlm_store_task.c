
/*
 * qlm_store: scheduled tasks' slots and the steps of their scans.  A task
 * runs once a slot (every=TIME); its state is the slot begun last, whether
 * its scan is done, how far it got, and when the slot before it ran
 * ([date]).
 */


#include "qlm_store_int.h"


static int qlm_store_task_put(qlm_store_t *st, MDB_txn *txn,
    qlm_store_str_t name, const qlm_store_task_t *task);
static int qlm_store_task_begin_txn(qlm_store_t *st, MDB_txn *txn,
    qlm_store_str_t name, uint64_t slot, uint64_t now, qlm_store_task_t *prev);
static int qlm_store_task_progress_txn(qlm_store_t *st, MDB_txn *txn,
    qlm_store_str_t name, uint64_t slot, const qlm_store_str_t *from,
    qlm_store_str_t cursor, unsigned done);


static int
qlm_store_task_put(qlm_store_t *st, MDB_txn *txn, qlm_store_str_t name,
    const qlm_store_task_t *task)
{
    MDB_val         key, val;
    unsigned char   buf[8 * 3 + 1 + 4 + 400 + 1], *p;

    p = buf;
    qlm_store_put_u64(&p, task->slot);
    qlm_store_put_u64(&p, task->started);
    qlm_store_put_u64(&p, task->last_run);
    *p++ = task->done ? 1 : 0;
    qlm_store_put_str(&p, &task->cursor);

    key.mv_data = (void *) name.data;
    key.mv_size = name.len;
    val.mv_data = buf;
    val.mv_size = p - buf;

    return mdb_put(txn, st->tasks, &key, &val, 0);
}


/* the state of a task; its cursor is copied into cursor[400] */

int
qlm_store_task_get(qlm_store_t *st, qlm_store_str_t name,
    qlm_store_task_t *task, char *cursor)
{
    int       rc;
    MDB_val   key, val;
    MDB_txn  *txn;

    if (st == NULL || task == NULL || cursor == NULL || name.len == 0
        || name.len > 400)
    {
        return QLM_STORE_INVALID;
    }

    memset(task, 0, sizeof(qlm_store_task_t));
    task->cursor.data = cursor;

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    key.mv_data = (void *) name.data;
    key.mv_size = name.len;

    rc = mdb_get(txn, st->tasks, &key, &val);

    if (rc == MDB_NOTFOUND) {
        rc = QLM_STORE_NOTFOUND;

    } else if (rc == 0) {
        rc = qlm_store_task_decode(&val, task);

        if (rc == 0) {
            memcpy(cursor, task->cursor.data, task->cursor.len);
            task->cursor.data = cursor;
        }
    }

    qlm_store_abort(txn);

    return rc;
}


/*
 * Begins slot "slot" of a task, once for all processes: 0 when this caller
 * begins it (*prev: the state before, for [date]), QLM_STORE_EXISTS when
 * this slot or a later one was begun already.
 */

int
qlm_store_task_begin(qlm_store_t *st, qlm_store_str_t name, uint64_t slot,
    uint64_t now, qlm_store_task_t *prev)
{
    int       rc;
    MDB_txn  *txn;

    if (st == NULL || name.len == 0 || name.len > 400) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_task_begin_txn(st, txn, name, slot, now, prev);
    if (rc != 0) {
        qlm_store_abort(txn);
        return qlm_store_rc(rc);
    }

    return qlm_store_commit(txn);
}


static int
qlm_store_task_begin_txn(qlm_store_t *st, MDB_txn *txn, qlm_store_str_t name,
    uint64_t slot, uint64_t now, qlm_store_task_t *prev)
{
    int               rc;
    MDB_val           key, val;
    qlm_store_task_t  task, old;

    memset(&old, 0, sizeof(qlm_store_task_t));
    old.cursor.data = "";

    key.mv_data = (void *) name.data;
    key.mv_size = name.len;

    rc = mdb_get(txn, st->tasks, &key, &val);

    if (rc == 0) {
        rc = qlm_store_task_decode(&val, &old);
        if (rc != 0) {
            return rc;
        }

        if (old.slot >= slot && old.started) {
            return QLM_STORE_EXISTS;
        }

    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }

    if (prev) {
        *prev = old;
        prev->cursor.data = "";
        prev->cursor.len = 0;
    }

    task.slot = slot;
    task.started = now;
    task.last_run = old.started;
    task.done = 0;
    task.cursor.data = "";
    task.cursor.len = 0;

    return qlm_store_task_put(st, txn, name, &task);
}


/* how far the scan of the slot got, or that it is done */

static int
qlm_store_task_progress_txn(qlm_store_t *st, MDB_txn *txn,
    qlm_store_str_t name, uint64_t slot, const qlm_store_str_t *from,
    qlm_store_str_t cursor, unsigned done)
{
    int               rc;
    MDB_val           key, val;
    qlm_store_task_t  task;

    key.mv_data = (void *) name.data;
    key.mv_size = name.len;

    rc = mdb_get(txn, st->tasks, &key, &val);

    if (rc == MDB_NOTFOUND) {
        return QLM_STORE_NOTFOUND;
    }

    if (rc != 0 || (rc = qlm_store_task_decode(&val, &task)) != 0) {
        return rc;
    }

    if (task.slot != slot) {
        return QLM_STORE_STALE;
    }

    /* another process took this step already: the caller's is void */

    if (from && (task.done || !qlm_store_str_eq(&task.cursor, from))) {
        return QLM_STORE_STALE;
    }

    task.cursor = cursor;
    task.done = done;

    return qlm_store_task_put(st, txn, name, &task);
}


int
qlm_store_task_progress(qlm_store_t *st, qlm_store_str_t name, uint64_t slot,
    qlm_store_str_t cursor, unsigned done)
{
    int       rc;
    MDB_txn  *txn;

    if (st == NULL || name.len == 0 || name.len > 400 || cursor.len > 400) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_task_progress_txn(st, txn, name, slot, NULL, cursor, done);
    if (rc != 0) {
        qlm_store_abort(txn);
        return qlm_store_rc(rc);
    }

    return qlm_store_commit(txn);
}


/*
 * One step of a slot's scan, from cursor "from" to "cursor": its
 * deliveries and its progress in one transaction, and only if the scan is
 * still at "from", so that a step is never done twice nor half, even by
 * two processes for a moment during a reload.
 */

int
qlm_store_task_step(qlm_store_t *st, qlm_store_str_t name, uint64_t slot,
    qlm_store_str_t from, qlm_store_str_t cursor, unsigned done,
    qlm_store_item_t *items, size_t n)
{
    int                 rc;
    size_t              i;
    uint64_t           *ids, buf[2 * QLM_STORE_IDS_INLINE];
    qlm_store_write_t  *w;

    if (st == NULL || name.len == 0 || name.len > 400 || cursor.len > 400
        || from.len > 400 || (items == NULL && n))
    {
        return QLM_STORE_INVALID;
    }

    rc = qlm_store_write_begin(st, &w);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_write_items(w, items, n, 0, NULL, buf, &ids);

    if (rc == 0) {
        rc = qlm_store_task_progress_txn(st, w->txn, name, slot, &from,
                                         cursor, done);
    }

    if (rc != 0) {
        qlm_store_write_abort(w);

        if (ids != buf) {
            free(ids);
        }

        return qlm_store_rc(rc);
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
