
/*
 * qlm_field: fields of a license server's answer; see qlm_field.h.
 */


#include <stdlib.h>
#include <string.h>

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
