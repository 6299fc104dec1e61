
/*
 * qlm_store: a process's journal of events, for stores that promise
 * nothing is acknowledged before it is on disk (nginx's sync=on).
 *
 * An LMDB commit that is on disk costs a page write for each page it
 * dirtied, an fdatasync() and a synchronous write of the meta page.  The
 * journal makes a batch of events durable with one sequential write and
 * one fdatasync() instead; the batch is committed to LMDB after that, off
 * the path of the answers that wait for it, by a commit that is itself
 * synced and records the last journal record it holds ("j:" and the
 * journal's name in meta).  A journal whose process ended before all of
 * its records were committed is replayed into the store by the next
 * process that recovers, and removed.
 *
 * The file (written whole at open): records one after another from offset
 * 0, each at a page, a header (magic, length, number, CRC-32 of the events
 * and then of the header's first 16 bytes) and its events.  Numbers follow
 * one another; a rewind writes again from offset 0 once every record is
 * committed, so the first record whose number does not follow, or whose
 * checksum fails (a write the crash cut short), ends the journal.  An
 * exclusive flock() on the file says its process is alive.
 */


#include "qlm_store_int.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <zlib.h>


#define QLM_STORE_J_MAGIC     0x314a4d51  /* "QMJ1" */
#define QLM_STORE_J_HEADER    20
#define QLM_STORE_J_ALIGN     4096      /* records start at a page: one
                                           never shares a page with a
                                           record being flushed */
#define QLM_STORE_J_PREALLOC  (4 * 1024 * 1024)
#define QLM_STORE_J_KEY       "j:"
#define QLM_STORE_J_NAME_MAX  64
#define QLM_STORE_J_KEY_SIZE  (sizeof(QLM_STORE_J_KEY) + QLM_STORE_J_NAME_MAX)
#define QLM_STORE_J_MAX       (64 * 1024 * 1024)   /* a record, at most */

#define QLM_STORE_J_REC       0x01
#define QLM_STORE_J_DELETED   0x02

#define qlm_store_j_align(n)                                                  \
    (((n) + QLM_STORE_J_ALIGN - 1) & ~((size_t) QLM_STORE_J_ALIGN - 1))


struct qlm_store_journal_s {
    int                   fd;
    char                 *path;
    char                  key[QLM_STORE_J_KEY_SIZE];

    /*
     * Writers take numbers and places in turn, under the mutex, and
     * flush outside it: a record's flush covers every record before it.
     * After a failed write or flush, every write fails until the rewind:
     * a record after a hole would never be replayed.
     */
    pthread_mutex_t       mutex;
    uint64_t              lsn;        /* the last record written */
    off_t                 off;        /* where the next one goes */
    int                   error;
};


static int qlm_store_journal_size_of(const qlm_store_item_t *items,
    size_t n, int table, const qlm_store_record_t *rec, size_t *sizep);
static int qlm_store_journal_reserve(qlm_store_journal_rec_t *jr,
    size_t n);
static void qlm_store_journal_put_str(unsigned char **p,
    const qlm_store_str_t *s);
static uint32_t qlm_store_journal_crc(uint32_t crc, const unsigned char *p,
    size_t len);
static int qlm_store_journal_fill(int fd);
static int qlm_store_journal_sync_dir(const char *dir);
static int qlm_store_journal_paths(const char *dir, const char *name,
    char *path, char *key);
static int qlm_store_journal_replay(qlm_store_t *st, const char *dir,
    const char *path, const char *key, uint64_t *replayed);
static char *qlm_store_journal_locks(void);
static int qlm_store_journal_live(const char *locks, const struct stat *sb,
    const char *name);
static int qlm_store_journal_records(qlm_store_t *st, int fd,
    const struct stat *sb, const char *key, unsigned apply,
    uint64_t *events);
static int qlm_store_journal_apply(qlm_store_t *st, const char *key,
    const unsigned char *p, const unsigned char *end, uint64_t lsn,
    uint64_t *replayed);
static int qlm_store_journal_event(qlm_store_write_t *w,
    qlm_store_buf_t *b);
