#!/usr/bin/env python3
"""The example's scenario: a QLM client's calls, through nginx.

    python3 client.py [--expect FILE] [BASE_URL]

BASE_URL is where QLM's web service is, default
http://127.0.0.1:8080/qlmLicenseServer (nginx's location); the calls go to
BASE_URL/qlmservice.asmx/<Method>.  Point it at the license server itself
(http://127.0.0.1:8081/qlmLicenseServer) to try the scenario without nginx.

Each call is printed with the license server's answer.  The calls:

    GetActivationKey (GET)                 license_created    key 1
    GetActivationKeyWithExpiryDate (POST)  license_created    key 2
    GetActivationKey is_quantity=2 is_usemultipleactivationskey=false
                                           license_created    keys 3, 4
                                           (one event a key)
    ActivateKey key 1 (GET)                license_activated  key 1
    ValidateLicenseHttp key 1 is_activate=false (GET)
                                           nothing: a plain validation
    ValidateLicenseHttp key 1 is_pckey (GET)
                                           nothing: the computer key of an
                                           earlier activation
    ValidateLicenseHttp key 2 (POST)       license_activated  key 2
                                           (is_activate is true by default)
    ActivateKey of an unknown key (GET)    nothing: QLM answers <error>
    ReleaseLicenseHttp key 1 (GET)         license_released   key 1
    RenewSubscriptionHttp key 2 (POST)     license_modified   key 2
    UpdateUserInformation (POST, Regnow's fields)
                                           customer_created   jane@...
    UpdateUserInformation (POST, again)    customer_modified  jane@...
    DeleteLicense key 1 (GET)              license_deleted    key 1
    DeleteUser (GET)                       customer_deleted   jane@...

--expect FILE writes the events that nginx should have emitted, one JSON
object a line: {"event": ..., "field": "ActivationKey" or "Email",
"value": ...}, for report.py to compare with what the receiver got.

Exits 0 when every answer was what the scenario expects (a key, a result,
or the one error), 1 otherwise, 2 when the server cannot be reached.
"""

import argparse
import datetime
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

TIMEOUT = 10


class Client:
    def __init__(self, base):
        self.base = base.rstrip("/") + "/qlmservice.asmx/"
        self.failures = 0
        self.expected = []

    def call(self, method, args, post=False, want_error=False):
        """Calls a method, prints it, returns the answer's elements."""
        url = self.base + method
        data = urllib.parse.urlencode(args)
        if post:
            req = urllib.request.Request(
                url, data=data.encode(), method="POST",
                headers={"Content-Type":
                         "application/x-www-form-urlencoded"})
        else:
            req = urllib.request.Request(url + "?" + data)

        shown = " ".join("%s=%s" % kv for kv in args.items())
        print("%-4s %s %s" % ("POST" if post else "GET", method, shown))
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            print("     -> cannot reach %s: %s" % (url, e))
            sys.exit(2)

        elements = {}
        self.keys = []          # every <pckey>: an answer may list several
        try:
            root = ET.fromstring(body)
            for el in root.iter():
                if el is not root:
                    # QLM may put its elements in a default namespace
                    tag = el.tag.rsplit("}", 1)[-1]
                    elements[tag] = el.text or ""
                    if tag == "pckey":
                        self.keys.append(el.text or "")
        except ET.ParseError:
            pass

        text = " ".join("%s=%s" % kv for kv in elements.items())
        print("     -> %d %s" % (status, text or body[:120].decode(
            "utf-8", "replace")))

        ok = status == 200 and bool(elements) and (
            ("error" in elements) == want_error)
        if not ok:
            self.failures += 1
            print("     !! unexpected answer (wanted %s)"
                  % ("an <error>" if want_error else "a success"))
        return elements if ok else None

    def expect(self, event, field, value):
        if value:
            self.expected.append({"event": event, "field": field,
                                  "value": value})


