
/*
 * qlm_store: the write batch, one LMDB write transaction from begin to
 * commit for any number of enqueues, acks, reschedules and deaths.  Its
 * sequences and counters are kept in memory and written once, at commit.
 */


#include "qlm_store_int.h"


#define qlm_store_k(s)  { sizeof(s) - 1, s }

static const qlm_store_str_t  qlm_store_seq_keys[QLM_STORE_NSEQ] = {
    qlm_store_k("seq:id"), qlm_store_k("seq:lease"), qlm_store_k("seq:log")
};

/* the counters' keys in meta, "c:" and the name */

#define qlm_store_c(s)  { sizeof("c:" s) - 1, "c:" s }

static const qlm_store_str_t  qlm_store_counter_keys[QLM_STORE_NCOUNTERS] = {
    qlm_store_c("enqueued"), qlm_store_c("delivered"),
    qlm_store_c("retried"), qlm_store_c("dead"), qlm_store_c("attempts"),
    qlm_store_c("log_dropped")
};


static int qlm_store_write_flush(qlm_store_write_t *w);
static int qlm_store_write_meta(qlm_store_write_t *w,
    const qlm_store_str_t *name, uint64_t v, unsigned add);


int
qlm_store_write_begin(qlm_store_t *st, qlm_store_write_t **wp)
{
    int                 rc;
    qlm_store_write_t  *w;

    if (wp == NULL) {
        return QLM_STORE_INVALID;
    }

    *wp = NULL;

    if (st == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    w = calloc(1, sizeof(qlm_store_write_t));
    if (w == NULL) {
        return ENOMEM;
    }

    w->st = st;

    rc = qlm_store_txn_begin(st, 0, &w->txn);
    if (rc != 0) {
        free(w);
        return rc;
    }

    *wp = w;

    return 0;
}


int
qlm_store_write_commit(qlm_store_write_t *w)
{
    int  rc;

    if (w == NULL) {
        return QLM_STORE_INVALID;
    }

    rc = w->error;

    if (rc == 0) {
        rc = qlm_store_write_flush(w);
    }

    if (rc == 0) {
        rc = qlm_store_commit(w->txn);

    } else {
        qlm_store_abort(w->txn);
    }

    free(w);

    return rc;
}


void
qlm_store_write_abort(qlm_store_write_t *w)
{
    if (w == NULL) {
        return;
    }

    qlm_store_abort(w->txn);

    free(w);
}


/* the sequences and counters of the batch, one put each */

static int
qlm_store_write_flush(qlm_store_write_t *w)
{
    int       rc;
    unsigned  i;

    for (i = 0; i < QLM_STORE_NSEQ; i++) {
        if ((w->seq_read & (1u << i)) && w->seq[i] != w->seq_base[i]) {
            rc = qlm_store_write_meta(w, &qlm_store_seq_keys[i], w->seq[i],
                                      0);
            if (rc != 0) {
                return rc;
            }
        }
    }

    for (i = 0; i < QLM_STORE_NCOUNTERS; i++) {
        if (w->count[i]) {
            rc = qlm_store_write_meta(w, &qlm_store_counter_keys[i],
                                      w->count[i], 1);
            if (rc != 0) {
                return rc;
            }
        }
    }

    return 0;
}


/*
 * A sequence set or a counter added to (add) through the batch's cursor on
 * meta: the put replaces what the get found (MDB_CURRENT), one search of
 * the tree, and no cursor set up for each call as mdb_put() does.
 */

static int
qlm_store_write_meta(qlm_store_write_t *w, const qlm_store_str_t *name,
    uint64_t v, unsigned add)
{
    int               rc;
    MDB_val           key, val;
    uint64_t          old;
    unsigned          flags;
    MDB_cursor       *cur;
    unsigned char     buf[8], *p;

    rc = qlm_store_write_cursor(w, QLM_STORE_CUR_META, w->st->meta, &cur);
    if (rc != 0) {
        return rc;
    }

    key.mv_data = (void *) name->data;
    key.mv_size = name->len;

    rc = mdb_cursor_get(cur, &key, &val, MDB_SET);

    if (rc == 0) {
        rc = qlm_store_meta_u64(&val, &old);
        if (rc != 0) {
            return rc;
        }

        if (add) {
            v += old;
        }

        flags = MDB_CURRENT;

    } else if (rc == MDB_NOTFOUND) {
        flags = 0;

    } else {
        return rc;
    }

    p = buf;
    qlm_store_put_u64(&p, v);

    val.mv_data = buf;
    val.mv_size = sizeof(buf);

    return qlm_store_rc(mdb_cursor_put(cur, &key, &val, flags));
}


/* sequences start at 1: 0 means "none" for ids and lease tokens */

int
qlm_store_write_seq(qlm_store_write_t *w, unsigned seq, uint64_t *value)
{
    int  rc;

    if (!(w->seq_read & (1u << seq))) {
        rc = qlm_store_meta_get_u64(w->st, w->txn,
                                    qlm_store_seq_keys[seq].data,
                                    &w->seq_base[seq]);
        if (rc != 0) {
            return rc;
        }

        w->seq[seq] = w->seq_base[seq];
        w->seq_read |= 1u << seq;
    }

    if (++w->seq[seq] == 0) {
        w->seq[seq] = 1;
    }

    *value = w->seq[seq];

    return 0;
}


/*
 * Whether an op may take free pages from the map.  LMDB copies pages on
 * write, so a claim, an ack or even a delete needs free pages, and a map
 * filled to the last page could never drain: new items may only take the
 * map down to a reserve (1/32 of it, 32 to 2048 pages), acks and the like
 * (div 2) down to half of it.  An op is charged twice its bytes (a tree may
 * grow by a page per leaf page written, and a split more) and "pages" for
 * the leaf pages it copies; the batch's charges add up, and the free pages
 * are counted again only when the last count is not enough; div 0 only
 * charges.  It is an
 * estimate: MDB_MAP_FULL remains possible, and poisons the batch.
 */

int
qlm_store_write_room(qlm_store_write_t *w, size_t bytes, size_t pages,
    size_t div)
{
    int     rc;
    size_t  charge, need, reserve, psize;

    psize = w->st->psize;

    if (bytes > SIZE_MAX / 4 || pages > SIZE_MAX / 4 / psize) {
        return QLM_STORE_INVALID;
    }

    charge = 2 * bytes + pages * psize;

    if (div == 0) {
        w->spent += charge;
        return 0;
    }

    /* a long batch may outgrow the headroom allocated at its begin */

    if (w->st->write_map) {
        rc = qlm_store_prealloc(w->st, w->spent + charge);
        if (rc != 0) {
            return rc;
        }
    }

    for ( ;; ) {
        reserve = w->maxpg / 32;

        if (reserve < 32) {
            reserve = 32;

        } else if (reserve > 2048) {
            reserve = 2048;
        }

        need = reserve / div + (w->spent + charge) / psize + 4;

        if (w->counted && w->room >= need) {
            w->spent += charge;
            return 0;
        }

        if (w->counted && w->counted >= need) {
            /* counted up to this much already: there is no more */
            return QLM_STORE_FULL;
        }

        /* count with headroom, so that a long batch counts a few times */

        rc = qlm_store_free_pages(w->st, 2 * need, &w->room, &w->maxpg);
        if (rc != 0) {
            return rc;
        }

        w->counted = 2 * need;
    }
}


void
qlm_store_write_count(qlm_store_write_t *w, unsigned counter, uint64_t n)
{
    w->count[counter] += n;
}


/*
 * A cursor of the batch, one a table: mdb_cursor_open() mallocs, and a
 * batch may make hundreds of ops.  LMDB closes a write txn's cursors at
 * its commit or abort, and keeps them right through the txn's other
 * writes.
 */

int
qlm_store_write_cursor(qlm_store_write_t *w, unsigned which, MDB_dbi dbi,
    MDB_cursor **cur)
{
    int  rc;

    if (w->cur[which] == NULL) {
        rc = mdb_cursor_open(w->txn, dbi, &w->cur[which]);
        if (rc != 0) {
            w->cur[which] = NULL;
            return rc;
        }
    }

    *cur = w->cur[which];

    return 0;
}
