
/*
 * qlm_form: the fields of a form-encoded body; see qlm_form.h.
 */


#include "qlm_form.h"


static unsigned char qlm_form_lower(unsigned char c);
static int qlm_form_hex(unsigned char c);


int
qlm_form_find(const unsigned char *body, size_t len,
    const unsigned char *name, size_t name_len,
    const unsigned char **value, size_t *value_len)
{
    size_t                i;
    const unsigned char  *p, *last, *end;

    p = body;
    last = body + len;

    while (p < last) {

        for (end = p; end < last && *end != '&'; end++) {
            /* void */
        }

        if ((size_t) (end - p) > name_len && p[name_len] == '=') {

            for (i = 0; i < name_len; i++) {
                if (qlm_form_lower(p[i]) != qlm_form_lower(name[i])) {
                    break;
                }
            }

            if (i == name_len) {
                *value = p + name_len + 1;
                *value_len = end - *value;
                return 0;
            }
        }

        p = end + 1;
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
