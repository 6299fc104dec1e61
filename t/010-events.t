# Event webhooks end to end: a proxied license-server call emits its event,
# the event is queued and delivered to a receiver in the same nginx, whose
# access log (written into error.log) records what arrived on the wire.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;
$ENV{TEST_NGINX_APP_PORT} ||= 1987;

our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret "test-secret";
    qlm_webhook_retry_interval 1s;
    qlm_webhook_max_retries 1;
    qlm_webhook_timeout 3s;

    log_format hook escape=none 'HOOK \$request_method \$uri '
        'event=\$http_x_qlm_event id=\$http_x_qlm_event_id '
        'attempt=\$http_x_qlm_delivery_attempt '
        'sig=\$http_x_qlm_signature ct=\$content_type '
        'ua=\$http_user_agent body=\$request_body';

    upstream license_server {
        server 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
    }

    # the license server
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;

        location ~ /GetActivationKey(WithExpiryDate)?\$ {
            return 200 '<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><pckey>AAAA-BBBB-CCCC</pckey></QuickLicenseManager>';
        }

        location ~ /ActivateKey\$ {
            if (\$arg_is_avkey = "unknown") {
                return 200 '<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><error>License key not found.</error></QuickLicenseManager>';
            }
            return 200 '<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><result>activated</result></QuickLicenseManager>';
        }

        location ~ /ReleaseLicenseHttp\$ {
            return 200 'Error: the license is not activated';
        }

        location ~ /DeleteLicense\$ {
            return 500 '<QuickLicenseManager><result>boom</result></QuickLicenseManager>';
        }

        location ~ /json\$ {
            default_type application/json;
            return 200 '{"license":{"key":"JSON-KEY-1","seats":[3,4]},"email":"j\\u00e9\@example.com"}';
        }
    }

    # the receiver: each delivery is a HOOK line in error.log
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        client_body_in_single_buffer on;

        location /hook {
            access_log logs/error.log hook;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/sink;
        }

        location /fail {
            access_log logs/error.log hook;
            return 503;
        }

        location /sink {
            access_log off;
            return 200 "thanks\\n";
        }
    }
_EOC_

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: license_created: queued, delivered, signed, with fields from args and XML
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/created;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_created method=GetActivationKey;
        qlm_webhook_field ActivationKey "xml://*[local-name()='pckey']";
        qlm_webhook_field Email $qlm_webhook_arg_is_email;
        qlm_webhook_field ProductID $qlm_webhook_arg_is_productid;
        qlm_webhook_field MajorVersion $arg_is_majorversion;
        qlm_webhook_field Vendor "acme $arg_is_productid";
    }
--- request
GET /qlm/qlmservice.asmx/GetActivationKey?is_productid=1&is_majorversion=2&is_email=a%40b.com
--- response_body chomp
<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><pckey>AAAA-BBBB-CCCC</pckey></QuickLicenseManager>
--- wait: 1
--- error_log eval
[
qr/qlm webhook: "license_created" event [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12} queued for 1 URL/,
qr/qlm webhook: "license_created" event \S+ to http:\/\/127\.0\.0\.1:\d+\/hook\/created delivered: status 200, \d+ ms, attempt 1/,
qr/HOOK POST \/hook\/created event=license_created id=[0-9a-f-]{36} attempt=1 sig=[0-9a-f]{64} ct=application\/json ua=ngx_qlm_webhook_module\/\S+ body=\{"EventType":"license_created","EventId":"[0-9a-f-]{36}","Timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d","LicenseInfo":\{"ActivationKey":"AAAA-BBBB-CCCC","Email":"a\@b\.com","ProductID":1,"MajorVersion":2,"Vendor":"acme 1"\}\}$/m,
]
--- no_error_log
[error]
[alert]
test-secret



=== TEST 2: a QLM <error> answer emits nothing, the client gets it unchanged
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_activated http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/act;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_activated method=ActivateKey;
        qlm_webhook_field ActivationKey $qlm_webhook_arg_is_avkey;
    }
--- request
GET /qlm/qlmservice.asmx/ActivateKey?is_avkey=unknown&is_pcid=PC1
--- response_body chomp
<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><error>License key not found.</error></QuickLicenseManager>
--- wait: 0.5
--- error_log
no "license_activated" event, the license server answered an error
--- no_error_log
HOOK
queued for
[error]



=== TEST 3: the same location, a good key: one activation delivered
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_activated http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/act;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_activated method=ActivateKey;
        qlm_webhook_field ActivationKey $qlm_webhook_arg_is_avkey;
        qlm_webhook_field ComputerID $qlm_webhook_arg_is_pcid;
    }
