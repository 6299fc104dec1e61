
/*
 * qlm_search unit tests: the language, its NULL logic, the macros against a
 * fixed clock, and every compile error with its position.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qlm_search.h"


#define QLM_T_MAX_FIELDS  16


typedef struct {
    const char  *name[QLM_T_MAX_FIELDS];
    const char  *value[QLM_T_MAX_FIELDS];
    size_t       n;
    int          fail;
    unsigned     calls;
} qlm_t_record_t;


/* 2026-03-15T12:34:56Z, a Sunday; the task last ran 2026-03-14T12:00:00Z */
#define QLM_T_NOW        1773578096
#define QLM_T_LAST_RUN   1773489600

static const qlm_search_clock_t  qlm_t_clock = {
    QLM_T_NOW, QLM_T_LAST_RUN, 0
};


static int
qlm_t_get(void *data, const char *name, size_t len, qlm_search_str_t *value)
{
    size_t           i;
    qlm_t_record_t  *r;

    r = data;
    r->calls++;

    /* the library passes canonical, NUL-terminated names */
    assert_int_equal(strlen(name), len);

    if (r->fail) {
        return -1;
    }

    for (i = 0; i < r->n; i++) {
        if (strcmp(r->name[i], name) == 0) {
            value->data = r->value[i];
            value->len = strlen(r->value[i]);
            return 0;
        }
    }

    return 1;
}


/* compile expr for tables, or fail the test with the message */

static qlm_search_t *
qlm_t_compile(const char *expr, unsigned tables)
{
    char                 buf[256];
    qlm_search_t        *s;
    qlm_search_error_t   err;

    if (qlm_search_compile(expr, strlen(expr), tables, &s, &err) != 0) {
        qlm_search_strerror(expr, strlen(expr), &err, buf, sizeof(buf));
        fail_msg("%s: %s", expr, buf);
    }

    return s;
}


/* match expr against name, value, ..., NULL with clock */

static int
qlm_t_vmatch(const qlm_search_clock_t *clock, unsigned tables,
    const char *expr, va_list ap)
{
    int              rc;
    const char      *name;
    qlm_search_t    *s;
    qlm_t_record_t   r;

    memset(&r, 0, sizeof(r));

    while ((name = va_arg(ap, const char *)) != NULL) {
        assert_true(r.n < QLM_T_MAX_FIELDS);
        r.name[r.n] = name;
        r.value[r.n] = va_arg(ap, const char *);
        r.n++;
    }

    s = qlm_t_compile(expr, tables);
    rc = qlm_search_match(s, clock, qlm_t_get, &r);
    qlm_search_free(s);

    return rc;
}


static int
qlm_t_match(const char *expr, ...)
{
    int      rc;
    va_list  ap;

    va_start(ap, expr);
    rc = qlm_t_vmatch(&qlm_t_clock, QLM_SEARCH_LICENSES, expr, ap);
    va_end(ap);

    return rc;
}


static int
qlm_t_match_at(const qlm_search_clock_t *clock, const char *expr, ...)
{
    int      rc;
    va_list  ap;

    va_start(ap, expr);
    rc = qlm_t_vmatch(clock, QLM_SEARCH_LICENSES, expr, ap);
    va_end(ap);

    return rc;
}


static int
qlm_t_match_customer(const char *expr, ...)
{
    int      rc;
    va_list  ap;

    va_start(ap, expr);
    rc = qlm_t_vmatch(&qlm_t_clock, QLM_SEARCH_CUSTOMERS, expr, ap);
    va_end(ap);

    return rc;
}


/* expr fails to compile at pos, with msg, formatted as text */

static void
qlm_t_error(const char *expr, size_t pos, const char *msg, const char *text)
{
    char                 buf[256];
    qlm_search_t        *s;
    qlm_search_error_t   err;

    s = (qlm_search_t *) 1;

    if (qlm_search_compile(expr, strlen(expr), QLM_SEARCH_LICENSES, &s,
                           &err)
        == 0)
    {
        qlm_search_free(s);
        fail_msg("compiled: %s", expr);
    }

    assert_null(s);

    if (err.pos != pos || strcmp(err.msg, msg) != 0) {
        fail_msg("%s: got %zu \"%s\", expected %zu \"%s\"",
                 expr, err.pos, err.msg, pos, msg);
    }

    qlm_search_strerror(expr, strlen(expr), &err, buf, sizeof(buf));

    if (strcmp(buf, text) != 0) {
        fail_msg("%s: got '%s', expected '%s'", expr, buf, text);
    }
}


