
/*
 * qlm_verify_parse: signature headers; see qlm_verify_parse.h.
 */


#include <string.h>

#include "qlm_verify_parse.h"


int
qlm_verify_parse_hex(const unsigned char *p, size_t len, unsigned char *hex)
{
    size_t         i;
    unsigned char  c;

    if (len != 64) {
        return -1;
    }

    /* the same digest in upper case is the same signature */

    for (i = 0; i < 64; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            hex[i] = c;

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            hex[i] = c | 0x20;

        } else {
            return -1;
        }
    }

    return 0;
}


int
qlm_verify_parse_timestamp(const unsigned char *p, size_t len, int64_t *ts)
{
    int      d;
    size_t   i;
    int64_t  n;

    if (len == 0) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        d = p[i] - '0';

        if (n > (INT64_MAX - d) / 10) {
            return -1;
        }

        n = n * 10 + d;
    }

    *ts = n;

    return 0;
}


int
qlm_verify_within(int64_t ts, int64_t now, uint64_t tolerance)
{
    uint64_t  diff;

    /* unsigned: a difference of any two int64_t values fits */

    diff = (ts > now) ? (uint64_t) ts - (uint64_t) now
                      : (uint64_t) now - (uint64_t) ts;

    return diff <= tolerance;
}


int
qlm_verify_next_signature(const unsigned char **pos,
    const unsigned char *last, const unsigned char **b64)
{
    const unsigned char  *p, *end;

    p = *pos;

    while (p < last) {
        while (p < last && *p == ' ') {
            p++;
        }

        for (end = p; end < last && *end != ' '; end++) {
            /* void */
        }

        if ((size_t) (end - p) == 3 + QLM_VERIFY_B64_LEN
            && memcmp(p, "v1,", 3) == 0)
        {
            *b64 = p + 3;
            *pos = end;
            return 1;
        }

        p = end;
    }

    *pos = last;

    return 0;
}
