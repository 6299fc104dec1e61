
/*
 * mkstore PATH NOW_MS: a store with known contents for tests/cli.t.
 *
 *   id 1  dead: HTTP status 500 after 5 attempts
 *   id 2  leased until NOW + 10 min
 *   id 3  due at NOW - 1 min
 *   id 4  waiting, due at NOW + 1 h, an event id that needs escaping,
 *         a URL with credentials and a query
 *   log   NOW - 3 h delivered, - 2 h retry, - 30 min dead,
 *         - 10 min delivered (license.renewed)
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qlm_store.h"


static qlm_store_str_t
str(const char *s)
{
    qlm_store_str_t  r;

    r.data = s;
    r.len = strlen(s);

    return r;
}


static qlm_store_item_t
item(uint64_t due, const char *event, const char *event_id, const char *url,
    const char *body)
{
    qlm_store_item_t  it;

    memset(&it, 0, sizeof(it));

    it.due = due;
    it.created = due;
    it.event = str(event);
    it.event_id = str(event_id);
    it.url = str(url);
    it.headers = str("X-Test: 1");
    it.body = str(body);

    return it;
}


static void
check(const char *call, int rc)
{
    if (rc != 0) {
        fprintf(stderr, "mkstore: %s: %s\n", call, qlm_store_strerror(rc));
        exit(1);
    }
}


static void
logrec(qlm_store_t *st, uint64_t time, uint64_t id, uint32_t outcome,
    int32_t status, const char *event, const char *event_id,
    const char *error)
{
    qlm_store_log_t  log;

    memset(&log, 0, sizeof(log));

    log.time = time;
    log.item_id = id;
    log.attempt = 1;
    log.status = status;
    log.duration = 42;
    log.outcome = outcome;
    log.event = str(event);
    log.event_id = str(event_id);
    log.url = str("https://hooks.example/in");
    log.error = str(error);

    /* a failure keeps the receiver's answer */
    if (status >= 300) {
        log.answer = str("{\"busy\":true}\n");
    }

    check("qlm_store_log_append", qlm_store_log_append(st, &log));
}


int
main(int argc, char **argv)
{
    size_t             n;
    uint64_t           now;
    qlm_store_t       *st;
    qlm_store_item_t   it[2], *out[1];

    if (argc != 3) {
        fprintf(stderr, "usage: mkstore PATH NOW_MS\n");
        return 2;
    }

    now = strtoull(argv[2], NULL, 10);

    check("qlm_store_open", qlm_store_open(&st, argv[1], NULL));

    it[0] = item(now - 300000, "license.expired", "ev-dead",
                 "https://dead.example/hook", "{\"n\":0}");
    check("qlm_store_enqueue", qlm_store_enqueue(st, it, 1));
    check("qlm_store_claim", qlm_store_claim(st, now, 60000, out, 1, &n));
    check("qlm_store_dead",
          qlm_store_dead(st, out[0]->id, out[0]->lease, now - 200000, 5, 500,
                         str("HTTP status 500"), NULL));
    qlm_store_item_free(out[0]);

    it[0] = item(now - 120000, "license.expired", "ev-leased",
                 "https://b.example/hook", "{\"n\":2}");
    check("qlm_store_enqueue", qlm_store_enqueue(st, it, 1));
    check("qlm_store_claim", qlm_store_claim(st, now, 600000, out, 1, &n));
    qlm_store_item_free(out[0]);

    it[0] = item(now - 60000, "license.expired", "ev-1",
                 "https://a.example/hook", "{\"n\":3}");
    it[1] = item(now + 3600000, "license.renewed", "ev-\"q\"\t\\x",
                 "https://bob:hunter2@c.example/hook?token=t0k",
                 "{\"n\":4}");
    check("qlm_store_enqueue", qlm_store_enqueue(st, it, 2));

    logrec(st, now - 3 * 3600000, 3, QLM_STORE_DELIVERED, 200,
           "license.expired", "ev-1", "");
    logrec(st, now - 2 * 3600000, 2, QLM_STORE_RETRY, 503,
           "license.expired", "ev-2", "HTTP status 503");
    logrec(st, now - 30 * 60000, 1, QLM_STORE_DEAD, 500,
           "license.expired", "ev-dead", "HTTP status 500");
    logrec(st, now - 10 * 60000, 4, QLM_STORE_DELIVERED, 204,
           "license.renewed", "ev-4", "");

    qlm_store_close(st);

    return 0;
}
