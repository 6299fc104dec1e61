# conf/qlm.conf and conf/qlm_modified.conf: every QLM method they map
# emits its event with its fields; the others emit nothing.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(abs_path);

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;
$ENV{TEST_NGINX_QLM_CONF} ||= abs_path('conf/qlm.conf');
$ENV{TEST_NGINX_QLM_MODIFIED_CONF} ||= abs_path('conf/qlm_modified.conf');

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

    map \$arg_ak \$ak_element {
        "" "";
        default "<activationKey>\$arg_ak</activationKey>";
    }

    # every method succeeds; creation methods answer a new key
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;

        # QLM's answers: AddUserEx3's and UpdateUserEx3's
        location = /qlmLicenseServer/qlmservice.asmx/UpdateUserInformation {
            return 200 '<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><result>Customer Jane Doe was \$arg_outcome successfully.</result></QuickLicenseManager>';
        }

        # an activation's answer: <pckey> is the computer key
        location = /qlmLicenseServer/qlmservice.asmx/ActivateKeyByAuthorizationCodeHttp {
            return 200 '<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><pckey>COMPUTER-KEY-7</pckey><computerID>PC-7</computerID><userEmail>bob\@example.com</userEmail>\$ak_element</QuickLicenseManager>';
        }

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
        include $ENV{TEST_NGINX_QLM_MODIFIED_CONF};
    }
_EOC_

our $ConfigQlmOnly = <<"_EOC_";
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



=== TEST 4: ValidateLicenseHttp without is_activate: QLM's default activates
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/ValidateLicenseHttp?is_avkey=K-1&is_pcid=PC-4
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_activated event=license_activated body=\{"EventType":"license_activated","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-1","ComputerID":"PC-4"\}\}$/m
--- no_error_log
[error]
[warn]



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



