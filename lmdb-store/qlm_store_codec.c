
/*
 * qlm_store: the record formats: items, log records, mirror records and task
 * slots, encoded and decoded with bounds checks.
 */


#include <pthread.h>

#include "qlm_store_int.h"


static uint64_t qlm_store_get_varint_more(qlm_store_buf_t *b);
static void qlm_store_get_str(qlm_store_buf_t *b, qlm_store_str_t *s);
/* what an item's sizing found, for its encoding: not looked for twice */
typedef struct {
    unsigned              event;      /* the event's code, 0: spelled out */
    size_t                packed;     /* the packed body's length, 0: plain */
    const unsigned char  *body;       /* the packed body */
} qlm_store_item_enc_t;


static int qlm_store_item_wsize(const qlm_store_item_t *item,
    qlm_store_scratch_t *sc, size_t *size, qlm_store_item_enc_t *enc);
static void qlm_store_item_encode(const qlm_store_item_t *item,
    const qlm_store_item_enc_t *enc, unsigned char *p);


void
qlm_store_put_str(unsigned char **p, const qlm_store_str_t *s)
{
    qlm_store_put_u32(p, (uint32_t) s->len);

    if (s->len) {
        memcpy(*p, s->data, s->len);
        *p += s->len;
    }

    **p = '\0';
    *p += 1;
}


/* a string as a varint length, the bytes and a NUL */

void
qlm_store_put_vstr(unsigned char **p, const qlm_store_str_t *s)
{
    qlm_store_put_varint(p, s->len);

    if (s->len) {
        memcpy(*p, s->data, s->len);
        *p += s->len;
    }

    **p = '\0';
    *p += 1;
}


/* most varints are one byte: those are read inline */

static inline uint64_t
qlm_store_get_varint(qlm_store_buf_t *b)
{
    if (!b->error && b->pos < b->end && *b->pos < 0x80) {
        return *b->pos++;
    }

    return qlm_store_get_varint_more(b);
}


/* a varint, for the other files: the journal's records */

uint64_t
qlm_store_varint(qlm_store_buf_t *b)
{
    return qlm_store_get_varint(b);
}


static uint64_t
qlm_store_get_varint_more(qlm_store_buf_t *b)
{
    unsigned  shift;
    uint64_t  v, c;

    v = 0;

    for (shift = 0; !b->error && b->pos < b->end; shift += 7) {
        c = *b->pos++;

        /* a 10th byte holds the 64th bit only */

        if (shift == 63 && c > 1) {
            break;
        }

        v |= (c & 0x7f) << shift;

        if (!(c & 0x80)) {
            return v;
        }
    }

    b->error = 1;

    return 0;
}


static void
qlm_store_get_vstr(qlm_store_buf_t *b, qlm_store_str_t *s)
{
    uint64_t  len;

    len = qlm_store_get_varint(b);

    s->len = 0;
    s->data = "";

    if (b->error) {
        return;
    }

    if ((uint64_t) (b->end - b->pos) <= len || b->pos[len] != '\0') {
        b->error = 1;
        return;
    }

    s->len = len;
    s->data = (const char *) b->pos;

    b->pos += len + 1;
}


/* a difference, any sign, small when the two are close */

static uint64_t
qlm_store_zigzag(uint64_t from, uint64_t to)
{
    uint64_t  d;

    d = to - from;

    return (d << 1) ^ (0 - (d >> 63));
}


static uint64_t
qlm_store_unzigzag(uint64_t from, uint64_t z)
{
    return from + ((z >> 1) ^ (0 - (z & 1)));
}


/*
 * Names stored as a code (its index + 1) instead of their bytes: QLM's
 * events and fields.  Stored records depend on these tables: never
 * reorder or remove an entry, only add at the end (below 128, one byte).
 */

#define qlm_store_s(s)  { sizeof(s) - 1, s }

static const qlm_store_str_t  qlm_store_events[] = {
    qlm_store_s("license_activated"),
    qlm_store_s("license_created"),
    qlm_store_s("license_deleted"),
    qlm_store_s("license_released"),
    qlm_store_s("license_modified"),
    qlm_store_s("customer_created"),
    qlm_store_s("customer_deleted"),
    qlm_store_s("customer_modified"),
};

