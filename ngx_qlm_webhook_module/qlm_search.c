
/*
 * qlm_search: the search language of scheduled tasks; see qlm_search.h.
 *
 * A search compiles to an array of nodes linked by index (the array grows
 * while parsing, so nothing holds a pointer into it), and a pool of bytes
 * for strings, numbers and compiled Like patterns.  And/Or are lists, not
 * chains, so evaluation recurses only as deep as parentheses and Not do.
 */


#include <stdlib.h>
#include <string.h>

#include "qlm_search.h"


#define QLM_SEARCH_KEYS_MAX   64      /* bits in qlm_search_s.fields */
#define QLM_SEARCH_TERM_MAX   999999999

/* years 1 to 9999, in seconds from the epoch */
#define QLM_SEARCH_T_MIN      (-62135596800LL)
#define QLM_SEARCH_T_MAX      253402300799LL
#define QLM_SEARCH_OFFSET_MAX (7 * 86400L)

/* three-valued logic */
#define QLM_F                 0
#define QLM_T                 1
#define QLM_U                 2

/* literal operands, beside the field types QLM_SEARCH_TEXT... */
#define QLM_LIT_STR           11
#define QLM_LIT_NUM           12
#define QLM_LIT_BOOL          13


enum {
    QLM_N_NONE = 0,
    QLM_N_OR,
    QLM_N_AND,
    QLM_N_NOT,
    QLM_N_CMP,
    QLM_N_LIKE,
    QLM_N_NULL,
    QLM_N_IN,
    QLM_N_BETWEEN,

    /* operands */
    QLM_N_FIELD,
    QLM_N_STR,
    QLM_N_NUM,
    QLM_N_BOOL,
    QLM_N_DATE,
    QLM_N_MACRO,
    QLM_N_TERM
};

enum { QLM_EQ = 1, QLM_NE, QLM_LT, QLM_LE, QLM_GT, QLM_GE };

enum {
    QLM_M_TODAY_START = 1,
    QLM_M_TODAY_END,
    QLM_M_YESTERDAY_START,
    QLM_M_YESTERDAY_END,
    QLM_M_THIS_MONTH_START,
    QLM_M_THIS_MONTH_END,
    QLM_M_LAST_MONTH_START,
    QLM_M_LAST_MONTH_END,
    QLM_M_DATE
};

enum { QLM_U_DAY = 1, QLM_U_HOUR, QLM_U_MIN, QLM_U_SEC, QLM_U_MONTH };

/* compiled Like patterns: one op byte, then its operands */
enum { QLM_P_ANY = 1, QLM_P_ONE, QLM_P_CHAR, QLM_P_CLASS };

/* tokens */
enum {
    QLM_TK_END = 1,
    QLM_TK_LPAREN,
    QLM_TK_RPAREN,
    QLM_TK_COMMA,
    QLM_TK_OP,
    QLM_TK_STRING,
    QLM_TK_NUMBER,
    QLM_TK_WORD,
    QLM_TK_BRACKET
};

enum {
    QLM_KW_NONE = 0,
    QLM_KW_AND,
    QLM_KW_OR,
    QLM_KW_NOT,
    QLM_KW_LIKE,
    QLM_KW_ESCAPE,
    QLM_KW_IS,
    QLM_KW_NULL,
    QLM_KW_IN,
    QLM_KW_BETWEEN,
    QLM_KW_TRUE,
    QLM_KW_FALSE
};


typedef struct {
    unsigned char     type;
    unsigned char     kind;   /* the type an operand compares as */
    unsigned char     op;     /* CMP: operator; MACRO: base; TERM: unit;
                                 BOOL: value */
    unsigned char     neg;    /* LIKE, NULL, IN, BETWEEN: Not */
    uint32_t          pos;    /* the token, for compile errors */
    uint32_t          len;
    uint32_t          next;   /* in an And/Or list, an In list, terms */
    uint32_t          a;      /* first child, subject; FIELD: key;
                                 STR, NUM: offset in strs */
    uint32_t          b;      /* CMP: right; IN: items; BETWEEN: low;
                                 LIKE: pattern offset; STR, NUM: length;
                                 MACRO: terms */
    uint32_t          c;      /* BETWEEN: high; LIKE: pattern length */
    int64_t           n;      /* DATE: seconds; TERM: signed amount */
} qlm_search_node_t;


struct qlm_search_s {
    qlm_search_node_t  *nodes;
    unsigned char      *strs;
    uint32_t            root;
    uint64_t            fields;     /* bit i: qlm_search_keys[i] is used */
};


typedef struct {
    const char         *name;
    size_t              len;
    unsigned char       type;
    unsigned char       tables;
} qlm_search_key_t;


typedef struct {
    const char         *name;
    size_t              len;
    const char         *canonical;
} qlm_search_alias_t;


typedef struct {
    const char         *name;
    size_t              len;
    int                 value;
} qlm_search_word_t;


typedef struct {
    const unsigned char  *text;
    size_t                len;
    size_t                cur;        /* where the next token starts */

    int                   tok;        /* the current token */
    int                   val;        /* its keyword or operator */
    size_t                tpos;
    size_t                tlen;

    unsigned              tables;
    unsigned              depth;
    uint64_t              fields;

    qlm_search_node_t    *nodes;
    size_t                nnodes;
    size_t                nalloc;
    unsigned char        *strs;
    size_t                nstrs;
    size_t                salloc;

    qlm_search_error_t   *err;
} qlm_search_parser_t;


typedef struct {
    int                   null;
    const unsigned char  *p;          /* TEXT, NUMBER */
    size_t                len;
    int64_t               n;          /* DATE: seconds; BOOLEAN: 0, 1 */
} qlm_search_val_t;


typedef struct {
    const qlm_search_t         *s;
    const qlm_search_clock_t   *clock;
    qlm_search_get_pt           get;
    void                       *record;
} qlm_search_ctx_t;


typedef struct {
    int                   neg;
    const unsigned char  *ip;         /* integer digits, no leading 0 */
    size_t                il;
    const unsigned char  *fp;         /* fraction digits, no trailing 0 */
    size_t                fl;
} qlm_search_dec_t;


#define QLM_K(name, type, tables)  { name, sizeof(name) - 1, type, tables }
#define QLM_W(name, value)         { name, sizeof(name) - 1, value }

#define S  QLM_SEARCH_TEXT
#define I  QLM_SEARCH_NUMBER
#define B  QLM_SEARCH_BOOLEAN
#define D  QLM_SEARCH_DATE
#define L  QLM_SEARCH_LICENSES
#define C  QLM_SEARCH_CUSTOMERS

/* LicenseInfo in QLM's order, then the rest of CustomerInfo */

static const qlm_search_key_t  qlm_search_keys[] = {
    QLM_K("LicenseUpdatedOnServer", B, L),
    QLM_K("ActivationKey", S, L),
    QLM_K("FullName", S, L|C),
    QLM_K("Country", S, L|C),
    QLM_K("AffiliateID", S, L),
    QLM_K("Email", S, L|C),
    QLM_K("Duration", I, L),
    QLM_K("ExpiryDate", D, L),
    QLM_K("UsesAdminEncryption", B, L),
    QLM_K("MaintenanceRenewalDate", D, L),
    QLM_K("Features", S, L),
    QLM_K("OrderID", S, L),
    QLM_K("ReceiptID", S, L),
    QLM_K("SubscriptionID", S, L),
    QLM_K("LicenseModel", I, L),
    QLM_K("ProductID", I, L),
    QLM_K("MajorVersion", I, L),
    QLM_K("MinorVersion", I, L),
    QLM_K("NumLicenses", I, L),
    QLM_K("FloatingSeats", I, L),
    QLM_K("UserData", S, L),
    QLM_K("NewFeatures", S, L),
    QLM_K("NewFloatingSeats", I, L),
    QLM_K("ComputerID", S, L),
    QLM_K("ComputerName", S, L),
    QLM_K("Comment", S, L|C),
    QLM_K("LegacyKey", S, L),
    QLM_K("AvailableLicenses", I, L),
    QLM_K("OrderDate", D, L),
    QLM_K("ProductProperties", S, L),
    QLM_K("BundleID", I, L),
    QLM_K("ProductName", S, L),
    QLM_K("MaxReleaseCount", I, L),
    QLM_K("MaxReleasePeriodInDays", I, L),
    QLM_K("OrganizationID", I, L),

    QLM_K("CustomerID", I, C),
    QLM_K("Company", S, C),
    QLM_K("Address1", S, C),
    QLM_K("Address2", S, C),
    QLM_K("City", S, C),
    QLM_K("State", S, C),
    QLM_K("Zip", S, C),
    QLM_K("Phone", S, C),
    QLM_K("Fax", S, C),
    QLM_K("ContactID", I, C)
};

#undef S
#undef I
#undef B
#undef D
#undef L
#undef C

#define QLM_SEARCH_NKEYS  (sizeof(qlm_search_keys) / sizeof(qlm_search_keys[0]))

typedef char  qlm_search_keys_fit[QLM_SEARCH_NKEYS <= QLM_SEARCH_KEYS_MAX
                                   ? 1 : -1];


