
/*
 * qlm-store: look into, and tend, the store of ngx_qlm_webhook_module.
 *
 * Reading commands open the store read-only: they may run while nginx
 * does.  Exit status: 0 ok, 1 runtime error, 2 usage error.
 */

#define _GNU_SOURCE

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "qlm_store.h"
#include "qlm-store-cli.h"


/* which options each command takes */
#define OPT_LIMIT     0x001
#define OPT_BODY      0x002
#define OPT_LOGF      0x004     /* --since, --until, ... --newest-first */
#define OPT_TRIM      0x008
#define OPT_SINCE     0x010


typedef struct {
    const char   *name;
    int           cmd;
    unsigned      opts;
    unsigned      write;
} command_t;


static const command_t  commands[] = {
    { "summary", CMD_SUMMARY, 0, 0 },
    { "queue", CMD_QUEUE, OPT_LIMIT | OPT_BODY, 0 },
    { "log", CMD_LOG, OPT_LIMIT | OPT_LOGF | OPT_SINCE, 0 },
    { "dead", CMD_DEAD, OPT_LIMIT | OPT_BODY, 0 },
    { "replay", CMD_REPLAY, 0, 1 },
    { "recover", CMD_RECOVER, OPT_SINCE, 1 },
    { "trim", CMD_TRIM, OPT_TRIM, 1 },
    { "licenses", CMD_MIRROR, OPT_LIMIT, 0 },
    { "customers", CMD_MIRROR, OPT_LIMIT, 0 },
    { "import", CMD_IMPORT, 0, 1 },
    { "schema", CMD_SCHEMA, 0, 1 },
    { "urls", CMD_URLS, 0, 0 },         /* urls pause|resume: a write */
    { NULL, 0, 0, 0 }
};


const char  *progname = "qlm-store";


static void usage(FILE *f);
static void die_usage(const char *fmt, ...);
static uint64_t now_ms(void);
static int parse_u64(const char *s, uint64_t *v);
static int parse_time(const char *s, uint64_t now, uint64_t *ms);
static void fmt_iso(uint64_t ms, char *buf, size_t size);
static char *dup_field(const char *s, size_t len);
static char *answer_field(qlm_store_str_t s);
static void json_str(const char *s, size_t len);
static const char *outcome_name(uint32_t outcome);
static const char *item_state(const qlm_store_item_t *item, uint64_t now,
    unsigned dead);
static void table_row(table_t *t, ...);
static int print_log_key(const qlm_store_log_t *rec,
    const qlm_store_log_key_t *key, void *data);
static int cmd_log(qlm_store_t *st, ctx_t *ctx);
static int cmd_recover(qlm_store_t *st, ctx_t *ctx, uint64_t since);
static int cmd_summary(qlm_store_t *st, const char *path, ctx_t *ctx);
static int scan_record(const qlm_store_record_t *rec, void *data);
static int cmd_mirror(qlm_store_t *st, ctx_t *ctx, int table);
static int cmd_import(qlm_store_t *st, ctx_t *ctx, int table,
    const char *file);
static int print_paused(const qlm_store_paused_t *p, void *data);
static int cmd_urls(qlm_store_t *st, ctx_t *ctx, const char *verb,
    const char *url);
static int fail(const char *call, int rc);


static void
usage(FILE *f)
{
    fprintf(f,
        "usage: %s [-j|--json] [--map-size SIZE] [--password-file FILE]\n"
        "       PATH COMMAND [options]\n"
        "\n"
        "commands:\n"
        "  summary              queue depth, dead letters, log, map,\n"
        "                       journals of sync=on, counters\n"
        "  queue [--limit N] [--body]\n"
        "                       queued deliveries, in due order\n"
        "  log [--since TIME] [--until TIME] [--event NAME] "
        "[--event-id ID]\n"
        "      [--url URL] [--outcome delivered|retry|dead] [--limit N]\n"
        "      [--newest-first]\n"
        "                       the invocation log\n"
        "  dead [--limit N] [--body]\n"
        "                       dead letters\n"
        "  replay ID|all        dead letters back to the queue, due now\n"
        "  recover --since TIME dead letters that failed at or after TIME\n"
        "                       back to the queue, due now\n"
        "  trim [--log-max-records N] [--log-max-age SECONDS]\n"
        "                       apply the log retention now\n"
        "  licenses [--limit N], customers [--limit N]\n"
        "                       the license mirror of the scheduled tasks\n"
        "  import licenses|customers FILE\n"
        "                       load QLM's records into the mirror: a JSON\n"
        "                       array or JSON lines, QLM's data set XML\n"
        "                       (GetDataSetEx), or the management console's\n"
        "                       CSV export (a header row of column names)\n"
        "  schema init|migrate|version\n"
        "                       PostgreSQL: create the schema, apply its\n"
        "                       pending migrations, or show its version\n"
        "  urls                 the receivers paused, since when, by whom\n"
        "  urls pause URL, urls resume URL\n"
        "                       pause or resume a receiver: nginx's workers\n"
        "                       follow within a second, and a pause\n"
        "                       survives restarts\n"
        "\n"
        "PATH: the LMDB store's directory, or a PostgreSQL connection\n"
        "string postgresql://[USER@]HOST[:PORT]/DBNAME[?...] without a\n"
        "password: --password-file FILE gives it (its first line).\n"
        "urls is for LMDB stores.\n"
        "\n"
        "TIME: YYYY-MM-DD[THH:MM:SS] (local time; with Z or +HH:MM, that\n"
        "zone), seconds since the epoch, or relative to now: -30s, -15m,\n"
        "-1h, -2d.\n"
        "Reading commands open the store read-only.  A store opens with\n"
        "the size it was last written with (nginx's max_size), a new one\n"
        "with 64m; --map-size (as max_size, e.g. 1g) sets another.\n"
        "URLs are shown without their credentials and query.\n",
        progname);
}


static void
die_usage(const char *fmt, ...)
{
    va_list  args;

    fprintf(stderr, "%s: ", progname);

    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);

    fprintf(stderr, "\nTry '%s --help'.\n", progname);

    exit(2);
}


static int
fail(const char *call, int rc)
{
    fprintf(stderr, "%s: %s: %s\n", progname, call, qlm_store_strerror(rc));
    return 1;
}


static uint64_t
now_ms(void)
{
    struct timeval  tv;

    gettimeofday(&tv, NULL);

    return (uint64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}


static int
parse_u64(const char *s, uint64_t *v)
{
    char               *end;
    unsigned long long  n;

    if (!isdigit((unsigned char) *s)) {
        return -1;
    }

    errno = 0;
    n = strtoull(s, &end, 10);

    if (errno || *end != '\0') {
        return -1;
    }

    *v = n;

    return 0;
}


static int
parse_time(const char *s, uint64_t now, uint64_t *ms)
{
    int         len, zone;
    long        offset;
    uint64_t    n, unit;
    struct tm   tm;
    time_t      t;
    char        num[32];

    if (*s == '-') {
        len = (int) strlen(s + 1);

        if (len < 2 || len >= (int) sizeof(num)) {
            return -1;
        }

        memcpy(num, s + 1, len - 1);
        num[len - 1] = '\0';

        switch (s[len]) {
        case 's':
            unit = 1000;
            break;
        case 'm':
            unit = 60 * 1000;
            break;
        case 'h':
            unit = 3600 * 1000;
            break;
        case 'd':
            unit = 86400 * 1000;
            break;
        default:
            return -1;
        }

        if (parse_u64(num, &n) != 0 || n > now / unit) {
            return -1;
        }

        *ms = now - n * unit;
        return 0;
    }

    if (parse_u64(s, &n) == 0) {
        if (n > UINT64_MAX / 1000) {
            return -1;
        }

        *ms = n * 1000;
        return 0;
    }

    memset(&tm, 0, sizeof(tm));
    len = 0;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &len) != 6)
    {
        len = 0;

        if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &len) != 3)
        {
            return -1;
        }
    }

    /* ISO 8601's zone: Z, or +HH:MM / -HH:MM; none: local time */

    zone = 0;
    offset = 0;

    if (s[len] == 'Z' && s[len + 1] == '\0') {
        zone = 1;

    } else if ((s[len] == '+' || s[len] == '-')
               && isdigit((unsigned char) s[len + 1])
               && isdigit((unsigned char) s[len + 2]) && s[len + 3] == ':'
               && isdigit((unsigned char) s[len + 4])
               && isdigit((unsigned char) s[len + 5]) && s[len + 6] == '\0')
    {
        zone = 1;
        offset = ((s[len + 1] - '0') * 10 + (s[len + 2] - '0')) * 3600
                 + ((s[len + 4] - '0') * 10 + (s[len + 5] - '0')) * 60;

        if (offset > 14 * 3600) {
            return -1;
        }

        if (s[len] == '+') {
            offset = -offset;
        }

    } else if (s[len] != '\0') {
        return -1;
    }

    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1
        || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59
        || tm.tm_sec > 60 || tm.tm_year < 1970)
    {
        return -1;
    }

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_isdst = -1;

    t = zone ? timegm(&tm) + offset : mktime(&tm);

    if (t == (time_t) -1 || t < 0) {
        return -1;
    }

    *ms = (uint64_t) t * 1000;

    return 0;
}


