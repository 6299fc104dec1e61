
/*
 * qlm-store on a PostgreSQL store: the same commands and output as on
 * LMDB (summary, queue, dead, log, replay, recover, licenses, customers,
 * import), and the schema's creation and migrations.  Synchronous libpq:
 * this is a command line tool.  The password comes from a file, never
 * from the connection string, and is never printed.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "qlm_store.h"
#include "qlm-store-cli.h"
#include "qlm_pg_schema.h"


#define PG_PASSWORD_MAX  1024
#define PG_MIRROR_STEP   1000       /* records a slice of licenses */
#define PG_IMPORT_BATCH  256        /* records a transaction of import */


typedef struct {
    PGconn       *c;
    int           table;
    uint64_t      now;
    size_t        not_utf8;         /* fields left out */
    size_t        bad_keys;         /* records left out */
    size_t        n;                /* records in the statement */
    const char   *params[3 * PG_IMPORT_BATCH];
    char         *bodies[PG_IMPORT_BATCH];
} pg_import_t;


static int pg_error(const char *what, const char *msg);
static int pg_password(const char *file, char *buf, size_t size);
static PGconn *pg_connect(const char *conninfo, const char *password_file);
static int pg_schema(PGconn *c, const char *arg, ctx_t *ctx);
static int pg_version_ok(PGconn *c);
static uint64_t pg_u64(const PGresult *r, int row, int col);
static qlm_store_str_t pg_str(const PGresult *r, int row, int col);
static int pg_foreach(PGconn *c, const char *sql, int nparams,
    const char *const *params, int (*row)(const PGresult *r, ctx_t *ctx),
    ctx_t *ctx, const char *what);
static unsigned char *pg_bytea(const PGresult *r, int row, int col,
    qlm_store_str_t *s);
static int pg_item_row(const PGresult *r, ctx_t *ctx);
static int pg_log_row(const PGresult *r, ctx_t *ctx);
static int pg_summary(PGconn *c, ctx_t *ctx);
static int pg_items(PGconn *c, int cmd, ctx_t *ctx);
static int pg_log(PGconn *c, ctx_t *ctx);
static int pg_replay(PGconn *c, uint64_t id, uint64_t since, ctx_t *ctx);
static int pg_mirror(PGconn *c, int table, ctx_t *ctx);
static int pg_mirror_row(const PGresult *r, int row, ctx_t *ctx);
static int pg_import(PGconn *c, int table, const char *file, ctx_t *ctx);
static int pg_trim(PGconn *c, ctx_t *ctx);
static int pg_import_flush(const qlm_store_record_t *recs, size_t n,
    void *data);
static int pg_import_statement(pg_import_t *im);
static void pg_import_shown(const char *s, size_t len);


/* libpq's messages end with a newline: "qlm-store: what: message" */

static int
pg_error(const char *what, const char *msg)
{
    int  len;

    len = (int) strlen(msg);

    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) {
        len--;
    }

    fprintf(stderr, "%s: %s: %.*s\n", progname, what, len, msg);

    return 1;
}


/* the first line of the file; its text never goes to any output */

static int
pg_password(const char *file, char *buf, size_t size)
{
    int     err;
    FILE   *f;
    size_t  len;

    f = fopen(file, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: password file \"%s\": %s\n", progname, file,
                strerror(errno));
        return -1;
    }

    if (fgets(buf, (int) size, f) == NULL) {
        buf[0] = '\0';
    }

    err = ferror(f);
    fclose(f);

    len = strcspn(buf, "\r\n");
    buf[len] = '\0';

    if (err || len == 0) {
        fprintf(stderr, "%s: password file \"%s\": %s\n", progname, file,
                err ? "cannot read it" : "no password on its first line");
        return -1;
    }

    if (len == size - 1) {
        fprintf(stderr, "%s: password file \"%s\": its line is longer "
                "than %d bytes\n", progname, file, (int) size - 2);
        return -1;
    }

    return 0;
}


