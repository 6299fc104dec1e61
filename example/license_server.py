#!/usr/bin/env python3
"""A small QLM-like license server, for the example only.

It answers a few methods of Quick License Manager's HTTP API the way QLM's
web service does, so that nginx and ngx_qlm_webhook_module have something
to stand in front of.  Everything is kept in memory; nothing is real.

    python3 license_server.py [--port PORT] [--log FILE]

It listens on 127.0.0.1 only; the port comes from --port, else from
$QLM_LS_PORT, else 8081.  It logs nothing unless --log FILE is given (one
line per request).  SIGTERM or SIGINT stops it cleanly.

Requests: GET or form POST (application/x-www-form-urlencoded) to
<any virtual directory>/qlmservice.asmx/<Method>, arguments in the query
string or in the body (the query string wins; names without case).
Method names are compared without case, as IIS does.

Answers are XML, Content-Type text/xml; charset=utf-8, status 200, also
for errors, as QLM answers:

    <?xml version="1.0" encoding="utf-8"?>
    <QuickLicenseManager><pckey>A5B3C-...</pckey></QuickLicenseManager>
    <QuickLicenseManager><result>activated</result><avkey>...</avkey>...
    <QuickLicenseManager><error>License key not found.</error>...

An unknown method answers 404 with a plain text body.

Methods:

GetActivationKey
    is_productid (required, a number), is_majorversion, is_minorversion,
    is_quantity (default 1), is_email, is_userdata1, is_features,
    is_affiliateid, is_expduration (days), is_usemultipleactivationskey
    (default true), is_numberofactivationsperkey (default 1).  Creates a
    license for is_quantity activations, answers <pckey>; with
    is_usemultipleactivationskey false, is_quantity licenses of
    is_numberofactivationsperkey activations each, one <pckey> a key
    (QLM does not document how its answer lists several keys).
GetActivationKeyWithExpiryDate
    as GetActivationKey, and is_expdate (required: yyyy-mm-dd, optionally
    with a time, or m/d/yyyy).  Answers <pckey>.
ActivateKey
    is_avkey, is_pcid (required), is_computer_name.  Activates the key on
    the computer; answers <result>activated</result> with the key, the
    computer, a computer key and the activations left.  Errors: unknown,
    revoked or expired key, no activation left.  Activating again on the
    same computer succeeds.
ValidateLicenseHttp
    is_avkey, is_pcid, is_activate, is_pckey.  As QLM, is_activate is true
    when not given: then, as ActivateKey.  With is_activate false (or 0),
    or with is_pckey (the computer key of an earlier activation), a plain
    validation that changes nothing: <result>valid</result> with the
    status, or an error for an unknown, revoked or expired key.
ReleaseLicenseHttp
    is_avkey, is_pcid.  Releases (deactivates) the key on the computer;
    error when the key is not activated there.
RevokeLicenseHttp
    is_avkey.  Marks the license revoked (it can no longer be activated).
RenewSubscriptionHttp
    is_avkey, is_expdate or is_expduration (days, default 365).  Moves the
    expiry date (from the later of today and the current expiry date for
    is_expduration) and un-revokes.
UpdateLicenseHttp
    is_avkey and any of is_email, is_userdata1, is_features, is_quantity,
    is_affiliateid, is_expdate, is_majorversion, is_minorversion.
UpdateUserInformation
    The customer from the POST fields of an e-commerce provider, as QLM
    documents them (email, name, company, addr1, ... for Regnow; payer_email,
    first_name, last_name, ... for PayPal; CustomerCompany, AddressStreet1,
    ... for FastSpring).  Creates the customer (by e-mail) or updates it;
    answers as QLM: <result>Customer NAME was added successfully.</result>
    or "... was updated successfully.".
DeleteLicense
    is_avkey.  Deletes the license; error for an unknown key.
DeleteUser
    is_email or is_customerid.  Deletes the customer; error when unknown.
"""

import argparse
import datetime
import os
import secrets
import string
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from serving import Server, serve
from xml.sax.saxutils import escape

XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>'
KEY_CHARS = string.ascii_uppercase + string.digits
MAX_BODY = 1024 * 1024


