
/*
 * qlm_store: the durable side of ngx_qlm_webhook_module, on LMDB.
 *
 * A plain C library, no nginx headers.  It keeps:
 *
 *   - the delivery queue, ordered by due time; items are claimed with a
 *     lease, so a claimed item is invisible to other claimers (other
 *     processes included) until the lease expires;
 *   - dead letters: items that ran out of retries, listable and replayable;
 *   - the invocation log: one record per delivery attempt, bounded by a
 *     record count and an age;
 *   - counters that survive restarts.
 *
 * Every call returns 0, a positive errno value, an LMDB error code (MDB_*)
 * or one of the QLM_STORE_* codes below; qlm_store_strerror() names any of
 * them.  The library never prints and never reads the clock: every time is
 * passed in by the caller, in milliseconds since the Unix epoch.
 *
 * An environment is used only by the process that opened it: open it after
 * fork(), in each process.  Threads of that process may share a handle:
 * each call has transactions of its own (the environment has MDB_NOTLS),
 * write transactions wait for one another on LMDB's writer lock, and what
 * the handle keeps for writing is used inside a write transaction only.
 * A map that another process has grown is adopted (mdb_env_set_mapsize())
 * when a transaction begins, which LMDB allows only while no other
 * transaction of the process is open: the handle counts its open
 * transactions and syncs, and the adoption waits for them to end (up to
 * 1 s, then QLM_STORE_BUSY); meanwhile new ones wait for it.
 */

#ifndef _QLM_STORE_H_INCLUDED_
#define _QLM_STORE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define QLM_STORE_NOTFOUND      (-30900)  /* no such item */
#define QLM_STORE_FULL          (-30901)  /* map full, nothing was written */
#define QLM_STORE_STALE         (-30902)  /* the lease is no longer held */
#define QLM_STORE_CORRUPT       (-30903)  /* a record failed to decode */
#define QLM_STORE_INCOMPATIBLE  (-30904)  /* store written by another format */
#define QLM_STORE_INVALID       (-30905)  /* a bad argument */
#define QLM_STORE_EXISTS        (-30906)  /* seen already */
#define QLM_STORE_BUSY          (-30907)  /* the map is being moved: again */


/* log outcomes */
#define QLM_STORE_DELIVERED     1   /* 2xx: the item is done */
#define QLM_STORE_RETRY         2   /* failed, rescheduled */
#define QLM_STORE_DEAD          3   /* failed, moved to dead letters */


typedef struct qlm_store_s        qlm_store_t;
typedef struct qlm_store_write_s  qlm_store_write_t;
typedef struct qlm_store_journal_s  qlm_store_journal_t;


typedef struct {
    size_t            len;
    const char       *data;
} qlm_store_str_t;


typedef struct {
    size_t            map_size;         /* bytes; 0: the store's own,
                                           64 MiB for a new store */
    unsigned          no_sync;          /* no fsync per commit */
    unsigned          read_only;
    unsigned          write_map;        /* MDB_WRITEMAP, see open() */
    mode_t            mode;             /* 0: 0600 */
    uint64_t          log_max_records;  /* 0: 100000 */
    uint64_t          log_max_age;      /* ms; 0: no age bound */
} qlm_store_options_t;


/*
 * A delivery: one event (or task match) to one URL.  Strings returned by
 * the library point into the item's own allocation (claim) or into the
 * store's memory, valid until the callback returns (foreach calls); either
 * way they are NUL-terminated (data[len] == '\0').  A string given to the
 * library may have data NULL when len is 0.
 */
typedef struct {
    uint64_t          id;           /* set by enqueue */
    uint64_t          lease;        /* claim token; 0 when not claimed */
    uint64_t          lease_until;  /* ms: the lease's expiry; 0: none;
                                       given to enqueue: stored leased */
    uint64_t          due;          /* ms: next attempt, or lease expiry */
    uint64_t          created;      /* ms */
    uint64_t          updated;      /* ms: last claim, reschedule or death */
    uint32_t          attempt;      /* attempts claimed so far */
    int32_t           last_status;  /* HTTP status of the last attempt */
    qlm_store_str_t   event_id;     /* stable across retries */
    qlm_store_str_t   event;        /* event or task name */
    qlm_store_str_t   url;
    qlm_store_str_t   headers;      /* opaque to the store */
    qlm_store_str_t   body;
    qlm_store_str_t   last_error;
} qlm_store_item_t;


