
/*
 * qlm_store: the environment: open, close, sync, stat, transactions, the room
 * checks, meta values and sequences.
 */


#include "qlm_store_int.h"


/* waits for a map being adopted, and of its adoption for the txns */
#define QLM_STORE_MOVE_WAIT   50        /* microseconds */
#define QLM_STORE_MOVE_WAITS  20000     /* 1 s */


static int qlm_store_init(qlm_store_t *st);
static int qlm_store_enter(qlm_store_t *st);
static void qlm_store_leave(qlm_store_t *st);
static void qlm_store_move_wait(void);
static int qlm_store_adopt_size(qlm_store_t *st);
static int qlm_store_txn_start(qlm_store_t *st, unsigned flags,
    MDB_txn **txn, unsigned renew);
static int qlm_store_format_put(qlm_store_t *st, MDB_txn *txn);


const char *
qlm_store_strerror(int rc)
{
    switch (rc) {

    case 0:
        return "success";

    case QLM_STORE_NOTFOUND:
        return "no such item";

    case QLM_STORE_FULL:
        return "store is full (max_size reached, or no room on the file "
               "system)";

    case QLM_STORE_STALE:
        return "the lease is no longer held";

    case QLM_STORE_CORRUPT:
        return "store record is corrupt";

    case QLM_STORE_INCOMPATIBLE:
        return "store was written in an incompatible format";

    case QLM_STORE_INVALID:
        return "invalid argument";

    case QLM_STORE_EXISTS:
        return "seen already";

    case QLM_STORE_BUSY:
        return "the store's map is being resized (another process grew it)";
    }

    /* mdb_strerror() falls back to strerror() for errno values */

    return mdb_strerror(rc);
}


int
qlm_store_open(qlm_store_t **stp, const char *path,
    const qlm_store_options_t *opts)
{
    int                   rc;
    mode_t                mode;
    unsigned              flags;
    MDB_stat              ms;
    qlm_store_t          *st;
    qlm_store_options_t   defaults;

    if (stp == NULL) {
        return QLM_STORE_INVALID;
    }

    *stp = NULL;

    if (path == NULL || *path == '\0') {
        return QLM_STORE_INVALID;
    }

    if (opts == NULL) {
        memset(&defaults, 0, sizeof(qlm_store_options_t));
        opts = &defaults;
    }

    st = calloc(1, sizeof(qlm_store_t));
    if (st == NULL) {
        return ENOMEM;
    }

    st->no_sync = opts->no_sync ? 1 : 0;
    st->read_only = opts->read_only ? 1 : 0;
    st->write_map = (opts->write_map && !st->read_only) ? 1 : 0;
    st->log_max_records = opts->log_max_records ? opts->log_max_records
                                                : QLM_STORE_LOG_MAX;
    st->log_max_age = opts->log_max_age;

    mode = opts->mode ? opts->mode : 0600;

    if (!st->read_only && mkdir(path, 0700) == -1 && errno != EEXIST) {
        rc = errno;
        free(st);
        return rc;
    }

    rc = mdb_env_create(&st->env);
    if (rc != 0) {
        free(st);
        return rc;
    }

    /* a txn's end finds its handle so: qlm_store_abort() */
    (void) mdb_env_set_userctx(st->env, st);

    rc = mdb_env_set_maxdbs(st->env, 12);
    if (rc != 0) {
        goto failed;
    }

    rc = mdb_env_set_mapsize(st->env, opts->map_size ? opts->map_size
                                                     : QLM_STORE_MAP_SIZE);
    if (rc != 0) {
        goto failed;
    }

    /*
     * MDB_NOTLS: reader slots belong to txns, not threads, so a handle
     * may be used from any thread (nginx thread pools), one call at a time.
     */

    flags = MDB_NOTLS;

    if (st->no_sync) {
        flags |= MDB_NOSYNC;
    }

    /*
     * Pages written in the map, not with a pwrite() each: see prealloc.
     * Without read-ahead (MADV_RANDOM): the first touch of a page past
     * the data, in the allocated but unwritten part of the file, would
     * read around it, up to the device's read_ahead_kb (8 MiB on a
     * virtio disk), zeroing all of that inside the page fault: 20 ms in
     * which nginx's worker answered nothing, and often, while an import
     * by qlm-store moved the data's end on.
     */

    if (st->write_map) {
        flags |= MDB_WRITEMAP | MDB_NORDAHEAD;
    }

    if (st->read_only) {
        flags |= MDB_RDONLY;
    }

    rc = mdb_env_open(st->env, path, flags, mode);
    if (rc != 0) {
        goto failed;
    }

    /*
     * No size given (qlm-store): take the one the store was last written
     * with (nginx's max_size); LMDB would otherwise shrink the map to the
     * pages in use, the store would look full, and a commit here would
     * write that size back.
     */

    if (opts->map_size == 0) {
        rc = mdb_env_set_mapsize(st->env, 0);
        if (rc != 0) {
            goto failed;
        }
    }

    /* reader slots left by killed processes pin old pages forever */

    rc = mdb_reader_check(st->env, NULL);
    if (rc != 0) {
        goto failed;
    }

    rc = mdb_env_stat(st->env, &ms);
    if (rc != 0) {
        goto failed;
    }

    st->psize = ms.ms_psize;

    rc = mdb_env_get_fd(st->env, &st->fd);
    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_init(st);
    if (rc != 0) {
        goto failed;
    }

    *stp = st;

    return 0;

failed:

    mdb_env_close(st->env);
    free(st);

    return qlm_store_rc(rc);
}


