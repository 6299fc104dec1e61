
/*
 * qlm_field: fields of a license server's answer; see qlm_field.h.
 */


#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "qlm_field.h"


static const unsigned char *qlm_field_skip_space(const unsigned char *p,
    const unsigned char *last);


/*
 * One parser context for the process: a new one costs a dictionary and
 * its set-up at every answer.  Its dictionary keeps every name it has
 * seen, so a context that has seen many is replaced.
 */

#define QLM_FIELD_DICT_MAX  4096

static xmlParserCtxtPtr  qlm_field_ctxt;


xmlDocPtr
qlm_field_xml(const unsigned char *buf, size_t len)
{
    int  options;

    if (len > 0x7fffffff) {
        return NULL;
    }

    /* no network, no entity expansion, no noise */

    options = XML_PARSE_NONET|XML_PARSE_NOERROR|XML_PARSE_NOWARNING
              |XML_PARSE_NOCDATA;

    if (qlm_field_ctxt && xmlDictSize(qlm_field_ctxt->dict)
                          > QLM_FIELD_DICT_MAX)
    {
        xmlFreeParserCtxt(qlm_field_ctxt);
        qlm_field_ctxt = NULL;
    }

    if (qlm_field_ctxt == NULL) {
        qlm_field_ctxt = xmlNewParserCtxt();

        if (qlm_field_ctxt == NULL) {
            return xmlReadMemory((const char *) buf, (int) len, NULL, NULL,
                                 options);
        }
    }

    return xmlCtxtReadMemory(qlm_field_ctxt, (const char *) buf, (int) len,
                             NULL, NULL, options);
}


void
qlm_field_xml_done(void)
{
    if (qlm_field_ctxt) {
        xmlFreeParserCtxt(qlm_field_ctxt);
        qlm_field_ctxt = NULL;
    }
}


json_t *
qlm_field_json(const unsigned char *buf, size_t len)
{
    json_error_t  err;

    return json_loadb((const char *) buf, len, JSON_DECODE_ANY, &err);
}


json_t *
qlm_field_json_pointer(json_t *root, const unsigned char *pointer,
    size_t len)
{
    char                 *key, *q, *k;
    size_t                index;
    json_t               *node;
    const unsigned char  *p, *last, *end;

    if (len == 0) {
        return root;
    }

    if (pointer[0] != '/') {
        return NULL;
    }

    /* a segment, decoded, is never longer than the pointer */

    key = malloc(len);
    if (key == NULL) {
        return NULL;
    }

    node = root;
    p = pointer;
    last = pointer + len;

    while (p < last && node) {

        /* p is at "/" */

        p++;

        for (end = p; end < last && *end != '/'; end++) {
            /* void */
        }

        for (q = key; p < end; p++) {
            if (*p == '~' && p + 1 < end && (p[1] == '0' || p[1] == '1')) {
                *q++ = (p[1] == '0') ? '~' : '/';
                p++;

            } else {
                *q++ = (char) *p;
            }
        }

        if (json_is_object(node)) {
            node = json_object_getn(node, key, q - key);
            continue;
        }

        if (!json_is_array(node)
            || q == key
            || (key[0] == '0' && q - key > 1))
        {
            node = NULL;
            continue;
        }

        index = 0;

        for (k = key; k < q; k++) {
            if (*k < '0' || *k > '9' || index > json_array_size(node)) {
                index = (size_t) -1;
                break;
            }

            index = index * 10 + (*k - '0');
        }

        /* json_array_get() of an index past the end is NULL */

        node = json_array_get(node, index);
    }

    free(key);

    return node;
}


int
qlm_field_text_error(const unsigned char *buf, size_t len)
{
    const unsigned char  *p, *last;

    p = buf;
    last = buf + len;

    if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
    }

    p = qlm_field_skip_space(p, last);

    if (last - p >= 5 && memcmp(p, "Error", 5) == 0) {
        return QLM_FIELD_ERROR;
    }

    if (p < last && *p == '<') {
        return QLM_FIELD_MAYBE_XML;
    }

    return QLM_FIELD_NOT_ERROR;
}