/* QLM's column names, where they differ from LicenseInfo's keys */

static const qlm_search_alias_t  qlm_search_aliases[] = {
    { "SubscriptionExpiryDate", sizeof("SubscriptionExpiryDate") - 1,
      "ExpiryDate" },
    { "SubscriptionDuration", sizeof("SubscriptionDuration") - 1,
      "Duration" },
    { "Affiliate", sizeof("Affiliate") - 1, "AffiliateID" }
};


static const qlm_search_word_t  qlm_search_keywords[] = {
    QLM_W("and", QLM_KW_AND),
    QLM_W("or", QLM_KW_OR),
    QLM_W("not", QLM_KW_NOT),
    QLM_W("like", QLM_KW_LIKE),
    QLM_W("escape", QLM_KW_ESCAPE),
    QLM_W("is", QLM_KW_IS),
    QLM_W("null", QLM_KW_NULL),
    QLM_W("in", QLM_KW_IN),
    QLM_W("between", QLM_KW_BETWEEN),
    QLM_W("true", QLM_KW_TRUE),
    QLM_W("false", QLM_KW_FALSE),
    { NULL, 0, 0 }
};


static const qlm_search_word_t  qlm_search_macros[] = {
    QLM_W("today_start", QLM_M_TODAY_START),
    QLM_W("today_end", QLM_M_TODAY_END),
    QLM_W("yesterday_start", QLM_M_YESTERDAY_START),
    QLM_W("yesterday_end", QLM_M_YESTERDAY_END),
    QLM_W("this_month_start", QLM_M_THIS_MONTH_START),
    QLM_W("this_month_end", QLM_M_THIS_MONTH_END),
    QLM_W("last_month_start", QLM_M_LAST_MONTH_START),
    QLM_W("last_month_end", QLM_M_LAST_MONTH_END),
    QLM_W("date", QLM_M_DATE),
    { NULL, 0, 0 }
};


static int qlm_search_error(qlm_search_parser_t *p, size_t pos, size_t len,
    const char *msg);
static int qlm_search_next(qlm_search_parser_t *p);
static int qlm_search_parse_or(qlm_search_parser_t *p, uint32_t *out);
static int qlm_search_parse_and(qlm_search_parser_t *p, uint32_t *out);
static int qlm_search_parse_not(qlm_search_parser_t *p, uint32_t *out);
static int qlm_search_parse_predicate(qlm_search_parser_t *p,
    uint32_t *out);
static int qlm_search_parse_operand(qlm_search_parser_t *p, uint32_t *out);
static int qlm_search_parse_bracket(qlm_search_parser_t *p, uint32_t *out);
static int qlm_search_parse_like(qlm_search_parser_t *p, uint32_t node,
    uint32_t subject);
static int qlm_search_resolve(qlm_search_parser_t *p, uint32_t x,
    uint32_t y, unsigned char *kind);
static int qlm_search_class(qlm_search_parser_t *p, uint32_t pat, size_t i,
    size_t end);
static int qlm_search_node(qlm_search_parser_t *p, int type, uint32_t *out);
static int qlm_search_store(qlm_search_parser_t *p, const void *data,
    size_t len, uint32_t *off);
static int qlm_search_eval(const qlm_search_ctx_t *ctx, uint32_t i);
static int qlm_search_value(const qlm_search_ctx_t *ctx, uint32_t i,
    int kind, qlm_search_val_t *v);
static int qlm_search_compare(const qlm_search_val_t *x,
    const qlm_search_val_t *y, int kind);
static int qlm_search_like(const unsigned char *pat, size_t plen,
    const unsigned char *s, size_t slen);
static int qlm_search_macro(const qlm_search_t *s,
    const qlm_search_clock_t *clock, uint32_t i, int64_t *t);
static int qlm_search_decimal(const unsigned char *p, size_t len,
    qlm_search_dec_t *d);
static int qlm_search_dec_cmp(const qlm_search_dec_t *x,
    const qlm_search_dec_t *y);
static int qlm_search_date(const unsigned char *p, size_t len, int64_t *t);
static int qlm_search_bool(const unsigned char *p, size_t len, int64_t *b);
static size_t qlm_search_char(const unsigned char *p,
    const unsigned char *end, uint32_t *cp);
static int64_t qlm_search_days(int64_t y, int64_t m, int64_t d);
static void qlm_search_civil(int64_t days, int64_t *y, int64_t *m,
    int64_t *d);
static int64_t qlm_search_mdays(int64_t y, int64_t m);
static int64_t qlm_search_floor_div(int64_t a, int64_t b);
static int qlm_search_word(const qlm_search_word_t *w,
    const unsigned char *p, size_t len);
static int qlm_search_casecmp(const unsigned char *a, const char *b,
    size_t len);


static unsigned char
qlm_search_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char) (c | 0x20) : c;
}


static int
qlm_search_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


static int
qlm_search_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}


static int
qlm_search_is_alpha(unsigned char c)
{
    c = qlm_search_lower(c);
    return (c >= 'a' && c <= 'z') || c == '_';
}


/* compile */

int
qlm_search_compile(const char *text, size_t len, unsigned tables,
    qlm_search_t **out, qlm_search_error_t *err)
{
    uint32_t              root;
    qlm_search_t         *s;
    qlm_search_parser_t   p;

    *out = NULL;

    memset(&p, 0, sizeof(p));
    p.text = (const unsigned char *) text;
    p.len = len;
    p.tables = tables;
    p.err = err;

    err->pos = 0;
    err->len = 0;
    err->msg = NULL;

    if (len > QLM_SEARCH_MAX_LEN) {
        return qlm_search_error(&p, QLM_SEARCH_MAX_LEN, 0,
                                "search too long");
    }

    /* node 0 stands for "none"; the pool is never NULL */
    if (qlm_search_node(&p, QLM_N_NONE, &root) != 0
        || qlm_search_store(&p, "", 1, NULL) != 0)
    {
        goto failed;
    }

    if (qlm_search_next(&p) != 0) {
        goto failed;
    }

    if (p.tok == QLM_TK_END) {
        qlm_search_error(&p, p.tpos, 0, "empty search");
        goto failed;
    }

    if (qlm_search_parse_or(&p, &root) != 0) {
        goto failed;
    }

    if (p.tok != QLM_TK_END) {
        qlm_search_error(&p, p.tpos, p.tlen, "expected And, Or or the end");
        goto failed;
    }

    s = malloc(sizeof(qlm_search_t));
    if (s == NULL) {
        qlm_search_error(&p, 0, 0, "out of memory");
        goto failed;
    }

    s->nodes = p.nodes;
    s->strs = p.strs;
    s->root = root;
    s->fields = p.fields;

    *out = s;

    return 0;

failed:

    free(p.nodes);
    free(p.strs);

    return -1;
}


void
qlm_search_free(qlm_search_t *s)
{
    if (s == NULL) {
        return;
    }

    free(s->nodes);
    free(s->strs);
    free(s);
}


size_t
qlm_search_fields(const qlm_search_t *s, const char **names, size_t n)
{
    size_t  i, k;

    for (i = 0, k = 0; i < QLM_SEARCH_NKEYS; i++) {
        if (s->fields & ((uint64_t) 1 << i)) {
            if (k < n) {
                names[k] = qlm_search_keys[i].name;
            }

            k++;
        }
    }

    return k;
}


static int
qlm_search_key_index(const unsigned char *name, size_t len, unsigned tables)
{
    size_t  i;

    for (i = 0; i < sizeof(qlm_search_aliases) / sizeof(qlm_search_aliases[0]);
         i++)
    {
        if (qlm_search_aliases[i].len == len
            && qlm_search_casecmp(name, qlm_search_aliases[i].name, len) == 0)
        {
            name = (const unsigned char *) qlm_search_aliases[i].canonical;
            len = strlen(qlm_search_aliases[i].canonical);
            break;
        }
    }

    for (i = 0; i < QLM_SEARCH_NKEYS; i++) {
        if ((qlm_search_keys[i].tables & tables)
            && qlm_search_keys[i].len == len
            && qlm_search_casecmp(name, qlm_search_keys[i].name, len) == 0)
        {
            return (int) i;
        }
    }

    return -1;
}


const char *
qlm_search_key(const char *name, size_t len, unsigned tables, int *type)
{
    int  i;

    i = qlm_search_key_index((const unsigned char *) name, len, tables);
    if (i < 0) {
        return NULL;
    }

    if (type) {
        *type = qlm_search_keys[i].type;
    }

    return qlm_search_keys[i].name;
}


static int
qlm_search_error(qlm_search_parser_t *p, size_t pos, size_t len,
    const char *msg)
{
    /* the first error wins: callers only pass it up */
    if (p->err->msg == NULL) {
        p->err->pos = pos;
        p->err->len = len;
        p->err->msg = msg;
    }

    return -1;
}


