
/*
 * qlm_store: the durable side of ngx_qlm_webhook_module, on LMDB.
 *
 * Layout, all in one environment:
 *
 *   meta    "format" -> u32; "seq:id", "seq:lease", "seq:log" -> u64;
 *           "c:<name>" -> u64 counters
 *   items   be64 id -> item record
 *   sched   be64 time | be64 id -> empty; time is the due time of an
 *           unclaimed item and the lease expiry of a claimed one
 *   dead    be64 id -> item record
 *   log     be64 time | be64 seq -> log record
 *
 * Keys are big-endian so LMDB's default memcmp() order is numeric order.
 * Records are little-endian, versioned by their first byte; strings are a
 * u32 length, the bytes and a NUL, so that strings handed out from the map
 * are NUL-terminated too.
 */


#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <lmdb.h>

#include "qlm_store.h"


#define QLM_STORE_FORMAT          1
#define QLM_STORE_ITEM_V1         1
#define QLM_STORE_LOG_V1          1

#define QLM_STORE_MAP_SIZE        (64 * 1024 * 1024)
#define QLM_STORE_LOG_MAX         100000
#define QLM_STORE_LOG_STEP        16      /* retention work per append */
#define QLM_STORE_TRIM_STEP       4096    /* deletions per trim txn */
#define QLM_STORE_COUNTER_MAX     200     /* counter name length */

/*
 * LMDB's freelist DB: key txnid, value an ID list whose first word is its
 * length (the layout mdb_stat reads); the handle is always 0.
 */
#define QLM_STORE_FREE_DBI        0

#define QLM_STORE_ITEM_FIXED      (1 + 4 * 8 + 2 * 4)
#define QLM_STORE_LOG_FIXED       (1 + 8 + 4 * 4)
#define QLM_STORE_STR_OVERHEAD    (4 + 1)


struct qlm_store_s {
    MDB_env          *env;
    MDB_dbi           meta;
    MDB_dbi           items;
    MDB_dbi           sched;
    MDB_dbi           dead;
    MDB_dbi           log;
    MDB_dbi           seen;       /* key -> expiry */
    MDB_dbi           seenx;      /* expiry || key -> nothing */
    MDB_dbi           mirror[2];  /* licenses, customers: key -> record */
    MDB_dbi           tasks;      /* task name -> slot state */
    size_t            psize;
    unsigned          no_sync;
    unsigned          read_only;
    uint64_t          log_max_records;
    uint64_t          log_max_age;
};


/* a bounds-checked reader over one record */
typedef struct {
    const unsigned char  *pos;
    const unsigned char  *end;
    int                   error;
} qlm_store_buf_t;


static int qlm_store_txn_begin(qlm_store_t *st, unsigned flags,
    MDB_txn **txn);
static int qlm_store_rc(int rc);
static int qlm_store_commit(MDB_txn *txn);

static void qlm_store_put_u32(unsigned char **p, uint32_t v);
static void qlm_store_put_u64(unsigned char **p, uint64_t v);
static void qlm_store_put_str(unsigned char **p, const qlm_store_str_t *s);
static uint32_t qlm_store_get_u32(qlm_store_buf_t *b);
static uint64_t qlm_store_get_u64(qlm_store_buf_t *b);
static void qlm_store_get_str(qlm_store_buf_t *b, qlm_store_str_t *s);
static void qlm_store_be64(unsigned char *p, uint64_t v);
static uint64_t qlm_store_get_be64(const unsigned char *p);
static int qlm_store_str_ok(const qlm_store_str_t *s);

static int qlm_store_item_size(const qlm_store_item_t *item, size_t *size);
static void qlm_store_item_encode(const qlm_store_item_t *item,
    unsigned char *p);
static int qlm_store_item_decode(uint64_t id, const MDB_val *val,
    qlm_store_item_t *item);
static int qlm_store_item_write(MDB_txn *txn, MDB_dbi dbi,
    const qlm_store_item_t *item, unsigned reserve);
static int qlm_store_item_copy(const qlm_store_item_t *item,
    qlm_store_item_t **out);
static int qlm_store_log_size(const qlm_store_log_t *log, size_t *size);
static int qlm_store_log_decode(const MDB_val *key, const MDB_val *val,
    qlm_store_log_t *log);

static int qlm_store_seq_next(qlm_store_t *st, MDB_txn *txn,
    const char *name, uint64_t *value);
static int qlm_store_meta_get_u64(qlm_store_t *st, MDB_txn *txn,
    const char *name, uint64_t *value);
static int qlm_store_meta_put_u64(qlm_store_t *st, MDB_txn *txn,
    const char *name, uint64_t value);
static int qlm_store_counter_txn(qlm_store_t *st, MDB_txn *txn,
    const char *name, uint64_t delta);
static int qlm_store_sched_put(qlm_store_t *st, MDB_txn *txn, uint64_t time,
    uint64_t id);
static int qlm_store_sched_del(qlm_store_t *st, MDB_txn *txn, uint64_t time,
    uint64_t id);
static int qlm_store_leased(qlm_store_t *st, MDB_txn *txn, uint64_t id,
    uint64_t lease, qlm_store_item_t *item);
static int qlm_store_log_txn(qlm_store_t *st, MDB_txn *txn,
    const qlm_store_log_t *log);
static int qlm_store_log_expire(qlm_store_t *st, MDB_txn *txn,
    uint64_t now, size_t max, unsigned force, size_t *removed);
static int qlm_store_log_match(const qlm_store_log_filter_t *f,
    const qlm_store_log_t *log);
static int qlm_store_str_eq(const qlm_store_str_t *a,
    const qlm_store_str_t *b);
static int qlm_store_init(qlm_store_t *st);
static int qlm_store_room(qlm_store_t *st, size_t bytes, size_t div);
static int qlm_store_log_room(qlm_store_t *st, const qlm_store_log_t **log);
static int qlm_store_log_done(qlm_store_t *st, MDB_txn *txn,
    const qlm_store_log_t *log, int room);
static int qlm_store_replay_one(qlm_store_t *st, MDB_txn *txn,
    uint64_t id, const MDB_val *val, uint64_t now);