/* one delivery attempt */
typedef struct {
    uint64_t          time;         /* ms: when the attempt ended */
    uint64_t          item_id;
    uint32_t          attempt;      /* 1 for the first attempt */
    int32_t           status;       /* HTTP status; 0: no answer */
    uint32_t          duration;     /* ms */
    uint32_t          outcome;      /* QLM_STORE_DELIVERED, ... */
    qlm_store_str_t   event_id;
    qlm_store_str_t   event;
    qlm_store_str_t   url;
    qlm_store_str_t   error;
    qlm_store_str_t   answer;       /* the answer's first bytes (1 KiB);
                                       empty in version 1 records */
} qlm_store_log_t;


typedef struct {
    uint64_t          from;         /* ms, inclusive */
    uint64_t          to;           /* ms, exclusive; 0: no bound */
    qlm_store_str_t   event;        /* len 0: any */
    qlm_store_str_t   event_id;     /* len 0: any */
    uint32_t          outcome;      /* 0: any */
    size_t            limit;        /* 0: no limit */
    unsigned          newest_first;
} qlm_store_log_filter_t;


typedef struct {
    uint64_t          queued;       /* items in the queue, leased included */
    uint64_t          due;          /* claimable at "now": due and not
                                       leased, or with an expired lease */
    uint64_t          leased;       /* claimed, lease not yet expired */
    uint64_t          dead;
    uint64_t          log_records;
    uint64_t          next_due;     /* ms: earliest due or lease expiry; 0 */
    uint64_t          examined;     /* queue entries the walk read */
    unsigned          partial;      /* the walk stopped at its bound: due
                                       and leased are lower bounds */
    size_t            map_size;
    size_t            map_used;
} qlm_store_stat_t;


/* the license mirror */
#define QLM_STORE_LICENSES      0
#define QLM_STORE_CUSTOMERS     1

typedef struct {
    qlm_store_str_t   name;
    qlm_store_str_t   value;
} qlm_store_field_t;

typedef struct {
    qlm_store_str_t          key;       /* ActivationKey, or the customer's */
    uint64_t                 updated;   /* ms */
    unsigned                 deleted;
    size_t                   nfields;
    const qlm_store_field_t *fields;
} qlm_store_record_t;

/* a scheduled task's slot */
typedef struct {
    uint64_t          slot;       /* ms: the slot begun last */
    uint64_t          started;    /* ms: when it began */
    uint64_t          last_run;   /* ms: when the slot before it began */
    unsigned          done;       /* its scan is over */
    qlm_store_str_t   cursor;     /* the last key its scan handled */
} qlm_store_task_t;


typedef int (*qlm_store_item_pt)(const qlm_store_item_t *item, void *data);
typedef int (*qlm_store_record_pt)(const qlm_store_record_t *rec,
    void *data);
typedef int (*qlm_store_log_pt)(const qlm_store_log_t *rec, void *data);
typedef int (*qlm_store_counter_pt)(const char *name, uint64_t value,
    void *data);


const char *qlm_store_strerror(int rc);

/*
 * open() creates the directory "path" (0700) unless read_only; opts may be
 * NULL for the defaults.  On error *stp is NULL and nothing stays open.
 * close() syncs first when no_sync was set; close(NULL) does nothing.
 * Write calls on a read_only store give EACCES.
 *
 * write_map opens with MDB_WRITEMAP: commits write into the map instead of
 * one pwrite() a page.  A write to a sparse file's hole on a full
 * filesystem would then be a SIGBUS, so every write transaction first has
 * the data file allocated some way past its last used page (4 MiB or 1/16
 * of the map, at most half of it); when the filesystem has no room for
 * that, the write gives QLM_STORE_FULL, touching nothing.  A stray pointer
 * in the process can corrupt the map, which it cannot without write_map.
 * The map is read without read-ahead (MDB_NORDAHEAD): a page fault reads
 * or zeroes its page, not megabytes around it.
 */
