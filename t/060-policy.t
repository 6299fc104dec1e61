# The delivery policy receivers expect: Retry-After on 429 and 503, bounded
# by qlm_webhook_retry_after_max; 410 Gone stops that delivery at once.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;

# the receiver answers by the attempt's number: the first is refused
our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store;

    log_format hook escape=none 'HOOK \$uri attempt=\$http_x_qlm_delivery_attempt';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;

        location / {
            return 200 '<QuickLicenseManager><pckey>K</pckey></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        access_log logs/error.log hook;

        location /busy {
            if (\$http_x_qlm_delivery_attempt = 1) {
                add_header Retry-After 1 always;
                return 429;
            }

            return 200;
        }

        location /down {
            if (\$http_x_qlm_delivery_attempt = 1) {
                add_header Retry-After "Fri, 31 Dec 2100 23:59:59 GMT" always;
                return 503;
            }

            return 200;
        }

        location /past {
            if (\$http_x_qlm_delivery_attempt = 1) {
                add_header Retry-After "Sun, 06 Nov 1994 08:49:37 GMT" always;
                return 503;
            }

            return 200;
        }

        location /ok {
            return 200;
        }

        location /answer {
            default_type application/json;
            return 500 '{"error":"database down"}';
        }

        location /big {
            return 200 "\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id";
        }

        location /gone {
            return 410;
        }

        location /plain {
            return 429;
        }

        location /fail {
            return 500;
        }

        location /flaky {
            if (\$http_x_qlm_delivery_attempt ~ ^[12]\$) {
                return 500;
            }

            return 200;
        }

        # about 2 s an answer (nginx sends a second's worth at once)
        location /slow {
            limit_rate_after 0;
            limit_rate 500;
            return 200 "\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id";
        }
    }
_EOC_

our $Config = <<'_EOC_';
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit license_created;
    }

    location = /pause {
        limit_rate_after 0;
        limit_rate 2k;
        return 200 "$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id";
    }

    location = /status {
        qlm_webhook_status;
    }
_EOC_

no_long_string();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: 429 with Retry-After in seconds: the next attempt then, not after the retry interval
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_retry_interval 1h;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/busy;
}
--- config eval: $::Config
--- request
GET /qlm/GetActivationKey
--- wait: 2.5
--- error_log eval
[
qr/^HOOK \/busy attempt=1$/m,
qr/to http:\/\/127\.0\.0\.1:\d+\/busy failed, will retry: status 429, \d+ ms, attempt 1, HTTP status 429, next attempt in 1000 ms as Retry-After asks$/m,
qr/^HOOK \/busy attempt=2$/m,
qr/to http:\/\/127\.0\.0\.1:\d+\/busy delivered: status 200, \d+ ms, attempt 2$/m,
]
--- no_error_log
[error]



=== TEST 2: 503 with an HTTP-date decades away: qlm_webhook_retry_after_max bounds the wait
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_retry_after_max 1s;
    qlm_webhook_retry_interval 1h;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/down;
}
--- config eval: $::Config
--- request
GET /qlm/GetActivationKey
--- wait: 2.5
--- error_log eval
[
qr/\/down failed, will retry: status 503, \d+ ms, attempt 1, HTTP status 503, next attempt in 1000 ms as Retry-After asks$/m,
qr/\/down delivered: status 200, \d+ ms, attempt 2$/m,
]
--- no_error_log
[error]



=== TEST 3: 503 with an HTTP-date in the past: again at once
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_retry_interval 1h;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/past;
}
--- config eval: $::Config
--- request
GET /qlm/GetActivationKey
--- wait: 1
--- error_log eval
[
qr/\/past failed, will retry: status 503, \d+ ms, attempt 1, HTTP status 503, next attempt in 0 ms as Retry-After asks$/m,
qr/\/past delivered: status 200, \d+ ms, attempt 2$/m,
]
--- no_error_log
[error]



=== TEST 4: 429 without Retry-After: the retry interval
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_retry_interval 1h;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/plain;
}
--- config eval: $::Config
--- request
GET /qlm/GetActivationKey
--- wait: 1.5
--- error_log eval
qr/\/plain failed, will retry: status 429, \d+ ms, attempt 1, HTTP status 429$/m
--- no_error_log eval
[
qr/attempt=2/,
qr/Retry-After/,
]