static void
test_comparisons(void **state)
{
    /* numbers */
    assert_int_equal(qlm_t_match("ProductID = 5", "ProductID", "5", NULL), 1);
    assert_int_equal(qlm_t_match("ProductID = 5", "ProductID", "6", NULL), 0);
    assert_int_equal(qlm_t_match("ProductID <> 5", "ProductID", "6", NULL), 1);
    assert_int_equal(qlm_t_match("ProductID <> 5", "ProductID", "5", NULL), 0);
    assert_int_equal(qlm_t_match("ProductID != 5", "ProductID", "6", NULL), 1);
    assert_int_equal(qlm_t_match("ProductID != 5", "ProductID", "5", NULL), 0);
    assert_int_equal(qlm_t_match("ProductID < 5", "ProductID", "4", NULL), 1);
    assert_int_equal(qlm_t_match("ProductID < 5", "ProductID", "5", NULL), 0);
    assert_int_equal(qlm_t_match("ProductID <= 5", "ProductID", "5", NULL), 1);
    assert_int_equal(qlm_t_match("ProductID <= 5", "ProductID", "6", NULL), 0);
    assert_int_equal(qlm_t_match("ProductID > 5", "ProductID", "6", NULL), 1);
    assert_int_equal(qlm_t_match("ProductID > 5", "ProductID", "5", NULL), 0);
    assert_int_equal(qlm_t_match("ProductID >= 5", "ProductID", "5", NULL), 1);
    assert_int_equal(qlm_t_match("ProductID >= 5", "ProductID", "4", NULL), 0);

    /* numeric, not lexical */
    assert_int_equal(qlm_t_match("ProductID > 9", "ProductID", "10", NULL), 1);

    /* the literal may come first */
    assert_int_equal(qlm_t_match("9 < ProductID", "ProductID", "10", NULL), 1);
    assert_int_equal(qlm_t_match("11 < ProductID", "ProductID", "10", NULL),
                     0);

    /* text, dates, booleans */
    assert_int_equal(qlm_t_match("Country < 'B'", "Country", "a", NULL), 1);
    assert_int_equal(qlm_t_match("Country >= 'b'", "Country", "A", NULL), 0);
    assert_int_equal(qlm_t_match("ExpiryDate < '2026-01-02'",
                                 "ExpiryDate", "2026-01-01T23:59:59", NULL),
                     1);
    assert_int_equal(qlm_t_match("ExpiryDate >= '2026-01-02'",
                                 "ExpiryDate", "2026-01-01T23:59:59", NULL),
                     0);
    assert_int_equal(qlm_t_match("UsesAdminEncryption > False",
                                 "UsesAdminEncryption", "true", NULL), 1);

    /* two fields */
    assert_int_equal(qlm_t_match("MaintenanceRenewalDate > ExpiryDate",
                                 "ExpiryDate", "2026-01-01",
                                 "MaintenanceRenewalDate", "2026-06-01",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("NumLicenses = AvailableLicenses",
                                 "NumLicenses", "3",
                                 "AvailableLicenses", "3.0", NULL), 1);
    assert_int_equal(qlm_t_match("FullName = Email",
                                 "FullName", "X", "Email", "x  ", NULL), 1);

    /* two literals */
    assert_int_equal(qlm_t_match("1 = 1", NULL), 1);
    assert_int_equal(qlm_t_match("1 = 2", NULL), 0);
    assert_int_equal(qlm_t_match("'a' = 'A'", NULL), 1);
    assert_int_equal(qlm_t_match("'10' > 9", NULL), 1);
    assert_int_equal(qlm_t_match("True = 1", NULL), 1);
}


static void
test_precedence(void **state)
{
    const char  *a_or_b_and_c = "ProductID = 1 Or MajorVersion = 1 "
                                "And MinorVersion = 1";

    /* a Or (b And c) */
    assert_int_equal(qlm_t_match(a_or_b_and_c, "ProductID", "1",
                                 "MajorVersion", "0", "MinorVersion", "0",
                                 NULL), 1);
    assert_int_equal(qlm_t_match(a_or_b_and_c, "ProductID", "0",
                                 "MajorVersion", "1", "MinorVersion", "0",
                                 NULL), 0);
    assert_int_equal(qlm_t_match(a_or_b_and_c, "ProductID", "0",
                                 "MajorVersion", "1", "MinorVersion", "1",
                                 NULL), 1);

    /* parentheses: (a Or b) And c */
    assert_int_equal(qlm_t_match("(ProductID = 1 Or MajorVersion = 1) "
                                 "And MinorVersion = 1",
                                 "ProductID", "1", "MajorVersion", "0",
                                 "MinorVersion", "0", NULL), 0);
    assert_int_equal(qlm_t_match("((((ProductID = 1))))",
                                 "ProductID", "1", NULL), 1);

    /* (Not a) And b, Not binds tighter */
    assert_int_equal(qlm_t_match("Not ProductID = 1 And MajorVersion = 1",
                                 "ProductID", "2", "MajorVersion", "1",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Not ProductID = 1 And MajorVersion = 1",
                                 "ProductID", "2", "MajorVersion", "2",
                                 NULL), 0);
    assert_int_equal(qlm_t_match("Not (ProductID = 2 And MajorVersion = 2)",
                                 "ProductID", "2", "MajorVersion", "1",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Not Not ProductID = 1",
                                 "ProductID", "1", NULL), 1);

    /* keywords in any case; long lists */
    assert_int_equal(qlm_t_match("productid = 1 AND majorversion = 1 "
                                 "oR minorversion = 9 aNd NOT 1 = 2",
                                 "ProductID", "1", "MajorVersion", "1",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("1 = 2 Or 1 = 3 Or 1 = 4 Or 1 = 1", NULL),
                     1);
    assert_int_equal(qlm_t_match("1 = 1 And 1 = 1 And 1 = 1 And 1 = 2",
                                 NULL), 0);

    /* whitespace of every kind, none at all */
    assert_int_equal(qlm_t_match("\tProductID\r\n=\n1 ", "ProductID", "1",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("(ProductID=1)And(Country='x')",
                                 "ProductID", "1", "Country", "X", NULL), 1);
}


static void
test_null_logic(void **state)
{
    /* absent: comparisons are UNKNOWN, so is their Not */
    assert_int_equal(qlm_t_match("ProductID = 1", NULL), 0);
    assert_int_equal(qlm_t_match("ProductID <> 1", NULL), 0);
    assert_int_equal(qlm_t_match("Not (ProductID = 1)", NULL), 0);
    assert_int_equal(qlm_t_match("Not Not (ProductID = 1)", NULL), 0);

    /* False And UNKNOWN is False: its Not is True */
    assert_int_equal(qlm_t_match("Not (1 = 2 And ProductID = 1)", NULL), 1);
    /* True And UNKNOWN is UNKNOWN */
    assert_int_equal(qlm_t_match("Not (1 = 1 And ProductID = 1)", NULL), 0);
    /* True Or UNKNOWN is True, False Or UNKNOWN is UNKNOWN */
    assert_int_equal(qlm_t_match("1 = 1 Or ProductID = 1", NULL), 1);
    assert_int_equal(qlm_t_match("ProductID = 1 Or 1 = 1", NULL), 1);
    assert_int_equal(qlm_t_match("Not (1 = 2 Or ProductID = 1)", NULL), 0);

    /* unreadable is NULL */
    assert_int_equal(qlm_t_match("ProductID <> 1", "ProductID", "abc", NULL),
                     0);
    assert_int_equal(qlm_t_match("ProductID Is Null", "ProductID", "abc",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("ExpiryDate Is Null", "ExpiryDate", "",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("ExpiryDate < [today_start]",
                                 "ExpiryDate", "2026-02-30", NULL), 0);
    assert_int_equal(qlm_t_match("ExpiryDate Is Null", "ExpiryDate",
                                 "2026-02-30", NULL), 1);
    assert_int_equal(qlm_t_match("UsesAdminEncryption Is Null",
                                 "UsesAdminEncryption", "yes", NULL), 1);

    /* an empty text is a text, not NULL */
    assert_int_equal(qlm_t_match("Comment Is Null", "Comment", "", NULL), 0);
    assert_int_equal(qlm_t_match("Comment = ''", "Comment", "", NULL), 1);
    assert_int_equal(qlm_t_match("Comment = ''", "Comment", "   ", NULL), 1);

    /* Is [Not] Null */
    assert_int_equal(qlm_t_match("Email Is Null", NULL), 1);
    assert_int_equal(qlm_t_match("Email Is Null", "Email", "a@b", NULL), 0);
    assert_int_equal(qlm_t_match("Email Is Not Null", NULL), 0);
    assert_int_equal(qlm_t_match("Email is not NULL", "Email", "a@b", NULL),
                     1);
    assert_int_equal(qlm_t_match("Not Email Is Null", "Email", "a@b", NULL),
                     1);
    assert_int_equal(qlm_t_match("'x' Is Null", NULL), 0);
    assert_int_equal(qlm_t_match("[today_start] Is Not Null", NULL), 1);
}


static void
test_strings(void **state)
{
    assert_int_equal(qlm_t_match("FullName = 'O''Brien'",
                                 "FullName", "O'Brien", NULL), 1);
    assert_int_equal(qlm_t_match("FullName = ''''", "FullName", "'", NULL),
                     1);
    assert_int_equal(qlm_t_match("FullName = 'a''''b'", "FullName", "a''b",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("FullName = 'And Or (Not)'",
                                 "FullName", "and or (not)", NULL), 1);

    /* case-insensitive, trailing spaces ignored, leading ones not */
    assert_int_equal(qlm_t_match("Country = 'canada'", "Country", "CANADA",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Country = 'Canada  '", "Country", "Canada",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Country = ' Canada'", "Country", "Canada",
                                 NULL), 0);
    assert_int_equal(qlm_t_match("Country < 'Canadas'", "Country", "Canada",
                                 NULL), 1);

    /* bytes above ASCII compare as they are */
    assert_int_equal(qlm_t_match("FullName = 'Ren\xc3\xa9'",
                                 "FullName", "REN\xc3\xa9", NULL), 1);
    assert_int_equal(qlm_t_match("FullName = 'Ren\xc3\xa9'",
                                 "FullName", "REN\xc3\x89", NULL), 0);

    /* a text field beside a number compares as a number */
    assert_int_equal(qlm_t_match("OrderID = 42", "OrderID", " 042 ", NULL),
                     1);
    assert_int_equal(qlm_t_match("OrderID > 9", "OrderID", "10", NULL), 1);
    assert_int_equal(qlm_t_match("OrderID = 42", "OrderID", "A42", NULL), 0);
    assert_int_equal(qlm_t_match("OrderID > 9", "OrderID", "abc", NULL), 0);
    assert_int_equal(qlm_t_match("OrderID = ProductID", "OrderID", "7.0",
                                 "ProductID", "7", NULL), 1);
}


static void
test_numbers(void **state)
{
    assert_int_equal(qlm_t_match("Duration = -5", "Duration", "-5", NULL), 1);
    assert_int_equal(qlm_t_match("Duration < -4.5", "Duration", "-5", NULL),
                     1);
    assert_int_equal(qlm_t_match("Duration > -4.5", "Duration", "-4.49",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Duration = 1.50", "Duration", "1.5", NULL),
                     1);
    assert_int_equal(qlm_t_match("Duration = .5", "Duration", "0.50", NULL),
                     1);
    assert_int_equal(qlm_t_match("Duration = -.5", "Duration", "-0.5", NULL),
                     1);
    assert_int_equal(qlm_t_match("Duration = 5.", "Duration", "+5", NULL), 1);
    assert_int_equal(qlm_t_match("Duration = 0", "Duration", "-0.000",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Duration = 007", "Duration", "7", NULL), 1);
    assert_int_equal(qlm_t_match("Duration > 1.05", "Duration", "1.5", NULL),
                     1);
    assert_int_equal(qlm_t_match("Duration < 1.05", "Duration", "1.049",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Duration > 1.5", "Duration", "1.55", NULL),
                     1);
    assert_int_equal(qlm_t_match("Duration = 1.5", "Duration", "1.55", NULL),
                     0);
    assert_int_equal(qlm_t_match("Duration < -1.5", "Duration", "-1.55",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Duration > -10", "Duration", "-9", NULL),
                     1);
    assert_int_equal(qlm_t_match("Duration < -10", "Duration", "-11", NULL),
                     1);
    assert_int_equal(qlm_t_match("Duration=-1", "Duration", "-1", NULL), 1);

    /* exact beyond 64 bits and doubles */
    assert_int_equal(qlm_t_match("Duration < 123456789012345678901234567891",
                                 "Duration",
                                 "123456789012345678901234567890", NULL), 1);
    assert_int_equal(qlm_t_match("Duration > 9007199254740992",
                                 "Duration", "9007199254740993", NULL), 1);

    /* a string holding a number */
    assert_int_equal(qlm_t_match("ProductID = '5'", "ProductID", "5", NULL),
                     1);

    /* unreadable record values */
    assert_int_equal(qlm_t_match("Duration Is Null", "Duration", "1e3",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Duration Is Null", "Duration", "-", NULL),
                     1);
    assert_int_equal(qlm_t_match("Duration Is Null", "Duration", ".", NULL),
                     1);
    assert_int_equal(qlm_t_match("Duration Is Null", "Duration", "1 2",
                                 NULL), 1);
}


static void
test_booleans(void **state)
{
    assert_int_equal(qlm_t_match("LicenseUpdatedOnServer = True",
                                 "LicenseUpdatedOnServer", "true", NULL), 1);
    assert_int_equal(qlm_t_match("LicenseUpdatedOnServer = true",
                                 "LicenseUpdatedOnServer", "True", NULL), 1);
    assert_int_equal(qlm_t_match("LicenseUpdatedOnServer = FALSE",
                                 "LicenseUpdatedOnServer", "true", NULL), 0);
    assert_int_equal(qlm_t_match("LicenseUpdatedOnServer = 1",
                                 "LicenseUpdatedOnServer", "true", NULL), 1);
    assert_int_equal(qlm_t_match("LicenseUpdatedOnServer = 0",
                                 "LicenseUpdatedOnServer", "0", NULL), 1);
    assert_int_equal(qlm_t_match("UsesAdminEncryption = 'false'",
                                 "UsesAdminEncryption", " FALSE ", NULL), 1);
    assert_int_equal(qlm_t_match("UsesAdminEncryption <> '1'",
                                 "UsesAdminEncryption", "false", NULL), 1);
    assert_int_equal(qlm_t_match("UsesAdminEncryption = True",
                                 "UsesAdminEncryption", "yes", NULL), 0);
}


static void
test_like(void **state)
{
    assert_int_equal(qlm_t_match("Email Like '%@example.com'",
                                 "Email", "bob@EXAMPLE.com", NULL), 1);
    assert_int_equal(qlm_t_match("Email Like '%@example.com'",
                                 "Email", "bob@example.org", NULL), 0);
    assert_int_equal(qlm_t_match("Email Not Like '%@example.com'",
                                 "Email", "bob@example.org", NULL), 1);
    assert_int_equal(qlm_t_match("Email Like 'b_b@%'", "Email", "bob@x",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Email Like 'b_b@%'", "Email", "bb@x",
                                 NULL), 0);
    assert_int_equal(qlm_t_match("Email Like '%'", "Email", "", NULL), 1);
    assert_int_equal(qlm_t_match("Email Like ''", "Email", "", NULL), 1);
    assert_int_equal(qlm_t_match("Email Like ''", "Email", "a", NULL), 0);
    assert_int_equal(qlm_t_match("Email Like '_'", "Email", "", NULL), 0);
    assert_int_equal(qlm_t_match("Email Like '%%%'", "Email", "abc", NULL),
                     1);
    assert_int_equal(qlm_t_match("Email Like 'a%b%c'", "Email", "aXbYbZc",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Email Like 'a%b%c'", "Email", "aXbYbZ",
                                 NULL), 0);
    assert_int_equal(qlm_t_match("Email Like '%abc'", "Email", "ababc",
                                 NULL), 1);

    /* every character counts: no trailing space trimming */
    assert_int_equal(qlm_t_match("Email Like 'abc'", "Email", "abc ", NULL),
                     0);

    /* _ is one UTF-8 character */
    assert_int_equal(qlm_t_match("FullName Like 'Ren_'",
                                 "FullName", "Ren\xc3\xa9", NULL), 1);
    assert_int_equal(qlm_t_match("FullName Like 'Ren__'",
                                 "FullName", "Ren\xc3\xa9", NULL), 0);
    assert_int_equal(qlm_t_match("FullName Like '%\xc3\xa9'",
                                 "FullName", "Ren\xc3\xa9", NULL), 1);
    /* a bad byte is one character */
    assert_int_equal(qlm_t_match("FullName Like 'a_b'",
                                 "FullName", "a\xff" "b", NULL), 1);

    /* classes */
    assert_int_equal(qlm_t_match("Country Like '[cu]%'", "Country", "US",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Country Like '[cu]%'", "Country", "FR",
                                 NULL), 0);
    assert_int_equal(qlm_t_match("Country Like '[^cu]%'", "Country", "FR",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Country Like '[A-F]R'", "Country", "fr",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Country Like '[a-f]R'", "Country", "GR",
                                 NULL), 0);
    assert_int_equal(qlm_t_match("Country Like '[-x]'", "Country", "-",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Country Like '[x-]'", "Country", "-",
                                 NULL), 1);

    /* quoting % and _: [%], Escape */
    assert_int_equal(qlm_t_match("Comment Like '100[%]'",
                                 "Comment", "100%", NULL), 1);
    assert_int_equal(qlm_t_match("Comment Like '100[%]'",
                                 "Comment", "1000", NULL), 0);
    assert_int_equal(qlm_t_match("Comment Like '%!%%' Escape '!'",
                                 "Comment", "50% off", NULL), 1);
    assert_int_equal(qlm_t_match("Comment Like '%!%%' Escape '!'",
                                 "Comment", "50 off", NULL), 0);
    assert_int_equal(qlm_t_match("Comment Like 'a!_b' escape '!'",
                                 "Comment", "a_b", NULL), 1);
    assert_int_equal(qlm_t_match("Comment Like 'a!_b' escape '!'",
                                 "Comment", "axb", NULL), 0);
    assert_int_equal(qlm_t_match("Comment Like 'a!!b' escape '!'",
                                 "Comment", "a!b", NULL), 1);
    assert_int_equal(qlm_t_match("Comment Like 'it''s%'",
                                 "Comment", "It's here", NULL), 1);

    /* numbers match on their text; NULL is UNKNOWN */
    assert_int_equal(qlm_t_match("ProductID Like '1%'", "ProductID", "123",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("Email Like '%'", NULL), 0);
    assert_int_equal(qlm_t_match("Email Not Like '%'", NULL), 0);

    /* no exponential backtracking */
    assert_int_equal(qlm_t_match("Comment Like '%a%a%a%a%a%a%a%a%a%a%b'",
                                 "Comment",
                                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                 NULL), 0);
}


static void
test_in_between(void **state)
{
    assert_int_equal(qlm_t_match("ProductID In (1, 2, 3)", "ProductID", "2",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("ProductID In (1, 2, 3)", "ProductID", "4",
                                 NULL), 0);
    assert_int_equal(qlm_t_match("ProductID In (1)", "ProductID", "1", NULL),
                     1);
    assert_int_equal(qlm_t_match("ProductID Not In (1, 2)", "ProductID", "4",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("ProductID Not In (1, 2)", "ProductID", "2",
                                 NULL), 0);
    assert_int_equal(qlm_t_match("ProductID In (1, 2)", NULL), 0);
    assert_int_equal(qlm_t_match("ProductID Not In (1, 2)", NULL), 0);
    assert_int_equal(qlm_t_match("Country In ('us', 'CA')", "Country", "ca",
                                 NULL), 1);

    /* an item that is NULL: no match is UNKNOWN, not False */
    assert_int_equal(qlm_t_match("ProductID Not In (1, MajorVersion)",
                                 "ProductID", "2", NULL), 0);
    assert_int_equal(qlm_t_match("ProductID In (2, MajorVersion)",
                                 "ProductID", "2", NULL), 1);
    assert_int_equal(qlm_t_match("ExpiryDate In ('2026-01-01', "
                                 "[today_start])",
                                 "ExpiryDate", "2026-03-15", NULL), 1);

    assert_int_equal(qlm_t_match("ProductID Between 1 And 3",
                                 "ProductID", "1", NULL), 1);
    assert_int_equal(qlm_t_match("ProductID Between 1 And 3",
                                 "ProductID", "3", NULL), 1);
    assert_int_equal(qlm_t_match("ProductID Between 1 And 3",
                                 "ProductID", "4", NULL), 0);
    assert_int_equal(qlm_t_match("ProductID Not Between 1 And 3",
                                 "ProductID", "4", NULL), 1);
    assert_int_equal(qlm_t_match("ProductID Not Between 1 And 3", NULL), 0);
    /* Between's And is its own; the next one joins */
    assert_int_equal(qlm_t_match("ProductID Between 1 And 3 And 1 = 1",
                                 "ProductID", "2", NULL), 1);
    /* x >= lo False makes the whole False even if hi is NULL */
    assert_int_equal(qlm_t_match("Not (ProductID Between 5 And MajorVersion)",
                                 "ProductID", "2", NULL), 1);
    assert_int_equal(qlm_t_match("Not (ProductID Between 1 And MajorVersion)",
                                 "ProductID", "2", NULL), 0);
    /* True And UNKNOWN is UNKNOWN */
    assert_int_equal(qlm_t_match("ProductID Between 1 And MajorVersion",
                                 "ProductID", "2", NULL), 0);
    assert_int_equal(qlm_t_match("ProductID Between MajorVersion And 3",
                                 "ProductID", "2", NULL), 0);
    assert_int_equal(qlm_t_match("ExpiryDate Between [today_start] "
                                 "And [today_end]",
                                 "ExpiryDate", "2026-03-15T23:59:59", NULL),
                     1);
}


/* the macro's value as a date string, through ExpiryDate = [macro] */

static void
qlm_t_macro(const qlm_search_clock_t *clock, const char *macro,
    const char *date)
{
    char  expr[128];

    snprintf(expr, sizeof(expr), "ExpiryDate = %s", macro);

    if (qlm_t_match_at(clock, expr, "ExpiryDate", date, NULL) != 1) {
        fail_msg("%s is not %s", macro, date);
    }

    /* and one second off is not */
    snprintf(expr, sizeof(expr), "ExpiryDate = %.*s + 1s]",
             (int) strlen(macro) - 1, macro);

    if (qlm_t_match_at(clock, expr, "ExpiryDate", date, NULL) != 0) {
        fail_msg("%s + 1s is %s", macro, date);
    }
}


static void
test_macros(void **state)
{
    const qlm_search_clock_t  *c = &qlm_t_clock;

    qlm_t_macro(c, "[today_start]", "2026-03-15T00:00:00");
    qlm_t_macro(c, "[today_end]", "2026-03-15T23:59:59");
    qlm_t_macro(c, "[yesterday_start]", "2026-03-14T00:00:00");
    qlm_t_macro(c, "[yesterday_end]", "2026-03-14T23:59:59");
    qlm_t_macro(c, "[this_month_start]", "2026-03-01T00:00:00");
    qlm_t_macro(c, "[this_month_end]", "2026-03-31T23:59:59");
    qlm_t_macro(c, "[last_month_start]", "2026-02-01T00:00:00");
    qlm_t_macro(c, "[last_month_end]", "2026-02-28T23:59:59");
    qlm_t_macro(c, "[date]", "2026-03-14T12:00:00");

    /* +/-, every unit, spaces, case */
    qlm_t_macro(c, "[today_start+30]", "2026-04-14T00:00:00");
    qlm_t_macro(c, "[today_start + 30]", "2026-04-14T00:00:00");
    qlm_t_macro(c, "[ today_start-7 ]", "2026-03-08T00:00:00");
    qlm_t_macro(c, "[today_start - 7d]", "2026-03-08T00:00:00");
    qlm_t_macro(c, "[today_start+ 2 D]", "2026-03-17T00:00:00");
    qlm_t_macro(c, "[today_start+6h]", "2026-03-15T06:00:00");
    qlm_t_macro(c, "[today_start-6H]", "2026-03-14T18:00:00");
    qlm_t_macro(c, "[today_start+90m]", "2026-03-15T01:30:00");
    qlm_t_macro(c, "[today_start-1m]", "2026-03-14T23:59:00");
    qlm_t_macro(c, "[today_start+59s]", "2026-03-15T00:00:59");
    qlm_t_macro(c, "[today_start-1S]", "2026-03-14T23:59:59");
    qlm_t_macro(c, "[today_start+1M]", "2026-04-15T00:00:00");
    qlm_t_macro(c, "[today_start-3M]", "2025-12-15T00:00:00");
    qlm_t_macro(c, "[today_start+12M]", "2027-03-15T00:00:00");
    qlm_t_macro(c, "[today_start+0]", "2026-03-15T00:00:00");
    qlm_t_macro(c, "[TODAY_START]", "2026-03-15T00:00:00");
    qlm_t_macro(c, "[Today_Start+1]", "2026-03-16T00:00:00");
    qlm_t_macro(c, "[this_month_start + 1M - 1s]", "2026-03-31T23:59:59");
    qlm_t_macro(c, "[this_month_start+1M+1M-1d]", "2026-04-30T00:00:00");
    qlm_t_macro(c, "[yesterday_end+1s]", "2026-03-15T00:00:00");
    qlm_t_macro(c, "[last_month_end-1M]", "2026-01-28T23:59:59");
    qlm_t_macro(c, "[date+1]", "2026-03-15T12:00:00");
    qlm_t_macro(c, "[date-30m]", "2026-03-14T11:30:00");
    qlm_t_macro(c, "[today_start+1000000]", "4764-02-10T00:00:00");

    /* macros compare as dates with dates in any form */
    assert_int_equal(qlm_t_match("ExpiryDate > [today_start]",
                                 "ExpiryDate", "03/15/2026 12:00:00 AM",
                                 NULL), 0);
    assert_int_equal(qlm_t_match("ExpiryDate > [today_start]",
                                 "ExpiryDate", "3/15/2026 12:00:01 AM",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("[today_start] < '2026-03-15T00:00:01'",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("[yesterday_end] < [today_start]", NULL), 1);
}


static void
test_month_clamping(void **state)
{
    /* 2026-01-31T10:00:00Z */
    qlm_search_clock_t  c = { 1769853600, 0, 0 };

    qlm_t_macro(&c, "[today_start+1M]", "2026-02-28T00:00:00");
    qlm_t_macro(&c, "[today_start+2M]", "2026-03-31T00:00:00");
    qlm_t_macro(&c, "[today_start+1M+1M]", "2026-03-28T00:00:00");
    qlm_t_macro(&c, "[today_start-2M]", "2025-11-30T00:00:00");
    qlm_t_macro(&c, "[today_start-13M]", "2024-12-31T00:00:00");
    qlm_t_macro(&c, "[this_month_end+1M]", "2026-02-28T23:59:59");
    qlm_t_macro(&c, "[last_month_start]", "2025-12-01T00:00:00");
    qlm_t_macro(&c, "[last_month_end]", "2025-12-31T23:59:59");
    qlm_t_macro(&c, "[this_month_end]", "2026-01-31T23:59:59");

    /* 2024-01-31T10:00:00Z: a leap year */
    c.now = 1706695200;

    qlm_t_macro(&c, "[today_start+1M]", "2024-02-29T00:00:00");
    qlm_t_macro(&c, "[today_start+13M]", "2025-02-28T00:00:00");
    qlm_t_macro(&c, "[this_month_start+1M]", "2024-02-01T00:00:00");
    qlm_t_macro(&c, "[today_start+29]", "2024-02-29T00:00:00");

    /* 2026-03-31T23:30:00Z */
    c.now = 1774999800;

    qlm_t_macro(&c, "[last_month_end]", "2026-02-28T23:59:59");
    qlm_t_macro(&c, "[today_start-1M]", "2026-02-28T00:00:00");
    qlm_t_macro(&c, "[this_month_end]", "2026-03-31T23:59:59");

    /* 2026-01-01T00:00:00Z: last month is last year's December */
    c.now = 1767225600;

    qlm_t_macro(&c, "[last_month_start]", "2025-12-01T00:00:00");
    qlm_t_macro(&c, "[yesterday_start]", "2025-12-31T00:00:00");
}


static void
test_date_macro(void **state)
{
    qlm_search_clock_t  c = { QLM_T_NOW, 0, 0 };

    /* never ran: [date] is now, so the first run sends nothing old */
    qlm_t_macro(&c, "[date]", "2026-03-15T12:34:56");
    assert_int_equal(qlm_t_match_at(&c, "OrderDate > [date]",
                                    "OrderDate", "2026-03-15T09:00:00",
                                    NULL), 0);

    c.last_run = QLM_T_LAST_RUN;
    assert_int_equal(qlm_t_match_at(&c, "OrderDate > [date]",
                                    "OrderDate", "2026-03-15T09:00:00",
                                    NULL), 1);

    /* in local time too */
    c.utc_offset = 3600;
    qlm_t_macro(&c, "[date]", "2026-03-14T13:00:00");

    /* no clock, or a clock out of range: macros are NULL */
    assert_int_equal(qlm_t_match_at(NULL, "[date] Is Null", NULL), 1);
    assert_int_equal(qlm_t_match_at(NULL, "ExpiryDate < [today_start]",
                                    "ExpiryDate", "2000-01-01", NULL), 0);

    c.now = INT64_MAX;
    assert_int_equal(qlm_t_match_at(&c, "[today_start] Is Null", NULL), 1);

    c.now = QLM_T_NOW;
    c.utc_offset = 100L * 86400;
    assert_int_equal(qlm_t_match_at(&c, "[today_start] Is Null", NULL), 1);

    /* results beyond 9999 are NULL */
    c.utc_offset = 0;
    assert_int_equal(qlm_t_match_at(&c, "[today_start + 999999999] Is Null",
                                    NULL), 1);
    assert_int_equal(qlm_t_match_at(&c, "[today_start - 999999999M] Is Null",
                                    NULL), 1);
    assert_int_equal(qlm_t_match_at(&c, "[today_start + 999999999d "
                                    "- 999999999d] Is Null", NULL), 1);
    qlm_t_macro(&c, "[today_start + 7900 M]", "2684-07-15T00:00:00");
}


static void
test_utc_offset(void **state)
{
    /* 2026-03-15T23:30:00Z: still the 15th in UTC, the 16th at UTC+1 */
    qlm_search_clock_t  c = { 1773617400, 0, 0 };

    qlm_t_macro(&c, "[today_start]", "2026-03-15T00:00:00");

    c.utc_offset = 3600;
    qlm_t_macro(&c, "[today_start]", "2026-03-16T00:00:00");
    qlm_t_macro(&c, "[yesterday_end]", "2026-03-15T23:59:59");
    qlm_t_macro(&c, "[date]", "2026-03-16T00:30:00");

    /* a minute before local midnight */
    c.now = 1773617400 + 29 * 60;
    qlm_t_macro(&c, "[today_start]", "2026-03-16T00:00:00");
    c.now = 1773617400 - 31 * 60;
    qlm_t_macro(&c, "[today_start]", "2026-03-15T00:00:00");

    /* 2026-03-15T00:30:00Z is the 14th at UTC-5 */
    c.now = 1773534600;
    c.utc_offset = -5 * 3600;
    qlm_t_macro(&c, "[today_start]", "2026-03-14T00:00:00");
    qlm_t_macro(&c, "[today_end]", "2026-03-14T23:59:59");

    /* a month boundary: 2026-03-31T23:30:00Z is April at UTC+2 */
    c.now = 1774999800;
    c.utc_offset = 2 * 3600;
    qlm_t_macro(&c, "[this_month_start]", "2026-04-01T00:00:00");
    qlm_t_macro(&c, "[last_month_start]", "2026-03-01T00:00:00");
    qlm_t_macro(&c, "[last_month_end]", "2026-03-31T23:59:59");
    c.utc_offset = -2 * 3600;
    qlm_t_macro(&c, "[this_month_start]", "2026-03-01T00:00:00");

    /* before the epoch */
    c.now = -1;
    c.utc_offset = 0;
    qlm_t_macro(&c, "[today_start]", "1969-12-31T00:00:00");
    qlm_t_macro(&c, "[this_month_start]", "1969-12-01T00:00:00");
}


static void
test_qlm_example(void **state)
{
    size_t         i;
    qlm_search_t  *s;

    static const char  *expr = "SubscriptionExpiryDate > [today_start] "
                               "And SubscriptionExpiryDate < "
                               "[today_start+30]";

    /* the clock's today is 2026-03-15 */
    static const struct {
        const char  *expiry;
        int          match;
    } cases[] = {
        { "2026-03-14T00:00:00", 0 },   /* yesterday */
        { "2026-03-15T00:00:00", 0 },   /* today, midnight: not after it */
        { "2026-03-15T10:00:00", 1 },   /* today */
        { "2026-03-25T00:00:00", 1 },   /* in 10 days */
        { "2026-03-25", 1 },
        { "3/25/2026", 1 },
        { "2026-04-13T23:59:59", 1 },   /* the last second */
        { "2026-04-14T00:00:00", 0 },   /* in 30 days */
        { "2026-04-24T00:00:00", 0 },   /* in 40 days */
        { "", 0 },
        { NULL, 0 }                     /* no expiry */
    };

    s = qlm_t_compile(expr, QLM_SEARCH_LICENSES);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        qlm_t_record_t  r;

        memset(&r, 0, sizeof(r));

        if (cases[i].expiry) {
            r.name[0] = "ExpiryDate";
            r.value[0] = cases[i].expiry;
            r.n = 1;
        }

        if (qlm_search_match(s, &qlm_t_clock, qlm_t_get, &r)
            != cases[i].match)
        {
            fail_msg("%s: expected %d", cases[i].expiry ? cases[i].expiry
                                                         : "(absent)",
                     cases[i].match);
        }
    }

    qlm_search_free(s);
}


static void
test_record_dates(void **state)
{
    static const char  *same[] = {
        "2026-03-15T10:20:30",
        "2026-03-15 10:20:30",
        "2026-3-15T10:20:30",
        "  2026-03-15T10:20:30  ",
        "2026-03-15T10:20:30.997",
        "2026-03-15T10:20:30Z",
        "2026-03-15T10:20:30+02:00",
        "2026-03-15T10:20:30-0530",
        "2026-03-15T10:20:30+02",
        "03/15/2026 10:20:30",
        "3/15/2026 10:20:30 AM",
        "3/15/2026 10:20:30am",
        NULL
    };

    static const char  *bad[] = {
        "", "x", "2026", "2026-03", "2026-13-01", "2026-00-10", "2026-02-29",
        "2026-04-31", "2026-03-15T24:00:00", "2026-03-15T10:60:00",
        "2026-03-15T10:20:60", "2026-03-15T10", "2026-03-15X", "15.03.2026",
        "2026-03-15T10:20:30 AM", "3/15/2026 13:00 PM", "3/15/2026 0:00 AM",
        "0000-01-01", "3/15/26", "2026-03-15T10:20:30+2", "26-03-15",
        "2026-03-15T10:20:30.", "2026/03/15", "3/15/2026T10:00",
        NULL
    };

    const char  **d;

    for (d = same; *d; d++) {
        if (qlm_t_match("ExpiryDate = '2026-03-15T10:20:30'",
                        "ExpiryDate", *d, NULL) != 1)
        {
            fail_msg("'%s' is not 2026-03-15T10:20:30", *d);
        }
    }

    for (d = bad; *d; d++) {
        if (qlm_t_match("ExpiryDate Is Null", "ExpiryDate", *d, NULL) != 1) {
            fail_msg("'%s' was read as a date", *d);
        }
    }

    /* a date alone is midnight; PM and 12 AM; leap days */
    assert_int_equal(qlm_t_match("OrderDate = '2026-03-15'",
                                 "OrderDate", "2026-03-15T00:00:00", NULL), 1);
    assert_int_equal(qlm_t_match("OrderDate = '2026-03-15T13:05'",
                                 "OrderDate", "3/15/2026 1:05 PM", NULL), 1);
    assert_int_equal(qlm_t_match("OrderDate = '2026-03-15T12:05:00'",
                                 "OrderDate", "3/15/2026 12:05 PM", NULL), 1);
    assert_int_equal(qlm_t_match("OrderDate = '2026-03-15'",
                                 "OrderDate", "3/15/2026 12:00 AM", NULL), 1);
    assert_int_equal(qlm_t_match("OrderDate = '2024-02-29'",
                                 "OrderDate", "2024-02-29", NULL), 1);
    assert_int_equal(qlm_t_match("OrderDate = '2000-02-29'",
                                 "OrderDate", "2000-02-29", NULL), 1);
    assert_int_equal(qlm_t_match("OrderDate Is Null",
                                 "OrderDate", "1900-02-29", NULL), 1);
    assert_int_equal(qlm_t_match("OrderDate < '0001-01-02'",
                                 "OrderDate", "0001-01-01", NULL), 1);
    assert_int_equal(qlm_t_match("OrderDate > '9999-12-31'",
                                 "OrderDate", "9999-12-31T23:59:59", NULL), 1);
}


static void
test_fields(void **state)
{
    int            type;
    size_t         n;
    const char    *names[8], *name;
    qlm_search_t  *s;

    /* aliases, any case, brackets */
    assert_int_equal(qlm_t_match("SubscriptionExpiryDate = '2026-01-01'",
                                 "ExpiryDate", "2026-01-01", NULL), 1);
    assert_int_equal(qlm_t_match("subscriptionexpirydate = '2026-01-01'",
                                 "ExpiryDate", "2026-01-01", NULL), 1);
    assert_int_equal(qlm_t_match("SubscriptionDuration = 30",
                                 "Duration", "30", NULL), 1);
    assert_int_equal(qlm_t_match("Affiliate = 'x'", "AffiliateID", "x",
                                 NULL), 1);
    assert_int_equal(qlm_t_match("EMAIL = 'x'", "Email", "x", NULL), 1);
    assert_int_equal(qlm_t_match("[ExpiryDate] < [today_start]",
                                 "ExpiryDate", "2026-01-01", NULL), 1);
    assert_int_equal(qlm_t_match("[ SubscriptionExpiryDate ] < "
                                 "[today_start]",
                                 "ExpiryDate", "2026-01-01", NULL), 1);
    assert_int_equal(qlm_t_match_customer("[Address1] Is Null", NULL), 1);

    /* customers */
    assert_int_equal(qlm_t_match_customer("Company Like 'acme%' And "
                                          "CustomerID > 10",
                                          "Company", "ACME Inc",
                                          "CustomerID", "11", NULL), 1);
    assert_int_equal(qlm_t_match_customer("Zip = '12345' Or ContactID = 1 "
                                          "Or Fax Is Null Or Phone = '1' "
                                          "Or City = 'x' Or State = 'y' "
                                          "Or Address2 = 'z'", NULL), 1);

    /* the list of fields, canonical, in table order */
    s = qlm_t_compile("SubscriptionExpiryDate > [today_start] And "
                      "email Like '%' And ProductID In (1, 2) And "
                      "[ExpiryDate] Is Not Null And FullName = Email",
                      QLM_SEARCH_LICENSES);

    n = qlm_search_fields(s, names, 8);
    assert_int_equal(n, 4);
    assert_string_equal(names[0], "FullName");
    assert_string_equal(names[1], "Email");
    assert_string_equal(names[2], "ExpiryDate");
    assert_string_equal(names[3], "ProductID");
    assert_int_equal(qlm_search_fields(s, names, 1), 4);
    assert_int_equal(qlm_search_fields(s, NULL, 0), 4);

    qlm_search_free(s);
    qlm_search_free(NULL);

    /* qlm_search_key */
    name = qlm_search_key("subscriptionexpirydate", 22, QLM_SEARCH_LICENSES,
                          &type);
    assert_non_null(name);
    assert_string_equal(name, "ExpiryDate");
    assert_int_equal(type, QLM_SEARCH_DATE);

    name = qlm_search_key("LicenseUpdatedOnServer", 22, QLM_SEARCH_LICENSES,
                          &type);
    assert_int_equal(type, QLM_SEARCH_BOOLEAN);
    name = qlm_search_key("ProductID", 9, QLM_SEARCH_LICENSES, &type);
    assert_int_equal(type, QLM_SEARCH_NUMBER);
    name = qlm_search_key("comment", 7, QLM_SEARCH_CUSTOMERS, &type);
    assert_string_equal(name, "Comment");
    assert_int_equal(type, QLM_SEARCH_TEXT);

    assert_null(qlm_search_key("Company", 7, QLM_SEARCH_LICENSES, NULL));
    assert_null(qlm_search_key("ExpiryDate", 10, QLM_SEARCH_CUSTOMERS, NULL));
    assert_null(qlm_search_key("Affiliate", 9, QLM_SEARCH_CUSTOMERS, NULL));
    assert_null(qlm_search_key("Email", 4, QLM_SEARCH_LICENSES, NULL));
    assert_non_null(qlm_search_key("Company", 7,
                                   QLM_SEARCH_LICENSES | QLM_SEARCH_CUSTOMERS,
                                   NULL));
}


static void
test_callback(void **state)
{
    qlm_search_t    *s;
    qlm_t_record_t   r;

    memset(&r, 0, sizeof(r));

    /* a failing get fails the match */
    r.fail = 1;
    s = qlm_t_compile("ProductID = 1", QLM_SEARCH_LICENSES);
    assert_int_equal(qlm_search_match(s, &qlm_t_clock, qlm_t_get, &r), -1);
    qlm_search_free(s);

    s = qlm_t_compile("1 = 1 And (Not ProductID In (1, 2))",
                      QLM_SEARCH_LICENSES);
    assert_int_equal(qlm_search_match(s, &qlm_t_clock, qlm_t_get, &r), -1);
    qlm_search_free(s);

    /* And stops at the first False, Or at the first True */
    r.fail = 0;
    r.calls = 0;
    s = qlm_t_compile("1 = 2 And ProductID = 1", QLM_SEARCH_LICENSES);
    assert_int_equal(qlm_search_match(s, &qlm_t_clock, qlm_t_get, &r), 0);
    assert_int_equal(r.calls, 0);
    qlm_search_free(s);

    s = qlm_t_compile("1 = 1 Or ProductID = 1", QLM_SEARCH_LICENSES);
    assert_int_equal(qlm_search_match(s, &qlm_t_clock, qlm_t_get, &r), 1);
    assert_int_equal(r.calls, 0);

    /* a compiled search is reusable */
    assert_int_equal(qlm_search_match(s, &qlm_t_clock, qlm_t_get, &r), 1);
    qlm_search_free(s);
}


static void
test_errors(void **state)
{
    size_t              i;
    char               *big;
    qlm_search_t       *s;
    qlm_search_error_t  err;

    qlm_t_error("", 0, "empty search", "empty search at column 1");
    qlm_t_error("   ", 3, "empty search", "empty search at column 4");
    qlm_t_error("Foo = 1", 0, "unknown field",
                "unknown field \"Foo\" at column 1");
    qlm_t_error("ProductID = 1 And Company = 'x'", 18, "unknown field",
                "unknown field \"Company\" at column 19");
    qlm_t_error("ExpiryDate < [tomorrow]", 13, "unknown macro",
                "unknown macro \"[tomorrow]\" at column 14");
    qlm_t_error("ExpiryDate < [today_start + 1 x]", 30,
                "expected a unit: d, h, m, s or M",
                "expected a unit: d, h, m, s or M, found \"x\" at column 31");
    qlm_t_error("ExpiryDate < [today_start+1days]", 27,
                "expected a unit: d, h, m, s or M",
                "expected a unit: d, h, m, s or M, found \"days\" "
                "at column 28");
    qlm_t_error("ExpiryDate < [today_start * 2]", 26,
                "expected + or - in the macro",
                "expected + or - in the macro, found \"*\" at column 27");
    qlm_t_error("ExpiryDate < [today_start +]", 27,
                "expected a number in the macro",
                "expected a number in the macro at column 28");
    qlm_t_error("ExpiryDate < [today_start + d]", 28,
                "expected a number in the macro",
                "expected a number in the macro, found \"d\" at column 29");
    qlm_t_error("ExpiryDate < [today_start + 1234567890]", 28,
                "number too large in the macro",
                "number too large in the macro \"1234567890\" at column 29");
    qlm_t_error("ExpiryDate < [today_start", 13, "unterminated [",
                "unterminated [ at column 14");
    qlm_t_error("FullName = 'abc", 11, "unterminated string",
                "unterminated string at column 12");
    qlm_t_error("FullName = 'it''s", 11, "unterminated string",
                "unterminated string at column 12");
    qlm_t_error("ProductID = 1 And", 17, "expected a value",
                "expected a value, found the end at column 18");
    qlm_t_error("ProductID = And", 12, "expected a value",
                "expected a value, found \"And\" at column 13");
    qlm_t_error("And ProductID = 1", 0, "expected a value",
                "expected a value, found \"And\" at column 1");
    qlm_t_error("ProductID = 1 ProductID = 2", 14,
                "expected And, Or or the end",
                "expected And, Or or the end, found \"ProductID\" "
                "at column 15");
    qlm_t_error("(ProductID = 1", 14, "expected \")\"",
                "expected \")\", found the end at column 15");
    qlm_t_error("(ProductID = 1 Foo", 15, "expected \")\"",
                "expected \")\", found \"Foo\" at column 16");
    qlm_t_error("ProductID = 1)", 13, "expected And, Or or the end",
                "expected And, Or or the end, found \")\" at column 14");
    qlm_t_error("ProductID", 9, "expected an operator",
                "expected an operator, found the end at column 10");
    qlm_t_error("ProductID 5", 10, "expected an operator",
                "expected an operator, found \"5\" at column 11");
    qlm_t_error("ProductID Or 1 = 1", 10, "expected an operator",
                "expected an operator, found \"Or\" at column 11");
    qlm_t_error("ProductID Not = 5", 14, "expected Like, In or Between",
                "expected Like, In or Between, found \"=\" at column 15");
    qlm_t_error("ProductID Is 5", 13, "expected Null",
                "expected Null, found \"5\" at column 14");
    qlm_t_error("ProductID Is Not", 16, "expected Null",
                "expected Null, found the end at column 17");
    qlm_t_error("ProductID = Null", 12,
                "Null only goes in Is Null or Is Not Null",
                "Null only goes in Is Null or Is Not Null at column 13");
    qlm_t_error("ProductID In 1", 13, "expected \"(\"",
                "expected \"(\", found \"1\" at column 14");
    qlm_t_error("ProductID In ()", 14, "expected a value",
                "expected a value, found \")\" at column 15");
    qlm_t_error("ProductID In (1, 2", 18, "expected \",\" or \")\"",
                "expected \",\" or \")\", found the end at column 19");
    qlm_t_error("ProductID In (1 2)", 16, "expected \",\" or \")\"",
                "expected \",\" or \")\", found \"2\" at column 17");
    qlm_t_error("ProductID Between 1 Or 2", 20, "expected And",
                "expected And, found \"Or\" at column 21");
    qlm_t_error("ProductID = 5 ; drop", 14, "unexpected character",
                "unexpected character \";\" at column 15");
    qlm_t_error("ProductID ! 5", 10, "unexpected character",
                "unexpected character \"!\" at column 11");
    qlm_t_error("ProductID = \"5\"", 12, "unexpected character",
                "unexpected character \"\\x22\" at column 13");
    qlm_t_error("ProductID = 5abc", 12, "malformed number",
                "malformed number \"5abc\" at column 13");
    qlm_t_error("ProductID = 1.2.3", 12, "malformed number",
                "malformed number \"1.2.3\" at column 13");
    qlm_t_error("ProductID = - 5", 12, "unexpected character",
                "unexpected character \"-\" at column 13");

    /* types */
    qlm_t_error("ExpiryDate > 5", 13,
                "expected a date: a macro or a string like '2026-11-23' or "
                "'2026-11-23T10:00:00'",
                "expected a date: a macro or a string like '2026-11-23' or "
                "'2026-11-23T10:00:00', found \"5\" at column 14");
    qlm_t_error("ExpiryDate > '2026-02-30'", 13,
                "expected a date: a macro or a string like '2026-11-23' or "
                "'2026-11-23T10:00:00'",
                "expected a date: a macro or a string like '2026-11-23' or "
                "'2026-11-23T10:00:00', found \"'2026-02-30'\" at column 14");
    qlm_t_error("ExpiryDate In ([today_start], 'soon')", 30,
                "expected a date: a macro or a string like '2026-11-23' or "
                "'2026-11-23T10:00:00'",
                "expected a date: a macro or a string like '2026-11-23' or "
                "'2026-11-23T10:00:00', found \"'soon'\" at column 31");
    qlm_t_error("ProductID = 'abc'", 12, "expected a number",
                "expected a number, found \"'abc'\" at column 13");
    qlm_t_error("ProductID = [today_start]", 12, "expected a number",
                "expected a number, found \"[today_start]\" at column 13");
    qlm_t_error("ProductID Between 1 And True", 24, "expected a number",
                "expected a number, found \"True\" at column 25");
    qlm_t_error("Country = True", 10, "expected a string or a number",
                "expected a string or a number, found \"True\" at column 11");
    qlm_t_error("Country > ExpiryDate", 10, "expected a string or a number",
                "expected a string or a number, found \"ExpiryDate\" "
                "at column 11");
    qlm_t_error("UsesAdminEncryption = 2", 22,
                "expected True, False, 1 or 0",
                "expected True, False, 1 or 0, found \"2\" at column 23");
    qlm_t_error("UsesAdminEncryption = 'yes'", 22,
                "expected True, False, 1 or 0",
                "expected True, False, 1 or 0, found \"'yes'\" at column 23");
    qlm_t_error("'abc' = 5", 0, "expected a number",
                "expected a number, found \"'abc'\" at column 1");
    qlm_t_error("True = 'maybe'", 7, "expected True, False, 1 or 0",
                "expected True, False, 1 or 0, found \"'maybe'\" "
                "at column 8");

    /* Like */
    qlm_t_error("ExpiryDate Like '2026%'", 0,
                "expected a text or number field before Like",
                "expected a text or number field before Like, "
                "found \"ExpiryDate\" at column 1");
    qlm_t_error("Email Like Country", 11, "expected a pattern string",
                "expected a pattern string, found \"Country\" at column 12");
    qlm_t_error("Email Like 'a[bc'", 11, "unterminated [ in the Like pattern",
                "unterminated [ in the Like pattern \"'a[bc'\" at column 12");
    qlm_t_error("Email Like 'a[]'", 11, "empty [] in the Like pattern",
                "empty [] in the Like pattern \"'a[]'\" at column 12");
    qlm_t_error("Email Like 'a[^]'", 11, "empty [] in the Like pattern",
                "empty [] in the Like pattern \"'a[^]'\" at column 12");
    qlm_t_error("Email Like 'a!' Escape '!'", 11,
                "Like pattern ends in its escape",
                "Like pattern ends in its escape \"'a!'\" at column 12");
    qlm_t_error("Email Like 'a' Escape '!!'", 22, "expected one character",
                "expected one character, found \"'!!'\" at column 23");
    qlm_t_error("Email Like 'a' Escape ''", 22, "expected one character",
                "expected one character, found \"''\" at column 23");
    qlm_t_error("Email Like 'a' Escape 1", 22, "expected one character",
                "expected one character, found \"1\" at column 23");

    /* depth: 64 levels compile, 65 do not */
    big = malloc(QLM_SEARCH_MAX_LEN + 2);
    assert_non_null(big);

    for (i = 0; i < QLM_SEARCH_MAX_DEPTH; i++) {
        big[i] = '(';
    }

    memcpy(big + i, "1=1", 3);

    for (i = 0; i < QLM_SEARCH_MAX_DEPTH; i++) {
        big[QLM_SEARCH_MAX_DEPTH + 3 + i] = ')';
    }

    assert_int_equal(qlm_search_compile(big, 2 * QLM_SEARCH_MAX_DEPTH + 3,
                                        QLM_SEARCH_LICENSES, &s, &err), 0);
    qlm_search_free(s);

    memmove(big + 1, big, 2 * QLM_SEARCH_MAX_DEPTH + 3);
    big[0] = '(';
    big[2 * QLM_SEARCH_MAX_DEPTH + 4] = ')';
    assert_int_equal(qlm_search_compile(big, 2 * QLM_SEARCH_MAX_DEPTH + 5,
                                        QLM_SEARCH_LICENSES, &s, &err), -1);
    assert_int_equal(err.pos, QLM_SEARCH_MAX_DEPTH);
    assert_string_equal(err.msg, "nested too deep");

    for (i = 0; i < 65; i++) {
        memcpy(big + 4 * i, "Not ", 4);
    }

    memcpy(big + 4 * i, "1=1", 3);
    assert_int_equal(qlm_search_compile(big + 4, 4 * 64 + 3,
                                        QLM_SEARCH_LICENSES, &s, &err), 0);
    assert_int_equal(qlm_search_match(s, NULL, qlm_t_get, NULL), 1);
    qlm_search_free(s);
    assert_int_equal(qlm_search_compile(big, 4 * 65 + 3, QLM_SEARCH_LICENSES,
                                        &s, &err), -1);
    assert_int_equal(err.pos, 4 * 64);
    assert_string_equal(err.msg, "nested too deep");

    /* length: the limit compiles, one more byte does not */
    memset(big, ' ', QLM_SEARCH_MAX_LEN + 1);
    memcpy(big, "1=1", 3);
    assert_int_equal(qlm_search_compile(big, QLM_SEARCH_MAX_LEN,
                                        QLM_SEARCH_LICENSES, &s, &err), 0);
    qlm_search_free(s);
    assert_int_equal(qlm_search_compile(big, QLM_SEARCH_MAX_LEN + 1,
                                        QLM_SEARCH_LICENSES, &s, &err), -1);
    assert_string_equal(err.msg, "search too long");

    /* a long And list evaluates without deep recursion */
    for (i = 0; i + 10 < QLM_SEARCH_MAX_LEN; i += 10) {
        memcpy(big + i, "1=1 And   ", 10);
    }

    memcpy(big + i, "1=1", 3);
    assert_int_equal(qlm_search_compile(big, i + 3, QLM_SEARCH_LICENSES,
                                        &s, &err), 0);
    assert_int_equal(qlm_search_match(s, NULL, qlm_t_get, NULL), 1);
    qlm_search_free(s);

    free(big);
}


static void
test_strerror(void **state)
{
    char                buf[64];
    size_t              n;
    qlm_search_error_t  err;
    const char         *text = "Foo\x01\"\\ = 1";

    /* control bytes, quotes and backslashes escaped */
    err.pos = 0;
    err.len = 6;
    err.msg = "unknown field";
    n = qlm_search_strerror(text, strlen(text), &err, buf, sizeof(buf));
    assert_string_equal(buf,
                        "unknown field \"Foo\\x01\\x22\\x5c\" at column 1");
    assert_int_equal(n, strlen(buf));

    /* truncated as snprintf: the length it wanted */
    n = qlm_search_strerror(text, strlen(text), &err, buf, 10);
    assert_string_equal(buf, "unknown f");
    assert_int_equal(n, strlen("unknown field \"Foo\\x01\\x22\\x5c\" "
                               "at column 1"));
    assert_int_equal(qlm_search_strerror(text, strlen(text), &err, NULL, 0),
                     n);

    /* long tokens are cut */
    text = "Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = 1";
    err.len = 51;
    qlm_search_strerror(text, strlen(text), &err, buf, sizeof(buf));
    assert_string_equal(buf, "unknown field \"Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                             "aaaaaaa...\" at ");

    /* a token outside the text is not shown */
    err.pos = 100;
    err.len = 5;
    qlm_search_strerror(text, strlen(text), &err, buf, sizeof(buf));
    assert_string_equal(buf, "unknown field at column 101");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_comparisons),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_null_logic),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_like),
        cmocka_unit_test(test_in_between),
        cmocka_unit_test(test_macros),
        cmocka_unit_test(test_month_clamping),
        cmocka_unit_test(test_date_macro),
        cmocka_unit_test(test_utc_offset),
        cmocka_unit_test(test_qlm_example),
        cmocka_unit_test(test_record_dates),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_callback),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_strerror)
    };

    return cmocka_run_group_tests_name("qlm_search", tests, NULL, NULL);
}