int qlm_store_open(qlm_store_t **stp, const char *path,
    const qlm_store_options_t *opts);
void qlm_store_close(qlm_store_t *st);
int qlm_store_sync(qlm_store_t *st);
int qlm_store_reader_check(qlm_store_t *st, int *dead);
/* stat() walks the queue to count due and leased items at "now"; with now
 * 0 it reads the counts of entries and the map only: no walk, O(1).
 * stat_max() walks at most max queue entries (0: no bound), in due order,
 * so every due item is seen before any that is not; when it stops at the
 * bound it sets "partial" and due and leased are lower bounds */
int qlm_store_stat(qlm_store_t *st, uint64_t now, qlm_store_stat_t *stat);
int qlm_store_stat_max(qlm_store_t *st, uint64_t now, uint64_t max,
    qlm_store_stat_t *stat);

/*
 * Queue.  enqueue() writes n items in one transaction (all or none) and
 * sets their ids and leases; each item's due, created, lease_until,
 * event_id, event, url, headers and body are used.  An item with
 * lease_until (ms, not 0) is stored already claimed by the caller, as a
 * claim leaves an item: its lease is a new token (set in item->lease), it
 * is due at lease_until (its due is not used) and its attempt is 1.
 * Attempts are counted where they are claimed: a claim adds 1, so that
 * out[i]->attempt is the number of the attempt it leases the item for,
 * and an attempt cut short by a dead holder still counts.  The caller
 * delivers a leased item from memory and acks it with no claim; if the
 * caller dies, the lease expires and a claim gets the item (attempt 2).
 * claim() leases up to max due items (due <= now, or
 * an expired lease) for lease_ms, oldest due first; each out[i] is one
 * allocation, freed with qlm_store_item_free(), with out[i]->lease the new
 * token and out[i]->due the lease expiry.  On error *n is 0 and nothing is
 * allocated.  ack(), reschedule() and dead() take the lease token from
 * claim(); a token that no longer holds (the item was claimed again after
 * its lease expired, or is gone) gives QLM_STORE_STALE (QLM_STORE_NOTFOUND
 * when the id is not queued) and changes nothing; an expired lease that
 * nobody claimed again still holds.  log, when not NULL, is appended in the
 * same transaction.  reschedule() sets "updated" to log->time, or to due
 * without a log.  MDB_MAP_FULL anywhere gives QLM_STORE_FULL and leaves the
 * store unchanged.  Counters: enqueue adds n to "enqueued", ack, reschedule
 * and dead add 1 to "delivered", "retried" and "dead", each log record 1 to
 * "attempts", replay its count to "replayed".
 *
 * A full store must still drain, and LMDB needs free pages even to delete
 * (it copies on write): enqueue() gives QLM_STORE_FULL already when less
 * than a reserve (1/32 of the map, 32 to 2048 pages) would stay free.
 * Below half that reserve, ack(), reschedule() and dead() drop their log
 * record (counted in "log_dropped") and delete the 16 oldest log records.
 * LMDB reuses the pages of the last commit only after another commit: a
 * claim that fails with QLM_STORE_FULL commits the counter "full_retries"
 * so that the caller's next claim (fewer, or one again) can use them, and
 * ack(), reschedule(), dead(), release() and unclaim() try once more
 * after such a commit themselves.
 */
int qlm_store_enqueue(qlm_store_t *st, qlm_store_item_t *items, size_t n);
int qlm_store_claim(qlm_store_t *st, uint64_t now, uint64_t lease_ms,
    qlm_store_item_t **out, size_t max, size_t *n);
/*
 * As claim, but only items the filter returns 1 for, among the first scan
 * due ones (scan >= max); the others stay due.  A negative return ends
 * the scan there (the filter knows it takes nothing more: what it has
 * refused is all there is to take).  The filter must not call the store
 * (it runs inside the write transaction).
 */
typedef int (*qlm_store_claim_pt)(const qlm_store_item_t *item, void *data);
int qlm_store_claim_filter(qlm_store_t *st, uint64_t now, uint64_t lease_ms,
    qlm_store_claim_pt filter, void *data, size_t scan,
    qlm_store_item_t **out, size_t max, size_t *n);