=== TEST 13: UpdateUserInformation, an existing customer (Regnow's fields): customer_modified
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /qlmLicenseServer/qlmservice.asmx/UpdateUserInformation?is_vendor=regnow&outcome=updated
name=Jane+Doe&email=jane%40example.com&company=ACME&phone=%2B1+555&addr1=1+Main+St&addr2=Suite+2&city=Springfield&state=IL&zip=62701&country=US
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/customer_modified event=customer_modified body=\{"EventType":"customer_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","CustomerInfo":\{"FullName":"Jane Doe","Email":"jane\@example\.com","Company":"ACME","Address1":"1 Main St","Address2":"Suite 2","City":"Springfield","State":"IL","Zip":"62701","Country":"US","Phone":"\+1 555"\}\}$/m
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



=== TEST 17: UpdateUserInformation, a new customer: customer_created, from the answer
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /qlmLicenseServer/qlmservice.asmx/UpdateUserInformation?is_vendor=regnow&outcome=added
name=Jane+Doe&email=jane%40example.com&CustomerNotes=VIP
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/customer_created event=customer_created body=\{"EventType":"customer_created","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","CustomerInfo":\{"FullName":"Jane Doe","Email":"jane\@example\.com","Notes":"VIP"\}\}$/m
--- no_error_log
customer_modified
[error]
[warn]



=== TEST 18: UpdateUserInformation with PayPal's fields: first and last name, no empty name
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /qlmLicenseServer/qlmservice.asmx/UpdateUserInformation?is_vendor=paypal&outcome=updated
payer_email=p%40x.org&first_name=Ann&last_name=Lee&payer_business_name=Lee+Co&address_street=2+Elm&cust_address2=B&address_city=Ottawa&address_state=ON&address_zip=K1A&address_country_code=CA&cust_phone=613
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/customer_modified event=customer_modified body=\{"EventType":"customer_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","CustomerInfo":\{"FullName":"Ann Lee","Email":"p\@x\.org","Company":"Lee Co","Address1":"2 Elm","Address2":"B","City":"Ottawa","State":"ON","Zip":"K1A","Country":"CA","Phone":"613"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 19: UpdateUserInformation with WooCommerce's fields; no name is no FullName
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /qlmLicenseServer/qlmservice.asmx/UpdateUserInformation?is_vendor=woocommerce&outcome=updated
Customer_Email=w%40x.org&Customer_Company=W&Customer_Address1=A1&Customer_City=C&Customer_State=S&Customer_Zip=Z&Customer_Country=DE&Customer_Phone=1
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/customer_modified event=customer_modified body=\{"EventType":"customer_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","CustomerInfo":\{"Email":"w\@x\.org","Company":"W","Address1":"A1","City":"C","State":"S","Zip":"Z","Country":"DE","Phone":"1"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 20: UpdateUserInformation with FastSpring's fields
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /qlmLicenseServer/qlmservice.asmx/UpdateUserInformation?is_vendor=fastspring&outcome=updated
email=f%40x.org&CustomerCompany=F&AddressStreet1=S1&AddressStreet2=S2&AddressCity=FC&AddressRegion=FR&AddressPostalCode=FP&AddressCountry=FR&CustomerPhone=2
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/customer_modified event=customer_modified body=\{"EventType":"customer_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","CustomerInfo":\{"Email":"f\@x\.org","Company":"F","Address1":"S1","Address2":"S2","City":"FC","State":"FR","Zip":"FP","Country":"FR","Phone":"2"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 21: ValidateLicenseHttp with the computer key of an earlier activation: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/ValidateLicenseHttp?is_avkey=K-1&is_pcid=PC-9&is_pckey=CK-1
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 22: ValidateLicenseHttp with a computer key and is_activate=true: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/ValidateLicenseHttp?is_avkey=K-1&is_pcid=PC-9&is_pckey=CK-1&is_activate=true
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 23: ValidateLicenseHttp with is_activate=0: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/ValidateLicenseHttp?is_avkey=K-1&is_activate=0
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 24: ValidateLicenseHttp with is_activate=False: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/ValidateLicenseHttp?is_avkey=K-1&is_activate=False
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 25: ActivateKeyByAuthorizationCodeHttp: license_activated, the key from <activationKey>
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/ActivateKeyByAuthorizationCodeHttp?is_authcode=123456&is_pcid=PC-7&ak=AK-9
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_activated event=license_activated body=\{"EventType":"license_activated","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"AK-9","Email":"bob\@example\.com","ComputerID":"PC-7"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 26: ActivateKeyByAuthorizationCodeHttp: the computer key in <pckey> is not the activation key
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/ActivateKeyByAuthorizationCodeHttp?is_authcode=123456&is_pcid=PC-7
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_activated event=license_activated body=\{"EventType":"license_activated","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"Email":"bob\@example\.com","ComputerID":"PC-7"\}\}$/m
--- no_error_log
"ActivationKey":"COMPUTER-KEY-7"
[error]
[warn]



=== TEST 27: ActivateKeyByAuthorizationCodeHttp with a computer key only validates: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/ActivateKeyByAuthorizationCodeHttp?is_authcode=123456&is_pcid=PC-7&is_pckey=COMPUTER-KEY-7
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 28: EnableMaintenancePlan: license_modified with the maintenance date
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/EnableMaintenancePlan?is_avkey=K-5&is_maintplan=1&is_maintdate=2027-06-30
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_modified event=license_modified body=\{"EventType":"license_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-5","MaintenanceRenewalDate":"2027-06-30T00:00:00"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 29: RenewMaintenancePlan: license_modified
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/RenewMaintenancePlan?is_avkey=K-6&is_vendor=regnow
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_modified event=license_modified body=\{"EventType":"license_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-6"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 30: UpgradeLicense: license_modified, the old key
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/UpgradeLicense?is_avkey=K-7&is_productid=2&is_majorversion=3&is_minorversion=1
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_modified event=license_modified body=\{"EventType":"license_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-7","ProductID":2,"MajorVersion":3,"MinorVersion":1\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 31: UpdatePrivacyConsentHttp: customer_modified
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/UpdatePrivacyConsentHttp?is_avkey=K-1&is_email=c%40x.org&is_consent=1
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/customer_modified event=customer_modified body=\{"EventType":"customer_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","CustomerInfo":\{"Email":"c\@x\.org","PrivacyConsent":true\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 32: SubscribeToMailListHttp: customer_modified
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/SubscribeToMailListHttp?is_email=c%40x.org&is_include=0
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/customer_modified event=customer_modified body=\{"EventType":"customer_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","CustomerInfo":\{"Email":"c\@x\.org","IncludeInMailList":false\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 33: qlm.conf without qlm_modified.conf: RenewSubscriptionHttp emits nothing
--- http_config eval: $::HttpConfig
--- config eval: $::ConfigQlmOnly
--- request
GET /qlmLicenseServer/qlmservice.asmx/RenewSubscriptionHttp?is_avkey=K-1&is_expdate=2028-01-31
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 34: qlm.conf without qlm_modified.conf: UpdateLicenseHttp emits nothing
--- http_config eval: $::HttpConfig
--- config eval: $::ConfigQlmOnly
--- request
GET /qlmLicenseServer/qlmservice.asmx/UpdateLicenseHttp?is_avkey=K-1&is_features=0:3
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 35: qlm.conf without qlm_modified.conf: RevokeLicenseHttp emits nothing
--- http_config eval: $::HttpConfig
--- config eval: $::ConfigQlmOnly
--- request
GET /qlmLicenseServer/qlmservice.asmx/RevokeLicenseHttp?is_avkey=K-1
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 36: qlm.conf without qlm_modified.conf: QLM's events still
--- http_config eval: $::HttpConfig
--- config eval: $::ConfigQlmOnly
--- request
GET /qlmLicenseServer/qlmservice.asmx/ReleaseLicenseHttp?is_avkey=K-1&is_pcid=PC-9
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/license_released event=license_released body=\{"EventType":"license_released","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"ActivationKey":"K-1","ComputerID":"PC-9"\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 37: PingHttp changes no license or customer: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/PingHttp
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 38: GetLatestVersionHttp changes no license or customer: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/GetLatestVersionHttp?is_productid=1
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 39: RetrieveActivationKeyHttp changes no license or customer: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/RetrieveActivationKeyHttp?is_orderid=1
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 40: RequestAuthorizationCodeForActivationHttp changes no license or customer: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/RequestAuthorizationCodeForActivationHttp?is_email=a%40b.c
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 41: AnalyticsAddInstallHttp changes no license or customer: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/AnalyticsAddInstallHttp?is_avkey=K-1
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 42: AnalyticsRemoveInstallHttp changes no license or customer: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/AnalyticsRemoveInstallHttp?is_installid=1
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 43: AnalyticsUpdateInstallHttp changes no license or customer: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/AnalyticsUpdateInstallHttp?is_installid=1
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 44: AnalyticsUpdateLastAccessedDateHttp changes no license or customer: nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/AnalyticsUpdateLastAccessedDateHttp?is_installid=1
--- wait: 0.3
--- no_error_log
HOOK
queued for
[error]



=== TEST 45: an if= on the answer with a bad XPath fails at nginx -t
--- http_config
    qlm_webhook_store logs/qlm_store;
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit customer_created "if=xml:boolean(//result[";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid XPath "boolean\(//result\[" in \S+/nginx\.conf:\d+}



=== TEST 46: an if= on the answer with a bad JSON pointer fails at nginx -t
--- http_config
    qlm_webhook_store logs/qlm_store;
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit customer_created if=json:created;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid JSON pointer "created", it must be empty or start with "/" in \S+/nginx\.conf:\d+}



=== TEST 47: an unknown event name fails at nginx -t
--- http_config
    qlm_webhook_store logs/qlm_store;
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit nothing method=X;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid event name "nothing" in \S+/nginx\.conf:\d+}