static void qlm_store_journal_str(qlm_store_buf_t *b, qlm_store_str_t *s);
static int qlm_store_journal_forget(qlm_store_t *st, const char *key);
static int qlm_store_journal_stale(qlm_store_t *st, const char *dir);


int
qlm_store_journal_open(qlm_store_t *st, const char *dir,
    qlm_store_journal_t **jp)
{
    int                   rc;
    size_t                n;
    struct timeval        tv;
    qlm_store_journal_t  *j;

    if (jp == NULL) {
        return QLM_STORE_INVALID;
    }

    *jp = NULL;

    if (st == NULL || dir == NULL) {
        return QLM_STORE_INVALID;
    }

    if (st->read_only) {
        return EACCES;
    }

    j = calloc(1, sizeof(qlm_store_journal_t));
    if (j == NULL) {
        return ENOMEM;
    }

    j->fd = -1;

    rc = pthread_mutex_init(&j->mutex, NULL);
    if (rc != 0) {
        free(j);
        return rc;
    }

    /* the pid and the time: a name no later process takes again */

    (void) gettimeofday(&tv, NULL);

    (void) snprintf(j->key, sizeof(j->key), QLM_STORE_J_KEY
                    QLM_STORE_JOURNAL_PREFIX "%ld-%llu", (long) getpid(),
                    (unsigned long long) tv.tv_sec * 1000000 + tv.tv_usec);

    n = strlen(dir) + 1 + strlen(j->key) + 1;

    j->path = malloc(n);
    if (j->path == NULL) {
        (void) pthread_mutex_destroy(&j->mutex);
        free(j);
        return ENOMEM;
    }

    (void) snprintf(j->path, n, "%s/%s", dir,
                    j->key + sizeof(QLM_STORE_J_KEY) - 1);

    j->fd = open(j->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (j->fd == -1) {
        rc = errno;
        goto failed;
    }

    if (flock(j->fd, LOCK_EX | LOCK_NB) == -1) {
        rc = errno;
        (void) unlink(j->path);
        goto failed;
    }

    /*
     * Written whole first: a record's flush then writes its pages only,
     * no block map and no size (O_DIRECT | O_DSYNC writes, one flush each,
     * served a quarter fewer answers a second than this)
     */

    rc = qlm_store_journal_fill(j->fd);

    if (rc == 0) {
        rc = qlm_store_journal_sync_dir(dir);
    }

    if (rc != 0) {
        (void) unlink(j->path);
        goto failed;
    }

    *jp = j;

    return 0;

failed:

    if (j->fd != -1) {
        (void) close(j->fd);
    }

    (void) pthread_mutex_destroy(&j->mutex);
    free(j->path);
    free(j);

    return rc;
}


/* with forget: every record is in the store, the file goes */

void
qlm_store_journal_close(qlm_store_t *st, qlm_store_journal_t *j,
    unsigned forget)
{
    if (j == NULL) {
        return;
    }

    if (forget && unlink(j->path) == 0) {
        (void) qlm_store_journal_forget(st, j->key);
    }

    (void) close(j->fd);

    (void) pthread_mutex_destroy(&j->mutex);
    free(j->path);
    free(j);
}


void
qlm_store_journal_rec_free(qlm_store_journal_rec_t *rec)
{
    if (rec) {
        free(rec->buf);
        memset(rec, 0, sizeof(qlm_store_journal_rec_t));
    }
}


int
qlm_store_journal_add(qlm_store_journal_rec_t *jr,
    const qlm_store_item_t *items, size_t n, int table,
    const qlm_store_record_t *rec)
{
    int                     rc;
    size_t                  i, size;
    unsigned char          *p;
    const qlm_store_str_t  *s;

    if (jr == NULL) {
        return QLM_STORE_INVALID;
    }

    rc = qlm_store_journal_size_of(items, n, table, rec, &size);

    if (rc == 0) {
        rc = qlm_store_journal_reserve(jr, size);
    }

    if (rc != 0) {
        jr->error = rc;
        return rc;
    }

    p = jr->buf + jr->len;

    *p++ = (unsigned char) table;
    *p++ = (unsigned char) ((rec ? QLM_STORE_J_REC : 0)
                            | (rec && rec->deleted ? QLM_STORE_J_DELETED
                                                   : 0));

    if (rec) {
        qlm_store_journal_put_str(&p, &rec->key);
        qlm_store_put_varint(&p, rec->updated);
        qlm_store_put_varint(&p, rec->nfields);

        for (i = 0; i < rec->nfields; i++) {
            qlm_store_journal_put_str(&p, &rec->fields[i].name);
            qlm_store_journal_put_str(&p, &rec->fields[i].value);
        }
    }

    qlm_store_put_varint(&p, n);

    for (i = 0; i < n; i++) {
        qlm_store_put_varint(&p, items[i].due);
        qlm_store_put_varint(&p, items[i].created);
        qlm_store_put_varint(&p, items[i].updated);
        qlm_store_put_varint(&p, items[i].attempt);
        qlm_store_put_varint(&p, (uint32_t) items[i].last_status);

        for (s = &items[i].event_id; s <= &items[i].last_error; s++) {
            qlm_store_journal_put_str(&p, s);
        }
    }

    jr->len = p - jr->buf;
    jr->nevents++;

    return 0;
}


/* what an event takes in a record, at most: varints of 10 bytes */

static int
qlm_store_journal_size_of(const qlm_store_item_t *items, size_t n, int table,
    const qlm_store_record_t *rec, size_t *sizep)
{
    size_t                  i, size;
    const qlm_store_str_t  *s;

    if ((items == NULL && n)
        || (rec && table != QLM_STORE_LICENSES
            && table != QLM_STORE_CUSTOMERS))
    {
        return QLM_STORE_INVALID;
    }

    size = 2 + 10;

    if (rec) {
        if (!qlm_store_str_ok(&rec->key)) {
            return QLM_STORE_INVALID;
        }

        size += 10 + rec->key.len + 10 + 10;

        for (i = 0; i < rec->nfields; i++) {
            if (!qlm_store_str_ok(&rec->fields[i].name)
                || !qlm_store_str_ok(&rec->fields[i].value))
            {
                return QLM_STORE_INVALID;
            }

            size += 20 + rec->fields[i].name.len + rec->fields[i].value.len;
        }
    }

    for (i = 0; i < n; i++) {
        size += 5 * 10;

        for (s = &items[i].event_id; s <= &items[i].last_error; s++) {
            if (!qlm_store_str_ok(s)) {
                return QLM_STORE_INVALID;
            }

            size += 10 + s->len;
        }
    }

    if (size > QLM_STORE_J_MAX) {
        return QLM_STORE_INVALID;
    }

    *sizep = size;

    return 0;
}


/*
 * The events added to rec since its last write, as one record, on disk
 * when it returns 0; *lsn is its number (0 and nothing written: no
 * events).  On an error the events are dropped from the journal: their
 * caller commits them to the store with its own sync.  Several threads
 * may write at once.
 */

int
qlm_store_journal_write(qlm_store_journal_t *j, qlm_store_journal_rec_t *rec,
    uint64_t *lsn)
{
    int             rc;
    off_t           off;
    size_t          len, size;
    ssize_t         n;
    uint32_t        crc;
    uint64_t        num;
    unsigned char  *p;

    if (j == NULL || rec == NULL || lsn == NULL) {
        return QLM_STORE_INVALID;
    }

    *lsn = 0;
    num = 0;

    rc = rec->error;

    if (rc != 0 || rec->nevents == 0) {
        goto done;
    }

    /* the events' part of the checksum outside the lock */

    len = rec->len - QLM_STORE_J_HEADER;
    crc = qlm_store_journal_crc(0, rec->buf + QLM_STORE_J_HEADER, len);

    size = qlm_store_j_align(rec->len);
    memset(rec->buf + rec->len, 0, size - rec->len);

    p = rec->buf;
    qlm_store_put_u32(&p, QLM_STORE_J_MAGIC);
    qlm_store_put_u32(&p, (uint32_t) len);

    (void) pthread_mutex_lock(&j->mutex);

    rc = j->error;

    if (rc == 0) {
        num = j->lsn + 1;
        off = j->off;

        qlm_store_put_u64(&p, num);
        crc = qlm_store_journal_crc(crc, rec->buf, QLM_STORE_J_HEADER - 4);
        qlm_store_put_u32(&p, crc);

        n = pwrite(j->fd, rec->buf, size, off);

        if (n == -1) {
            rc = errno;

        } else if ((size_t) n != size) {
            rc = ENOSPC;
        }

        if (rc == 0) {
            j->lsn = num;
            j->off = off + size;

        } else {
            j->error = rc;
        }
    }

    (void) pthread_mutex_unlock(&j->mutex);

    if (rc != 0) {
        goto done;
    }

    if (fdatasync(j->fd) == -1) {
        rc = errno;

        (void) pthread_mutex_lock(&j->mutex);
        j->error = rc;
        (void) pthread_mutex_unlock(&j->mutex);

        goto done;
    }

done:

    if (rc == 0) {
        *lsn = num;
    }

    rec->len = 0;
    rec->nevents = 0;
    rec->error = 0;

    return rc;
}


/* every record written is committed to the store, and that is on disk */

void
qlm_store_journal_rewind(qlm_store_journal_t *j)
{
    if (j) {
        j->off = 0;
        j->error = 0;
    }
}


size_t
qlm_store_journal_size(qlm_store_journal_t *j)
{
    off_t  off;

    if (j == NULL) {
        return 0;
    }

    (void) pthread_mutex_lock(&j->mutex);
    off = j->off;
    (void) pthread_mutex_unlock(&j->mutex);

    return (size_t) off;
}


/* in w's transaction: j's records up to lsn are in the store */

int
qlm_store_write_journaled(qlm_store_write_t *w, qlm_store_journal_t *j,
    uint64_t lsn)
{
    int  rc;

    if (w == NULL || j == NULL) {
        return QLM_STORE_INVALID;
    }

    if (w->error) {
        return w->error;
    }

    rc = qlm_store_meta_put_u64(w->st, w->txn, j->key, lsn);

    if (rc != 0) {
        w->error = rc;
    }

    return rc;
}


/*
 * Replays into st the journals in dir whose processes ended (no lock on
 * them), a record a transaction, and removes them; *replayed
 * counts the events.  A journal that cannot be read stays, for the next
 * recovery, and its error is returned after the others were tried.
 */

int
qlm_store_journal_recover(qlm_store_t *st, const char *dir,
    uint64_t *replayed)
{
    int             rc, first;
    DIR            *d;
    char            path[PATH_MAX], key[QLM_STORE_J_KEY_SIZE];
    uint64_t        events;
    struct dirent  *de;

    if (st == NULL || dir == NULL) {
        return QLM_STORE_INVALID;
    }

    if (replayed) {
        *replayed = 0;
    }

    if (st->read_only) {
        return 0;
    }

    d = opendir(dir);
    if (d == NULL) {
        return errno;
    }

    first = 0;
    events = 0;

    while ((de = readdir(d)) != NULL) {
        if (qlm_store_journal_paths(dir, de->d_name, path, key) != 0) {
            continue;
        }

        rc = qlm_store_journal_replay(st, dir, path, key, &events);

        if (rc != 0 && first == 0) {
            first = rc;
        }
    }

    (void) closedir(d);

    rc = qlm_store_journal_stale(st, dir);

    if (replayed) {
        *replayed = events;
    }

    return first ? first : rc;
}


/*
 * What the journals in dir hold, for a look at the store: those of live
 * processes are only counted; those of ended ones (replayed at the next
 * recovery) are read, and the events not yet in the store counted.  No
 * lock is taken: a recovery that found one held would take the journal
 * for a live process's and leave it.
 */

int
qlm_store_journal_info(qlm_store_t *st, const char *dir,
    qlm_store_journal_info_t *info)
{
    int             fd, rc, first;
    DIR            *d;
    char           *locks, path[PATH_MAX], key[QLM_STORE_J_KEY_SIZE];
    struct stat     sb;
    struct dirent  *de;

    if (st == NULL || dir == NULL || info == NULL) {
        return QLM_STORE_INVALID;
    }

    memset(info, 0, sizeof(qlm_store_journal_info_t));

    d = opendir(dir);
    if (d == NULL) {
        return errno;
    }

    locks = qlm_store_journal_locks();
    first = 0;

    while ((de = readdir(d)) != NULL) {
        if (qlm_store_journal_paths(dir, de->d_name, path, key) != 0) {
            continue;
        }

        fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd == -1 || fstat(fd, &sb) == -1) {
            rc = errno;

            if (fd != -1) {
                (void) close(fd);
            }

            /* replayed and removed meanwhile */

            if (rc != ENOENT && first == 0) {
                first = rc;
            }

            continue;
        }

        if (qlm_store_journal_live(locks, &sb, de->d_name)) {
            info->live++;

        } else {
            info->ended++;

            rc = qlm_store_journal_records(st, fd, &sb, key, 0,
                                           &info->events);
            if (rc != 0 && first == 0) {
                first = rc;
            }
        }

        (void) close(fd);
    }

    (void) closedir(d);
    free(locks);

    return first;
}