int
qlm_field_xml_error(xmlDocPtr doc)
{
    int                   rc;
    size_t                n;
    xmlChar              *text;
    xmlNodePtr            node, root;
    const unsigned char  *p;

    root = xmlDocGetRootElement(doc);
    if (root == NULL) {
        return QLM_FIELD_NOT_ERROR;
    }

    /*
     * A depth-first walk for an element named "error", into elements
     * only: an entity reference's children are its declaration, in the
     * DTD, whose parents lead back to the root (a walk that never ended)
     */

    node = root;

    while (node) {
        if (node->type == XML_ELEMENT_NODE
            && xmlStrcasecmp(node->name, (const xmlChar *) "error") == 0)
        {
            return QLM_FIELD_ERROR;
        }

        if (node->type == XML_ELEMENT_NODE && node->children) {
            node = node->children;
            continue;
        }

        while (node && node != root && node->next == NULL) {
            node = node->parent;
        }

        if (node == NULL || node == root) {
            break;
        }

        node = node->next;
    }

    /* an asmx method answering a string: <string>Error ...</string> */

    rc = QLM_FIELD_NOT_ERROR;

    text = xmlNodeGetContent(root);

    if (text) {
        n = strlen((const char *) text);
        p = qlm_field_skip_space(text, text + n);

        if ((size_t) (text + n - p) >= 5 && memcmp(p, "Error", 5) == 0) {
            rc = QLM_FIELD_ERROR;
        }

        xmlFree(text);
    }

    return rc;
}


static const unsigned char *
qlm_field_skip_space(const unsigned char *p, const unsigned char *last)
{
    while (p < last && (*p == ' ' || *p == '\r' || *p == '\n' || *p == '\t'))
    {
        p++;
    }

    return p;
}


/*
 * The fast reader.  Everything it accepts, libxml2 (with the options of
 * qlm_field_xml()) accepts too and reads the same way; anything it is
 * not sure of is declined.  tests/fuzz_field.c checks that against
 * libxml2 on every input.
 */

#define QLM_FIELD_XML_MAX      (16 * 1024 * 1024)
#define QLM_FIELD_XML_DEPTH    64
#define QLM_FIELD_XML_NS       32
#define QLM_FIELD_XML_ATTRS    16


typedef struct {
    const unsigned char       *prefix;
    size_t                     len;
    size_t                     depth;
} qlm_field_ns_t;


typedef struct {
    const unsigned char       *last;
    const unsigned char       *name_end;     /* of the last start tag */
    const unsigned char       *colon;
    qlm_field_ns_t             ns[QLM_FIELD_XML_NS];
    size_t                     nns;
} qlm_field_scan_t;


static const unsigned char *qlm_field_xml_decl(const unsigned char *p,
    const unsigned char *last);
static const unsigned char *qlm_field_xml_eq(const unsigned char *p,
    const unsigned char *last, unsigned char *quote);
static const unsigned char *qlm_field_xml_name(const unsigned char *p,
    const unsigned char *last, const unsigned char **colon);
static const unsigned char *qlm_field_xml_tag(qlm_field_scan_t *s,
    const unsigned char *p, size_t depth, int *empty);
static int qlm_field_xml_declared(qlm_field_scan_t *s,
    const unsigned char *prefix, size_t len);
static const unsigned char *qlm_field_xml_ref(const unsigned char *p,
    const unsigned char *last, unsigned long *cp);
static const unsigned char *qlm_field_xml_utf8(const unsigned char *p,
    const unsigned char *last);
static int qlm_field_xml_chars(const unsigned char *p,
    const unsigned char *last);
static const unsigned char *qlm_field_xml_comment(const unsigned char *p,
    const unsigned char *last);
static const unsigned char *qlm_field_find(const unsigned char *p,
    const unsigned char *last, const char *s, size_t n);


#define qlm_field_is_space(c)                                                 \
    ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')

#define qlm_field_starts(p, last, s)                                          \
    ((size_t) ((last) - (p)) >= sizeof(s) - 1                                 \
     && memcmp(p, s, sizeof(s) - 1) == 0)


