
/*
 * libFuzzer target for qlm_search: any bytes are compiled with both key
 * tables; what compiles is matched against a few fixed records and clocks,
 * and its error, if any, is formatted.  Nothing may crash, leak or reach
 * undefined behaviour (run with ASan and UBSan).  Three-valued logic is
 * checked too: a search and "Not (search)" never both match a record.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qlm_search.h"


typedef struct {
    const char  *const  *kv;    /* name, value, ..., NULL */
} qlm_fuzz_record_t;


static int
qlm_fuzz_get(void *data, const char *name, size_t len,
    qlm_search_str_t *value)
{
    const char *const   *kv;
    qlm_fuzz_record_t   *r;

    r = data;

    if (strlen(name) != len) {
        __builtin_trap();
    }

    for (kv = r->kv; kv[0]; kv += 2) {
        if (strcmp(kv[0], name) == 0) {
            value->data = kv[1];
            value->len = strlen(kv[1]);
            return 0;
        }
    }

    return 1;
}


static int
qlm_fuzz_fail(void *data, const char *name, size_t len,
    qlm_search_str_t *value)
{
    return -1;
}


static const char *const  qlm_fuzz_full[] = {
    "LicenseUpdatedOnServer", "true",
    "ActivationKey", "A5B3-0Y0M-0B06-AE3H-2B5A-3F4C-C2",
    "FullName", "Ren\xc3\xa9 O'Brien",
    "Country", "Canada ",
    "AffiliateID", "",
    "Email", "rene@example.com",
    "Duration", "365",
    "ExpiryDate", "2026-03-25T00:00:00",
    "UsesAdminEncryption", "0",
    "MaintenanceRenewalDate", "3/15/2027 1:05:00 PM",
    "ProductID", "-1.50",
    "OrderDate", "2026-03-15T10:20:30.123+02:00",
    "Company", "ACME % _ [x]",
    "CustomerID", "007",
    NULL
};

static const char *const  qlm_fuzz_odd[] = {
    "LicenseUpdatedOnServer", "maybe",
    "FullName", "",
    "Email", "\xff\xfe\xc3",
    "Duration", "1e3",
    "ExpiryDate", "2026-02-30",
    "MaintenanceRenewalDate", "",
    "ProductID", "99999999999999999999999999999999.000000000000001",
    "OrderDate", "0001-01-01",
    "MajorVersion", "  -0 ",
    "Comment", "%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
    NULL
};

static const char *const  qlm_fuzz_empty[] = { NULL };


static const qlm_search_clock_t  qlm_fuzz_clocks[] = {
    { 1773578096, 1773489600, 0 },
    { 1773617400, 0, 3600 },
    { -62135596800LL, 253402300799LL, -50400 },
    { INT64_MAX, INT64_MIN, 86400L * 365 }
};


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  m;
    char                 buf[128], *text;
    size_t               i, n;
    const char          *names[64];
    qlm_search_t        *s, *not;
    qlm_fuzz_record_t    r;
    qlm_search_error_t   err;

    static const char *const  *records[] = {
        qlm_fuzz_full, qlm_fuzz_odd, qlm_fuzz_empty
    };

    if (qlm_search_compile((const char *) data, size,
                           QLM_SEARCH_LICENSES | QLM_SEARCH_CUSTOMERS, &s,
                           &err)
        != 0)
    {
        if (s != NULL || err.msg == NULL
            || (err.pos > size && size <= QLM_SEARCH_MAX_LEN))
        {
            __builtin_trap();
        }

        n = qlm_search_strerror((const char *) data, size, &err, buf,
                                sizeof(buf));

        if (strlen(buf) != (n < sizeof(buf) ? n : sizeof(buf) - 1)) {
            __builtin_trap();
        }

        return 0;
    }

    /* "Not (search)": it may not compile, at the depth or length limit */

    not = NULL;
    text = malloc(size + sizeof("Not ()"));

    if (text) {
        memcpy(text, "Not (", 5);
        memcpy(text + 5, data, size);
        text[size + 5] = ')';

        if (qlm_search_compile(text, size + 6,
                               QLM_SEARCH_LICENSES | QLM_SEARCH_CUSTOMERS,
                               &not, &err)
            != 0)
        {
            not = NULL;
        }

        free(text);
    }

    for (i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
        r.kv = records[i];

        for (n = 0; n < sizeof(qlm_fuzz_clocks) / sizeof(qlm_fuzz_clocks[0]);
             n++)
        {
            m = qlm_search_match(s, &qlm_fuzz_clocks[n], qlm_fuzz_get, &r);

            if (m < 0) {
                __builtin_trap();
            }

            if (not
                && qlm_search_match(not, &qlm_fuzz_clocks[n], qlm_fuzz_get,
                                    &r)
                   + m > 1)
            {
                __builtin_trap();
            }
        }

        (void) qlm_search_match(s, NULL, qlm_fuzz_get, &r);
    }

    qlm_search_free(not);

    (void) qlm_search_match(s, &qlm_fuzz_clocks[0], qlm_fuzz_fail, NULL);

    n = qlm_search_fields(s, names, sizeof(names) / sizeof(names[0]));

    for (i = 0; i < n && i < sizeof(names) / sizeof(names[0]); i++) {
        if (qlm_search_key(names[i], strlen(names[i]),
                           QLM_SEARCH_LICENSES | QLM_SEARCH_CUSTOMERS, NULL)
            != names[i])
        {
            __builtin_trap();
        }
    }

    qlm_search_free(s);

    return 0;
}
