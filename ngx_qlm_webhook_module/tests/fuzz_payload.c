
/*
 * libFuzzer target for qlm_payload: the input is read as fields, each
 *
 *     one byte: a key (an index into QLM's keys, or past them: a name
 *               taken from the input), one byte: the value's length,
 *               then the value's bytes,
 *
 * after a first byte that picks the event's object (bit 0: license or
 * customer) and the key table indexed (bit 1).  An event payload and a
 * task payload are built from the fields.  Each must be exactly as long
 * as measured, parse with jansson, hold the object, give every known
 * number key a number or a string, and give back every valid UTF-8
 * string value byte for byte (NUL included).  Run with ASan and UBSan:
 * a write past the measured length is a crash.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "qlm_payload.h"


#define QLM_FUZZ_FIELDS  64


static size_t
qlm_fuzz_nkeys(const qlm_payload_key_t *keys)
{
    size_t  n;

    for (n = 0; keys[n].name; n++) {
        /* void */
    }

    return n;
}


static int
qlm_fuzz_utf8(const unsigned char *s, size_t len)
{
    json_t  *j;

    if (memchr(s, 0, len)) {
        return 0;
    }

    j = json_stringn((const char *) s, len);
    json_decref(j);

    return j != NULL;
}


static void
qlm_fuzz_check(const unsigned char *buf, size_t len, const char *object,
    unsigned kind, const qlm_payload_field_t *f, size_t n)
{
    size_t                    i, j;
    json_t                   *root, *obj, *v, *want;
    json_error_t              err;
    const qlm_payload_key_t  *k;

    root = json_loadb((const char *) buf, len, JSON_ALLOW_NUL, &err);

    if (root == NULL || !json_is_object(root)) {
        __builtin_trap();
    }

    obj = json_object_get(root, object);

    if (!json_is_object(obj)) {
        __builtin_trap();
    }

    for (i = 0; i < n; i++) {
        k = qlm_payload_key(kind, f[i].name.data, f[i].name.len);

        if (k == NULL
            && qlm_payload_key(kind == QLM_PAYLOAD_LICENSE
                               ? QLM_PAYLOAD_CUSTOMER : QLM_PAYLOAD_LICENSE,
                               f[i].name.data, f[i].name.len))
        {
            continue;       /* the other object's key: left out */
        }

        /* the first field of a name is the one written */

        for (j = 0; j < i; j++) {
            if (f[j].name.len == f[i].name.len
                && memcmp(f[j].name.data, f[i].name.data, f[i].name.len)
                   == 0)
            {
                break;
            }
        }

        if (j < i) {
            continue;
        }

        v = NULL;

        {
            char  *name;

            name = malloc(f[i].name.len + 1);
            if (name == NULL) {
                continue;
            }

            memcpy(name, f[i].name.data, f[i].name.len);
            name[f[i].name.len] = '\0';
            v = json_object_get(obj, name);
            free(name);
        }

        if (v == NULL) {
            __builtin_trap();
        }

        if (k && k->type == QLM_PAYLOAD_INT
            && !json_is_integer(v) && !json_is_string(v))
        {
            __builtin_trap();
        }

        if (k && k->type != QLM_PAYLOAD_STRING) {
            continue;
        }

        want = json_stringn((const char *) f[i].value.data, f[i].value.len);

        if (want && !json_equal(want, v)) {
            __builtin_trap();
        }

        json_decref(want);
    }

    json_decref(root);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                    nkeys, n, len, vlen, written;
    unsigned                  kind;
    unsigned char            *buf;
    const uint8_t            *p, *last;
    qlm_payload_str_t         event, id, ts, task, user;
    qlm_payload_field_t       f[QLM_FUZZ_FIELDS];
    const qlm_payload_key_t  *keys;

    if (size < 1) {
        return 0;
    }

    kind = (data[0] & 1) ? QLM_PAYLOAD_CUSTOMER : QLM_PAYLOAD_LICENSE;
    keys = (data[0] & 2) ? qlm_payload_customer_keys
                         : qlm_payload_license_keys;
    nkeys = qlm_fuzz_nkeys(keys);

    p = data + 1;
    last = data + size;
    n = 0;

    while (p + 2 <= last && n < QLM_FUZZ_FIELDS) {
        if (p[0] < nkeys) {
            f[n].name.data = (const unsigned char *) keys[p[0]].name;
            f[n].name.len = keys[p[0]].len;
            vlen = p[1];
            p += 2;

        } else {
            /* a name from the input: its length, then its bytes */
            vlen = p[1];
            p += 2;

            if ((size_t) (last - p) < vlen) {
                break;
            }

            f[n].name.data = p;
            f[n].name.len = vlen;
            p += vlen;

            /*
             * Names come from nginx.conf: valid UTF-8 here, so that two
             * names never meet as the same U+FFFD (the escaping itself
             * is the values' and is fuzzed there).
             */

            if (!qlm_fuzz_utf8(f[n].name.data, f[n].name.len)) {
                continue;
            }

            if (p == last) {
                break;
            }

            vlen = *p++;
        }

        if ((size_t) (last - p) < vlen) {
            vlen = last - p;
        }

        f[n].value.data = p;
        f[n].value.len = vlen;
        p += vlen;
        n++;
    }

    /* the input's first field value also serves as the task's name */

    event.data = (const unsigned char *) "license_created";
    event.len = 15;
    id.data = (const unsigned char *) "0b6f3f2e-8f1c-4a57-9d3e-2c1f00000000";
    id.len = 36;
    ts.data = (const unsigned char *) "2026-11-25T10:00:00";
    ts.len = 19;
    task.data = n ? f[0].value.data : (const unsigned char *) "";
    task.len = n ? f[0].value.len : 0;
    user.data = data;
    user.len = size > 16 ? 16 : size;

    len = qlm_payload_event(NULL, kind, &event, &id, &ts, f, n);
    buf = malloc(len);
    if (buf == NULL) {
        return 0;
    }

    written = qlm_payload_event(buf, kind, &event, &id, &ts, f, n);
    if (written != len
        || len > qlm_payload_event_max(&event, &id, &ts, f, n))
    {
        __builtin_trap();
    }

    qlm_fuzz_check(buf, len, kind == QLM_PAYLOAD_CUSTOMER ? "CustomerInfo"
                                                          : "LicenseInfo",
                   kind, f, n);
    free(buf);

    len = qlm_payload_task(NULL, &task, &user, f, n);
    buf = malloc(len);
    if (buf == NULL) {
        return 0;
    }

    written = qlm_payload_task(buf, &task, &user, f, n);
    if (written != len) {
        __builtin_trap();
    }

    qlm_fuzz_check(buf, len, "LicenseInfo", QLM_PAYLOAD_LICENSE, f, n);
    free(buf);

    return 0;
}