int
qlm_field_xml_scan(const unsigned char *buf, size_t len,
    qlm_field_elt_t *elts, size_t nelts, size_t *n)
{
    int                   empty, root;
    size_t                depth, count, top, qlen;
    unsigned long         cp;
    qlm_field_elt_t      *e;
    qlm_field_scan_t      s;
    const unsigned char  *p, *last, *q, *colon;
    const unsigned char  *qname[QLM_FIELD_XML_DEPTH];
    size_t                qname_len[QLM_FIELD_XML_DEPTH];
    size_t                open[QLM_FIELD_XML_DEPTH];

    if (len > QLM_FIELD_XML_MAX) {
        return QLM_FIELD_XML_DECLINED;
    }

    p = buf;
    last = buf + len;

    s.last = last;
    s.nns = 0;

    if (qlm_field_starts(p, last, "\xef\xbb\xbf")) {
        p += 3;
    }

    if (last - p >= 6 && memcmp(p, "<?xml", 5) == 0
        && qlm_field_is_space(p[5]))
    {
        p = qlm_field_xml_decl(p + 6, last);
        if (p == NULL) {
            return QLM_FIELD_XML_DECLINED;
        }
    }

    depth = 0;
    count = 0;
    root = 0;

    for ( ;; ) {

        if (depth == 0) {

            /* before and after the root: white space and comments */

            p = qlm_field_skip_space(p, last);

            if (p == last) {
                break;
            }

            if (*p != '<') {
                return QLM_FIELD_XML_DECLINED;
            }

            if (qlm_field_starts(p, last, "<!--")) {
                p = qlm_field_xml_comment(p, last);
                if (p == NULL) {
                    return QLM_FIELD_XML_DECLINED;
                }

                continue;
            }

            if (root) {
                return QLM_FIELD_XML_DECLINED;
            }

        } else {
            top = open[depth - 1];

            while (p < last && *p != '<') {

                if (*p == '&') {
                    p = qlm_field_xml_ref(p, last, &cp);
                    if (p == NULL) {
                        return QLM_FIELD_XML_DECLINED;
                    }

                    elts[top].plain = 0;
                    continue;
                }

                if (*p >= 0x80) {
                    p = qlm_field_xml_utf8(p, last);
                    if (p == NULL) {
                        return QLM_FIELD_XML_DECLINED;
                    }

                    continue;
                }

                if (*p < 0x20) {
                    if (*p == '\r') {
                        elts[top].plain = 0;

                    } else if (*p != '\n' && *p != '\t') {
                        return QLM_FIELD_XML_DECLINED;
                    }

                } else if (*p == ']' && qlm_field_starts(p, last, "]]>")) {
                    return QLM_FIELD_XML_DECLINED;
                }

                p++;
            }

            if (p == last) {
                return QLM_FIELD_XML_DECLINED;
            }

            if (qlm_field_starts(p, last, "<!--")) {
                p = qlm_field_xml_comment(p, last);
                if (p == NULL) {
                    return QLM_FIELD_XML_DECLINED;
                }

                elts[top].plain = 0;
                continue;
            }

            if (qlm_field_starts(p, last, "<![CDATA[")) {
                q = qlm_field_find(p + 9, last, "]]>", 3);

                if (q == NULL || qlm_field_xml_chars(p + 9, q) != 0) {
                    return QLM_FIELD_XML_DECLINED;
                }

                elts[top].plain = 0;
                p = q + 3;
                continue;
            }

            if (p + 1 < last && p[1] == '/') {

                /* the end tag of the element open last, and no other */

                q = qlm_field_xml_name(p + 2, last, &colon);
                qlen = q ? (size_t) (q - (p + 2)) : 0;

                if (q == NULL
                    || qlen != qname_len[depth - 1]
                    || memcmp(p + 2, qname[depth - 1], qlen) != 0)
                {
                    return QLM_FIELD_XML_DECLINED;
                }

                q = qlm_field_skip_space(q, last);

                if (q == last || *q != '>') {
                    return QLM_FIELD_XML_DECLINED;
                }

                elts[top].content_len = p - elts[top].content;

                while (s.nns && s.ns[s.nns - 1].depth == depth) {
                    s.nns--;
                }

                depth--;
                root = (depth == 0);
                p = q + 1;
                continue;
            }

            elts[top].plain = 0;
        }

        /* a start tag */

        if (p + 1 == last || p[1] == '?' || p[1] == '!' || p[1] == '/'
            || count == nelts || depth == QLM_FIELD_XML_DEPTH)
        {
            return QLM_FIELD_XML_DECLINED;
        }

        e = &elts[count];

        q = qlm_field_xml_tag(&s, p, depth + 1, &empty);
        if (q == NULL) {
            return QLM_FIELD_XML_DECLINED;
        }

        qname[depth] = p + 1;
        qname_len[depth] = s.name_end - (p + 1);

        e->name = s.colon ? s.colon + 1 : p + 1;
        e->name_len = s.name_end - e->name;
        e->content = q;
        e->content_len = 0;
        e->plain = 1;

        count++;
        p = q;

        if (empty) {
            while (s.nns && s.ns[s.nns - 1].depth == depth + 1) {
                s.nns--;
            }

            if (depth == 0) {
                root = 1;
            }

            continue;
        }

        open[depth] = count - 1;
        depth++;
    }

    if (!root) {
        return QLM_FIELD_XML_DECLINED;
    }

    *n = count;

    return QLM_FIELD_XML_OK;
}


