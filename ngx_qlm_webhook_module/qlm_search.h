
/*
 * qlm_search: the search language of scheduled tasks, as in QLM Enterprise.
 *
 * A plain C library: no nginx headers, no global state, no clock reads (the
 * time of the run and the task's previous run are passed in), no output.
 * A compiled search is immutable: one may be matched from several threads.
 *
 *
 * THE LANGUAGE
 *
 *   search     := or
 *   or         := and { Or and }
 *   and        := not { And not }
 *   not        := Not not | "(" or ")" | predicate
 *   predicate  := operand cmp operand
 *               | operand [Not] Like 'pattern' [Escape 'c']
 *               | operand Is [Not] Null
 *               | operand [Not] In "(" operand { "," operand } ")"
 *               | operand [Not] Between operand And operand
 *   cmp        := "=" | "<>" | "!=" | "<" | "<=" | ">" | ">="
 *   operand    := field | [field] | 'string' | number | True | False | macro
 *
 * Keywords (And, Or, Not, Like, Escape, Is, Null, In, Between, True, False)
 * and field names are case-insensitive; Not binds tighter than And, And
 * tighter than Or.  Spaces, tabs, CR and LF separate tokens.
 *
 * Strings are in single quotes, '' is a quote inside one.  Numbers are
 * decimal, with an optional leading "-" and fraction: 5, -2, 1.25, .5;
 * they compare exactly, as decimals (no floating point).  Null is only
 * valid in Is [Not] Null: "X = Null" is a compile error, as it is never
 * true in SQL.
 *
 * Fields.  QLM's LicenseInfo keys, CustomerInfo keys, or both, as the
 * caller selects (QLM_SEARCH_LICENSES, QLM_SEARCH_CUSTOMERS).  A name may be
 * in brackets, as SQL Server allows: [ExpiryDate].  Aliases (QLM's column
 * names): SubscriptionExpiryDate -> ExpiryDate, SubscriptionDuration ->
 * Duration, Affiliate -> AffiliateID.  The record callback always gets the
 * canonical PascalCase name.  An unknown name is a compile error.
 *
 * Types.  Every field has a type, and a comparison takes the type of its
 * field (see qlm_search_key() and the table in qlm_search.c):
 *
 *   date      ExpiryDate, MaintenanceRenewalDate, OrderDate: compare with a
 *             macro, another date field or a string holding a date:
 *             '2026-11-23', '2026-11-23T10:00:00', '2026-11-23 10:00',
 *             or QLM's US form '11/23/2026 [10:00[:00] [AM|PM]]'.  A date
 *             alone is midnight.  Anything else is a compile error.
 *   number    Duration, LicenseModel, ProductID, ... compare with numbers
 *             or strings holding a number ('5').
 *   boolean   LicenseUpdatedOnServer, UsesAdminEncryption: True, False, 1,
 *             0, 'true', 'false', '1', '0'.  False sorts before True.
 *   text      the rest.  Compared with strings as SQL Server's default
 *             collation does: case-insensitive (ASCII letters; other bytes
 *             as they are), trailing spaces ignored.  Compared with a
 *             number, a text field's value is read as a number.
 *
 * Like works on text and number fields (on the value's text): % any run
 * of characters, _ one character (UTF-8 aware), [abc], [a-f] one of,
 * [^abc] none of; Escape 'c' makes c quote the next pattern character
 * ([%] does too, as in SQL Server).  Case-insensitive like "="; unlike
 * "=", every character counts, trailing spaces included.
 *
 * Record values are text; a value that its field's type cannot read (an
 * empty date, "abc" in a number field) is NULL, like an absent field.
 * Record dates are read as the forms above, seconds fractions dropped,
 * a zone suffix (Z, +02:00) ignored: record dates are local times.
 *
 * NULL.  SQL's three-valued logic: a comparison, Like, In or Between with
 * a NULL operand is UNKNOWN, Not UNKNOWN is UNKNOWN, False And UNKNOWN is
 * False, True Or UNKNOWN is True; a record matches only when the search is
 * True.  So "Not (ProductID = 1)" does not match a record without a
 * ProductID; "ProductID Is Null" does.
 *
 * Macros are dates, resolved when matching, in the server's local time:
 *
 *   [today_start]       today 00:00:00       [today_end]       23:59:59
 *   [yesterday_start]   yesterday 00:00:00   [yesterday_end]   23:59:59
 *   [this_month_start]  the 1st, 00:00:00    [this_month_end]  its last
 *   [last_month_start]  the 1st of the previous month, and its end
 *   [date]              the task's previous run (clock->last_run), or the
 *                       time of this run if it never ran (so a first run
 *                       of "OrderDate > [date]" does not send the past)
 *
 * Any number of terms may follow the name: [today_start+30],
 * [ today_start - 7 ], [this_month_start + 1M - 1s], each a sign, a number
 * and a unit: d days (the default), h hours, m minutes, s seconds, M
 * calendar months (clamping the day: Jan 31 + 1M is Feb 28 or 29).  Terms
 * apply left to right.  Macro names and units other than m/M are
 * case-insensitive.  A result outside years 1 to 9999 is NULL.
 *
 * Local time is UTC plus clock->utc_offset, one fixed offset per match:
 * day and month boundaries are those of local midnight; day and month
 * arithmetic is on the local calendar (so [today_start+1] is tomorrow's
 * local midnight even across a DST change), hours/minutes/seconds are
 * added to the local wall clock, and [date] is converted with the same
 * offset (an hour off if a DST change came between the two runs).
 *
 * Limits: QLM_SEARCH_MAX_LEN bytes of text, QLM_SEARCH_MAX_DEPTH levels of
 * parentheses and Not; matching uses a bounded stack and no allocation.
 */

