
/*
 * qlm_form: the fields of a form-encoded body; see qlm_form.h.
 */


#include <string.h>

#include "qlm_form.h"


static unsigned char qlm_form_lower(unsigned char c);
static int qlm_form_hex(unsigned char c);


int
qlm_form_next(const unsigned char **pos, const unsigned char *last,
    qlm_form_field_t *field)
{
    const unsigned char  *p, *end, *eq;

    /* memchr() looks at a word of bytes at a time: a query is a few */

    for (p = *pos; p < last; p = end + 1) {

        end = memchr(p, '&', last - p);

        if (end == NULL) {
            end = last;
        }

        eq = memchr(p, '=', end - p);

        if (eq == NULL || eq == p) {
            continue;
        }

        field->name = p;
        field->name_len = eq - p;
        field->value = eq + 1;
        field->value_len = end - (eq + 1);

        *pos = (end < last) ? end + 1 : last;

        return 1;
    }

    *pos = last;

    return 0;
}


int
qlm_form_find(const unsigned char *body, size_t len,
    const unsigned char *name, size_t name_len,
    const unsigned char **value, size_t *value_len)
{
    size_t                i;
    qlm_form_field_t      f;
    const unsigned char  *p;

    p = body;

    while (qlm_form_next(&p, body + len, &f)) {
        if (f.name_len != name_len) {
            continue;
        }

        for (i = 0; i < name_len; i++) {
            if (qlm_form_lower(f.name[i]) != qlm_form_lower(name[i])) {
                break;
            }
        }

        if (i == name_len) {
            *value = f.value;
            *value_len = f.value_len;
            return 0;
        }
    }

    return -1;
}


int
qlm_form_encoded(const unsigned char *src, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (src[i] == '%' || src[i] == '+') {
            return 1;
        }
    }

    return 0;
}


size_t
qlm_form_unescape(unsigned char *dst, const unsigned char *src, size_t len)
{
    int             hi, lo;
    size_t          i, n;
    unsigned char   c;

    n = 0;

    for (i = 0; i < len; i++) {
        c = src[i];

        if (c == '+') {
            c = ' ';

        } else if (c == '%' && len - i > 2) {
            hi = qlm_form_hex(src[i + 1]);
            lo = qlm_form_hex(src[i + 2]);

            if (hi >= 0 && lo >= 0) {
                c = (unsigned char) (hi << 4 | lo);
                i += 2;
            }
        }

        dst[n++] = c;
    }

    return n;
}


static int
qlm_form_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


static unsigned char
qlm_form_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char) (c | 0x20) : c;
}
