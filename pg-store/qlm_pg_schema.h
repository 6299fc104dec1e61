
/*
 * The PostgreSQL schema of ngx_qlm_webhook_module: its version, its
 * migrations and the check of a database's version.  Plain C over libpq,
 * shared by qlm-store and the nginx module.
 */

#ifndef _QLM_PG_SCHEMA_H_INCLUDED_
#define _QLM_PG_SCHEMA_H_INCLUDED_


#include <stddef.h>

#include <libpq-fe.h>


/* the version this code reads and writes */
#define QLM_PG_SCHEMA_VERSION  2

/* pg_advisory_lock()'s key while creating or migrating: "qlm_hook" */
#define QLM_PG_SCHEMA_LOCK     8173027680312061803LL


/*
 * qlm_pg_schema_migrations[i] takes a database from version i to i + 1,
 * sets qlm_meta's schema_version itself and runs in one transaction;
 * [0] creates the schema (version 1).  QLM_PG_SCHEMA_VERSION entries.
 */
extern const char *const  qlm_pg_schema_migrations[QLM_PG_SCHEMA_VERSION];


/*
 * Reads qlm_meta's schema_version into *version: 0 when there is no
 * qlm_meta table (in the search path).  Returns 0, or -1 with a message
 * in err (a query failed, or the version is missing or not a number).
 * Synchronous: for qlm-store and nginx's configuration phase.
 */
int qlm_pg_schema_check(PGconn *c, int *version, char *err, size_t errlen);

/*
 * Checks a connection string (key=value or a postgresql:// URI) as
 * PQconninfoParse() does, and refuses one that carries a password: the
 * password comes from a file.  Returns 0, or -1 with a message in err
 * that never quotes the string.
 */
int qlm_pg_conninfo_check(const char *conninfo, char *err, size_t errlen);

/*
 * Creates the schema at QLM_PG_SCHEMA_VERSION in one transaction, under
 * the advisory lock.  Refuses a database whose current schema has other
 * relations.  *version: the version found (0: created now).  Returns 0,
 * or -1 with a message in err.
 */
int qlm_pg_schema_init(PGconn *c, int *version, char *err, size_t errlen);

/*
 * Applies the pending migrations, each in its own transaction, under the
 * advisory lock (a second migrate waits, then finds nothing to do).
 * *from, *to: the versions before and after.  Refuses a database without
 * the schema, or at a version newer than this code's.  Returns 0, or -1
 * with a message in err (migrations done before the failure stay).
 */
int qlm_pg_schema_migrate(PGconn *c, int *from, int *to, char *err,
    size_t errlen);


#endif /* _QLM_PG_SCHEMA_H_INCLUDED_ */
