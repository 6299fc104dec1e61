# The admin API: the invocation log and dead letters, paged; replay of one,
# of all, and recover since a time; a test event, signed like the real
# ones, only to configured URLs; errors as JSON.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;
$ENV{TEST_NGINX_APP_PORT} ||= 1987;

# The receiver's /flaky answers 500 until html/fixed exists (a PUT to
# /fix, on the main server, makes it).  /hook and /std check the signature (qlm_webhook_verify)
# and log the outcome with the event and the body.  /pause answers slowly
# (limit_rate): time for deliveries to end between two requests of a
# block.
our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret "whsec_YWRtaW4tc2VjcmV0LTEyMw==";
    qlm_webhook_max_retries 0;
    # replays fail again and again on purpose: no circuit in between
    qlm_webhook_breaker 0;
    qlm_webhook_url license_created http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/flaky;
    qlm_webhook_url license_activated http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook;
    qlm_webhook_url license_deleted http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/std scheme=standard;
    qlm_webhook_url license_modified "http://bob:hunter2\@127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/flaky?token=s3cr3t";

    log_format verified escape=json 'VERIFY \$qlm_webhook_verify_result '
        '\$http_x_qlm_event \$http_x_qlm_delivery_attempt \$request_body';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;

        location / {
            return 200 '<QuickLicenseManager><pckey>K-1</pckey></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        access_log off;
        root html;

        location /flaky {
            if (!-f \$document_root/fixed) {
                return 500;
            }

            return 200;
        }

        location /hook {
            qlm_webhook_verify on;
            access_log logs/error.log verified;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_APP_PORT}/ok;
        }

        location /std {
            qlm_webhook_verify on;
            qlm_webhook_verify_scheme standard;
            access_log logs/error.log verified;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_APP_PORT}/ok;
        }
    }

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_APP_PORT};
        access_log off;

        location / {
            return 200;
        }
    }
_EOC_

our $Config = <<'_EOC_';
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/;
        qlm_webhook_emit license_created method=GetActivationKey;
        qlm_webhook_emit license_modified method=UpdateLicense;
        qlm_webhook_field ActivationKey "xml://pckey";
    }

    location = /fix {
        dav_methods PUT;
        alias html/fixed;
    }

    location = /pause {
        limit_rate_after 0;
        limit_rate 2k;
        return 200 "$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id";
    }

    location /admin/ {
        allow 127.0.0.1;
        deny all;
        qlm_webhook_admin;
    }
_EOC_

our $Iso = qr/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/;
our $Uuid = qr/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/;

no_long_string();
run_tests();

__DATA__

=== TEST 1: a dead letter: listed, replayed, delivered to the fixed receiver, in the log
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
[
"GET /qlm/GetActivationKey",
"GET /pause",
"GET /admin/dead",
"PUT /fix\nfixed",
"POST /admin/dead/1/replay",
"GET /pause",
"GET /admin/dead",
"GET /admin/log",
]
--- error_code eval
[200, 200, 200, 201, 200, 200, 200, 200]
--- response_headers_like eval
[
"", "",
"Content-Type: application/json",
"",
"Content-Type: application/json",
"",
"Content-Type: application/json",
"Content-Type: application/json",
]
--- response_body_like eval
[
qr/K-1/,
qr/^[0-9a-f]+$/,
qr/^\{"dead_letters":\[\{"id":1,"created":\d{13},"created_iso":"$::Iso","updated":\d{13},"updated_iso":"$::Iso","attempt":1,"last_status":500,"last_error":"HTTP status 500","event":"license_created","event_id":"$::Uuid","url":"http:\/\/127\.0\.0\.1:\d+\/flaky"\}\],"next":null\}\n$/,
qr/^$/,
qr/^\{"replayed":1\}\n$/,
qr/^[0-9a-f]+$/,
qr/^\{"dead_letters":\[\],"next":null\}\n$/,
qr/^\{"records":\[\{"key":"\d{13}-2","time":\d{13},"time_iso":"$::Iso","outcome":"delivered","status":200,"attempt":1,"duration_ms":\d+,"item_id":1,"event":"license_created","event_id":"($::Uuid)","url":"http:\/\/127\.0\.0\.1:\d+\/flaky","error":"","answer":""\},\{"key":"\d{13}-1","time":\d{13},"time_iso":"$::Iso","outcome":"dead","status":500,"attempt":1,"duration_ms":\d+,"item_id":1,"event":"license_created","event_id":"\1","url":"http:\/\/127\.0\.0\.1:\d+\/flaky","error":"HTTP status 500","answer":"<html>[^"]*500 Internal Server Error[^"]*"\}\],"next":null\}\n$/,
]
--- no_error_log
[alert]
[crit]