void
fmt_local(uint64_t ms, char *buf, size_t size)
{
    time_t     t;
    struct tm  tm;

    if (ms == 0) {
        snprintf(buf, size, "-");
        return;
    }

    t = (time_t) (ms / 1000);

    if (localtime_r(&t, &tm) == NULL
        || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
    {
        snprintf(buf, size, "%" PRIu64, ms);
    }
}


static void
fmt_iso(uint64_t ms, char *buf, size_t size)
{
    int        n;
    time_t     t;
    struct tm  tm;

    t = (time_t) (ms / 1000);

    if (gmtime_r(&t, &tm) == NULL
        || (n = (int) strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm)) == 0)
    {
        snprintf(buf, size, "?");
        return;
    }

    snprintf(buf + n, size - n, ".%03uZ", (unsigned) (ms % 1000));
}


void
fmt_size(uint64_t n, char *buf, size_t size)
{
    if (n >= 1024 * 1024 * 1024) {
        snprintf(buf, size, "%.1f GiB", n / (1024.0 * 1024 * 1024));

    } else if (n >= 1024 * 1024) {
        snprintf(buf, size, "%.1f MiB", n / (1024.0 * 1024));

    } else if (n >= 1024) {
        snprintf(buf, size, "%.1f KiB", n / 1024.0);

    } else {
        snprintf(buf, size, "%" PRIu64 " B", n);
    }
}


/* a string for a terminal column: control characters become '?' */

static char *
dup_field(const char *s, size_t len)
{
    char    *d;
    size_t   i;

    d = malloc(len + 1);
    if (d == NULL) {
        fprintf(stderr, "%s: out of memory\n", progname);
        exit(1);
    }

    for (i = 0; i < len; i++) {
        d[i] = ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    }

    d[len] = '\0';

    return d;
}


static void
json_str(const char *s, size_t len)
{
    size_t          i;
    unsigned char   c;

    putchar('"');

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        switch (c) {
        case '"':
            fputs("\\\"", stdout);
            break;
        case '\\':
            fputs("\\\\", stdout);
            break;
        case '\n':
            fputs("\\n", stdout);
            break;
        case '\r':
            fputs("\\r", stdout);
            break;
        case '\t':
            fputs("\\t", stdout);
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                printf("\\u%04x", c);

            } else {
                putchar(c);
            }
        }
    }

    putchar('"');
}


/* "name":ms,"name_iso":"..." (null for 0) */

void
json_time(const char *name, uint64_t ms)
{
    char  buf[64];

    printf("\"%s\":%" PRIu64 ",\"%s_iso\":", name, ms, name);

    if (ms == 0) {
        fputs("null", stdout);
        return;
    }

    fmt_iso(ms, buf, sizeof(buf));
    printf("\"%s\"", buf);
}


static const char *
outcome_name(uint32_t outcome)
{
    switch (outcome) {
    case QLM_STORE_DELIVERED:
        return "delivered";
    case QLM_STORE_RETRY:
        return "retry";
    case QLM_STORE_DEAD:
        return "dead";
    }

    return "unknown";
}


static const char *
item_state(const qlm_store_item_t *item, uint64_t now, unsigned dead)
{
    if (dead) {
        return "dead";
    }

    if (item->due <= now) {
        return "due";
    }

    return item->lease ? "leased" : "waiting";
}


void
table_init(table_t *t, size_t ncols, ...)
{
    size_t   i;
    va_list  args;

    memset(t, 0, sizeof(table_t));
    t->ncols = ncols;

    t->nalloc = 64;
    t->cells = malloc(t->nalloc * ncols * sizeof(char *));

    if (t->cells == NULL) {
        fprintf(stderr, "%s: out of memory\n", progname);
        exit(1);
    }

    /* the header row */

    va_start(args, ncols);

    for (i = 0; i < ncols; i++) {
        t->cells[i] = strdup(va_arg(args, const char *));
    }

    va_end(args);

    t->nrows = 1;
}


/* takes ownership of ncols malloc'd strings */

static void
table_row(table_t *t, ...)
{
    size_t    i;
    char    **cells;
    va_list   args;

    if (t->nrows == t->nalloc) {
        cells = realloc(t->cells, 2 * t->nalloc * t->ncols * sizeof(char *));

        if (cells == NULL) {
            fprintf(stderr, "%s: out of memory\n", progname);
            exit(1);
        }

        t->cells = cells;
        t->nalloc *= 2;
    }

    va_start(args, t);

    for (i = 0; i < t->ncols; i++) {
        t->cells[t->nrows * t->ncols + i] = va_arg(args, char *);
    }

    va_end(args);

    t->nrows++;
}


void
table_print(table_t *t)
{
    size_t   r, c, len, *width;
    char    *cell;

    width = calloc(t->ncols, sizeof(size_t));
    if (width == NULL) {
        fprintf(stderr, "%s: out of memory\n", progname);
        exit(1);
    }

    for (r = 0; r < t->nrows; r++) {
        for (c = 0; c < t->ncols; c++) {
            len = strlen(t->cells[r * t->ncols + c]);

            if (len > width[c]) {
                width[c] = len;
            }
        }
    }

    for (r = 0; r < t->nrows; r++) {
        for (c = 0; c < t->ncols; c++) {
            cell = t->cells[r * t->ncols + c];

            if (c == t->ncols - 1) {
                printf("%s\n", cell);

            } else {
                printf("%-*s  ", (int) width[c], cell);
            }
        }
    }

    free(width);
}


void
table_free(table_t *t)
{
    size_t  i;

    for (i = 0; i < t->nrows * t->ncols; i++) {
        free(t->cells[i]);
    }

    free(t->cells);
}


static char *
num(uint64_t n)
{
    char  buf[32];

    snprintf(buf, sizeof(buf), "%" PRIu64, n);

    return dup_field(buf, strlen(buf));
}


static char *
snum(int64_t n)
{
    char  buf[32];

    snprintf(buf, sizeof(buf), "%" PRId64, n);

    return dup_field(buf, strlen(buf));
}


static char *
local(uint64_t ms)
{
    char  buf[64];

    fmt_local(ms, buf, sizeof(buf));

    return dup_field(buf, strlen(buf));
}


static char *
field(qlm_store_str_t s)
{
    return s.len ? dup_field(s.data, s.len) : dup_field("-", 1);
}


/*
 * A receiver's answer in a table: one line, its first 60 bytes, other
 * than printable ASCII shown as '.'; -j gives it whole
 */

