
/*
 * qlm_verify_parse: the signature headers of incoming webhooks, parsed
 * without nginx: QLM's X-QLM-Signature (64 hex digits of SHA-256) and
 * the Standard Webhooks webhook-timestamp and webhook-signature.
 *
 * A plain C library: no nginx headers, no allocation, no global state.
 */


#ifndef _QLM_VERIFY_PARSE_H_INCLUDED_
#define _QLM_VERIFY_PARSE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* a base64 HMAC-SHA256, as "v1," carries it */
#define QLM_VERIFY_B64_LEN        44

/*
 * X-QLM-Signature: exactly 64 hex digits, any case; writes them in lower
 * case to hex (64 bytes, not NUL-terminated) and returns 0, else -1.
 */
int qlm_verify_parse_hex(const unsigned char *p, size_t len,
    unsigned char *hex);

/*
 * webhook-timestamp: decimal digits, nothing else (no sign, no space), a
 * number up to INT64_MAX; sets *ts and returns 0, else -1.
 */
int qlm_verify_parse_timestamp(const unsigned char *p, size_t len,
    int64_t *ts);

/* 1 if ts is within tolerance seconds of now, either way, else 0 */
int qlm_verify_within(int64_t ts, int64_t now, uint64_t tolerance);

/*
 * webhook-signature: "v1,<base64>" signatures separated by spaces.  Each
 * call moves *pos past the next signature of the form "v1," followed by
 * QLM_VERIFY_B64_LEN bytes and points *b64 at those bytes, returning 1;
 * others (other versions, other lengths) are skipped.  Returns 0 at the
 * end.
 */
int qlm_verify_next_signature(const unsigned char **pos,
    const unsigned char *last, const unsigned char **b64);


#endif /* _QLM_VERIFY_PARSE_H_INCLUDED_ */