static const qlm_store_str_t  qlm_store_fields[] = {
    qlm_store_s("ActivationKey"),
    qlm_store_s("ComputerID"),
    qlm_store_s("ComputerName"),
    qlm_store_s("ProductID"),
    qlm_store_s("MajorVersion"),
    qlm_store_s("MinorVersion"),
    qlm_store_s("Email"),
    qlm_store_s("FullName"),
    qlm_store_s("Country"),
    qlm_store_s("AffiliateID"),
    qlm_store_s("Duration"),
    qlm_store_s("ExpiryDate"),
    qlm_store_s("UsesAdminEncryption"),
    qlm_store_s("MaintenanceRenewalDate"),
    qlm_store_s("Features"),
    qlm_store_s("OrderID"),
    qlm_store_s("ReceiptID"),
    qlm_store_s("SubscriptionID"),
    qlm_store_s("LicenseModel"),
    qlm_store_s("NumLicenses"),
    qlm_store_s("FloatingSeats"),
    qlm_store_s("UserData"),
    qlm_store_s("NewFeatures"),
    qlm_store_s("NewFloatingSeats"),
    qlm_store_s("Comment"),
    qlm_store_s("LegacyKey"),
    qlm_store_s("AvailableLicenses"),
    qlm_store_s("OrderDate"),
    qlm_store_s("ProductProperties"),
    qlm_store_s("BundleID"),
    qlm_store_s("ProductName"),
    qlm_store_s("MaxReleaseCount"),
    qlm_store_s("MaxReleasePeriodInDays"),
    qlm_store_s("OrganizationID"),
    qlm_store_s("LicenseUpdatedOnServer"),
    qlm_store_s("CustomerID"),
    qlm_store_s("Company"),
    qlm_store_s("Address1"),
    qlm_store_s("Address2"),
    qlm_store_s("City"),
    qlm_store_s("State"),
    qlm_store_s("Zip"),
    qlm_store_s("Phone"),
    qlm_store_s("Fax"),
    qlm_store_s("Mobile"),
    qlm_store_s("IpAddress"),
    qlm_store_s("Notes"),
    qlm_store_s("IncludeInMailList"),
    qlm_store_s("PrivacyConsent"),
    qlm_store_s("ExternalID"),
    qlm_store_s("CreationDate"),
    qlm_store_s("ModifiedDate"),
    qlm_store_s("ContactID"),
    qlm_store_s("EventType"),
    qlm_store_s("EventId"),
    qlm_store_s("Timestamp"),
    qlm_store_s("LicenseInfo"),
    qlm_store_s("CustomerInfo"),
    qlm_store_s("WebHookUserData"),
    qlm_store_s("Name"),
};

#define QLM_STORE_NEVENTS                                                    \
    (sizeof(qlm_store_events) / sizeof(qlm_store_events[0]))
#define QLM_STORE_NFIELDS                                                    \
    (sizeof(qlm_store_fields) / sizeof(qlm_store_fields[0]))


/* 0: not in the table, spelled out */

static unsigned
qlm_store_name_code(const qlm_store_str_t *table, size_t n,
    const qlm_store_str_t *name)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (table[i].len == name->len
            && memcmp(table[i].data, name->data, name->len) == 0)
        {
            return (unsigned) i + 1;
        }
    }

    return 0;
}


/*
 * The fields' codes by a hash of the name (open addressing, 0: empty),
 * made once a process: a body has a dozen keys or more, each looked up.
 */

#define QLM_STORE_HASH_SIZE  256

static unsigned char   qlm_store_field_hash[QLM_STORE_HASH_SIZE];
static pthread_once_t  qlm_store_field_once = PTHREAD_ONCE_INIT;


static unsigned
qlm_store_name_hash(const char *p, size_t len)
{
    return (unsigned) (len * 40 + (unsigned char) p[0] * 10
                       + (unsigned char) p[len / 2]
                       + (unsigned char) p[len - 1])
           % QLM_STORE_HASH_SIZE;
}


static void
qlm_store_field_hash_init(void)
{
    size_t    i;
    unsigned  h;

    for (i = 0; i < QLM_STORE_NFIELDS; i++) {
        h = qlm_store_name_hash(qlm_store_fields[i].data,
                                qlm_store_fields[i].len);

        while (qlm_store_field_hash[h]) {
            h = (h + 1) % QLM_STORE_HASH_SIZE;
        }

        qlm_store_field_hash[h] = (unsigned char) (i + 1);
    }
}


/* the table is made by the caller, once for all of its names */

static inline unsigned
qlm_store_field_code(const char *p, size_t len)
{
    unsigned                code, h;
    const qlm_store_str_t  *f;

    if (len == 0) {
        return 0;
    }

    for (h = qlm_store_name_hash(p, len);
         (code = qlm_store_field_hash[h]) != 0;
         h = (h + 1) % QLM_STORE_HASH_SIZE)
    {
        f = &qlm_store_fields[code - 1];

        if (f->len == len && memcmp(f->data, p, len) == 0) {
            return code;
        }
    }

    return 0;
}


