# conf/qlm.conf: every QLM method it maps emits its event with its fields;
# the others emit nothing.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(abs_path);

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;
$ENV{TEST_NGINX_QLM_CONF} ||= abs_path('conf/qlm.conf');

our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret qlm-conf-secret;
    qlm_webhook_url license_activated http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/license_activated;
    qlm_webhook_url license_created http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/license_created;
    qlm_webhook_url license_deleted http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/license_deleted;
    qlm_webhook_url license_released http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/license_released;
    qlm_webhook_url license_modified http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/license_modified;
    qlm_webhook_url customer_created http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/customer_created;
    qlm_webhook_url customer_deleted http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/customer_deleted;
    qlm_webhook_url customer_modified http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/customer_modified;

    log_format hook escape=none 'HOOK \$uri event=\$http_x_qlm_event body=\$request_body';

    # every method succeeds; creation methods answer a new key
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;

        location ~ /qlmservice\\.asmx/(\\w+)\$ {
            return 200 '<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager xmlns="http://qlm.example/ns"><result>\$1</result><pckey>NEW-KEY-1</pckey></QuickLicenseManager>';
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
    location /qlmLicenseServer/ {
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        include $ENV{TEST_NGINX_QLM_CONF};
    }
_EOC_

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: ActivateKey: license_activated
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/ActivateKey?is_avkey=K-1&is_pcid=PC-9&is_computer_name=HOST
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_activated event=license_activated body=\{"EventType":"license_activated","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-1","ComputerID":"PC-9","ComputerName":"HOST"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 2: ValidateLicenseHttp with is_activate=true: license_activated
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/ValidateLicenseHttp?is_avkey=K-1&is_pcid=PC-9&is_activate=true
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_activated event=license_activated body=\{"EventType":"license_activated","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-1","ComputerID":"PC-9"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 3: ValidateLicenseHttp with is_activate=false: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/ValidateLicenseHttp?is_avkey=K-1&is_activate=false
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 4: ValidateLicenseHttp alone: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/ValidateLicenseHttp?is_avkey=K-1
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 5: ValidateLicenseHttp by POST with is_activate=True in the form
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /qlmLicenseServer/qlmservice.asmx/ValidateLicenseHttp
is_avkey=K-2&is_activate=True
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_activated event=license_activated body=\{"EventType":"license_activated","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-2"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 6: GetActivationKey: license_created, the key from the answer
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/GetActivationKey?is_productid=7&is_majorversion=3&is_minorversion=1&is_quantity=2&is_features=0:1&is_email=a%40b.c&is_userdata1=order%2042&is_affiliateid=AF
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_created event=license_created body=\{"EventType":"license_created","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"NEW-KEY-1","AffiliateID":"AF","Email":"a\@b\.c","Features":"0:1","ProductID":7,"MajorVersion":3,"MinorVersion":1,"NumLicenses":2,"UserData":"order 42"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 7: GetActivationKeyWithExpiryDate by POST: license_created with the expiry date
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /qlmLicenseServer/qlmservice.asmx/GetActivationKeyWithExpiryDate
is_productid=7&is_expdate=2027-12-31&is_expduration=30
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_created event=license_created body=\{"EventType":"license_created","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"NEW-KEY-1","Duration":30,"ExpiryDate":"2027-12-31T00:00:00","ProductID":7\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 8: ReleaseLicenseHttp: license_released
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/ReleaseLicenseHttp?is_avkey=K-1&is_pcid=PC-9
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_released event=license_released body=\{"EventType":"license_released","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-1","ComputerID":"PC-9"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 9: RevokeLicenseHttp: license_modified
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/RevokeLicenseHttp?is_avkey=K-1
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_modified event=license_modified body=\{"EventType":"license_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-1"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 10: RenewSubscriptionHttp: license_modified
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/RenewSubscriptionHttp?is_avkey=K-1&is_expdate=2028-01-31
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_modified event=license_modified body=\{"EventType":"license_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-1","ExpiryDate":"2028-01-31T00:00:00"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 11: UpdateLicenseHttp: license_modified
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/UpdateLicenseHttp?is_avkey=K-1&is_features=0:3
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_modified event=license_modified body=\{"EventType":"license_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-1","Features":"0:3"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 12: DeleteLicense: license_deleted
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/DeleteLicense?is_avkey=K-1
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_deleted event=license_deleted body=\{"EventType":"license_deleted","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-1"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 13: UpdateUserInformation: customer_modified with CustomerInfo
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /qlmLicenseServer/qlmservice.asmx/UpdateUserInformation
is_fullname=Jane+Doe&is_email=jane%40example.com&is_company=ACME&is_phone=%2B1+555&is_address1=1+Main+St&is_city=Springfield&is_country=US
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/customer_modified event=customer_modified body=\{"EventType":"customer_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","CustomerInfo":\{"FullName":"Jane Doe","Country":"US","Email":"jane\@example\.com","Company":"ACME","Address1":"1 Main St","City":"Springfield","Phone":"\+1 555"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 14: DeleteUser: customer_deleted
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/DeleteUser?is_email=jane%40example.com
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/customer_deleted event=customer_deleted body=\{"EventType":"customer_deleted","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","CustomerInfo":\{"Email":"jane\@example\.com"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 15: a method qlm.conf does not map: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/GetServerVersion
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 16: method names are compared without case
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/deletelicense?is_avkey=K-3
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_deleted event=license_deleted body=\{"EventType":"license_deleted","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-3"\}\}$/m
--- no_error_log
[error]
[warn]