--- request
GET /qlm/qlmservice.asmx/ActivateKey?is_avkey=K-1&is_pcid=PC1
--- wait: 1
--- error_log eval
qr/HOOK POST \/hook\/act event=license_activated .* body=\{"EventType":"license_activated",.*"LicenseInfo":\{"ActivationKey":"K-1","ComputerID":"PC1"\}\}$/m
--- no_error_log
[error]



=== TEST 4: a plain answer starting with "Error" emits nothing
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_released http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/rel;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_released method=ReleaseLicenseHttp;
    }
--- request
GET /qlm/qlmservice.asmx/ReleaseLicenseHttp?is_avkey=K-1
--- response_body chomp
Error: the license is not activated
--- wait: 0.5
--- error_log
no "license_released" event, the license server answered an error
--- no_error_log
HOOK
[error]



=== TEST 5: an upstream 500 emits nothing and is passed through
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_deleted http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/del;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_deleted method=DeleteLicense;
    }
--- request
GET /qlm/qlmservice.asmx/DeleteLicense?is_avkey=K-1
--- error_code: 500
--- response_body chomp
<QuickLicenseManager><result>boom</result></QuickLicenseManager>
--- wait: 0.5
--- no_error_log
HOOK
queued for
[error]



=== TEST 6: a method that does not match emits nothing
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/created;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_created method=GetActivationKeyWithExpiryDate;
    }
--- request
GET /qlm/qlmservice.asmx/GetActivationKey?is_productid=1
--- wait: 0.5
--- no_error_log
HOOK
queued for



=== TEST 7: two URLs for one event: each gets the event once, with the same id
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created "http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/a; http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/b";
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_created;
    }
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait: 1
--- grep_error_log eval: qr/HOOK POST \/hook\/[ab] event=license_created/
--- grep_error_log_out eval
qr/\AHOOK POST \/hook\/([ab]) event=license_created\nHOOK POST \/hook\/(?!\1)[ab] event=license_created\n\z/
--- error_log eval
qr/queued for 2 URLs/
--- no_error_log
[error]



=== TEST 8: a failing receiver: retried after the interval, then a dead letter
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/fail;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_created;
    }
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait: 2.5
--- grep_error_log eval: qr/HOOK POST \/fail event=license_created id=\S+ attempt=\d/
--- grep_error_log_out eval
qr/\AHOOK POST \/fail event=license_created id=(\S+) attempt=1\nHOOK POST \/fail event=license_created id=\1 attempt=2\n\z/
--- error_log eval
[
qr/to http:\/\/127\.0\.0\.1:\d+\/fail failed, will retry: status 503, \d+ ms, attempt 1, HTTP status 503/,
qr/to http:\/\/127\.0\.0\.1:\d+\/fail failed, moved to dead letters: status 503, \d+ ms, attempt 2, HTTP status 503/,
]
--- no_error_log
[error]



=== TEST 9: a receiver that refuses connections is a failure too
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:1/refused;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_created;
    }
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait: 0.5
--- error_log eval
qr/to http:\/\/127\.0\.0\.1:1\/refused failed, will retry: status 0, \d+ ms, attempt 1, .*(refused|Couldn't connect)/
--- no_error_log
[alert]



=== TEST 10: qlm_webhooks off: nothing is queued or sent
--- http_config eval
$::HttpConfig . q{
    qlm_webhooks off;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/created;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_created;
    }
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- response_body chomp
<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><pckey>AAAA-BBBB-CCCC</pckey></QuickLicenseManager>
--- wait: 0.5
--- no_error_log
HOOK
queued for



=== TEST 11: form fields of a POSTed body, URL-decoded
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/created;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_created;
        qlm_webhook_field Email $qlm_webhook_arg_is_email;
        qlm_webhook_field FullName $qlm_webhook_arg_is_fullname;
        qlm_webhook_field ExpiryDate $qlm_webhook_arg_is_expdate;
        qlm_webhook_field NumLicenses $qlm_webhook_arg_is_quantity;
    }
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /qlm/qlmservice.asmx/GetActivationKeyWithExpiryDate
is_email=x%2By%40example.com&is_fullname=Jane+Doe&is_expdate=2027-03-31&is_quantity=5
--- wait: 1
--- error_log eval
qr/body=\{"EventType":"license_created",.*"LicenseInfo":\{"FullName":"Jane Doe","Email":"x\+y\@example\.com","ExpiryDate":"2027-03-31T00:00:00","NumLicenses":5\}\}$/m
--- no_error_log
[error]



=== TEST 12: JSON answers through json: pointers
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/created;
}
--- config
    location = /api/create {
        proxy_pass http://license_server/json;
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey json:/license/key;
        qlm_webhook_field FloatingSeats json:/license/seats/1;
        qlm_webhook_field Email json:/email;
        qlm_webhook_field Missing json:/nothing/here;
    }
