
/*
 * qlm_field: what the module reads in a license server's answer: the
 * document (XML with libxml2, JSON with jansson, with the options the
 * module uses), a field by JSON pointer (RFC 6901), and whether the
 * answer says an error.  XPaths are evaluated by libxml2 itself.
 *
 * No nginx headers, so that a fuzzer feeds it any bytes.
 */


#ifndef _QLM_FIELD_H_INCLUDED_
#define _QLM_FIELD_H_INCLUDED_


#include <stddef.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>


#define QLM_FIELD_NOT_ERROR       0
#define QLM_FIELD_ERROR           1
#define QLM_FIELD_MAYBE_XML       2


/* the answer as XML: no network, no entity expansion; NULL if not XML */
xmlDocPtr qlm_field_xml(const unsigned char *buf, size_t len);
/* frees the parser context qlm_field_xml() keeps (at process exit) */
void qlm_field_xml_done(void);

/* the answer as JSON, any value at the top; NULL if not JSON */
json_t *qlm_field_json(const unsigned char *buf, size_t len);

/*
 * RFC 6901: the value a pointer ("" or "/a/0/b~1c") refers to in root, or
 * NULL when there is none (or memory runs out).  An array index is "0"
 * or digits without a leading zero.
 */
json_t *qlm_field_json_pointer(json_t *root, const unsigned char *pointer,
    size_t len);

/*
 * QLM says an error by an answer that starts with "Error" (after a BOM
 * and white space), or by XML: QLM_FIELD_ERROR, QLM_FIELD_MAYBE_XML when
 * the answer starts with "<" (see qlm_field_xml_error()), else
 * QLM_FIELD_NOT_ERROR.
 */
int qlm_field_text_error(const unsigned char *buf, size_t len);

/*
 * In XML: an element named "error" (any case) anywhere, or a root element
 * whose text starts with "Error" (an asmx method answering a string):
 * QLM_FIELD_ERROR, else QLM_FIELD_NOT_ERROR.
 */
int qlm_field_xml_error(xmlDocPtr doc);


#endif /* _QLM_FIELD_H_INCLUDED_ */
