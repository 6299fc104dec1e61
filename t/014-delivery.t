# Delivery: credentials in URLs, HTTPS with and without a trusted CA, and
# a full store that loses the event but not the license traffic.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;
$ENV{TEST_NGINX_TLS_PORT} ||= 1987;

# a self-signed certificate for 127.0.0.1, valid until 2126
our $Cert = <<'_EOC_';
-----BEGIN CERTIFICATE-----
MIIDHDCCAgSgAwIBAgIUL5jjOFXTp/6GeLe6lejYSEuk3qAwDQYJKoZIhvcNAQEL
BQAwFDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyMzA4NTk1NVoYDzIxMjYx
MDMwMDg1OTU1WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwggEiMA0GCSqGSIb3DQEB
AQUAA4IBDwAwggEKAoIBAQDA9A3xfAFm/bgDJJPDBsIz9hAYqlzeVPOljyEaMG4/
4miOwW+Ggs0+3ztrdGa2KLsFyHBDuVHuVPWmKcogpjTNY2kawj9T3SkeXRcrk5cA
QxdlIKXWJOBqChnEduSAEFUEhWZQ/Y2sS5sjbJqKvruaGaQfzHVquonV6kZ3WPBY
5xN8Liarst+l37yF51M8Tqv2MWlSdhcIDxpbhaPp1CV/7gUdBv1/k5xu4W7Hy/bZ
mSlwDRhoemRId3Dsm+vm4ztrrzKmqRbuMZKoethSzkzX8sDw/Aw459jC4NbmTF6H
VHrnViOnrL5t8zNTKBVNLcNdD4618kCCmMw5rDcb25wvAgMBAAGjZDBiMB0GA1Ud
DgQWBBTU+F339rXX5mz3pe1CpmLqCASJTzAfBgNVHSMEGDAWgBTU+F339rXX5mz3
pe1CpmLqCASJTzAPBgNVHRMBAf8EBTADAQH/MA8GA1UdEQQIMAaHBH8AAAEwDQYJ
KoZIhvcNAQELBQADggEBAFe1mgVhrrEiRXgFoTfY3GIxaLflBF3S9/LZVOGXmLjd
KB1NJSBR8uNsV0UeVEFmX3UVPJyeNrN3E5vlHEs7A7Xlu7v4F3ABRE+CDth8k5y0
YvOqGx6WUOrxw0TCWTaTEjeTOk22WMEA//9tSXe6TWW0Ig5oCjJSG1Ci66dcGCjw
jQNpi9RaV4dxWTmUdNZVIrM4pnFiIRZUZI6M0QT8zEL1GedcJ1r3zpmgrt+GtVXy
doiRLPFFSltNRrK8h1YU1j6hqSqA45S8j3VeQ1lcmiL+bI4u1My0r93Nn58opKSa
z9zdjqd6gVPRacHU6NNwhDIZ2A9q3KLqdv++19BBNYw=
-----END CERTIFICATE-----
_EOC_