static int
qlm_search_node(qlm_search_parser_t *p, int type, uint32_t *out)
{
    size_t              n;
    qlm_search_node_t  *nodes;

    if (p->nnodes == p->nalloc) {
        n = p->nalloc ? p->nalloc * 2 : 32;

        nodes = realloc(p->nodes, n * sizeof(qlm_search_node_t));
        if (nodes == NULL) {
            return qlm_search_error(p, 0, 0, "out of memory");
        }

        p->nodes = nodes;
        p->nalloc = n;
    }

    memset(&p->nodes[p->nnodes], 0, sizeof(qlm_search_node_t));
    p->nodes[p->nnodes].type = (unsigned char) type;
    p->nodes[p->nnodes].pos = (uint32_t) p->tpos;
    p->nodes[p->nnodes].len = (uint32_t) p->tlen;

    *out = (uint32_t) p->nnodes++;

    return 0;
}


static int
qlm_search_store(qlm_search_parser_t *p, const void *data, size_t len,
    uint32_t *off)
{
    size_t          n;
    unsigned char  *strs;

    if (p->salloc - p->nstrs < len) {
        n = p->salloc ? p->salloc : 256;

        while (n - p->nstrs < len) {
            n *= 2;
        }

        strs = realloc(p->strs, n);
        if (strs == NULL) {
            return qlm_search_error(p, 0, 0, "out of memory");
        }

        p->strs = strs;
        p->salloc = n;
    }

    if (off) {
        *off = (uint32_t) p->nstrs;
    }

    if (len) {
        memcpy(p->strs + p->nstrs, data, len);
        p->nstrs += len;
    }

    return 0;
}


/* the lexer */

static int
qlm_search_next(qlm_search_parser_t *p)
{
    size_t                i, start;
    unsigned char         c;
    const unsigned char  *t;

    t = p->text;
    i = p->cur;

    while (i < p->len && qlm_search_is_space(t[i])) {
        i++;
    }

    p->tpos = i;
    p->val = 0;

    if (i == p->len) {
        p->tok = QLM_TK_END;
        p->tlen = 0;
        p->cur = i;
        return 0;
    }

    start = i;
    c = t[i++];

    switch (c) {

    case '(':
        p->tok = QLM_TK_LPAREN;
        break;

    case ')':
        p->tok = QLM_TK_RPAREN;
        break;

    case ',':
        p->tok = QLM_TK_COMMA;
        break;

    case '=':
        p->tok = QLM_TK_OP;
        p->val = QLM_EQ;
        break;

    case '<':
        p->tok = QLM_TK_OP;
        p->val = QLM_LT;

        if (i < p->len && t[i] == '=') {
            p->val = QLM_LE;
            i++;

        } else if (i < p->len && t[i] == '>') {
            p->val = QLM_NE;
            i++;
        }

        break;

    case '>':
        p->tok = QLM_TK_OP;
        p->val = QLM_GT;

        if (i < p->len && t[i] == '=') {
            p->val = QLM_GE;
            i++;
        }

        break;

    case '!':
        if (i < p->len && t[i] == '=') {
            p->tok = QLM_TK_OP;
            p->val = QLM_NE;
            i++;
            break;
        }

        return qlm_search_error(p, start, 1, "unexpected character");

    case '\'':
        for ( ;; ) {
            if (i == p->len) {
                return qlm_search_error(p, start, 0, "unterminated string");
            }

            if (t[i++] == '\'') {
                if (i < p->len && t[i] == '\'') {
                    i++;
                    continue;
                }

                break;
            }
        }

        p->tok = QLM_TK_STRING;
        break;

    case '[':
        while (i < p->len && t[i] != ']') {
            i++;
        }

        if (i == p->len) {
            return qlm_search_error(p, start, 0, "unterminated [");
        }

        i++;
        p->tok = QLM_TK_BRACKET;
        break;

    default:

        if (qlm_search_is_digit(c)
            || ((c == '-' || c == '.') && i < p->len
                && qlm_search_is_digit(t[i]))
            || (c == '-' && i + 1 < p->len && t[i] == '.'
                && qlm_search_is_digit(t[i + 1])))
        {
            i = start + (c == '-');

            while (i < p->len && qlm_search_is_digit(t[i])) {
                i++;
            }

            if (i < p->len && t[i] == '.') {
                i++;

                while (i < p->len && qlm_search_is_digit(t[i])) {
                    i++;
                }
            }

            if (i < p->len
                && (qlm_search_is_alpha(t[i]) || qlm_search_is_digit(t[i])
                    || t[i] == '.'))
            {
                while (i < p->len
                       && (qlm_search_is_alpha(t[i])
                           || qlm_search_is_digit(t[i]) || t[i] == '.'))
                {
                    i++;
                }

                return qlm_search_error(p, start, i - start,
                                        "malformed number");
            }

            p->tok = QLM_TK_NUMBER;
            break;
        }

        if (qlm_search_is_alpha(c)) {
            while (i < p->len
                   && (qlm_search_is_alpha(t[i]) || qlm_search_is_digit(t[i])))
            {
                i++;
            }

            p->tok = QLM_TK_WORD;
            p->val = qlm_search_word(qlm_search_keywords, t + start,
                                     i - start);
            break;
        }

        return qlm_search_error(p, start, 1, "unexpected character");
    }

    p->tlen = i - start;
    p->cur = i;

    return 0;
}


static int
qlm_search_word(const qlm_search_word_t *w, const unsigned char *p,
    size_t len)
{
    for ( /* void */ ; w->name; w++) {
        if (w->len == len && qlm_search_casecmp(p, w->name, len) == 0) {
            return w->value;
        }
    }

    return 0;
}


static int
qlm_search_casecmp(const unsigned char *a, const char *b, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (qlm_search_lower(a[i]) != qlm_search_lower((unsigned char) b[i])) {
            return 1;
        }
    }

    return 0;
}


/* the parser */

static int
qlm_search_parse_list(qlm_search_parser_t *p, int kw, int type,
    uint32_t *out)
{
    int       rc;
    uint32_t  first, last, x, node;

    rc = (kw == QLM_KW_OR) ? qlm_search_parse_and(p, &first)
                           : qlm_search_parse_not(p, &first);
    if (rc != 0) {
        return -1;
    }

    if (p->tok != QLM_TK_WORD || p->val != kw) {
        *out = first;
        return 0;
    }

    if (qlm_search_node(p, type, &node) != 0) {
        return -1;
    }

    p->nodes[node].a = first;
    last = first;

    while (p->tok == QLM_TK_WORD && p->val == kw) {
        if (qlm_search_next(p) != 0) {
            return -1;
        }

        rc = (kw == QLM_KW_OR) ? qlm_search_parse_and(p, &x)
                               : qlm_search_parse_not(p, &x);
        if (rc != 0) {
            return -1;
        }

        p->nodes[last].next = x;
        last = x;
    }

    *out = node;

    return 0;
}


static int
qlm_search_parse_or(qlm_search_parser_t *p, uint32_t *out)
{
    return qlm_search_parse_list(p, QLM_KW_OR, QLM_N_OR, out);
}


static int
qlm_search_parse_and(qlm_search_parser_t *p, uint32_t *out)
{
    return qlm_search_parse_list(p, QLM_KW_AND, QLM_N_AND, out);
}


static int
qlm_search_parse_not(qlm_search_parser_t *p, uint32_t *out)
{
    int       rc;
    uint32_t  x, node;

    if (p->tok == QLM_TK_WORD && p->val == QLM_KW_NOT) {

        if (p->depth == QLM_SEARCH_MAX_DEPTH) {
            return qlm_search_error(p, p->tpos, 0, "nested too deep");
        }

        if (qlm_search_node(p, QLM_N_NOT, &node) != 0
            || qlm_search_next(p) != 0)
        {
            return -1;
        }

        p->depth++;
        rc = qlm_search_parse_not(p, &x);
        p->depth--;

        if (rc != 0) {
            return -1;
        }

        p->nodes[node].a = x;
        *out = node;

        return 0;
    }

    if (p->tok == QLM_TK_LPAREN) {

        if (p->depth == QLM_SEARCH_MAX_DEPTH) {
            return qlm_search_error(p, p->tpos, 0, "nested too deep");
        }

        if (qlm_search_next(p) != 0) {
            return -1;
        }

        p->depth++;
        rc = qlm_search_parse_or(p, out);
        p->depth--;

        if (rc != 0) {
            return -1;
        }

        if (p->tok != QLM_TK_RPAREN) {
            return qlm_search_error(p, p->tpos, p->tlen, "expected \")\"");
        }

        return qlm_search_next(p);
    }

    return qlm_search_parse_predicate(p, out);
}