static int
qlm_store_format_put(qlm_store_t *st, MDB_txn *txn)
{
    MDB_val         key, val;
    unsigned char   buf[4], *p;

    p = buf;
    qlm_store_put_u32(&p, QLM_STORE_FORMAT);

    key.mv_data = "format";
    key.mv_size = sizeof("format") - 1;
    val.mv_data = buf;
    val.mv_size = sizeof(buf);

    return mdb_put(txn, st->meta, &key, &val, 0);
}


static int
qlm_store_init(qlm_store_t *st)
{
    int               rc;
    MDB_val           key, val;
    MDB_dbi          *dbis[10];
    MDB_txn          *txn;
    unsigned          i, create, rdonly, full;
    uint32_t          format;
    qlm_store_buf_t   b;

    static const char  *names[] = { "meta", "items", "sched", "dead", "log",
                                    "seen", "seenx", "licenses", "customers",
                                    "tasks" };

    dbis[0] = &st->meta;
    dbis[1] = &st->items;
    dbis[2] = &st->sched;
    dbis[3] = &st->dead;
    dbis[4] = &st->log;
    dbis[5] = &st->seen;
    dbis[6] = &st->seenx;
    dbis[7] = &st->mirror[QLM_STORE_LICENSES];
    dbis[8] = &st->mirror[QLM_STORE_CUSTOMERS];
    dbis[9] = &st->tasks;

    rdonly = st->read_only;
    full = 0;

    /*
     * With no disk space for a write txn, a store that exists still opens
     * (read here, to be drained), and a new one is full from the start.
     */

    if (st->write_map) {
        rc = qlm_store_prealloc(st, 0);

        if (rc == QLM_STORE_FULL) {
            rdonly = 1;
            full = 1;

        } else if (rc != 0) {
            return rc;
        }
    }

    create = rdonly ? 0 : MDB_CREATE;

    rc = qlm_store_txn_begin(st, rdonly ? MDB_RDONLY : 0, &txn);
    if (rc != 0) {
        return rc;
    }

    for (i = 0; i < 10; i++) {
        rc = mdb_dbi_open(txn, names[i], create, dbis[i]);

        if (rc == MDB_NOTFOUND) {
            /* read-only, and not a store of ours */
            rc = full ? QLM_STORE_FULL : QLM_STORE_INCOMPATIBLE;
        }

        if (rc != 0) {
            goto failed;
        }
    }

    /* added later than the others: a store without it still opens */

    rc = mdb_dbi_open(txn, "paused", create, &st->paused_dbi);

    if (rc == 0) {
        st->has_paused = 1;

    } else if (rc != MDB_NOTFOUND) {
        goto failed;
    }

    key.mv_data = "format";
    key.mv_size = sizeof("format") - 1;

    rc = mdb_get(txn, st->meta, &key, &val);

    if (rc == 0) {
        if (val.mv_size != 4) {
            rc = QLM_STORE_INCOMPATIBLE;
            goto failed;
        }

        b.pos = val.mv_data;
        b.end = b.pos + val.mv_size;
        b.error = 0;

        format = qlm_store_get_u32(&b);

        if (format != QLM_STORE_FORMAT && format != QLM_STORE_FORMAT_V1) {
            rc = QLM_STORE_INCOMPATIBLE;
            goto failed;
        }

        /*
         * Format 1's records are read as they are; once opened for writing
         * it says 2, so that a module of format 1, which cannot read the
         * records of version 2, refuses the store rather than set its
         * queue aside as undecodable.
         */

        if (format == QLM_STORE_FORMAT_V1 && !rdonly) {
            rc = qlm_store_format_put(st, txn);
            if (rc != 0) {
                goto failed;
            }
        }

    } else if (rc == MDB_NOTFOUND && !rdonly) {
        rc = qlm_store_format_put(st, txn);
        if (rc != 0) {
            goto failed;
        }

    } else {
        if (rc == MDB_NOTFOUND) {
            rc = full ? QLM_STORE_FULL : QLM_STORE_INCOMPATIBLE;
        }

        goto failed;
    }

    /* committing keeps the DB handles, for a read txn too */

    return qlm_store_commit(txn);

failed:

    qlm_store_abort(txn);

    return rc;
}