static size_t
qlm_store_name_size(unsigned code, const qlm_store_str_t *name)
{
    if (code) {
        return qlm_store_varint_size(code);
    }

    return 1 + qlm_store_varint_size(name->len) + name->len + 1;
}


static void
qlm_store_put_name(unsigned char **p, unsigned code,
    const qlm_store_str_t *name)
{
    qlm_store_put_varint(p, code);

    if (code == 0) {
        qlm_store_put_vstr(p, name);
    }
}


static void
qlm_store_get_name(qlm_store_buf_t *b, const qlm_store_str_t *table,
    size_t n, qlm_store_str_t *name)
{
    uint64_t  code;

    code = qlm_store_get_varint(b);

    if (b->error || code > n) {
        b->error = 1;
        name->data = "";
        name->len = 0;
        return;
    }

    if (code) {
        *name = table[code - 1];
        return;
    }

    qlm_store_get_vstr(b, name);
}


/*
 * A body, packed: each JSON key that is a name of the fields table, as
 * "Name": after a '{' or a ',', is a 0 byte and the name's code; a 0 byte of
 * the body is 0 0.  Any bytes pack and unpack exactly; out has room for
 * twice the body (all 0 bytes), the packed bytes are never more.
 */

static size_t
qlm_store_body_pack(const qlm_store_str_t *body, unsigned char *out)
{
    size_t                n;
    unsigned              code;
    const unsigned char  *start, *lit, *p, *q, *z, *zero, *end;

    start = (const unsigned char *) body->data;
    end = start + body->len;
    lit = start;
    n = 0;

    /*
     * Only a '"' or a 0 byte is looked at: memchr() finds them, a byte
     * loop was most of the cost of an item.  zero: the next 0 byte, or end.
     */

    (void) pthread_once(&qlm_store_field_once, qlm_store_field_hash_init);

    zero = memchr(start, 0, end - start);

    if (zero == NULL) {
        zero = end;
    }

    p = start;

    for ( ;; ) {

        /*
         * A value's opening quote comes right after its key's ':', and a
         * key's after the ',' that ends a string value: looked at before
         * a memchr() call, which costs more than the two bytes.
         */

        if (p < zero && *p == '"') {
            q = p;

        } else if (p + 1 < zero && p[1] == '"') {
            q = p + 1;

        } else {
            q = memchr(p, '"', zero - p);
        }

        if (q == NULL) {
            if (zero == end) {
                break;
            }

            memcpy(out + n, lit, zero + 1 - lit);
            out[n + (zero + 1 - lit)] = 0;

            n += zero + 1 - lit + 1;
            lit = zero + 1;
            p = lit;

            zero = memchr(p, 0, end - p);

            if (zero == NULL) {
                zero = end;
            }

            continue;
        }

        p = q + 1;

        /* a key: "Name": after '{' or ',' */

        if (q == start || (q[-1] != '{' && q[-1] != ',')) {
            continue;
        }

        z = memchr(q + 1, '"', end - q - 1);

        if (z == NULL || z + 1 == end || z[1] != ':') {
            continue;
        }

        code = qlm_store_field_code((const char *) q + 1, z - q - 1);

        if (code == 0) {
            continue;
        }

        /* a name has no 0 byte: zero is still ahead, past the ':' */

        memcpy(out + n, lit, q - lit);
        out[n + (q - lit)] = 0;
        out[n + (q - lit) + 1] = (unsigned char) code;

        n += q - lit + 2;
        p = z + 2;
        lit = p;
    }

    memcpy(out + n, lit, end - lit);

    return n + (end - lit);
}


/* into out, exactly len bytes and a NUL; 0, or -1 on a bad record */

static int
qlm_store_body_unpack(const unsigned char *p, size_t n, unsigned char *out,
    size_t len)
{
    size_t                 k;
    const unsigned char   *end, *z;
    const qlm_store_str_t  *name;

    end = p + n;
    k = 0;

    while (p < end) {
        z = memchr(p, 0, end - p);

        if (z == NULL) {
            z = end;
        }

        if ((size_t) (z - p) > len - k) {
            return -1;
        }

        memcpy(out + k, p, z - p);
        k += z - p;

        if (z == end) {
            break;
        }

        if (z + 1 == end || z[1] > QLM_STORE_NFIELDS) {
            return -1;
        }

        if (z[1] == 0) {
            if (k == len) {
                return -1;
            }

            out[k++] = 0;

        } else {
            name = &qlm_store_fields[z[1] - 1];

            if (name->len + 3 > len - k) {
                return -1;
            }

            out[k] = '"';
            memcpy(out + k + 1, name->data, name->len);
            out[k + 1 + name->len] = '"';
            out[k + 2 + name->len] = ':';
            k += name->len + 3;
        }

        p = z + 2;
    }

    if (k != len) {
        return -1;
    }

    out[k] = '\0';

    return 0;
}