static char *
answer_field(qlm_store_str_t s)
{
    char    *d;
    size_t   i, n;

    if (s.len == 0) {
        return dup_field("-", 1);
    }

    n = (s.len > 60) ? 60 : s.len;

    d = dup_field(s.data, n);

    for (i = 0; i < n; i++) {
        if ((unsigned char) d[i] < 0x20 || (unsigned char) d[i] > 0x7e) {
            d[i] = '.';
        }
    }

    return d;
}


/*
 * A receiver URL as shown: without the userinfo (credentials) and the
 * query string (often a token), as nginx writes URLs to its log.  The
 * store keeps the URL whole, since deliveries need it.
 */

static qlm_store_str_t
url_shown(qlm_store_str_t u, char *buf)
{
    size_t            i, host, rest, at, end;
    qlm_store_str_t   r;

    host = 0;

    for (i = 0; i + 2 < u.len; i++) {
        if (u.data[i] == ':' && u.data[i + 1] == '/' && u.data[i + 2] == '/') {
            host = i + 3;
            break;
        }
    }

    for (rest = host; rest < u.len; rest++) {
        if (u.data[rest] == '/' || u.data[rest] == '?' || u.data[rest] == '#') {
            break;
        }
    }

    for (at = rest; at > host; at--) {
        if (u.data[at - 1] == '@') {
            break;
        }
    }

    for (end = rest; end < u.len; end++) {
        if (u.data[end] == '?' || u.data[end] == '#') {
            break;
        }
    }

    /* buf has room for u.len bytes: the result is never longer */

    memcpy(buf, u.data, host);
    memcpy(buf + host, u.data + at, end - at);

    r.data = buf;
    r.len = host + end - at;

    return r;
}


static char *
url_field(qlm_store_str_t u)
{
    char             *buf, *f;
    qlm_store_str_t   shown;

    if (u.len == 0) {
        return dup_field("-", 1);
    }

    buf = dup_field(u.data, u.len);
    shown = url_shown(u, buf);
    f = dup_field(shown.data, shown.len);
    free(buf);

    return f;
}


static void
json_url(qlm_store_str_t u)
{
    char             *buf;
    qlm_store_str_t   shown;

    buf = dup_field(u.data, u.len);
    shown = url_shown(u, buf);
    json_str(shown.data, shown.len);
    free(buf);
}


int
print_item(const qlm_store_item_t *item, void *data)
{
    ctx_t       *ctx;
    const char  *state;

    ctx = data;

    if (ctx->limit && ctx->count == ctx->limit) {
        return 1;
    }

    state = item_state(item, ctx->now, ctx->dead);

    if (!ctx->json) {
        table_row(&ctx->table, num(item->id),
                  dup_field(state, strlen(state)),
                  local(ctx->dead ? item->updated : item->due),
                  num(item->attempt),
                  item->last_status ? snum(item->last_status)
                                    : dup_field("-", 1),
                  field(item->event), field(item->event_id),
                  url_field(item->url), field(item->last_error),
                  ctx->body ? field(item->body) : NULL);

        ctx->count++;
        return 0;
    }

    printf("%s\n  {\"id\":%" PRIu64 ",\"state\":\"%s\",",
           ctx->count ? "," : "", item->id, state);
    json_time("due", item->due);
    putchar(',');
    json_time("created", item->created);
    putchar(',');
    json_time("updated", item->updated);
    printf(",\"attempt\":%" PRIu32 ",\"lease\":%" PRIu64
           ",\"last_status\":%" PRId32 ",\"last_error\":",
           item->attempt, item->lease, item->last_status);
    json_str(item->last_error.data, item->last_error.len);
    fputs(",\"event\":", stdout);
    json_str(item->event.data, item->event.len);
    fputs(",\"event_id\":", stdout);
    json_str(item->event_id.data, item->event_id.len);
    fputs(",\"url\":", stdout);
    json_url(item->url);

    if (ctx->body) {
        fputs(",\"headers\":", stdout);
        json_str(item->headers.data, item->headers.len);
        fputs(",\"body\":", stdout);
        json_str(item->body.data, item->body.len);
    }

    putchar('}');

    ctx->count++;

    return 0;
}


int
print_log(const qlm_store_log_t *rec, void *data)
{
    char    buf[32];
    ctx_t  *ctx;

    ctx = data;

    if (!ctx->json) {
        snprintf(buf, sizeof(buf), "%" PRIu32 " ms", rec->duration);

        table_row(&ctx->table, local(rec->time),
                  dup_field(outcome_name(rec->outcome),
                            strlen(outcome_name(rec->outcome))),
                  rec->status ? snum(rec->status) : dup_field("-", 1),
                  num(rec->attempt), dup_field(buf, strlen(buf)),
                  num(rec->item_id), field(rec->event), field(rec->event_id),
                  url_field(rec->url), field(rec->error),
                  answer_field(rec->answer));

        ctx->count++;
        return 0;
    }

    printf("%s\n  {", ctx->count ? "," : "");
    json_time("time", rec->time);
    printf(",\"outcome\":\"%s\",\"status\":%" PRId32 ",\"attempt\":%" PRIu32
           ",\"duration_ms\":%" PRIu32 ",\"item_id\":%" PRIu64 ",\"event\":",
           outcome_name(rec->outcome), rec->status, rec->attempt,
           rec->duration, rec->item_id);
    json_str(rec->event.data, rec->event.len);
    fputs(",\"event_id\":", stdout);
    json_str(rec->event_id.data, rec->event_id.len);
    fputs(",\"url\":", stdout);
    json_url(rec->url);
    fputs(",\"error\":", stdout);
    json_str(rec->error.data, rec->error.len);
    fputs(",\"answer\":", stdout);
    json_str(rec->answer.data, rec->answer.len);
    putchar('}');

    ctx->count++;

    return 0;
}


static int
print_log_key(const qlm_store_log_t *rec, const qlm_store_log_key_t *key,
    void *data)
{
    return print_log(rec, data);
}


void
log_begin(ctx_t *ctx)
{
    if (ctx->json) {
        putchar('[');

    } else {
        table_init(&ctx->table, 11, "TIME", "OUTCOME", "STATUS",
                   "ATTEMPT", "DURATION", "ITEM", "EVENT", "EVENT ID",
                   "URL", "ERROR", "ANSWER");
    }
}


void
log_end(ctx_t *ctx)
{
    if (ctx->json) {
        printf("%s]\n", ctx->count ? "\n" : "");

    } else {
        table_print(&ctx->table);
        table_free(&ctx->table);
    }
}


/* queue and dead letters: "cmd" says which */

void
items_begin(ctx_t *ctx, int cmd)
{
    ctx->dead = (cmd == CMD_DEAD);

    if (ctx->json) {
        putchar('[');

    } else {
        table_init(&ctx->table, ctx->body ? 10 : 9, "ID", "STATE",
                   cmd == CMD_QUEUE ? "DUE" : "DIED", "ATTEMPT",
                   "STATUS", "EVENT", "EVENT ID", "URL", "LAST ERROR",
                   "BODY");
    }
}


void
items_end(ctx_t *ctx)
{
    log_end(ctx);
}


/*
 * The log, in steps of LOG_STEP records read, each its own read
 * transaction resuming where the last one stopped: the admin API's walk.
 */

#define LOG_STEP  10000

static int
cmd_log(qlm_store_t *st, ctx_t *ctx)
{
    int                   rc;
    unsigned              more;
    qlm_store_log_key_t   after;

    log_begin(ctx);

    after.time = 0;
    after.seq = 0;

    do {
        ctx->filter.limit = ctx->limit ? ctx->limit - ctx->count : 0;

        rc = qlm_store_log_page(st, &ctx->filter, ctx->url, &after, LOG_STEP,
                                print_log_key, ctx, &after, &more);

    } while (rc == 0 && more && !(ctx->limit && ctx->count >= ctx->limit));

    log_end(ctx);

    if (rc != 0) {
        return fail("qlm_store_log_page", rc);
    }

    return 0;
}