static PGconn *
pg_connect(const char *conninfo, const char *password_file)
{
    char         err[256], password[PG_PASSWORD_MAX];
    PGconn      *c;
    const char  *keys[4], *values[4];

    if (qlm_pg_conninfo_check(conninfo, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", progname, err);
        return NULL;
    }

    /* the expanded dbname first: what follows overrides it */

    keys[0] = "dbname";
    values[0] = conninfo;
    keys[1] = "fallback_application_name";
    values[1] = "qlm-store";
    keys[2] = NULL;
    values[2] = NULL;
    keys[3] = NULL;
    values[3] = NULL;

    if (password_file) {
        if (pg_password(password_file, password, sizeof(password)) != 0) {
            return NULL;
        }

        keys[2] = "password";
        values[2] = password;
    }

    c = PQconnectdbParams(keys, values, 1);

    if (password_file) {
        explicit_bzero(password, sizeof(password));
    }

    if (c == NULL) {
        fprintf(stderr, "%s: PQconnectdbParams: out of memory\n", progname);
        return NULL;
    }

    if (PQstatus(c) != CONNECTION_OK) {
        pg_error("connecting to PostgreSQL", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }

    return c;
}


/* every command but "schema" needs this program's schema version */

static int
pg_version_ok(PGconn *c)
{
    int   v;
    char  err[256];

    if (qlm_pg_schema_check(c, &v, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", progname, err);
        return 0;
    }

    if (v == QLM_PG_SCHEMA_VERSION) {
        return 1;
    }

    if (v == 0) {
        fprintf(stderr, "%s: the database has no qlm webhook schema "
                "(version 0), this qlm-store uses version %d: run "
                "\"qlm-store URL schema init\"\n", progname,
                QLM_PG_SCHEMA_VERSION);

    } else if (v < QLM_PG_SCHEMA_VERSION) {
        fprintf(stderr, "%s: the database's schema is at version %d, "
                "this qlm-store uses version %d: run \"qlm-store URL "
                "schema migrate\"\n", progname, v, QLM_PG_SCHEMA_VERSION);

    } else {
        fprintf(stderr, "%s: the database's schema is at version %d, "
                "this qlm-store uses version %d: use a qlm-store of "
                "version %d\n", progname, v, QLM_PG_SCHEMA_VERSION, v);
    }

    return 0;
}


static int
pg_schema(PGconn *c, const char *arg, ctx_t *ctx)
{
    int   from, to;
    char  err[512];

    if (strcmp(arg, "version") == 0) {
        if (qlm_pg_schema_check(c, &from, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s: %s\n", progname, err);
            return 1;
        }

        if (ctx->json) {
            printf("{\"version\":%d,\"program_version\":%d}\n", from,
                   QLM_PG_SCHEMA_VERSION);

        } else {
            printf("schema version %d (this qlm-store: %d)\n", from,
                   QLM_PG_SCHEMA_VERSION);
        }

        return 0;
    }

    if (strcmp(arg, "init") == 0) {
        if (qlm_pg_schema_init(c, &from, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s: schema init: %s\n", progname, err);
            return 1;
        }

        if (ctx->json) {
            printf("{\"created\":%s,\"version\":%d}\n",
                   from ? "false" : "true", QLM_PG_SCHEMA_VERSION);

        } else if (from) {
            printf("schema already at version %d\n", from);

        } else {
            printf("schema created at version %d\n", QLM_PG_SCHEMA_VERSION);
        }

        return 0;
    }

    if (qlm_pg_schema_migrate(c, &from, &to, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: schema migrate: %s\n", progname, err);
        return 1;
    }

    if (ctx->json) {
        printf("{\"from\":%d,\"to\":%d}\n", from, to);

    } else if (from == to) {
        printf("schema at version %d: nothing to migrate\n", to);

    } else {
        printf("schema migrated from version %d to %d\n", from, to);
    }

    return 0;
}


static uint64_t
pg_u64(const PGresult *r, int row, int col)
{
    return strtoull(PQgetvalue(r, row, col), NULL, 10);
}


static qlm_store_str_t
pg_str(const PGresult *r, int row, int col)
{
    qlm_store_str_t  s;

    s.data = PQgetvalue(r, row, col);
    s.len = PQgetlength(r, row, col);

    return s;
}


/*
 * A query's rows one at a time (libpq's single-row mode: a big table
 * does not sit in memory); a row callback returning non-zero stops.
 */

static int
pg_foreach(PGconn *c, const char *sql, int nparams,
    const char *const *params, int (*row)(const PGresult *r, ctx_t *ctx),
    ctx_t *ctx, const char *what)
{
    int        rc, stop;
    PGresult  *r;

    if (!PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0)
        || !PQsetSingleRowMode(c))
    {
        return pg_error(what, PQerrorMessage(c));
    }

    rc = 0;
    stop = 0;

    while ((r = PQgetResult(c)) != NULL) {
        switch (PQresultStatus(r)) {

        case PGRES_SINGLE_TUPLE:
            if (!stop && !rc) {
                rc = row(r, ctx);
                stop = (rc != 0);
                rc = (rc < 0);
            }
            break;

        case PGRES_TUPLES_OK:
            break;

        default:
            if (!rc) {
                rc = pg_error(what, PQresultErrorMessage(r));
            }
        }

        PQclear(r);
    }

    return rc;
}


/* a bytea column: its text (hex) form, decoded; PQfreemem() it */

static unsigned char *
pg_bytea(const PGresult *r, int row, int col, qlm_store_str_t *s)
{
    size_t          len;
    unsigned char  *b;

    b = PQunescapeBytea((const unsigned char *) PQgetvalue(r, row, col),
                        &len);
    if (b == NULL) {
        fprintf(stderr, "%s: out of memory\n", progname);
        exit(1);
    }

    s->data = (const char *) b;
    s->len = len;

    return b;
}


#define PG_ITEM_COLUMNS                                                     \
    "id, event_id, event, url, headers, body, attempt, last_status, "      \
    "last_error, created, updated"


static int
pg_item_row(const PGresult *r, ctx_t *ctx)
{
    int                rc;
    unsigned char     *body;
    qlm_store_item_t   item;

    memset(&item, 0, sizeof(item));

    item.id = pg_u64(r, 0, 0);
    item.event_id = pg_str(r, 0, 1);
    item.event = pg_str(r, 0, 2);
    item.url = pg_str(r, 0, 3);
    item.headers = pg_str(r, 0, 4);
    body = pg_bytea(r, 0, 5, &item.body);
    item.attempt = (uint32_t) pg_u64(r, 0, 6);
    item.last_status = atoi(PQgetvalue(r, 0, 7));
    item.last_error = pg_str(r, 0, 8);
    item.created = pg_u64(r, 0, 9);
    item.updated = pg_u64(r, 0, 10);

    if (!ctx->dead) {
        item.due = pg_u64(r, 0, 11);
        item.lease = pg_u64(r, 0, 12);
    }

    rc = print_item(&item, ctx);

    PQfreemem(body);

    return rc;
}


static int
pg_items(PGconn *c, int cmd, ctx_t *ctx)
{
    int          rc;
    char         limit[32], sql[512];
    const char  *params[1];

    snprintf(limit, sizeof(limit), "%zu", ctx->limit);
    params[0] = limit;

    if (cmd == CMD_QUEUE) {
        snprintf(sql, sizeof(sql), "SELECT " PG_ITEM_COLUMNS ", due, lease "
                 "FROM qlm_queue ORDER BY due, id %s",
                 ctx->limit ? "LIMIT $1" : "");

    } else {
        snprintf(sql, sizeof(sql), "SELECT " PG_ITEM_COLUMNS " "
                 "FROM qlm_dead ORDER BY id %s",
                 ctx->limit ? "LIMIT $1" : "");
    }

    items_begin(ctx, cmd);

    rc = pg_foreach(c, sql, ctx->limit ? 1 : 0, params, pg_item_row, ctx,
                    cmd == CMD_QUEUE ? "reading qlm_queue"
                                     : "reading qlm_dead");

    items_end(ctx);

    return rc;
}


static int
pg_log_row(const PGresult *r, ctx_t *ctx)
{
    int               rc;
    unsigned char    *answer;
    qlm_store_log_t   rec;

    memset(&rec, 0, sizeof(rec));

    rec.time = pg_u64(r, 0, 0);
    rec.item_id = pg_u64(r, 0, 1);
    rec.attempt = (uint32_t) pg_u64(r, 0, 2);
    rec.status = atoi(PQgetvalue(r, 0, 3));
    rec.duration = (uint32_t) pg_u64(r, 0, 4);
    rec.outcome = (uint32_t) pg_u64(r, 0, 5);
    rec.event_id = pg_str(r, 0, 6);
    rec.event = pg_str(r, 0, 7);
    rec.url = pg_str(r, 0, 8);
    rec.error = pg_str(r, 0, 9);
    answer = pg_bytea(r, 0, 10, &rec.answer);

    rc = print_log(&rec, ctx);

    PQfreemem(answer);

    return rc;
}


/* the LMDB log's filters, as a WHERE clause with parameters */

static int
pg_log(PGconn *c, ctx_t *ctx)
{
    int                      n, rc;
    char                     sql[1024], from[32], to[32], outcome[16];
    char                     limit[32];
    size_t                   len;
    const char              *params[7];
    qlm_store_log_filter_t  *f;

    f = &ctx->filter;
    n = 0;

    len = (size_t) snprintf(sql, sizeof(sql),
                            "SELECT time, item_id, attempt, status, "
                            "duration, outcome, event_id, event, url, "
                            "error, answer FROM qlm_log WHERE time >= $1");

    snprintf(from, sizeof(from), "%" PRIu64, f->from);
    params[n++] = from;

#define PG_WHERE(cond, value)                                               \
    params[n++] = (value);                                                  \
    len += (size_t) snprintf(sql + len, sizeof(sql) - len,                  \
                             " AND " cond " $%d", n)

    if (f->to) {
        snprintf(to, sizeof(to), "%" PRIu64, f->to);
        PG_WHERE("time <", to);
    }

    if (f->event.len) {
        PG_WHERE("event =", f->event.data);
    }

    if (f->event_id.len) {
        PG_WHERE("event_id =", f->event_id.data);
    }

    if (ctx->url.len) {
        PG_WHERE("url =", ctx->url.data);
    }

    if (f->outcome) {
        snprintf(outcome, sizeof(outcome), "%" PRIu32, f->outcome);
        PG_WHERE("outcome =", outcome);
    }

#undef PG_WHERE

    len += (size_t) snprintf(sql + len, sizeof(sql) - len,
                             f->newest_first
                             ? " ORDER BY time DESC, seq DESC"
                             : " ORDER BY time, seq");

    if (ctx->limit) {
        snprintf(limit, sizeof(limit), "%zu", ctx->limit);
        params[n++] = limit;
        snprintf(sql + len, sizeof(sql) - len, " LIMIT $%d", n);
    }

    log_begin(ctx);

    rc = pg_foreach(c, sql, n, params, pg_log_row, ctx, "reading qlm_log");

    log_end(ctx);

    return rc;
}


static int
pg_summary(PGconn *c, ctx_t *ctx)
{
    int                rc, i;
    char               now[32];
    uint64_t           db_size;
    PGresult          *r;
    const char        *params[1];
    qlm_store_stat_t   stat;

    /* one snapshot for every figure */

    r = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    rc = (PQresultStatus(r) != PGRES_COMMAND_OK);
    if (rc) {
        pg_error("BEGIN", PQresultErrorMessage(r));
    }
    PQclear(r);

    if (rc) {
        return 1;
    }

    snprintf(now, sizeof(now), "%" PRIu64, ctx->now);
    params[0] = now;

    r = PQexecParams(c,
            "SELECT count(*), count(*) FILTER (WHERE due <= $1), "
            "count(*) FILTER (WHERE lease <> 0 AND due > $1), "
            "coalesce(min(due), 0), "
            "(SELECT count(*) FROM qlm_dead), "
            "(SELECT count(*) FROM qlm_log), "
            "pg_database_size(current_database()) "
            "FROM qlm_queue", 1, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_error("reading the queue's figures", PQresultErrorMessage(r));
        PQclear(r);
        return 1;
    }

    memset(&stat, 0, sizeof(stat));

    stat.queued = pg_u64(r, 0, 0);
    stat.due = pg_u64(r, 0, 1);
    stat.leased = pg_u64(r, 0, 2);
    stat.next_due = pg_u64(r, 0, 3);
    stat.dead = pg_u64(r, 0, 4);
    stat.log_records = pg_u64(r, 0, 5);
    db_size = pg_u64(r, 0, 6);

    PQclear(r);

    /* sorted by their bytes, as the LMDB store lists them */

    r = PQexec(c, "SELECT name, value FROM qlm_counter "
                  "ORDER BY name COLLATE \"C\"");

    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_error("reading qlm_counter", PQresultErrorMessage(r));
        PQclear(r);
        return 1;
    }

    print_stat(ctx, &stat, 1, db_size, NULL);

    for (i = 0; i < PQntuples(r); i++) {
        print_counter(PQgetvalue(r, i, 0), pg_u64(r, i, 1), ctx);
    }

    PQclear(r);

    if (ctx->json) {
        printf("}}\n");
    }

    PQclear(PQexec(c, "COMMIT"));

    return 0;
}


/*
 * Dead letters back to the queue under the same id, due now, attempt 0,
 * last status and error kept, as the LMDB store does: one (id not 0), or
 * all that died at or after "since".  A dead letter whose event and URL
 * are queued already stays (qlm_queue's unique key); of several dead
 * letters of one event and URL, the newest goes.
 */

static int
pg_replay(PGconn *c, uint64_t id, uint64_t since, ctx_t *ctx)
{
    int          rc;
    char         sid[32], ssince[32], snow[32];
    uint64_t     n, kept;
    PGresult    *r;
    const char  *params[3], *what;

    snprintf(sid, sizeof(sid), "%" PRIu64, id);
    snprintf(ssince, sizeof(ssince), "%" PRIu64, since);
    snprintf(snow, sizeof(snow), "%" PRIu64, ctx->now);
    params[0] = sid;
    params[1] = ssince;
    params[2] = snow;

    what = "replaying dead letters";
    n = 0;
    kept = 0;

    r = PQexec(c, "BEGIN");
    rc = (PQresultStatus(r) != PGRES_COMMAND_OK);
    if (rc) {
        pg_error(what, PQresultErrorMessage(r));
    }
    PQclear(r);

    if (rc) {
        return 1;
    }

    r = PQexecParams(c,
            "WITH pick AS ("
            " SELECT DISTINCT ON (event_id, url) id FROM qlm_dead x"
            " WHERE ($1::bigint = 0 OR x.id = $1::bigint)"
            " AND x.updated >= $2::bigint"
            " AND NOT EXISTS (SELECT 1 FROM qlm_queue q"
            " WHERE q.event_id = x.event_id AND q.url = x.url)"
            " ORDER BY event_id, url, id DESC),"
            " d AS (DELETE FROM qlm_dead WHERE id IN (SELECT id FROM pick)"
            " RETURNING *)"
            " INSERT INTO qlm_queue (id, event_id, event, url, headers,"
            " body, due, lease, node, attempt, last_status, last_error,"
            " created, updated)"
            " SELECT id, event_id, event, url, headers, body, $3, 0, '', 0,"
            " last_status, last_error, created, $3 FROM d",
            3, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pg_error(what, PQresultErrorMessage(r));
        goto failed;
    }

    n = strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);

    r = PQexecParams(c,
            "SELECT count(*) FROM qlm_dead"
            " WHERE ($1::bigint = 0 OR id = $1::bigint)"
            " AND updated >= $2::bigint",
            2, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_error(what, PQresultErrorMessage(r));
        goto failed;
    }

    kept = pg_u64(r, 0, 0);
    PQclear(r);

    r = PQexec(c, "COMMIT");

    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pg_error(what, PQresultErrorMessage(r));
        PQclear(r);
        return 1;
    }

    PQclear(r);

    if (id && n == 0 && kept == 0) {
        fprintf(stderr, "%s: replay: %s\n", progname,
                qlm_store_strerror(QLM_STORE_NOTFOUND));
        return 1;
    }

    if (kept) {
        fprintf(stderr, "%s: %" PRIu64 " dead letter%s kept: a delivery of "
                "the same event to the same URL is queued\n", progname,
                kept, kept == 1 ? "" : "s");
    }

    if (ctx->json) {
        printf("{\"replayed\":%" PRIu64 "}\n", n);

    } else {
        printf("replayed %" PRIu64 "\n", n);
    }

    return (id && n == 0) ? 1 : 0;

failed:

    PQclear(r);
    PQclear(PQexec(c, "ROLLBACK"));

    return 1;
}


/*
 * licenses, customers: qlm_mirror's rows of one table in the primary
 * key's order (bytes, as LMDB keeps them, in a database whose collation
 * is C; "COLLATE C" on another would sort the table for every slice), in
 * slices of PG_MIRROR_STEP, each its own query resuming after the last
 * key: no long transaction, no million rows in memory (the text table,
 * as on LMDB, keeps its rows to align them).
 */

static int
pg_mirror(PGconn *c, int table, ctx_t *ctx)
{
    int          i, n, rc;
    char        *last, stbl[8], step[16];
    PGresult    *r;
    const char  *params[3];

    snprintf(stbl, sizeof(stbl), "%d", table);
    snprintf(step, sizeof(step), "%d", PG_MIRROR_STEP);

    last = strdup("");
    if (last == NULL) {
        fprintf(stderr, "%s: out of memory\n", progname);
        return 1;
    }

    mirror_begin(ctx);

    rc = 0;

    do {
        params[0] = stbl;
        params[1] = last;
        params[2] = step;

        r = PQexecParams(c,
                "SELECT key, updated, deleted, fields::text FROM qlm_mirror"
                " WHERE tbl = $1 AND key > $2 ORDER BY key LIMIT $3",
                3, NULL, params, NULL, NULL, 0);

        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = -pg_error("reading qlm_mirror", PQresultErrorMessage(r));
            PQclear(r);
            break;
        }

        n = PQntuples(r);

        for (i = 0; i < n && rc == 0; i++) {
            rc = pg_mirror_row(r, i, ctx);
        }

        if (n) {
            free(last);
            last = strdup(PQgetvalue(r, n - 1, 0));
        }

        PQclear(r);

        if (last == NULL) {
            fprintf(stderr, "%s: out of memory\n", progname);
            rc = -1;
        }

    } while (rc == 0 && n == PG_MIRROR_STEP
             && !(ctx->limit && ctx->count >= ctx->limit));

    mirror_end(ctx);

    free(last);

    return rc < 0;
}


/* a row as a mirror record: its fields the jsonb's strings, in its order */

static int
pg_mirror_row(const PGresult *r, int row, ctx_t *ctx)
{
    int                  rc;
    size_t               n;
    json_t              *doc, *v;
    const char          *name;
    qlm_store_field_t   *fields;
    qlm_store_record_t   rec;

    doc = json_loadb(PQgetvalue(r, row, 3), PQgetlength(r, row, 3), 0,
                     NULL);

    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        fprintf(stderr, "%s: qlm_mirror: the fields of \"%s\" are not a "
                "JSON object\n", progname, PQgetvalue(r, row, 0));
        return -1;
    }

    fields = calloc(json_object_size(doc) + 1, sizeof(qlm_store_field_t));
    if (fields == NULL) {
        json_decref(doc);
        fprintf(stderr, "%s: out of memory\n", progname);
        return -1;
    }

    n = 0;

    /* strings only, as nginx copies them into its local mirror */

    json_object_foreach(doc, name, v) {
        if (!json_is_string(v)) {
            continue;
        }

        fields[n].name.data = name;
        fields[n].name.len = strlen(name);
        fields[n].value.data = json_string_value(v);
        fields[n].value.len = json_string_length(v);
        n++;
    }

    memset(&rec, 0, sizeof(rec));

    rec.key = pg_str(r, row, 0);
    rec.updated = pg_u64(r, row, 1);
    rec.deleted = (PQgetvalue(r, row, 2)[0] == 't');
    rec.fields = fields;
    rec.nfields = n;

    rc = print_record(&rec, ctx);

    free(fields);
    json_decref(doc);

    return rc ? 1 : 0;
}