/*
 * The body in an item: a varint (length << 1 | packed); plain, the bytes
 * and a NUL; packed, a varint of the unpacked length and the packed bytes.
 * Packed when that is shorter.  It is packed once, into sc, where the
 * encoder copies it from: *packed is its length there, 0 when plain.
 */

static int
qlm_store_body_size(const qlm_store_str_t *body, qlm_store_scratch_t *sc,
    size_t *packed, size_t *size)
{
    size_t  plain, n;

    plain = qlm_store_varint_size(body->len << 1) + body->len + 1;

    *packed = 0;
    *size = plain;

    if (body->len == 0) {
        return 0;
    }

    if (qlm_store_scratch_grow(sc, 2 * body->len) != 0) {
        return ENOMEM;
    }

    n = qlm_store_body_pack(body, sc->data);

    if (qlm_store_varint_size(n << 1 | 1) + qlm_store_varint_size(body->len)
        + n < plain)
    {
        *packed = n;
        *size = qlm_store_varint_size(n << 1 | 1)
                + qlm_store_varint_size(body->len) + n;
    }

    return 0;
}


static void
qlm_store_put_body(unsigned char **p, const qlm_store_str_t *body,
    const unsigned char *data, size_t packed)
{
    if (packed == 0) {
        qlm_store_put_varint(p, body->len << 1);

        if (body->len) {
            memcpy(*p, body->data, body->len);
            *p += body->len;
        }

        *(*p)++ = '\0';

        return;
    }

    qlm_store_put_varint(p, packed << 1 | 1);
    qlm_store_put_varint(p, body->len);

    memcpy(*p, data, packed);
    *p += packed;
}


/* sc NULL: the body is not wanted, and is left empty */

static void
qlm_store_get_body(qlm_store_buf_t *b, qlm_store_str_t *body,
    qlm_store_scratch_t *sc)
{
    uint64_t  v, len;

    body->data = "";
    body->len = 0;

    v = qlm_store_get_varint(b);

    if (b->error) {
        return;
    }

    if (!(v & 1)) {
        v >>= 1;

        if ((uint64_t) (b->end - b->pos) <= v || b->pos[v] != '\0') {
            b->error = 1;
            return;
        }

        if (sc) {
            body->data = (const char *) b->pos;
            body->len = v;
        }

        b->pos += v + 1;

        return;
    }

    v >>= 1;
    len = qlm_store_get_varint(b);

    /* a code unpacks to at most 3 + 22 bytes */

    if (b->error || (uint64_t) (b->end - b->pos) < v || len > v * 13) {
        b->error = 1;
        return;
    }

    if (sc) {
        if (qlm_store_scratch_grow(sc, len + 1) != 0) {
            b->error = 1;
            sc->nomem = 1;
            return;
        }

        if (qlm_store_body_unpack(b->pos, v, sc->data, len) != 0) {
            b->error = 1;
            return;
        }

        body->data = (const char *) sc->data;
        body->len = len;
    }

    b->pos += v;
}


int
qlm_store_scratch_grow(qlm_store_scratch_t *sc, size_t size)
{
    unsigned char  *data;

    if (sc->size >= size) {
        return 0;
    }

    data = realloc(sc->data, size);
    if (data == NULL) {
        return ENOMEM;
    }

    sc->data = data;
    sc->size = size;

    return 0;
}


void
qlm_store_scratch_free(qlm_store_scratch_t *sc)
{
    free(sc->data);

    sc->data = NULL;
    sc->size = 0;
}


uint32_t
qlm_store_get_u32(qlm_store_buf_t *b)
{
    uint32_t  v;

    if (b->error || b->end - b->pos < 4) {
        b->error = 1;
        return 0;
    }

    v = (uint32_t) b->pos[0]
        | (uint32_t) b->pos[1] << 8
        | (uint32_t) b->pos[2] << 16
        | (uint32_t) b->pos[3] << 24;

    b->pos += 4;

    return v;
}


uint64_t
qlm_store_get_u64(qlm_store_buf_t *b)
{
    uint64_t  lo, hi;

    lo = qlm_store_get_u32(b);
    hi = qlm_store_get_u32(b);

    return lo | hi << 32;
}