/*
 * Between two slices of a bulk write: LMDB's writer lock is a mutex, not
 * a queue, and a process that takes it again at once can keep nginx's
 * workers (whose commits hold back license answers) waiting for many
 * slices; a millisecond's pause lets them in.
 */

static void
writer_pause(void)
{
    struct timespec  ts = { 0, 1000000 };

    (void) nanosleep(&ts, NULL);
}


/* recover and replay all: the admin API's steps, 128 a transaction */

static int
cmd_recover(qlm_store_t *st, ctx_t *ctx, uint64_t since)
{
    int        rc;
    uint64_t   after, n, total;
    unsigned   more;

    after = 0;
    total = 0;

    do {
        rc = qlm_store_dead_replay_step(st, after, since, ctx->now, 128, 0,
                                        &n, &after, &more);
        total += n;

        if (more) {
            writer_pause();
        }

    } while (rc == 0 && more);

    if (rc != 0) {
        fprintf(stderr, "%s: replayed %" PRIu64 " before the error\n",
                progname, total);
        return fail("qlm_store_dead_replay_step", rc);
    }

    if (ctx->json) {
        printf("{\"replayed\":%" PRIu64 "}\n", total);

    } else {
        printf("replayed %" PRIu64 "\n", total);
    }

    return 0;
}


int
print_counter(const char *name, uint64_t value, void *data)
{
    ctx_t  *ctx;

    ctx = data;

    if (ctx->json) {
        fputs(ctx->count ? "," : "", stdout);
        json_str(name, strlen(name));
        printf(":%" PRIu64, value);

    } else {
        printf("  %-18s %" PRIu64 "\n", name, value);
    }

    ctx->count++;

    return 0;
}


static int
cmd_summary(qlm_store_t *st, const char *path, ctx_t *ctx)
{
    int                        rc;
    qlm_store_stat_t           stat;
    qlm_store_journal_info_t   ji;

    rc = qlm_store_stat(st, ctx->now, &stat);
    if (rc != 0) {
        return fail("qlm_store_stat", rc);
    }

    /* a journal it cannot read is said, and the figures go on */

    rc = qlm_store_journal_info(st, path, &ji);
    if (rc != 0) {
        fprintf(stderr, "%s: the journals in \"%s\": %s\n", progname, path,
                qlm_store_strerror(rc));
    }

    print_stat(ctx, &stat, 0, 0, rc == 0 ? &ji : NULL);

    rc = qlm_store_counter_foreach(st, print_counter, ctx);

    if (rc != 0) {
        if (ctx->json) {
            putchar('\n');
        }

        return fail("qlm_store_counter_foreach", rc);
    }

    if (ctx->json) {
        printf("}}\n");
    }

    return 0;
}


/*
 * The figures before the counters (then "}}" closes the JSON): a
 * PostgreSQL store ("pg") has no map, its database a size
 */

void
print_stat(ctx_t *ctx, const qlm_store_stat_t *stat, int pg,
    uint64_t db_size, const qlm_store_journal_info_t *ji)
{
    char  due[64], size[32], used[32];

    if (ctx->json) {
        printf("{\"queued\":%" PRIu64 ",\"due\":%" PRIu64
               ",\"leased\":%" PRIu64 ",\"dead\":%" PRIu64
               ",\"log_records\":%" PRIu64 ",",
               stat->queued, stat->due, stat->leased, stat->dead,
               stat->log_records);
        json_time("next_due", stat->next_due);

        if (pg) {
            printf(",\"database_size\":%" PRIu64 ",\"counters\":{",
                   db_size);

        } else {
            printf(",\"map_size\":%zu,\"map_used\":%zu,",
                   stat->map_size, stat->map_used);

            if (ji) {
                printf("\"journals\":{\"live\":%" PRIu32 ",\"ended\":%"
                       PRIu32 ",\"events\":%" PRIu64 "},",
                       ji->live, ji->ended, ji->events);
            }

            printf("\"counters\":{");
        }

        return;
    }

    fmt_local(stat->next_due, due, sizeof(due));

    printf("queued               %" PRIu64 "\n"
           "due                  %" PRIu64 "\n"
           "leased               %" PRIu64 "\n"
           "dead                 %" PRIu64 "\n"
           "log records          %" PRIu64 "\n"
           "next due             %s\n",
           stat->queued, stat->due, stat->leased, stat->dead,
           stat->log_records, due);

    if (pg) {
        fmt_size(db_size, size, sizeof(size));
        printf("database size        %s\n", size);

    } else {
        fmt_size(stat->map_size, size, sizeof(size));
        fmt_size(stat->map_used, used, sizeof(used));
        printf("map size             %s\n"
               "map used             %s (%.1f%%)\n", size, used,
               stat->map_size ? 100.0 * stat->map_used / stat->map_size
                              : 0.0);
    }

    /* sync=on: what the journals of ended workers hold, to replay */

    if (ji && ji->live + ji->ended) {
        printf("journals             %" PRIu32 " of running workers, %"
               PRIu32 " of ended workers (%" PRIu64 " event%s to replay)\n",
               ji->live, ji->ended, ji->events,
               ji->events == 1 ? "" : "s");
    }

    printf("counters\n");
}


static int
print_paused(const qlm_store_paused_t *p, void *data)
{
    char   buf[64], *url, *by;
    ctx_t *ctx;

    ctx = data;

    if (ctx->json) {
        printf("%s{\"url\":", ctx->count ? ",\n" : "\n");
        json_str(p->url.data, p->url.len);
        printf(",\"paused\":true,");
        json_time("since", p->since);
        printf(",\"by\":");
        json_str(p->by.data, p->by.len);
        putchar('}');

    } else {
        fmt_local(p->since, buf, sizeof(buf));
        url = dup_field(p->url.data, p->url.len);
        by = dup_field(p->by.data, p->by.len);
        table_row(&ctx->table, url, dup_field(buf, strlen(buf)), by);
    }

    ctx->count++;

    return 0;
}


/*
 * urls: the paused receivers; urls pause|resume URL: as the admin API's
 * POST urls/pause?url= and urls/resume?url=, on the store, where the
 * workers read it.  The URL is kept as the log shows it (without
 * credentials and query), which is how the workers match it.
 */

static int
cmd_urls(qlm_store_t *st, ctx_t *ctx, const char *verb, const char *url)
{
    int               rc;
    char             *buf;
    unsigned          pause;
    qlm_store_str_t   u, shown;

    if (verb == NULL) {
        if (ctx->json) {
            putchar('[');

        } else {
            table_init(&ctx->table, 3, "URL", "PAUSED SINCE", "BY");
        }

        rc = qlm_store_paused_foreach(st, print_paused, ctx, NULL);

        if (ctx->json) {
            printf("%s]\n", ctx->count ? "\n" : "");

        } else {
            table_print(&ctx->table);
            table_free(&ctx->table);
        }

        return rc ? fail("qlm_store_paused_foreach", rc) : 0;
    }

    pause = (strcmp(verb, "pause") == 0);

    u.data = url;
    u.len = strlen(url);

    buf = dup_field(u.data, u.len);
    shown = url_shown(u, buf);

    rc = qlm_store_url_pause(st, shown, pause, ctx->now,
                             pause ? (qlm_store_str_t) { 9, "qlm-store" }
                                   : (qlm_store_str_t) { 0, NULL });

    /* already so: the same answer as the admin API's */

    if (rc == QLM_STORE_EXISTS || rc == QLM_STORE_NOTFOUND) {
        rc = 0;
    }

    if (rc != 0) {
        free(buf);
        return fail("qlm_store_url_pause", rc);
    }

    if (ctx->json) {
        printf("{\"url\":");
        json_str(shown.data, shown.len);
        printf(",\"paused\":%s}\n", pause ? "true" : "false");

    } else {
        printf("%s %.*s\n", pause ? "paused" : "resumed", (int) shown.len,
               shown.data);
    }

    free(buf);

    return 0;
}