=== TEST 2: the body of a dead letter with body=1; filters of the log
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
[
"GET /qlm/GetActivationKey",
"GET /pause",
"GET /admin/dead?body=1",
"GET /admin/log?outcome=delivered",
"GET /admin/log?outcome=dead&event=license_created",
"GET /admin/log?event=license_deleted",
"GET /admin/log?url=http%3A%2F%2F127.0.0.1%3A$ENV{TEST_NGINX_RECEIVER_PORT}%2Fflaky",
"GET /admin/log?url=http://127.0.0.1:1/other",
"GET /admin/log?since=-1h",
"GET /admin/log?since=4102444800",
"GET /admin/log?until=2000-01-01T00:00:00Z",
"GET /admin/log?since=2000-01-01&until=2100-01-01T00:00:00%2B02:00",
]
--- response_body_like eval
[
qr/K-1/,
qr/^[0-9a-f]+$/,
qr/^\{"dead_letters":\[\{"id":1,.*"url":"[^"]+\/flaky","body":"\{\\"EventType\\":\\"license_created\\",.*\\"LicenseInfo\\":\{\\"ActivationKey\\":\\"K-1\\"\}\}"\}\],"next":null\}\n$/,
qr/^\{"records":\[\],"next":null\}\n$/,
qr/^\{"records":\[\{"key":"\d+-1",[^\]]*"outcome":"dead"[^\]]*\}\],"next":null\}\n$/,
qr/^\{"records":\[\],"next":null\}\n$/,
qr/^\{"records":\[\{"key":"\d+-1",.*\],"next":null\}\n$/,
qr/^\{"records":\[\],"next":null\}\n$/,
qr/^\{"records":\[\{"key":"\d+-1",.*\],"next":null\}\n$/,
qr/^\{"records":\[\],"next":null\}\n$/,
qr/^\{"records":\[\],"next":null\}\n$/,
qr/^\{"records":\[\{"key":"\d+-1",.*\],"next":null\}\n$/,
]
--- no_error_log
[error]



=== TEST 3: paging: dead letters newest first, the cursor in "next"; the log's cursor is its last key
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
[
"GET /qlm/GetActivationKey",
"GET /qlm/GetActivationKey",
"GET /qlm/GetActivationKey",
"GET /pause",
"GET /admin/dead?limit=2",
"GET /admin/dead?limit=2&after=2",
"GET /admin/dead?limit=3",
"GET /admin/log?limit=2",
"GET /admin/log?limit=2&after=99999999999999-0",
"GET /admin/log?limit=1000&after=1-0",
]
--- response_body_like eval
[
qr/K-1/, qr/K-1/, qr/K-1/,
qr/^[0-9a-f]+$/,
qr/^\{"dead_letters":\[\{"id":3,[^\]]*\},\{"id":2,[^\]]*\}\],"next":"2"\}\n$/,
qr/^\{"dead_letters":\[\{"id":1,[^\]]*\}\],"next":null\}\n$/,
qr/^\{"dead_letters":\[\{"id":3,.*\{"id":2,.*\{"id":1,[^\]]*\}\],"next":null\}\n$/,
qr/^\{"records":\[\{"key":"\d+-3",.*\},\{"key":"(\d+-2)",[^\]]*\}\],"next":"\1"\}\n$/,
qr/^\{"records":\[\{"key":"\d+-3",.*\},\{"key":"(\d+-2)",[^\]]*\}\],"next":"\1"\}\n$/,
qr/^\{"records":\[\],"next":null\}\n$/,
]
--- no_error_log
[error]



=== TEST 4: recover since a time: Unix seconds, relative, ISO 8601; replay of all
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
[
"GET /qlm/GetActivationKey",
"GET /qlm/GetActivationKey",
"GET /pause",
"POST /admin/recover?since=4102444800",
"POST /admin/recover?since=-1h",
"GET /pause",
"POST /admin/recover?since=2020-01-01T00:00:00Z",
"GET /pause",
"POST /admin/dead/replay",
"GET /pause",
"GET /admin/dead",
]
--- response_body_like eval
[
qr/K-1/, qr/K-1/,
qr/^[0-9a-f]+$/,
qr/^\{"replayed":0\}\n$/,
qr/^\{"replayed":2\}\n$/,
qr/^[0-9a-f]+$/,
qr/^\{"replayed":2\}\n$/,
qr/^[0-9a-f]+$/,
qr/^\{"replayed":2\}\n$/,
qr/^[0-9a-f]+$/,
qr/^\{"dead_letters":\[\{"id":2,"created":\d+,"created_iso":"[^"]+","updated":\d+,"updated_iso":"[^"]+","attempt":1,.*\{"id":1,[^\]]*\}\],"next":null\}\n$/,
]
--- no_error_log
[alert]
[crit]