/*
 * import: LMDB's parser (import_read()), the records written as nginx's
 * forward writes its captures (ngx_http_qlm_webhook_pg.c): the fields
 * merged into the row's with jsonb's "||", a change older than the row's
 * "updated" ignored, a record given over a tombstone replacing it, each
 * change with the next seq and the database's clock; every instance of
 * the fleet then copies them into its local mirror.  PG_IMPORT_BATCH
 * records a transaction: no lock is held long.
 */

static const char  pg_import_insert[] =
    "INSERT INTO qlm_mirror AS o (tbl, key, updated, deleted, fields, "
    "seq, written) SELECT v.tbl, v.key, (v.b->>'updated')::bigint, "
    "(v.b->>'deleted')::boolean, v.b->'fields', nextval('qlm_mirror_seq'), "
    "(extract(epoch FROM clock_timestamp()) * 1000)::bigint "
    "FROM (VALUES ";

static const char  pg_import_merge[] =
    ") v (tbl, key, b) ON CONFLICT (tbl, key) DO UPDATE SET "
    "updated = EXCLUDED.updated, deleted = EXCLUDED.deleted, "
    "fields = CASE WHEN o.deleted AND NOT EXCLUDED.deleted "
    "THEN EXCLUDED.fields ELSE o.fields || EXCLUDED.fields END, "
    "seq = EXCLUDED.seq, written = EXCLUDED.written "
    "WHERE o.updated <= EXCLUDED.updated";