int
main(int argc, char **argv)
{
    int                   c, rc, status;
    char                **cargv;
    uint64_t              v, id, n;
    unsigned              seen, since, until, pg;
    const char           *path, *since_s, *until_s, *password_file, *arg;
    ctx_t                 ctx;
    qlm_store_t          *st;
    const command_t      *cmd;
    qlm_store_options_t   opts;

    static const struct option  global[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { "map-size", required_argument, NULL, 'm' },
        { "password-file", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 }
    };

    static const struct option  options[] = {
        { "json", no_argument, NULL, 'j' },
        { "limit", required_argument, NULL, 'n' },
        { "body", no_argument, NULL, 'b' },
        { "since", required_argument, NULL, 's' },
        { "until", required_argument, NULL, 'u' },
        { "event", required_argument, NULL, 'e' },
        { "event-id", required_argument, NULL, 'i' },
        { "outcome", required_argument, NULL, 'o' },
        { "url", required_argument, NULL, 'U' },
        { "newest-first", no_argument, NULL, 'r' },
        { "log-max-records", required_argument, NULL, 'R' },
        { "log-max-age", required_argument, NULL, 'A' },
        { "password-file", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 }
    };

    memset(&ctx, 0, sizeof(ctx));
    memset(&opts, 0, sizeof(opts));

    ctx.now = now_ms();
    password_file = NULL;

    /* global options stop at PATH */

    while ((c = getopt_long(argc, argv, "+jhm:", global, NULL)) != -1) {
        switch (c) {
        case 'j':
            ctx.json = 1;
            break;
        case 'm':
            /* as nginx's max_size: a number with k, m or g */
            {
                char      *end;
                uint64_t   mul;

                errno = 0;
                v = strtoull(optarg, &end, 10);
                mul = 1;

                if (*end == 'k' || *end == 'K') {
                    mul = 1024;
                    end++;
                } else if (*end == 'm' || *end == 'M') {
                    mul = 1024 * 1024;
                    end++;
                } else if (*end == 'g' || *end == 'G') {
                    mul = 1024 * 1024 * 1024;
                    end++;
                }

                if (errno || *end != '\0' || v == 0
                    || v > SIZE_MAX / mul)
                {
                    die_usage("bad --map-size \"%s\"", optarg);
                }

                opts.map_size = (size_t) (v * mul);
            }
            break;
        case 'p':
            password_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }

    if (argc - optind < 2) {
        usage(stderr);
        return 2;
    }

    path = argv[optind];

    pg = (strncmp(path, "postgresql://", 13) == 0
          || strncmp(path, "postgres://", 11) == 0);

    for (cmd = commands; cmd->name; cmd++) {
        if (strcmp(cmd->name, argv[optind + 1]) == 0) {
            break;
        }
    }

    if (cmd->name == NULL) {
        die_usage("unknown command \"%s\"", argv[optind + 1]);
    }

    /* the command's options, from the word after the command */

    cargv = argv + optind + 1;
    argc -= optind + 1;
    optind = 0;

    seen = 0;
    since = 0;
    until = 0;
    since_s = NULL;
    until_s = NULL;

    while ((c = getopt_long(argc, cargv, "+j", options, NULL)) != -1) {
        switch (c) {
        case 'j':
            ctx.json = 1;
            continue;
        case 'n':
            seen |= OPT_LIMIT;
            if (parse_u64(optarg, &v) != 0 || v == 0 || v > SIZE_MAX) {
                die_usage("bad --limit \"%s\"", optarg);
            }
            ctx.limit = (size_t) v;
            continue;
        case 'b':
            seen |= OPT_BODY;
            ctx.body = 1;
            continue;
        case 's':
            seen |= OPT_SINCE;
            since = 1;
            since_s = optarg;
            continue;
        case 'u':
            seen |= OPT_LOGF;
            until = 1;
            until_s = optarg;
            continue;
        case 'e':
            seen |= OPT_LOGF;
            ctx.filter.event.data = optarg;
            ctx.filter.event.len = strlen(optarg);
            continue;
        case 'i':
            seen |= OPT_LOGF;
            ctx.filter.event_id.data = optarg;
            ctx.filter.event_id.len = strlen(optarg);
            continue;
        case 'U':
            seen |= OPT_LOGF;
            ctx.url.data = optarg;
            ctx.url.len = strlen(optarg);
            continue;
        case 'o':
            seen |= OPT_LOGF;
            if (strcmp(optarg, "delivered") == 0) {
                ctx.filter.outcome = QLM_STORE_DELIVERED;
            } else if (strcmp(optarg, "retry") == 0) {
                ctx.filter.outcome = QLM_STORE_RETRY;
            } else if (strcmp(optarg, "dead") == 0) {
                ctx.filter.outcome = QLM_STORE_DEAD;
            } else {
                die_usage("bad --outcome \"%s\"", optarg);
            }
            continue;
        case 'r':
            seen |= OPT_LOGF;
            ctx.filter.newest_first = 1;
            continue;
        case 'R':
            seen |= OPT_TRIM;
            if (parse_u64(optarg, &v) != 0 || v == 0) {
                die_usage("bad --log-max-records \"%s\"", optarg);
            }
            opts.log_max_records = v;
            continue;
        case 'p':
            password_file = optarg;
            continue;
        case 'A':
            seen |= OPT_TRIM;
            if (parse_u64(optarg, &v) != 0 || v == 0
                || v > UINT64_MAX / 1000)
            {
                die_usage("bad --log-max-age \"%s\"", optarg);
            }
            opts.log_max_age = v * 1000;
            continue;
        default:
            fprintf(stderr, "Try '%s --help'.\n", progname);
            return 2;
        }
    }

    if (seen & ~cmd->opts) {
        die_usage("an option that \"%s\" does not take", cmd->name);
    }

    if (since && parse_time(since_s, ctx.now, &ctx.filter.from) != 0) {
        die_usage("bad --since \"%s\"", since_s);
    }

    if (until && parse_time(until_s, ctx.now, &ctx.filter.to) != 0) {
        die_usage("bad --until \"%s\"", until_s);
    }

    if (until && ctx.filter.to == 0) {
        die_usage("bad --until \"%s\"", until_s);
    }

    if (cmd->cmd == CMD_RECOVER && !since) {
        die_usage("recover takes --since TIME");
    }

    id = 0;

    if (cmd->cmd == CMD_REPLAY) {
        if (argc - optind != 1) {
            die_usage("replay takes one ID, or \"all\"");
        }

        if (strcmp(cargv[optind], "all") != 0
            && (parse_u64(cargv[optind], &id) != 0 || id == 0))
        {
            die_usage("bad ID \"%s\"", cargv[optind]);
        }

    } else if (cmd->cmd == CMD_IMPORT) {
        if (argc - optind != 2
            || (strcmp(cargv[optind], "licenses") != 0
                && strcmp(cargv[optind], "customers") != 0))
        {
            die_usage("import takes \"licenses\" or \"customers\", "
                      "then a FILE");
        }

    } else if (cmd->cmd == CMD_SCHEMA) {
        if (argc - optind != 1
            || (strcmp(cargv[optind], "init") != 0
                && strcmp(cargv[optind], "migrate") != 0
                && strcmp(cargv[optind], "version") != 0))
        {
            die_usage("schema takes \"init\", \"migrate\" or "
                      "\"version\"");
        }

    } else if (cmd->cmd == CMD_URLS) {
        if (!(argc == optind
              || (argc - optind == 2
                  && (strcmp(cargv[optind], "pause") == 0
                      || strcmp(cargv[optind], "resume") == 0))))
        {
            die_usage("urls takes nothing, or \"pause\" or \"resume\" "
                      "and a URL");
        }

        if (argc - optind == 2 && cargv[optind + 1][0] == '\0') {
            die_usage("an empty URL");
        }

    } else if (optind != argc) {
        die_usage("unexpected \"%s\"", cargv[optind]);
    }

    if (pg) {
        if (opts.map_size) {
            die_usage("--map-size is for LMDB stores");
        }

        if (cmd->cmd == CMD_URLS) {
            die_usage("\"%s\" is not available on a PostgreSQL store",
                      cmd->name);
        }

        /* the LMDB store's bounds: 100,000 records, no age */

        ctx.log_max_records = opts.log_max_records ? opts.log_max_records
                                                   : 100000;
        ctx.log_max_age = opts.log_max_age;

        arg = (cmd->cmd == CMD_SCHEMA) ? cargv[optind] : NULL;

        status = pg_run(path, password_file, cmd->cmd, arg,
                        strcmp(cmd->cmd == CMD_IMPORT ? cargv[optind]
                                                      : cmd->name,
                               "customers") == 0
                        ? QLM_STORE_CUSTOMERS : QLM_STORE_LICENSES,
                        cmd->cmd == CMD_IMPORT ? cargv[optind + 1] : NULL,
                        id, &ctx);

        if (fflush(stdout) != 0) {
            fprintf(stderr, "%s: write: %s\n", progname, strerror(errno));
            return 1;
        }

        return status;
    }

    if (cmd->cmd == CMD_SCHEMA) {
        die_usage("\"schema\" is for PostgreSQL stores");
    }

    if (password_file) {
        die_usage("--password-file is for PostgreSQL stores");
    }

    opts.read_only = !cmd->write
                     && !(cmd->cmd == CMD_URLS && argc - optind == 2);

    /*
     * Bulk writes (import, replay, recover, trim) flush once, at the end:
     * a flush per slice would hold the writer lock, and so the workers'
     * commits, for a disk write each time
     */

    opts.no_sync = cmd->write;

    rc = qlm_store_open(&st, path, &opts);
    if (rc != 0) {
        fprintf(stderr, "%s: qlm_store_open \"%s\": %s\n", progname, path,
                qlm_store_strerror(rc));
        return 1;
    }

    status = 0;

    switch (cmd->cmd) {

    case CMD_SUMMARY:
        status = cmd_summary(st, path, &ctx);
        break;

    case CMD_QUEUE:
    case CMD_DEAD:
        items_begin(&ctx, cmd->cmd);

        if (cmd->cmd == CMD_QUEUE) {
            rc = qlm_store_queue_foreach(st, print_item, &ctx);

        } else {
            rc = qlm_store_dead_foreach(st, print_item, &ctx);
        }

        items_end(&ctx);

        if (rc != 0) {
            status = fail(cmd->cmd == CMD_QUEUE ? "qlm_store_queue_foreach"
                                                : "qlm_store_dead_foreach",
                          rc);
        }

        break;

    case CMD_LOG:
        status = cmd_log(st, &ctx);
        break;

    case CMD_RECOVER:
        status = cmd_recover(st, &ctx, ctx.filter.from);
        break;

    case CMD_REPLAY:
        if (id == 0) {
            status = cmd_recover(st, &ctx, 0);
            break;
        }

        rc = qlm_store_dead_replay(st, id, ctx.now, &n);

        if (rc != 0) {
            status = fail("qlm_store_dead_replay", rc);
            break;
        }

        if (ctx.json) {
            printf("{\"replayed\":%" PRIu64 "}\n", n);

        } else {
            printf("replayed %" PRIu64 "\n", n);
        }

        break;

    case CMD_MIRROR:
        status = cmd_mirror(st, &ctx,
                            strcmp(cmd->name, "licenses") == 0
                            ? QLM_STORE_LICENSES : QLM_STORE_CUSTOMERS);
        break;

    case CMD_IMPORT:
        status = cmd_import(st, &ctx,
                            strcmp(cargv[optind], "licenses") == 0
                            ? QLM_STORE_LICENSES : QLM_STORE_CUSTOMERS,
                            cargv[optind + 1]);
        break;

    case CMD_URLS:
        status = cmd_urls(st, &ctx,
                          argc - optind == 2 ? cargv[optind] : NULL,
                          argc - optind == 2 ? cargv[optind + 1] : NULL);
        break;

    case CMD_TRIM:
        rc = qlm_store_log_trim(st, ctx.now, &n);

        if (rc != 0) {
            status = fail("qlm_store_log_trim", rc);
            break;
        }

        if (ctx.json) {
            printf("{\"removed\":%" PRIu64 "}\n", n);

        } else {
            printf("removed %" PRIu64 "\n", n);
        }

        break;
    }

    qlm_store_close(st);

    if (fflush(stdout) != 0) {
        fprintf(stderr, "%s: write: %s\n", progname, strerror(errno));
        return 1;
    }

    return status;
}


/* the license mirror */

typedef struct {
    ctx_t    *ctx;
    char      last[401];
    size_t    last_len;
} scan_t;


/* a record of the mirror, on either backend; data: the ctx_t */

int
print_record(const qlm_store_record_t *rec, void *data)
{
    char      when[64], *fields, *p;
    size_t    i, len;
    ctx_t    *ctx;

    ctx = data;

    if (ctx->limit && ctx->count >= ctx->limit) {
        return 1;
    }

    ctx->count++;

    if (ctx->json) {
        printf("%s\n{\"key\":", ctx->count > 1 ? "," : "");
        json_str(rec->key.data, rec->key.len);
        printf(",");
        json_time("updated", rec->updated);
        printf(",\"deleted\":%s,\"fields\":{", rec->deleted ? "true" : "false");

        for (i = 0; i < rec->nfields; i++) {
            printf("%s", i ? "," : "");
            json_str(rec->fields[i].name.data, rec->fields[i].name.len);
            putchar(':');
            json_str(rec->fields[i].value.data, rec->fields[i].value.len);
        }

        printf("}}");
        return 0;
    }

    len = 1;

    for (i = 0; i < rec->nfields; i++) {
        len += rec->fields[i].name.len + rec->fields[i].value.len + 3;
    }

    fields = malloc(len);
    if (fields == NULL) {
        return 1;
    }

    p = fields;

    for (i = 0; i < rec->nfields; i++) {
        p += sprintf(p, "%s%.*s=%.*s", i ? "; " : "",
                     (int) rec->fields[i].name.len, rec->fields[i].name.data,
                     (int) rec->fields[i].value.len,
                     rec->fields[i].value.data);
    }

    *p = '\0';

    fmt_local(rec->updated, when, sizeof(when));

    table_row(&ctx->table, dup_field(rec->key.data, rec->key.len),
              dup_field(when, strlen(when)),
              dup_field(rec->deleted ? "yes" : "no", rec->deleted ? 3 : 2),
              fields);

    return 0;
}


/* LMDB's scan: where the next step starts */

static int
scan_record(const qlm_store_record_t *rec, void *data)
{
    scan_t  *sc;

    sc = data;

    memcpy(sc->last, rec->key.data, rec->key.len);
    sc->last_len = rec->key.len;

    return print_record(rec, sc->ctx);
}


void
mirror_begin(ctx_t *ctx)
{
    if (ctx->json) {
        putchar('[');

    } else {
        table_init(&ctx->table, 4, "KEY", "UPDATED", "DELETED", "FIELDS");
    }
}


void
mirror_end(ctx_t *ctx)
{
    if (ctx->json) {
        printf("%s]\n", ctx->count ? "\n" : "");

    } else {
        table_print(&ctx->table);
        table_free(&ctx->table);
    }
}


static int
cmd_mirror(qlm_store_t *st, ctx_t *ctx, int table)
{
    int               rc;
    size_t            n;
    scan_t            sc;
    qlm_store_str_t   after;

    memset(&sc, 0, sizeof(sc));
    sc.ctx = ctx;

    mirror_begin(ctx);

    /* in steps, as the module scans: no long read transaction */

    do {
        after.data = sc.last;
        after.len = sc.last_len;

        rc = qlm_store_mirror_scan(st, table, after, 1000, scan_record, &sc,
                                   &n);

    } while (rc == 0 && n == 1000
             && !(ctx->limit && ctx->count >= ctx->limit));

    mirror_end(ctx);

    if (rc != 0) {
        return fail("qlm_store_mirror_scan", rc);
    }

    return 0;
}


/*
 * import: a JSON array of records, or one record a line (JSON lines), with
 * QLM's field names.  A record without its key (ActivationKey; Email or
 * CustomerID for customers) or that is not an object is reported with its
 * line (or its index in an array) and skipped; the others go to the
 * backend's "flush" in batches: on LMDB 128 to a transaction, so that no
 * transaction holds the writer lock (and the license traffic of nginx's
 * workers) for more than about a millisecond.
 */

#define IMPORT_BATCH  128


typedef struct {
    qlm_store_record_t   recs[IMPORT_BATCH_MAX];
    qlm_store_field_t   *fields[IMPORT_BATCH_MAX];
    json_t              *docs[IMPORT_BATCH_MAX];
    char               **texts[IMPORT_BATCH_MAX];
    size_t               ntexts[IMPORT_BATCH_MAX];
    size_t               n;
} batch_t;


static void
batch_clear(batch_t *b)
{
    size_t  i, k;

    for (i = 0; i < b->n; i++) {
        for (k = 0; k < b->ntexts[i]; k++) {
            free(b->texts[i][k]);
        }

        free(b->texts[i]);
        free(b->fields[i]);
        json_decref(b->docs[i]);
    }

    b->n = 0;
}


static const char *
import_record(batch_t *b, json_t *doc, int table, uint64_t now)
{
    char                 buf[64];
    size_t               i, n;
    const char          *key, *name, *v;
    json_t              *value;
    qlm_store_field_t   *f;
    qlm_store_record_t  *rec;

    if (!json_is_object(doc)) {
        return "not a JSON object";
    }

    n = json_object_size(doc);

    if (n > 256) {
        return "more than 256 fields";
    }

    f = calloc(n + 1, sizeof(qlm_store_field_t));
    b->texts[b->n] = calloc(n + 1, sizeof(char *));

    if (f == NULL || b->texts[b->n] == NULL) {
        free(f);
        free(b->texts[b->n]);
        return "out of memory";
    }

    rec = &b->recs[b->n];
    memset(rec, 0, sizeof(qlm_store_record_t));

    i = 0;
    b->ntexts[b->n] = 0;

    json_object_foreach(doc, key, value) {

        /* QLM's column name for the expiry date; key drives the loop */
        name = (strcmp(key, "SubscriptionExpiryDate") == 0) ? "ExpiryDate"
                                                             : key;

        if (json_is_string(value)) {
            v = json_string_value(value);

        } else if (json_is_integer(value)) {
            snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(value));
            v = buf;

        } else if (json_is_real(value)) {
            snprintf(buf, sizeof(buf), "%.17g", json_real_value(value));
            v = buf;

        } else if (json_is_boolean(value)) {
            v = json_is_true(value) ? "true" : "false";

        } else {
            continue;       /* null, objects, arrays: not a field */
        }

        if (v == buf) {
            v = strdup(buf);
            if (v == NULL) {
                continue;
            }

            b->texts[b->n][b->ntexts[b->n]++] = (char *) v;
        }

        f[i].name.data = name;
        f[i].name.len = strlen(name);
        f[i].value.data = v;
        f[i].value.len = strlen(v);

        if (rec->key.len == 0 && f[i].value.len
            && (table == QLM_STORE_LICENSES
                ? strcmp(name, "ActivationKey") == 0
                : (strcmp(name, "Email") == 0
                   || strcmp(name, "CustomerID") == 0)))
        {
            rec->key = f[i].value;
        }

        i++;
    }

    if (rec->key.len == 0 || rec->key.len > 400) {
        for (n = 0; n < b->ntexts[b->n]; n++) {
            free(b->texts[b->n][n]);
        }

        free(b->texts[b->n]);
        free(f);

        return table == QLM_STORE_LICENSES ? "no ActivationKey"
                                           : "no Email or CustomerID";
    }

    rec->updated = now;
    rec->nfields = i;
    rec->fields = f;

    b->fields[b->n] = f;
    b->docs[b->n] = json_incref(doc);
    b->n++;

    return NULL;
}