=== TEST 5: a test event arrives signed with the configured secret, marked as a test
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
POST /admin/test?event=license_activated
--- error_code: 202
--- response_body_like eval
qr/^\{"event":"license_activated","event_id":"$::Uuid","deliveries":\[\{"id":1,"url":"http:\/\/127\.0\.0\.1:\d+\/hook"\}\]\}\n$/
--- wait: 0.5
--- error_log eval
[
qr/qlm webhook: admin: test "license_activated" event $::Uuid queued for 1 URL,/,
qr/VERIFY valid license_activated 1 \{\\"Test\\":true,\\"EventType\\":\\"license_activated\\",\\"EventId\\":\\"$::Uuid\\",\\"Timestamp\\":\\"[0-9T:-]+\\",\\"LicenseInfo\\":\{[^}]*\\"ActivationKey\\":\\"TEST-0000-0000-0000\\"[^}]*\\"ProductID\\":1[,}]/,
qr/qlm webhook: "license_activated" event $::Uuid to http:\/\/127\.0\.0\.1:\d+\/hook delivered: status 200/,
]
--- no_error_log
[error]
VERIFY invalid



=== TEST 6: a test event to a URL given by its address, of another event: Standard Webhooks when so configured
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
"POST /admin/test?url=http%3A%2F%2F127.0.0.1%3A$ENV{TEST_NGINX_RECEIVER_PORT}%2Fstd&event=customer_created"
--- error_code: 202
--- response_body_like eval
qr/^\{"event":"customer_created","event_id":"$::Uuid","deliveries":\[\{"id":1,"url":"http:\/\/127\.0\.0\.1:\d+\/std"\}\]\}\n$/
--- wait: 0.5
--- error_log eval
qr/VERIFY valid customer_created 1 \{\\"Test\\":true,\\"EventType\\":\\"customer_created\\",.*\\"CustomerInfo\\":\{[^}]*\\"CustomerID\\":1[,}]/
--- no_error_log
[error]
VERIFY invalid