static int
pg_import(PGconn *c, int table, const char *file, ctx_t *ctx)
{
    int           rc;
    size_t        loaded, skipped;
    pg_import_t  *im;

    im = calloc(1, sizeof(pg_import_t));
    if (im == NULL) {
        fprintf(stderr, "%s: out of memory\n", progname);
        return 1;
    }

    im->c = c;
    im->table = table;
    im->now = ctx->now;

    rc = import_read(file, table, ctx->now, PG_IMPORT_BATCH,
                     pg_import_flush, im, &loaded, &skipped);

    if (rc != -1) {
        /* records whose key is not UTF-8 were taken, not loaded */
        loaded -= im->bad_keys;
        skipped += im->bad_keys;

        import_summary(ctx, loaded, skipped, im->not_utf8);
    }

    if (rc == 0 && (skipped || im->not_utf8)) {
        rc = 1;
    }

    free(im);

    return rc != 0;
}


/* a key or name in a message: what a terminal would act on as '?' */

static void
pg_import_shown(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        fputc(((unsigned char) s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i],
              stderr);
    }
}


/*
 * A batch in one transaction, as few statements as it can: a key twice
 * in one statement would be a second change of its row, which ON
 * CONFLICT refuses, so a repeated key starts the next statement.
 */

static int
pg_import_flush(const qlm_store_record_t *recs, size_t n, void *data)
{
    int                         rc;
    char                       *text;
    size_t                      i, k, f, left;
    json_t                     *o, *fields, *v;
    PGresult                   *r;
    pg_import_t                *im;
    const qlm_store_record_t   *rec;

    im = data;

    r = PQexec(im->c, "BEGIN");
    rc = (PQresultStatus(r) != PGRES_COMMAND_OK);
    if (rc) {
        pg_error("import", PQresultErrorMessage(r));
    }
    PQclear(r);

    if (rc) {
        return 1;
    }

    im->n = 0;

    for (i = 0; i < n && rc == 0; i++) {
        rec = &recs[i];

        /* a text column and jsonb hold UTF-8 only */

        v = json_stringn(rec->key.data, rec->key.len);
        if (v == NULL) {
            fprintf(stderr, "%s: import: a key that is not UTF-8 (\"",
                    progname);
            pg_import_shown(rec->key.data, rec->key.len);
            fprintf(stderr, "\"), skipped\n");
            im->bad_keys++;
            continue;
        }

        json_decref(v);

        for (k = 0; k < im->n; k++) {
            if (strlen(im->params[3 * k + 1]) == rec->key.len
                && memcmp(im->params[3 * k + 1], rec->key.data,
                          rec->key.len) == 0)
            {
                break;
            }
        }

        if (k < im->n) {
            rc = pg_import_statement(im);
            if (rc != 0) {
                break;
            }
        }

        o = json_object();
        fields = json_object();

        if (o == NULL || fields == NULL
            || json_object_set_new(o, "updated",
                                   json_integer((json_int_t) rec->updated))
            || json_object_set_new(o, "deleted", json_boolean(rec->deleted)))
        {
            json_decref(fields);
            json_decref(o);
            fprintf(stderr, "%s: out of memory\n", progname);
            rc = 1;
            break;
        }

        left = 0;

        for (f = 0; f < rec->nfields; f++) {
            if (rec->fields[f].name.len == 0) {
                continue;
            }

            v = json_stringn(rec->fields[f].value.data,
                             rec->fields[f].value.len);

            if (v == NULL
                || json_object_setn_new(fields, rec->fields[f].name.data,
                                        rec->fields[f].name.len, v) != 0)
            {
                left++;
            }
        }

        if (left) {
            fprintf(stderr, "%s: import: \"", progname);
            pg_import_shown(rec->key.data, rec->key.len);
            fprintf(stderr, "\": %zu field%s not UTF-8, left out\n", left,
                    left == 1 ? "" : "s");
            im->not_utf8 += left;
        }

        text = NULL;

        if (json_object_set_new(o, "fields", fields) == 0) {
            text = json_dumps(o, JSON_COMPACT);
        }

        json_decref(o);

        if (text == NULL) {
            fprintf(stderr, "%s: out of memory\n", progname);
            rc = 1;
            break;
        }

        /* the key stays in recs until the flush returns */

        im->bodies[im->n] = text;
        im->params[3 * im->n] = (im->table == QLM_STORE_CUSTOMERS) ? "1"
                                                                   : "0";
        im->params[3 * im->n + 2] = text;

        /* a key's bytes as a C string: import_read() keys have no NUL */

        im->params[3 * im->n + 1] = strndup(rec->key.data, rec->key.len);

        if (im->params[3 * im->n + 1] == NULL) {
            free(text);
            fprintf(stderr, "%s: out of memory\n", progname);
            rc = 1;
            break;
        }

        im->n++;
    }

    if (rc == 0) {
        rc = pg_import_statement(im);
    }

    for (k = 0; k < im->n; k++) {
        free((char *) im->params[3 * k + 1]);
        free(im->bodies[k]);
    }

    im->n = 0;

    if (rc != 0) {
        PQclear(PQexec(im->c, "ROLLBACK"));
        return 1;
    }

    r = PQexec(im->c, "COMMIT");
    rc = (PQresultStatus(r) != PGRES_COMMAND_OK);
    if (rc) {
        pg_error("import", PQresultErrorMessage(r));
    }
    PQclear(r);

    return rc;
}