/* a batch to the backend; its records are freed whatever it says */

static int
import_flush(batch_t *b, import_flush_pt flush, void *data, size_t *loaded)
{
    int  rc;

    rc = flush(b->recs, b->n, data);

    if (rc == 0) {
        *loaded += b->n;
    }

    batch_clear(b);

    return rc;
}


/*
 * QLM's data set XML, as GetDataSetEx returns it and .NET's DataSet writes
 * it: a root (NewDataSet) whose element children are the records (one
 * element a row, named after the table) and whose grandchildren are the
 * columns; an inline schema (xs:schema) is skipped; an empty element is an
 * empty value.  Each record becomes a JSON object of strings.
 */

static json_t *
import_xml(const char *text, size_t size, const char **why)
{
    json_t      *all, *rec;
    xmlChar     *content;
    xmlDocPtr    doc;
    xmlNodePtr   root, row, col;

    /* no network, no entities: a file is data, not instructions */

    doc = xmlReadMemory(text, (int) size, NULL, NULL,
                        XML_PARSE_NONET|XML_PARSE_NOERROR|XML_PARSE_NOWARNING
                        |XML_PARSE_NOCDATA|XML_PARSE_NOBLANKS);
    if (doc == NULL) {
        *why = "not well-formed XML";
        return NULL;
    }

    root = xmlDocGetRootElement(doc);
    all = json_array();

    for (row = root ? root->children : NULL; row; row = row->next) {
        if (row->type != XML_ELEMENT_NODE
            || xmlStrcmp(row->name, (const xmlChar *) "schema") == 0)
        {
            continue;
        }

        rec = json_object();

        for (col = row->children; col; col = col->next) {
            if (col->type != XML_ELEMENT_NODE) {
                continue;
            }

            content = xmlNodeGetContent(col);

            json_object_set_new(rec, (const char *) col->name,
                                json_string(content ? (const char *) content
                                                    : ""));
            xmlFree(content);
        }

        json_array_append_new(all, rec);
    }

    xmlFreeDoc(doc);

    return all;
}


