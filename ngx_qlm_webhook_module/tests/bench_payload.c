
/*
 * qlm_payload against jansson: QLM's documented task payload (35 keys)
 * built N times each way, the time a payload printed.  Both produce the
 * same bytes (checked first), so the figure compares like with like.
 *
 *     bench_payload [N]
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "qlm_payload.h"


static const char *const  bench_kv[] = {
    "LicenseUpdatedOnServer", "false",
    "ActivationKey", "BNQ50D0500G3HJKM8P91111KIYQJIVSIQ6E9EAB",
    "FullName", "John Smith", "Country", "US", "AffiliateID", "None",
    "Email", "john@soraco.co", "Duration", "30",
    "ExpiryDate", "2021-05-29T23:59:59", "UsesAdminEncryption", "false",
    "MaintenanceRenewalDate", "2022-04-29T23:59:59",
    "Features", "STD,PRO,", "OrderID", "SO-0009812",
    "ReceiptID", "SO-0009813", "SubscriptionID", "SO-0009813",
    "LicenseModel", "2", "ProductID", "1", "MajorVersion", "1",
    "MinorVersion", "0", "NumLicenses", "1", "FloatingSeats", "0",
    "UserData", "My User Data", "NewFeatures", "",
    "NewFloatingSeats", "-1", "ComputerID", "", "ComputerName", "",
    "Comment", "My Comments", "LegacyKey", "", "AvailableLicenses", "1",
    "OrderDate", "2021-04-29T16:39:49", "ProductProperties", "",
    "BundleID", "", "ProductName", "Demo", "MaxReleaseCount", "-2",
    "MaxReleasePeriodInDays", "-2", "OrganizationID", "6",
    NULL
};


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* the same payload through jansson's object model and dumper */

static char *
bench_jansson(void)
{
    char                     *s, *end;
    long long                 n;
    size_t                    i;
    json_t                   *root, *li, *v;
    const char               *name, *value;
    const qlm_payload_key_t  *k;

    root = json_object();
    li = json_object();

    json_object_set_new(root, "Name", json_string("stWebHook"));
    json_object_set_new(root, "WebHookUserData", json_string("my user data"));

    for (i = 0; bench_kv[i]; i += 2) {
        name = bench_kv[i];
        value = bench_kv[i + 1];
        k = qlm_payload_key(QLM_PAYLOAD_LICENSE, (const unsigned char *) name,
                            strlen(name));

        if (k->type == QLM_PAYLOAD_INT) {
            n = strtoll(value, &end, 10);
            v = json_integer(n);

        } else if (k->type == QLM_PAYLOAD_BOOL) {
            v = json_boolean(strcmp(value, "true") == 0);

        } else {
            v = json_string(value);
        }

        json_object_set_new(li, name, v);
    }

    json_object_set_new(root, "LicenseInfo", li);

    s = json_dumps(root, JSON_COMPACT|JSON_PRESERVE_ORDER);
    json_decref(root);

    return s;
}


static unsigned char *
bench_ours(size_t *len)
{
    size_t               i, n;
    unsigned char       *buf;
    qlm_payload_str_t    task, user;
    qlm_payload_field_t  f[40];

    for (i = 0, n = 0; bench_kv[i]; i += 2, n++) {
        f[n].name.data = (const unsigned char *) bench_kv[i];
        f[n].name.len = strlen(bench_kv[i]);
        f[n].value.data = (const unsigned char *) bench_kv[i + 1];
        f[n].value.len = strlen(bench_kv[i + 1]);
    }

    task.data = (const unsigned char *) "stWebHook";
    task.len = 9;
    user.data = (const unsigned char *) "my user data";
    user.len = 12;

    *len = qlm_payload_task(NULL, &task, &user, f, n);

    buf = malloc(*len);
    if (buf) {
        qlm_payload_task(buf, &task, &user, f, n);
    }

    return buf;
}


int
main(int argc, char **argv)
{
    long            i, n;
    char           *j;
    size_t          len;
    double          t0, t1, t2;
    unsigned char  *o;

    n = argc > 1 ? atol(argv[1]) : 200000;

    j = bench_jansson();
    o = bench_ours(&len);

    if (j == NULL || o == NULL || strlen(j) != len || memcmp(j, o, len)) {
        fprintf(stderr, "the two payloads differ:\n%s\n%.*s\n",
                j, (int) len, o);
        return 1;
    }

    free(j);
    free(o);

    t0 = bench_now();

    for (i = 0; i < n; i++) {
        free(bench_jansson());
    }

    t1 = bench_now();

    for (i = 0; i < n; i++) {
        free(bench_ours(&len));
    }

    t2 = bench_now();

    printf("%zu-byte task payload, %ld times:\n", len, n);
    printf("  jansson      %7.0f ns a payload\n", (t1 - t0) / n * 1e9);
    printf("  qlm_payload  %7.0f ns a payload\n", (t2 - t1) / n * 1e9);

    return 0;
}
