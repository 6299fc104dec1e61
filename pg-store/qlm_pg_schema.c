
/*
 * The PostgreSQL schema of ngx_qlm_webhook_module: the migrations, and
 * the synchronous calls that read, create and migrate a database's schema.
 */

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qlm_pg_schema.h"


/*
 * Version 1, as the nginx side's queries use it: times are ms since the
 * epoch; qlm_queue holds the deliveries (a leased row's due is its lease
 * expiry), qlm_dead the dead letters (same id), qlm_log the attempts,
 * qlm_task_slot one row per scheduled task and slot (fires once across a
 * fleet), qlm_counter the status page's counters.
 */

static const char  qlm_pg_schema_v1[] =
    "-- qlm webhook PostgreSQL schema, version 1.  Times are ms since the"
    " epoch\n"
    "-- (bigint), as in the LMDB store; \"due\" of a leased row is its"
    " lease expiry,\n"
    "-- as in LMDB, so one index serves claims.\n"
    "CREATE TABLE qlm_meta (\n"
    "    name        text PRIMARY KEY,\n"
    "    value       text NOT NULL\n"
    ");\n"
    "\n"
    "CREATE TABLE qlm_queue (\n"
    "    id          bigserial PRIMARY KEY,\n"
    "    event_id    text NOT NULL,\n"
    "    event       text NOT NULL,\n"
    "    url         text NOT NULL,\n"
    "    headers     text NOT NULL DEFAULT '',\n"
    "    body        bytea NOT NULL,\n"
    "    due         bigint NOT NULL,\n"
    "    lease       bigint NOT NULL DEFAULT 0,\n"
    "    node        text NOT NULL DEFAULT '',\n"
    "    attempt     integer NOT NULL DEFAULT 0,\n"
    "    last_status integer NOT NULL DEFAULT 0,\n"
    "    last_error  text NOT NULL DEFAULT '',\n"
    "    created     bigint NOT NULL,\n"
    "    updated     bigint NOT NULL,\n"
    "    UNIQUE (event_id, url)\n"
    ");\n"
    "CREATE INDEX qlm_queue_due ON qlm_queue (due);\n"
    "\n"
    "CREATE TABLE qlm_dead (\n"
    "    id          bigint PRIMARY KEY,\n"
    "    event_id    text NOT NULL,\n"
    "    event       text NOT NULL,\n"
    "    url         text NOT NULL,\n"
    "    headers     text NOT NULL DEFAULT '',\n"
    "    body        bytea NOT NULL,\n"
    "    attempt     integer NOT NULL,\n"
    "    last_status integer NOT NULL,\n"
    "    last_error  text NOT NULL,\n"
    "    created     bigint NOT NULL,\n"
    "    updated     bigint NOT NULL\n"
    ");\n"
    "CREATE INDEX qlm_dead_updated ON qlm_dead (updated);\n"
    "\n"
    "CREATE TABLE qlm_log (\n"
    "    seq         bigserial PRIMARY KEY,\n"
    "    time        bigint NOT NULL,\n"
    "    item_id     bigint NOT NULL,\n"
    "    attempt     integer NOT NULL,\n"
    "    status      integer NOT NULL,\n"
    "    duration    integer NOT NULL,\n"
    "    outcome     integer NOT NULL,\n"
    "    event_id    text NOT NULL,\n"
    "    event       text NOT NULL,\n"
    "    url         text NOT NULL,\n"
    "    error       text NOT NULL,\n"
    "    answer      bytea NOT NULL,\n"
    "    node        text NOT NULL\n"
    ");\n"
    "CREATE INDEX qlm_log_time ON qlm_log (time);\n"
    "\n"
    "CREATE TABLE qlm_task_slot (\n"
    "    task        text NOT NULL,\n"
    "    slot        bigint NOT NULL,\n"
    "    node        text NOT NULL,\n"
    "    started     bigint NOT NULL,\n"
    "    PRIMARY KEY (task, slot)\n"
    ");\n"
    "\n"
    "CREATE TABLE qlm_counter (\n"
    "    name        text PRIMARY KEY,\n"
    "    value       bigint NOT NULL DEFAULT 0\n"
    ");\n"
    "\n"
    "INSERT INTO qlm_meta (name, value) VALUES ('schema_version', '1');\n";


/*
 * Version 2: the license mirror, shared by the fleet.  Each instance
 * forwards the records it captures (fields merged, as in LMDB: jsonb's
 * "||"), and copies every change into its local mirror in seq order;
 * "written" is the database's clock, so that a reader knows which
 * changes are old enough for every transaction before them to be
 * committed.
 */