static void
qlm_store_get_str(qlm_store_buf_t *b, qlm_store_str_t *s)
{
    uint32_t  len;

    len = qlm_store_get_u32(b);

    s->len = 0;
    s->data = "";

    if (b->error) {
        return;
    }

    if ((size_t) (b->end - b->pos) < (size_t) len + 1
        || b->pos[len] != '\0')
    {
        b->error = 1;
        return;
    }

    s->len = len;
    s->data = (const char *) b->pos;

    b->pos += (size_t) len + 1;
}


/*
 * An item, version 2: u8 2, varints lease, created, due and updated (these
 * two as a zigzag difference from created), attempt, last_status (as u32),
 * the event (a code, else 0 and its string), then the strings event_id,
 * url, headers, body and last_error.  A string: a varint length, the bytes
 * and a NUL.  Version 1 (still read): u8 1, u64 lease, due, created,
 * updated, u32 attempt, last_status, 6 strings of a u32 length, the bytes
 * and a NUL.
 */

/* at most the record's size: the body counted unpacked */

int
qlm_store_item_size(const qlm_store_item_t *item, size_t *size)
{
    qlm_store_item_enc_t  enc;

    return qlm_store_item_wsize(item, NULL, size, &enc);
}


/*
 * The record's size, and in enc what its encoding needs; the body is
 * packed into sc (sc NULL: not packed, counted plain).
 */

static int
qlm_store_item_wsize(const qlm_store_item_t *item, qlm_store_scratch_t *sc,
    size_t *size, qlm_store_item_enc_t *enc)
{
    int                     rc;
    size_t                  n, body;
    unsigned                i;
    const qlm_store_str_t  *s[6];

    enc->packed = 0;
    enc->body = NULL;

    s[0] = &item->event_id;
    s[1] = &item->event;
    s[2] = &item->url;
    s[3] = &item->headers;
    s[4] = &item->body;
    s[5] = &item->last_error;

    n = 1 + qlm_store_varint_size(item->lease)
        + qlm_store_varint_size(item->created)
        + qlm_store_varint_size(qlm_store_zigzag(item->created, item->due))
        + qlm_store_varint_size(qlm_store_zigzag(item->created,
                                                 item->updated))
        + qlm_store_varint_size(item->attempt)
        + qlm_store_varint_size((uint32_t) item->last_status);

    for (i = 0; i < 6; i++) {
        if (!qlm_store_str_ok(s[i])
            || s[i]->len > SIZE_MAX / 2 - n - QLM_STORE_VSTR_OVERHEAD)
        {
            return QLM_STORE_INVALID;
        }

        if (i == 1) {
            enc->event = qlm_store_name_code(qlm_store_events,
                                             QLM_STORE_NEVENTS, s[i]);
            n += qlm_store_name_size(enc->event, s[i]);
            continue;
        }

        if (i == 4 && sc) {
            rc = qlm_store_body_size(s[i], sc, &enc->packed, &body);
            if (rc != 0) {
                return rc;
            }

            enc->body = sc->data;
            n += body;
            continue;
        }

        if (i == 4) {
            n += qlm_store_varint_size(s[i]->len << 1) + s[i]->len + 1;
            continue;
        }

        n += qlm_store_varint_size(s[i]->len) + s[i]->len + 1;
    }

    *size = n;

    return 0;
}


static void
qlm_store_item_encode(const qlm_store_item_t *item,
    const qlm_store_item_enc_t *enc, unsigned char *p)
{
    *p++ = QLM_STORE_ITEM_V2;

    qlm_store_put_varint(&p, item->lease);
    qlm_store_put_varint(&p, item->created);
    qlm_store_put_varint(&p, qlm_store_zigzag(item->created, item->due));
    qlm_store_put_varint(&p, qlm_store_zigzag(item->created, item->updated));
    qlm_store_put_varint(&p, item->attempt);
    qlm_store_put_varint(&p, (uint32_t) item->last_status);
    qlm_store_put_name(&p, enc->event, &item->event);
    qlm_store_put_vstr(&p, &item->event_id);
    qlm_store_put_vstr(&p, &item->url);
    qlm_store_put_vstr(&p, &item->headers);
    qlm_store_put_body(&p, &item->body, enc->body, enc->packed);
    qlm_store_put_vstr(&p, &item->last_error);
}