/* the records gathered so far, in one statement */

static int
pg_import_statement(pg_import_t *im)
{
    int        rc;
    char      *sql, *p;
    size_t     i, len;
    PGresult  *r;

    if (im->n == 0) {
        return 0;
    }

    len = sizeof(pg_import_insert) + sizeof(pg_import_merge)
          + im->n * sizeof(",($000::int2,$000,$000::jsonb)");

    sql = malloc(len);
    if (sql == NULL) {
        fprintf(stderr, "%s: out of memory\n", progname);
        return 1;
    }

    p = sql + sprintf(sql, "%s", pg_import_insert);

    for (i = 0; i < im->n; i++) {
        p += sprintf(p, "%s($%zu::int2,$%zu,$%zu::jsonb)", i ? "," : "",
                     3 * i + 1, 3 * i + 2, 3 * i + 3);
    }

    (void) sprintf(p, "%s", pg_import_merge);

    r = PQexecParams(im->c, sql, (int) (3 * im->n), NULL, im->params, NULL,
                     NULL, 0);

    free(sql);

    rc = (PQresultStatus(r) != PGRES_COMMAND_OK);
    if (rc) {
        pg_error("import", PQresultErrorMessage(r));
    }

    PQclear(r);

    for (i = 0; i < im->n; i++) {
        free((char *) im->params[3 * i + 1]);
        free(im->bodies[i]);
    }

    im->n = 0;

    return rc;
}



