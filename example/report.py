#!/usr/bin/env python3
"""Compares what the receiver got with what the client expects.

    python3 report.py --log RECEIVER_LOG --expect EXPECT_FILE
                      [--nginx-conf NGINX_CONF] [--wait SECONDS]

RECEIVER_LOG is receiver.py's --log, EXPECT_FILE client.py's --expect.
With --nginx-conf, the URLs of each event are read from its
qlm_webhook_url lines, and every expected event must have reached every
one of its URLs' paths; without, one path is enough.

An expected event is delivered when the receiver accepted (2xx) a delivery
with a good signature whose X-QLM-Event is the event and whose payload has
the same EventType and EventId as the headers and the expected field (the
ActivationKey in LicenseInfo, the Email in CustomerInfo).  Each event id
matches at most one expected event, so an event emitted twice, or one that
should not have been emitted (the failing call), shows as unexpected.

--wait SECONDS re-reads the log until every expected event is delivered or
the time is up, then waits --settle seconds (default 1) for late extras.

Prints every delivery, then every expected event with its outcome.  Exits 0
when every expected event was delivered to all its URLs, no delivery had a
bad signature and nothing unexpected arrived; 1 otherwise.
"""

import argparse
import json
import re
import sys
import time
import urllib.parse


def read_jsonl(path):
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass        # a line being written
    except FileNotFoundError:
        pass
    return out


def read_routes(path):
    """event -> [URL path, ...] from nginx.conf's qlm_webhook_url lines."""
    routes = {}
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"(?m)^\s*#.*$", "", f.read())
    directive = re.compile(
        r"\bqlm_webhook_url\s+(\w+)\s+((?:\"[^\"]*\"|'[^']*'|[^;\"'])*);")
    for m in directive.finditer(text):
        event, rest = m.group(1), m.group(2)
        for url in re.split(r"[;\s\"']+", rest):
            if url:
                routes.setdefault(event, []).append(
                    urllib.parse.urlsplit(url).path or "/")
    return routes


def payload_object(body):
    try:
        p = json.loads(body)
    except ValueError:
        return None
    return p if isinstance(p, dict) else None


def analyse(deliveries, expected, routes):
    """Matches event ids to expected events; returns (results, problems)."""
    events = {}                 # event id -> {event, payload, paths}
    problems = []
    for d in deliveries:
        if d.get("signature") == "bad" or d.get("signature") == "missing":
            problems.append("%s %s to %s: %s signature" % (
                d.get("event"), d.get("event_id"), d.get("path"),
                d.get("signature")))
            continue
        if not 200 <= int(d.get("status", 0)) < 300:
            continue
        e = events.setdefault(d.get("event_id"), {
            "event": d.get("event"), "payload": payload_object(d["body"]),
            "paths": set()})
        e["paths"].add(d.get("path"))

    results = []
    used = set()
    for x in expected:
        match = None
        for eid, e in events.items():
            p = e["payload"]
            if eid in used or e["event"] != x["event"] or p is None:
                continue
            obj = p.get("CustomerInfo" if x["event"].startswith("customer_")
                        else "LicenseInfo")
            if (p.get("EventType") == x["event"] and p.get("EventId") == eid
                    and isinstance(obj, dict)
                    and str(obj.get(x["field"])) == x["value"]):
                match = eid
                break
        if match is None:
            results.append((x, None, "MISSING"))
            continue
        used.add(match)
        want = routes.get(x["event"]) if routes is not None else None
        if want:
            missing = [p for p in want if p not in events[match]["paths"]]
            outcome = ("delivered to %d of %d URLs" % (
                len(want) - len(missing), len(want)) if missing
                else "delivered" + (" to %d URLs" % len(want)
                                    if len(want) > 1 else ""))
            if missing:
                outcome = "INCOMPLETE: " + outcome
        else:
            outcome = "delivered"
        results.append((x, match, outcome))

    for eid, e in events.items():
        if eid not in used:
            problems.append("unexpected %s event %s" % (e["event"], eid))
    return results, problems


def complete(results, problems):
    return not problems and all(
        not o.startswith(("MISSING", "INCOMPLETE")) for _, _, o in results)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--log", required=True, help="receiver.py's --log")
    p.add_argument("--expect", required=True, help="client.py's --expect")
    p.add_argument("--nginx-conf", help="read each event's URLs here")
    p.add_argument("--wait", type=float, default=0, metavar="SECONDS")
    p.add_argument("--settle", type=float, default=1, metavar="SECONDS")
    a = p.parse_args()

    expected = read_jsonl(a.expect)
    routes = read_routes(a.nginx_conf) if a.nginx_conf else None

    deadline = time.monotonic() + a.wait
    while True:
        deliveries = read_jsonl(a.log)
        results, problems = analyse(deliveries, expected, routes)
        if complete(results, problems) or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    if a.wait and complete(results, problems) and a.settle > 0:
        time.sleep(a.settle)
        deliveries = read_jsonl(a.log)
        results, problems = analyse(deliveries, expected, routes)

    print("Deliveries received (%d):" % len(deliveries))
    fmt = "  %-8s  %-17s  %-36s  %-7s  %-6s  %-9s  %s"
    print(fmt % ("time", "event", "event id", "attempt", "answer",
                 "signature", "path"))
    for d in deliveries:
        print(fmt % (str(d.get("time", ""))[-8:], d.get("event"),
                     d.get("event_id"), d.get("attempt"), d.get("status"),
                     d.get("signature") + (" dup" if d.get("duplicate")
                                           else ""),
                     d.get("path")))

    print()
    print("Payloads (one per event id):")
    shown = set()
    for d in deliveries:
        if d.get("event_id") not in shown:
            shown.add(d.get("event_id"))
            print("  " + d.get("body", ""))

    print()
    print("Expected events (%d):" % len(expected))
    fmt = "  %-17s  %-36s  %-36s  %s"
    print(fmt % ("event", "key / e-mail", "event id", "outcome"))
    for x, eid, outcome in results:
        print(fmt % (x["event"], x["value"], eid or "-", outcome))
    counts = {}
    for pr in problems:
        counts[pr] = counts.get(pr, 0) + 1
    for pr, n in counts.items():
        print("  problem: %s%s" % (pr, " (%d times)" % n if n > 1 else ""))

    ok = complete(results, problems) and bool(expected)
    print()
    print("RESULT: %s" % ("every expected event arrived, signed correctly"
                          if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