void
qlm_store_close(qlm_store_t *st)
{
    if (st == NULL) {
        return;
    }

    if (st->no_sync && !st->read_only) {
        (void) mdb_env_sync(st->env, 1);
    }

    /* reset between reads: not counted in st->txns */

    if (st->rtxn) {
        mdb_txn_abort(st->rtxn);
    }

    mdb_env_close(st->env);

    qlm_store_scratch_free(&st->wpack);
    qlm_store_scratch_free(&st->wrec);
    free(st->wmerged);
    free(st->rfields);
    free(st);
}


int
qlm_store_sync(qlm_store_t *st)
{
    int  rc;

    if (st == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return 0;
    }

    /* the flush reads the map: not while it moves */

    rc = qlm_store_enter(st);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_env_sync(st->env, 1);

    qlm_store_leave(st);

    return rc;
}


/*
 * A transaction (or a sync) about to start counts itself in st->txns;
 * while a grown map is adopted, it waits for that to end.
 */

static int
qlm_store_enter(qlm_store_t *st)
{
    int  i;

    for (i = 0; i < QLM_STORE_MOVE_WAITS; i++) {
        if (__atomic_add_fetch(&st->txns, 1, __ATOMIC_ACQUIRE) > 0) {
            return 0;
        }

        __atomic_sub_fetch(&st->txns, 1, __ATOMIC_RELEASE);
        qlm_store_move_wait();
    }

    return QLM_STORE_BUSY;
}


static void
qlm_store_leave(qlm_store_t *st)
{
    __atomic_sub_fetch(&st->txns, 1, __ATOMIC_RELEASE);
}


static void
qlm_store_move_wait(void)
{
    struct timespec  ts;

    ts.tv_sec = 0;
    ts.tv_nsec = QLM_STORE_MOVE_WAIT * 1000;

    (void) nanosleep(&ts, NULL);
}


/*
 * Another process grew the map (a larger max_size after a reload, or
 * qlm-store's --map-size): LMDB adopts the new size by mapping the file
 * anew, which it allows only while the process has no transaction open,
 * as an open one (of another thread: the loop's read, the pool thread's
 * commit or sync) would go on in the old map.  The caller has no count in
 * st->txns; the others end within a commit's time (a flush, with
 * sync=on: LMDB's writer lock would have the loop wait as long).  Rare,
 * and bounded: after QLM_STORE_MOVE_WAITS waits it is QLM_STORE_BUSY, and
 * the caller fails as on any store error.
 */