def scenario(c):
    today = datetime.date.today()
    jane = "jane@example.com"

    # two licenses: by GET, and by form POST with an expiry date
    a = c.call("GetActivationKey", {
        "is_productid": "1", "is_majorversion": "2",
        "is_minorversion": "0", "is_quantity": "2", "is_email": jane,
        "is_userdata1": "order 1001", "is_features": "0:3"})
    key1 = a and a.get("pckey")
    c.expect("license_created", "ActivationKey", key1)

    a = c.call("GetActivationKeyWithExpiryDate", {
        "is_productid": "1", "is_majorversion": "2",
        "is_minorversion": "0", "is_quantity": "1",
        "is_email": "bob@example.com", "is_affiliateid": "reseller-7",
        "is_expdate": (today + datetime.timedelta(days=30)).isoformat()},
        post=True)
    key2 = a and a.get("pckey")
    c.expect("license_created", "ActivationKey", key2)

    # two licenses of one activation each, in one order: one event a key
    if c.call("GetActivationKey", {
            "is_productid": "1", "is_majorversion": "2",
            "is_minorversion": "0", "is_quantity": "2",
            "is_usemultipleactivationskey": "false",
            "is_email": "carol@example.com"}):
        for key in c.keys:
            c.expect("license_created", "ActivationKey", key)

    if not key1 or not key2:
        print("no license keys: stopping the scenario")
        return

    # activations
    if c.call("ActivateKey", {"is_avkey": key1, "is_pcid": "PC-JANE-01",
                              "is_computer_name": "JANE-LAPTOP"}):
        c.expect("license_activated", "ActivationKey", key1)

    # validations that change nothing
    c.call("ValidateLicenseHttp", {"is_avkey": key1, "is_pcid": "PC-JANE-01",
                                   "is_activate": "false"})
    c.call("ValidateLicenseHttp", {"is_avkey": key1, "is_pcid": "PC-JANE-01",
                                   "is_pckey": "C" + key1[1:]})

    # QLM's default: is_activate is true when not given
    if c.call("ValidateLicenseHttp", {
            "is_avkey": key2, "is_pcid": "PC-BOB-01",
            "is_computer_name": "BOB-DESKTOP"}, post=True):
        c.expect("license_activated", "ActivationKey", key2)

    # the one failing call: QLM answers <error> with status 200, and
    # nginx must emit nothing for it
    c.call("ActivateKey", {"is_avkey": "A5ZZZ-00000-00000-00000-00000-00000",
                           "is_pcid": "PC-NOBODY",
                           "is_computer_name": "NOBODY"}, want_error=True)

    if c.call("ReleaseLicenseHttp", {"is_avkey": key1,
                                     "is_pcid": "PC-JANE-01"}):
        c.expect("license_released", "ActivationKey", key1)

    if c.call("RenewSubscriptionHttp", {
            "is_avkey": key2,
            "is_expdate": (today + datetime.timedelta(days=395))
            .isoformat()}, post=True):
        c.expect("license_modified", "ActivationKey", key2)

    # a customer, as an e-commerce provider (Regnow) sends it: created,
    # then updated (QLM's answer tells them apart)
    customer = {"email": jane, "name": "Jane Doe",
                "company": "Example & Co", "phone": "+1 555 0100",
                "addr1": "1 Main Street", "city": "Springfield",
                "state": "IL", "zip": "62701", "country": "US"}
    if c.call("UpdateUserInformation?is_vendor=regnow", customer, post=True):
        c.expect("customer_created", "Email", jane)

    customer["phone"] = "+1 555 0199"
    if c.call("UpdateUserInformation?is_vendor=regnow", customer, post=True):
        c.expect("customer_modified", "Email", jane)

    if c.call("DeleteLicense", {"is_avkey": key1}):
        c.expect("license_deleted", "ActivationKey", key1)

    if c.call("DeleteUser", {"is_email": jane}):
        c.expect("customer_deleted", "Email", jane)


def main():
    p = argparse.ArgumentParser(description="The example's QLM client.")
    p.add_argument("base", nargs="?",
                   default="http://127.0.0.1:8080/qlmLicenseServer",
                   help="QLM's web service (default %(default)s)")
    p.add_argument("--expect", metavar="FILE",
                   help="write the events to expect to FILE")
    a = p.parse_args()

    c = Client(a.base)
    scenario(c)

    if a.expect:
        with open(a.expect, "w", encoding="utf-8") as f:
            for e in c.expected:
                f.write(json.dumps(e) + "\n")

    print("%d events to expect; %s" % (
        len(c.expected), "every answer as expected" if not c.failures
        else "%d unexpected answers" % c.failures))
    return 1 if c.failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