static int
qlm_search_parse_predicate(qlm_search_parser_t *p, uint32_t *out)
{
    int            neg, type;
    uint32_t       x, y, node, last;
    unsigned char  kind;

    if (qlm_search_parse_operand(p, &x) != 0) {
        return -1;
    }

    if (p->tok == QLM_TK_OP) {
        if (qlm_search_node(p, QLM_N_CMP, &node) != 0) {
            return -1;
        }

        p->nodes[node].op = (unsigned char) p->val;

        if (qlm_search_next(p) != 0
            || qlm_search_parse_operand(p, &y) != 0
            || qlm_search_resolve(p, x, y, &kind) != 0)
        {
            return -1;
        }

        p->nodes[node].a = x;
        p->nodes[node].b = y;
        p->nodes[node].kind = kind;
        *out = node;

        return 0;
    }

    if (p->tok != QLM_TK_WORD) {
        return qlm_search_error(p, p->tpos, p->tlen, "expected an operator");
    }

    if (p->val == QLM_KW_IS) {
        if (qlm_search_node(p, QLM_N_NULL, &node) != 0
            || qlm_search_next(p) != 0)
        {
            return -1;
        }

        if (p->tok == QLM_TK_WORD && p->val == QLM_KW_NOT) {
            p->nodes[node].neg = 1;

            if (qlm_search_next(p) != 0) {
                return -1;
            }
        }

        if (p->tok != QLM_TK_WORD || p->val != QLM_KW_NULL) {
            return qlm_search_error(p, p->tpos, p->tlen, "expected Null");
        }

        p->nodes[node].a = x;
        *out = node;

        return qlm_search_next(p);
    }

    neg = 0;

    if (p->val == QLM_KW_NOT) {
        neg = 1;

        if (qlm_search_next(p) != 0) {
            return -1;
        }

        if (p->tok != QLM_TK_WORD
            || (p->val != QLM_KW_LIKE && p->val != QLM_KW_IN
                && p->val != QLM_KW_BETWEEN))
        {
            return qlm_search_error(p, p->tpos, p->tlen,
                                    "expected Like, In or Between");
        }
    }

    switch (p->val) {
    case QLM_KW_LIKE:
        type = QLM_N_LIKE;
        break;
    case QLM_KW_IN:
        type = QLM_N_IN;
        break;
    case QLM_KW_BETWEEN:
        type = QLM_N_BETWEEN;
        break;
    default:
        return qlm_search_error(p, p->tpos, p->tlen, "expected an operator");
    }

    if (qlm_search_node(p, type, &node) != 0 || qlm_search_next(p) != 0) {
        return -1;
    }

    p->nodes[node].neg = (unsigned char) neg;
    p->nodes[node].a = x;
    *out = node;

    if (type == QLM_N_LIKE) {
        return qlm_search_parse_like(p, node, x);
    }

    if (type == QLM_N_BETWEEN) {
        if (qlm_search_parse_operand(p, &y) != 0
            || qlm_search_resolve(p, x, y, &kind) != 0)
        {
            return -1;
        }

        p->nodes[y].kind = kind;
        p->nodes[node].b = y;

        if (p->tok != QLM_TK_WORD || p->val != QLM_KW_AND) {
            return qlm_search_error(p, p->tpos, p->tlen, "expected And");
        }

        if (qlm_search_next(p) != 0
            || qlm_search_parse_operand(p, &y) != 0
            || qlm_search_resolve(p, x, y, &kind) != 0)
        {
            return -1;
        }

        p->nodes[y].kind = kind;
        p->nodes[node].c = y;

        return 0;
    }

    /* In */

    if (p->tok != QLM_TK_LPAREN) {
        return qlm_search_error(p, p->tpos, p->tlen, "expected \"(\"");
    }

    last = 0;

    do {
        if (qlm_search_next(p) != 0
            || qlm_search_parse_operand(p, &y) != 0
            || qlm_search_resolve(p, x, y, &kind) != 0)
        {
            return -1;
        }

        p->nodes[y].kind = kind;

        if (last) {
            p->nodes[last].next = y;

        } else {
            p->nodes[node].b = y;
        }

        last = y;

    } while (p->tok == QLM_TK_COMMA);

    if (p->tok != QLM_TK_RPAREN) {
        return qlm_search_error(p, p->tpos, p->tlen, "expected \",\" or \")\"");
    }

    return qlm_search_next(p);
}


static int
qlm_search_parse_operand(qlm_search_parser_t *p, uint32_t *out)
{
    int                   k;
    size_t                i;
    uint32_t              node, off;
    unsigned char         c;
    const unsigned char  *t;

    t = p->text;

    switch (p->tok) {

    case QLM_TK_WORD:

        switch (p->val) {

        case QLM_KW_NONE:
            k = qlm_search_key_index(t + p->tpos, p->tlen, p->tables);
            if (k < 0) {
                return qlm_search_error(p, p->tpos, p->tlen,
                                        "unknown field");
            }

            if (qlm_search_node(p, QLM_N_FIELD, out) != 0) {
                return -1;
            }

            p->nodes[*out].a = (uint32_t) k;
            p->fields |= (uint64_t) 1 << k;
            break;

        case QLM_KW_TRUE:
        case QLM_KW_FALSE:
            if (qlm_search_node(p, QLM_N_BOOL, out) != 0) {
                return -1;
            }

            p->nodes[*out].op = (p->val == QLM_KW_TRUE);
            break;

        case QLM_KW_NULL:
            /* SQL's "= Null" is never true: say so at compile time */
            return qlm_search_error(p, p->tpos, 0,
                                    "Null only goes in Is Null or "
                                    "Is Not Null");

        default:
            return qlm_search_error(p, p->tpos, p->tlen, "expected a value");
        }

        break;

    case QLM_TK_STRING:
        if (qlm_search_node(p, QLM_N_STR, &node) != 0
            || qlm_search_store(p, NULL, 0, &off) != 0)
        {
            return -1;
        }

        /* unquote, '' is ' */
        for (i = p->tpos + 1; i < p->tpos + p->tlen - 1; i++) {
            c = t[i];

            if (c == '\'') {
                i++;
            }

            if (qlm_search_store(p, &c, 1, NULL) != 0) {
                return -1;
            }
        }

        p->nodes[node].a = off;
        p->nodes[node].b = (uint32_t) (p->nstrs - off);
        *out = node;
        break;

    case QLM_TK_NUMBER:
        if (qlm_search_node(p, QLM_N_NUM, &node) != 0
            || qlm_search_store(p, t + p->tpos, p->tlen, &off) != 0)
        {
            return -1;
        }

        p->nodes[node].a = off;
        p->nodes[node].b = (uint32_t) p->tlen;
        *out = node;
        break;

    case QLM_TK_BRACKET:
        if (qlm_search_parse_bracket(p, out) != 0) {
            return -1;
        }

        break;

    default:
        return qlm_search_error(p, p->tpos, p->tlen, "expected a value");
    }

    return qlm_search_next(p);
}


/* [macro +N unit ...] or a quoted field name, [ExpiryDate] */

static int
qlm_search_parse_bracket(qlm_search_parser_t *p, uint32_t *out)
{
    int                   m, k, unit;
    size_t                i, end, start, digits;
    int64_t               n;
    uint32_t              node, term, last;
    const unsigned char  *t;

    t = p->text;
    i = p->tpos + 1;
    end = p->tpos + p->tlen - 1;

    while (i < end && qlm_search_is_space(t[i])) {
        i++;
    }

    start = i;

    while (i < end && qlm_search_is_alpha(t[i])) {
        i++;
    }

    m = qlm_search_word(qlm_search_macros, t + start, i - start);

    if (m == 0) {
        while (i < end && (qlm_search_is_alpha(t[i])
                           || qlm_search_is_digit(t[i])))
        {
            i++;
        }

        k = qlm_search_key_index(t + start, i - start, p->tables);

        while (i < end && qlm_search_is_space(t[i])) {
            i++;
        }

        if (k < 0 || i != end) {
            return qlm_search_error(p, p->tpos, p->tlen, "unknown macro");
        }

        if (qlm_search_node(p, QLM_N_FIELD, out) != 0) {
            return -1;
        }

        p->nodes[*out].a = (uint32_t) k;
        p->fields |= (uint64_t) 1 << k;

        return 0;
    }

    if (qlm_search_node(p, QLM_N_MACRO, &node) != 0) {
        return -1;
    }

    p->nodes[node].op = (unsigned char) m;
    last = 0;

    for ( ;; ) {
        while (i < end && qlm_search_is_space(t[i])) {
            i++;
        }

        if (i == end) {
            break;
        }

        if (t[i] != '+' && t[i] != '-') {
            return qlm_search_error(p, i, 1, "expected + or - in the macro");
        }

        n = (t[i] == '-') ? -1 : 1;
        i++;

        while (i < end && qlm_search_is_space(t[i])) {
            i++;
        }

        start = i;
        digits = 0;

        while (i < end && qlm_search_is_digit(t[i])) {
            digits = digits * 10 + (t[i] - '0');
            i++;

            if (digits > QLM_SEARCH_TERM_MAX) {
                while (i < end && qlm_search_is_digit(t[i])) {
                    i++;
                }

                return qlm_search_error(p, start, i - start,
                                        "number too large in the macro");
            }
        }

        if (i == start) {
            return qlm_search_error(p, i, i < end, "expected a number in "
                                    "the macro");
        }

        while (i < end && qlm_search_is_space(t[i])) {
            i++;
        }

        unit = QLM_U_DAY;

        if (i < end && qlm_search_is_alpha(t[i])) {
            switch (t[i]) {
            case 'd': case 'D':
                unit = QLM_U_DAY;
                break;
            case 'h': case 'H':
                unit = QLM_U_HOUR;
                break;
            case 'm':
                unit = QLM_U_MIN;
                break;
            case 'M':
                unit = QLM_U_MONTH;
                break;
            case 's': case 'S':
                unit = QLM_U_SEC;
                break;
            default:
                unit = 0;
            }

            if (unit == 0
                || (i + 1 < end && (qlm_search_is_alpha(t[i + 1])
                                    || qlm_search_is_digit(t[i + 1]))))
            {
                start = i;

                while (i < end && (qlm_search_is_alpha(t[i])
                                   || qlm_search_is_digit(t[i])))
                {
                    i++;
                }

                return qlm_search_error(p, start, i - start,
                                        "expected a unit: d, h, m, s or M");
            }

            i++;
        }

        if (qlm_search_node(p, QLM_N_TERM, &term) != 0) {
            return -1;
        }

        p->nodes[term].op = (unsigned char) unit;
        p->nodes[term].n = n * (int64_t) digits;

        if (last) {
            p->nodes[last].next = term;

        } else {
            p->nodes[node].b = term;
        }

        last = term;
    }

    *out = node;

    return 0;
}


