# Delivery on nginx's own connections (http:// URLs with an IP address):
# the request's bytes as a receiver sees them (verified signature), kept-
# alive connections reused one request after the other, chunked answers
# read whole and kept for the log, a receiver that closes its connections,
# and answers that are not HTTP or too large.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;

# the receiver logs each hook with its connection and the request's number
# on it; /verified checks the signature of the body as it arrived
our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret http-client-secret;
    qlm_webhook_max_retries 0;
    qlm_webhook_concurrency 1;

    log_format hook escape=none 'HOOK \$request_method \$request_uri '
        'proto=\$server_protocol host=\$http_host ua=\$http_user_agent '
        'ct=\$content_type cl=\$content_length event=\$http_x_qlm_event '
        'attempt=\$http_x_qlm_delivery_attempt '
        'verify=\$qlm_webhook_verify_result '
        'conn=\$connection req=\$connection_requests';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;

        location / {
            return 200 '<QuickLicenseManager><pckey>K-\$request_id</pckey></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        access_log logs/error.log hook;
        access_log logs/hooks.log hook;

        location /verified {
            qlm_webhook_verify on;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/ok;
        }

        location = /ok {
            access_log off;
            return 200 '{"ok":true}';
        }

        # SSI drops the length: HTTP/1.1 clients get chunks
        location = /chunked {
            ssi on;
            ssi_types *;
            default_type text/html;
            return 200 'a chunked answer, read whole';
        }

        location = /empty {
            return 444;
        }
    }
_EOC_

our $Config = <<"_EOC_";
    location /qlm/ {
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey "xml://pckey";
    }

    location = /pause {
        limit_rate_after 0;
        limit_rate 2k;
        return 200 "\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id";
    }

    location = /hooks.log {
        default_type text/plain;
        alias logs/hooks.log;
    }

    location /admin/ {
        allow 127.0.0.1;
        deny all;
        qlm_webhook_admin;
    }
_EOC_

repeat_each(1);
no_long_string();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the request on the wire: HTTP/1.1, Host as in the URL, the module's agent, JSON, a signature that verifies
--- http_config eval
$::HttpConfig . qq{
    qlm_webhook_url license_created "http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/verified?tenant=a";
}
--- config eval: $::Config
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait: 0.5
--- error_log eval
[
qr/^HOOK POST \/verified\?tenant=a proto=HTTP\/1\.1 host=127\.0\.0\.1:\d+ ua=ngx_qlm_webhook_module\/[0-9.]+ ct=application\/json cl=\d+ event=license_created attempt=1 verify=valid conn=\d+ req=1$/m,
qr/"license_created" event \S+ to http:\/\/127\.0\.0\.1:\d+\/verified delivered: status 200/,
]
--- no_error_log
[error]
[alert]



=== TEST 2: one kept-alive connection carries deliveries one after the other
--- http_config eval
$::HttpConfig . qq{
    qlm_webhook_url license_created "http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/verified";
}
--- config eval: $::Config
--- request eval
[
"GET /qlm/qlmservice.asmx/GetActivationKey",
"GET /pause",
"GET /qlm/qlmservice.asmx/GetActivationKey",
"GET /pause",
"GET /qlm/qlmservice.asmx/GetActivationKey",
"GET /pause",
"GET /hooks.log",
]
--- response_body_like eval
[
qr/K-/, qr/^\w+$/, qr/K-/, qr/^\w+$/, qr/K-/, qr/^\w+$/,
qr/\AHOOK POST \/verified [^\n]*verify=valid conn=(\d+) req=1\nHOOK POST \/verified [^\n]*verify=valid conn=\1 req=2\nHOOK POST \/verified [^\n]*verify=valid conn=\1 req=3\n\z/,
]
--- no_error_log eval
[("[error]") x 7]



=== TEST 3: a chunked answer is read whole, kept in the invocation log, and its connection kept
--- http_config eval
$::HttpConfig . qq{
    qlm_webhook_url license_created "http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/chunked";
}
--- config eval: $::Config
--- request eval
[
"GET /qlm/qlmservice.asmx/GetActivationKey",
"GET /pause",
"GET /qlm/qlmservice.asmx/GetActivationKey",
"GET /pause",
"GET /admin/log?outcome=delivered",
"GET /hooks.log",
]
--- response_body_like eval
[
qr/K-/, qr/^\w+$/, qr/K-/, qr/^\w+$/,
qr/\A\{"records":\[\{[^\]]*"outcome":"delivered","status":200,[^\]]*"answer":"a chunked answer, read whole"\},\{[^\]]*"outcome":"delivered","status":200,[^\]]*"answer":"a chunked answer, read whole"\}\]/,
qr/\AHOOK POST \/chunked [^\n]* conn=(\d+) req=1\nHOOK POST \/chunked [^\n]* conn=\1 req=2\n\z/,
]
--- no_error_log eval
[("[error]") x 6]