static void
qlm_store_item_decode_v2(qlm_store_buf_t *b, qlm_store_item_t *item,
    qlm_store_scratch_t *sc)
{
    uint64_t  due, updated, attempt, status;

    item->lease = qlm_store_get_varint(b);
    item->created = qlm_store_get_varint(b);
    due = qlm_store_get_varint(b);
    updated = qlm_store_get_varint(b);
    attempt = qlm_store_get_varint(b);
    status = qlm_store_get_varint(b);

    if (attempt > UINT32_MAX || status > UINT32_MAX) {
        b->error = 1;
    }

    item->due = qlm_store_unzigzag(item->created, due);
    item->updated = qlm_store_unzigzag(item->created, updated);
    item->attempt = (uint32_t) attempt;
    item->last_status = (int32_t) (uint32_t) status;

    qlm_store_get_name(b, qlm_store_events, QLM_STORE_NEVENTS, &item->event);
    qlm_store_get_vstr(b, &item->event_id);
    qlm_store_get_vstr(b, &item->url);
    qlm_store_get_vstr(b, &item->headers);
    qlm_store_get_body(b, &item->body, sc);
    qlm_store_get_vstr(b, &item->last_error);
}


/*
 * The item's strings point into val, into the map, but a packed body is
 * unpacked into sc, valid until its next use; sc NULL: the body is not
 * wanted and is left empty.
 */

int
qlm_store_item_decode(uint64_t id, const MDB_val *val, qlm_store_item_t *item,
    qlm_store_scratch_t *sc)
{
    qlm_store_buf_t  b;

    b.pos = val->mv_data;
    b.end = b.pos + val->mv_size;
    b.error = 0;

    if (val->mv_size == 0) {
        return QLM_STORE_CORRUPT;
    }

    item->id = id;

    if (*b.pos == QLM_STORE_ITEM_V2) {
        b.pos++;

        if (sc) {
            sc->nomem = 0;
        }

        qlm_store_item_decode_v2(&b, item, sc);

        if (sc && sc->nomem) {
            return ENOMEM;
        }

        if (b.error || b.pos != b.end) {
            return QLM_STORE_CORRUPT;
        }

        item->lease_until = item->lease ? item->due : 0;

        return 0;
    }

    if (val->mv_size < QLM_STORE_ITEM_FIXED || *b.pos != QLM_STORE_ITEM_V1) {
        return QLM_STORE_CORRUPT;
    }

    b.pos++;

    item->lease = qlm_store_get_u64(&b);
    item->due = qlm_store_get_u64(&b);
    item->created = qlm_store_get_u64(&b);
    item->updated = qlm_store_get_u64(&b);
    item->attempt = qlm_store_get_u32(&b);
    item->last_status = (int32_t) qlm_store_get_u32(&b);
    qlm_store_get_str(&b, &item->event_id);
    qlm_store_get_str(&b, &item->event);
    qlm_store_get_str(&b, &item->url);
    qlm_store_get_str(&b, &item->headers);
    qlm_store_get_str(&b, &item->body);
    qlm_store_get_str(&b, &item->last_error);

    if (b.error || b.pos != b.end) {
        return QLM_STORE_CORRUPT;
    }

    if (sc == NULL) {
        item->body.data = "";
        item->body.len = 0;
    }

    item->lease_until = item->lease ? item->due : 0;

    return 0;
}


/*
 * With QLM_STORE_W_RESERVE the item is encoded straight into the page; that
 * is only safe when its strings are not in the map: a put may move or free
 * the page a value read in the same txn lives in.  Otherwise it is encoded
 * into the store's buffer first.  QLM_STORE_W_APPEND: the id is new, from
 * the sequence, so the largest key; the append split leaves full pages
 * behind (a middle split would leave them 8/9 full).  Should it not be the
 * largest, LMDB says MDB_KEYEXIST and a plain put is done.
 */

int
qlm_store_item_write(qlm_store_t *st, MDB_txn *txn, MDB_dbi dbi,
    MDB_cursor *cur, const qlm_store_item_t *item, unsigned flags)
{
    int                    rc;
    size_t                 size;
    MDB_val                key, val;
    unsigned               append;
    unsigned char          id[8];
    qlm_store_item_enc_t   enc;

    rc = qlm_store_item_wsize(item, &st->wpack, &size, &enc);
    if (rc != 0) {
        return rc;
    }

    qlm_store_be64(id, item->id);

    key.mv_data = id;
    key.mv_size = sizeof(id);
    val.mv_size = size;

    append = (flags & QLM_STORE_W_APPEND) ? MDB_APPEND : 0;

    if (flags & QLM_STORE_W_RESERVE) {
        val.mv_data = NULL;

        rc = qlm_store_put(txn, dbi, cur, &key, &val, MDB_RESERVE | append);

        if (rc == MDB_KEYEXIST && append) {
            val.mv_size = size;
            rc = qlm_store_put(txn, dbi, cur, &key, &val, MDB_RESERVE);
        }

        if (rc != 0) {
            return qlm_store_rc(rc);
        }

        qlm_store_item_encode(item, &enc, val.mv_data);

        return 0;
    }

    if (qlm_store_scratch_grow(&st->wrec, size) != 0) {
        return ENOMEM;
    }

    qlm_store_item_encode(item, &enc, st->wrec.data);

    val.mv_data = st->wrec.data;

    rc = qlm_store_put(txn, dbi, cur, &key, &val, append);

    if (rc == MDB_KEYEXIST && append) {
        rc = qlm_store_put(txn, dbi, cur, &key, &val, 0);
    }

    return qlm_store_rc(rc);
}