static int
qlm_search_parse_like(qlm_search_parser_t *p, uint32_t node,
    uint32_t subject)
{
    int                   type;
    size_t                i, n, plen;
    uint32_t              pat, esc, off, cp, hi;
    unsigned char         op, last;
    const unsigned char  *s, *end;

    type = p->nodes[subject].type;

    if (!(type == QLM_N_STR || type == QLM_N_NUM
          || (type == QLM_N_FIELD
              && (qlm_search_keys[p->nodes[subject].a].type == QLM_SEARCH_TEXT
                  || qlm_search_keys[p->nodes[subject].a].type
                     == QLM_SEARCH_NUMBER))))
    {
        return qlm_search_error(p, p->nodes[subject].pos,
                                p->nodes[subject].len,
                                "expected a text or number field before Like");
    }

    if (p->tok != QLM_TK_STRING) {
        return qlm_search_error(p, p->tpos, p->tlen,
                                "expected a pattern string");
    }

    if (qlm_search_parse_operand(p, &pat) != 0) {
        return -1;
    }

    esc = 0x110000;     /* no character */

    if (p->tok == QLM_TK_WORD && p->val == QLM_KW_ESCAPE) {
        if (qlm_search_next(p) != 0) {
            return -1;
        }

        if (p->tok != QLM_TK_STRING) {
            return qlm_search_error(p, p->tpos, p->tlen,
                                    "expected one character");
        }

        if (qlm_search_parse_operand(p, &off) != 0) {
            return -1;
        }

        s = p->strs + p->nodes[off].a;
        n = p->nodes[off].b;

        if (n == 0 || qlm_search_char(s, s + n, &esc) != n) {
            return qlm_search_error(p, p->nodes[off].pos, p->nodes[off].len,
                                    "expected one character");
        }
    }

    p->nodes[node].kind = QLM_SEARCH_TEXT;

    /* compile the pattern after the strings */

    plen = p->nodes[pat].b;

    if (qlm_search_store(p, NULL, 0, &off) != 0) {
        return -1;
    }

    p->nodes[node].b = off;
    last = 0;

    for (i = 0; i < plen; /* void */ ) {
        /* the pool may move as it grows */
        s = p->strs + p->nodes[pat].a;
        end = s + plen;

        i += qlm_search_char(s + i, end, &cp);

        if (cp == esc) {
            if (i == plen) {
                return qlm_search_error(p, p->nodes[pat].pos,
                                        p->nodes[pat].len,
                                        "Like pattern ends in its escape");
            }

            i += qlm_search_char(s + i, end, &cp);
            last = 0;
            goto literal;
        }

        if (cp == '%') {
            /* %% is % */
            if (last == QLM_P_ANY) {
                continue;
            }

            op = QLM_P_ANY;
            last = op;

            if (qlm_search_store(p, &op, 1, NULL) != 0) {
                return -1;
            }

            continue;
        }

        last = 0;

        if (cp == '_') {
            op = QLM_P_ONE;

            if (qlm_search_store(p, &op, 1, NULL) != 0) {
                return -1;
            }

            continue;
        }

        if (cp == '[') {
            n = i;

            while (n < plen && s[n] != ']') {
                n++;
            }

            if (n == plen) {
                return qlm_search_error(p, p->nodes[pat].pos,
                                        p->nodes[pat].len,
                                        "unterminated [ in the Like pattern");
            }

            if (n == i || (n == i + 1 && s[i] == '^')) {
                return qlm_search_error(p, p->nodes[pat].pos,
                                        p->nodes[pat].len,
                                        "empty [] in the Like pattern");
            }

            if (qlm_search_class(p, pat, i, n) != 0) {
                return -1;
            }

            /* the class is stored; skip to after its "]" */
            i = n + 1;
            continue;
        }

    literal:

        if (cp < 0x80) {
            cp = qlm_search_lower((unsigned char) cp);
        }

        op = QLM_P_CHAR;
        hi = cp;

        if (qlm_search_store(p, &op, 1, NULL) != 0
            || qlm_search_store(p, &hi, sizeof(uint32_t), NULL) != 0)
        {
            return -1;
        }
    }

    p->nodes[node].c = (uint32_t) (p->nstrs - off);

    return 0;
}


/*
 * A Like class: the body [i, end) of pattern node pat, between "[" and "]",
 * stored as QLM_P_CLASS, negated, a count, then count pairs of low and high
 * code points, as written (the match tries both cases).
 */

static int
qlm_search_class(qlm_search_parser_t *p, uint32_t pat, size_t i, size_t end)
{
    size_t                n;
    uint32_t              lo, hi, count, off;
    unsigned char         op[2];
    const unsigned char  *s, *last;

    op[0] = QLM_P_CLASS;
    op[1] = 0;

    if (p->strs[p->nodes[pat].a + i] == '^') {
        op[1] = 1;
        i++;
    }

    count = 0;

    if (qlm_search_store(p, op, 2, NULL) != 0
        || qlm_search_store(p, &count, sizeof(uint32_t), &off) != 0)
    {
        return -1;
    }

    for (n = i; n < end; /* void */ ) {
        /* the pool may move as it grows */
        s = p->strs + p->nodes[pat].a;
        last = s + end;

        n += qlm_search_char(s + n, last, &lo);
        hi = lo;

        /* a "-" between two characters is a range */
        if (n + 1 < end && s[n] == '-') {
            n++;
            n += qlm_search_char(s + n, last, &hi);
        }

        if (qlm_search_store(p, &lo, sizeof(uint32_t), NULL) != 0
            || qlm_search_store(p, &hi, sizeof(uint32_t), NULL) != 0)
        {
            return -1;
        }

        count++;
    }

    memcpy(p->strs + off, &count, sizeof(uint32_t));

    return 0;
}


/*
 * The type two operands compare as; a literal beside a typed operand is
 * converted to its type here, so that a bad date fails at compile time.
 */

static int
qlm_search_operand_type(qlm_search_parser_t *p, uint32_t i)
{
    switch (p->nodes[i].type) {
    case QLM_N_FIELD:
        return qlm_search_keys[p->nodes[i].a].type;
    case QLM_N_MACRO:
    case QLM_N_DATE:
        return QLM_SEARCH_DATE;
    case QLM_N_STR:
        return QLM_LIT_STR;
    case QLM_N_NUM:
        return QLM_LIT_NUM;
    default:
        return QLM_LIT_BOOL;
    }
}


static int
qlm_search_convert(qlm_search_parser_t *p, uint32_t i, int type)
{
    int64_t              v;
    qlm_search_dec_t     d;
    qlm_search_node_t   *n;
    const unsigned char  *s;

    n = &p->nodes[i];
    s = p->strs + n->a;

    switch (type) {

    case QLM_SEARCH_TEXT:
        return n->type == QLM_N_STR;

    case QLM_SEARCH_NUMBER:
        if (n->type == QLM_N_NUM) {
            return 1;
        }

        if (n->type == QLM_N_STR && qlm_search_decimal(s, n->b, &d) == 0) {
            n->type = QLM_N_NUM;
            return 1;
        }

        return 0;

    case QLM_SEARCH_DATE:
        if (n->type == QLM_N_STR && qlm_search_date(s, n->b, &v) == 0) {
            n->type = QLM_N_DATE;
            n->n = v;
            return 1;
        }

        return 0;

    default: /* QLM_SEARCH_BOOLEAN */
        if (n->type == QLM_N_BOOL) {
            return 1;
        }

        if ((n->type == QLM_N_STR || n->type == QLM_N_NUM)
            && qlm_search_bool(s, n->b, &v) == 0)
        {
            n->type = QLM_N_BOOL;
            n->op = (unsigned char) v;
            return 1;
        }

        return 0;
    }
}