=== TEST 5: 410 Gone: a dead letter at once, said so, never retried
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_retry_interval 200ms;
    qlm_webhook_max_retries 5;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/gone;
}
--- config eval: $::Config
--- request
GET /qlm/GetActivationKey
--- wait: 1
--- error_log eval
qr/\[warn\].*to http:\/\/127\.0\.0\.1:\d+\/gone gone, moved to dead letters: status 410, \d+ ms, attempt 1, HTTP status 410 Gone: the receiver wants no more deliveries, not retried$/m
--- no_error_log eval
[
qr/attempt=2/,
qr/will retry/,
]



=== TEST 6: 410 Gone on the status page: a dead letter, counted as "gone"
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/gone;
}
--- config eval: $::Config
--- request eval
[
"GET /qlm/GetActivationKey",
"GET /pause",
"GET /status",
]
--- response_body_like eval
[
qr/K/,
qr/^[0-9a-f]+$/,
qr/"dead_letters":1,.*"license_created":\{"stored":1,"delivered":0,"retry":0,"dead":1\},.*"gone":1,"retry_after":0,/s,
]
--- no_error_log
[error]



=== TEST 7: a receiver that keeps failing: its circuit opens, one attempt at a time, at most one a second here (the retry interval caps the wait, whole seconds), not every 100 ms
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_retry_interval 100ms;
    qlm_webhook_max_retries 20;
    qlm_webhook_breaker 2;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/fail;
}
--- config eval: $::Config
--- request
GET /qlm/GetActivationKey
--- wait: 2.5
--- error_log eval
[
qr/\/fail failed, will retry: status 500, \d+ ms, attempt 2, HTTP status 500$/m,
qr/\[warn\].*qlm webhook: http:\/\/127\.0\.0\.1:\d+\/fail failed 2 times in a row, circuit open: one attempt at a time, backing off/,
qr/^HOOK \/fail attempt=3$/m,
]
--- no_error_log eval
[
qr/attempt=7/,
]



=== TEST 8: a success closes the circuit
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_retry_interval 100ms;
    qlm_webhook_breaker 2;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/flaky;
}
--- config eval: $::Config
--- request
GET /qlm/GetActivationKey
--- wait: 2.5
--- error_log eval
[
qr/\/flaky failed 2 times in a row, circuit open/,
qr/\[notice\].*qlm webhook: http:\/\/127\.0\.0\.1:\d+\/flaky answers again, circuit closed/,
qr/\/flaky delivered: status 200, \d+ ms, attempt 3$/m,
]
--- no_error_log
[error]



