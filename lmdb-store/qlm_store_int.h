
/*
 * qlm_store's internals, shared by its files; not installed.
 *
 * Layout, all in one environment:
 *
 *   meta       "format" -> u32; "seq:id", "seq:lease", "seq:log" -> u64;
 *              "c:<name>" -> u64 counters
 *   items      be64 id -> item record
 *   sched      be64 time | be64 id -> empty; time is the due time of an
 *              unclaimed item and the lease expiry of a claimed one
 *   dead       be64 id -> item record
 *   log        be64 time | be64 seq -> log record
 *   seen       key -> be64 expiry
 *   seenx      be64 expiry | key -> empty
 *   licenses, customers
 *              key -> mirror record:
 *              u8 version, u8 deleted, updated, n, n x (name, value)
 *   tasks      name -> u64 slot, u64 started, u64 last_run, u8 done,
 *              str cursor
 *   paused     url -> u8 version, u64 since, str by; "paused:gen" in meta
 *              moves at every change (see qlm_store_pause.c)
 *
 * Keys are big-endian so LMDB's default memcmp() order is numeric order.
 * Records are versioned by their first byte; version 1 is little-endian,
 * strings a u32 length, the bytes and a NUL; items and mirror records of
 * version 2 (qlm_store_codec.c) have varints, names of QLM as a code, and
 * strings of a varint length, the bytes and a NUL.  Either way strings
 * handed out from the map are NUL-terminated.
 *
 * A write operation X is qlm_store_X_txn(st, txn, ...) (or (w, ...) when
 * it is an op of a write batch), which works inside an open write
 * transaction, and the public qlm_store_X(), which begins the transaction,
 * calls it and commits.
 */

#ifndef _QLM_STORE_INT_H_INCLUDED_
#define _QLM_STORE_INT_H_INCLUDED_


#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <lmdb.h>

#include "qlm_store.h"


#define QLM_STORE_FORMAT          2       /* items, records of version 2 */
#define QLM_STORE_FORMAT_V1       1       /* read, and marked 2 on a write */
#define QLM_STORE_ITEM_V1         1
#define QLM_STORE_ITEM_V2         2       /* varints, names as codes */
#define QLM_STORE_LOG_V1          1
#define QLM_STORE_LOG_V2          2       /* V1 and the receiver's answer */
#define QLM_STORE_RECORD_V1       1
#define QLM_STORE_RECORD_V2       2       /* varints, names as codes */

#define QLM_STORE_MAP_SIZE        (64 * 1024 * 1024)
#define QLM_STORE_LOG_MAX         100000
#define QLM_STORE_LOG_STEP        16      /* retention work per append */
#define QLM_STORE_TRIM_STEP       512     /* deletions per trim txn */
#define QLM_STORE_COUNTER_MAX     200     /* counter name length */
#define QLM_STORE_RECORD_FIELDS   256     /* fields of a mirror record */

/*
 * LMDB's freelist DB: key txnid, value an ID list whose first word is its
 * length (the layout mdb_stat reads); the handle is always 0.
 */
#define QLM_STORE_FREE_DBI        0

#define QLM_STORE_ITEM_FIXED      (1 + 4 * 8 + 2 * 4)
#define QLM_STORE_LOG_FIXED       (1 + 8 + 4 * 4)
#define QLM_STORE_STR_OVERHEAD    (4 + 1)
#define QLM_STORE_VSTR_OVERHEAD   (10 + 1)

/* the items of an event whose ids and leases fit in the caller's buffer */
#define QLM_STORE_IDS_INLINE      8

/* qlm_store_item_write()'s flags */
#define QLM_STORE_W_RESERVE       1       /* encoded into the page */
#define QLM_STORE_W_APPEND        2       /* a new id: the largest key */


/* where a body is packed or unpacked: grows, reused, freed by its owner */
typedef struct {
    unsigned char        *data;
    size_t                size;
    unsigned              nomem;
} qlm_store_scratch_t;


