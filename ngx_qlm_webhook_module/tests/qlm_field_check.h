
/*
 * The fast XML reader of qlm_field against libxml2, on one document:
 * what the reader accepts, libxml2 must accept, with the same elements
 * in the same order, the same local names, the same string values and
 * the same answer to "is it an error".  Shared by fuzz_field.c and
 * test_field.c.
 */


#ifndef _QLM_FIELD_CHECK_H_INCLUDED_
#define _QLM_FIELD_CHECK_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qlm_field.h"


#define QLM_CHECK_ELTS  256


/*
 * 1: the reader took the document and agrees with libxml2; 0: it
 * declined; -1: they differ (why is printed on stderr)
 */

static int
qlm_field_check(const unsigned char *buf, size_t len)
{
    int               rc;
    size_t            n, i, vlen, clen;
    xmlChar          *content;
    xmlDocPtr         doc;
    xmlNodePtr        node, next;
    unsigned char    *scratch;
    qlm_field_elt_t   elts[QLM_CHECK_ELTS];

    if (qlm_field_xml_scan(buf, len, elts, QLM_CHECK_ELTS, &n)
        != QLM_FIELD_XML_OK)
    {
        return 0;
    }

    doc = qlm_field_xml(buf, len);

    if (doc == NULL) {
        fprintf(stderr, "qlm_field_check: the reader took a document "
                "libxml2 refuses\n");
        return -1;
    }

    scratch = malloc(len + 1);
    if (scratch == NULL) {
        abort();
    }

    rc = 1;
    i = 0;
    node = doc->children;

    /* libxml2's elements in document order, against the reader's */

    while (node) {

        if (node->type == XML_ELEMENT_NODE) {
            if (i == n) {
                fprintf(stderr, "qlm_field_check: libxml2 has more than "
                        "%zu elements\n", n);
                rc = -1;
                break;
            }

            if (strlen((const char *) node->name) != elts[i].name_len
                || memcmp(node->name, elts[i].name, elts[i].name_len) != 0)
            {
                fprintf(stderr, "qlm_field_check: element %zu is \"%s\" "
                        "in libxml2, \"%.*s\" in the reader\n", i,
                        (const char *) node->name, (int) elts[i].name_len,
                        (const char *) elts[i].name);
                rc = -1;
                break;
            }

            content = xmlNodeGetContent(node);
            if (content == NULL) {
                abort();
            }

            clen = strlen((const char *) content);
            vlen = qlm_field_xml_text(&elts[i], scratch);

            if (vlen > elts[i].content_len || clen != vlen
                || memcmp(content, scratch, vlen) != 0)
            {
                fprintf(stderr, "qlm_field_check: element %zu \"%s\": "
                        "libxml2 \"%s\", the reader \"%.*s\"\n", i,
                        (const char *) node->name, (const char *) content,
                        (int) vlen, (const char *) scratch);
                xmlFree(content);
                rc = -1;
                break;
            }

            xmlFree(content);
            i++;
        }

        if (node->type == XML_ELEMENT_NODE && node->children) {
            node = node->children;
            continue;
        }

        for ( ;; ) {
            next = node->next;

            if (next) {
                node = next;
                break;
            }

            node = node->parent;

            if (node == NULL || node == (xmlNodePtr) doc) {
                node = NULL;
                break;
            }
        }
    }

    if (rc == 1 && i != n) {
        fprintf(stderr, "qlm_field_check: libxml2 has %zu elements, the "
                "reader %zu\n", i, n);
        rc = -1;
    }

    if (rc == 1 && qlm_field_xml_scan_error(elts, n, scratch)
                   != qlm_field_xml_error(doc))
    {
        fprintf(stderr, "qlm_field_check: libxml2 and the reader differ on "
                "the error\n");
        rc = -1;
    }

    free(scratch);
    xmlFreeDoc(doc);

    return rc;
}


#endif /* _QLM_FIELD_CHECK_H_INCLUDED_ */
