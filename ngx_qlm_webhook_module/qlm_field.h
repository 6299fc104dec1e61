
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

/*
 * A fast reader of the small, plain XML answers license servers give:
 * one pass over the bytes that checks them as libxml2 would and lists
 * the elements in document order, no tree built.  It takes only what it
 * can answer exactly as libxml2 with qlm_field_xml() does; for anything
 * else (a DOCTYPE, a processing instruction, an encoding other than
 * UTF-8, a name that is not ASCII, an undeclared prefix, a document
 * that is not well-formed, more than nelts elements or 64 levels) it
 * returns QLM_FIELD_XML_DECLINED and the caller asks libxml2.
 */

#define QLM_FIELD_XML_OK         0
#define QLM_FIELD_XML_DECLINED  -1


typedef struct {
    const unsigned char       *name;         /* the local name */
    size_t                     name_len;
    const unsigned char       *content;      /* between the tags */
    size_t                     content_len;
    unsigned                   plain;        /* the content is its text */
} qlm_field_elt_t;


int qlm_field_xml_scan(const unsigned char *buf, size_t len,
    qlm_field_elt_t *elts, size_t nelts, size_t *n);

/*
 * An element's string value, as xmlNodeGetContent() gives it: the text
 * of its descendants, references and CDATA decoded, line ends made
 * "\n", into out, which has room for content_len bytes (the value is
 * never longer).  Returns its length.
 */
size_t qlm_field_xml_text(const qlm_field_elt_t *elt, unsigned char *out);

/* qlm_field_xml_error() of a scanned document; scratch as for _text() */
int qlm_field_xml_scan_error(const qlm_field_elt_t *elts, size_t n,
    unsigned char *scratch);

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