/* the kernel's table of file locks (Linux), or NULL */

static char *
qlm_store_journal_locks(void)
{
    int       fd;
    char     *buf, *p;
    size_t    len, size;
    ssize_t   n;

    fd = open("/proc/locks", O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return NULL;
    }

    size = 8192;
    len = 0;
    buf = malloc(size);

    while (buf) {
        if (size - len < 2) {
            p = realloc(buf, size * 2);

            if (p == NULL) {
                free(buf);
                buf = NULL;
                break;
            }

            buf = p;
            size *= 2;
        }

        n = read(fd, buf + len, size - len - 1);

        if (n < 0) {
            free(buf);
            buf = NULL;
            break;
        }

        if (n == 0) {
            buf[len] = '\0';
            break;
        }

        len += n;
    }

    (void) close(fd);

    return buf;
}


/*
 * Whether a process holds the journal's flock(): a FLOCK line of the
 * lock table naming its device and inode; without the table, whether the
 * process of the pid in its name runs
 */

static int
qlm_store_journal_live(const char *locks, const struct stat *sb,
    const char *name)
{
    long         pid;
    char         file[64];
    const char  *p, *q, *line;

    if (locks) {
        (void) snprintf(file, sizeof(file), " %02x:%02x:%lu ",
                        major(sb->st_dev), minor(sb->st_dev),
                        (unsigned long) sb->st_ino);

        for (p = strstr(locks, file); p; p = strstr(p + 1, file)) {

            for (line = p; line > locks && line[-1] != '\n'; line--) {
                /* void */
            }

            for (q = line; q + 5 <= p; q++) {
                if (memcmp(q, "FLOCK", 5) == 0) {
                    return 1;
                }
            }
        }

        return 0;
    }

    pid = strtol(name + sizeof(QLM_STORE_JOURNAL_PREFIX) - 1, NULL, 10);

    return pid > 0 && (kill((pid_t) pid, 0) == 0 || errno == EPERM);
}


