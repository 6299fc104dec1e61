
/*
 * qlm_payload: the JSON bodies of webhooks (see qlm_payload.h).
 *
 * Hand-written rather than built with jansson: one pass to measure, one to
 * write straight into the caller's buffer, no allocation a node; the
 * benchmark and the fuzzer that checks every output with jansson's parser
 * are in tests/ (docs/architecture.md has the figures).
 */


#include <string.h>
#include <strings.h>

#include "qlm_payload.h"


#define S  QLM_PAYLOAD_STRING
#define I  QLM_PAYLOAD_INT
#define B  QLM_PAYLOAD_BOOL
#define D  QLM_PAYLOAD_DATE
#define L  QLM_PAYLOAD_LICENSE
#define C  QLM_PAYLOAD_CUSTOMER
#define K(name)  name, sizeof(name) - 1


/* LicenseInfo, in QLM's order (its scheduled-task example) */

const qlm_payload_key_t  qlm_payload_license_keys[] = {
    { K("LicenseUpdatedOnServer"), B, L },
    { K("ActivationKey"), S, L },
    { K("FullName"), S, L },
    { K("Country"), S, L },
    { K("AffiliateID"), S, L },
    { K("Email"), S, L },
    { K("Duration"), I, L },
    { K("ExpiryDate"), D, L },
    { K("UsesAdminEncryption"), B, L },
    { K("MaintenanceRenewalDate"), D, L },
    { K("Features"), S, L },
    { K("OrderID"), S, L },
    { K("ReceiptID"), S, L },
    { K("SubscriptionID"), S, L },
    { K("LicenseModel"), I, L },
    { K("ProductID"), I, L },
    { K("MajorVersion"), I, L },
    { K("MinorVersion"), I, L },
    { K("NumLicenses"), I, L },
    { K("FloatingSeats"), I, L },
    { K("UserData"), S, L },
    { K("NewFeatures"), S, L },
    { K("NewFloatingSeats"), I, L },
    { K("ComputerID"), S, L },
    { K("ComputerName"), S, L },
    { K("Comment"), S, L },
    { K("LegacyKey"), S, L },
    { K("AvailableLicenses"), I, L },
    { K("OrderDate"), D, L },
    { K("ProductProperties"), S, L },
    { K("BundleID"), S, L },              /* a string in QLM's example */
    { K("ProductName"), S, L },
    { K("MaxReleaseCount"), I, L },
    { K("MaxReleasePeriodInDays"), I, L },
    { K("OrganizationID"), I, L },
    { NULL, 0, 0, 0 }
};


/*
 * CustomerInfo: the customer object's identity, then its fields in the
 * order of QLM's UpdateUserEx3 arguments, then its other properties
 * (IQlmCustomerInfo).
 */

const qlm_payload_key_t  qlm_payload_customer_keys[] = {
    { K("CustomerID"), I, C },
    { K("FullName"), S, C },
    { K("Email"), S, C },
    { K("Company"), S, C },
    { K("Address1"), S, C },
    { K("Address2"), S, C },
    { K("City"), S, C },
    { K("State"), S, C },
    { K("Zip"), S, C },
    { K("Country"), S, C },
    { K("Phone"), S, C },
    { K("Fax"), S, C },
    { K("Mobile"), S, C },
    { K("IpAddress"), S, C },
    { K("Notes"), S, C },
    { K("IncludeInMailList"), B, C },
    { K("AffiliateID"), S, C },
    { K("PrivacyConsent"), B, C },
    { K("OrganizationID"), I, C },
    { K("UserData"), S, C },
    { K("ExternalID"), S, C },
    { K("CreationDate"), D, C },
    { K("ModifiedDate"), D, C },
    { NULL, 0, 0, 0 }
};

#undef S
#undef I
#undef B
#undef D
#undef L
#undef C
#undef K


static size_t qlm_payload_utf8(const unsigned char *p,
    const unsigned char *last);
static size_t qlm_payload_int(unsigned char *out, const unsigned char *s,
    size_t len);
