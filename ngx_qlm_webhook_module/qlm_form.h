
/*
 * qlm_form: the fields of an application/x-www-form-urlencoded body (or
 * a query string), for $qlm_webhook_arg_NAME.
 *
 * A plain C library: no nginx headers, no allocation, no global state.
 */


#ifndef _QLM_FORM_H_INCLUDED_
#define _QLM_FORM_H_INCLUDED_


#include <stddef.h>


typedef struct {
    const unsigned char       *name;
    size_t                     name_len;
    const unsigned char       *value;     /* still URL-encoded */
    size_t                     value_len;
} qlm_form_field_t;


/*
 * The fields of a body (or a query string) one by one: each call moves
 * *pos past the next "name=value" with a name that is not empty, sets
 * *field and returns 1; pieces without "=" or with an empty name are
 * skipped.  Returns 0 at the end.  *pos starts at the body.
 */
int qlm_form_next(const unsigned char **pos, const unsigned char *last,
    qlm_form_field_t *field);

/*
 * Finds the first field "name=value" of a body of "&"-separated fields,
 * the name compared without regard to ASCII case, as nginx's $arg_NAME
 * does.  On success points *value into the body, sets *value_len (the
 * value is still URL-encoded) and returns 0; else returns -1.
 */
int qlm_form_find(const unsigned char *body, size_t len,
    const unsigned char *name, size_t name_len,
    const unsigned char **value, size_t *value_len);

/* 1 if a value has a "%" or a "+" to decode, else 0 */
int qlm_form_encoded(const unsigned char *src, size_t len);

/*
 * URL-decodes len bytes of src into dst, which has room for len bytes
 * (the result is never longer): "+" is a space, "%XX" (hex, any case) a
 * byte.  A "%" without two hex digits after it is kept as it is, as
 * browsers decode (WHATWG URL, percent-decode).  Returns the length
 * written; dst may be src.
 */
size_t qlm_form_unescape(unsigned char *dst, const unsigned char *src,
    size_t len);


#endif /* _QLM_FORM_H_INCLUDED_ */