=== TEST 9: qlm_webhook_url_concurrency: one attempt in flight to a slow receiver, the others wait
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url_concurrency 1;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/slow;
}
--- config eval: $::Config
--- request eval
[
"GET /qlm/GetActivationKey",
"GET /qlm/GetActivationKey",
"GET /qlm/GetActivationKey",
"GET /status",
]
--- response_body_like eval
[
qr/K/, qr/K/, qr/K/,
qr/"store":\{"open":true,"queued":3,.*"in_flight":1,/s,
]
--- no_error_log
[error]



=== TEST 10: without it, half of qlm_webhook_concurrency
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_concurrency 4;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/slow;
}
--- config eval: $::Config
--- request eval
[
"GET /qlm/GetActivationKey",
"GET /qlm/GetActivationKey",
"GET /qlm/GetActivationKey",
"GET /status",
]
--- response_body_like eval
[
qr/K/, qr/K/, qr/K/,
qr/"store":\{"open":true,"queued":3,.*"in_flight":2,/s,
]
--- no_error_log
[error]



=== TEST 11: qlm_webhook_task_concurrency: a task's deliveries take one slot, events go on
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_task_concurrency 1;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/ok;
    qlm_webhook_search everyone "Email Like '%@example.com'";
    qlm_webhook_task slow "search=everyone" every=1s
        url=http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/slow;
}
--- config eval
$::Config . q{
    location /qlm2/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey $qlm_webhook_arg_is_avkey;
        qlm_webhook_field Email $qlm_webhook_arg_is_email;
    }

    location = /pause2 {
        limit_rate_after 0;
        limit_rate 300;
        return 200 "$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id";
    }
}
--- request eval
[
"GET /qlm2/GetActivationKey?is_avkey=K-1&is_email=a%40example.com",
"GET /qlm2/GetActivationKey?is_avkey=K-2&is_email=b%40example.com",
"GET /qlm2/GetActivationKey?is_avkey=K-3&is_email=c%40example.com",
"GET /pause2",
"GET /pause2",
"GET /status",
]
--- response_body_like eval
[
qr/K/, qr/K/, qr/K/,
qr/^[0-9a-f]+$/, qr/^[0-9a-f]+$/,
qr/"queued":([2-9]|\d\d+),.*"in_flight":1,.*"license_created":\{"stored":3,"delivered":3,.*"scheduled_tasks":\{"stored":\d+,"delivered":[01],/s,
]
--- timeout: 10
--- no_error_log
[error]



=== TEST 12: retry=list: one attempt after each wait, then a dead letter
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_breaker 0;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/fail retry=200ms,300ms;
}
--- config eval: $::Config
--- request
GET /qlm/GetActivationKey
--- wait: 1.5
--- error_log eval
[
qr/\/fail failed, will retry: status 500, \d+ ms, attempt 1, HTTP status 500$/m,
qr/\/fail failed, will retry: status 500, \d+ ms, attempt 2, HTTP status 500$/m,
qr/\/fail failed, moved to dead letters: status 500, \d+ ms, attempt 3, HTTP status 500$/m,
]
--- no_error_log eval
[
qr/attempt=4/,
]



=== TEST 13: retry=exponential:base:cap: waits double up to the cap, qlm_webhook_max_retries retries
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_breaker 0;
    qlm_webhook_retry_interval 1h;
    qlm_webhook_max_retries 3;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/fail scheme=qlm retry=exponential:100ms:200ms;
}
--- config eval: $::Config
--- request
GET /qlm/GetActivationKey
--- wait: 1.5
--- error_log eval
[
qr/\/fail failed, will retry: status 500, \d+ ms, attempt 3, HTTP status 500$/m,
qr/\/fail failed, moved to dead letters: status 500, \d+ ms, attempt 4, HTTP status 500$/m,
]
--- no_error_log eval
[
qr/attempt=5/,
]



=== TEST 14: a retry schedule that does not parse fails nginx -t
--- http_config
    qlm_webhook_url license_created http://127.0.0.1:1/hook retry=5s,soon,1h;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid "retry=5s,soon,1h", it must be "retry=exponential", "retry=exponential:base:cap" or a list of times greater than 0, as "retry=5s,5m,30m" in \S+/nginx\.conf:\d+}



=== TEST 15: an exponential cap below its base fails nginx -t
--- http_config
    qlm_webhook_url license_created http://127.0.0.1:1/hook retry=exponential:1m:5s;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*the cap of "retry=exponential:1m:5s" is less than its base in \S+/nginx\.conf:\d+}



=== TEST 16: the log keeps the receiver's answer, its first 1 KiB
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_retry_interval 1h;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/answer;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/big;
}
--- config eval
$::Config . q{
    location /admin/ {
        qlm_webhook_admin;
    }
}
--- request eval
[
"GET /qlm/GetActivationKey",
"GET /pause",
"GET /admin/log?outcome=retry",
"GET /admin/log?outcome=delivered",
]
--- response_body_like eval
[
qr/K/,
qr/^[0-9a-f]+$/,
qr/"status":500,.*"url":"http:\/\/127\.0\.0\.1:\d+\/answer","error":"HTTP status 500","answer":"\{\\"error\\":\\"database down\\"\}"\}/,
qr/"status":200,.*"url":"http:\/\/127\.0\.0\.1:\d+\/big","error":"","answer":"[0-9a-f]{1024}"\}/,
]
--- no_error_log
[error]