=== TEST 4: a receiver that closes after each answer (Connection: close) gets a new connection each time
--- http_config eval
($::HttpConfig =~ s/(listen 127\.0\.0\.1:$ENV{TEST_NGINX_RECEIVER_PORT};)/$1\n        keepalive_requests 1;/r) . qq{
    qlm_webhook_url license_created "http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/verified";
}
--- config eval: $::Config
--- request eval
[
"GET /qlm/qlmservice.asmx/GetActivationKey",
"GET /pause",
"GET /qlm/qlmservice.asmx/GetActivationKey",
"GET /pause",
"GET /hooks.log",
]
--- response_body_like eval
[
qr/K-/, qr/^\w+$/, qr/K-/, qr/^\w+$/,
qr/\AHOOK POST \/verified [^\n]*attempt=1 verify=valid conn=(\d+) req=1\nHOOK POST \/verified [^\n]*attempt=1 verify=valid conn=(?!\1\b)\d+ req=1\n\z/,
]
--- no_error_log eval
[("[error]") x 5]



=== TEST 5: a kept connection the receiver closed while idle is not used: the next delivery is its first attempt's success
--- http_config eval
($::HttpConfig =~ s/(listen 127\.0\.0\.1:$ENV{TEST_NGINX_RECEIVER_PORT};)/$1\n        keepalive_timeout 100ms;/r) . qq{
    qlm_webhook_url license_created "http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/verified";
}
--- config eval: $::Config
--- request eval
[
"GET /qlm/qlmservice.asmx/GetActivationKey",
"GET /pause",
"GET /pause",
"GET /qlm/qlmservice.asmx/GetActivationKey",
"GET /pause",
"GET /hooks.log",
]
--- response_body_like eval
[
qr/K-/, qr/^\w+$/, qr/^\w+$/, qr/K-/, qr/^\w+$/,
qr/\AHOOK POST \/verified [^\n]*attempt=1 verify=valid conn=(\d+) req=1\nHOOK POST \/verified [^\n]*attempt=1 verify=valid conn=(?!\1\b)\d+ req=1\n\z/,
]
--- no_error_log eval
[("[error]") x 6]



=== TEST 6: a receiver that closes without answering: the attempt fails with what happened
--- http_config eval
$::HttpConfig . qq{
    qlm_webhook_url license_created "http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/empty";
}
--- config eval: $::Config
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait: 0.5
--- error_log eval
qr/"license_created" event \S+ to http:\/\/127\.0\.0\.1:\d+\/empty failed, moved to dead letters: status 0, \d+ ms, attempt 1, empty reply from the receiver$/m
--- no_error_log
[alert]
[crit]



=== TEST 7: an answer whose header is larger than 8 KB fails the attempt, said so
--- http_config eval
my $h = CORE::join '', map { "            add_header X-Big-$_ \"" . ('b' x 1000) . "\";\n" } 1 .. 10;
($::HttpConfig =~ s/(location = \/ok \{\n)/$1$h/r) . qq{
    qlm_webhook_url license_created "http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/ok";
}
--- config eval: $::Config
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait: 0.5
--- error_log eval
qr/to http:\/\/127\.0\.0\.1:\d+\/ok failed, moved to dead letters: status 0, \d+ ms, attempt 1, the answer's header is larger than 8192 bytes$/m
--- no_error_log
[alert]
[crit]



=== TEST 8: a kept connection that the receiver drops as the request arrives: the request goes once more on a new connection, still attempt 1
--- http_config eval
($::HttpConfig =~ s/(location \/verified \{\n)/$1            if (\$connection_requests = 2) {\n                return 444;\n            }\n/r) . qq{
    qlm_webhook_url license_created "http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/verified";
}
--- config eval: $::Config
--- request eval
[
"GET /qlm/qlmservice.asmx/GetActivationKey",
"GET /pause",
"GET /qlm/qlmservice.asmx/GetActivationKey",
"GET /pause",
"GET /hooks.log",
]
--- response_body_like eval
[
qr/K-/, qr/^\w+$/, qr/K-/, qr/^\w+$/,
qr/\AHOOK POST \/verified [^\n]*attempt=1 verify=valid conn=(\d+) req=1\nHOOK POST \/verified [^\n]*attempt=1 verify=\S* conn=\1 req=2\nHOOK POST \/verified [^\n]*attempt=1 verify=valid conn=(?!\1\b)\d+ req=1\n\z/,
]
--- no_error_log eval
[("failed") x 5]