const char *
qlm_store_strerror(int rc)
{
    switch (rc) {

    case 0:
        return "success";

    case QLM_STORE_NOTFOUND:
        return "no such item";

    case QLM_STORE_FULL:
        return "store is full (map size reached)";

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

    rc = qlm_store_init(st);
    if (rc != 0) {
        goto failed;
    }

    rc = mdb_env_stat(st->env, &ms);
    if (rc != 0) {
        goto failed;
    }

    st->psize = ms.ms_psize;

    *stp = st;

    return 0;

failed:

    mdb_env_close(st->env);
    free(st);

    return qlm_store_rc(rc);
}


static int
qlm_store_init(qlm_store_t *st)
{
    int               rc;
    MDB_val           key, val;
    MDB_dbi          *dbis[10];
    MDB_txn          *txn;
    unsigned          i, create;
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

    create = st->read_only ? 0 : MDB_CREATE;

    rc = qlm_store_txn_begin(st, st->read_only ? MDB_RDONLY : 0, &txn);
    if (rc != 0) {
        return rc;
    }

    for (i = 0; i < 10; i++) {
        rc = mdb_dbi_open(txn, names[i], create, dbis[i]);

        if (rc == MDB_NOTFOUND) {
            /* read-only, and not a store of ours */
            rc = QLM_STORE_INCOMPATIBLE;
        }

        if (rc != 0) {
            goto failed;
        }
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

        if (format != QLM_STORE_FORMAT) {
            rc = QLM_STORE_INCOMPATIBLE;
            goto failed;
        }

    } else if (rc == MDB_NOTFOUND && !st->read_only) {
        unsigned char   buf[4], *p;

        p = buf;
        qlm_store_put_u32(&p, QLM_STORE_FORMAT);

        val.mv_data = buf;
        val.mv_size = sizeof(buf);

        rc = mdb_put(txn, st->meta, &key, &val, 0);
        if (rc != 0) {
            goto failed;
        }

    } else {
        if (rc == MDB_NOTFOUND) {
            rc = QLM_STORE_INCOMPATIBLE;
        }

        goto failed;
    }

    /* committing keeps the DB handles, for a read txn too */

    return qlm_store_commit(txn);

failed:

    mdb_txn_abort(txn);

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

    mdb_env_close(st->env);
    free(st);
}


int
qlm_store_sync(qlm_store_t *st)
{
    if (st == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return 0;
    }

    return mdb_env_sync(st->env, 1);
}


int
qlm_store_reader_check(qlm_store_t *st, int *dead)
{
    if (st == NULL) {
        return QLM_STORE_INVALID;
    }

    return mdb_reader_check(st->env, dead);
}


static int
qlm_store_txn_begin(qlm_store_t *st, unsigned flags, MDB_txn **txn)
{
    int  rc;

    rc = mdb_txn_begin(st->env, NULL, flags, txn);

    if (rc == MDB_MAP_RESIZED) {
        /* another process grew the map: adopt its size */

        rc = mdb_env_set_mapsize(st->env, 0);
        if (rc != 0) {
            return rc;
        }

        rc = mdb_txn_begin(st->env, NULL, flags, txn);
    }

    return qlm_store_rc(rc);
}


static int
qlm_store_rc(int rc)
{
    return (rc == MDB_MAP_FULL) ? QLM_STORE_FULL : rc;
}


/* a failed commit frees the txn: nothing was written */

static int
qlm_store_commit(MDB_txn *txn)
{
    return qlm_store_rc(mdb_txn_commit(txn));
}


/* encoding */

static void
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


static void
qlm_store_put_u64(unsigned char **p, uint64_t v)
{
    qlm_store_put_u32(p, (uint32_t) v);
    qlm_store_put_u32(p, (uint32_t) (v >> 32));
}


static void
qlm_store_put_str(unsigned char **p, const qlm_store_str_t *s)
{
    qlm_store_put_u32(p, (uint32_t) s->len);

    if (s->len) {
        memcpy(*p, s->data, s->len);
        *p += s->len;
    }

    **p = '\0';
    *p += 1;
}


static uint32_t
qlm_store_get_u32(qlm_store_buf_t *b)
{
    uint32_t  v;

    if (b->error || b->end - b->pos < 4) {
        b->error = 1;
        return 0;
    }

    v = (uint32_t) b->pos[0]
        | (uint32_t) b->pos[1] << 8
        | (uint32_t) b->pos[2] << 16
        | (uint32_t) b->pos[3] << 24;

    b->pos += 4;

    return v;
}


static uint64_t
qlm_store_get_u64(qlm_store_buf_t *b)
{
    uint64_t  lo, hi;

    lo = qlm_store_get_u32(b);
    hi = qlm_store_get_u32(b);

    return lo | hi << 32;
}


static void
qlm_store_get_str(qlm_store_buf_t *b, qlm_store_str_t *s)
{
    uint32_t  len;

    len = qlm_store_get_u32(b);

    s->len = 0;
    s->data = "";

    if (b->error) {
        return;
    }

    if ((size_t) (b->end - b->pos) < (size_t) len + 1
        || b->pos[len] != '\0')
    {
        b->error = 1;
        return;
    }

    s->len = len;
    s->data = (const char *) b->pos;

    b->pos += (size_t) len + 1;
}


static void
qlm_store_be64(unsigned char *p, uint64_t v)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char) v;
        v >>= 8;
    }
}


static uint64_t
qlm_store_get_be64(const unsigned char *p)
{
    int       i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }

    return v;
}


static int
qlm_store_str_ok(const qlm_store_str_t *s)
{
    return (s->len == 0 || s->data != NULL) && s->len < UINT32_MAX;
}


static int
qlm_store_item_size(const qlm_store_item_t *item, size_t *size)
{
    size_t                  n;
    unsigned                i;
    const qlm_store_str_t  *s[6];

    s[0] = &item->event_id;
    s[1] = &item->event;
    s[2] = &item->url;
    s[3] = &item->headers;
    s[4] = &item->body;
    s[5] = &item->last_error;

    n = QLM_STORE_ITEM_FIXED;

    for (i = 0; i < 6; i++) {
        if (!qlm_store_str_ok(s[i])
            || s[i]->len > SIZE_MAX / 2 - n - QLM_STORE_STR_OVERHEAD)
        {
            return QLM_STORE_INVALID;
        }

        n += s[i]->len + QLM_STORE_STR_OVERHEAD;
    }

    *size = n;

    return 0;
}