static int
qlm_search_resolve(qlm_search_parser_t *p, uint32_t x, uint32_t y,
    unsigned char *kind)
{
    int          tx, ty, t;
    uint32_t     lit;
    const char  *msg;

    tx = qlm_search_operand_type(p, x);
    ty = qlm_search_operand_type(p, y);

    if (tx < QLM_LIT_STR && ty < QLM_LIT_STR) {
        /* two typed operands: fields, macros */
        if (tx == ty) {
            *kind = (unsigned char) tx;
            return 0;
        }

        if ((tx == QLM_SEARCH_TEXT && ty == QLM_SEARCH_NUMBER)
            || (tx == QLM_SEARCH_NUMBER && ty == QLM_SEARCH_TEXT))
        {
            *kind = QLM_SEARCH_NUMBER;
            return 0;
        }

        t = tx;
        lit = y;
        goto mismatch;
    }

    if (tx < QLM_LIT_STR || ty < QLM_LIT_STR) {
        /* a typed operand and a literal */
        if (tx < QLM_LIT_STR) {
            t = tx;
            lit = y;

        } else {
            t = ty;
            lit = x;
        }

        if (t == QLM_SEARCH_TEXT
            && qlm_search_operand_type(p, lit) == QLM_LIT_NUM)
        {
            *kind = QLM_SEARCH_NUMBER;
            return 0;
        }

        if (!qlm_search_convert(p, lit, t)) {
            goto mismatch;
        }

        *kind = (unsigned char) t;
        return 0;
    }

    /* two literals: "1 = 1" */

    if (tx == ty) {
        *kind = (unsigned char) (tx == QLM_LIT_STR ? QLM_SEARCH_TEXT
                                 : tx == QLM_LIT_NUM ? QLM_SEARCH_NUMBER
                                 : QLM_SEARCH_BOOLEAN);
        return 0;
    }

    t = (tx == QLM_LIT_BOOL || ty == QLM_LIT_BOOL) ? QLM_SEARCH_BOOLEAN
                                                   : QLM_SEARCH_NUMBER;

    lit = (tx == QLM_LIT_STR || (t == QLM_SEARCH_BOOLEAN
                                 && tx != QLM_LIT_BOOL)) ? x : y;

    if (qlm_search_convert(p, lit, t)) {
        *kind = (unsigned char) t;
        return 0;
    }

mismatch:

    switch (t) {
    case QLM_SEARCH_TEXT:
        msg = "expected a string or a number";
        break;
    case QLM_SEARCH_NUMBER:
        msg = "expected a number";
        break;
    case QLM_SEARCH_DATE:
        msg = "expected a date: a macro or a string like '2026-11-23' or "
              "'2026-11-23T10:00:00'";
        break;
    default:
        msg = "expected True, False, 1 or 0";
    }

    return qlm_search_error(p, p->nodes[lit].pos, p->nodes[lit].len, msg);
}


/* errors */

typedef struct {
    char    *buf;
    size_t   size;
    size_t   len;
} qlm_search_out_t;


static void
qlm_search_put(qlm_search_out_t *o, const char *s, size_t n)
{
    size_t  k;

    if (o->len < o->size) {
        k = o->size - o->len;
        k = (n < k) ? n : k;
        memcpy(o->buf + o->len, s, k);
    }

    o->len += n;
}


size_t
qlm_search_strerror(const char *text, size_t len,
    const qlm_search_error_t *err, char *buf, size_t size)
{
    int                   expected;
    char                  hex[8];
    size_t                i, n, col;
    unsigned char         c;
    const char           *msg;
    qlm_search_out_t      o;
    static const char     digits[] = "0123456789abcdef";

    o.buf = buf;
    o.size = size ? size - 1 : 0;
    o.len = 0;

    msg = err->msg ? err->msg : "no error";

    qlm_search_put(&o, msg, strlen(msg));

    /* "expected X, found Y"; otherwise "unknown field Y" */
    expected = (strncmp(msg, "expected", 8) == 0);

    if (err->len && err->pos < len && err->len <= len - err->pos) {
        qlm_search_put(&o, expected ? ", found \"" : " \"",
                       expected ? 9 : 2);

        n = err->len > 40 ? 40 : err->len;

        for (i = 0; i < n; i++) {
            c = (unsigned char) text[err->pos + i];

            if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
                hex[0] = '\\';
                hex[1] = 'x';
                hex[2] = digits[c >> 4];
                hex[3] = digits[c & 0xf];
                qlm_search_put(&o, hex, 4);

            } else {
                qlm_search_put(&o, (const char *) &c, 1);
            }
        }

        if (n < err->len) {
            qlm_search_put(&o, "...", 3);
        }

        qlm_search_put(&o, "\"", 1);

    } else if (expected && err->pos >= len) {
        qlm_search_put(&o, ", found the end", 15);
    }

    qlm_search_put(&o, " at column ", 11);

    /* the column in decimal */
    col = err->pos + 1;
    n = 0;

    do {
        hex[7 - n++] = digits[col % 10];
        col /= 10;
    } while (col && n < 8);

    qlm_search_put(&o, hex + 8 - n, n);

    if (size) {
        buf[o.len < o.size ? o.len : o.size] = '\0';
    }

    return o.len;
}


/* match */

int
qlm_search_match(const qlm_search_t *s, const qlm_search_clock_t *clock,
    qlm_search_get_pt get, void *record)
{
    int               rc;
    qlm_search_ctx_t  ctx;

    ctx.s = s;
    ctx.clock = clock;
    ctx.get = get;
    ctx.record = record;

    rc = qlm_search_eval(&ctx, s->root);

    return rc < 0 ? -1 : rc == QLM_T;
}


static int
qlm_search_not(int v)
{
    return v == QLM_U ? QLM_U : !v;
}


static int
qlm_search_test(int op, int c)
{
    switch (op) {
    case QLM_EQ:
        return c == 0;
    case QLM_NE:
        return c != 0;
    case QLM_LT:
        return c < 0;
    case QLM_LE:
        return c <= 0;
    case QLM_GT:
        return c > 0;
    default: /* QLM_GE */
        return c >= 0;
    }
}


/* the operand x, op, operand y, compared as y's kind: T, F or U */

static int
qlm_search_cmp(const qlm_search_ctx_t *ctx, uint32_t x, uint32_t y,
    int kind, int op)
{
    qlm_search_val_t  vx, vy;

    if (qlm_search_value(ctx, x, kind, &vx) != 0
        || qlm_search_value(ctx, y, kind, &vy) != 0)
    {
        return -1;
    }

    if (vx.null || vy.null) {
        return QLM_U;
    }

    return qlm_search_test(op, qlm_search_compare(&vx, &vy, kind));
}


static int
qlm_search_eval(const qlm_search_ctx_t *ctx, uint32_t i)
{
    int                       r, v, kind;
    uint32_t                  k;
    qlm_search_val_t          x;
    const qlm_search_node_t  *n, *nodes;

    nodes = ctx->s->nodes;
    n = &nodes[i];

    switch (n->type) {

    case QLM_N_OR:
    case QLM_N_AND:
        r = (n->type == QLM_N_OR) ? QLM_F : QLM_T;

        for (k = n->a; k; k = nodes[k].next) {
            v = qlm_search_eval(ctx, k);

            if (v < 0) {
                return -1;
            }

            if (v == QLM_U) {
                r = QLM_U;

            } else if (v == (n->type == QLM_N_OR ? QLM_T : QLM_F)) {
                return v;
            }
        }

        return r;

    case QLM_N_NOT:
        v = qlm_search_eval(ctx, n->a);
        return v < 0 ? -1 : qlm_search_not(v);

    case QLM_N_CMP:
        return qlm_search_cmp(ctx, n->a, n->b, n->kind, n->op);

    case QLM_N_LIKE:
        if (qlm_search_value(ctx, n->a, QLM_SEARCH_TEXT, &x) != 0) {
            return -1;
        }

        if (x.null) {
            return QLM_U;
        }

        v = qlm_search_like(ctx->s->strs + n->b, n->c, x.p, x.len);

        return n->neg ? !v : v;

    case QLM_N_NULL:
        kind = QLM_SEARCH_TEXT;

        if (nodes[n->a].type == QLM_N_FIELD) {
            kind = qlm_search_keys[nodes[n->a].a].type;

        } else if (nodes[n->a].type == QLM_N_MACRO) {
            kind = QLM_SEARCH_DATE;
        }

        if (qlm_search_value(ctx, n->a, kind, &x) != 0) {
            return -1;
        }

        return x.null ^ n->neg;

    case QLM_N_IN:
        r = QLM_F;

        for (k = n->b; k; k = nodes[k].next) {
            v = qlm_search_cmp(ctx, n->a, k, nodes[k].kind, QLM_EQ);

            if (v < 0) {
                return -1;
            }

            if (v == QLM_T) {
                r = QLM_T;
                break;
            }

            if (v == QLM_U) {
                r = QLM_U;
            }
        }

        return n->neg ? qlm_search_not(r) : r;

    case QLM_N_BETWEEN:
        r = qlm_search_cmp(ctx, n->a, n->b, nodes[n->b].kind, QLM_GE);
        if (r < 0) {
            return -1;
        }

        if (r != QLM_F) {
            v = qlm_search_cmp(ctx, n->a, n->c, nodes[n->c].kind, QLM_LE);
            if (v < 0) {
                return -1;
            }

            if (v != QLM_T) {
                r = v;
            }
        }

        return n->neg ? qlm_search_not(r) : r;

    default:
        /* unreachable: the root is a predicate or a list */
        return QLM_U;
    }
}