struct qlm_store_s {
    MDB_env              *env;
    MDB_dbi               meta;
    MDB_dbi               items;
    MDB_dbi               sched;
    MDB_dbi               dead;
    MDB_dbi               log;
    MDB_dbi               seen;       /* key -> expiry */
    MDB_dbi               seenx;      /* expiry || key -> nothing */
    MDB_dbi               mirror[2];  /* licenses, customers: key -> record */
    MDB_dbi               tasks;      /* task name -> slot state */
    MDB_dbi               paused_dbi; /* url -> since, by */
    unsigned              has_paused; /* 0: a store from before that table,
                                         opened read-only */
    size_t                psize;
    off_t                 allocated;  /* write_map: the data file's
                                         allocated end, as far as this
                                         process knows */
    int                   fd;         /* the data file */
    unsigned              no_sync;
    unsigned              read_only;
    unsigned              write_map;
    uint64_t              log_max_records;
    uint64_t              log_max_age;

    /*
     * A write txn's buffers: a packed body, a record built aside.  LMDB
     * lets a process have one write txn at a time (its writer lock), and
     * they are used inside one only: no two threads use them at once.
     */
    qlm_store_scratch_t   wpack;
    qlm_store_scratch_t   wrec;
    qlm_store_field_t    *wmerged;    /* a mirror upsert's fields */

    /*
     * A read txn kept reset between reads (qlm_store_read_begin()), and
     * the fields of a mirror record read in it; rbusy: taken.
     */
    MDB_txn              *rtxn;
    qlm_store_field_t    *rfields;
    int                   rbusy;

    /*
     * The handle's transactions open now, in all threads, and its syncs:
     * a map grown by another process is adopted only at 0 (LMDB moves the
     * map; an open read would read the old one).  QLM_STORE_MOVING while
     * it is adopted.
     */
    int                   txns;
};


#define QLM_STORE_MOVING  (-0x40000000)


/* a bounds-checked reader over one record */
typedef struct {
    const unsigned char  *pos;
    const unsigned char  *end;
    int                   error;
} qlm_store_buf_t;


/* the sequences and counters a batch keeps in memory until its commit */
#define QLM_STORE_SEQ_ID          0
#define QLM_STORE_SEQ_LEASE       1
#define QLM_STORE_SEQ_LOG         2
#define QLM_STORE_NSEQ            3

#define QLM_STORE_C_ENQUEUED      0
#define QLM_STORE_C_DELIVERED     1
#define QLM_STORE_C_RETRIED       2
#define QLM_STORE_C_DEAD          3
#define QLM_STORE_C_ATTEMPTS      4
#define QLM_STORE_C_LOG_DROPPED   5
#define QLM_STORE_NCOUNTERS       6

/* the cursors a batch keeps: items, the mirror's two tables, and so on */
#define QLM_STORE_CUR_ITEMS       0
#define QLM_STORE_CUR_MIRROR      1
#define QLM_STORE_CUR_META        3
#define QLM_STORE_CUR_SCHED       4
#define QLM_STORE_CUR_LOG         5
#define QLM_STORE_NCURSORS        6


/* one write transaction, from qlm_store_write_begin() to its commit */
struct qlm_store_write_s {
    qlm_store_t        *st;
    MDB_txn            *txn;
    int                 error;      /* the first hard error: poisoned */
    size_t              room;       /* free pages at the last count */
    size_t              counted;    /* ... counted up to this many */
    size_t              maxpg;      /* the map, in pages */
    size_t              spent;      /* bytes the ops were charged */
    unsigned            seq_read;   /* a bit per sequence read */
    uint64_t            seq[QLM_STORE_NSEQ];
    uint64_t            seq_base[QLM_STORE_NSEQ];
    uint64_t            count[QLM_STORE_NCOUNTERS];
    MDB_cursor         *cur[QLM_STORE_NCURSORS];
                                    /* opened at first use, closed by
                                       LMDB at the txn's end */
};


