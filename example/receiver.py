#!/usr/bin/env python3
"""A webhook receiver for the example: checks X-QLM-Signature, logs, counts.

    python3 receiver.py [--port PORT] [--secret S | --secret-file FILE]
                        [--log FILE] [--fail-first N] [--fail-path PREFIX]

It listens on 127.0.0.1 only; the port comes from --port, else from
$QLM_RECEIVER_PORT, else 8082.  SIGTERM or SIGINT stops it cleanly.

Every POST (any path) is a delivery:

- The signature is checked as QLM computes it: X-QLM-Signature must be the
  hex SHA-256 of the raw body followed by the secret, sha256(body ||
  secret), not an HMAC; lower or upper case hex.  With --secret-file, one
  final newline of the file is dropped, as nginx's qlm_webhook_secret
  file= does.  A mismatch answers 403 {"error":"invalid signature"}, as
  QLM's receiver plugin does.  With neither --secret nor --secret-file, no
  signature is checked ("unchecked"): use that behind an nginx location
  with qlm_webhook_verify on, which has checked it already.
- --fail-first N answers 503 to the first N deliveries (with a good
  signature) whose path starts with --fail-path (default: any path), to
  show the sender's retries.
- Otherwise it answers 200 {"ok":true,...}.  A delivery whose
  X-QLM-Event-Id was already accepted on the same path is a duplicate
  (delivery is at least once): it is answered 200 too, and marked so.

--log FILE gets one JSON object a line per delivery: time, path, event,
event_id, attempt, signature ("ok", "bad", "missing" or "unchecked"),
status (the answer), duplicate, and body (the payload, as text).

GET /stats answers the counts as JSON: received, accepted, distinct (the
accepted deliveries less duplicates), duplicates, failed (the 503s),
bad_signature.
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

from serving import Server, serve

MAX_BODY = 1024 * 1024


def read_secret_file(path):
    with open(path, "rb") as f:
        data = f.read()
    if data.endswith(b"\r\n"):
        return data[:-2]
    if data.endswith(b"\n"):
        return data[:-1]
    return data


def signature(body, secret):
    """QLM's X-QLM-Signature: hex sha256(body || secret), lower case."""
    return hashlib.sha256(body + secret).hexdigest()


def check_signature(body, secret, header):
    """'ok', 'bad', 'missing', or 'unchecked' when there is no secret."""
    if secret is None:
        return "unchecked"
    if header is None or header.strip() == "":
        return "missing"
    given = header.strip().lower().encode("latin-1", "replace")
    want = signature(body, secret).encode("ascii")
    return "ok" if hmac.compare_digest(given, want) else "bad"


class State:
    def __init__(self, fail_first, fail_path, log):
        self.lock = threading.Lock()
        self.fail_left = fail_first
        self.fail_path = fail_path
        self.log = log
        self.seen = set()       # (path, event id) accepted
        self.counts = {"received": 0, "accepted": 0, "distinct": 0,
                       "duplicates": 0, "failed": 0, "bad_signature": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body are two writes: without TCP_NODELAY, Nagle
    # and the peer's delayed ACK hold the body back for 40 ms
    disable_nagle_algorithm = True
    server_version = "qlm-example-receiver/1.0"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def do_GET(self):
        if self.path.split("?")[0] == "/stats":
            with self.server.state.lock:
                self.send_json(200, dict(self.server.state.counts))
        else:
            self.send_json(404, {"error": "not found"})

    def read_body(self):
        """The request body (Content-Length or chunked), or None."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                                                            b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def do_POST(self):
        body = self.read_body()
        if body is None:
            self.close_connection = True
            self.send_json(400, {"error": "bad request body"})
            return

        st = self.server.state
        h = self.headers
        path = self.path.split("?")[0]
        event = h.get("X-QLM-Event", "")
        event_id = h.get("X-QLM-Event-Id", "")
        attempt = h.get("X-QLM-Delivery-Attempt", "")
        sig = check_signature(body, self.server.secret,
                              h.get("X-QLM-Signature"))
        duplicate = False

        with st.lock:
            st.counts["received"] += 1
            if sig in ("bad", "missing"):
                st.counts["bad_signature"] += 1
                status, answer = 403, {"error": "invalid signature"}
            elif st.fail_left > 0 and path.startswith(st.fail_path):
                st.fail_left -= 1
                st.counts["failed"] += 1
                status, answer = 503, {"error": "failing on purpose"}
            else:
                st.counts["accepted"] += 1
                key = (path, event_id)
                if event_id and key in st.seen:
                    duplicate = True
                    st.counts["duplicates"] += 1
                else:
                    st.seen.add(key)
                    st.counts["distinct"] += 1
                status = 200
                answer = {"ok": True, "duplicate": duplicate}
            if st.log is not None:
                st.log.write(json.dumps({
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "path": path, "event": event, "event_id": event_id,
                    "attempt": attempt, "signature": sig, "status": status,
                    "duplicate": duplicate,
                    "body": body.decode("utf-8", "replace"),
                }, separators=(",", ":")) + "\n")
                st.log.flush()

        self.send_json(status, answer)

    def send_json(self, status, obj):
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("receiver: %s %s\n"
                             % (self.address_string(), fmt % args))


def main():
    p = argparse.ArgumentParser(
        description="A webhook receiver that checks X-QLM-Signature.")
    p.add_argument("port", nargs="?", type=int, default=None,
                   help="port on 127.0.0.1 (default $QLM_RECEIVER_PORT "
                        "or 8082)")
    p.add_argument("--port", dest="port_opt", type=int, default=None)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--secret", help="the secret, as a string")
    g.add_argument("--secret-file", metavar="FILE",
                   help="the secret, from FILE (one final newline dropped)")
    p.add_argument("--log", metavar="FILE",
                   help="append one JSON line per delivery to FILE")
    p.add_argument("--fail-first", type=int, default=0, metavar="N",
                   help="answer 503 to the first N deliveries")
    p.add_argument("--fail-path", default="/", metavar="PREFIX",
                   help="only deliveries to paths starting with PREFIX "
                        "fail (default /)")
    p.add_argument("--verbose", action="store_true",
                   help="log each request to stderr")
    a = p.parse_args()
    port = (a.port_opt or a.port
            or int(os.environ.get("QLM_RECEIVER_PORT", 8082)))

    if a.secret_file:
        secret = read_secret_file(a.secret_file)
    elif a.secret is not None:
        secret = a.secret.encode("utf-8")
    else:
        secret = None
        print("receiver: no secret given, signatures are not checked",
              file=sys.stderr)

    log = open(a.log, "a", encoding="utf-8") if a.log else None
    server = Server(("127.0.0.1", port), Handler)
    server.secret = secret
    server.verbose = a.verbose
    server.state = State(a.fail_first, a.fail_path, log)
    print("receiver: listening on 127.0.0.1:%d" % port, file=sys.stderr,
          flush=True)
    serve(server)
    if log:
        log.close()
    print("receiver: stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