/* one allocation: the struct, then each string with its NUL */

int
qlm_store_item_copy(const qlm_store_item_t *item, qlm_store_item_t **out)
{
    char                   *p;
    size_t                  size;
    unsigned                i;
    qlm_store_item_t       *copy;
    qlm_store_str_t        *d[6];
    const qlm_store_str_t  *s[6];

    size = sizeof(qlm_store_item_t);

    s[0] = &item->event_id;
    s[1] = &item->event;
    s[2] = &item->url;
    s[3] = &item->headers;
    s[4] = &item->body;
    s[5] = &item->last_error;

    for (i = 0; i < 6; i++) {
        size += s[i]->len + 1;
    }

    copy = malloc(size);
    if (copy == NULL) {
        return ENOMEM;
    }

    *copy = *item;

    d[0] = &copy->event_id;
    d[1] = &copy->event;
    d[2] = &copy->url;
    d[3] = &copy->headers;
    d[4] = &copy->body;
    d[5] = &copy->last_error;

    p = (char *) (copy + 1);

    for (i = 0; i < 6; i++) {
        if (s[i]->len) {
            memcpy(p, s[i]->data, s[i]->len);
        }

        p[s[i]->len] = '\0';

        d[i]->data = p;
        d[i]->len = s[i]->len;

        p += s[i]->len + 1;
    }

    *out = copy;

    return 0;
}


void
qlm_store_item_free(qlm_store_item_t *item)
{
    free(item);
}


int
qlm_store_log_size(const qlm_store_log_t *log, size_t *size)
{
    size_t                  n;
    unsigned                i;
    const qlm_store_str_t  *s[5];

    s[0] = &log->event_id;
    s[1] = &log->event;
    s[2] = &log->url;
    s[3] = &log->error;
    s[4] = &log->answer;

    n = QLM_STORE_LOG_FIXED;

    for (i = 0; i < 5; i++) {
        if (!qlm_store_str_ok(s[i])
            || s[i]->len > SIZE_MAX / 2 - n - QLM_STORE_STR_OVERHEAD)
        {
            return QLM_STORE_INVALID;
        }

        n += s[i]->len + QLM_STORE_STR_OVERHEAD;
    }

    *size = n;

    return 0;
}


int
qlm_store_log_decode(const MDB_val *key, const MDB_val *val,
    qlm_store_log_t *log)
{
    unsigned char    version;
    qlm_store_buf_t  b;

    if (key->mv_size != 16) {
        return QLM_STORE_CORRUPT;
    }

    b.pos = val->mv_data;
    b.end = b.pos + val->mv_size;
    b.error = 0;

    if (val->mv_size < QLM_STORE_LOG_FIXED
        || (*b.pos != QLM_STORE_LOG_V1 && *b.pos != QLM_STORE_LOG_V2))
    {
        return QLM_STORE_CORRUPT;
    }

    version = *b.pos++;

    log->time = qlm_store_get_be64(key->mv_data);
    log->item_id = qlm_store_get_u64(&b);
    log->attempt = qlm_store_get_u32(&b);
    log->status = (int32_t) qlm_store_get_u32(&b);
    log->duration = qlm_store_get_u32(&b);
    log->outcome = qlm_store_get_u32(&b);
    qlm_store_get_str(&b, &log->event_id);
    qlm_store_get_str(&b, &log->event);
    qlm_store_get_str(&b, &log->url);
    qlm_store_get_str(&b, &log->error);

    if (version >= QLM_STORE_LOG_V2) {
        qlm_store_get_str(&b, &log->answer);

    } else {
        log->answer.data = "";
        log->answer.len = 0;
    }

    if (b.error || b.pos != b.end) {
        return QLM_STORE_CORRUPT;
    }

    return 0;
}


int
qlm_store_str_eq(const qlm_store_str_t *a, const qlm_store_str_t *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}