class Store:
    """The licenses and customers, in memory, behind one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.licenses = {}          # key -> dict
        self.customers = {}         # lower-case e-mail -> dict
        self.next_customer_id = 1

    def new_key(self):
        while True:
            groups = ["A5" + "".join(secrets.choice(KEY_CHARS)
                                     for _ in range(3))]
            groups += ["".join(secrets.choice(KEY_CHARS) for _ in range(5))
                       for _ in range(5)]
            key = "-".join(groups)
            if key not in self.licenses:
                return key


class QlmError(Exception):
    """An error QLM answers as <error>, with status 200."""


def is_true(value):
    return value.strip().lower() not in ("", "0", "false")


def parse_int(args, name, default=None, required=False):
    value = args.get(name, "").strip()
    if value == "":
        if required:
            raise QlmError("%s is required." % name)
        return default
    try:
        return int(value)
    except ValueError:
        raise QlmError("%s is not a number: %s." % (name, value))


def parse_date(args, name, required=False):
    value = args.get(name, "").strip()
    if value == "":
        if required:
            raise QlmError("%s is required." % name)
        return None
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%d %H:%M", "%m/%d/%Y", "%m/%d/%Y %H:%M:%S",
                "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p"):
        try:
            return datetime.datetime.strptime(value, fmt)
        except ValueError:
            pass
    raise QlmError("%s is not a date: %s." % (name, value))


def fmt_date(d):
    return d.strftime("%Y-%m-%dT%H:%M:%S") if d else ""


def xml_answer(*elements):
    """<QuickLicenseManager> with (name, value) elements, in order."""
    parts = [XML_HEAD, "<QuickLicenseManager>"]
    for name, value in elements:
        if value is None:
            continue
        parts.append("<%s>%s</%s>" % (name, escape(str(value)), name))
    parts.append("</QuickLicenseManager>")
    return "".join(parts)


class Api:
    """QLM's methods; each takes the arguments, returns the XML answer."""

    def __init__(self, store):
        self.store = store
        self.methods = {name.lower(): getattr(self, name) for name in (
            "GetActivationKey", "GetActivationKeyWithExpiryDate",
            "ActivateKey", "ValidateLicenseHttp", "ReleaseLicenseHttp",
            "RevokeLicenseHttp", "RenewSubscriptionHttp",
            "UpdateLicenseHttp", "UpdateUserInformation", "DeleteLicense",
            "DeleteUser")}

    def call(self, method, args):
        fn = self.methods.get(method.lower())
        if fn is None:
            return None
        try:
            with self.store.lock:
                return fn(args)
        except QlmError as e:
            return xml_answer(("error", str(e)))

    # helpers, called with the lock held

    def _license(self, args):
        key = args.get("is_avkey", "").strip()
        if key == "":
            raise QlmError("is_avkey is required.")
        lic = self.store.licenses.get(key.upper())
        if lic is None:
            raise QlmError("License key not found: %s." % key)
        return lic

    def _usable(self, lic):
        if lic["revoked"]:
            raise QlmError("The license %s has been revoked." % lic["key"])
        if lic["expiry"] and lic["expiry"] < datetime.datetime.now():
            raise QlmError("The license %s expired on %s."
                           % (lic["key"], fmt_date(lic["expiry"])))

    def _status(self, lic):
        if lic["revoked"]:
            return "revoked"
        if lic["expiry"] and lic["expiry"] < datetime.datetime.now():
            return "expired"
        return "active" if lic["activations"] else "not activated"

    def _create(self, args, expiry):
        product = parse_int(args, "is_productid", required=True)
        quantity = parse_int(args, "is_quantity", default=1)
        if quantity < 1:
            raise QlmError("is_quantity must be at least 1.")
        duration = parse_int(args, "is_expduration")
        if expiry is None and duration:
            expiry = (datetime.datetime.now()
                      + datetime.timedelta(days=duration))
        # one key for all, or one key a license ordered
        keys = 1
        if not is_true(args.get("is_usemultipleactivationskey", "true")):
            keys = quantity
            quantity = parse_int(args, "is_numberofactivationsperkey",
                                 default=1)
            if quantity < 1:
                raise QlmError("is_numberofactivationsperkey must be at "
                               "least 1.")
        created = []
        for _ in range(keys):
            key = self.store.new_key()
            created.append(("pckey", key))
            self.store.licenses[key] = {
                "key": key,
                "product": product,
                "major": parse_int(args, "is_majorversion", default=1),
                "minor": parse_int(args, "is_minorversion", default=0),
                "quantity": quantity,
                "email": args.get("is_email", ""),
                "userdata": args.get("is_userdata1", ""),
                "features": args.get("is_features", ""),
                "affiliate": args.get("is_affiliateid", ""),
                "expiry": expiry,
                "revoked": False,
                "activations": {},      # computer id -> computer name
                "created": datetime.datetime.now(),
            }
        return xml_answer(*created)

    def _activate(self, lic, args):
        pcid = args.get("is_pcid", "").strip()
        if pcid == "":
            raise QlmError("is_pcid is required.")
        self._usable(lic)
        acts = lic["activations"]
        if pcid not in acts and len(acts) >= lic["quantity"]:
            raise QlmError("No activation left for %s (%d of %d used)."
                           % (lic["key"], len(acts), lic["quantity"]))
        acts[pcid] = args.get("is_computer_name", "") or acts.get(pcid, "")
        computer_key = "C" + lic["key"][1:]
        return xml_answer(
            ("result", "activated"), ("avkey", lic["key"]),
            ("pcid", pcid), ("computerName", acts[pcid]),
            ("computerKey", computer_key), ("status", self._status(lic)),
            ("activationsLeft", lic["quantity"] - len(acts)))

    # the methods

    def GetActivationKey(self, args):
        return self._create(args, None)

    def GetActivationKeyWithExpiryDate(self, args):
        return self._create(args, parse_date(args, "is_expdate",
                                             required=True))

    def ActivateKey(self, args):
        return self._activate(self._license(args), args)

    def ValidateLicenseHttp(self, args):
        lic = self._license(args)
        # QLM activates unless is_activate is false; a call with the
        # computer key of an earlier activation only validates
        if (is_true(args.get("is_activate", "true"))
                and args.get("is_pckey", "").strip() == ""):
            return self._activate(lic, args)
        self._usable(lic)
        pcid = args.get("is_pcid", "").strip()
        if pcid and pcid not in lic["activations"]:
            raise QlmError("The license %s is not activated on %s."
                           % (lic["key"], pcid))
        return xml_answer(
            ("result", "valid"), ("avkey", lic["key"]),
            ("pcid", pcid or None), ("status", self._status(lic)),
            ("productId", lic["product"]),
            ("expiryDate", fmt_date(lic["expiry"]) or None))

    def ReleaseLicenseHttp(self, args):
        lic = self._license(args)
        pcid = args.get("is_pcid", "").strip()
        if pcid == "":
            raise QlmError("is_pcid is required.")
        if pcid not in lic["activations"]:
            raise QlmError("The license %s is not activated on %s."
                           % (lic["key"], pcid))
        del lic["activations"][pcid]
        return xml_answer(
            ("result", "released"), ("avkey", lic["key"]), ("pcid", pcid),
            ("status", self._status(lic)),
            ("activationsLeft", lic["quantity"] - len(lic["activations"])))

    def RevokeLicenseHttp(self, args):
        lic = self._license(args)
        lic["revoked"] = True
        return xml_answer(("result", "revoked"), ("avkey", lic["key"]),
                          ("status", self._status(lic)))

    def RenewSubscriptionHttp(self, args):
        lic = self._license(args)
        expiry = parse_date(args, "is_expdate")
        if expiry is None:
            days = parse_int(args, "is_expduration", default=365)
            start = max(filter(None, (lic["expiry"],
                                      datetime.datetime.now())))
            expiry = start + datetime.timedelta(days=days)
        lic["expiry"] = expiry
        lic["revoked"] = False
        return xml_answer(("result", "renewed"), ("avkey", lic["key"]),
                          ("expiryDate", fmt_date(expiry)),
                          ("status", self._status(lic)))

    def UpdateLicenseHttp(self, args):
        lic = self._license(args)
        changed = []
        for arg, field, conv in (
                ("is_email", "email", str),
                ("is_userdata1", "userdata", str),
                ("is_features", "features", str),
                ("is_affiliateid", "affiliate", str),
                ("is_quantity", "quantity", int),
                ("is_majorversion", "major", int),
                ("is_minorversion", "minor", int)):
            if arg in args:
                if conv is int:
                    lic[field] = parse_int(args, arg, default=lic[field])
                else:
                    lic[field] = args[arg]
                changed.append(arg[3:])
        if "is_expdate" in args:
            lic["expiry"] = parse_date(args, "is_expdate")
            changed.append("expdate")
        if not changed:
            raise QlmError("Nothing to update.")
        return xml_answer(("result", "updated"), ("avkey", lic["key"]),
                          ("updated", ",".join(changed)),
                          ("status", self._status(lic)))

    # the customer's fields by e-commerce provider, as QLM documents them
    # (a few of them: Regnow's and Bluesnap's, FastSpring's, PayPal's)
    CUSTOMER_FIELDS = (
        ("email", ("email", "payer_email", "is_email")),
        ("name", ("name",)),
        ("company", ("company", "customercompany", "payer_business_name")),
        ("address1", ("addr1", "addressstreet1", "address_street")),
        ("address2", ("addr2", "addressstreet2", "cust_address2")),
        ("city", ("city", "addresscity", "address_city")),
        ("state", ("state", "addressregion", "address_state")),
        ("zip", ("zip", "addresspostalcode", "address_zip")),
        ("country", ("country", "addresscountry", "address_country_code")),
        ("phone", ("phone", "customerphone", "cust_phone")),
    )

    def UpdateUserInformation(self, args):
        values = {}
        for field, names in self.CUSTOMER_FIELDS:
            for name in names:
                if args.get(name, "").strip():
                    values[field] = args[name].strip()
                    break
        if "name" not in values:
            first = args.get("first_name", args.get("firstname", ""))
            last = args.get("last_name", args.get("lastname", ""))
            if (first + last).strip():
                values["name"] = (first + " " + last).strip()
        email = values.get("email", "")
        if email == "":
            raise QlmError("The customer's email address is required.")
        cust = self.store.customers.get(email.lower())
        result = "updated"
        if cust is None:
            cust = {"id": self.store.next_customer_id}
            self.store.next_customer_id += 1
            self.store.customers[email.lower()] = cust
            result = "added"
        cust.update(values)
        # QLM's answers (AddUserEx3, UpdateUserEx3)
        return xml_answer(("result", "Customer %s was %s successfully."
                           % (cust.get("name") or email, result)))

    def DeleteLicense(self, args):
        lic = self._license(args)
        del self.store.licenses[lic["key"]]
        return xml_answer(("result", "deleted"), ("avkey", lic["key"]))

    def DeleteUser(self, args):
        email = args.get("is_email", "").strip().lower()
        cid = parse_int(args, "is_customerid")
        if email == "" and cid is None:
            raise QlmError("is_email or is_customerid is required.")
        for k, cust in self.store.customers.items():
            if (email and k == email) or (cid is not None
                                           and cust["id"] == cid):
                del self.store.customers[k]
                return xml_answer(("result", "deleted"),
                                  ("customerId", cust["id"]),
                                  ("email", cust["email"]))
        raise QlmError("Customer not found: %s."
                       % (args.get("is_email") or cid))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body are two writes: without TCP_NODELAY, Nagle
    # and the peer's delayed ACK hold the body back for 40 ms
    disable_nagle_algorithm = True
    server_version = "qlm-example-license-server/1.0"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def do_GET(self):
        self.handle_call(b"")

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.send_text(413 if length > 0 else 400, "Bad request body\n",
                           close=True)
            return
        body = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype.lower() != "application/x-www-form-urlencoded":
            body = b""
        self.handle_call(body)

    def handle_call(self, body):
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.rstrip("/").split("/")
        if len(parts) < 2 or parts[-2].lower() != "qlmservice.asmx":
            self.send_text(404, "Not found: %s\n" % url.path)
            return
        args = {}
        # the query string wins over the body, as $qlm_webhook_arg_* reads
        for source in (url.query, body.decode("utf-8", "replace")):
            for name, value in urllib.parse.parse_qsl(
                    source, keep_blank_values=True):
                args.setdefault(name.lower(), value)
        answer = self.server.api.call(parts[-1], args)
        if answer is None:
            self.send_text(404, "Unknown web method %s.\n" % parts[-1])
            return
        data = answer.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "private, max-age=0")
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, status, text, close=False):
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        log = self.server.logfile
        if log is not None:
            line = "%s %s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"),
                                   self.address_string(), fmt % args)
            with self.server.log_lock:
                log.write(line)
                log.flush()


def main():
    p = argparse.ArgumentParser(
        description="A QLM-like license server, for the example.")
    p.add_argument("port", nargs="?", type=int, default=None,
                   help="port on 127.0.0.1 (default $QLM_LS_PORT or 8081)")
    p.add_argument("--port", dest="port_opt", type=int, default=None)
    p.add_argument("--log", metavar="FILE",
                   help="log one line per request to FILE")
    a = p.parse_args()
    port = a.port_opt or a.port or int(os.environ.get("QLM_LS_PORT", 8081))

    server = Server(("127.0.0.1", port), Handler)
    server.api = Api(Store())
    server.logfile = open(a.log, "a", encoding="utf-8") if a.log else None
    server.log_lock = threading.Lock()
    print("license server: listening on 127.0.0.1:%d" % port,
          file=sys.stderr, flush=True)
    serve(server)
    if server.logfile:
        server.logfile.close()
    print("license server: stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