/*
 * A journal's file and its mark's key, from dir and its name: not a
 * journal's name (or too long), nonzero
 */

static int
qlm_store_journal_paths(const char *dir, const char *name, char *path,
    char *key)
{
    if (strncmp(name, QLM_STORE_JOURNAL_PREFIX,
                sizeof(QLM_STORE_JOURNAL_PREFIX) - 1) != 0
        || strlen(name) > QLM_STORE_J_NAME_MAX
        || (size_t) snprintf(path, PATH_MAX, "%s/%s", dir, name)
           >= PATH_MAX)
    {
        return QLM_STORE_INVALID;
    }

    (void) snprintf(key, QLM_STORE_J_KEY_SIZE, QLM_STORE_J_KEY "%.*s",
                    (int) QLM_STORE_J_NAME_MAX, name);

    return 0;
}


static int
qlm_store_journal_replay(qlm_store_t *st, const char *dir, const char *path,
    const char *key, uint64_t *replayed)
{
    int                    fd, rc;
    struct stat            sb;

    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd == -1) {
        return errno == ENOENT ? 0 : errno;
    }

    /* its process lives, or another recovery has it */

    if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        rc = (errno == EWOULDBLOCK) ? 0 : errno;
        (void) close(fd);
        return rc;
    }

    /* ... or had it, and removed it before its lock went */

    if (fstat(fd, &sb) == -1 || sb.st_nlink == 0) {
        (void) close(fd);
        return 0;
    }

    rc = qlm_store_journal_records(st, fd, &sb, key, 1, replayed);

    if (rc == 0) {

        /* replayed: the file first, then its mark */

        if (unlink(path) == -1) {
            rc = errno;

        } else {
            (void) qlm_store_journal_sync_dir(dir);
            rc = qlm_store_journal_forget(st, key);
        }
    }

    (void) close(fd);

    return rc;
}