static size_t qlm_payload_put(unsigned char *out, size_t at,
    const void *data, size_t len);
static size_t qlm_payload_member(unsigned char *out, size_t at, int first,
    const qlm_payload_str_t *name, size_t vlen, const unsigned char *vjson);


/*
 * Each object's keys by a hash of the name (open addressing; a key's index
 * plus one, 0: empty), made at the first lookup: a payload looks up every
 * field's name, and a task's run makes a payload a matching license.  The
 * callers are single-threaded (nginx's event loop, the tools and tests).
 */

#define QLM_PAYLOAD_HASH  128          /* a power of two, twice the keys */

static unsigned char  qlm_payload_license_hash[QLM_PAYLOAD_HASH];
static unsigned char  qlm_payload_customer_hash[QLM_PAYLOAD_HASH];
static int            qlm_payload_hash_ready;


static unsigned
qlm_payload_hash(const unsigned char *name, size_t len)
{
    return (unsigned) (len * 31 + name[0] * 7 + name[len - 1])
           & (QLM_PAYLOAD_HASH - 1);
}


static void
qlm_payload_hash_keys(const qlm_payload_key_t *keys, unsigned char *hash)
{
    unsigned                  h;
    const qlm_payload_key_t  *k;

    for (k = keys; k->name; k++) {
        h = qlm_payload_hash((const unsigned char *) k->name, k->len);

        while (hash[h]) {
            h = (h + 1) & (QLM_PAYLOAD_HASH - 1);
        }

        hash[h] = (unsigned char) (k - keys + 1);
    }
}


const qlm_payload_key_t *
qlm_payload_key(unsigned kind, const unsigned char *name, size_t len)
{
    unsigned                  h;
    unsigned char            *hash;
    const qlm_payload_key_t  *keys, *k;

    if (!qlm_payload_hash_ready) {
        qlm_payload_hash_keys(qlm_payload_license_keys,
                              qlm_payload_license_hash);
        qlm_payload_hash_keys(qlm_payload_customer_keys,
                              qlm_payload_customer_hash);
        qlm_payload_hash_ready = 1;
    }

    if (len == 0) {
        return NULL;
    }

    if (kind == QLM_PAYLOAD_CUSTOMER) {
        keys = qlm_payload_customer_keys;
        hash = qlm_payload_customer_hash;

    } else {
        keys = qlm_payload_license_keys;
        hash = qlm_payload_license_hash;
    }

    for (h = qlm_payload_hash(name, len);
         hash[h];
         h = (h + 1) & (QLM_PAYLOAD_HASH - 1))
    {
        k = &keys[hash[h] - 1];

        if (k->len == len && memcmp(k->name, name, len) == 0) {
            return k;
        }
    }

    return NULL;
}


/* the length of the valid UTF-8 sequence at p (RFC 3629), 0 if none */

