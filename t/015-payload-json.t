# Payloads are valid JSON for any input: a number-typed field that is not
# a JSON integer, invalid UTF-8, NUL and control bytes in a field.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;

our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret json-secret;
    qlm_webhook_url license_created http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook;
    qlm_webhook_url customer_modified http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook;

    log_format hook escape=none 'HOOK body=\$request_body';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        access_log off;
        location / {
            return 200 '<QuickLicenseManager><result>ok</result></QuickLicenseManager>';
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

our $Config = <<"_EOC_";
    location /qlm/license {
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey \$qlm_webhook_arg_k;
        qlm_webhook_field FullName \$qlm_webhook_arg_name;
        qlm_webhook_field ProductID \$qlm_webhook_arg_p;
        qlm_webhook_field MajorVersion \$qlm_webhook_arg_ma;
        qlm_webhook_field MinorVersion \$qlm_webhook_arg_mi;
        qlm_webhook_field NumLicenses \$qlm_webhook_arg_n;
        qlm_webhook_field BundleID \$qlm_webhook_arg_b;
        qlm_webhook_field UsesAdminEncryption \$qlm_webhook_arg_u;
        qlm_webhook_field ExpiryDate \$qlm_webhook_arg_e;
    }

    location /qlm/customer {
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        qlm_webhook_emit customer_modified;
        qlm_webhook_field Country \$qlm_webhook_arg_country;
        qlm_webhook_field Phone \$qlm_webhook_arg_phone;
        qlm_webhook_field Email \$qlm_webhook_arg_email;
        qlm_webhook_field FullName \$qlm_webhook_arg_name;
        qlm_webhook_field CustomerID \$qlm_webhook_arg_id;
        qlm_webhook_field ActivationKey \$qlm_webhook_arg_k;
    }
_EOC_

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: numbers that are not JSON integers: leading zeros dropped, the rest as strings
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlm/license?k=K-1&p=007&ma=1e999&mi=-0&n=abc&b=0042&u=yes&e=2026-13-40
--- wait: 0.5
--- error_log eval
qr/^HOOK body=\{"EventType":"license_created","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-1","ExpiryDate":"2026-13-40","UsesAdminEncryption":"yes","ProductID":7,"MajorVersion":"1e999","MinorVersion":0,"NumLicenses":"abc","BundleID":"0042"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 2: invalid UTF-8 becomes U+FFFD, NUL and control bytes are escaped, valid UTF-8 stays
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlm/license?k=K-2&name=Ren%C3%A9%FF%ED%A0%80%00%01%22%5C%0A
--- wait: 0.5
--- error_log eval
qr/^HOOK body=\{"EventType":"license_created","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-2","FullName":"Ren\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\\u0000\\u0001\\"\\\\\\n"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 3: CustomerInfo in QLM's customer order; a license key is left out
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlm/customer?country=CA&phone=514&email=jo%40acme.com&name=Jo&id=12&k=K-3
--- wait: 0.5
--- error_log eval
qr/^HOOK body=\{"EventType":"customer_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","CustomerInfo":\{"CustomerID":12,"FullName":"Jo","Email":"jo\@acme\.com","Country":"CA","Phone":"514"\}\}$/m
--- no_error_log
[error]
[warn]