/*
 * The records of the journal fd that its mark key in st does not cover,
 * in order, up to the first one missing or cut short: each applied to st
 * in a transaction of its own, or only counted (apply 0); *events counts
 * their events
 */

static int
qlm_store_journal_records(qlm_store_t *st, int fd, const struct stat *sb,
    const char *key, unsigned apply, uint64_t *events)
{
    int                    rc;
    size_t                 got;
    ssize_t                n;
    uint32_t               len, crc;
    uint64_t               lsn, applied, next;
    unsigned char         *data, *p, *end;
    qlm_store_buf_t        b;
    MDB_txn               *txn;

    data = malloc(sb->st_size ? sb->st_size : 1);
    if (data == NULL) {
        return ENOMEM;
    }

    for (got = 0; got < (size_t) sb->st_size; got += n) {
        n = pread(fd, data + got, sb->st_size - got, got);

        if (n <= 0) {
            break;
        }
    }

    rc = qlm_store_txn_begin(st, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = qlm_store_meta_get_u64(st, txn, key, &applied);
        qlm_store_abort(txn);
    }

    if (rc != 0) {
        goto done;
    }

    p = data;
    end = data + got;
    next = 0;

    while (end - p >= QLM_STORE_J_HEADER) {
        b.pos = p;
        b.end = end;
        b.error = 0;

        if (qlm_store_get_u32(&b) != QLM_STORE_J_MAGIC) {
            break;
        }

        len = qlm_store_get_u32(&b);
        lsn = qlm_store_get_u64(&b);
        crc = qlm_store_get_u32(&b);

        if (len > (size_t) (end - b.pos) || (next && lsn != next)
            || crc != qlm_store_journal_crc(
                          qlm_store_journal_crc(0, b.pos, len),
                          p, QLM_STORE_J_HEADER - 4))
        {
            break;
        }

        if (lsn > applied) {
            rc = qlm_store_journal_apply(apply ? st : NULL, key, b.pos,
                                         b.pos + len, lsn, events);
            if (rc != 0) {
                goto done;
            }
        }

        next = lsn + 1;
        p = data + qlm_store_j_align((size_t) (b.pos + len - data));
    }

done:

    free(data);

    return rc;
}