static int
qlm_store_adopt_size(qlm_store_t *st)
{
    int  i, rc, none;

    for (i = 0; i < QLM_STORE_MOVE_WAITS; i++) {
        none = 0;

        if (__atomic_compare_exchange_n(&st->txns, &none, QLM_STORE_MOVING,
                                        0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
        {
            rc = mdb_env_set_mapsize(st->env, 0);

            /* those that tried to enter meanwhile took their counts back */
            __atomic_sub_fetch(&st->txns, QLM_STORE_MOVING, __ATOMIC_RELEASE);

            return rc;
        }

        qlm_store_move_wait();
    }

    return QLM_STORE_BUSY;
}


int
qlm_store_reader_check(qlm_store_t *st, int *dead)
{
    if (st == NULL) {
        return QLM_STORE_INVALID;
    }

    return mdb_reader_check(st->env, dead);
}


int
qlm_store_txn_begin(qlm_store_t *st, unsigned flags, MDB_txn **txn)
{
    int  rc;

    if (st->write_map && !(flags & MDB_RDONLY)) {
        rc = qlm_store_prealloc(st, 0);
        if (rc != 0) {
            return rc;
        }
    }

    return qlm_store_rc(qlm_store_txn_start(st, flags, txn, 0));
}


/*
 * *txn begun (or, with renew, the reset *txn renewed) and counted in
 * st->txns; a map another process grew is adopted on the way, once.
 */

static int
qlm_store_txn_start(qlm_store_t *st, unsigned flags, MDB_txn **txn,
    unsigned renew)
{
    int       rc;
    unsigned  adopted;

    for (adopted = 0; ; adopted = 1) {
        rc = qlm_store_enter(st);
        if (rc != 0) {
            return rc;
        }

        rc = renew ? mdb_txn_renew(*txn)
                   : mdb_txn_begin(st->env, NULL, flags, txn);

        if (rc == 0) {
            return 0;
        }

        qlm_store_leave(st);

        if (rc != MDB_MAP_RESIZED || adopted) {
            return rc;
        }

        rc = qlm_store_adopt_size(st);
        if (rc != 0) {
            return rc;
        }
    }
}


/*
 * A read txn for one short read: the handle's kept one, renewed (a new
 * snapshot in the reader slot it keeps: no malloc, no slot search, as
 * mdb_txn_begin() has), or, when another thread has it, one of its own
 * (*kept 0).  qlm_store_read_end() resets or aborts it: between reads no
 * snapshot is held, and no old pages are pinned.
 */

int
qlm_store_read_begin(qlm_store_t *st, MDB_txn **txn, unsigned *kept)
{
    int  rc;

    if (__atomic_exchange_n(&st->rbusy, 1, __ATOMIC_ACQUIRE)) {
        *kept = 0;
        return qlm_store_txn_begin(st, MDB_RDONLY, txn);
    }

    *kept = 1;

    if (st->rtxn == NULL) {
        rc = qlm_store_txn_begin(st, MDB_RDONLY, &st->rtxn);

    } else {
        rc = qlm_store_txn_start(st, 0, &st->rtxn, 1);

        /* not renewed: not counted */

        if (rc != 0) {
            mdb_txn_abort(st->rtxn);
        }
    }

    if (rc != 0) {
        st->rtxn = NULL;
        __atomic_store_n(&st->rbusy, 0, __ATOMIC_RELEASE);
        return rc;
    }

    *txn = st->rtxn;

    return 0;
}


void
qlm_store_read_end(qlm_store_t *st, MDB_txn *txn, unsigned kept)
{
    if (!kept) {
        qlm_store_abort(txn);
        return;
    }

    mdb_txn_reset(txn);
    qlm_store_leave(st);

    __atomic_store_n(&st->rbusy, 0, __ATOMIC_RELEASE);
}


int
qlm_store_rc(int rc)
{
    return (rc == MDB_MAP_FULL) ? QLM_STORE_FULL : rc;
}


/* a failed commit frees the txn: nothing was written */

int
qlm_store_commit(MDB_txn *txn)
{
    int           rc;
    qlm_store_t  *st;

    st = mdb_env_get_userctx(mdb_txn_env(txn));

    rc = mdb_txn_commit(txn);

    qlm_store_leave(st);

    return qlm_store_rc(rc);
}


/* every txn begun by qlm_store_txn_begin() ends here or in a commit */

void
qlm_store_abort(MDB_txn *txn)
{
    qlm_store_t  *st;

    st = mdb_env_get_userctx(mdb_txn_env(txn));

    mdb_txn_abort(txn);

    qlm_store_leave(st);
}


/*
 * LMDB reuses the pages a commit freed only once a later commit has been
 * made (the last snapshot stays whole).  On a full map the one run of
 * pages long enough for a large item's new copy may be among them: a
 * claim or an ack would then fail for as long as nothing else commits,
 * and nothing else does.  A small commit, a counter, makes those pages
 * free, so that the op can be tried again.
 */

int
qlm_store_full_retry(qlm_store_t *st)
{
    return qlm_store_counter_add(st, "full_retries", 1);
}


/* meta values */

int
qlm_store_meta_get_u64(qlm_store_t *st, MDB_txn *txn, const char *name,
    uint64_t *value)
{
    int      rc;
    MDB_val  key, val;

    key.mv_data = (void *) name;
    key.mv_size = strlen(name);

    rc = mdb_get(txn, st->meta, &key, &val);

    if (rc == MDB_NOTFOUND) {
        *value = 0;
        return 0;
    }

    if (rc != 0) {
        return rc;
    }

    return qlm_store_meta_u64(&val, value);
}


/* a number of meta as qlm_store_meta_put_u64() writes it: 8 bytes */

int
qlm_store_meta_u64(const MDB_val *val, uint64_t *value)
{
    qlm_store_buf_t  b;

    if (val->mv_size != 8) {
        return QLM_STORE_CORRUPT;
    }

    b.pos = val->mv_data;
    b.end = b.pos + 8;
    b.error = 0;

    *value = qlm_store_get_u64(&b);

    return 0;
}


int
qlm_store_meta_put_u64(qlm_store_t *st, MDB_txn *txn, const char *name,
    uint64_t value)
{
    MDB_val         key, val;
    unsigned char   buf[8], *p;

    p = buf;
    qlm_store_put_u64(&p, value);

    key.mv_data = (void *) name;
    key.mv_size = strlen(name);
    val.mv_data = buf;
    val.mv_size = sizeof(buf);

    return qlm_store_rc(mdb_put(txn, st->meta, &key, &val, 0));
}


/* sequences start at 1: 0 means "none" for ids and lease tokens */

int
qlm_store_seq_next(qlm_store_t *st, MDB_txn *txn, const char *name,
    uint64_t *value)
{
    int       rc;
    uint64_t  v;

    rc = qlm_store_meta_get_u64(st, txn, name, &v);
    if (rc != 0) {
        return rc;
    }

    v++;

    if (v == 0) {
        v = 1;
    }

    rc = qlm_store_meta_put_u64(st, txn, name, v);
    if (rc != 0) {
        return rc;
    }

    *value = v;

    return 0;
}


/*
 * With MDB_WRITEMAP, LMDB writes pages straight into a shared map of the
 * data file, which it makes as large as the map but sparse: a page in a
 * hole has no disk block yet, and touching it on a full filesystem kills
 * the process with SIGBUS instead of returning an error.  So before a
 * write txn the file is allocated (posix_fallocate) past the last used
 * page by a headroom that covers a transaction (4 MiB or 1/16 of the map,
 * at most half of it), plus "extra" bytes a batch expects to write.  The
 * pages below the last used one were all written once: no holes there.
 * The check is cheap: fallocate runs only when the allocated end is
 * close, and then allocates twice the headroom.  No space: QLM_STORE_FULL,
 * before anything is touched.
 */

int
qlm_store_prealloc(qlm_store_t *st, size_t extra)
{
    int           rc;
    off_t         used, need, want, head, map;
    MDB_envinfo   info;

    rc = mdb_env_info(st->env, &info);
    if (rc != 0) {
        return rc;
    }

    map = (off_t) info.me_mapsize;
    used = (off_t) (info.me_last_pgno + 1) * (off_t) st->psize;

    head = map / 16;

    if (head < 4 * 1024 * 1024) {
        head = 4 * 1024 * 1024;
    }

    if (head > map / 2) {
        head = map / 2;
    }

    need = used + head + (off_t) extra;

    if (need > map) {
        need = map;
    }

    if (need <= st->allocated) {
        return 0;
    }

    want = need + head;

    if (want > map) {
        want = map;
    }

    rc = posix_fallocate(st->fd, used, want - used);

    if (rc != 0 && want > need) {
        /* no room for the double: enough for this txn will do */
        want = need;
        rc = posix_fallocate(st->fd, used, want - used);
    }

    if (rc == ENOSPC || rc == EDQUOT) {
        return QLM_STORE_FULL;
    }

    if (rc != 0) {
        return rc;
    }

    st->allocated = want;

    return 0;
}


/*
 * The free pages of the map, counted up to "want": those past the last
 * used page, then, only when those are not enough, those on the freelist,
 * walked in a read txn (LMDB allows no cursor on it in a write txn; with
 * MDB_NOTLS a read txn may be open beside the caller's write txn).
 * *maxpg: the map's size in pages.
 */

int
qlm_store_free_pages(qlm_store_t *st, size_t want, size_t *room,
    size_t *maxpg)
{
    int           rc;
    size_t        used;
    MDB_val       key, val;
    MDB_txn      *txn;
    MDB_envinfo   info;
    MDB_cursor   *cur;

    rc = mdb_env_info(st->env, &info);
    if (rc != 0) {
        return rc;
    }

    *maxpg = info.me_mapsize / st->psize;
    used = info.me_last_pgno + 1;
    *room = (*maxpg > used) ? *maxpg - used : 0;

    if (*room >= want) {
        return 0;
    }

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_open(txn, QLM_STORE_FREE_DBI, &cur);
    if (rc != 0) {
        qlm_store_abort(txn);
        return rc;
    }

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
         rc == 0 && *room < want;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (val.mv_size >= sizeof(size_t)) {
            *room += *(size_t *) val.mv_data;
        }
    }

    mdb_cursor_close(cur);
    qlm_store_abort(txn);

    return (rc == MDB_NOTFOUND) ? 0 : rc;
}


int
qlm_store_stat(qlm_store_t *st, uint64_t now, qlm_store_stat_t *stat)
{
    return qlm_store_stat_max(st, now, 0, stat);
}


int
qlm_store_stat_max(qlm_store_t *st, uint64_t now, uint64_t max,
    qlm_store_stat_t *stat)
{
    int                rc;
    uint64_t           id;
    MDB_val            key, val, ikey;
    unsigned char      idbuf[8];
    MDB_txn           *txn;
    MDB_stat           ms;
    MDB_envinfo        info;
    MDB_cursor        *cur;
    qlm_store_item_t   item;

    if (st == NULL || stat == NULL) {
        return QLM_STORE_INVALID;
    }

    memset(stat, 0, sizeof(qlm_store_stat_t));

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_stat(txn, st->items, &ms);
    if (rc != 0) {
        goto done;
    }

    stat->queued = ms.ms_entries;

    rc = mdb_stat(txn, st->dead, &ms);
    if (rc != 0) {
        goto done;
    }

    stat->dead = ms.ms_entries;

    rc = mdb_stat(txn, st->log, &ms);
    if (rc != 0) {
        goto done;
    }

    stat->log_records = ms.ms_entries;

    rc = mdb_cursor_open(txn, st->sched, &cur);
    if (rc != 0) {
        goto done;
    }

    rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);

    if (rc == 0 && key.mv_size == 16) {
        stat->next_due = qlm_store_get_be64(key.mv_data);

    } else if (rc == 0) {
        rc = QLM_STORE_CORRUPT;
    }

    mdb_cursor_close(cur);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        goto done;
    }

    /* now 0: the counts of entries only, no walk (for status pages) */

    if (now == 0) {
        goto info;
    }

    /*
     * In due order (lease expiry for leased items), so that a bounded walk
     * sees every due item first.  An expired lease counts as due: the item
     * is claimable.  A stale schedule entry (its time is not the item's)
     * is skipped: the item's own entry counts it.
     */

    rc = mdb_cursor_open(txn, st->sched, &cur);
    if (rc != 0) {
        goto done;
    }

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (max && stat->examined == max) {
            stat->partial = 1;
            break;
        }

        if (key.mv_size != 16) {
            rc = QLM_STORE_CORRUPT;
            break;
        }

        stat->examined++;

        id = qlm_store_get_be64((unsigned char *) key.mv_data + 8);
        ikey.mv_size = 8;
        ikey.mv_data = idbuf;
        qlm_store_be64(idbuf, id);

        rc = mdb_get(txn, st->items, &ikey, &val);
        if (rc == MDB_NOTFOUND) {
            continue;
        }

        if (rc != 0) {
            break;
        }

        /* its times only: the body is not unpacked */

        rc = qlm_store_item_decode(id, &val, &item, NULL);
        if (rc != 0) {
            break;
        }

        if (item.due != qlm_store_get_be64(key.mv_data)) {
            continue;
        }

        if (item.due <= now) {
            stat->due++;

        } else if (item.lease) {
            stat->leased++;
        }
    }

    mdb_cursor_close(cur);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        goto done;
    }

info:

    rc = mdb_env_info(st->env, &info);
    if (rc != 0) {
        goto done;
    }

    rc = mdb_env_stat(st->env, &ms);
    if (rc != 0) {
        goto done;
    }

    stat->map_size = info.me_mapsize;
    stat->map_used = (info.me_last_pgno + 1) * (size_t) ms.ms_psize;

done:

    qlm_store_abort(txn);

    return rc;
}