/* after "<?xml ": version 1.0, then an encoding of UTF-8, a standalone */

static const unsigned char *
qlm_field_xml_decl(const unsigned char *p, const unsigned char *last)
{
    int                   part;
    unsigned char         quote;
    const unsigned char  *v, *start;

    p = qlm_field_skip_space(p, last);

    if (!qlm_field_starts(p, last, "version")) {
        return NULL;
    }

    p += sizeof("version") - 1;
    part = 0;

    for ( ;; ) {

        /* p is after a pseudo-attribute's name */

        p = qlm_field_xml_eq(p, last, &quote);
        if (p == NULL) {
            return NULL;
        }

        for (v = p; p < last && *p != quote; p++) {
            /* void */
        }

        if (p == last) {
            return NULL;
        }

        switch (part) {

        case 0:
            if (p - v != 3 || memcmp(v, "1.0", 3) != 0) {
                return NULL;
            }

            break;

        case 1:
            if (p - v != 5 || strncasecmp((const char *) v, "utf-8", 5) != 0)
            {
                return NULL;
            }

            break;

        default:
            if (!((p - v == 3 && memcmp(v, "yes", 3) == 0)
                  || (p - v == 2 && memcmp(v, "no", 2) == 0)))
            {
                return NULL;
            }
        }

        start = ++p;
        p = qlm_field_skip_space(p, last);

        if (qlm_field_starts(p, last, "?>")) {
            return p + 2;
        }

        if (p == start) {
            return NULL;
        }

        if (part == 0 && qlm_field_starts(p, last, "encoding")) {
            p += sizeof("encoding") - 1;
            part = 1;

        } else if (part < 2 && qlm_field_starts(p, last, "standalone")) {
            p += sizeof("standalone") - 1;
            part = 2;

        } else {
            return NULL;
        }
    }
}


/* after a name: " = " and a quote, which *quote gets; after the quote */

static const unsigned char *
qlm_field_xml_eq(const unsigned char *p, const unsigned char *last,
    unsigned char *quote)
{
    p = qlm_field_skip_space(p, last);

    if (p == last || *p != '=') {
        return NULL;
    }

    p = qlm_field_skip_space(p + 1, last);

    if (p == last || (*p != '"' && *p != '\'')) {
        return NULL;
    }

    *quote = *p;

    return p + 1;
}


/*
 * A name of ASCII letters, digits, ".", "-" and "_" that starts with a
 * letter or "_", with at most one ":" inside it (a prefix): the end of
 * the name, or NULL.
 */

static const unsigned char *
qlm_field_xml_name(const unsigned char *p, const unsigned char *last,
    const unsigned char **colon)
{
    unsigned char  c;

    *colon = NULL;

    for ( ;; ) {
        if (p == last) {
            return NULL;
        }

        c = *p | 0x20;

        if (!((c >= 'a' && c <= 'z') || *p == '_')) {
            return NULL;
        }

        for (p++; p < last; p++) {
            c = *p | 0x20;

            if (!((c >= 'a' && c <= 'z') || (*p >= '0' && *p <= '9')
                  || *p == '_' || *p == '-' || *p == '.'))
            {
                break;
            }
        }

        if (p == last || *p != ':') {
            return p;
        }

        if (*colon) {
            return NULL;
        }

        *colon = p++;
    }
}


