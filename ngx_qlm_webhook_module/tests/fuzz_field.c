
/*
 * libFuzzer target for qlm_field: a license server's answer as the
 * module reads it.  The input's first line is a JSON pointer (RFC 6901),
 * the rest the answer, which is read
 *
 *   by the fast XML reader, checked against libxml2 (qlm_field_check.h);
 *   as XML with the module's libxml2 options, then each XPath below (the
 *   kinds conf/qlm.conf and the documentation use) evaluated to a string
 *   in one context, as the module evaluates them, and the error
 *   detection (an "error" element, a root saying "Error");
 *   as JSON with jansson, then the pointer walked and checked against a
 *   second walk built on jansson's own object and array accessors.
 *
 * Run with ASan and UBSan; -timeout catches a walk that does not end.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qlm_field.h"
#include "qlm_field_check.h"


static const char  *qlm_fuzz_xpaths[] = {
    "//pckey",
    "//*[local-name()='pckey']",
    "//*[local-name()='activationKey']",
    "boolean(//*[local-name()='result'][contains(., ' was added')"
        " or contains(., ' was created')])",
    "substring-before(concat(//*[local-name()='keys'], ';'), ';')",
    "/*/@*[1]",
    "count(//*)",
    NULL
};

static xmlXPathCompExprPtr  qlm_fuzz_compiled[8];


static void
qlm_fuzz_quiet(void *data, xmlErrorPtr error)
{
}


static void
qlm_fuzz_quiet_generic(void *ctx, const char *msg, ...)
{
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    size_t  i;

    xmlInitParser();
    xmlSetGenericErrorFunc(NULL, qlm_fuzz_quiet_generic);

    for (i = 0; qlm_fuzz_xpaths[i]; i++) {
        qlm_fuzz_compiled[i] = xmlXPathCompile(
                                   (const xmlChar *) qlm_fuzz_xpaths[i]);

        if (qlm_fuzz_compiled[i] == NULL) {
            abort();
        }
    }

    return 0;
}


/* the pointer's segments, decoded, one by one, without the library */

static json_t *
qlm_fuzz_walk(json_t *root, const unsigned char *p, size_t len)
{
    char                 *key, *end;
    size_t                k, i;
    json_t               *node;
    unsigned long long    n;
    const unsigned char  *last;

    if (len == 0) {
        return root;
    }

    if (p[0] != '/') {
        return NULL;
    }

    key = malloc(len + 1);
    if (key == NULL) {
        abort();
    }

    node = root;
    last = p + len;

    while (p < last && node) {
        p++;
        k = 0;

        while (p < last && *p != '/') {
            if (*p == '~' && p + 1 < last && p[1] == '0') {
                key[k++] = '~';
                p += 2;

            } else if (*p == '~' && p + 1 < last && p[1] == '1') {
                key[k++] = '/';
                p += 2;

            } else {
                key[k++] = (char) *p++;
            }
        }

        key[k] = '\0';

        if (json_is_object(node)) {
            node = json_object_getn(node, key, k);
            continue;
        }

        if (!json_is_array(node) || k == 0 || k > 19
            || (key[0] == '0' && k > 1))
        {
            node = NULL;
            continue;
        }

        for (i = 0; i < k; i++) {
            if (key[i] < '0' || key[i] > '9') {
                break;
            }
        }

        if (i < k) {
            node = NULL;
            continue;
        }

        n = strtoull(key, &end, 10);
        node = (n < json_array_size(node)) ? json_array_get(node, n) : NULL;
    }

    free(key);

    return node;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rc;
    size_t                i, plen;
    json_t               *json, *got, *want;
    xmlChar              *s;
    xmlDocPtr             doc;
    xmlXPathObjectPtr     obj;
    xmlXPathContextPtr    xc;
    const unsigned char  *nl, *pointer, *body;

    nl = memchr(data, '\n', size);

    if (nl) {
        pointer = data;
        plen = nl - data;
        body = nl + 1;

    } else {
        pointer = (const unsigned char *) "/a/0";
        plen = 4;
        body = data;
    }

    size -= body - data;

    rc = qlm_field_text_error(body, size);

    if (rc != QLM_FIELD_NOT_ERROR && rc != QLM_FIELD_ERROR
        && rc != QLM_FIELD_MAYBE_XML)
    {
        __builtin_trap();
    }

    /* the fast reader takes only what it reads as libxml2 does */

    if (qlm_field_check(body, size) < 0) {
        __builtin_trap();
    }

    doc = qlm_field_xml(body, size);

    if (doc) {
        rc = qlm_field_xml_error(doc);

        if (rc != QLM_FIELD_NOT_ERROR && rc != QLM_FIELD_ERROR) {
            __builtin_trap();
        }

        /* as the module does: one context for all the fields */

        xc = xmlXPathNewContext(doc);
        if (xc == NULL) {
            abort();
        }

        xc->error = qlm_fuzz_quiet;

        for (i = 0; qlm_fuzz_xpaths[i]; i++) {
            obj = xmlXPathCompiledEval(qlm_fuzz_compiled[i], xc);

            if (obj) {
                s = xmlXPathCastToString(obj);
                xmlFree(s);
                xmlXPathFreeObject(obj);
            }
        }

        xmlXPathFreeContext(xc);

        xmlFreeDoc(doc);
    }

    json = qlm_field_json(body, size);

    if (json) {
        got = qlm_field_json_pointer(json, pointer, plen);
        want = qlm_fuzz_walk(json, pointer, plen);

        if (got != want) {
            __builtin_trap();
        }

        json_decref(json);
    }

    return 0;
}