/*
 * A mirror record, version 2: u8 2, u8 deleted, varints updated and n, then
 * n x (name: a code, else 0 and its string; value: a string), strings as
 * in items.  Version 1 (still read): u8 1, u8 deleted, u64 updated, u32 n,
 * n x (name, value) of a u32 length, the bytes and a NUL.  The size sets
 * codes[i], the code of fields[i]'s name, for the encoding.
 */

int
qlm_store_record_size(const qlm_store_record_t *rec,
    const qlm_store_field_t *fields, size_t n, unsigned char *codes,
    size_t *size)
{
    size_t                  i, total;
    const qlm_store_str_t  *name, *value;

    total = 2 + qlm_store_varint_size(rec->updated)
            + qlm_store_varint_size(n);

    (void) pthread_once(&qlm_store_field_once, qlm_store_field_hash_init);

    for (i = 0; i < n; i++) {
        name = &fields[i].name;
        value = &fields[i].value;

        if (!qlm_store_str_ok(name) || !qlm_store_str_ok(value)
            || name->len > SIZE_MAX / 4 - total
            || value->len > SIZE_MAX / 4 - total - name->len
                            - 2 * QLM_STORE_VSTR_OVERHEAD)
        {
            return QLM_STORE_INVALID;
        }

        codes[i] = (unsigned char) qlm_store_field_code(name->data,
                                                        name->len);

        total += qlm_store_name_size(codes[i], name)
                 + qlm_store_varint_size(value->len) + value->len + 1;
    }

    *size = total;

    return 0;
}


void
qlm_store_record_encode(const qlm_store_record_t *rec,
    const qlm_store_field_t *fields, size_t n, const unsigned char *codes,
    unsigned char *p)
{
    size_t  i;

    *p++ = QLM_STORE_RECORD_V2;
    *p++ = rec->deleted ? 1 : 0;

    qlm_store_put_varint(&p, rec->updated);
    qlm_store_put_varint(&p, n);

    for (i = 0; i < n; i++) {
        qlm_store_put_name(&p, codes[i], &fields[i].name);
        qlm_store_put_vstr(&p, &fields[i].value);
    }
}


/* a mirror record: its fields point into val, into the map */

int
qlm_store_record_decode(const MDB_val *key, const MDB_val *val,
    qlm_store_record_t *rec, qlm_store_field_t *fields)
{
    uint64_t         i, n;
    unsigned char    version;
    qlm_store_buf_t  b;

    b.pos = val->mv_data;
    b.end = b.pos + val->mv_size;
    b.error = 0;

    if (val->mv_size < 2
        || (b.pos[0] != QLM_STORE_RECORD_V1
            && b.pos[0] != QLM_STORE_RECORD_V2))
    {
        return QLM_STORE_CORRUPT;
    }

    version = b.pos[0];
    rec->deleted = b.pos[1];
    b.pos += 2;

    if (version == QLM_STORE_RECORD_V2) {
        rec->updated = qlm_store_get_varint(&b);
        n = qlm_store_get_varint(&b);

    } else {
        rec->updated = qlm_store_get_u64(&b);
        n = qlm_store_get_u32(&b);
    }

    if (b.error || n > QLM_STORE_RECORD_FIELDS) {
        return QLM_STORE_CORRUPT;
    }

    for (i = 0; i < n; i++) {
        if (version == QLM_STORE_RECORD_V2) {
            qlm_store_get_name(&b, qlm_store_fields, QLM_STORE_NFIELDS,
                               &fields[i].name);
            qlm_store_get_vstr(&b, &fields[i].value);

        } else {
            qlm_store_get_str(&b, &fields[i].name);
            qlm_store_get_str(&b, &fields[i].value);
        }
    }

    if (b.error || b.pos != b.end) {
        return QLM_STORE_CORRUPT;
    }

    rec->key.data = key->mv_data;
    rec->key.len = key->mv_size;
    rec->fields = fields;
    rec->nfields = n;

    return 0;
}


/* a task slot: its cursor points into val, into the map */

int
qlm_store_task_decode(const MDB_val *val, qlm_store_task_t *task)
{
    qlm_store_buf_t  b;

    b.pos = val->mv_data;
    b.end = b.pos + val->mv_size;
    b.error = 0;

    task->slot = qlm_store_get_u64(&b);
    task->started = qlm_store_get_u64(&b);
    task->last_run = qlm_store_get_u64(&b);

    if (b.error || b.pos >= b.end) {
        return QLM_STORE_CORRUPT;
    }

    task->done = *b.pos++;

    qlm_store_get_str(&b, &task->cursor);

    if (b.error || b.pos != b.end || task->cursor.len > 400) {
        return QLM_STORE_CORRUPT;
    }

    return 0;
}