static const char  qlm_pg_schema_v2[] =
    "CREATE SEQUENCE qlm_mirror_seq;\n"
    "\n"
    "CREATE TABLE qlm_mirror (\n"
    "    tbl         smallint NOT NULL,\n"
    "    key         text NOT NULL,\n"
    "    updated     bigint NOT NULL,\n"
    "    deleted     boolean NOT NULL DEFAULT false,\n"
    "    fields      jsonb NOT NULL DEFAULT '{}',\n"
    "    seq         bigint NOT NULL,\n"
    "    written     bigint NOT NULL,\n"
    "    PRIMARY KEY (tbl, key)\n"
    ");\n"
    "CREATE INDEX qlm_mirror_seq_idx ON qlm_mirror (seq);\n"
    "\n"
    "UPDATE qlm_meta SET value = '2' WHERE name = 'schema_version';\n";


const char *const  qlm_pg_schema_migrations[QLM_PG_SCHEMA_VERSION] = {
    qlm_pg_schema_v1,
    qlm_pg_schema_v2,
};


static int qlm_pg_exec(PGconn *c, const char *sql, ExecStatusType want,
    PGresult **res, const char *what, char *err, size_t errlen);
static void qlm_pg_rollback(PGconn *c);
static int qlm_pg_count_relations(PGconn *c, long *n, char *err,
    size_t errlen);


/*
 * Runs sql; fails unless the result has status "want".  The result goes
 * to *res when res is not NULL, else it is freed.
 */

static int
qlm_pg_exec(PGconn *c, const char *sql, ExecStatusType want, PGresult **res,
    const char *what, char *err, size_t errlen)
{
    size_t     len;
    PGresult  *r;

    r = PQexec(c, sql);

    if (r == NULL || PQresultStatus(r) != want) {
        snprintf(err, errlen, "%s: %s", what,
                 r ? PQresultErrorMessage(r) : PQerrorMessage(c));

        /* libpq's messages end with a newline */
        len = strlen(err);
        while (len && (err[len - 1] == '\n' || err[len - 1] == ' ')) {
            err[--len] = '\0';
        }

        PQclear(r);
        return -1;
    }

    if (res) {
        *res = r;

    } else {
        PQclear(r);
    }

    return 0;
}


static void
qlm_pg_rollback(PGconn *c)
{
    PQclear(PQexec(c, "ROLLBACK"));
}


int
qlm_pg_schema_check(PGconn *c, int *version, char *err, size_t errlen)
{
    long        v;
    char       *p, *end;
    PGresult   *r;

    if (qlm_pg_exec(c, "SELECT to_regclass('qlm_meta') IS NOT NULL",
                    PGRES_TUPLES_OK, &r, "reading the schema version",
                    err, errlen)
        != 0)
    {
        return -1;
    }

    if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
        PQclear(r);
        *version = 0;
        return 0;
    }

    PQclear(r);

    if (qlm_pg_exec(c, "SELECT value FROM qlm_meta "
                       "WHERE name = 'schema_version'",
                    PGRES_TUPLES_OK, &r, "reading the schema version",
                    err, errlen)
        != 0)
    {
        return -1;
    }

    if (PQntuples(r) != 1) {
        PQclear(r);
        snprintf(err, errlen, "qlm_meta has no \"schema_version\"");
        return -1;
    }

    p = PQgetvalue(r, 0, 0);
    v = isdigit((unsigned char) *p) ? strtol(p, &end, 10) : 0;

    if (v <= 0 || v >= INT_MAX || *end != '\0') {
        snprintf(err, errlen, "qlm_meta's \"schema_version\" is not a "
                 "version number");
        PQclear(r);
        return -1;
    }

    PQclear(r);
    *version = (int) v;

    return 0;
}


int
qlm_pg_conninfo_check(const char *conninfo, char *err, size_t errlen)
{
    int                 rc;
    char               *msg;
    PQconninfoOption   *opts, *o;

    msg = NULL;
    opts = PQconninfoParse(conninfo, &msg);

    if (opts == NULL) {
        /* libpq's message may quote the string, and so a password */
        snprintf(err, errlen, "%s", msg ? "invalid connection string"
                                        : "out of memory");
        PQfreemem(msg);
        return -1;
    }

    rc = 0;

    for (o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0]) {
            snprintf(err, errlen, "the connection string carries a "
                     "password: remove it and give it in a password file");
            rc = -1;
            break;
        }
    }

    PQconninfoFree(opts);

    return rc;
}


static int
qlm_pg_count_relations(PGconn *c, long *n, char *err, size_t errlen)
{
    PGresult  *r;

    if (qlm_pg_exec(c, "SELECT current_schema() IS NOT NULL, count(*) "
                       "FROM pg_class c JOIN pg_namespace n "
                       "ON n.oid = c.relnamespace "
                       "WHERE n.nspname = current_schema()",
                    PGRES_TUPLES_OK, &r, "listing the relations",
                    err, errlen)
        != 0)
    {
        return -1;
    }

    if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
        PQclear(r);
        snprintf(err, errlen, "no schema of the search path exists to "
                 "create the tables in");
        return -1;
    }

    *n = strtol(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);

    return 0;
}


