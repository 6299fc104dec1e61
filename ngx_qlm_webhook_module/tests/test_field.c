
/*
 * qlm_field's fast XML reader: the answers it must take (QLM's, SOAP's)
 * and what it must leave to libxml2, each document also checked against
 * libxml2 (qlm_field_check.h): the same elements, names, string values
 * and error answer.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "qlm_field.h"
#include "qlm_field_check.h"


typedef struct {
    const char  *doc;
    int          taken;
} qlm_t_doc_t;


static const qlm_t_doc_t  qlm_t_taken[] = {

    /* QLM's answers, as its HTTP GET API and asmx SOAP give them */

    { "<?xml version=\"1.0\" encoding=\"utf-8\"?><QuickLicenseManager "
      "xmlns=\"http://www.soraco.co/qlm\"><pckey>A-B</pckey>"
      "</QuickLicenseManager>", 1 },
    { "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap="
      "\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
      "<GetActivationKeyResponse xmlns=\"http://tempuri.org/\">"
      "<activationKey>K</activationKey><keys>A;B</keys>"
      "</GetActivationKeyResponse></soap:Body></soap:Envelope>", 1 },
    { "\xef\xbb\xbf<?xml version='1.0' standalone='yes' ?>\r\n<a>\r\n"
      "<b x='1' y=\"a&amp;b &#x3c;\">t&lt;&gt;&amp;&apos;&quot;&#65;&#xe9;"
      "</b><!-- c --><c/><d><![CDATA[<raw>&amp;\r\n]]></d></a>\n", 1 },
    { "<error>Error: the key is not valid</error>", 1 },
    { "<string xmlns=\"http://tempuri.org/\">  Error 12</string>", 1 },
    { "<r><Error/></r>", 1 },
    { "<r><x:e xmlns:x=\"u\"><x:f>1</x:f></x:e><g xml:lang=\"en\">2</g></r>",
      1 },
    { "<r>caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80</r>", 1 },
    { "<!-- before --><r a = 'v' >x</r ><!-- after -->  ", 1 },
    { "<r>&#x10000;&#13;a\rb</r>", 1 },
    { "<_r-1.2><a/><a>2</a><a>3</a></_r-1.2>", 1 },

    /* what the reader leaves to libxml2, well-formed or not */

    { "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>\xe9</r>", 0 },
    { "<?xml version=\"1.1\"?><r/>", 0 },
    { "<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>", 0 },
    { "<r>&e;</r>", 0 },
    { "<r><?pi x?></r>", 0 },
    { "<p:r/>", 0 },
    { "<r xmlns:p=\"\"><p:a/></r>", 0 },
    { "<r xmlns:p=\"http://www.w3.org/XML/1998/namespace\"><p:a/></r>", 0 },
    { "<r a=\"1\" a=\"2\"/>", 0 },
    { "<r xmlns:p=\"u\" xmlns:q=\"u\" p:a=\"1\" q:a=\"2\"/>", 0 },
    { "<r a=\"1\"b=\"2\"/>", 0 },
    { "<r a=\"<\"/>", 0 },
    { "<r><a></r></a>", 0 },
    { "<r>", 0 },
    { "<r/><r/>", 0 },
    { "x<r/>", 0 },
    { "<r/>x", 0 },
    { "", 0 },
    { "  ", 0 },
    { "<r>]]></r>", 0 },
    { "<r>\x01</r>", 0 },
    { "<r>\xc3</r>", 0 },
    { "<r>\xc0\x80</r>", 0 },
    { "<r>\xed\xa0\x80</r>", 0 },
    { "<r>\xef\xbf\xbe</r>", 0 },
    { "<r>&#0;</r>", 0 },
    { "<r>&#xd800;</r>", 0 },
    { "<r>&#X41;</r>", 0 },
    { "<r>&#x110000;</r>", 0 },
    { "<r><!-- a -- b --></r>", 0 },
    { "<r><!-- a ---></r>", 0 },
    { "<1r/>", 0 },
    { "<r:/>", 0 },
    { "<a:b:c xmlns:a=\"u\"/>", 0 },
    { "<\xc3\xa9/>", 0 },
    { " <?xml version=\"1.0\"?><r/>", 0 },
    { NULL, 0 }
};


static void
test_documents(void **state)
{
    int                 rc;
    size_t              i;
    const qlm_t_doc_t  *d;

    for (i = 0; qlm_t_taken[i].doc; i++) {
        d = &qlm_t_taken[i];

        rc = qlm_field_check((const unsigned char *) d->doc, strlen(d->doc));

        if (rc != d->taken) {
            fail_msg("document %zu (%s): %s", i, d->doc,
                     rc < 0 ? "the reader and libxml2 differ"
                     : rc ? "taken, should be declined"
                     : "declined, should be taken");
        }
    }
}


static void
test_values(void **state)
{
    size_t            n, len;
    unsigned char     out[256];
    qlm_field_elt_t   e[16];
    const char       *doc;

    doc = "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"s\"><soap:Body>"
          "<R xmlns=\"t\"><activationKey>K&amp;1</activationKey>"
          "<pckey>P</pckey></R></soap:Body></soap:Envelope>";

    assert_int_equal(qlm_field_xml_scan((const unsigned char *) doc,
                                        strlen(doc), e, 16, &n),
                     QLM_FIELD_XML_OK);
    assert_int_equal(n, 5);

    assert_int_equal(e[0].name_len, 8);
    assert_memory_equal(e[0].name, "Envelope", 8);
    assert_memory_equal(e[3].name, "activationKey", 13);
    assert_int_equal(e[3].plain, 0);
    assert_int_equal(e[4].plain, 1);

    len = qlm_field_xml_text(&e[3], out);
    assert_int_equal(len, 3);
    assert_memory_equal(out, "K&1", 3);

    len = qlm_field_xml_text(&e[4], out);
    assert_int_equal(len, 1);
    assert_memory_equal(out, "P", 1);

    len = qlm_field_xml_text(&e[0], out);
    assert_int_equal(len, 4);
    assert_memory_equal(out, "K&1P", 4);

    assert_int_equal(qlm_field_xml_scan_error(e, n, out),
                     QLM_FIELD_NOT_ERROR);

    /* more elements than room: declined, libxml2 reads it */

    assert_int_equal(qlm_field_xml_scan((const unsigned char *) doc,
                                        strlen(doc), e, 4, &n),
                     QLM_FIELD_XML_DECLINED);
}


static void
test_depth(void **state)
{
    char    doc[1024];
    size_t  i, n, len;

    /* 64 levels are read, 65 left to libxml2 */

    for (n = 64; n <= 65; n++) {
        len = 0;

        for (i = 0; i < n; i++) {
            len += sprintf(doc + len, "<a>");
        }

        for (i = 0; i < n; i++) {
            len += sprintf(doc + len, "</a>");
        }

        assert_int_equal(qlm_field_check((const unsigned char *) doc, len),
                         n == 64 ? 1 : 0);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_depth),
    };

    xmlInitParser();

    return cmocka_run_group_tests(tests, NULL, NULL);
}