=== TEST 7: a test event by URL signs with the secret the real ones use: a task's own
--- http_config eval
qq{
    log_format taskhook escape=json 'TASKHOOK \$qlm_webhook_verify_result '
        '\$http_x_qlm_event \$http_x_qlm_delivery_attempt \$request_body';
} . ($::HttpConfig =~ s{location /hook \{}{location /taskhook {
            qlm_webhook_verify on;
            qlm_webhook_verify_secret task-secret-456;
            access_log logs/error.log taskhook;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_APP_PORT}/ok;
        }

        location /hook \{}r) . qq{
    qlm_webhook_search soon "ExpiryDate < [today_start]";
    qlm_webhook_task renewals search=soon every=1d
        url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/taskhook
        secret=task-secret-456;
}
--- config eval: $::Config
--- request eval
"POST /admin/test?url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/taskhook"
--- error_code: 202
--- wait: 0.5
--- error_log eval
qr/TASKHOOK valid license_created 1 \{\\"Test\\":true,/
--- no_error_log
[error]



=== TEST 8: every URL subscribed to the event by default; only configured URLs; no credentials shown
--- log_level: info
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
[
"POST /admin/test?url=http://127.0.0.1:1/elsewhere",
"POST /admin/test?url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/",
"POST /admin/test?event=license_released",
"POST /admin/test?event=license_exploded",
"POST /admin/test?event=license_modified",
"POST /admin/test?url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/flaky",
"GET /pause",
"GET /admin/dead",
"GET /admin/log",
]
--- error_code eval
[400, 400, 400, 400, 202, 202, 200, 200, 200]
--- response_headers_like eval
[
"Content-Type: application/json", "", "", "", "", "", "", "", "",
]
--- response_body_like eval
[
qr/^\{"error":"not a configured URL: a test event goes only to a URL of qlm_webhook_url or of a task"\}\n$/,
qr/^\{"error":"not a configured URL/,
qr/^\{"error":"no URL is subscribed to \\"license_released\\""\}\n$/,
qr/^\{"error":"unknown event"\}\n$/,
qr/^\{"event":"license_modified","event_id":"[^"]+","deliveries":\[\{"id":1,"url":"http:\/\/127\.0\.0\.1:\d+\/flaky"\}\]\}\n$/,
qr/^\{"event":"license_created","event_id":"[^"]+","deliveries":\[\{"id":2,"url":"http:\/\/127\.0\.0\.1:\d+\/flaky"\}\]\}\n$/,
qr/^[0-9a-f]+$/,
qr/^\{"dead_letters":\[\{"id":2,.*"url":"http:\/\/127\.0\.0\.1:\d+\/flaky"\},\{"id":1,.*"url":"http:\/\/127\.0\.0\.1:\d+\/flaky"\}\],"next":null\}\n$/,
qr/"outcome":"dead"/,
]
--- response_body_unlike eval
[
qr/hunter2|s3cr3t|admin-secret|YWRtaW4tc2VjcmV0/, qr/hunter2|s3cr3t|admin-secret|YWRtaW4tc2VjcmV0/,
qr/hunter2|s3cr3t|admin-secret|YWRtaW4tc2VjcmV0/, qr/hunter2|s3cr3t|admin-secret|YWRtaW4tc2VjcmV0/,
qr/hunter2|s3cr3t|admin-secret|YWRtaW4tc2VjcmV0/, qr/hunter2|s3cr3t|admin-secret|YWRtaW4tc2VjcmV0/,
qr/hunter2|s3cr3t|admin-secret|YWRtaW4tc2VjcmV0/, qr/hunter2|s3cr3t|admin-secret|YWRtaW4tc2VjcmV0/,
qr/hunter2|s3cr3t|admin-secret|YWRtaW4tc2VjcmV0/,
]
--- no_error_log
hunter2
s3cr3t
YWRtaW4tc2VjcmV0
[error]



=== TEST 9: errors as JSON: no such endpoint, method, bad arguments, no such dead letter
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
[
"GET /admin/",
"GET /admin/dead/x/replay",
"POST /admin/log",
"GET /admin/dead/replay",
"POST /admin/dead/7/replay",
"GET /admin/log?outcome=maybe",
"GET /admin/log?limit=0",
"GET /admin/log?limit=1001",
"GET /admin/log?after=yesterday",
"GET /admin/log?since=soon",
"GET /admin/dead?after=-1",
"POST /admin/recover",
"POST /admin/recover?since=2020-13-01",
]
--- error_code eval
[404, 404, 405, 405, 404, 400, 400, 400, 400, 400, 400, 400, 400]
--- response_headers_like eval
[
"Content-Type: application/json",
"Content-Type: application/json",
"Allow: GET, HEAD",
"Allow: POST",
"Content-Type: application/json",
"", "", "", "", "", "", "", "",
]
--- response_body eval
[
qq{{"error":"no such endpoint"}\n},
qq{{"error":"no such endpoint"}\n},
qq{{"error":"use GET"}\n},
qq{{"error":"use POST"}\n},
qq{{"error":"no dead letter 7"}\n},
qq{{"error":"outcome must be \\"delivered\\", \\"retry\\" or \\"dead\\""}\n},
qq{{"error":"\\"limit\\" must be 1 to 1000"}\n},
qq{{"error":"\\"limit\\" must be 1 to 1000"}\n},
qq{{"error":"invalid \\"after\\": use \\"next\\" of the previous page"}\n},
qq{{"error":"invalid \\"since\\""}\n},
qq{{"error":"invalid \\"after\\": use \\"next\\" of the previous page"}\n},
qq{{"error":"recover needs \\"since\\""}\n},
qq{{"error":"invalid \\"since\\""}\n},
]
--- no_error_log
[error]



=== TEST 10: a delivery still in the queue is not a dead letter: 409
--- http_config eval
$::HttpConfig . "    qlm_webhooks off;\n"
--- config eval: $::Config
--- request eval
[
"POST /admin/test?event=license_activated",
"POST /admin/dead/1/replay",
]
--- error_code eval
[202, 409]
--- response_body_like eval
[
qr/^\{"event":"license_activated"/,
qr/^\{"error":"delivery 1 is in the queue, not a dead letter"\}\n$/,
]
--- no_error_log
[error]



=== TEST 11: guarded by nginx's own access directives
--- http_config eval: $::HttpConfig
--- config
    location /admin/ {
        deny all;
        qlm_webhook_admin;
    }
--- request
GET /admin/log
--- error_code: 403
--- response_body_unlike
records



=== TEST 12: qlm_webhook_admin takes no arguments, and only in a location
--- http_config eval: $::HttpConfig
--- config
    location /admin/ {
        qlm_webhook_admin on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid number of arguments in "qlm_webhook_admin" directive in \S+nginx\.conf:\d+/



=== TEST 13: not in server context
--- http_config eval: $::HttpConfig
--- config
    qlm_webhook_admin;
--- must_die
--- error_log eval
qr/\[emerg\] .*"qlm_webhook_admin" directive is not allowed here in \S+nginx\.conf:\d+/