void qlm_store_item_free(qlm_store_item_t *item);
int qlm_store_ack(qlm_store_t *st, uint64_t id, uint64_t lease,
    const qlm_store_log_t *log);
int qlm_store_reschedule(qlm_store_t *st, uint64_t id, uint64_t lease,
    uint64_t due, uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log);
int qlm_store_dead(qlm_store_t *st, uint64_t id, uint64_t lease,
    uint64_t now, uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log);
/* an attempt not finished (the process exits): the item is due again at
 * "due" with its attempt count, last status and error as they were; no
 * counter moves */
int qlm_store_release(qlm_store_t *st, uint64_t id, uint64_t lease,
    uint64_t due);
/* as release, for an item claimed but never attempted: its count too */
int qlm_store_unclaim(qlm_store_t *st, uint64_t id, uint64_t lease,
    uint64_t due);
/* the earliest due time or lease expiry; 0 (and rc 0) when empty */
int qlm_store_next_due(qlm_store_t *st, uint64_t *due);

/*
 * queue_foreach walks in due order (lease expiry for leased items),
 * dead_foreach by id, both in one read transaction.  A callback returning
 * non-zero stops the walk, and the call returns 0.
 */
int qlm_store_queue_foreach(qlm_store_t *st, qlm_store_item_pt cb,
    void *data);
int qlm_store_dead_foreach(qlm_store_t *st, qlm_store_item_pt cb,
    void *data);

/*
 * Back to the queue under the same id, due at now, attempt 0, last status
 * and error kept; id 0 replays every one, in transactions of up to 128
 * (each holds the writer lock about a millisecond: license traffic goes on).
 */
int qlm_store_dead_replay(qlm_store_t *st, uint64_t id, uint64_t now,
    uint64_t *replayed);

/*
 * Invocation log, keyed by time.  Each append also deletes up to 16 of the
 * oldest records over log_max_records or older than log_max_age before the
 * new record's time, so an append is bounded work; log_trim() deletes all
 * that are over the bounds at "now".  log_foreach() walks [from, to), oldest
 * first unless newest_first; limit counts the records passed to cb; a
 * callback returning non-zero stops the walk, and the call returns 0.
 */
int qlm_store_log_append(qlm_store_t *st, const qlm_store_log_t *log);
int qlm_store_log_foreach(qlm_store_t *st,
    const qlm_store_log_filter_t *filter, qlm_store_log_pt cb, void *data);
int qlm_store_log_trim(qlm_store_t *st, uint64_t now, uint64_t *removed);

/*
 * Counters: enqueued, delivered, retried, dead, replayed, attempts, and any
 * name (1 to 200 bytes) the caller adds to.  A counter never added to reads
 * as 0.  counter_foreach() lists them sorted by name.
 */
int qlm_store_counter_add(qlm_store_t *st, const char *name,
    uint64_t delta);
int qlm_store_counter_get(qlm_store_t *st, const char *name,
    uint64_t *value);
int qlm_store_counter_foreach(qlm_store_t *st, qlm_store_counter_pt cb,
    void *data);

/*
 * Replay protection: records key (1 to 256 bytes) as seen until
 * now + ttl_ms and returns 0, or returns QLM_STORE_EXISTS when the key was
 * seen and that record has not expired.  Each call removes up to 16
 * expired records, so the table stays bounded by the traffic of one ttl.
 */
int qlm_store_seen(qlm_store_t *st, qlm_store_str_t key, uint64_t now,
    uint64_t ttl_ms);

/*
 * Then, when the answer is known: changes the record that qlm_store_seen()
 * made to expire at "expiry" (its now + ttl_ms) to expire at "to" instead,
 * or removes it when "to" is 0; without a record, "to" makes one.  A record
 * that another call has made since is left as it is: QLM_STORE_EXISTS.
 */
int qlm_store_seen_update(qlm_store_t *st, qlm_store_str_t key,
    uint64_t expiry, uint64_t to);

