# Upstream answers of every shape: in many buffers, chunked, buffered to a
# temporary file, larger than the capture size, compressed, malformed.  The
# client always gets the upstream's bytes; an event goes out only for an
# answer whose success could be checked (or with error detection off).

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;

# an XML answer of about 40 KB with the key at its end
our $Big = '<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager>'
    . join('', map { sprintf '<row n="%05d">%s</row>', $_, 'x' x 60 } 1 .. 500)
    . '<pckey>BIG-KEY-1</pckey></QuickLicenseManager>';

our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_url license_created http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook;

    log_format hook escape=none 'HOOK body=\$request_body';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;
        root html;

        location = /chunked.xml {
            # sub_filter drops Content-Length: a chunked answer
            sub_filter_types text/xml;
            sub_filter 'n="00001"' 'n="first"';
        }

        location = /gzip {
            add_header Content-Encoding gzip;
            return 200 '<QuickLicenseManager><pckey>GZ</pckey></QuickLicenseManager>';
        }

        location = /broken {
            return 200 '<QuickLicenseManager><pckey>BROKEN</pckey></Quick';
        }

        location = /notjson {
            return 200 '{"key": "NJ-1",';
        }
    }

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        client_body_in_single_buffer on;

        location /hook {
            access_log logs/error.log hook;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/sink;
        }

        location /sink {
            access_log off;
            return 200;
        }
    }
_EOC_

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a chunked answer in many small buffers
--- http_config eval: $::HttpConfig
--- config
    location = /qlm/GetActivationKey {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/chunked.xml;
        proxy_http_version 1.1;
        proxy_buffer_size 1k;
        proxy_buffers 64 1k;
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey "xml://pckey";
        qlm_webhook_field Email $qlm_webhook_arg_is_email;
    }
--- user_files eval
">>> chunked.xml\n$::Big"
--- request
GET /qlm/GetActivationKey?is_email=big%40example.com
--- response_body eval
(my $b = $::Big) =~ s/n="00001"/n="first"/;
$b
--- wait: 0.5
--- error_log eval
[
qr/upstream.*chunked|http proxy header: "Transfer-Encoding: chunked"/,
qr/^HOOK body=\{"EventType":"license_created",.*"LicenseInfo":\{"ActivationKey":"BIG-KEY-1","Email":"big\@example\.com"\}\}$/m,
]
--- no_error_log
[warn]
[error]



=== TEST 2: an answer buffered to a temporary file (slow client)
--- http_config eval: $::HttpConfig
--- config
    location = /qlm/GetActivationKey {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/chunked.xml;
        proxy_buffer_size 1k;
        proxy_buffers 2 1k;
        proxy_busy_buffers_size 1k;
        limit_rate 20k;
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey "xml://pckey";
    }
--- user_files eval
">>> chunked.xml\n$::Big"
--- request
GET /qlm/GetActivationKey
--- response_body eval
(my $b = $::Big) =~ s/n="00001"/n="first"/;
$b
--- timeout: 10
--- wait: 0.5
--- error_log eval
[
qr/an upstream response is buffered to a temporary file/,
qr/^HOOK body=\{"EventType":"license_created",.*"LicenseInfo":\{"ActivationKey":"BIG-KEY-1"\}\}$/m,
]
--- no_error_log
[error]



=== TEST 3: an answer larger than qlm_webhook_capture_size cannot be checked: no event
--- http_config eval: $::HttpConfig
--- config
    location = /qlm/GetActivationKey {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/chunked.xml;
        qlm_webhook_capture_size 4k;
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey "xml://pckey";
        qlm_webhook_field Email $qlm_webhook_arg_is_email;
    }
--- user_files eval
">>> chunked.xml\n$::Big"
--- request
GET /qlm/GetActivationKey?is_email=big%40example.com
--- response_body eval
(my $b = $::Big) =~ s/n="00001"/n="first"/;
$b
--- wait: 0.5
--- error_log eval
qr/\[warn\] .*qlm webhook: no "license_created" event: the answer is larger than qlm_webhook_capture_size, so its success could not be checked/
--- no_error_log eval
[
qr/\[error\]/,
qr/^HOOK /m,
qr/queued for/,
]



=== TEST 4: a compressed answer is passed on, not parsed, and emits nothing
--- http_config eval: $::HttpConfig
--- config
    location = /qlm/GetActivationKey {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/gzip;
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey "xml://pckey";
        qlm_webhook_field ComputerID $qlm_webhook_arg_is_pcid;
    }
--- request
GET /qlm/GetActivationKey?is_pcid=PC-1
--- response_headers
Content-Encoding: gzip
--- response_body chomp
<QuickLicenseManager><pckey>GZ</pckey></QuickLicenseManager>
--- wait: 0.5
--- error_log eval
qr/\[warn\] .*no "license_created" event: the answer is compressed \(proxy_set_header Accept-Encoding ""\), so its success could not be checked/
--- no_error_log eval
[
qr/\[error\]/,
qr/^HOOK /m,
]



=== TEST 5: with error detection off, an unreadable answer emits without its fields
--- http_config eval: $::HttpConfig
--- config
    location = /qlm/GetActivationKey {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/gzip;
        qlm_webhook_error_detect off;
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey "xml://pckey";
        qlm_webhook_field ComputerID $qlm_webhook_arg_is_pcid;
    }