#ifndef _QLM_SEARCH_H_INCLUDED_
#define _QLM_SEARCH_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define QLM_SEARCH_MAX_LEN      16384
#define QLM_SEARCH_MAX_DEPTH    64


/* key tables, for qlm_search_compile() and qlm_search_key() */
#define QLM_SEARCH_LICENSES     0x01
#define QLM_SEARCH_CUSTOMERS    0x02


/* field types */
#define QLM_SEARCH_TEXT         1
#define QLM_SEARCH_NUMBER       2
#define QLM_SEARCH_DATE         3
#define QLM_SEARCH_BOOLEAN      4


typedef struct qlm_search_s  qlm_search_t;


typedef struct {
    const char       *data;
    size_t            len;
} qlm_search_str_t;


/*
 * The record: given a canonical field name (NUL-terminated, static, so it
 * may be compared by pointer with what qlm_search_key() returned), set
 * value to its text and return 0, return 1 if the record has no such
 * field, or -1 to fail the match.  The text must stay valid until the
 * match returns.
 */
typedef int (*qlm_search_get_pt)(void *record, const char *name, size_t len,
    qlm_search_str_t *value);


typedef struct {
    int64_t           now;          /* this run, seconds since the epoch */
    int64_t           last_run;     /* the previous run; 0: never ran */
    long              utc_offset;   /* local time minus UTC, in seconds */
} qlm_search_clock_t;


typedef struct {
    size_t            pos;          /* byte offset of the offending token */
    size_t            len;          /* its length; 0: the end of input,
                                       or the message says it all */
    const char       *msg;          /* static, e.g. "unknown field" */
} qlm_search_error_t;


/*
 * Compiles text (len bytes, no NUL needed) with the keys of tables.
 * Returns 0 and *out, to free with qlm_search_free(); or -1 and *err
 * (err->msg "out of memory" if malloc failed).
 */
int qlm_search_compile(const char *text, size_t len, unsigned tables,
    qlm_search_t **out, qlm_search_error_t *err);

/*
 * Writes a NUL-terminated message about err into buf, as
 *     unknown field "Foo" at column 13
 *     expected ")", found "And" at column 20
 *     expected a value, found the end at column 7
 * (column = err->pos + 1; the token quoted, cut at 40 bytes, control bytes,
 * quotes and backslashes as \xHH).  Returns the length it wanted, as
 * snprintf().
 */
size_t qlm_search_strerror(const char *text, size_t len,
    const qlm_search_error_t *err, char *buf, size_t size);

/*
 * 1 if the record matches (the search is True), 0 if not (False or
 * UNKNOWN), -1 if get failed.  Allocates nothing.  With clock NULL, or
 * now/last_run outside years 1-9999, or |utc_offset| over 7 days, every
 * macro is NULL.
 */
int qlm_search_match(const qlm_search_t *s, const qlm_search_clock_t *clock,
    qlm_search_get_pt get, void *record);

void qlm_search_free(qlm_search_t *s);

/*
 * The canonical names of the fields the search uses, in table order: up to
 * n are stored in names; returns how many there are.
 */
size_t qlm_search_fields(const qlm_search_t *s, const char **names,
    size_t n);

/*
 * The canonical name of a field (an alias or any case) among tables, or
 * NULL; *type (if not NULL) gets its QLM_SEARCH_* type.
 */
const char *qlm_search_key(const char *name, size_t len, unsigned tables,
    int *type);


#endif /* _QLM_SEARCH_H_INCLUDED_ */