our $Key = <<'_EOC_';
-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDA9A3xfAFm/bgD
JJPDBsIz9hAYqlzeVPOljyEaMG4/4miOwW+Ggs0+3ztrdGa2KLsFyHBDuVHuVPWm
KcogpjTNY2kawj9T3SkeXRcrk5cAQxdlIKXWJOBqChnEduSAEFUEhWZQ/Y2sS5sj
bJqKvruaGaQfzHVquonV6kZ3WPBY5xN8Liarst+l37yF51M8Tqv2MWlSdhcIDxpb
haPp1CV/7gUdBv1/k5xu4W7Hy/bZmSlwDRhoemRId3Dsm+vm4ztrrzKmqRbuMZKo
ethSzkzX8sDw/Aw459jC4NbmTF6HVHrnViOnrL5t8zNTKBVNLcNdD4618kCCmMw5
rDcb25wvAgMBAAECggEAXutQNqTBjdgvXwBt3gljnKsl5PRdxhO1XhLoflknyy6G
L//RbLLI4+5t7SDwbBjiU+hz7aTrPJq30zuIjwIkRItsR3kaLRfFZAX4YXvz0vGu
PxXN7ufqK8/3OBIiuysNn7E+EYaB3Km+0jDZX3qPkDGf7vKmKlBEgSKD8q8iYSDE
37rHMXLK3mQ8h0AW99EAaGHdJUbHX+KvKZWVLruX3DLbN2LqkyyCFiH95Yb1BGvw
1sjnuto/qV51+/T4YDw3o2aEq3w0peRIbvQreGXn4dLCpoC3gjAViC2M2bn1C4mz
kEGkR0I2N5sypAUOuzKpnrnMV7uNHh0Q06baXjk0DQKBgQDhyGj/O3hmRI1wjiBA
QH29/n8zBOwU9h76vqenTOhMOIWPBXEfnzrEXbrZ8XwBSMDpxYkY99yIbR69qJbY
2LgUiHocX2jClRg75bs9SURam4vsECdSAHO9OgCcjERCShsVpol1/1Q4TOatMWVZ
Ekq3j2kN8l7gYTqOhxIPq+S6swKBgQDaxt2x642zYW6KwAalBfz9cNDCX5i3f7ZA
kmpXl/C7QNn035FPIs4TlqCJUbfIJpKLV4XXBDI+f2PGSLWG8kK8hMjpflUAb2+0
tjCLgUWPUIGORcfN1qUUS3V6iX52XFZdqo7vqRCC19hxmpEi8HPtXjWJMlTjbSXC
nPZyd5pGlQKBgF8N555kpCix/bYAL/W88PM3HMgW72lXwO0hrSWTDE1ikmAHE3wT
pkMbjtnIf8NupMEGh9R6LV9GSWXhfzhl7QG//2DIjis1Z9F3w19m5B8dU0gb+OHe
DNwCelVt/CLIXiS8SyzhRMy7G3aY0CkyuUAUYU8c1fKzHFr65JCydoZfAoGBAMav
IBs67x9fdsKvjdlEzPNmB1De/JR5eYy+67DNHiUQymBmwVJ7K2gCvZy4CA3Pafr9
62DQQMkdbAFheuopDY6jkMrsnkmc6nfVldS7++4hkOciXEiFjLoXpYM5Zw4a4ZyD
Dvh8M7CAUeMqGnD+qmmBy2DjwtAgCdDqN67RC9zZAoGBAJMbpnBd6Sj2lTE7rUxX
9fXqnTVd3BP/SmUzFGxDzHG6wtD8oPYByefA6OcJNVjNSfNN9PkK61xambx4FgMW
/lLGjVrd58n2JPrFlb6+hf8fdyOqD+mhLa43vZHdFhGvdALeYWM36Ivb3KSF78AU
vfCrQmjIqRx3qgWySsTATZIB
-----END PRIVATE KEY-----
_EOC_

our $Files = ">>> cert.pem\n$Cert>>> key.pem\n$Key";

# about 1.5 MB of JSON, larger than a 1m store
our $Huge = '{"rows":[' . join(',', map { qq{"} . ('r' x 90) . qq{$_"} } 1 .. 16000) . ']}';

our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_retry_interval 10s;

    log_format hook escape=none 'HOOK \$scheme \$uri args=\$args auth=\$http_authorization event=\$http_x_qlm_event';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;
        root html;

        location / {
            return 200 '<QuickLicenseManager><pckey>K</pckey></QuickLicenseManager>';
        }

        location = /huge.json {
            default_type application/json;
        }
    }

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        listen 127.0.0.1:$ENV{TEST_NGINX_TLS_PORT} ssl;
        ssl_certificate ../html/cert.pem;
        ssl_certificate_key ../html/key.pem;

        location /hook {
            access_log logs/error.log hook;
            return 200;
        }
    }
_EOC_

our $Config = <<"_EOC_";
    location /qlm/ {
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        qlm_webhook_emit license_created;
    }
_EOC_

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: credentials in the URL are sent as basic authentication, never logged
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created "http://bob:hunter2@127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook?token=s3cr3t";
}
--- config eval: $::Config
--- user_files eval: $::Files
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait: 0.5
--- error_log eval
[
qr/^HOOK http \/hook args=token=s3cr3t auth=Basic Ym9iOmh1bnRlcjI= event=license_created$/m,
qr/qlm webhook: "license_created" event \S+ to http:\/\/127\.0\.0\.1:\d+\/hook delivered: status 200/,
]
--- no_error_log eval
[
qr/hunter2/,
qr/qlm webhook:.*(bob|token)/,
]



=== TEST 2: HTTPS: a certificate that does not verify fails the attempt
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created https://127.0.0.1:$TEST_NGINX_TLS_PORT/hook;
}
--- config eval: $::Config
--- user_files eval: $::Files
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait eval
# TLS handshakes under valgrind take seconds
$ENV{TEST_NGINX_USE_VALGRIND} ? 6 : 0.5
--- error_log eval
qr/to https:\/\/127\.0\.0\.1:\d+\/hook failed, will retry: status 0, \d+ ms, attempt 1, SSL certificate problem: self.signed certificate/
--- no_error_log
HOOK
stale global SSL error
[alert]