/*
 * The license mirror (table QLM_STORE_LICENSES or QLM_STORE_CUSTOMERS):
 * upsert() merges: the fields given overwrite (an empty value too: it is
 * kept as empty, as QLM's records have them), the others keep theirs;
 * "deleted" and "updated" are the record's as given; a record that is
 * not deleted, given over a deleted one, replaces it; one that changes
 * no field and not "deleted" is not written ("updated" stays that of
 * the last change).  get() calls
 * back once (QLM_STORE_NOTFOUND if absent); scan() calls back for up to
 * max records whose key sorts after "after" (from the start when its len
 * is 0), deleted ones included, in one read transaction: a long scan is
 * made of bounded steps, each resuming after the last key it saw.
 * Callback strings are valid during the callback only.
 */
int qlm_store_mirror_upsert(qlm_store_t *st, int table,
    const qlm_store_record_t *rec);

/* an event's deliveries (n may be 0) and its mirror record (may be NULL)
 * in one transaction */
int qlm_store_enqueue_event(qlm_store_t *st, qlm_store_item_t *items,
    size_t n, int table, const qlm_store_record_t *rec);
int qlm_store_mirror_upsert_batch(qlm_store_t *st, int table,
    const qlm_store_record_t *recs, size_t n);
int qlm_store_mirror_get(qlm_store_t *st, int table, qlm_store_str_t key,
    qlm_store_record_pt cb, void *data);
int qlm_store_mirror_scan(qlm_store_t *st, int table, qlm_store_str_t after,
    size_t max, qlm_store_record_pt cb, void *data, size_t *seen);

/*
 * The write batch: one LMDB write transaction from write_begin() to
 * write_commit(), for any number of ops, so that the writes of an event
 * loop turn cost one commit (and, with sync, one flush).  The ops are those
 * of the single calls above, with the same arguments and rules:
 * write_enqueue_event() is enqueue_event(), write_ack() is ack(), and so on.
 * write_delivered() has no single call: it records an item delivered
 * before it was stored (enqueue_event() and ack() of it in one), giving it
 * an id (its lease 0) and writing its log record (whose item_id it sets)
 * and the counts of both, but neither the item nor its schedule.
 *
 * Each op returns 0, or a soft error that changed nothing and leaves the
 * batch usable: QLM_STORE_FULL (the room check of an enqueue),
 * QLM_STORE_STALE, QLM_STORE_NOTFOUND or QLM_STORE_INVALID.  Any other
 * error poisons the batch: every later op and the commit return that error,
 * and nothing of the batch is written.  An op's items get their ids when it
 * succeeds, but they count only once write_commit() returns 0.  Sequences
 * and counters are kept in memory and written once, at commit.
 *
 * write_commit() and write_abort() free the batch, always.  While a batch
 * is open this process holds the store's writer lock: keep it short (no
 * waiting on the network between begin and commit), and use no other
 * write call of the same store in between (it would wait for itself).
 */
int qlm_store_write_begin(qlm_store_t *st, qlm_store_write_t **wp);
int qlm_store_write_enqueue_event(qlm_store_write_t *w,
    qlm_store_item_t *items, size_t n, int table,
    const qlm_store_record_t *rec);
int qlm_store_write_ack(qlm_store_write_t *w, uint64_t id, uint64_t lease,
    const qlm_store_log_t *log);
int qlm_store_write_delivered(qlm_store_write_t *w, qlm_store_item_t *item,
    const qlm_store_log_t *log);
int qlm_store_write_reschedule(qlm_store_write_t *w, uint64_t id,
    uint64_t lease, uint64_t due, uint32_t attempt, int32_t status,
    qlm_store_str_t error, const qlm_store_log_t *log);
int qlm_store_write_dead(qlm_store_write_t *w, uint64_t id, uint64_t lease,
    uint64_t now, uint32_t attempt, int32_t status, qlm_store_str_t error,
    const qlm_store_log_t *log);
int qlm_store_write_release(qlm_store_write_t *w, uint64_t id,
    uint64_t lease, uint64_t due);
int qlm_store_write_unclaim(qlm_store_write_t *w, uint64_t id,
    uint64_t lease, uint64_t due);
int qlm_store_write_commit(qlm_store_write_t *w);
void qlm_store_write_abort(qlm_store_write_t *w);