/*
 * One record's events, and the mark that they are in, in one commit; with
 * no st, the events are only read and counted
 */

static int
qlm_store_journal_apply(qlm_store_t *st, const char *key,
    const unsigned char *p, const unsigned char *end, uint64_t lsn,
    uint64_t *replayed)
{
    int                 rc;
    uint64_t            events;
    qlm_store_buf_t     b;
    qlm_store_write_t  *w;

    w = NULL;

    if (st) {
        rc = qlm_store_write_begin(st, &w);
        if (rc != 0) {
            return rc;
        }
    }

    b.pos = p;
    b.end = end;
    b.error = 0;

    events = 0;
    rc = 0;

    while (b.pos < b.end) {
        rc = qlm_store_journal_event(w, &b);
        if (rc != 0) {
            break;
        }

        events++;
    }

    if (w) {
        if (rc == 0) {
            rc = qlm_store_meta_put_u64(st, w->txn, key, lsn);
        }

        if (rc == 0) {
            rc = qlm_store_write_commit(w);

        } else {
            qlm_store_write_abort(w);
        }
    }

    if (rc == 0) {
        *replayed += events;
    }

    return rc;
}


static int
qlm_store_journal_event(qlm_store_write_t *w, qlm_store_buf_t *b)
{
    int                  rc, table, flags;
    size_t               i, n, nfields;
    qlm_store_str_t     *s;
    qlm_store_item_t    *items;
    qlm_store_field_t   *fields;
    qlm_store_record_t   rec;

    if (b->end - b->pos < 2) {
        return QLM_STORE_CORRUPT;
    }

    table = *b->pos++;
    flags = *b->pos++;

    fields = NULL;
    items = NULL;

    if (flags & QLM_STORE_J_REC) {
        memset(&rec, 0, sizeof(rec));

        qlm_store_journal_str(b, &rec.key);
        rec.updated = qlm_store_varint(b);
        rec.deleted = (flags & QLM_STORE_J_DELETED) ? 1 : 0;
        nfields = qlm_store_varint(b);

        if (b->error || nfields > (size_t) (b->end - b->pos) / 2) {
            return QLM_STORE_CORRUPT;
        }

        if (nfields) {
            fields = calloc(nfields, sizeof(qlm_store_field_t));
            if (fields == NULL) {
                return ENOMEM;
            }
        }

        for (i = 0; i < nfields; i++) {
            qlm_store_journal_str(b, &fields[i].name);
            qlm_store_journal_str(b, &fields[i].value);
        }

        rec.nfields = nfields;
        rec.fields = fields;
    }

    n = qlm_store_varint(b);

    if (b->error || n > (size_t) (b->end - b->pos) / 11) {
        rc = QLM_STORE_CORRUPT;
        goto done;
    }

    if (n) {
        items = calloc(n, sizeof(qlm_store_item_t));
        if (items == NULL) {
            rc = ENOMEM;
            goto done;
        }
    }

    /* stored due, not leased: the worker that held them is gone */

    for (i = 0; i < n; i++) {
        items[i].due = qlm_store_varint(b);
        items[i].created = qlm_store_varint(b);
        items[i].updated = qlm_store_varint(b);
        items[i].attempt = (uint32_t) qlm_store_varint(b);
        items[i].last_status = (int32_t) qlm_store_varint(b);

        for (s = &items[i].event_id; s <= &items[i].last_error; s++) {
            qlm_store_journal_str(b, s);
        }
    }

    if (b->error) {
        rc = QLM_STORE_CORRUPT;
        goto done;
    }

    rc = (w == NULL) ? 0
         : qlm_store_write_enqueue_event(w, items, n, table,
                                         (flags & QLM_STORE_J_REC) ? &rec
                                                                   : NULL);

done:

    free(items);
    free(fields);

    return rc;
}