static void
qlm_store_item_encode(const qlm_store_item_t *item, unsigned char *p)
{
    *p++ = QLM_STORE_ITEM_V1;

    qlm_store_put_u64(&p, item->lease);
    qlm_store_put_u64(&p, item->due);
    qlm_store_put_u64(&p, item->created);
    qlm_store_put_u64(&p, item->updated);
    qlm_store_put_u32(&p, item->attempt);
    qlm_store_put_u32(&p, (uint32_t) item->last_status);
    qlm_store_put_str(&p, &item->event_id);
    qlm_store_put_str(&p, &item->event);
    qlm_store_put_str(&p, &item->url);
    qlm_store_put_str(&p, &item->headers);
    qlm_store_put_str(&p, &item->body);
    qlm_store_put_str(&p, &item->last_error);
}


static int
qlm_store_item_decode(uint64_t id, const MDB_val *val, qlm_store_item_t *item)
{
    qlm_store_buf_t  b;

    b.pos = val->mv_data;
    b.end = b.pos + val->mv_size;
    b.error = 0;

    if (val->mv_size < QLM_STORE_ITEM_FIXED || *b.pos != QLM_STORE_ITEM_V1) {
        return QLM_STORE_CORRUPT;
    }

    b.pos++;

    item->id = id;
    item->lease = qlm_store_get_u64(&b);
    item->due = qlm_store_get_u64(&b);
    item->created = qlm_store_get_u64(&b);
    item->updated = qlm_store_get_u64(&b);
    item->attempt = qlm_store_get_u32(&b);
    item->last_status = (int32_t) qlm_store_get_u32(&b);
    qlm_store_get_str(&b, &item->event_id);
    qlm_store_get_str(&b, &item->event);
    qlm_store_get_str(&b, &item->url);
    qlm_store_get_str(&b, &item->headers);
    qlm_store_get_str(&b, &item->body);
    qlm_store_get_str(&b, &item->last_error);

    if (b.error || b.pos != b.end) {
        return QLM_STORE_CORRUPT;
    }

    return 0;
}


/*
 * With "reserve" the item is encoded straight into the page; that is only
 * safe when its strings are not in the map: a put may move or free the
 * page a value read in the same txn lives in.  Otherwise it is encoded
 * into a buffer first.
 */

static int
qlm_store_item_write(MDB_txn *txn, MDB_dbi dbi, const qlm_store_item_t *item,
    unsigned reserve)
{
    int             rc;
    size_t          size;
    MDB_val         key, val;
    unsigned char   id[8], *buf;

    rc = qlm_store_item_size(item, &size);
    if (rc != 0) {
        return rc;
    }

    qlm_store_be64(id, item->id);

    key.mv_data = id;
    key.mv_size = sizeof(id);
    val.mv_size = size;

    if (reserve) {
        val.mv_data = NULL;

        rc = mdb_put(txn, dbi, &key, &val, MDB_RESERVE);
        if (rc != 0) {
            return qlm_store_rc(rc);
        }

        qlm_store_item_encode(item, val.mv_data);

        return 0;
    }

    buf = malloc(size);
    if (buf == NULL) {
        return ENOMEM;
    }

    qlm_store_item_encode(item, buf);

    val.mv_data = buf;

    rc = mdb_put(txn, dbi, &key, &val, 0);

    free(buf);

    return qlm_store_rc(rc);
}


/* one allocation: the struct, then each string with its NUL */

static int
qlm_store_item_copy(const qlm_store_item_t *item, qlm_store_item_t **out)
{
    char                   *p;
    size_t                  size;
    unsigned                i;
    qlm_store_item_t       *copy;
    qlm_store_str_t        *d[6];
    const qlm_store_str_t  *s[6];

    size = sizeof(qlm_store_item_t);

    s[0] = &item->event_id;
    s[1] = &item->event;
    s[2] = &item->url;
    s[3] = &item->headers;
    s[4] = &item->body;
    s[5] = &item->last_error;

    for (i = 0; i < 6; i++) {
        size += s[i]->len + 1;
    }

    copy = malloc(size);
    if (copy == NULL) {
        return ENOMEM;
    }

    *copy = *item;

    d[0] = &copy->event_id;
    d[1] = &copy->event;
    d[2] = &copy->url;
    d[3] = &copy->headers;
    d[4] = &copy->body;
    d[5] = &copy->last_error;

    p = (char *) (copy + 1);

    for (i = 0; i < 6; i++) {
        if (s[i]->len) {
            memcpy(p, s[i]->data, s[i]->len);
        }

        p[s[i]->len] = '\0';

        d[i]->data = p;
        d[i]->len = s[i]->len;

        p += s[i]->len + 1;
    }

    *out = copy;

    return 0;
}


void
qlm_store_item_free(qlm_store_item_t *item)
{
    free(item);
}


static int
qlm_store_log_size(const qlm_store_log_t *log, size_t *size)
{
    size_t                  n;
    unsigned                i;
    const qlm_store_str_t  *s[4];

    s[0] = &log->event_id;
    s[1] = &log->event;
    s[2] = &log->url;
    s[3] = &log->error;

    n = QLM_STORE_LOG_FIXED;

    for (i = 0; i < 4; i++) {
        if (!qlm_store_str_ok(s[i])
            || s[i]->len > SIZE_MAX / 2 - n - QLM_STORE_STR_OVERHEAD)
        {
            return QLM_STORE_INVALID;
        }

        n += s[i]->len + QLM_STORE_STR_OVERHEAD;
    }

    *size = n;

    return 0;
}