/* qlm_store_env.c */

int qlm_store_txn_begin(qlm_store_t *st, unsigned flags, MDB_txn **txn);
int qlm_store_read_begin(qlm_store_t *st, MDB_txn **txn, unsigned *kept);
void qlm_store_read_end(qlm_store_t *st, MDB_txn *txn, unsigned kept);
int qlm_store_rc(int rc);
int qlm_store_commit(MDB_txn *txn);
void qlm_store_abort(MDB_txn *txn);
int qlm_store_prealloc(qlm_store_t *st, size_t extra);
int qlm_store_free_pages(qlm_store_t *st, size_t want, size_t *room,
    size_t *maxpg);
int qlm_store_full_retry(qlm_store_t *st);
int qlm_store_meta_get_u64(qlm_store_t *st, MDB_txn *txn, const char *name,
    uint64_t *value);
int qlm_store_meta_put_u64(qlm_store_t *st, MDB_txn *txn, const char *name,
    uint64_t value);
int qlm_store_meta_u64(const MDB_val *val, uint64_t *value);
int qlm_store_seq_next(qlm_store_t *st, MDB_txn *txn, const char *name,
    uint64_t *value);

/* qlm_store_codec.c */

void qlm_store_put_str(unsigned char **p, const qlm_store_str_t *s);
void qlm_store_put_vstr(unsigned char **p, const qlm_store_str_t *s);
uint64_t qlm_store_varint(qlm_store_buf_t *b);
uint32_t qlm_store_get_u32(qlm_store_buf_t *b);
uint64_t qlm_store_get_u64(qlm_store_buf_t *b);
int qlm_store_str_eq(const qlm_store_str_t *a, const qlm_store_str_t *b);
int qlm_store_item_size(const qlm_store_item_t *item, size_t *size);
int qlm_store_item_decode(uint64_t id, const MDB_val *val,
    qlm_store_item_t *item, qlm_store_scratch_t *sc);
int qlm_store_scratch_grow(qlm_store_scratch_t *sc, size_t size);
void qlm_store_scratch_free(qlm_store_scratch_t *sc);
int qlm_store_item_write(qlm_store_t *st, MDB_txn *txn, MDB_dbi dbi,
    MDB_cursor *cur, const qlm_store_item_t *item, unsigned flags);
int qlm_store_item_copy(const qlm_store_item_t *item,
    qlm_store_item_t **out);
int qlm_store_log_size(const qlm_store_log_t *log, size_t *size);
int qlm_store_log_decode(const MDB_val *key, const MDB_val *val,
    qlm_store_log_t *log);
int qlm_store_record_size(const qlm_store_record_t *rec,
    const qlm_store_field_t *fields, size_t n, unsigned char *codes,
    size_t *size);
void qlm_store_record_encode(const qlm_store_record_t *rec,
    const qlm_store_field_t *fields, size_t n, const unsigned char *codes,
    unsigned char *p);
int qlm_store_record_decode(const MDB_val *key, const MDB_val *val,
    qlm_store_record_t *rec, qlm_store_field_t *fields);
int qlm_store_task_decode(const MDB_val *val, qlm_store_task_t *task);

/* qlm_store_queue.c */

int qlm_store_sched_put(qlm_store_t *st, MDB_txn *txn, MDB_cursor *cur,
    uint64_t time, uint64_t id);
int qlm_store_write_items(qlm_store_write_t *w,
    const qlm_store_item_t *items, size_t n, int table,
    const qlm_store_record_t *rec, uint64_t *buf, uint64_t **ids);

/* qlm_store_dead.c */

int qlm_store_replay_one(qlm_store_t *st, MDB_txn *txn, uint64_t id,
    const MDB_val *val, uint64_t now);

/* qlm_store_log.c */

int qlm_store_log_txn(qlm_store_write_t *w, const qlm_store_log_t *log);
int qlm_store_log_done(qlm_store_write_t *w, const qlm_store_log_t *log,
    unsigned dropped);