--- request
GET /api/create
--- wait: 1
--- error_log eval
qr/body=\{"EventType":"license_created",.*"LicenseInfo":\{"ActivationKey":"JSON-KEY-1","Email":"j\x{c3}\x{a9}\@example\.com","FloatingSeats":4\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 13: a "%" without two hex digits after it is kept, as browsers decode
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/created;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_created;
        qlm_webhook_field Email $qlm_webhook_arg_is_email;
        qlm_webhook_field FullName $qlm_webhook_arg_is_fullname;
    }
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /qlm/qlmservice.asmx/GetActivationKeyWithExpiryDate
is_email=100%25%zz%4&is_fullname=A%2%41+B%
--- wait: 1
--- error_log eval
qr/body=\{"EventType":"license_created",.*"LicenseInfo":\{"FullName":"A%2A B%","Email":"100%%zz%4"\}\}$/m
--- no_error_log
[error]



=== TEST 14: a form of many fields: the query before the body, the first of a name wins, names without case, a name given again is a fallback
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/created;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey $qlm_webhook_arg_is_avkey;
        qlm_webhook_field ActivationKey $qlm_webhook_arg_is_licensekey;
        qlm_webhook_field Email $qlm_webhook_arg_is_email;
        qlm_webhook_field Email $qlm_webhook_arg_is_email2;
        qlm_webhook_field FullName $qlm_webhook_arg_is_fullname;
        qlm_webhook_field OrderID $qlm_webhook_arg_is_orderid;
        qlm_webhook_field OrderID $qlm_webhook_arg_is_order;
        qlm_webhook_field ReceiptID $qlm_webhook_arg_IS_Receipt;
        qlm_webhook_field Comment "$qlm_webhook_arg_is_f59 $qlm_webhook_arg_is_nothing";
        qlm_webhook_field UserData $qlm_webhook_arg_is_nothing;
        qlm_webhook_field UserData $qlm_webhook_arg_is_f1;
    }
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request eval
"POST /qlm/qlmservice.asmx/GetActivationKey?IS_EMAIL=query%40example.com&is_order=Q-1\n"
. CORE::join("&", map { "is_f$_=v$_" } 1 .. 60)
. "&is_avkey=&is_email=body%40example.com&Is_FullName=First+One"
. "&is_fullname=Second&is_orderid=&is_order=B-1&is_receipt=R%2D1"
. "&is_licensekey=KEY-1&is_licensekey=KEY-2&is_receipt=R-2"
--- wait: 1
--- error_log eval
qr/body=\{"EventType":"license_created",.*"LicenseInfo":\{"ActivationKey":"KEY-1","FullName":"First One","Email":"query\@example\.com","OrderID":"Q-1","ReceiptID":"R-1","UserData":"v1","Comment":"v59"\}\}$/m
--- no_error_log
[error]



=== TEST 15: an argument read in the rewrite phase, before the body: the body's field still counts later
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/created;
}
--- config
    location /qlm/ {
        set $early "[$qlm_webhook_arg_is_email][$qlm_webhook_arg_is_fullname]";
        add_header X-Early $early;
        proxy_pass http://license_server;
        qlm_webhook_emit license_created;
        qlm_webhook_field Email $qlm_webhook_arg_is_email;
        qlm_webhook_field FullName "$qlm_webhook_arg_is_fullname ";
    }
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /qlm/qlmservice.asmx/GetActivationKey
is_email=a%40b.com&is_fullname=Jane+Doe
--- response_headers
X-Early: [][]
--- wait: 1
--- error_log eval
qr/body=\{"EventType":"license_created",.*"LicenseInfo":\{"FullName":"Jane Doe","Email":"a\@b\.com"\}\}$/m
--- no_error_log
[error]



=== TEST 16: an argument looked up by name, not known at start: the query, else the form
--- http_config eval
$::HttpConfig . q{
    server {
        listen 127.0.0.1:$TEST_NGINX_APP_PORT;
        default_type text/html;
        return 200 '<!--# echo var="qlm_webhook_arg_Is_Email" default="none" -->|<!--# echo var="qlm_webhook_arg_is_name" default="none" -->|<!--# echo var="qlm_webhook_arg_is_other" default="none" -->';
    }
}
--- config
    location /ssi/ {
        ssi on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /ssi/x?is_email=q%40x.com&IS_OTHER=
is_email=b%40x.com&is_name=Jo+Ann&is_other=body
--- response_body chomp
q@x.com|Jo Ann|
--- no_error_log
[error]



=== TEST 17: a form body in a temporary file: read from it, once
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/created;
}
--- config
    location /qlm/ {
        client_body_in_file_only clean;
        proxy_pass http://license_server;
        qlm_webhook_emit license_created;
        qlm_webhook_field Email $qlm_webhook_arg_is_email;
        qlm_webhook_field FullName $qlm_webhook_arg_is_fullname;
        qlm_webhook_field OrderID $qlm_webhook_arg_is_orderid;
    }