static int
qlm_store_log_decode(const MDB_val *key, const MDB_val *val,
    qlm_store_log_t *log)
{
    qlm_store_buf_t  b;

    if (key->mv_size != 16) {
        return QLM_STORE_CORRUPT;
    }

    b.pos = val->mv_data;
    b.end = b.pos + val->mv_size;
    b.error = 0;

    if (val->mv_size < QLM_STORE_LOG_FIXED || *b.pos != QLM_STORE_LOG_V1) {
        return QLM_STORE_CORRUPT;
    }

    b.pos++;

    log->time = qlm_store_get_be64(key->mv_data);
    log->item_id = qlm_store_get_u64(&b);
    log->attempt = qlm_store_get_u32(&b);
    log->status = (int32_t) qlm_store_get_u32(&b);
    log->duration = qlm_store_get_u32(&b);
    log->outcome = qlm_store_get_u32(&b);
    qlm_store_get_str(&b, &log->event_id);
    qlm_store_get_str(&b, &log->event);
    qlm_store_get_str(&b, &log->url);
    qlm_store_get_str(&b, &log->error);

    if (b.error || b.pos != b.end) {
        return QLM_STORE_CORRUPT;
    }

    return 0;
}


/* meta */

static int
qlm_store_meta_get_u64(qlm_store_t *st, MDB_txn *txn, const char *name,
    uint64_t *value)
{
    int              rc;
    MDB_val          key, val;
    qlm_store_buf_t  b;

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

    if (val.mv_size != 8) {
        return QLM_STORE_CORRUPT;
    }

    b.pos = val.mv_data;
    b.end = b.pos + 8;
    b.error = 0;

    *value = qlm_store_get_u64(&b);

    return 0;
}


static int
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

static int
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


static int
qlm_store_counter_txn(qlm_store_t *st, MDB_txn *txn, const char *name,
    uint64_t delta)
{
    int       rc;
    size_t    len;
    uint64_t  v;
    char      key[2 + QLM_STORE_COUNTER_MAX + 1];

    len = strlen(name);

    if (len == 0 || len > QLM_STORE_COUNTER_MAX) {
        return QLM_STORE_INVALID;
    }

    key[0] = 'c';
    key[1] = ':';
    memcpy(key + 2, name, len + 1);

    rc = qlm_store_meta_get_u64(st, txn, key, &v);
    if (rc != 0) {
        return rc;
    }

    return qlm_store_meta_put_u64(st, txn, key, v + delta);
}


static int
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


/*
 * New items may only take the map down to a reserve of free pages: LMDB
 * copies pages on write, so a claim, an ack or even a delete needs free
 * pages, and a map filled to the last page could never drain.  Free pages
 * are those past the last used one plus those on the freelist; the
 * freelist is walked only when the tail alone is not enough, in a read txn
 * (LMDB allows no cursor on it in a write txn).  It is an estimate made
 * before the write txn: another process may write in between.
 */

static int
qlm_store_room(qlm_store_t *st, size_t bytes, size_t div)
{
    int           rc;
    size_t        maxpg, used, room, reserve, need;
    MDB_val       key, val;
    MDB_txn      *txn;
    MDB_envinfo   info;
    MDB_cursor   *cur;

    rc = mdb_env_info(st->env, &info);
    if (rc != 0) {
        return rc;
    }

    maxpg = info.me_mapsize / st->psize;
    used = info.me_last_pgno + 1;
    room = (maxpg > used) ? maxpg - used : 0;

    reserve = maxpg / 32;

    if (reserve < 32) {
        reserve = 32;

    } else if (reserve > 2048) {
        reserve = 2048;
    }

    /* a tree may grow by a page per leaf page written, and a split more */

    need = reserve / div + 2 * (bytes / st->psize) + 4;

    if (room >= need) {
        return 0;
    }

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_open(txn, QLM_STORE_FREE_DBI, &cur);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
         rc == 0 && room < need;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (val.mv_size >= sizeof(size_t)) {
            room += *(size_t *) val.mv_data;
        }
    }

    mdb_cursor_close(cur);
    mdb_txn_abort(txn);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }

    return (room >= need) ? 0 : QLM_STORE_FULL;
}


/* queue */

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


/* more work of the same transaction as an enqueue */
typedef int (*qlm_store_also_pt)(qlm_store_t *st, MDB_txn *txn, void *data);


/*
 * n items (n may be 0) and, when also is not NULL, more work, in one
 * transaction: all or nothing; the items' ids are set once it holds.
 */

static int
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


int
qlm_store_claim(qlm_store_t *st, uint64_t now, uint64_t lease_ms,
    qlm_store_item_t **out, size_t max, size_t *n)
{
    int                rc;
    size_t             i, k, found;
    uint64_t           expiry, *ids, *times;
    MDB_val            key, val;
    MDB_txn           *txn;
    MDB_cursor        *cur;
    unsigned char      id[8];
    qlm_store_item_t   item;

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

    /*
     * The keys are collected first and moved afterwards: a moved key may
     * sort after the cursor again (a zero lease), and must not be seen twice.
     */

    ids = malloc(2 * max * sizeof(uint64_t));
    if (ids == NULL) {
        return ENOMEM;
    }

    times = ids + max;

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        free(ids);
        return rc;
    }

    rc = mdb_cursor_open(txn, st->sched, &cur);
    if (rc != 0) {
        goto failed;
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
        goto failed;
    }

    for (i = 0, k = 0; i < found; i++) {
        qlm_store_be64(id, ids[i]);

        key.mv_data = id;
        key.mv_size = sizeof(id);

        rc = mdb_get(txn, st->items, &key, &val);

        if (rc != 0 && rc != MDB_NOTFOUND) {
            goto failed;
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
                goto failed;
            }

            rc = mdb_del(txn, st->items, &key, NULL);
            if (rc != 0 && rc != MDB_NOTFOUND) {
                goto failed;
            }

            rc = qlm_store_counter_txn(st, txn, "corrupt", 1);
            if (rc != 0) {
                goto failed;
            }

            continue;
        }

        /* a new token makes the holder of an expired lease stale */

        rc = qlm_store_seq_next(st, txn, "seq:lease", &item.lease);
        if (rc != 0) {
            goto failed;
        }

        item.due = expiry;
        item.updated = now;

        /* the copy is made before the write, which may move val */

        rc = qlm_store_item_copy(&item, &out[k]);
        if (rc != 0) {
            goto failed;
        }

        *n = ++k;

        rc = qlm_store_item_write(txn, st->items, out[k - 1], 1);
        if (rc != 0) {
            goto failed;
        }

        rc = qlm_store_sched_del(st, txn, times[i], ids[i]);
        if (rc != 0) {
            goto failed;
        }

        rc = qlm_store_sched_put(st, txn, expiry, ids[i]);
        if (rc != 0) {
            goto failed;
        }
    }

    free(ids);

    rc = qlm_store_commit(txn);
    if (rc != 0) {
        goto freed;
    }

    return 0;