/*
 * The management console's CSV export (RFC 4180): a header row, then one
 * row a record; fields may be quoted, "" is a quote inside one, a quoted
 * field may hold line breaks.  Column names are read without their spaces
 * ("Activation Key" is ActivationKey).  Each row becomes a JSON object of
 * strings, kept as they are (the payload writer replaces what is not
 * UTF-8).
 */

static int
csv_field(const char **pp, const char *last, char **out, int *eol)
{
    size_t       len, cap;
    char        *buf, *next;
    const char  *p;

    p = *pp;
    buf = NULL;
    len = 0;
    cap = 0;
    *eol = 0;

#define CSV_PUT(c)                                                            \
    do {                                                                      \
        if (len + 2 > cap) {                                                  \
            cap = cap ? 2 * cap : 64;                                         \
            next = realloc(buf, cap);                                         \
            if (next == NULL) {                                               \
                free(buf);                                                    \
                return -1;                                                    \
            }                                                                 \
            buf = next;                                                       \
        }                                                                     \
        buf[len++] = (c);                                                     \
    } while (0)

    if (p < last && *p == '"') {
        for (p++; p < last; p++) {
            if (*p == '"') {
                if (p + 1 < last && p[1] == '"') {
                    CSV_PUT('"');
                    p++;
                    continue;
                }

                p++;
                break;
            }

            CSV_PUT(*p);
        }
    }

    /* unquoted, or what follows a closing quote up to the separator */

    while (p < last && *p != ',' && *p != '\n' && *p != '\r') {
        CSV_PUT(*p);
        p++;
    }

#undef CSV_PUT

    if (p == last) {
        *eol = 1;

    } else if (*p == ',') {
        p++;

    } else {
        *eol = 1;
        p += (*p == '\r' && p + 1 < last && p[1] == '\n') ? 2 : 1;
    }

    if (buf == NULL) {
        buf = strdup("");
        if (buf == NULL) {
            return -1;
        }

    } else {
        buf[len] = '\0';
    }

    *pp = p;
    *out = buf;

    return 0;
}