/*
 * The log's bounds, as the LMDB store's trim: the newest log_max_records
 * records, none older than log_max_age; 10,000 a statement, each its own
 * transaction, so that nginx's writers never wait long.
 */

static int
pg_trim(PGconn *c, ctx_t *ctx)
{
    int          pass;
    char         records[32], cut[32];
    long         n;
    uint64_t     removed;
    PGresult    *r;
    const char  *values[1];

    removed = 0;

    snprintf(records, sizeof(records), "%" PRIu64, ctx->log_max_records);
    snprintf(cut, sizeof(cut), "%" PRIu64,
             ctx->log_max_age && ctx->now > ctx->log_max_age
             ? ctx->now - ctx->log_max_age : 0);

    for (pass = 0; pass < 2; pass++) {
        values[0] = pass ? cut : records;

        if (pass && ctx->log_max_age == 0) {
            break;
        }

        do {
            r = PQexecParams(c, pass
                ? "DELETE FROM qlm_log WHERE seq IN (SELECT seq FROM qlm_log"
                  " WHERE time < $1::bigint ORDER BY seq LIMIT 10000)"
                : "DELETE FROM qlm_log WHERE seq IN (SELECT seq FROM qlm_log"
                  " WHERE seq <= (SELECT max(seq) FROM qlm_log) - $1::bigint"
                  " ORDER BY seq LIMIT 10000)",
                1, NULL, values, NULL, NULL, 0);

            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                pg_error("trimming qlm_log", PQresultErrorMessage(r));
                PQclear(r);
                return 1;
            }

            n = atol(PQcmdTuples(r));
            PQclear(r);
            removed += (uint64_t) n;

        } while (n == 10000);
    }

    if (ctx->json) {
        printf("{\"removed\":%" PRIu64 "}\n", removed);

    } else {
        printf("removed %" PRIu64 "\n", removed);
    }

    return 0;
}

