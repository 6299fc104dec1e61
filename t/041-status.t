# The status page: whole-server counters from shared memory and the
# store's figures, as JSON or in Prometheus' text format.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;

# /pause answers slowly (limit_rate): time for a delivery to end between
# two requests of a block
our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret "status-secret-123";
    qlm_webhook_retry_interval 1h;
    qlm_webhook_max_retries 1;
    qlm_webhook_url license_created http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/ok;
    qlm_webhook_url license_activated http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/fail;

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;

        location / {
            return 200 '<QuickLicenseManager><pckey>K-1</pckey></QuickLicenseManager>';
        }

        location /err {
            return 200 '<QuickLicenseManager><error>no such key</error></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        access_log off;

        location /ok {
            return 200;
        }

        location /fail {
            return 503;
        }
    }
_EOC_

our $Config = <<'_EOC_';
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/;
        qlm_webhook_emit license_created method=GetActivationKey;
        qlm_webhook_emit license_activated method=ActivateKey;
        qlm_webhook_field ActivationKey "xml://pckey";
    }

    location /qlm/err/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/err;
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
run_tests();

__DATA__

=== TEST 1: JSON: events stored, delivered and retried, by event; answers that emitted nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
[
"GET /qlm/GetActivationKey?is_productid=1",
"GET /qlm/GetActivationKey?is_productid=2",
"GET /qlm/ActivateKey?is_avkey=K-1",
"GET /qlm/err/GetActivationKey",
"GET /pause",
"GET /status",
]
--- response_headers_like eval
[
"", "", "", "", "",
"Content-Type: application/json",
]
--- response_body_like eval
[
qr/<pckey>K-1</,
qr/<pckey>K-1</,
qr/<pckey>K-1</,
qr/<error>/,
qr/^[0-9a-f]+$/,
qr/^\{"version":"[0-9.]+","enabled":true,"since":\d+,"store":\{"open":true,"queued":1,"due":0,"leased":0,"walked":1,"walk_partial":false,"dead_letters":0,"log_records":3,"next_due":\d+,"map_size":\d+,"map_used":\d+\},"in_flight":0,"deliveries":\{"license_activated":\{"stored":1,"delivered":0,"retry":1,"dead":0\},"license_created":\{"stored":2,"delivered":2,"retry":0,"dead":0\},.*"scheduled_tasks":\{"stored":0,"delivered":0,"retry":0,"dead":0\}\},"counters":\{"answer_error":1,"answer_too_large":0,.*"lost_store_full":0,.*\},"delivery_latency_ms":\{"buckets":\[\[5,\d\],.*\[3600000,2\]\],"count":2,"sum":\d+\},"paused_urls":\[\]\}$/s,
]
--- no_error_log
[error]



=== TEST 2: Prometheus' text format, by argument
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
[
"GET /qlm/GetActivationKey?is_productid=1",
"GET /pause",
"GET /status?format=prometheus",
]
--- response_headers_like eval
[
"", "",
"Content-Type: text/plain; version=0.0.4; charset=utf-8",
]
--- response_body_like eval
[
qr/K-1/,
qr/^[0-9a-f]+$/,
qr/^# HELP qlm_webhook_up .*\nqlm_webhook_up 1\n.*\nqlm_webhook_queue_items 0\n.*qlm_webhook_deliveries_total\{event="license_created",outcome="stored"\} 1\nqlm_webhook_deliveries_total\{event="license_created",outcome="delivered"\} 1\n.*qlm_webhook_events_total\{what="lost_store_full"\} 0\n.*qlm_webhook_delivery_latency_seconds_bucket\{le="0.005"\} \d\n.*qlm_webhook_delivery_latency_seconds_bucket\{le="\+Inf"\} 1\nqlm_webhook_delivery_latency_seconds_sum \d+\.\d{3}\nqlm_webhook_delivery_latency_seconds_count 1\n# HELP qlm_webhook_url_paused [^\n]*\n# TYPE qlm_webhook_url_paused gauge\n$/s,
]
--- no_error_log
[error]



=== TEST 3: Prometheus' text format, by Accept
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /status
--- more_headers
Accept: text/plain;version=0.0.4
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like
^# HELP qlm_webhook_up .*qlm_webhook_in_flight 0
--- no_error_log
[error]



=== TEST 4: the secret appears nowhere on the page
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
[
"GET /status",
"GET /status?format=prometheus",
]
--- response_body_unlike eval
[
qr/status-secret/,
qr/status-secret/,
]
--- no_error_log
[error]



=== TEST 5: only GET and HEAD
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
POST /status
hello
--- error_code: 405



=== TEST 6: qlm_webhook_status takes no arguments
--- http_config eval: $::HttpConfig
--- config
    location = /status {
        qlm_webhook_status json;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid number of arguments in "qlm_webhook_status" directive in \S+nginx\.conf:\d+/



=== TEST 7: due, leased and waiting deliveries, each in its own figure
--- http_config
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_retry_interval 1h;
    qlm_webhook_url license_activated http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/fail;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/slow;
    qlm_webhook_url license_modified http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/held;

    server {
        listen 127.0.0.1:$TEST_NGINX_LS_PORT;
        default_type text/xml;
        access_log off;

        location / {
            return 200 '<QuickLicenseManager><pckey>K-1</pckey></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_RECEIVER_PORT;
        access_log off;

        location /fail {
            return 500;
        }

        # about 6 s an answer: leased all through the block
        location /slow {
            limit_rate_after 0;
            limit_rate 200;
            return 200 "$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id";
        }

        location /held {
            return 200;
        }
    }
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/;
        qlm_webhook_emit license_created method=GetActivationKey;
        qlm_webhook_emit license_activated method=ActivateKey;
        qlm_webhook_emit license_modified method=UpdateLicenseHttp;
        qlm_webhook_field ActivationKey "xml://pckey";
    }

    location /admin/ {
        qlm_webhook_admin;
    }

    location = /pause {
        limit_rate_after 0;
        limit_rate 300;
        return 200 "$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id";
    }

    location = /status {
        qlm_webhook_status;
    }
--- request eval
[
"POST /admin/urls/pause?url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/held",
"GET /qlm/ActivateKey?is_avkey=K-1",
"GET /qlm/GetActivationKey?is_productid=1",
"GET /qlm/UpdateLicenseHttp?is_avkey=K-1",
"GET /pause",
"GET /status",
"GET /status?format=prometheus",
]
--- response_body_like eval
[
qr/"paused":true/,
qr/K-1/, qr/K-1/, qr/K-1/,
qr/^[0-9a-f]+$/,
qr/^\{"version":"[0-9.]+","enabled":true,"since":\d+,"store":\{"open":true,"queued":3,"due":1,"leased":1,"walked":3,"walk_partial":false,"dead_letters":0,.*"in_flight":1,.*"license_activated":\{"stored":1,"delivered":0,"retry":1,"dead":0\}/s,
qr/\nqlm_webhook_queue_items 3\n.*\nqlm_webhook_queue_due 1\n.*\nqlm_webhook_queue_leased 1\n.*\nqlm_webhook_queue_walk_partial 0\n/s,
]
--- no_error_log
[error]
--- timeout: 10