=== TEST 17: qlm_webhook_pause_after: a receiver failing that long is paused, said once, no more attempts
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_retry_interval 300ms;
    qlm_webhook_max_retries 50;
    qlm_webhook_breaker 0;
    qlm_webhook_pause_after 1s;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/fail;
}
--- config eval: $::Config
--- request
GET /qlm/GetActivationKey
--- wait: 3
--- error_log eval
[
qr/\[warn\].*qlm webhook: http:\/\/127\.0\.0\.1:\d+\/fail failing for [12] s, paused: its deliveries wait until it is resumed \(POST \.\.\.\/urls\/resume\?url=\)/,
qr/^HOOK \/fail attempt=2$/m,
]
--- no_error_log eval
[
qr/attempt=7/,
]



=== TEST 18: paused URLs on the status page, counted
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_retry_interval 300ms;
    qlm_webhook_max_retries 50;
    qlm_webhook_pause_after 1s;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/fail;
}
--- config eval
$::Config . q{
    location = /pause2 {
        limit_rate_after 0;
        limit_rate 300;
        return 200 "$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id";
    }
}
--- request eval
[
"GET /qlm/GetActivationKey",
"GET /pause2",
"GET /pause2",
"GET /status",
"GET /status?format=prometheus",
]
--- response_body_like eval
[
qr/K/,
qr/^[0-9a-f]+$/,
qr/^[0-9a-f]+$/,
qr/"queued":1,.*"paused":1[,}].*,"paused_urls":\["http:\/\/127\.0\.0\.1:\d+\/fail"\]\}$/s,
qr/\nqlm_webhook_url_paused\{url="http:\/\/127\.0\.0\.1:\d+\/fail"\} 1\n/,
]
--- timeout: 10



=== TEST 19: the admin API pauses and resumes a URL without a reload
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/ok;
}
--- config eval
$::Config . q{
    location /admin/ {
        qlm_webhook_admin;
    }
}
--- request eval
[
"POST /admin/urls/pause?url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/ok",
"GET /qlm/GetActivationKey",
"GET /pause",
"GET /status",
"POST /admin/urls/resume?url=http%3A%2F%2F127.0.0.1%3A$ENV{TEST_NGINX_RECEIVER_PORT}%2Fok",
"GET /pause",
"GET /status",
"POST /admin/urls/pause?url=http://127.0.0.1:1/other",
"GET /admin/urls/pause?url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/ok",
]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 400, 405]
--- response_body_like eval
[
qr/^\{"url":"http:\/\/127\.0\.0\.1:\d+\/ok","paused":true\}\n$/,
qr/K/,
qr/^[0-9a-f]+$/,
qr/"queued":1,.*"license_created":\{"stored":1,"delivered":0,.*"paused_urls":\["http:\/\/127\.0\.0\.1:\d+\/ok"\]\}$/s,
qr/^\{"url":"http:\/\/127\.0\.0\.1:\d+\/ok","paused":false\}\n$/,
qr/^[0-9a-f]+$/,
qr/"queued":0,.*"license_created":\{"stored":1,"delivered":1,.*"paused_urls":\[\]\}$/s,
qr/^\{"error":"not a configured URL"\}\n$/,
qr/^\{"error":"use POST"\}\n$/,
]
--- no_error_log
[error]



=== TEST 20: deliveries that waited for their receiver's turn were not counted as attempts
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url_concurrency 1;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/slow;
}
--- config eval
$::Config . q{
    location /admin/ {
        qlm_webhook_admin;
    }

    location = /pause3 {
        limit_rate_after 0;
        limit_rate 150;
        return 200 "$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id";
    }
}
--- request eval
[
"GET /qlm/GetActivationKey",
"GET /qlm/GetActivationKey",
"GET /pause3",
"GET /admin/log?outcome=delivered",
]
--- response_body_like eval
[
qr/K/, qr/K/,
qr/^[0-9a-f]+$/,
qr/^\{"records":\[\{[^{}]*"outcome":"delivered","status":200,"attempt":1,[^{}]*\},\{[^{}]*"outcome":"delivered","status":200,"attempt":1,[^{}]*\}\],/,
]
--- timeout: 15
--- no_error_log
[error]