/* the marks of journals whose file is gone: a recovery cut short */

static int
qlm_store_journal_stale(qlm_store_t *st, const char *dir)
{
    int          rc;
    char         path[PATH_MAX], key[QLM_STORE_J_KEY_SIZE];
    size_t       klen;
    MDB_val      k, v;
    MDB_txn     *txn;
    MDB_cursor  *cur;

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_open(txn, st->meta, &cur);
    if (rc != 0) {
        qlm_store_abort(txn);
        return qlm_store_rc(rc);
    }

    k.mv_data = QLM_STORE_J_KEY;
    k.mv_size = sizeof(QLM_STORE_J_KEY) - 1;

    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        if (k.mv_size < sizeof(QLM_STORE_J_KEY) - 1
            || memcmp(k.mv_data, QLM_STORE_J_KEY,
                      sizeof(QLM_STORE_J_KEY) - 1) != 0)
        {
            break;
        }

        klen = k.mv_size - (sizeof(QLM_STORE_J_KEY) - 1);

        if (klen > QLM_STORE_J_NAME_MAX) {
            continue;
        }

        memcpy(key, (char *) k.mv_data + sizeof(QLM_STORE_J_KEY) - 1, klen);
        key[klen] = '\0';

        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, key)
            >= sizeof(path)
            || access(path, F_OK) == 0 || errno != ENOENT)
        {
            continue;
        }

        rc = mdb_cursor_del(cur, 0);
        if (rc != 0) {
            break;
        }
    }

    if (rc != 0 && rc != MDB_NOTFOUND) {
        qlm_store_abort(txn);
        return qlm_store_rc(rc);
    }

    return qlm_store_commit(txn);
}