failed:

    mdb_txn_abort(txn);
    free(ids);

freed:

    for (i = 0; i < *n; i++) {
        qlm_store_item_free(out[i]);
        out[i] = NULL;
    }

    *n = 0;

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


int
qlm_store_ack(qlm_store_t *st, uint64_t id, uint64_t lease,
    const qlm_store_log_t *log)
{
    int                rc, room;
    MDB_val            key;
    MDB_txn           *txn;
    unsigned char      buf[8];
    qlm_store_item_t   item;

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

    rc = qlm_store_leased(st, txn, id, lease, &item);
    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_sched_del(st, txn, item.due, id);
    if (rc != 0) {
        goto failed;
    }

    qlm_store_be64(buf, id);

    key.mv_data = buf;
    key.mv_size = sizeof(buf);

    rc = qlm_store_rc(mdb_del(txn, st->items, &key, NULL));
    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_log_done(st, txn, log, room);
    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_counter_txn(st, txn, "delivered", 1);
    if (rc != 0) {
        goto failed;
    }

    return qlm_store_commit(txn);

failed:

    mdb_txn_abort(txn);

    return rc;
}


int
qlm_store_reschedule(qlm_store_t *st, uint64_t id, uint64_t lease,
    uint64_t due, uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log)
{
    int                rc, room;
    MDB_txn           *txn;
    qlm_store_item_t   item;

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

    rc = qlm_store_leased(st, txn, id, lease, &item);
    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_sched_del(st, txn, item.due, id);
    if (rc != 0) {
        goto failed;
    }

    item.lease = 0;
    item.due = due;
    item.attempt = attempt;
    item.last_status = status;
    item.last_error = error;
    item.updated = log ? log->time : due;

    rc = qlm_store_item_write(txn, st->items, &item, 0);
    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_sched_put(st, txn, due, id);
    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_log_done(st, txn, log, room);
    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_counter_txn(st, txn, "retried", 1);
    if (rc != 0) {
        goto failed;
    }

    return qlm_store_commit(txn);

failed:

    mdb_txn_abort(txn);

    return rc;
}