int
qlm_pg_schema_init(PGconn *c, int *version, char *err, size_t errlen)
{
    int    v, i;
    long   n;
    char   sql[64];

    snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%lld)",
             QLM_PG_SCHEMA_LOCK);

    if (qlm_pg_exec(c, "BEGIN", PGRES_COMMAND_OK, NULL, "BEGIN",
                    err, errlen)
        != 0)
    {
        return -1;
    }

    /* a second init waits here, then finds the schema made */

    if (qlm_pg_exec(c, sql, PGRES_TUPLES_OK, NULL, "taking the schema lock",
                    err, errlen) != 0
        || qlm_pg_schema_check(c, &v, err, errlen) != 0)
    {
        goto failed;
    }

    *version = v;

    if (v == QLM_PG_SCHEMA_VERSION) {
        qlm_pg_rollback(c);
        return 0;
    }

    if (v > QLM_PG_SCHEMA_VERSION) {
        snprintf(err, errlen, "the schema is at version %d, newer than "
                 "this program's %d", v, QLM_PG_SCHEMA_VERSION);
        goto failed;
    }

    if (v != 0) {
        snprintf(err, errlen, "the schema exists at version %d: run "
                 "\"schema migrate\" to bring it to version %d", v,
                 QLM_PG_SCHEMA_VERSION);
        goto failed;
    }

    if (qlm_pg_count_relations(c, &n, err, errlen) != 0) {
        goto failed;
    }

    if (n != 0) {
        snprintf(err, errlen, "the database is not empty (%ld relations "
                 "in its current schema) and holds no qlm webhook schema: "
                 "refusing to create one there", n);
        goto failed;
    }

    for (i = 0; i < QLM_PG_SCHEMA_VERSION; i++) {
        if (qlm_pg_exec(c, qlm_pg_schema_migrations[i], PGRES_COMMAND_OK,
                        NULL, "creating the schema", err, errlen)
            != 0)
        {
            goto failed;
        }
    }

    if (qlm_pg_schema_check(c, &v, err, errlen) != 0) {
        goto failed;
    }

    if (v != QLM_PG_SCHEMA_VERSION) {
        snprintf(err, errlen, "the migrations left version %d, not %d", v,
                 QLM_PG_SCHEMA_VERSION);
        goto failed;
    }

    return qlm_pg_exec(c, "COMMIT", PGRES_COMMAND_OK, NULL, "COMMIT",
                       err, errlen);

failed:

    qlm_pg_rollback(c);

    return -1;
}


int
qlm_pg_schema_migrate(PGconn *c, int *from, int *to, char *err,
    size_t errlen)
{
    int    v, rc;
    char   sql[64], what[64];

    snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%lld)",
             QLM_PG_SCHEMA_LOCK);

    if (qlm_pg_exec(c, sql, PGRES_TUPLES_OK, NULL, "taking the schema lock",
                    err, errlen)
        != 0)
    {
        return -1;
    }

    rc = -1;

    if (qlm_pg_schema_check(c, &v, err, errlen) != 0) {
        goto done;
    }

    *from = v;
    *to = v;

    if (v == 0) {
        snprintf(err, errlen, "the database has no qlm webhook schema: run "
                 "\"schema init\"");
        goto done;
    }

    if (v > QLM_PG_SCHEMA_VERSION) {
        snprintf(err, errlen, "the schema is at version %d, newer than "
                 "this program's %d", v, QLM_PG_SCHEMA_VERSION);
        goto done;
    }

    for ( /* void */ ; v < QLM_PG_SCHEMA_VERSION; v++) {
        snprintf(what, sizeof(what), "migrating from version %d", v);

        if (qlm_pg_exec(c, "BEGIN", PGRES_COMMAND_OK, NULL, "BEGIN",
                        err, errlen)
            != 0)
        {
            goto done;
        }

        if (qlm_pg_exec(c, qlm_pg_schema_migrations[v], PGRES_COMMAND_OK,
                        NULL, what, err, errlen) != 0
            || qlm_pg_schema_check(c, to, err, errlen) != 0)
        {
            qlm_pg_rollback(c);
            goto done;
        }

        if (*to != v + 1) {
            snprintf(err, errlen, "%s: the migration set version %d, not %d",
                     what, *to, v + 1);
            qlm_pg_rollback(c);
            *to = v;
            goto done;
        }

        if (qlm_pg_exec(c, "COMMIT", PGRES_COMMAND_OK, NULL, what,
                        err, errlen)
            != 0)
        {
            *to = v;
            goto done;
        }
    }

    *to = v;
    rc = 0;

done:

    snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%lld)",
             QLM_PG_SCHEMA_LOCK);
    PQclear(PQexec(c, sql));

    return rc;
}