/*
 * The journal of events, for a store opened with sync: one sequential
 * write and one fdatasync() make a batch of events durable, and the batch
 * is committed to LMDB after that, off the path of whatever waited for
 * it (qlm_store_journal.c says how).  A process has one journal, a file
 * "journal-<pid>-<time>" in the store's directory, locked while it lives.
 *
 * journal_add() adds an event (the arguments of enqueue_event()) to rec,
 * a record being built (zeroed before its first use, its buffer kept
 * for the next, freed by journal_rec_free()).  journal_write() writes rec
 * and flushes it: 0 means its events are on disk, and every record
 * written before it too; *lsn is its number (0: there were no events).
 * Several threads may write at once, each with its own rec.  An add that
 * failed fails the write, which then writes nothing; a write that fails
 * fails every later one until the rewind.  On an error nothing of rec
 * counts, and its events must reach the store another way (a synced
 * commit).
 *
 * write_journaled() records in a batch that j's records up to lsn are in
 * the store.  With every record written so committed and synced, and no
 * write running, journal_rewind() makes the next record go to the file's
 * start again; journal_size() is how far it is written since.
 * journal_close() with forget removes the file (every record is in the
 * store).
 *
 * journal_recover() replays the journals in dir whose process ended, a
 * record a transaction, then removes them; the items go in due, not
 * leased; *replayed counts the events.
 *
 * journal_info() says, without a lock (a recovery would take a journal
 * this held for a live process's), how many journals dir has of live
 * processes (a flock() on them in the kernel's lock table; without the
 * table, the pid in the name runs), how many of ended ones, and how many
 * events these hold that are not in the store yet.
 *
 * A process that opens the store as another user (nginx's master, as
 * root, for its workers) gives it the journals too: their names start
 * with QLM_STORE_JOURNAL_PREFIX.
 */
#define QLM_STORE_JOURNAL_PREFIX  "journal-"

typedef struct {
    uint32_t          live;
    uint32_t          ended;
    uint64_t          events;       /* of the ended, not in the store */
} qlm_store_journal_info_t;

typedef struct {
    unsigned char    *buf;
    size_t            len;
    size_t            size;
    uint32_t          nevents;
    int               error;
} qlm_store_journal_rec_t;

int qlm_store_journal_open(qlm_store_t *st, const char *dir,
    qlm_store_journal_t **jp);
int qlm_store_journal_add(qlm_store_journal_rec_t *rec,
    const qlm_store_item_t *items, size_t n, int table,
    const qlm_store_record_t *record);
int qlm_store_journal_write(qlm_store_journal_t *j,
    qlm_store_journal_rec_t *rec, uint64_t *lsn);
void qlm_store_journal_rec_free(qlm_store_journal_rec_t *rec);
int qlm_store_write_journaled(qlm_store_write_t *w, qlm_store_journal_t *j,
    uint64_t lsn);
void qlm_store_journal_rewind(qlm_store_journal_t *j);
size_t qlm_store_journal_size(qlm_store_journal_t *j);
void qlm_store_journal_close(qlm_store_t *st, qlm_store_journal_t *j,
    unsigned forget);
int qlm_store_journal_recover(qlm_store_t *st, const char *dir,
    uint64_t *replayed);
int qlm_store_journal_info(qlm_store_t *st, const char *dir,
    qlm_store_journal_info_t *info);

/*
 * Scheduled tasks: begin() starts a slot once across processes and
 * restarts (QLM_STORE_EXISTS when this slot or a later one was begun);
 * progress() records how far its scan got, or that it is done
 * (QLM_STORE_STALE when a later slot began meanwhile); get() reads the
 * state, copying the cursor into cursor[400].
 */
int qlm_store_task_begin(qlm_store_t *st, qlm_store_str_t name,
    uint64_t slot, uint64_t now, qlm_store_task_t *prev);
int qlm_store_task_progress(qlm_store_t *st, qlm_store_str_t name,
    uint64_t slot, qlm_store_str_t cursor, unsigned done);
int qlm_store_task_get(qlm_store_t *st, qlm_store_str_t name,
    qlm_store_task_t *task, char *cursor);