/* an operand's value as kind: absent or unreadable is NULL */

static int
qlm_search_value(const qlm_search_ctx_t *ctx, uint32_t i, int kind,
    qlm_search_val_t *v)
{
    int                       rc;
    qlm_search_dec_t          d;
    qlm_search_str_t          text;
    const qlm_search_key_t   *key;
    const qlm_search_node_t  *n;

    n = &ctx->s->nodes[i];

    v->null = 0;
    v->p = (const unsigned char *) "";
    v->len = 0;
    v->n = 0;

    switch (n->type) {

    case QLM_N_FIELD:
        key = &qlm_search_keys[n->a];

        text.data = NULL;
        text.len = 0;

        rc = ctx->get(ctx->record, key->name, key->len, &text);

        if (rc < 0) {
            return -1;
        }

        if (rc > 0 || (text.data == NULL && text.len)) {
            v->null = 1;
            return 0;
        }

        v->p = (const unsigned char *) (text.data ? text.data : "");
        v->len = text.len;

        switch (kind) {
        case QLM_SEARCH_NUMBER:
            v->null = (qlm_search_decimal(v->p, v->len, &d) != 0);
            break;
        case QLM_SEARCH_DATE:
            v->null = (qlm_search_date(v->p, v->len, &v->n) != 0);
            break;
        case QLM_SEARCH_BOOLEAN:
            v->null = (qlm_search_bool(v->p, v->len, &v->n) != 0);
            break;
        default:
            break;
        }

        return 0;

    case QLM_N_STR:
    case QLM_N_NUM:
        v->p = ctx->s->strs + n->a;
        v->len = n->b;
        return 0;

    case QLM_N_BOOL:
        v->n = n->op;
        return 0;

    case QLM_N_DATE:
        v->n = n->n;
        return 0;

    default: /* QLM_N_MACRO */
        v->null = (qlm_search_macro(ctx->s, ctx->clock, i, &v->n) != 0);
        return 0;
    }
}


static size_t
qlm_search_trim_end(const unsigned char *p, size_t len)
{
    while (len && p[len - 1] == ' ') {
        len--;
    }

    return len;
}


static int
qlm_search_compare(const qlm_search_val_t *x, const qlm_search_val_t *y,
    int kind)
{
    size_t            i, xl, yl;
    unsigned char     a, b;
    qlm_search_dec_t  dx, dy;

    switch (kind) {

    case QLM_SEARCH_TEXT:
        /* SQL Server's default collation: no case, no trailing spaces */
        xl = qlm_search_trim_end(x->p, x->len);
        yl = qlm_search_trim_end(y->p, y->len);

        for (i = 0; i < xl && i < yl; i++) {
            a = qlm_search_lower(x->p[i]);
            b = qlm_search_lower(y->p[i]);

            if (a != b) {
                return a < b ? -1 : 1;
            }
        }

        return (xl > yl) - (xl < yl);

    case QLM_SEARCH_NUMBER:
        /* both were checked: at compile time or when read */
        if (qlm_search_decimal(x->p, x->len, &dx) != 0
            || qlm_search_decimal(y->p, y->len, &dy) != 0)
        {
            return 0;
        }

        return qlm_search_dec_cmp(&dx, &dy);

    default:
        return (x->n > y->n) - (x->n < y->n);
    }
}


/* Like */

static uint32_t
qlm_search_fold(uint32_t cp)
{
    return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
}


/* one pattern item at pat against the character cp: 1 matches */

static int
qlm_search_like_one(const unsigned char *pat, uint32_t cp, size_t *size)
{
    int       in;
    uint32_t  n, k, lo, hi, up;

    switch (pat[0]) {

    case QLM_P_ONE:
        *size = 1;
        return 1;

    case QLM_P_CHAR:
        memcpy(&lo, pat + 1, sizeof(uint32_t));
        *size = 1 + sizeof(uint32_t);
        return qlm_search_fold(cp) == lo;

    default: /* QLM_P_CLASS */
        memcpy(&n, pat + 2, sizeof(uint32_t));
        *size = 2 + sizeof(uint32_t) + n * 2 * sizeof(uint32_t);

        /* the character in either case may be in a range */
        up = (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
        cp = qlm_search_fold(cp);
        in = 0;

        for (k = 0; k < n; k++) {
            memcpy(&lo, pat + 6 + k * 8, sizeof(uint32_t));
            memcpy(&hi, pat + 6 + k * 8 + 4, sizeof(uint32_t));

            if ((cp >= lo && cp <= hi) || (up >= lo && up <= hi)) {
                in = 1;
                break;
            }
        }

        return in != pat[1];
    }
}


/*
 * Every item but % takes one character, so a mismatch only needs to go
 * back to the last %: O(pattern * subject), no exponential backtracking.
 */

static int
qlm_search_like(const unsigned char *pat, size_t plen,
    const unsigned char *s, size_t slen)
{
    size_t                 pi, si, star_p, star_s, size, cl;
    uint32_t               cp;
    int                    star;
    const unsigned char   *end;

    end = s + slen;
    pi = 0;
    si = 0;
    star = 0;
    star_p = 0;
    star_s = 0;

    while (si < slen) {

        if (pi < plen && pat[pi] == QLM_P_ANY) {
            star = 1;
            star_p = ++pi;
            star_s = si;
            continue;
        }

        cl = qlm_search_char(s + si, end, &cp);

        if (pi < plen && qlm_search_like_one(pat + pi, cp, &size)) {
            pi += size;
            si += cl;
            continue;
        }

        if (!star) {
            return 0;
        }

        /* let the last % take one more character */
        star_s += qlm_search_char(s + star_s, end, &cp);
        pi = star_p;
        si = star_s;
    }

    while (pi < plen && pat[pi] == QLM_P_ANY) {
        pi++;
    }

    return pi == plen;
}


/* one UTF-8 character: its length; a bad byte is a character of its own */

static size_t
qlm_search_char(const unsigned char *p, const unsigned char *end,
    uint32_t *cp)
{
    size_t    n, i;
    uint32_t  v;

    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 1;
        v = p[0] & 0x1f;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 2;
        v = p[0] & 0x0f;

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 3;
        v = p[0] & 0x07;

    } else {
        goto bad;
    }

    if ((size_t) (end - p) <= n) {
        goto bad;
    }

    for (i = 1; i <= n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            goto bad;
        }

        v = (v << 6) | (p[i] & 0x3f);
    }

    *cp = v;
    return n + 1;

bad:

    /* above every code point, so it equals only the same bad byte */
    *cp = 0x110000 + p[0];
    return 1;
}


/* dates and times: seconds since the epoch of a local wall clock */

static int64_t
qlm_search_floor_div(int64_t a, int64_t b)
{
    int64_t  q;

    q = a / b;

    if ((a % b) != 0 && ((a < 0) != (b < 0))) {
        q--;
    }

    return q;
}


/* days since 1970-01-01 of a proleptic Gregorian date */