=== TEST 3: HTTPS with qlm_webhook_ssl_trusted_certificate
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_ssl_trusted_certificate ../html/cert.pem;
    qlm_webhook_url license_created https://127.0.0.1:$TEST_NGINX_TLS_PORT/hook;
}
--- config eval: $::Config
--- user_files eval: $::Files
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait eval
# TLS handshakes under valgrind take seconds
$ENV{TEST_NGINX_USE_VALGRIND} ? 6 : 0.5
--- error_log eval
[
qr/^HOOK https \/hook args= auth= event=license_created$/m,
qr/to https:\/\/127\.0\.0\.1:\d+\/hook delivered: status 200/,
]
--- no_error_log
[error]



=== TEST 4: HTTPS with qlm_webhook_ssl_verify off
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_ssl_verify off;
    qlm_webhook_url license_created https://127.0.0.1:$TEST_NGINX_TLS_PORT/hook;
}
--- config eval: $::Config
--- user_files eval: $::Files
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait eval
# TLS handshakes under valgrind take seconds
$ENV{TEST_NGINX_USE_VALGRIND} ? 6 : 0.5
--- error_log eval
qr/^HOOK https \/hook args= auth= event=license_created$/m
--- no_error_log
[error]



=== TEST 5: a full store: the event is lost and logged, the client gets its answer
--- http_config eval
$::HttpConfig =~ s/qlm_webhook_store logs\/qlm_store;/qlm_webhook_store logs\/qlm_store max_size=1m;/r . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook;
}
--- config
    location = /qlm/huge.json {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/huge.json;
        qlm_webhook_capture_size 4m;
        qlm_webhook_emit license_created;
        qlm_webhook_field Rows json:;
    }
--- user_files eval
">>> huge.json\n$::Huge\n$::Files"
--- request
GET /qlm/huge.json
--- response_body eval: "$::Huge\n"
--- wait: 0.5
--- error_log eval
qr/\[error\] .*qlm webhook: "license_created" event \S+ lost: .*full/
--- no_error_log
HOOK
[alert]
[crit]



=== TEST 6: a full store: every lost event is counted on the status page
--- http_config eval
$::HttpConfig =~ s/qlm_webhook_store logs\/qlm_store;/qlm_webhook_store logs\/qlm_store max_size=1m;/r . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook;
}
--- config
    location = /qlm/huge.json {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT/huge.json;
        qlm_webhook_capture_size 4m;
        qlm_webhook_emit license_created;
        qlm_webhook_field Rows json:;
    }

    location = /status {
        qlm_webhook_status;
    }
--- user_files eval
">>> huge.json\n$::Huge\n$::Files"
--- request eval
[
"GET /qlm/huge.json",
"GET /qlm/huge.json",
"GET /qlm/huge.json",
"GET /status",
]
--- response_body_like eval
[
qr/^\{"rows"/,
qr/^\{"rows"/,
qr/^\{"rows"/,
qr/"lost_store_full":3,/,
]
--- no_error_log
HOOK
[alert]
[crit]



=== TEST 7: an IPv6 address with a port and a query; logged without the query
--- http_config eval
$::HttpConfig =~ s/(listen 127\.0\.0\.1:$ENV{TEST_NGINX_RECEIVER_PORT};)/$1\n        listen [::1]:$ENV{TEST_NGINX_RECEIVER_PORT};/r . q{
    qlm_webhook_url license_created "http://[::1]:$TEST_NGINX_RECEIVER_PORT/hook?token=s3cr3t";
}
--- config eval: $::Config
--- user_files eval: $::Files
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait: 0.5
--- error_log eval
[
qr/^HOOK http \/hook args=token=s3cr3t auth= event=license_created$/m,
qr/qlm webhook: "license_created" event \S+ to http:\/\/\[::1\]:\d+\/hook delivered: status 200/,
]
--- no_error_log eval
[
qr/qlm webhook:.*token/,
qr/\[error\]/,
]



=== TEST 8: percent-encoded credentials are decoded as libcurl reads them
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created "HTTP://bob%40x:p%3Aw@127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook";
}
--- config eval: $::Config
--- user_files eval: $::Files
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait: 0.5
--- error_log eval
[
qr/^HOOK http \/hook args= auth=Basic Ym9iQHg6cDp3 event=license_created$/m,
qr/qlm webhook: "license_created" event \S+ to http:\/\/127\.0\.0\.1:\d+\/hook delivered: status 200/,
]
--- no_error_log eval
[
qr/qlm webhook:.*(bob|p%3Aw)/,
qr/\[error\]/,
]