static int
qlm_store_journal_forget(qlm_store_t *st, const char *key)
{
    int       rc;
    MDB_val   k;
    MDB_txn  *txn;

    rc = qlm_store_txn_begin(st, 0, &txn);
    if (rc != 0) {
        return rc;
    }

    k.mv_data = (void *) key;
    k.mv_size = strlen(key);

    rc = mdb_del(txn, st->meta, &k, NULL);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        qlm_store_abort(txn);
        return qlm_store_rc(rc);
    }

    return qlm_store_commit(txn);
}


static int
qlm_store_journal_fill(int fd)
{
    off_t           off;
    ssize_t         n;
    unsigned char  *zeros;

    zeros = calloc(1, 65536);
    if (zeros == NULL) {
        return ENOMEM;
    }

    for (off = 0; off < QLM_STORE_J_PREALLOC; off += n) {
        n = pwrite(fd, zeros, 65536, off);

        if (n <= 0) {
            free(zeros);
            return n == 0 ? ENOSPC : errno;
        }
    }

    free(zeros);

    return fdatasync(fd) == -1 ? errno : 0;
}


static int
qlm_store_journal_sync_dir(const char *dir)
{
    int  fd, rc;

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1) {
        return errno;
    }

    rc = (fsync(fd) == -1) ? errno : 0;

    (void) close(fd);

    return rc;
}


static int
qlm_store_journal_reserve(qlm_store_journal_rec_t *jr, size_t n)
{
    size_t          size;
    unsigned char  *buf;

    if (jr->len == 0) {
        jr->len = QLM_STORE_J_HEADER;
    }

    /* the padding to the next page too */

    if (qlm_store_j_align(jr->len + n) <= jr->size) {
        return 0;
    }

    size = jr->size ? jr->size : 16384;

    while (size < qlm_store_j_align(jr->len + n)) {
        size *= 2;
    }

    buf = realloc(jr->buf, size);
    if (buf == NULL) {
        return ENOMEM;
    }

    jr->buf = buf;
    jr->size = size;

    return 0;
}


static void
qlm_store_journal_put_str(unsigned char **p, const qlm_store_str_t *s)
{
    qlm_store_put_varint(p, s->len);

    if (s->len) {
        memcpy(*p, s->data, s->len);
        *p += s->len;
    }
}


static void
qlm_store_journal_str(qlm_store_buf_t *b, qlm_store_str_t *s)
{
    uint64_t  len;

    len = qlm_store_varint(b);

    if (b->error || len > (uint64_t) (b->end - b->pos)) {
        b->error = 1;
        s->len = 0;
        s->data = NULL;
        return;
    }

    s->len = len;
    s->data = (const char *) b->pos;
    b->pos += len;
}


/*
 * CRC-32 continued from crc (0 to begin): a record's is of its events,
 * then of its header's first bytes (magic, length, number)
 */

static uint32_t
qlm_store_journal_crc(uint32_t crc, const unsigned char *p, size_t len)
{
    /*
     * zlib's: the same CRC-32 (IEEE 802.3, reflected) as the byte-wise
     * table this file had, several bytes a step; a record's checksum was
     * a third of its writing thread's time.  len fits a uInt: a record's
     * length is a uint32, and at most QLM_STORE_J_MAX.
     */

    return crc32(crc, p, (uInt) len);
}