static int64_t
qlm_search_days(int64_t y, int64_t m, int64_t d)
{
    int64_t  era, yoe, doy, doe;

    /* a year that starts in March puts Feb 29 at its end */
    if (m <= 2) {
        y--;
    }

    era = qlm_search_floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static void
qlm_search_civil(int64_t days, int64_t *y, int64_t *m, int64_t *d)
{
    int64_t  era, doe, yoe, doy, mp;

    days += 719468;
    era = qlm_search_floor_div(days, 146097);
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}


static int64_t
qlm_search_mdays(int64_t y, int64_t m)
{
    static const unsigned char  mdays[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
        return 29;
    }

    return mdays[m - 1];
}


static int
qlm_search_in_range(int64_t t)
{
    return t >= QLM_SEARCH_T_MIN && t <= QLM_SEARCH_T_MAX;
}


/* t plus k calendar months, the day clamped to the month's last */

static int
qlm_search_add_months(int64_t *t, int64_t k)
{
    int64_t  days, secs, y, m, d, total;

    days = qlm_search_floor_div(*t, 86400);
    secs = *t - days * 86400;

    qlm_search_civil(days, &y, &m, &d);

    total = y * 12 + (m - 1) + k;
    y = qlm_search_floor_div(total, 12);
    m = total - y * 12 + 1;

    if (y < 1 || y > 9999) {
        return -1;
    }

    if (d > qlm_search_mdays(y, m)) {
        d = qlm_search_mdays(y, m);
    }

    *t = qlm_search_days(y, m, d) * 86400 + secs;

    return 0;
}


static int
qlm_search_macro(const qlm_search_t *s, const qlm_search_clock_t *clock,
    uint32_t i, int64_t *out)
{
    int64_t                   local, day, t, y, m, d, k;
    uint32_t                  j;
    const qlm_search_node_t  *n, *term;

    if (clock == NULL
        || !qlm_search_in_range(clock->now)
        || !qlm_search_in_range(clock->last_run)
        || clock->utc_offset > QLM_SEARCH_OFFSET_MAX
        || clock->utc_offset < -QLM_SEARCH_OFFSET_MAX)
    {
        return -1;
    }

    n = &s->nodes[i];

    local = clock->now + clock->utc_offset;
    day = qlm_search_floor_div(local, 86400);

    qlm_search_civil(day, &y, &m, &d);

    switch (n->op) {

    case QLM_M_TODAY_START:
        t = day * 86400;
        break;

    case QLM_M_TODAY_END:
        t = day * 86400 + 86399;
        break;

    case QLM_M_YESTERDAY_START:
        t = (day - 1) * 86400;
        break;

    case QLM_M_YESTERDAY_END:
        t = day * 86400 - 1;
        break;

    case QLM_M_THIS_MONTH_START:
        t = qlm_search_days(y, m, 1) * 86400;
        break;

    case QLM_M_THIS_MONTH_END:
        t = (qlm_search_days(y, m, 1) + qlm_search_mdays(y, m)) * 86400 - 1;
        break;

    case QLM_M_LAST_MONTH_START:
        t = qlm_search_days(m == 1 ? y - 1 : y, m == 1 ? 12 : m - 1, 1)
            * 86400;
        break;

    case QLM_M_LAST_MONTH_END:
        t = qlm_search_days(y, m, 1) * 86400 - 1;
        break;

    default: /* QLM_M_DATE */
        t = (clock->last_run ? clock->last_run : clock->now)
            + clock->utc_offset;
    }

    for (j = n->b; j; j = term->next) {
        term = &s->nodes[j];

        if (!qlm_search_in_range(t)) {
            return -1;
        }

        /* |k| <= 999999999 and t in range: no overflow */
        k = term->n;

        switch (term->op) {
        case QLM_U_DAY:
            t += k * 86400;
            break;
        case QLM_U_HOUR:
            t += k * 3600;
            break;
        case QLM_U_MIN:
            t += k * 60;
            break;
        case QLM_U_SEC:
            t += k;
            break;
        default: /* QLM_U_MONTH */
            if (qlm_search_add_months(&t, k) != 0) {
                return -1;
            }
        }
    }

    if (!qlm_search_in_range(t)) {
        return -1;
    }

    *out = t;

    return 0;
}


/* reading values */

static size_t
qlm_search_digits(const unsigned char *p, size_t len, size_t i, size_t max,
    int64_t *v)
{
    size_t  k;

    *v = 0;

    for (k = 0; i + k < len && k < max && qlm_search_is_digit(p[i + k]);
         k++)
    {
        *v = *v * 10 + (p[i + k] - '0');
    }

    return k;
}


/*
 * yyyy-MM-dd[(T| )HH:mm[:ss[.fff]][Z|(+|-)HH[:][mm]]], or QLM's US form
 * M/d/yyyy[ h:mm[:ss[.fff]][ AM| PM]], spaces around; a zone is ignored
 */

static int
qlm_search_date(const unsigned char *p, size_t len, int64_t *t)
{
    int      us;
    size_t   i, k;
    int64_t  y, mo, d, h, mi, s, v;

    while (len && qlm_search_is_space(p[len - 1])) {
        len--;
    }

    for (i = 0; i < len && qlm_search_is_space(p[i]); i++) {
        /* void */
    }

    k = qlm_search_digits(p, len, i, 4, &v);

    if (k == 4 && i + k < len && p[i + k] == '-') {
        us = 0;
        y = v;
        i += k + 1;

        k = qlm_search_digits(p, len, i, 2, &mo);
        if (k == 0 || i + k >= len || p[i + k] != '-') {
            return -1;
        }

        i += k + 1;

        k = qlm_search_digits(p, len, i, 2, &d);
        if (k == 0) {
            return -1;
        }

        i += k;

    } else if (k >= 1 && k <= 2 && i + k < len && p[i + k] == '/') {
        us = 1;
        mo = v;
        i += k + 1;

        k = qlm_search_digits(p, len, i, 2, &d);
        if (k == 0 || i + k >= len || p[i + k] != '/') {
            return -1;
        }

        i += k + 1;

        k = qlm_search_digits(p, len, i, 4, &y);
        if (k != 4) {
            return -1;
        }

        i += k;

    } else {
        return -1;
    }

    h = 0;
    mi = 0;
    s = 0;

    if (i < len) {
        if (!((p[i] == 'T' && !us) || p[i] == ' ')) {
            return -1;
        }

        while (++i < len && p[i] == ' ') { /* void */ }

        k = qlm_search_digits(p, len, i, 2, &h);
        if (k == 0 || i + k >= len || p[i + k] != ':') {
            return -1;
        }

        i += k + 1;

        k = qlm_search_digits(p, len, i, 2, &mi);
        if (k != 2) {
            return -1;
        }

        i += k;

        if (i < len && p[i] == ':') {
            k = qlm_search_digits(p, len, ++i, 2, &s);
            if (k != 2) {
                return -1;
            }

            i += k;

            if (i < len && p[i] == '.') {
                k = qlm_search_digits(p, len, ++i, 9, &v);
                if (k == 0) {
                    return -1;
                }

                i += k;
            }
        }

        if (us) {
            while (i < len && p[i] == ' ') {
                i++;
            }

            if (i + 2 == len
                && (p[i + 1] == 'M' || p[i + 1] == 'm'))
            {
                if (h < 1 || h > 12) {
                    return -1;
                }

                if (p[i] == 'A' || p[i] == 'a') {
                    h = (h == 12) ? 0 : h;

                } else if (p[i] == 'P' || p[i] == 'p') {
                    h = (h == 12) ? 12 : h + 12;

                } else {
                    return -1;
                }

                i = len;
            }

        } else if (i < len) {
            /* a zone: the dates are local times, as in the payloads */
            if (p[i] == 'Z' && i + 1 == len) {
                i = len;

            } else if (p[i] == '+' || p[i] == '-') {
                k = qlm_search_digits(p, len, ++i, 2, &v);
                if (k != 2) {
                    return -1;
                }

                i += k;

                if (i < len && p[i] == ':') {
                    i++;
                }

                if (i < len) {
                    k = qlm_search_digits(p, len, i, 2, &v);
                    if (k != 2) {
                        return -1;
                    }

                    i += k;
                }
            }
        }

        if (i != len) {
            return -1;
        }
    }

    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > qlm_search_mdays(y, mo)
        || h > 23 || mi > 59 || s > 59)
    {
        return -1;
    }

    *t = qlm_search_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;

    return 0;
}


static int
qlm_search_bool(const unsigned char *p, size_t len, int64_t *b)
{
    while (len && qlm_search_is_space(p[len - 1])) {
        len--;
    }

    while (len && qlm_search_is_space(p[0])) {
        p++;
        len--;
    }

    if ((len == 4 && qlm_search_casecmp(p, "true", 4) == 0)
        || (len == 1 && p[0] == '1'))
    {
        *b = 1;
        return 0;
    }

    if ((len == 5 && qlm_search_casecmp(p, "false", 5) == 0)
        || (len == 1 && p[0] == '0'))
    {
        *b = 0;
        return 0;
    }

    return -1;
}


/* [spaces][+|-]digits[.digits] or [+|-].digits[spaces], exactly */

static int
qlm_search_decimal(const unsigned char *p, size_t len, qlm_search_dec_t *d)
{
    size_t  i;

    while (len && qlm_search_is_space(p[len - 1])) {
        len--;
    }

    for (i = 0; i < len && qlm_search_is_space(p[i]); i++) {
        /* void */
    }

    d->neg = 0;

    if (i < len && (p[i] == '-' || p[i] == '+')) {
        d->neg = (p[i] == '-');
        i++;
    }

    d->ip = p + i;

    while (i < len && qlm_search_is_digit(p[i])) {
        i++;
    }

    d->il = (size_t) (p + i - d->ip);
    d->fp = p + i;
    d->fl = 0;

    if (i < len && p[i] == '.') {
        d->fp = p + ++i;

        while (i < len && qlm_search_is_digit(p[i])) {
            i++;
        }

        d->fl = (size_t) (p + i - d->fp);
    }

    if (i != len || d->il + d->fl == 0) {
        return -1;
    }

    while (d->il && d->ip[0] == '0') {
        d->ip++;
        d->il--;
    }

    while (d->fl && d->fp[d->fl - 1] == '0') {
        d->fl--;
    }

    if (d->il == 0 && d->fl == 0) {
        d->neg = 0;
    }

    return 0;
}


static int
qlm_search_dec_cmp(const qlm_search_dec_t *x, const qlm_search_dec_t *y)
{
    int     c;
    size_t  n;

    if (x->neg != y->neg) {
        return x->neg ? -1 : 1;
    }

    if (x->il != y->il) {
        c = (x->il > y->il) ? 1 : -1;

    } else {
        c = (x->il == 0) ? 0 : memcmp(x->ip, y->ip, x->il);

        if (c == 0) {
            n = x->fl < y->fl ? x->fl : y->fl;
            c = (n == 0) ? 0 : memcmp(x->fp, y->fp, n);

            if (c == 0) {
                c = (x->fl > y->fl) - (x->fl < y->fl);
            }
        }

        c = (c > 0) - (c < 0);
    }

    return x->neg ? -c : c;
}