/* qlm_store_counter.c */

int qlm_store_counter_txn(qlm_store_t *st, MDB_txn *txn, const char *name,
    uint64_t delta);

/* qlm_store_mirror.c */

int qlm_store_record_ok(const qlm_store_record_t *rec);
int qlm_store_mirror_upsert_txn(qlm_store_t *st, MDB_txn *txn, int table,
    const qlm_store_record_t *rec, qlm_store_field_t *merged,
    MDB_cursor *cur);


/* qlm_store_write.c */

int qlm_store_write_seq(qlm_store_write_t *w, unsigned seq, uint64_t *value);
int qlm_store_write_room(qlm_store_write_t *w, size_t bytes, size_t pages,
    size_t div);
void qlm_store_write_count(qlm_store_write_t *w, unsigned counter,
    uint64_t n);
int qlm_store_write_cursor(qlm_store_write_t *w, unsigned which,
    MDB_dbi dbi, MDB_cursor **cur);


/*
 * The codec's smallest helpers, inline: every record, key and counter goes
 * through them, several times an op, from every file of the library.
 */

static inline void
qlm_store_put_u32(unsigned char **p, uint32_t v)
{
    unsigned char  *b;

    b = *p;

    b[0] = (unsigned char) v;
    b[1] = (unsigned char) (v >> 8);
    b[2] = (unsigned char) (v >> 16);
    b[3] = (unsigned char) (v >> 24);

    *p = b + 4;
}


static inline void
qlm_store_put_u64(unsigned char **p, uint64_t v)
{
    qlm_store_put_u32(p, (uint32_t) v);
    qlm_store_put_u32(p, (uint32_t) (v >> 32));
}


/* LEB128: 7 bits a byte, low first, the high bit says "more" */

static inline size_t
qlm_store_varint_size(uint64_t v)
{
    size_t  n;

    for (n = 1; v >= 0x80; n++) {
        v >>= 7;
    }

    return n;
}


static inline void
qlm_store_put_varint(unsigned char **p, uint64_t v)
{
    unsigned char  *b;

    b = *p;

    while (v >= 0x80) {
        *b++ = (unsigned char) (v | 0x80);
        v >>= 7;
    }

    *b++ = (unsigned char) v;

    *p = b;
}


/* spelled out byte by byte: compilers make one byte swap of it */

static inline void
qlm_store_be64(unsigned char *p, uint64_t v)
{
    p[0] = (unsigned char) (v >> 56);
    p[1] = (unsigned char) (v >> 48);
    p[2] = (unsigned char) (v >> 40);
    p[3] = (unsigned char) (v >> 32);
    p[4] = (unsigned char) (v >> 24);
    p[5] = (unsigned char) (v >> 16);
    p[6] = (unsigned char) (v >> 8);
    p[7] = (unsigned char) v;
}


static inline uint64_t
qlm_store_get_be64(const unsigned char *p)
{
    return (uint64_t) p[0] << 56 | (uint64_t) p[1] << 48
           | (uint64_t) p[2] << 40 | (uint64_t) p[3] << 32
           | (uint64_t) p[4] << 24 | (uint64_t) p[5] << 16
           | (uint64_t) p[6] << 8 | (uint64_t) p[7];
}


/*
 * A put through a batch's cursor on dbi when there is one: mdb_put() sets
 * up a cursor of its own for each call.
 */

static inline int
qlm_store_put(MDB_txn *txn, MDB_dbi dbi, MDB_cursor *cur, MDB_val *key,
    MDB_val *val, unsigned flags)
{
    if (cur) {
        return mdb_cursor_put(cur, key, val, flags);
    }

    return mdb_put(txn, dbi, key, val, flags);
}


static inline int
qlm_store_str_ok(const qlm_store_str_t *s)
{
    return (s->len == 0 || s->data != NULL) && s->len < UINT32_MAX;
}


#endif /* _QLM_STORE_INT_H_INCLUDED_ */
