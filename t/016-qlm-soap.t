# QLM's .NET client (QlmLicense, the License Wizard) speaks SOAP to
# qlmservice.asmx, its data encrypted with the CommunicationEncryptionKey:
# through a location with qlm.conf it passes byte for byte both ways and
# emits nothing.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(abs_path);

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;
$ENV{TEST_NGINX_QLM_CONF} ||= abs_path('conf/qlm.conf');
$ENV{TEST_NGINX_QLM_MODIFIED_CONF} ||= abs_path('conf/qlm_modified.conf');

our $Request = '<?xml version="1.0" encoding="utf-8"?>'
    . '<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    . 'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    . 'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    . '<soap:Body><ActivateLicenseEx xmlns="http://tempuri.org/">'
    . '<encryptedData>q0Zc3YbE9m+2Lx/8vW1uJ4tQ7n0Kp5sR1aF6gH8jD2lE3wX9yC4zV==</encryptedData>'
    . '</ActivateLicenseEx></soap:Body></soap:Envelope>';

our $Answer = '<?xml version="1.0" encoding="utf-8"?>'
    . '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    . '<soap:Body><ActivateLicenseExResponse xmlns="http://tempuri.org/">'
    . '<ActivateLicenseExResult>Zm9vYmFyLWVuY3J5cHRlZC1hbnN3ZXI=</ActivateLicenseExResult>'
    . '</ActivateLicenseExResponse></soap:Body></soap:Envelope>';

our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret soap-secret;
    qlm_webhook_url license_activated http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook;
    qlm_webhook_url license_created http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook;
    qlm_webhook_url license_modified http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook;
    qlm_webhook_url customer_modified http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook;

    log_format soap escape=none 'SOAP IN action=\$http_soapaction body=\$request_body';

    # the license server: logs what reached it, answers a fixed envelope
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        client_body_in_single_buffer on;

        location = /qlmLicenseServer/qlmservice.asmx {
            access_log logs/error.log soap;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_LS_PORT}/answer;
        }

        location = /answer {
            access_log off;
            default_type "text/xml; charset=utf-8";
            return 200 '$::Answer';
        }
    }

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        location /hook {
            access_log logs/error.log;
            return 200;
        }
    }
_EOC_

our $Config = <<"_EOC_";
    location /qlmLicenseServer/ {
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        include $ENV{TEST_NGINX_QLM_CONF};
        include $ENV{TEST_NGINX_QLM_MODIFIED_CONF};
    }
_EOC_

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a SOAP call passes through byte for byte and emits nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
Content-Type: text/xml; charset=utf-8
SOAPAction: "http://tempuri.org/ActivateLicenseEx"
--- request eval
"POST /qlmLicenseServer/qlmservice.asmx\n$::Request"
--- response_body eval: $::Answer
--- wait: 0.5
--- error_log eval
qr/^SOAP IN action="http:\/\/tempuri\.org\/ActivateLicenseEx" body=\Q$::Request\E$/m
--- no_error_log
queued for
/hook
qlm webhook:
[error]
[warn]



=== TEST 2: SOAP 1.2 (the action in Content-Type): the same
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
Content-Type: application/soap+xml; charset=utf-8; action="http://tempuri.org/ActivateLicenseEx"
--- request eval
"POST /qlmLicenseServer/qlmservice.asmx\n$::Request"
--- response_body eval: $::Answer
--- wait: 0.5
--- error_log eval
qr/^SOAP IN action= body=\Q$::Request\E$/m
--- no_error_log
queued for
/hook
qlm webhook:
[error]
[warn]