--- request
GET /qlm/GetActivationKey?is_pcid=PC-1
--- response_body chomp
<QuickLicenseManager><pckey>GZ</pckey></QuickLicenseManager>
--- wait: 0.5
--- error_log eval
[
qr/\[warn\] .*"license_created" event without the fields of the answer: the answer is compressed/,
qr/^HOOK body=\{"EventType":"license_created",.*"LicenseInfo":\{"ComputerID":"PC-1"\}\}$/m,
]
--- no_error_log
[error]



=== TEST 6: malformed XML: a warning, the event with the other fields
--- http_config eval: $::HttpConfig
--- config
    location = /qlm/GetActivationKey {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/broken;
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey "xml://pckey";
        qlm_webhook_field ComputerID $qlm_webhook_arg_is_pcid;
    }
--- request
GET /qlm/GetActivationKey?is_pcid=PC-2
--- response_body chomp
<QuickLicenseManager><pckey>BROKEN</pckey></Quick
--- wait: 0.5
--- error_log eval
[
qr/\[warn\] .*the answer is not parsable/,
qr/^HOOK body=\{"EventType":"license_created",.*"LicenseInfo":\{"ComputerID":"PC-2"\}\}$/m,
]
--- no_error_log
[error]



=== TEST 7: malformed JSON: a warning, the event with the other fields
--- http_config eval: $::HttpConfig
--- config
    location = /qlm/GetActivationKey {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/notjson;
        qlm_webhook_emit license_created;
        qlm_webhook_error_detect off;
        qlm_webhook_field ActivationKey json:/key;
        qlm_webhook_field ComputerID $qlm_webhook_arg_is_pcid;
    }
--- request
GET /qlm/GetActivationKey?is_pcid=PC-3
--- response_body chomp
{"key": "NJ-1",
--- wait: 0.5
--- error_log eval
[
qr/\[warn\] .*the answer is not parsable/,
qr/^HOOK body=\{"EventType":"license_created",.*"LicenseInfo":\{"ComputerID":"PC-3"\}\}$/m,
]
--- no_error_log
[error]



=== TEST 8: a HEAD request emits from the header alone
--- http_config eval: $::HttpConfig
--- config
    location = /qlm/GetActivationKey {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/gzip;
        qlm_webhook_emit license_created;
        qlm_webhook_error_detect off;
        qlm_webhook_field ComputerID $qlm_webhook_arg_is_pcid;
    }
--- request
HEAD /qlm/GetActivationKey?is_pcid=PC-4
--- response_body
--- wait: 0.5
--- error_log eval
qr/^HOOK body=\{"EventType":"license_created",.*"LicenseInfo":\{"ComputerID":"PC-4"\}\}$/m
--- no_error_log
[error]



=== TEST 9: a HEAD request with error detection on: its success cannot be checked, no event
--- http_config eval: $::HttpConfig
--- config
    location = /qlm/GetActivationKey {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/broken;
        qlm_webhook_emit license_created;
        qlm_webhook_field ComputerID $qlm_webhook_arg_is_pcid;
    }
--- request
HEAD /qlm/GetActivationKey?is_pcid=PC-5
--- response_body
--- wait: 0.5
--- error_log eval
qr/\[warn\] .*no "license_created" event: the answer has no body, so its success could not be checked/
--- no_error_log eval
[
qr/\[error\]/,
qr/^HOOK /m,
]




=== TEST 10: an XML answer with an entity reference, then <error>: the error is found, no event
--- http_config eval: $::HttpConfig
--- config
    location = /ls/entity {
        return 200 '<!DOCTYPE r [<!ENTITY e "K-ENT">]><r><pckey>&e;</pckey><error>no such key</error></r>';
    }

    location = /qlm/GetActivationKey {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ls/entity;
        qlm_webhook_emit license_created;
        qlm_webhook_field ComputerID $qlm_webhook_arg_is_pcid;
    }
--- request
GET /qlm/GetActivationKey?is_pcid=PC-10
--- response_body chomp
<!DOCTYPE r [<!ENTITY e "K-ENT">]><r><pckey>&e;</pckey><error>no such key</error></r>
--- wait: 0.5
--- error_log
no "license_created" event, the license server answered an error
--- no_error_log eval
[
qr/\[error\]/,
qr/^HOOK /m,
]



=== TEST 11: an XML answer with an entity reference and no error: the event goes out
--- http_config eval: $::HttpConfig
--- config
    location = /ls/entity {
        return 200 '<!DOCTYPE r [<!ENTITY e "K-ENT">]><r><pckey>&e;</pckey></r>';
    }

    location = /qlm/GetActivationKey {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ls/entity;
        qlm_webhook_emit license_created;
        qlm_webhook_field ComputerID $qlm_webhook_arg_is_pcid;
    }
--- request
GET /qlm/GetActivationKey?is_pcid=PC-11
--- response_body chomp
<!DOCTYPE r [<!ENTITY e "K-ENT">]><r><pckey>&e;</pckey></r>
--- wait: 0.5
--- error_log eval
qr/^HOOK body=\{"EventType":"license_created",.*"LicenseInfo":\{"ComputerID":"PC-11"\}\}$/m
--- no_error_log
[error]
