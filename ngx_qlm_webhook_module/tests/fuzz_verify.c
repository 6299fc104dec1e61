
/*
 * libFuzzer target for qlm_verify_parse, the signature headers of
 * incoming webhooks.  The input is a header value, read as each of:
 *
 *   X-QLM-Signature    accepted only as 64 hex digits, given back in
 *                      lower case;
 *   webhook-timestamp  accepted only as digits, with the value strtoll()
 *                      reads (no overflow); the tolerance check agrees
 *                      with one in 128-bit arithmetic for any timestamp,
 *                      now and tolerance (the first bytes of the input);
 *   webhook-signature  every "v1,<44 bytes>" token, space-separated,
 *                      found once and in order, inside the value, and the
 *                      walk ends.
 *
 * Run with ASan and UBSan.
 */


#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qlm_verify_parse.h"


static void
qlm_fuzz_hex(const unsigned char *s, size_t len)
{
    size_t         i;
    int            ok;
    unsigned char  hex[64];

    ok = (len == 64);

    for (i = 0; ok && i < len; i++) {
        ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')
             || (s[i] >= 'A' && s[i] <= 'F');
    }

    if ((qlm_verify_parse_hex(s, len, hex) == 0) != ok) {
        __builtin_trap();
    }

    for (i = 0; ok && i < 64; i++) {
        if (hex[i] != ((s[i] >= 'A' && s[i] <= 'F') ? s[i] | 0x20 : s[i])) {
            __builtin_trap();
        }
    }
}


static void
qlm_fuzz_timestamp(const unsigned char *s, size_t len)
{
    int        ok;
    char       buf[64], *end;
    size_t     i;
    int64_t    ts, now;
    uint64_t   tol;
    long long  v;
    __int128   diff;

    ok = (len > 0);

    for (i = 0; ok && i < len; i++) {
        ok = (s[i] >= '0' && s[i] <= '9');
    }

    ts = -1;

    if (qlm_verify_parse_timestamp(s, len, &ts) == 0) {
        if (!ok || ts < 0) {
            __builtin_trap();
        }

        if (len < sizeof(buf)) {
            memcpy(buf, s, len);
            buf[len] = '\0';
            errno = 0;
            v = strtoll(buf, &end, 10);

            if (errno != 0 || *end != '\0' || v != ts) {
                __builtin_trap();
            }
        }

    } else if (ok && len < sizeof(buf)) {
        /* digits refused: only for a number past INT64_MAX */

        memcpy(buf, s, len);
        buf[len] = '\0';
        errno = 0;
        (void) strtoll(buf, &end, 10);

        if (errno != ERANGE) {
            __builtin_trap();
        }
    }

    /* any two times and a tolerance, from the input's first bytes */

    if (len < 3 * sizeof(int64_t)) {
        return;
    }

    memcpy(&ts, s, sizeof(int64_t));
    memcpy(&now, s + sizeof(int64_t), sizeof(int64_t));
    memcpy(&tol, s + 2 * sizeof(int64_t), sizeof(uint64_t));

    diff = (__int128) ts - (__int128) now;
    if (diff < 0) {
        diff = -diff;
    }

    if (qlm_verify_within(ts, now, tol) != (diff <= (__int128) tol)) {
        __builtin_trap();
    }
}


static void
qlm_fuzz_signatures(const unsigned char *s, size_t len)
{
    size_t                n, want, tok;
    const unsigned char  *p, *last, *b64, *q, *end;

    /* the tokens by a second walk */

    want = 0;
    last = s + len;

    for (q = s; q < last; q = end) {
        while (q < last && *q == ' ') {
            q++;
        }

        for (end = q; end < last && *end != ' '; end++) {
            /* void */
        }

        tok = end - q;

        if (tok == 3 + QLM_VERIFY_B64_LEN && memcmp(q, "v1,", 3) == 0) {
            want++;
        }
    }

    n = 0;
    p = s;
    q = s;

    while (qlm_verify_next_signature(&p, last, &b64)) {
        if (++n > want || b64 < q + 3 || b64 + QLM_VERIFY_B64_LEN != p
            || p > last || memcmp(b64 - 3, "v1,", 3) != 0
            || (b64 - 3 > s && b64[-4] != ' ')
            || (p < last && *p != ' '))
        {
            __builtin_trap();
        }

        q = p;
    }

    if (n != want || p != last) {
        __builtin_trap();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qlm_fuzz_hex(data, size);
    qlm_fuzz_timestamp(data, size);
    qlm_fuzz_signatures(data, size);

    return 0;
}