static json_t *
import_csv(const char *text, size_t size, const char **why)
{
    int          eol, blank;
    char        *field, *q, **names;
    size_t       n, i, nnames;
    json_t      *all, *rec;
    const char  *p, *last;

    p = text;
    last = text + size;

    if (size >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
        p += 3;
    }

    names = NULL;
    nnames = 0;
    all = json_array();

    /* the header */

    do {
        if (csv_field(&p, last, &field, &eol) != 0) {
            goto nomem;
        }

        /* names without their spaces */

        for (q = field, i = 0; field[i]; i++) {
            if (!isspace((unsigned char) field[i])) {
                *q++ = field[i];
            }
        }

        *q = '\0';

        names = realloc(names, (nnames + 1) * sizeof(char *));
        if (names == NULL) {
            free(field);
            goto nomem;
        }

        names[nnames++] = field;

    } while (!eol);

    while (p < last) {
        rec = json_object();
        n = 0;
        blank = 1;

        do {
            if (csv_field(&p, last, &field, &eol) != 0) {
                json_decref(rec);
                goto nomem;
            }

            if (field[0] || n) {
                blank = 0;
            }

            /* bytes as they are: the payload writer makes them UTF-8 */

            if (n < nnames && names[n][0]) {
                json_object_set_new(rec, names[n],
                                    json_stringn_nocheck(field,
                                                         strlen(field)));
            }

            free(field);
            n++;

        } while (!eol);

        if (blank) {
            json_decref(rec);
            continue;
        }

        json_array_append_new(all, rec);
    }

    for (i = 0; i < nnames; i++) {
        free(names[i]);
    }

    free(names);

    return all;

nomem:

    for (i = 0; i < nnames; i++) {
        free(names[i]);
    }

    free(names);
    json_decref(all);
    *why = "out of memory";

    return NULL;
}


/*
 * The records of an import file, for both backends: "flush" gets them in
 * batches of up to "max" (IMPORT_BATCH_MAX at most); "loaded" counts
 * those it took, "skipped" those that were not records.  Returns 0, -1
 * if the file could not be read (said on standard error), or what a
 * flush returned when it was not 0 (the import stops there).
 */

int
import_read(const char *file, int table, uint64_t now, size_t max,
    import_flush_pt flush, void *data, size_t *loaded, size_t *skipped)
{
    int            rc;
    char          *line, *text, *next;
    FILE          *f;
    size_t         i, lineno, size;
    json_t        *doc, *all;
    batch_t       *b;
    const char    *why;
    json_error_t   err;

    *loaded = 0;
    *skipped = 0;

    if (max == 0 || max > IMPORT_BATCH_MAX) {
        max = IMPORT_BATCH_MAX;
    }

    f = fopen(file, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: fopen \"%s\": %s\n", progname, file,
                strerror(errno));
        return -1;
    }

    /* the whole file: an import is a one-off, not a stream */

    text = NULL;
    size = 0;

    {
        char    chunk[65536];
        size_t  n;

        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
            next = realloc(text, size + n + 1);
            if (next == NULL) {
                free(text);
                fclose(f);
                fprintf(stderr, "%s: out of memory\n", progname);
                return -1;
            }

            text = next;
            memcpy(text + size, chunk, n);
            size += n;
        }
    }

    if (ferror(f)) {
        fprintf(stderr, "%s: read \"%s\": %s\n", progname, file,
                strerror(errno));
        fclose(f);
        free(text);
        return -1;
    }

    fclose(f);

    if (text == NULL) {
        text = strdup("");
        if (text == NULL) {
            return -1;
        }
    }

    text[size] = '\0';

    b = calloc(1, sizeof(batch_t));
    if (b == NULL) {
        free(text);
        return -1;
    }

    rc = 0;

    /* the format from the first character: [ or { JSON, < XML, else CSV */

    i = strspn(text, " \t\r\n");

    if (size - i >= 3 && memcmp(text + i, "\xef\xbb\xbf", 3) == 0) {
        i += 3 + strspn(text + i + 3, " \t\r\n");
    }

    why = NULL;

    if (text[i] == '<') {
        all = import_xml(text, size, &why);

    } else if (text[i] != '[' && text[i] != '{' && text[i] != '\0') {
        all = import_csv(text, size, &why);

    } else {
        all = json_loadb(text, size, JSON_DECODE_ANY, &err);
    }

    if (why) {
        fprintf(stderr, "%s: import \"%s\": %s\n", progname, file, why);
        free(b);
        free(text);
        return -1;
    }

    if (all && json_is_array(all)) {
        for (i = 0; i < json_array_size(all) && rc == 0; i++) {
            why = import_record(b, json_array_get(all, i), table, now);

            if (why) {
                fprintf(stderr, "%s: import: record %zu: %s, skipped\n",
                        progname, i + 1, why);
                (*skipped)++;
            }

            if (b->n == max) {
                rc = import_flush(b, flush, data, loaded);
            }
        }

    } else {
        /* JSON lines */

        lineno = 0;

        for (line = text; line && *line && rc == 0; line = next) {
            next = strchr(line, '\n');

            if (next) {
                *next++ = '\0';
            }

            lineno++;

            if (strspn(line, " \t\r") == strlen(line)) {
                continue;
            }

            doc = json_loads(line, 0, &err);

            if (doc == NULL) {
                fprintf(stderr, "%s: import: line %zu: %s, skipped\n",
                        progname, lineno, err.text);
                (*skipped)++;
                continue;
            }

            why = import_record(b, doc, table, now);
            json_decref(doc);

            if (why) {
                fprintf(stderr, "%s: import: line %zu: %s, skipped\n",
                        progname, lineno, why);
                (*skipped)++;
            }

            if (b->n == max) {
                rc = import_flush(b, flush, data, loaded);
            }
        }
    }

    if (rc == 0 && b->n) {
        rc = import_flush(b, flush, data, loaded);
    }

    batch_clear(b);
    free(b);

    if (all) {
        json_decref(all);
    }

    free(text);

    return rc;
}


/* "loaded N, skipped M" and, on PostgreSQL, the fields left out */

void
import_summary(ctx_t *ctx, size_t loaded, size_t skipped, size_t not_utf8)
{
    if (ctx->json) {
        printf("{\"loaded\":%zu,\"skipped\":%zu", loaded, skipped);

        if (not_utf8) {
            printf(",\"fields_not_utf8\":%zu", not_utf8);
        }

        printf("}\n");
        return;
    }

    printf("loaded %zu, skipped %zu", loaded, skipped);

    if (not_utf8) {
        printf(", %zu field%s not UTF-8 left out", not_utf8,
               not_utf8 == 1 ? "" : "s");
    }

    putchar('\n');
}


typedef struct {
    qlm_store_t  *st;
    int           table;
} lmdb_import_t;


static int
lmdb_import_flush(const qlm_store_record_t *recs, size_t n, void *data)
{
    lmdb_import_t  *li;

    li = data;

    writer_pause();

    return qlm_store_mirror_upsert_batch(li->st, li->table, recs, n);
}


static int
cmd_import(qlm_store_t *st, ctx_t *ctx, int table, const char *file)
{
    int            rc;
    size_t         loaded, skipped;
    lmdb_import_t  li;

    li.st = st;
    li.table = table;

    rc = import_read(file, table, ctx->now, IMPORT_BATCH, lmdb_import_flush,
                     &li, &loaded, &skipped);
    if (rc == -1) {
        return 1;
    }

    import_summary(ctx, loaded, skipped, 0);

    if (rc != 0) {
        return fail("qlm_store_mirror_upsert_batch", rc);
    }

    return skipped ? 1 : 0;
}