static size_t
qlm_payload_utf8(const unsigned char *p, const unsigned char *last)
{
    size_t         n, i;
    unsigned char  lo, hi;

    if (p[0] < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;

        if (p[0] == 0xe0) {
            lo = 0xa0;                  /* no overlong forms */

        } else if (p[0] == 0xed) {
            hi = 0x9f;                  /* no surrogates */
        }

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;

        if (p[0] == 0xf0) {
            lo = 0x90;

        } else if (p[0] == 0xf4) {
            hi = 0x8f;                  /* not past U+10FFFF */
        }

    } else {
        return 0;
    }

    if ((size_t) (last - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


size_t
qlm_payload_string(unsigned char *out, const unsigned char *s, size_t len)
{
    size_t                n, k;
    unsigned char         c, esc[6];
    const unsigned char  *p, *last, *run;

    static const char     hex[] = "0123456789abcdef";

    n = 0;
    p = s;
    last = s + len;

    if (out) {
        out[n] = '"';
    }

    n++;

    while (p < last) {
        c = *p;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {

            /* a run of bytes as they are, copied at once */

            for (run = p + 1; run < last; run++) {
                c = *run;

                if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) {
                    break;
                }
            }

            if (out) {
                memcpy(out + n, p, run - p);
            }

            n += run - p;
            p = run;
            continue;
        }

        if (c >= 0x80) {
            k = qlm_payload_utf8(p, last);

            if (k == 0) {
                /* U+FFFD for a byte outside a valid sequence */
                n += qlm_payload_put(out, n, "\xef\xbf\xbd", 3);
                p++;

            } else {
                n += qlm_payload_put(out, n, p, k);
                p += k;
            }

            continue;
        }

        esc[0] = '\\';
        k = 2;

        switch (c) {
        case '"':  esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0x0f];
            k = 6;
        }

        n += qlm_payload_put(out, n, esc, k);
        p++;
    }

    if (out) {
        out[n] = '"';
    }

    return n + 1;
}


/* an optional sign and up to 18 digits, leading zeros dropped; else 0 */

static size_t
qlm_payload_int(unsigned char *out, const unsigned char *s, size_t len)
{
    size_t                n;
    int                   neg;
    const unsigned char  *p, *last, *digits;

    p = s;
    last = s + len;
    neg = 0;

    if (p < last && (*p == '-' || *p == '+')) {
        neg = (*p == '-');
        p++;
    }

    if (p == last) {
        return 0;
    }

    for (digits = p; digits < last; digits++) {
        if (*digits < '0' || *digits > '9') {
            return 0;
        }
    }

    while (p < last - 1 && *p == '0') {
        p++;
    }

    n = last - p;

    if (n > 18) {
        return 0;
    }

    if (n == 1 && *p == '0') {
        neg = 0;                        /* -0 is 0 */
    }

    if (out) {
        if (neg) {
            *out++ = '-';
        }

        memcpy(out, p, n);
    }

    return n + neg;
}


size_t
qlm_payload_value(unsigned char *out, unsigned type, const unsigned char *s,
    size_t len)
{
    int            tm[6];
    size_t         n;
    unsigned char  buf[sizeof("\"yyyy-mm-ddThh:mm:ss\"") - 1];

    switch (type) {

    case QLM_PAYLOAD_INT:
        n = qlm_payload_int(out, s, len);
        if (n) {
            return n;
        }

        break;

    case QLM_PAYLOAD_BOOL:
        if ((len == 4 && strncasecmp((const char *) s, "true", 4) == 0)
            || (len == 1 && s[0] == '1'))
        {
            return qlm_payload_put(out, 0, "true", 4);
        }

        if ((len == 5 && strncasecmp((const char *) s, "false", 5) == 0)
            || (len == 1 && s[0] == '0'))
        {
            return qlm_payload_put(out, 0, "false", 5);
        }

        break;

    case QLM_PAYLOAD_DATE:
        if (qlm_payload_date(s, len, tm) != 0) {
            break;
        }

        /* a year of four digits and checked ranges: no printf needed */

        buf[0] = '"';
        buf[1] = (unsigned char) ('0' + tm[0] / 1000);
        buf[2] = (unsigned char) ('0' + tm[0] / 100 % 10);
        buf[3] = (unsigned char) ('0' + tm[0] / 10 % 10);
        buf[4] = (unsigned char) ('0' + tm[0] % 10);

        for (n = 1; n < 6; n++) {
            buf[3 * n + 2] = (unsigned char) (n < 3 ? '-' : n == 3 ? 'T'
                                                               : ':');
            buf[3 * n + 3] = (unsigned char) ('0' + tm[n] / 10);
            buf[3 * n + 4] = (unsigned char) ('0' + tm[n] % 10);
        }

        buf[20] = '"';

        return qlm_payload_put(out, 0, buf, sizeof(buf));

    default:
        break;
    }

    return qlm_payload_string(out, s, len);
}


static size_t
qlm_payload_put(unsigned char *out, size_t at, const void *data, size_t len)
{
    if (out) {
        memcpy(out + at, data, len);
    }

    return len;
}


/* ,"name":value at out + at; the value is written by the caller */

static size_t
qlm_payload_member(unsigned char *out, size_t at, int first,
    const qlm_payload_str_t *name, size_t vlen, const unsigned char *vjson)
{
    size_t  n;

    n = at;

    if (!first) {
        n += qlm_payload_put(out, n, ",", 1);
    }

    n += qlm_payload_string(out ? out + n : NULL, name->data, name->len);
    n += qlm_payload_put(out, n, ":", 1);

    if (vjson) {
        n += qlm_payload_put(out, n, vjson, vlen);
    }

    return n - at;
}


/* more keys than either object has (35 and 23) */
#define QLM_PAYLOAD_NKEYS  64


size_t
qlm_payload_object(unsigned char *out, unsigned kind,
    const qlm_payload_field_t *fields, size_t n)
{
    int                       first, done;
    size_t                    len, i, j, at[QLM_PAYLOAD_NKEYS];
    unsigned                  other;
    qlm_payload_str_t         name;
    const qlm_payload_key_t  *keys, *k;

    len = qlm_payload_put(out, 0, "{", 1);
    first = 1;
    other = (kind == QLM_PAYLOAD_CUSTOMER) ? QLM_PAYLOAD_LICENSE
                                           : QLM_PAYLOAD_CUSTOMER;

    keys = (kind == QLM_PAYLOAD_CUSTOMER) ? qlm_payload_customer_keys
                                          : qlm_payload_license_keys;

    /* each key's first field (n: none), a lookup a field */

    for (k = keys; k->name; k++) {
        at[k - keys] = n;
    }

    for (i = 0; i < n; i++) {
        k = qlm_payload_key(kind, fields[i].name.data, fields[i].name.len);

        if (k && at[k - keys] == n) {
            at[k - keys] = i;
        }
    }

    /* QLM's keys in QLM's order */

    for (k = keys; k->name; k++) {
        i = at[k - keys];

        if (i == n) {
            continue;
        }

        name.data = (const unsigned char *) k->name;
        name.len = k->len;

        len += qlm_payload_member(out, len, first, &name, 0, NULL);
        len += qlm_payload_value(out ? out + len : NULL, k->type,
                                 fields[i].value.data, fields[i].value.len);
        first = 0;
    }

    /* keys QLM does not define, in the order given, each name once */

    for (i = 0; i < n; i++) {
        if (qlm_payload_key(kind, fields[i].name.data, fields[i].name.len)
            || qlm_payload_key(other, fields[i].name.data,
                               fields[i].name.len))
        {
            continue;
        }

        done = 0;

        for (j = 0; j < i; j++) {
            if (fields[j].name.len == fields[i].name.len
                && memcmp(fields[j].name.data, fields[i].name.data,
                          fields[i].name.len) == 0)
            {
                done = 1;
                break;
            }
        }

        if (done) {
            continue;
        }

        len += qlm_payload_member(out, len, first, &fields[i].name, 0, NULL);
        len += qlm_payload_string(out ? out + len : NULL,
                                  fields[i].value.data, fields[i].value.len);
        first = 0;
    }

    len += qlm_payload_put(out, len, "}", 1);

    return len;
}


size_t
qlm_payload_event(unsigned char *out, unsigned kind,
    const qlm_payload_str_t *event, const qlm_payload_str_t *id,
    const qlm_payload_str_t *timestamp, const qlm_payload_field_t *fields,
    size_t n)
{
    size_t                len;
    qlm_payload_str_t     object;

    object.data = (const unsigned char *)
                  (kind == QLM_PAYLOAD_CUSTOMER ? "CustomerInfo"
                                                : "LicenseInfo");
    object.len = strlen((const char *) object.data);

    len = qlm_payload_put(out, 0, "{\"EventType\":", 13);
    len += qlm_payload_string(out ? out + len : NULL, event->data,
                              event->len);
    len += qlm_payload_put(out, len, ",\"EventId\":", 11);
    len += qlm_payload_string(out ? out + len : NULL, id->data, id->len);
    len += qlm_payload_put(out, len, ",\"Timestamp\":", 13);
    len += qlm_payload_string(out ? out + len : NULL, timestamp->data,
                              timestamp->len);
    len += qlm_payload_put(out, len, ",", 1);
    len += qlm_payload_string(out ? out + len : NULL, object.data,
                              object.len);
    len += qlm_payload_put(out, len, ":", 1);
    len += qlm_payload_object(out ? out + len : NULL, kind, fields, n);
    len += qlm_payload_put(out, len, "}", 1);

    return len;
}


/*
 * A string's byte is at most six bytes of JSON ("\u001f", or three for
 * U+FFFD), and a number, a boolean or a date is shorter than six times
 * its text: the event fits in this many bytes, written in one pass.
 */

size_t
qlm_payload_event_max(const qlm_payload_str_t *event,
    const qlm_payload_str_t *id, const qlm_payload_str_t *timestamp,
    const qlm_payload_field_t *fields, size_t n)
{
    size_t  len, i;

    len = sizeof("{\"EventType\":\"\",\"EventId\":\"\",\"Timestamp\":\"\","
                 "\"CustomerInfo\":{}}")
          + 6 * (event->len + id->len + timestamp->len);

    /* ,"name":value */

    for (i = 0; i < n; i++) {
        len += 6 + 6 * (fields[i].name.len + fields[i].value.len);
    }

    return len;
}


size_t
qlm_payload_task(unsigned char *out, const qlm_payload_str_t *task,
    const qlm_payload_str_t *user_data, const qlm_payload_field_t *fields,
    size_t n)
{
    size_t  len;

    len = qlm_payload_put(out, 0, "{\"Name\":", 8);
    len += qlm_payload_string(out ? out + len : NULL, task->data, task->len);
    len += qlm_payload_put(out, len, ",\"WebHookUserData\":", 19);
    len += qlm_payload_string(out ? out + len : NULL, user_data->data,
                              user_data->len);
    len += qlm_payload_put(out, len, ",\"LicenseInfo\":", 15);
    len += qlm_payload_object(out ? out + len : NULL, QLM_PAYLOAD_LICENSE,
                              fields, n);
    len += qlm_payload_put(out, len, "}", 1);

    return len;
}


int
qlm_payload_date(const unsigned char *s, size_t len, int tm[6])
{
    int                   n[6], i, k, t;
    const unsigned char  *p, *last;

    p = s;
    last = s + len;

    memset(n, 0, sizeof(n));

    for (i = 0; i < 6 && p < last; i++) {

        if (*p < '0' || *p > '9') {
            break;
        }

        for (k = 0; p < last && *p >= '0' && *p <= '9' && k < 5; p++, k++) {
            n[i] = n[i] * 10 + (*p - '0');
        }

        if (p == last) {
            i++;
            break;
        }

        if (*p == '-' || *p == '/' || *p == ':' || *p == 'T' || *p == ' ') {
            p++;
            continue;
        }

        i++;
        break;
    }

    if (i < 3) {
        return -1;
    }

    if (n[0] >= 1000) {
        tm[0] = n[0];
        tm[1] = n[1];
        tm[2] = n[2];

    } else if (n[2] >= 1000) {
        tm[0] = n[2];
        tm[1] = n[0];
        tm[2] = n[1];

    } else {
        return -1;
    }

    tm[3] = n[3];
    tm[4] = n[4];
    tm[5] = n[5];

    while (p < last && *p == ' ') {
        p++;
    }

    if (last - p >= 2 && (p[1] == 'M' || p[1] == 'm')) {
        t = tm[3];

        if ((p[0] == 'P' || p[0] == 'p') && t < 12) {
            tm[3] = t + 12;

        } else if ((p[0] == 'A' || p[0] == 'a') && t == 12) {
            tm[3] = 0;
        }
    }

    if (tm[0] > 9999 || tm[1] < 1 || tm[1] > 12 || tm[2] < 1 || tm[2] > 31
        || tm[3] > 23 || tm[4] > 59 || tm[5] > 60)
    {
        return -1;
    }

    return 0;
}