/*
 * A start tag at p: its name, attributes and namespace declarations
 * (kept in s for the element's depth); the content's start, or NULL.
 */

static const unsigned char *
qlm_field_xml_tag(qlm_field_scan_t *s, const unsigned char *p, size_t depth,
    int *empty)
{
    size_t                i, j, nattrs, ln, lj;
    unsigned long         cp;
    unsigned char         quote;
    const unsigned char  *last, *name, *end, *colon, *v, *ac, *jc;
    const unsigned char  *attr[QLM_FIELD_XML_ATTRS];
    size_t                attr_len[QLM_FIELD_XML_ATTRS];
    const unsigned char  *attr_colon[QLM_FIELD_XML_ATTRS];

    last = s->last;
    name = p + 1;

    end = qlm_field_xml_name(name, last, &colon);
    if (end == NULL) {
        return NULL;
    }

    if (colon && colon - name == 5 && memcmp(name, "xmlns", 5) == 0) {
        return NULL;
    }

    s->name_end = end;
    s->colon = colon;

    p = end;
    nattrs = 0;

    for ( ;; ) {
        v = p;
        p = qlm_field_skip_space(p, last);

        if (p == last) {
            return NULL;
        }

        if (*p == '>') {
            *empty = 0;
            p++;
            break;
        }

        if (*p == '/') {
            if (p + 1 == last || p[1] != '>') {
                return NULL;
            }

            *empty = 1;
            p += 2;
            break;
        }

        if (p == v || nattrs == QLM_FIELD_XML_ATTRS) {
            return NULL;
        }

        attr[nattrs] = p;

        end = qlm_field_xml_name(p, last, &ac);
        if (end == NULL) {
            return NULL;
        }

        attr_len[nattrs] = end - p;
        attr_colon[nattrs] = ac;

        p = qlm_field_xml_eq(end, last, &quote);
        if (p == NULL) {
            return NULL;
        }

        v = p;

        while (p < last && *p != quote) {
            if (*p == '<') {
                return NULL;
            }

            if (*p == '&') {
                p = qlm_field_xml_ref(p, last, &cp);
                if (p == NULL) {
                    return NULL;
                }

                continue;
            }

            if (*p >= 0x80) {
                p = qlm_field_xml_utf8(p, last);
                if (p == NULL) {
                    return NULL;
                }

                continue;
            }

            if (*p < 0x20 && !qlm_field_is_space(*p)) {
                return NULL;
            }

            p++;
        }

        if (p == last) {
            return NULL;
        }

        /*
         * xmlns:P="URI" declares P for this element and its content;
         * libxml2 refuses some URIs (its own) and leaves P undeclared
         */

        if (attr_len[nattrs] >= 5 && memcmp(attr[nattrs], "xmlns", 5) == 0
            && (qlm_field_find(v, p, "&", 1)
                || qlm_field_find(v, p, "www.w3.org/", 11)))
        {
            return NULL;
        }

        if (ac && ac - attr[nattrs] == 5
            && memcmp(attr[nattrs], "xmlns", 5) == 0)
        {
            ln = end - (ac + 1);

            if (p == v || s->nns == QLM_FIELD_XML_NS
                || (ln == 3 && memcmp(ac + 1, "xml", 3) == 0)
                || (ln == 5 && memcmp(ac + 1, "xmlns", 5) == 0))
            {
                return NULL;
            }

            s->ns[s->nns].prefix = ac + 1;
            s->ns[s->nns].len = ln;
            s->ns[s->nns].depth = depth;
            s->nns++;
        }

        p++;
        nattrs++;
    }

    /* no attribute twice, by name or by local name with a prefix */

    for (i = 0; i < nattrs; i++) {
        ac = attr_colon[i];

        if (ac && !(ac - attr[i] == 5 && memcmp(attr[i], "xmlns", 5) == 0)
            && !qlm_field_xml_declared(s, attr[i], ac - attr[i]))
        {
            return NULL;
        }

        for (j = 0; j < i; j++) {
            jc = attr_colon[j];

            if (attr_len[i] == attr_len[j]
                && memcmp(attr[i], attr[j], attr_len[i]) == 0)
            {
                return NULL;
            }

            if (ac && jc) {
                ln = attr[i] + attr_len[i] - (ac + 1);
                lj = attr[j] + attr_len[j] - (jc + 1);

                if (ln == lj && memcmp(ac + 1, jc + 1, ln) == 0) {
                    return NULL;
                }
            }
        }
    }

    if (colon && !qlm_field_xml_declared(s, name, colon - name)) {
        return NULL;
    }

    return p;
}


