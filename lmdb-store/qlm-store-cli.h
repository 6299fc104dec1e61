
/*
 * qlm-store's own parts shared by its LMDB commands (qlm-store.c) and its
 * PostgreSQL ones (qlm-store-pg.c): one output format for both.
 */

#ifndef _QLM_STORE_CLI_H_INCLUDED_
#define _QLM_STORE_CLI_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "qlm_store.h"


#define CMD_SUMMARY   0
#define CMD_QUEUE     1
#define CMD_LOG       2
#define CMD_DEAD      3
#define CMD_REPLAY    4
#define CMD_TRIM      5
#define CMD_MIRROR    6
#define CMD_IMPORT    7
#define CMD_RECOVER   8
#define CMD_SCHEMA    9
#define CMD_URLS      10


/* a table of strings, printed with aligned columns */

typedef struct {
    size_t   ncols;
    size_t   nrows;
    size_t   nalloc;
    char   **cells;
} table_t;


typedef struct {
    unsigned                 json;
    unsigned                 body;
    unsigned                 dead;
    size_t                   limit;
    size_t                   count;
    uint64_t                 now;
    table_t                  table;
    qlm_store_log_filter_t   filter;
    qlm_store_str_t          url;
    uint64_t                 log_max_records;   /* trim on PostgreSQL */
    uint64_t                 log_max_age;       /* ms; 0: no bound */
} ctx_t;


extern const char  *progname;

void table_init(table_t *t, size_t ncols, ...);
void table_print(table_t *t);
void table_free(table_t *t);
void fmt_local(uint64_t ms, char *buf, size_t size);
void fmt_size(uint64_t n, char *buf, size_t size);
void json_time(const char *name, uint64_t ms);
void items_begin(ctx_t *ctx, int cmd);
void items_end(ctx_t *ctx);
void log_begin(ctx_t *ctx);
void log_end(ctx_t *ctx);
int print_item(const qlm_store_item_t *item, void *data);
int print_log(const qlm_store_log_t *rec, void *data);
int print_counter(const char *name, uint64_t value, void *data);
void print_stat(ctx_t *ctx, const qlm_store_stat_t *stat, int pg,
    uint64_t db_size, const qlm_store_journal_info_t *ji);
void mirror_begin(ctx_t *ctx);
void mirror_end(ctx_t *ctx);
int print_record(const qlm_store_record_t *rec, void *data);


/*
 * import's parser, one for both backends: it reads the file (JSON, JSON
 * lines, QLM's data set XML or the console's CSV) and hands the records
 * to "flush", a batch at a time; a flush returns 0, or an error code
 * other than -1 that stops the import.
 */

#define IMPORT_BATCH_MAX  256

typedef int (*import_flush_pt)(const qlm_store_record_t *recs, size_t n,
    void *data);

int import_read(const char *file, int table, uint64_t now, size_t max,
    import_flush_pt flush, void *data, size_t *loaded, size_t *skipped);
void import_summary(ctx_t *ctx, size_t loaded, size_t skipped,
    size_t not_utf8);

/*
 * The commands on a PostgreSQL store (conninfo: a postgresql:// URI);
 * arg: the schema command, or NULL; table: the mirror's, for licenses,
 * customers and import; file: import's; id: replay's (0: all).  Returns
 * the exit status.
 */
int pg_run(const char *conninfo, const char *password_file, int cmd,
    const char *arg, int table, const char *file, uint64_t id, ctx_t *ctx);


#endif /* _QLM_STORE_CLI_H_INCLUDED_ */