/*
 * A step of a slot's scan, from cursor "from" to "cursor": its deliveries
 * (enqueued) and its progress in one transaction, only if the scan is
 * still at "from" and not done (else QLM_STORE_STALE: another process
 * took the step), so a step is never done twice nor half.
 */
int qlm_store_task_step(qlm_store_t *st, qlm_store_str_t name,
    uint64_t slot, qlm_store_str_t from, qlm_store_str_t cursor,
    unsigned done, qlm_store_item_t *items, size_t n);


/*
 * Admin: bounded steps over the log and the dead letters, for pages and
 * for work spread over several calls (an event loop's turns).
 *
 * log_page() walks as log_foreach() does (the filter's range, order,
 * event, event_id, outcome and limit; url too when its len is not 0),
 * resuming after the record "after" when after is not NULL, and reads at
 * most "examine" records (0: no bound).  *last is the key of the last
 * record read ({0, 0} if none), where the next step resumes; *more is 1
 * when the range holds records past it.  cb gets each record's key.
 *
 * dead_page() passes up to max dead letters (0: no bound) to cb, by id,
 * newest (highest id) first unless oldest_first, after id "after" when
 * not 0; *last is the last id passed, *more as above.
 *
 * dead_replay_step() is one write transaction: the dead letters with an id
 * above "after" whose failure ("updated") is at or after "since" go back to
 * the queue as dead_replay() puts them, up to max (0: 256) replayed and
 * examine (0: 4096) read.  *last is the last id read (the next step's
 * after), *more 1 when dead letters past it may remain; ids only grow, so
 * a walk sees each one once, even one that dies again meanwhile.
 *
 * item_where() says where a delivery is: QLM_STORE_IN_QUEUE,
 * QLM_STORE_IN_DEAD, or QLM_STORE_NOTFOUND.
 */

#define QLM_STORE_IN_QUEUE      1
#define QLM_STORE_IN_DEAD       2

typedef struct {
    uint64_t          time;
    uint64_t          seq;
} qlm_store_log_key_t;

typedef int (*qlm_store_log_key_pt)(const qlm_store_log_t *rec,
    const qlm_store_log_key_t *key, void *data);

int qlm_store_log_page(qlm_store_t *st, const qlm_store_log_filter_t *filter,
    qlm_store_str_t url, const qlm_store_log_key_t *after, size_t examine,
    qlm_store_log_key_pt cb, void *data, qlm_store_log_key_t *last,
    unsigned *more);
int qlm_store_dead_page(qlm_store_t *st, uint64_t after, size_t max,
    unsigned oldest_first, qlm_store_item_pt cb, void *data, uint64_t *last,
    unsigned *more);
int qlm_store_dead_replay_step(qlm_store_t *st, uint64_t after,
    uint64_t since, uint64_t now, size_t max, size_t examine,
    uint64_t *replayed, uint64_t *last, unsigned *more);
int qlm_store_item_where(qlm_store_t *st, uint64_t id, int *where);


/*
 * Paused receivers, durable: url_pause() records url (1 to 511 bytes) as
 * paused since "now" by "by" (up to 64 bytes: who paused it), or with
 * pause 0 removes it; QLM_STORE_EXISTS when it was paused already,
 * QLM_STORE_NOTFOUND when it was not, and nothing changes.  Each change
 * moves a generation number: paused_gen() reads it (one key, no walk), so
 * that a process polls it cheaply and reads the list with
 * paused_foreach() only when it moved; paused_foreach() gives the
 * generation of the list it walked (gen may be NULL), in URL order.
 */

typedef struct {
    qlm_store_str_t   url;        /* not NUL-terminated: LMDB's key */
    uint64_t          since;      /* ms */
    qlm_store_str_t   by;
} qlm_store_paused_t;

typedef int (*qlm_store_paused_pt)(const qlm_store_paused_t *p,
    void *data);

int qlm_store_url_pause(qlm_store_t *st, qlm_store_str_t url,
    unsigned pause, uint64_t now, qlm_store_str_t by);
int qlm_store_paused_gen(qlm_store_t *st, uint64_t *gen);
int qlm_store_paused_foreach(qlm_store_t *st, qlm_store_paused_pt cb,
    void *data, uint64_t *gen);


#endif /* _QLM_STORE_H_INCLUDED_ */
