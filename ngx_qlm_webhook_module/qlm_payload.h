
/*
 * qlm_payload: the JSON bodies of webhooks, as QLM sends them.
 *
 * A plain C library: no nginx headers, no allocation, no global state.
 * Every function writes into a caller's buffer and returns the number of
 * bytes; with a NULL buffer it only measures, so a caller asks for the
 * length, allocates it, then writes (nginx's pools, or malloc).
 *
 * Output is always valid JSON (RFC 8259), for any input bytes:
 *
 *   strings   '"' and '\' escaped, control characters as \n, \t, ... or
 *             \u00XX (NUL as \u0000), invalid UTF-8 (a stray byte, an
 *             overlong form, a surrogate, a code point past U+10FFFF) as
 *             U+FFFD, one for each byte outside a valid sequence.
 *   numbers   an integer field's value is written as a JSON number only
 *             when it is one: an optional sign, up to 18 digits; leading
 *             zeros are dropped (007 -> 7, -0 -> 0), as QLM's int parser
 *             does.  Anything else (1e999, 1.5, abc, "") goes out as a
 *             JSON string, so that nothing the license server said is lost.
 *   booleans  true, false, 1, 0 (any case) -> true, false; else a string.
 *   dates     the forms qlm_payload_date() reads -> "yyyy-MM-ddTHH:mm:ss",
 *             else a string.
 *
 * Objects list QLM's keys in QLM's order, then keys QLM does not define
 * (as strings) in the order given; a key given twice is written once (the
 * first).  Keys only the other object has (Company in LicenseInfo,
 * ActivationKey in CustomerInfo) are left out.
 */


#ifndef _QLM_PAYLOAD_H_INCLUDED_
#define _QLM_PAYLOAD_H_INCLUDED_


#include <stddef.h>


#define QLM_PAYLOAD_LICENSE       0x01
#define QLM_PAYLOAD_CUSTOMER      0x02

#define QLM_PAYLOAD_STRING        0
#define QLM_PAYLOAD_INT           1
#define QLM_PAYLOAD_BOOL          2
#define QLM_PAYLOAD_DATE          3


typedef struct {
    const unsigned char       *data;
    size_t                     len;
} qlm_payload_str_t;


typedef struct {
    qlm_payload_str_t          name;
    qlm_payload_str_t          value;
} qlm_payload_field_t;


typedef struct {
    const char                *name;
    size_t                     len;
    unsigned                   type;
    unsigned                   objects;   /* QLM_PAYLOAD_LICENSE, ... */
} qlm_payload_key_t;


/* each object's keys in QLM's order, up to a NULL name */
extern const qlm_payload_key_t  qlm_payload_license_keys[];
extern const qlm_payload_key_t  qlm_payload_customer_keys[];


/* the key of the object kind, or NULL */
const qlm_payload_key_t *qlm_payload_key(unsigned kind,
    const unsigned char *name, size_t len);

/* a JSON string, quotes included */
size_t qlm_payload_string(unsigned char *out, const unsigned char *s,
    size_t len);

/* a value as JSON for its type */
size_t qlm_payload_value(unsigned char *out, unsigned type,
    const unsigned char *s, size_t len);

/* "{...}" of the fields for the object kind */
size_t qlm_payload_object(unsigned char *out, unsigned kind,
    const qlm_payload_field_t *fields, size_t n);

/*
 * {"EventType":"...","EventId":"...","Timestamp":"...","LicenseInfo":{...}}
 * with "CustomerInfo" for kind QLM_PAYLOAD_CUSTOMER.
 */
size_t qlm_payload_event(unsigned char *out, unsigned kind,
    const qlm_payload_str_t *event, const qlm_payload_str_t *id,
    const qlm_payload_str_t *timestamp, const qlm_payload_field_t *fields,
    size_t n);

/* at least what qlm_payload_event() writes, with out NULL or not */
size_t qlm_payload_event_max(const qlm_payload_str_t *event,
    const qlm_payload_str_t *id, const qlm_payload_str_t *timestamp,
    const qlm_payload_field_t *fields, size_t n);

/* {"Name":"...","WebHookUserData":"...","LicenseInfo":{...}} */
size_t qlm_payload_task(unsigned char *out, const qlm_payload_str_t *task,
    const qlm_payload_str_t *user_data, const qlm_payload_field_t *fields,
    size_t n);

/*
 * yyyy-MM-dd, yyyy-MM-ddTHH:mm[:ss][.fff][zone], yyyy-MM-dd HH:mm[:ss],
 * and QLM's US form M/d/yyyy [h:mm[:ss] [AM|PM]]: 0 and tm[6] as year,
 * month, day, hour, minute, second; -1 for anything else.
 */
int qlm_payload_date(const unsigned char *s, size_t len, int tm[6]);


#endif /* _QLM_PAYLOAD_H_INCLUDED_ */