--- more_headers
Content-Type: application/x-www-form-urlencoded; charset=utf-8
--- request eval
"POST /qlm/qlmservice.asmx/GetActivationKey?is_orderid=Q-7\n"
. CORE::join("&", map { "is_pad$_=" . ("x" x 40) } 1 .. 100)
. "&is_email=file%40example.com&is_fullname=In+File&is_orderid=B-7"
--- wait: 1
--- error_log eval
qr/body=\{"EventType":"license_created",.*"LicenseInfo":\{"FullName":"In File","Email":"file\@example\.com","OrderID":"Q-7"\}\}$/m
--- no_error_log
[error]



=== TEST 18: a form body over 64k is not read; the query string still is
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/created;
}
--- config
    location /qlm/ {
        client_max_body_size 1m;
        proxy_pass http://license_server;
        qlm_webhook_emit license_created;
        qlm_webhook_field Email $qlm_webhook_arg_is_email;
        qlm_webhook_field OrderID $qlm_webhook_arg_is_orderid;
    }
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request eval
"POST /qlm/qlmservice.asmx/GetActivationKey?is_orderid=Q-8\n"
. "is_email=big%40example.com&is_pad=" . ("x" x 65536)
--- wait: 1
--- error_log eval
qr/body=\{"EventType":"license_created",.*"LicenseInfo":\{"OrderID":"Q-8"\}\}$/m
--- no_error_log
[error]



=== TEST 19: write_map=on: the event is stored through the writable map and delivered
--- http_config eval
(my $c = $::HttpConfig) =~ s{qlm_webhook_store logs/qlm_store;}
                            {qlm_webhook_store logs/qlm_store_wm write_map=on;};
$c . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/created;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_created method=GetActivationKey;
        qlm_webhook_field ActivationKey "xml://*[local-name()='pckey']";
    }
--- request
GET /qlm/qlmservice.asmx/GetActivationKey?is_productid=1
--- response_body chomp
<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><pckey>AAAA-BBBB-CCCC</pckey></QuickLicenseManager>
--- wait: 1
--- error_log eval
[
qr/qlm webhook store "\S+\/qlm_store_wm" opened with a writable map/,
qr/qlm webhook: "license_created" event \S+ to http:\/\/127\.0\.0\.1:\d+\/hook\/created delivered: status 200/,
qr/HOOK POST \/hook\/created event=license_created .* body=\{"EventType":"license_created",.*"LicenseInfo":\{"ActivationKey":"AAAA-BBBB-CCCC"\}\}$/m,
]
--- no_error_log
[error]
[alert]



=== TEST 20: a field of arguments and blanks that a call has none of is passed over: the next of its name is read; text or another variable keeps a field
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/created;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_created;
        qlm_webhook_field FullName "$qlm_webhook_arg_is_first ${qlm_webhook_arg_is_last}";
        qlm_webhook_field FullName $qlm_webhook_arg_is_fullname;
        qlm_webhook_field Comment " ${qlm_webhook_arg_is_last}	$qlm_webhook_arg_is_first ";
        qlm_webhook_field Tag "t-$qlm_webhook_arg_is_nothing";
        qlm_webhook_field Vendor "$arg_is_vendor $qlm_webhook_arg_is_none";
        qlm_webhook_field OrderID "$qlm_webhook_arg_is_order$qlm_webhook_arg_is_no";
    }
--- request
GET /qlm/qlmservice.asmx/GetActivationKey?is_fullname=Jo+Ann&is_vendor=Acme&is_order=O-1
--- wait: 1
--- error_log eval
qr/body=\{"EventType":"license_created",.*"LicenseInfo":\{"FullName":"Jo Ann","OrderID":"O-1","Tag":"t-","Vendor":"Acme"\}\}$/m
--- no_error_log
[error]



=== TEST 21: the same fields with one of the two arguments: the first field of its name holds
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/created;
}
--- config
    location /qlm/ {
        proxy_pass http://license_server;
        qlm_webhook_emit license_created;
        qlm_webhook_field FullName "$qlm_webhook_arg_is_first ${qlm_webhook_arg_is_last}";
        qlm_webhook_field FullName $qlm_webhook_arg_is_fullname;
        qlm_webhook_field Comment " ${qlm_webhook_arg_is_last}	$qlm_webhook_arg_is_first ";
    }
--- request
GET /qlm/qlmservice.asmx/GetActivationKey?is_fullname=Jo+Ann&is_last=Doe
--- wait: 1
--- error_log eval
qr/body=\{"EventType":"license_created",.*"LicenseInfo":\{"FullName":"Doe","Comment":"Doe"\}\}$/m
--- no_error_log
[error]