static int
qlm_field_xml_declared(qlm_field_scan_t *s, const unsigned char *prefix,
    size_t len)
{
    size_t  i;

    if (len == 3 && memcmp(prefix, "xml", 3) == 0) {
        return 1;
    }

    for (i = 0; i < s->nns; i++) {
        if (s->ns[i].len == len && memcmp(s->ns[i].prefix, prefix, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* "&lt;" ... "&#x10FFFF;" at p: after it, its code point in *cp; or NULL */

static const unsigned char *
qlm_field_xml_ref(const unsigned char *p, const unsigned char *last,
    unsigned long *cp)
{
    int                   hex;
    unsigned long         c;
    const unsigned char  *start;

    p++;

    if (p < last && *p == '#') {
        p++;
        hex = 0;

        if (p < last && *p == 'x') {
            hex = 1;
            p++;
        }

        start = p;
        c = 0;

        for ( /* void */ ; p < last && *p != ';'; p++) {
            if (*p >= '0' && *p <= '9') {
                c = c * (hex ? 16 : 10) + (*p - '0');

            } else if (hex && (*p | 0x20) >= 'a' && (*p | 0x20) <= 'f') {
                c = c * 16 + ((*p | 0x20) - 'a' + 10);

            } else {
                return NULL;
            }

            if (c > 0x10ffff) {
                return NULL;
            }
        }

        if (p == last || p == start
            || !(c == 0x9 || c == 0xa || c == 0xd
                 || (c >= 0x20 && c <= 0xd7ff)
                 || (c >= 0xe000 && c <= 0xfffd)
                 || c >= 0x10000))
        {
            return NULL;
        }

        *cp = c;
        return p + 1;
    }

    if (qlm_field_starts(p, last, "lt;")) {
        *cp = '<';
        return p + 3;
    }

    if (qlm_field_starts(p, last, "gt;")) {
        *cp = '>';
        return p + 3;
    }

    if (qlm_field_starts(p, last, "amp;")) {
        *cp = '&';
        return p + 4;
    }

    if (qlm_field_starts(p, last, "apos;")) {
        *cp = '\'';
        return p + 5;
    }

    if (qlm_field_starts(p, last, "quot;")) {
        *cp = '"';
        return p + 5;
    }

    return NULL;
}


/* one UTF-8 character of XML's (U+FFFE, U+FFFF not) at p: after it */

static const unsigned char *
qlm_field_xml_utf8(const unsigned char *p, const unsigned char *last)
{
    size_t         n, i;
    unsigned long  c;

    if (*p < 0xc2) {
        return NULL;
    }

    if (*p < 0xe0) {
        n = 1;
        c = *p & 0x1f;

    } else if (*p < 0xf0) {
        n = 2;
        c = *p & 0x0f;

    } else if (*p < 0xf5) {
        n = 3;
        c = *p & 0x07;

    } else {
        return NULL;
    }

    if ((size_t) (last - p) <= n) {
        return NULL;
    }

    for (i = 1; i <= n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return NULL;
        }

        c = (c << 6) | (p[i] & 0x3f);
    }

    if ((n == 2 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)
                    || c == 0xfffe || c == 0xffff))
        || (n == 3 && (c < 0x10000 || c > 0x10ffff)))
    {
        return NULL;
    }

    return p + n + 1;
}


/* the characters of a comment or a CDATA section: 0, or -1 */

static int
qlm_field_xml_chars(const unsigned char *p, const unsigned char *last)
{
    while (p < last) {
        if (*p >= 0x80) {
            p = qlm_field_xml_utf8(p, last);
            if (p == NULL) {
                return -1;
            }

            continue;
        }

        if (*p < 0x20 && !qlm_field_is_space(*p)) {
            return -1;
        }

        p++;
    }

    return 0;
}


/* "<!--" at p: after the comment's "-->", which is its only "--" */

static const unsigned char *
qlm_field_xml_comment(const unsigned char *p, const unsigned char *last)
{
    const unsigned char  *q;

    q = qlm_field_find(p + 4, last, "--", 2);

    if (q == NULL || q + 2 == last || q[2] != '>'
        || qlm_field_xml_chars(p + 4, q) != 0)
    {
        return NULL;
    }

    return q + 3;
}


static const unsigned char *
qlm_field_find(const unsigned char *p, const unsigned char *last,
    const char *s, size_t n)
{
    for ( /* void */ ; (size_t) (last - p) >= n; p++) {
        if (*p == (unsigned char) s[0] && memcmp(p, s, n) == 0) {
            return p;
        }
    }

    return NULL;
}


size_t
qlm_field_xml_text(const qlm_field_elt_t *elt, unsigned char *out)
{
    unsigned char         quote, *o;
    unsigned long         cp;
    const unsigned char  *p, *last, *end;

    p = elt->content;
    last = p + elt->content_len;

    if (elt->plain) {
        memcpy(out, p, elt->content_len);
        return elt->content_len;
    }

    o = out;

    while (p < last) {

        if (*p == '&') {
            p = qlm_field_xml_ref(p, last, &cp);

            if (cp < 0x80) {
                *o++ = (unsigned char) cp;

            } else if (cp < 0x800) {
                *o++ = (unsigned char) (0xc0 | (cp >> 6));
                *o++ = (unsigned char) (0x80 | (cp & 0x3f));

            } else if (cp < 0x10000) {
                *o++ = (unsigned char) (0xe0 | (cp >> 12));
                *o++ = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
                *o++ = (unsigned char) (0x80 | (cp & 0x3f));

            } else {
                *o++ = (unsigned char) (0xf0 | (cp >> 18));
                *o++ = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
                *o++ = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
                *o++ = (unsigned char) (0x80 | (cp & 0x3f));
            }

            continue;
        }

        if (*p == '\r') {
            *o++ = '\n';
            p++;

            if (p < last && *p == '\n') {
                p++;
            }

            continue;
        }

        if (*p != '<') {
            *o++ = *p++;
            continue;
        }

        if (qlm_field_starts(p, last, "<!--")) {
            p = qlm_field_find(p + 4, last, "-->", 3) + 3;
            continue;
        }

        if (qlm_field_starts(p, last, "<![CDATA[")) {
            end = qlm_field_find(p + 9, last, "]]>", 3);

            for (p += 9; p < end; p++) {
                if (*p == '\r') {
                    *o++ = '\n';

                    if (p + 1 < end && p[1] == '\n') {
                        p++;
                    }

                    continue;
                }

                *o++ = *p;
            }

            p = end + 3;
            continue;
        }

        /* a descendant's tag: to its ">", passing quoted values */

        for (quote = 0; p < last; p++) {
            if (quote) {
                if (*p == quote) {
                    quote = 0;
                }

            } else if (*p == '"' || *p == '\'') {
                quote = *p;

            } else if (*p == '>') {
                p++;
                break;
            }
        }
    }

    return o - out;
}


int
qlm_field_xml_scan_error(const qlm_field_elt_t *elts, size_t n,
    unsigned char *scratch)
{
    size_t                i, len;
    const unsigned char  *p;

    for (i = 0; i < n; i++) {
        if (elts[i].name_len == 5
            && strncasecmp((const char *) elts[i].name, "error", 5) == 0)
        {
            return QLM_FIELD_ERROR;
        }
    }

    if (n == 0) {
        return QLM_FIELD_NOT_ERROR;
    }

    len = qlm_field_xml_text(&elts[0], scratch);
    p = qlm_field_skip_space(scratch, scratch + len);

    if ((size_t) (scratch + len - p) >= 5 && memcmp(p, "Error", 5) == 0) {
        return QLM_FIELD_ERROR;
    }

    return QLM_FIELD_NOT_ERROR;
}