int
pg_run(const char *conninfo, const char *password_file, int cmd,
    const char *arg, int table, const char *file, uint64_t id, ctx_t *ctx)
{
    int      status;
    PGconn  *c;

    c = pg_connect(conninfo, password_file);
    if (c == NULL) {
        return 1;
    }

    if (cmd == CMD_SCHEMA) {
        status = pg_schema(c, arg, ctx);
        PQfinish(c);
        return status;
    }

    if (!pg_version_ok(c)) {
        PQfinish(c);
        return 1;
    }

    /* reading commands read only, as they open an LMDB store */

    if (cmd != CMD_REPLAY && cmd != CMD_RECOVER && cmd != CMD_IMPORT
        && cmd != CMD_TRIM)
    {
        PQclear(PQexec(c, "SET default_transaction_read_only = on"));
    }

    switch (cmd) {

    case CMD_SUMMARY:
        status = pg_summary(c, ctx);
        break;

    case CMD_QUEUE:
    case CMD_DEAD:
        status = pg_items(c, cmd, ctx);
        break;

    case CMD_LOG:
        status = pg_log(c, ctx);
        break;

    case CMD_REPLAY:
        status = pg_replay(c, id, 0, ctx);
        break;

    case CMD_RECOVER:
        status = pg_replay(c, 0, ctx->filter.from, ctx);
        break;

    case CMD_MIRROR:
        status = pg_mirror(c, table, ctx);
        break;

    case CMD_IMPORT:
        status = pg_import(c, table, file, ctx);
        break;

    case CMD_TRIM:
        status = pg_trim(c, ctx);
        break;

    default:
        fprintf(stderr, "%s: not available on a PostgreSQL store\n",
                progname);
        status = 2;
    }

    PQfinish(c);

    return status;
}
