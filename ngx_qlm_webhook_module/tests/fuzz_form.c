
/*
 * libFuzzer target for qlm_form, the parser behind $qlm_webhook_arg_NAME:
 * the input up to its first NUL byte is a field name, the rest a
 * form-encoded body (or the whole input a body with the name "a").
 *
 * Checks: the fields walked one by one are every "name=value" piece with
 * a name, in order, inside the body; a value found lies inside the body,
 * has no "&", follows "name=" at the body's start or after a "&", and no
 * earlier field has that name; decoding never writes past the input's
 * length, never grows it, leaves a value without "%" and "+" as it is,
 * decodes in place the same as into another buffer, and gives back any
 * bytes that were percent-encoded.  Run with ASan and UBSan.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qlm_form.h"


static int
qlm_fuzz_ieq(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t         i;
    unsigned char  x, y;

    for (i = 0; i < n; i++) {
        x = (a[i] >= 'A' && a[i] <= 'Z') ? a[i] | 0x20 : a[i];
        y = (b[i] >= 'A' && b[i] <= 'Z') ? b[i] | 0x20 : b[i];

        if (x != y) {
            return 0;
        }
    }

    return 1;
}


/* a field "name=..." at p, before end */

static int
qlm_fuzz_field(const unsigned char *p, const unsigned char *end,
    const unsigned char *name, size_t name_len)
{
    return (size_t) (end - p) > name_len && p[name_len] == '='
           && qlm_fuzz_ieq(p, name, name_len);
}


static void
qlm_fuzz_find(const unsigned char *body, size_t len,
    const unsigned char *name, size_t name_len)
{
    int                   rc;
    size_t                vlen;
    const unsigned char  *v, *p, *start, *end, *last;

    v = NULL;
    vlen = 0;

    rc = qlm_form_find(body, len, name, name_len, &v, &vlen);

    /* the first field of that name, by a second, simpler walk */

    last = body + len;
    start = NULL;

    for (p = body; p < last; p = end + 1) {
        end = memchr(p, '&', last - p);
        if (end == NULL) {
            end = last;
        }

        if (qlm_fuzz_field(p, end, name, name_len)) {
            start = p;
            break;
        }
    }

    /* names have no "=" and are not empty: such a name is never found */

    if (name_len == 0 || memchr(name, '=', name_len) != NULL) {
        start = NULL;
    }

    if (start == NULL) {
        if (rc != -1) {
            __builtin_trap();
        }

        return;
    }

    if (rc != 0 || v != start + name_len + 1 || v + vlen != end
        || v < body || v + vlen > last || memchr(v, '&', vlen) != NULL)
    {
        __builtin_trap();
    }
}


/* every "name=value" piece with a name, in order, and nothing else */

static void
qlm_fuzz_fields(const unsigned char *body, size_t len)
{
    size_t                want, n;
    qlm_form_field_t      f;
    const unsigned char  *p, *q, *end, *eq, *last, *prev;

    want = 0;
    last = body + len;

    for (q = body; q < last; q = end + 1) {
        end = memchr(q, '&', last - q);
        if (end == NULL) {
            end = last;
        }

        eq = memchr(q, '=', end - q);
        if (eq && eq > q) {
            want++;
        }
    }

    n = 0;
    p = body;
    prev = body;

    while (qlm_form_next(&p, last, &f)) {
        if (++n > want
            || f.name < prev || f.name_len == 0
            || (f.name > body && f.name[-1] != '&')
            || memchr(f.name, '&', f.name_len) != NULL
            || memchr(f.name, '=', f.name_len) != NULL
            || f.value != f.name + f.name_len + 1 || f.value[-1] != '='
            || f.value + f.value_len > last
            || memchr(f.value, '&', f.value_len) != NULL
            || (f.value + f.value_len < last && f.value[f.value_len] != '&')
            || p > last || p < f.value + f.value_len)
        {
            __builtin_trap();
        }

        prev = p;
    }

    if (n != want || p != last) {
        __builtin_trap();
    }
}


static void
qlm_fuzz_unescape(const unsigned char *s, size_t len)
{
    size_t          n, m, i, k;
    unsigned char  *out, *in, *enc, *dec;
    static const char  hex[] = "0123456789ABCDEF";

    /* exactly len bytes: ASan sees a write past them */

    out = malloc(len ? len : 1);
    in = malloc(len ? len : 1);
    enc = malloc(3 * len + 1);
    dec = malloc(3 * len + 1);

    if (out == NULL || in == NULL || enc == NULL || dec == NULL) {
        goto done;
    }

    n = qlm_form_unescape(out, s, len);

    if (n > len) {
        __builtin_trap();
    }

    if (!qlm_form_encoded(s, len) && (n != len || memcmp(out, s, len) != 0))
    {
        __builtin_trap();
    }

    /* in place, the same */

    memcpy(in, s, len);
    m = qlm_form_unescape(in, in, len);

    if (m != n || memcmp(in, out, n) != 0) {
        __builtin_trap();
    }

    /* every byte percent-encoded (a space as "+") comes back as it was */

    for (i = 0, k = 0; i < len; i++) {
        if (s[i] == ' ') {
            enc[k++] = '+';

        } else {
            enc[k++] = '%';
            enc[k++] = hex[s[i] >> 4];
            enc[k++] = (i & 1) ? hex[s[i] & 0xf] | 0x20 : hex[s[i] & 0xf];
        }
    }

    m = qlm_form_unescape(dec, enc, k);

    if (m != len || memcmp(dec, s, len) != 0) {
        __builtin_trap();
    }

done:

    free(out);
    free(in);
    free(enc);
    free(dec);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                name_len;
    const unsigned char  *nul, *body, *name;

    nul = memchr(data, 0, size);

    if (nul) {
        name = data;
        name_len = nul - data;
        body = nul + 1;

    } else {
        name = (const unsigned char *) "a";
        name_len = 1;
        body = data;
    }

    qlm_fuzz_find(body, size - (body - data), name, name_len);
    qlm_fuzz_fields(body, size - (body - data));
    qlm_fuzz_unescape(body, size - (body - data));

    return 0;
}