int
qlm_store_dead(qlm_store_t *st, uint64_t id, uint64_t lease, uint64_t now,
    uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log)
{
    int                rc, room;
    MDB_val            key;
    MDB_txn           *txn;
    unsigned char      buf[8];
    qlm_store_item_t   item;

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

    rc = qlm_store_leased(st, txn, id, lease, &item);
    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_sched_del(st, txn, item.due, id);
    if (rc != 0) {
        goto failed;
    }

    item.lease = 0;
    item.due = now;
    item.attempt = attempt;
    item.last_status = status;
    item.last_error = error;
    item.updated = now;

    rc = qlm_store_item_write(txn, st->dead, &item, 0);
    if (rc != 0) {
        goto failed;
    }

    qlm_store_be64(buf, id);

    key.mv_data = buf;
    key.mv_size = sizeof(buf);

    rc = qlm_store_rc(mdb_del(txn, st->items, &key, NULL));
    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_log_done(st, txn, log, room);
    if (rc != 0) {
        goto failed;
    }

    rc = qlm_store_counter_txn(st, txn, "dead", 1);
    if (rc != 0) {
        goto failed;
    }

    return qlm_store_commit(txn);

failed:

    mdb_txn_abort(txn);

    return rc;
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


int
qlm_store_dead_foreach(qlm_store_t *st, qlm_store_item_pt cb, void *data)
{
    int                rc;
    MDB_val            key, val;
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

    rc = mdb_cursor_open(txn, st->dead, &cur);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size != 8) {
            rc = QLM_STORE_CORRUPT;
            break;
        }

        rc = qlm_store_item_decode(qlm_store_get_be64(key.mv_data), &val,
                                   &item);
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


static int
qlm_store_replay_one(qlm_store_t *st, MDB_txn *txn, uint64_t id,
    const MDB_val *val, uint64_t now)
{
    int                rc;
    MDB_val            key;
    unsigned char      buf[8];
    qlm_store_item_t   item;

    rc = qlm_store_item_decode(id, val, &item);
    if (rc != 0) {
        return rc;
    }

    item.lease = 0;
    item.due = now;
    item.attempt = 0;
    item.updated = now;

    rc = qlm_store_item_write(txn, st->items, &item, 0);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_sched_put(st, txn, now, id);
    if (rc != 0) {
        return rc;
    }

    qlm_store_be64(buf, id);

    key.mv_data = buf;
    key.mv_size = sizeof(buf);

    return qlm_store_rc(mdb_del(txn, st->dead, &key, NULL));
}


/*
 * Replaying all goes in transactions of a bounded size: one huge
 * transaction could exceed LMDB's dirty page limit.
 */

#define QLM_STORE_REPLAY_STEP  1024

int
qlm_store_dead_replay(qlm_store_t *st, uint64_t id, uint64_t now,
    uint64_t *replayed)
{
    int             rc;
    size_t          n;
    MDB_val         key, val;
    MDB_txn        *txn;
    MDB_cursor     *cur;
    unsigned char   buf[8];

    if (replayed) {
        *replayed = 0;
    }

    if (st == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    for ( ;; ) {
        rc = qlm_store_txn_begin(st, 0, &txn);
        if (rc != 0) {
            return rc;
        }

        n = 0;

        if (id) {
            qlm_store_be64(buf, id);

            key.mv_data = buf;
            key.mv_size = sizeof(buf);

            rc = mdb_get(txn, st->dead, &key, &val);

            if (rc == MDB_NOTFOUND) {
                rc = QLM_STORE_NOTFOUND;
            }

            if (rc != 0) {
                goto failed;
            }

            rc = qlm_store_replay_one(st, txn, id, &val, now);
            if (rc != 0) {
                goto failed;
            }

            n = 1;

        } else {
            rc = mdb_cursor_open(txn, st->dead, &cur);
            if (rc != 0) {
                goto failed;
            }

            while (n < QLM_STORE_REPLAY_STEP) {
                rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
                if (rc != 0) {
                    break;
                }

                if (key.mv_size != 8) {
                    rc = QLM_STORE_CORRUPT;
                    break;
                }

                rc = qlm_store_replay_one(st, txn,
                                          qlm_store_get_be64(key.mv_data),
                                          &val, now);
                if (rc != 0) {
                    break;
                }

                n++;
            }

            mdb_cursor_close(cur);

            if (rc != 0 && rc != MDB_NOTFOUND) {
                goto failed;
            }
        }

        if (n == 0) {
            mdb_txn_abort(txn);
            return 0;
        }

        rc = qlm_store_counter_txn(st, txn, "replayed", n);
        if (rc != 0) {
            goto failed;
        }

        rc = qlm_store_commit(txn);
        if (rc != 0) {
            return rc;
        }

        if (replayed) {
            *replayed += n;
        }

        if (id || n < QLM_STORE_REPLAY_STEP) {
            return 0;
        }
    }

failed:

    mdb_txn_abort(txn);

    return rc;
}


/* invocation log */

static int
qlm_store_log_txn(qlm_store_t *st, MDB_txn *txn, const qlm_store_log_t *log)
{
    int             rc;
    size_t          size, removed;
    uint64_t        seq;
    MDB_val         key, val;
    unsigned char   kbuf[16], *p;

    rc = qlm_store_log_size(log, &size);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_seq_next(st, txn, "seq:log", &seq);
    if (rc != 0) {
        return rc;
    }

    qlm_store_be64(kbuf, log->time);
    qlm_store_be64(kbuf + 8, seq);

    key.mv_data = kbuf;
    key.mv_size = sizeof(kbuf);
    val.mv_data = NULL;
    val.mv_size = size;

    rc = mdb_put(txn, st->log, &key, &val, MDB_RESERVE);
    if (rc != 0) {
        return qlm_store_rc(rc);
    }

    p = val.mv_data;

    *p++ = QLM_STORE_LOG_V1;
    qlm_store_put_u64(&p, log->item_id);
    qlm_store_put_u32(&p, log->attempt);
    qlm_store_put_u32(&p, (uint32_t) log->status);
    qlm_store_put_u32(&p, log->duration);
    qlm_store_put_u32(&p, log->outcome);
    qlm_store_put_str(&p, &log->event_id);
    qlm_store_put_str(&p, &log->event);
    qlm_store_put_str(&p, &log->url);
    qlm_store_put_str(&p, &log->error);

    rc = qlm_store_counter_txn(st, txn, "attempts", 1);
    if (rc != 0) {
        return rc;
    }

    /* retention, a bounded amount of it per append */

    return qlm_store_log_expire(st, txn, log->time, QLM_STORE_LOG_STEP, 0,
                                &removed);
}


/*
 * Acks, reschedules and deaths must go on in a nearly full store, or the
 * queue could not drain: below half the reserve their log record is
 * dropped (and counted), and the oldest records go to make room.
 */

static int
qlm_store_log_room(qlm_store_t *st, const qlm_store_log_t **log)
{
    int     rc;
    size_t  size;

    if (*log == NULL) {
        return 0;
    }

    rc = qlm_store_log_size(*log, &size);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_room(st, size, 2);

    if (rc == QLM_STORE_FULL) {
        *log = NULL;
        return QLM_STORE_FULL;
    }

    return rc;
}


static int
qlm_store_log_done(qlm_store_t *st, MDB_txn *txn, const qlm_store_log_t *log,
    int room)
{
    int     rc;
    size_t  removed;

    if (log) {
        return qlm_store_log_txn(st, txn, log);
    }

    if (room != QLM_STORE_FULL) {
        return 0;
    }

    rc = qlm_store_counter_txn(st, txn, "log_dropped", 1);
    if (rc != 0) {
        return rc;
    }

    return qlm_store_log_expire(st, txn, 0, QLM_STORE_LOG_STEP, 1, &removed);
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
    int       rc;
    MDB_txn  *txn;

    if (st == NULL || log == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_log_txn(st, txn, log);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }

    return qlm_store_commit(txn);
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
            mdb_txn_abort(txn);
            return rc;
        }

        if (n == 0) {
            mdb_txn_abort(txn);
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
qlm_store_str_eq(const qlm_store_str_t *a, const qlm_store_str_t *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
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
        mdb_txn_abort(txn);
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
    mdb_txn_abort(txn);

    return rc;
}


/* counters */

int
qlm_store_counter_add(qlm_store_t *st, const char *name, uint64_t delta)
{
    int       rc;
    MDB_txn  *txn;

    if (st == NULL || name == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_counter_txn(st, txn, name, delta);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }

    return qlm_store_commit(txn);
}


int
qlm_store_counter_get(qlm_store_t *st, const char *name, uint64_t *value)
{
    int       rc;
    size_t    len;
    MDB_txn  *txn;
    char      key[2 + QLM_STORE_COUNTER_MAX + 1];

    if (st == NULL || name == NULL || value == NULL) {
        return QLM_STORE_INVALID;
    }

    *value = 0;

    len = strlen(name);

    if (len == 0 || len > QLM_STORE_COUNTER_MAX) {
        return QLM_STORE_INVALID;
    }

    key[0] = 'c';
    key[1] = ':';
    memcpy(key + 2, name, len + 1);

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = qlm_store_meta_get_u64(st, txn, key, value);

    mdb_txn_abort(txn);

    return rc;
}


int
qlm_store_counter_foreach(qlm_store_t *st, qlm_store_counter_pt cb,
    void *data)
{
    int              rc;
    MDB_val          key, val;
    MDB_txn         *txn;
    MDB_cursor      *cur;
    qlm_store_buf_t  b;
    char             name[QLM_STORE_COUNTER_MAX + 1];

    if (st == NULL || cb == NULL) {
        return QLM_STORE_INVALID;
    }

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_open(txn, st->meta, &cur);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }

    key.mv_data = "c:";
    key.mv_size = 2;

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size < 2 || memcmp(key.mv_data, "c:", 2) != 0) {
            break;
        }

        if (key.mv_size - 2 > QLM_STORE_COUNTER_MAX || val.mv_size != 8) {
            rc = QLM_STORE_CORRUPT;
            break;
        }

        memcpy(name, (char *) key.mv_data + 2, key.mv_size - 2);
        name[key.mv_size - 2] = '\0';

        b.pos = val.mv_data;
        b.end = b.pos + 8;
        b.error = 0;

        if (cb(name, qlm_store_get_u64(&b), data) != 0) {
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


int
qlm_store_stat(qlm_store_t *st, uint64_t now, qlm_store_stat_t *stat)
{
    int                rc;
    MDB_val            key, val;
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

    /* an expired lease counts as due: the item is claimable */

    rc = mdb_cursor_open(txn, st->items, &cur);
    if (rc != 0) {
        goto done;
    }

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size != 8) {
            rc = QLM_STORE_CORRUPT;
            break;
        }

        rc = qlm_store_item_decode(qlm_store_get_be64(key.mv_data), &val,
                                   &item);
        if (rc != 0) {
            break;
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

    mdb_txn_abort(txn);

    return rc;
}


/* replay protection */

int
qlm_store_seen(qlm_store_t *st, qlm_store_str_t key, uint64_t now,
    uint64_t ttl_ms)
{
    int             rc;
    size_t          n;
    uint64_t        expiry, old;
    MDB_val         k, v, xk;
    MDB_txn        *txn;
    MDB_cursor     *cur;
    unsigned char   exp[8], xkey[8 + 256];

    if (st == NULL || key.len == 0 || key.len > 256 || key.data == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    expiry = (now > UINT64_MAX - ttl_ms) ? UINT64_MAX : now + ttl_ms;

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    k.mv_data = (void *) key.data;
    k.mv_size = key.len;

    rc = mdb_get(txn, st->seen, &k, &v);

    if (rc == 0) {
        if (v.mv_size != 8) {
            rc = QLM_STORE_CORRUPT;
            goto failed;
        }

        old = qlm_store_get_be64(v.mv_data);

        if (old > now) {
            mdb_txn_abort(txn);
            return QLM_STORE_EXISTS;
        }

        /* expired: its index entry goes, a new one comes */

        qlm_store_be64(xkey, old);
        memcpy(xkey + 8, key.data, key.len);

        xk.mv_data = xkey;
        xk.mv_size = 8 + key.len;

        rc = mdb_del(txn, st->seenx, &xk, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            goto failed;
        }

    } else if (rc != MDB_NOTFOUND) {
        goto failed;
    }

    qlm_store_be64(exp, expiry);

    v.mv_data = exp;
    v.mv_size = 8;

    rc = mdb_put(txn, st->seen, &k, &v, 0);
    if (rc != 0) {
        goto failed;
    }

    qlm_store_be64(xkey, expiry);
    memcpy(xkey + 8, key.data, key.len);

    xk.mv_data = xkey;
    xk.mv_size = 8 + key.len;
    v.mv_data = "";
    v.mv_size = 0;

    rc = mdb_put(txn, st->seenx, &xk, &v, 0);
    if (rc != 0) {
        goto failed;
    }

    /* a few expired records at a time: bounded work per call */

    rc = mdb_cursor_open(txn, st->seenx, &cur);
    if (rc != 0) {
        goto failed;
    }

    for (n = 0; n < 16; n++) {
        rc = mdb_cursor_get(cur, &xk, &v, MDB_FIRST);

        if (rc != 0 || xk.mv_size <= 8
            || qlm_store_get_be64(xk.mv_data) > now)
        {
            break;
        }

        k.mv_data = (unsigned char *) xk.mv_data + 8;
        k.mv_size = xk.mv_size - 8;

        /* the record goes only if this index entry is still its own */

        rc = mdb_get(txn, st->seen, &k, &v);

        if (rc == 0 && v.mv_size == 8
            && memcmp(v.mv_data, xk.mv_data, 8) == 0)
        {
            rc = mdb_del(txn, st->seen, &k, NULL);
        }

        if (rc != 0 && rc != MDB_NOTFOUND) {
            break;
        }

        rc = mdb_cursor_del(cur, 0);
        if (rc != 0) {
            break;
        }
    }

    mdb_cursor_close(cur);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        goto failed;
    }

    return qlm_store_commit(txn);

failed:

    mdb_txn_abort(txn);

    return qlm_store_rc(rc);
}


/*
 * The license mirror: one record a license (by ActivationKey) or customer,
 * its fields merged event after event.
 *
 *   u8 version, u8 deleted, u64 updated, u32 n, n x (str name, str value)
 */

#define QLM_STORE_RECORD_VERSION  1
#define QLM_STORE_RECORD_FIELDS   256


static int
qlm_store_record_decode(const MDB_val *key, const MDB_val *val,
    qlm_store_record_t *rec, qlm_store_field_t *fields)
{
    uint32_t         i, n;
    qlm_store_buf_t  b;

    b.pos = val->mv_data;
    b.end = b.pos + val->mv_size;
    b.error = 0;

    if (val->mv_size < 2 + 8 + 4 || b.pos[0] != QLM_STORE_RECORD_VERSION) {
        return QLM_STORE_CORRUPT;
    }

    rec->deleted = b.pos[1];
    b.pos += 2;

    rec->updated = qlm_store_get_u64(&b);
    n = qlm_store_get_u32(&b);

    if (b.error || n > QLM_STORE_RECORD_FIELDS) {
        return QLM_STORE_CORRUPT;
    }

    for (i = 0; i < n; i++) {
        qlm_store_get_str(&b, &fields[i].name);
        qlm_store_get_str(&b, &fields[i].value);
    }

    if (b.error || b.pos != b.end) {
        return QLM_STORE_CORRUPT;
    }

    rec->key.data = key->mv_data;
    rec->key.len = key->mv_size;
    rec->fields = fields;
    rec->nfields = n;

    return 0;
}


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


static int
qlm_store_mirror_put(qlm_store_t *st, MDB_txn *txn, int table,
    const qlm_store_record_t *rec, qlm_store_field_t *merged)
{
    int                 rc, k;
    size_t              i, n, size;
    MDB_val             key, val;
    unsigned char      *buf, *p;
    qlm_store_record_t  old;

    if (rec->key.len == 0 || rec->key.len > 400
        || rec->nfields > QLM_STORE_RECORD_FIELDS)
    {
        return QLM_STORE_INVALID;
    }

    key.mv_data = (void *) rec->key.data;
    key.mv_size = rec->key.len;

    n = 0;

    rc = mdb_get(txn, st->mirror[table], &key, &val);

    if (rc == 0) {
        rc = qlm_store_record_decode(&key, &val, &old, merged);
        if (rc != 0) {
            return rc;
        }

        n = old.nfields;

    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }

    /* a later event's fields overwrite, the others keep their value */

    for (i = 0; i < rec->nfields; i++) {
        if (rec->fields[i].name.len == 0 || rec->fields[i].value.len == 0) {
            continue;
        }

        k = qlm_store_field_find(merged, n, &rec->fields[i].name);

        if (k >= 0) {
            merged[k].value = rec->fields[i].value;

        } else if (n < QLM_STORE_RECORD_FIELDS) {
            merged[n++] = rec->fields[i];
        }
    }

    size = 2 + 8 + 4;

    for (i = 0; i < n; i++) {
        size += 2 * (4 + 1) + merged[i].name.len + merged[i].value.len;
    }

    /* old values point into the map: the new record is built aside */

    buf = malloc(size);
    if (buf == NULL) {
        return ENOMEM;
    }

    p = buf;
    *p++ = QLM_STORE_RECORD_VERSION;
    *p++ = rec->deleted ? 1 : 0;
    qlm_store_put_u64(&p, rec->updated);
    qlm_store_put_u32(&p, (uint32_t) n);

    for (i = 0; i < n; i++) {
        qlm_store_put_str(&p, &merged[i].name);
        qlm_store_put_str(&p, &merged[i].value);
    }

    val.mv_data = buf;
    val.mv_size = size;

    rc = mdb_put(txn, st->mirror[table], &key, &val, 0);

    free(buf);

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
        rc = qlm_store_mirror_put(st, txn, table, &recs[i], merged);
        if (rc != 0) {
            mdb_txn_abort(txn);
            free(merged);
            return qlm_store_rc(rc);
        }
    }

    free(merged);

    return qlm_store_commit(txn);
}


int
qlm_store_mirror_get(qlm_store_t *st, int table, qlm_store_str_t k,
    qlm_store_record_pt cb, void *data)
{
    int                  rc;
    MDB_val              key, val;
    MDB_txn             *txn;
    qlm_store_record_t   rec;
    qlm_store_field_t   *fields;

    if (st == NULL || cb == NULL || k.len == 0 || k.len > 400
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

    mdb_txn_abort(txn);
    free(fields);

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

    mdb_txn_abort(txn);
    free(fields);

    return rc;
}


/*
 * Task slots: a task runs once a slot (every=TIME).  Its state is the slot
 * begun last, whether its scan is done, how far it got, and when the slot
 * before it ran ([date]).
 *
 *   u64 slot, u64 started, u64 last_run, u8 done, str cursor
 */

static int
qlm_store_task_decode(const MDB_val *val, qlm_store_task_t *task)
{
    qlm_store_buf_t  b;

    b.pos = val->mv_data;
    b.end = b.pos + val->mv_size;
    b.error = 0;

    task->slot = qlm_store_get_u64(&b);
    task->started = qlm_store_get_u64(&b);
    task->last_run = qlm_store_get_u64(&b);

    if (b.error || b.pos >= b.end) {
        return QLM_STORE_CORRUPT;
    }

    task->done = *b.pos++;

    qlm_store_get_str(&b, &task->cursor);

    if (b.error || b.pos != b.end || task->cursor.len > 400) {
        return QLM_STORE_CORRUPT;
    }

    return 0;
}


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

    mdb_txn_abort(txn);

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
    int               rc;
    MDB_val           key, val;
    MDB_txn          *txn;
    qlm_store_task_t  task, old;

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

    memset(&old, 0, sizeof(qlm_store_task_t));
    old.cursor.data = "";

    key.mv_data = (void *) name.data;
    key.mv_size = name.len;

    rc = mdb_get(txn, st->tasks, &key, &val);

    if (rc == 0) {
        rc = qlm_store_task_decode(&val, &old);
        if (rc != 0) {
            goto failed;
        }

        if (old.slot >= slot && old.started) {
            mdb_txn_abort(txn);
            return QLM_STORE_EXISTS;
        }

    } else if (rc != MDB_NOTFOUND) {
        goto failed;
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

    rc = qlm_store_task_put(st, txn, name, &task);
    if (rc != 0) {
        goto failed;
    }

    return qlm_store_commit(txn);

failed:

    mdb_txn_abort(txn);

    return qlm_store_rc(rc);
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
        mdb_txn_abort(txn);
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

typedef struct {
    qlm_store_str_t   name;
    uint64_t          slot;
    qlm_store_str_t   from;
    qlm_store_str_t   cursor;
    unsigned          done;
} qlm_store_step_t;


static int
qlm_store_task_step_also(qlm_store_t *st, MDB_txn *txn, void *data)
{
    qlm_store_step_t  *step = data;

    return qlm_store_task_progress_txn(st, txn, step->name, step->slot,
                                       &step->from, step->cursor,
                                       step->done);
}


int
qlm_store_task_step(qlm_store_t *st, qlm_store_str_t name, uint64_t slot,
    qlm_store_str_t from, qlm_store_str_t cursor, unsigned done,
    qlm_store_item_t *items, size_t n)
{
    qlm_store_step_t  step;

    if (st == NULL || name.len == 0 || name.len > 400 || cursor.len > 400
        || from.len > 400)
    {
        return QLM_STORE_INVALID;
    }

    step.name = name;
    step.slot = slot;
    step.from = from;
    step.cursor = cursor;
    step.done = done;

    return qlm_store_enqueue_also(st, items, n, qlm_store_task_step_also,
                                  &step);
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

    rc = qlm_store_mirror_put(st, txn, ev->table, ev->rec, merged);

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
