# qlm_webhook_verify: signatures of incoming webhooks checked at the edge,
# against fixed vectors computed with coreutils' sha256sum and openssl
# (not with the module's code), before the application sees a byte.

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256_base64);

$ENV{TEST_NGINX_APP_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;

# Standard Webhooks: base64 of HMAC-SHA256(key, "id.timestamp.body")
sub std_sig {
    my ($key, $id, $ts, $body) = @_;
    my $b64 = hmac_sha256_base64("$id.$ts.$body", $key);
    $b64 .= '=' while length($b64) % 4;
    return "v1,$b64";
}

# the three Standard Webhooks headers of a message signed with $Key
sub std_headers {
    my ($id, $ts, $body) = @_;
    return "webhook-id: $id\nwebhook-timestamp: $ts\nwebhook-signature: "
        . std_sig($::Key, $id, $ts, $body);
}

# the helper itself against a vector from openssl dgst -hmac
die "std_sig is wrong" unless std_sig('supersecretkey123', 'msg_2p7Q',
    1700000000, '{"a":1}') eq 'v1,8GuT9T1silQfB3YY7DPF0NeXIdaZmcdmtbGH40lFjMg=';

our $Key = 'supersecretkey123';
our $Secret = 'whsec_c3VwZXJzZWNyZXRrZXkxMjM=';

our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret k3y;

    log_format app escape=none 'APP \$request_method \$request_uri '
        'verified=\$qlm_webhook_verify_result body=\$request_body';
    log_format verified 'VERIFY \$qlm_webhook_verify_result';
    log_format verified_id 'VERIFY \$qlm_webhook_verify_result \$http_webhook_id';

    # the application behind the verify location: logs what reached it
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_APP_PORT};
        client_body_in_single_buffer on;
        client_body_buffer_size 64k;

        location / {
            access_log logs/error.log app;

            # an application that fails when asked to
            if (\$arg_fail = 503) {
                return 503;
            }

            rewrite ^ /sink break;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_APP_PORT};
        }

        location = /sink {
            access_log off;
            return 200 "app got it\\n";
        }
    }
_EOC_

our $Config = <<"_EOC_";
    client_body_buffer_size 1k;

    location /hook {
        qlm_webhook_verify on;
        access_log logs/error.log verified;
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_APP_PORT};
    }
_EOC_

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a valid signature: the request and its body reach the application
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
X-QLM-Signature: 1cd3bd42a3feaf152a88bfaf655a62af82833d0e57140cf8bfbbc62c92478a9d
--- request
POST /hook
{"EventType":"x"}
--- response_body
app got it
--- error_log eval
[
qr/^APP POST \/hook verified= body=\{"EventType":"x"\}$/m,
qr/^VERIFY valid$/m,
]
--- no_error_log
[error]
k3y



=== TEST 2: the same digest in upper case is accepted
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
X-QLM-Signature: 1CD3BD42A3FEAF152A88BFAF655A62AF82833D0E57140CF8BFBBC62C92478A9D
--- request
POST /hook
{"EventType":"x"}
--- response_body
app got it
--- error_log
VERIFY valid



=== TEST 3: a wrong signature: nginx's 403, the application sees nothing
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
X-QLM-Signature: 2cd3bd42a3feaf152a88bfaf655a62af82833d0e57140cf8bfbbc62c92478a9d
--- request
POST /hook
{"EventType":"x"}
--- error_code: 403
--- response_headers
Content-Type: text/html
--- response_body_like: <title>403 Forbidden</title>
--- error_log eval
[
qr/\[info\] .*qlm webhook: request refused: the signature does not match/,
qr/^VERIFY invalid$/m,
]
--- no_error_log eval
[
qr/^APP /m,
qr/1cd3bd42a3feaf152a88bfaf655a62af82833d0e57140cf8bfbbc62c92478a9d/,
qr/k3y/,
]



=== TEST 4: no header: 403, "missing"
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
POST /hook
{"EventType":"x"}
--- error_code: 403
--- error_log eval
[
qr/request refused: no X-QLM-Signature header/,
qr/^VERIFY missing$/m,
]
--- no_error_log eval
qr/^APP /m



=== TEST 5: a truncated header: 403, malformed
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
X-QLM-Signature: 1cd3bd42a3feaf152a88bfaf655a62af82833d0e57140cf8bfbbc62c92478a9
--- request
POST /hook
{"EventType":"x"}
--- error_code: 403
--- error_log eval
[
qr/request refused: malformed X-QLM-Signature header/,
qr/^VERIFY invalid$/m,
]



=== TEST 6: an empty body
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
X-QLM-Signature: a49b1287870c10a76f1f46552aca4431842ced5dedf0ee3f28ffa12855a4e86a
--- request
POST /hook
--- response_body
app got it
--- error_log
VERIFY valid



=== TEST 7: a one-byte body
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
X-QLM-Signature: f4615f5b36637aa25b91dd2343c30a766434cd0bb62fb5def701ed794a20dc43
--- request eval
"POST /hook\na"
--- response_body
app got it
--- error_log
VERIFY valid



=== TEST 8: a body of exactly client_body_buffer_size
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
X-QLM-Signature: d9624aff1e915422b9dcc7bf7bc5ca4ed7b2bf2952e0829ad67ae1712e95bfce
--- request eval
"POST /hook\n" . ("b" x 1024)
--- response_body
app got it
--- error_log eval
[
qr/^VERIFY valid$/m,
qr/^APP POST \/hook verified= body=b{1024}$/m,
]



=== TEST 9: a body larger than client_body_buffer_size, in a temporary file
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- more_headers
X-QLM-Signature: 250ee9826b2ff0a7b97795a82721f7eecb06fed5c7a16e25646b8f051dc60056
--- request eval
"POST /hook\n" . ("c" x 5000)
--- response_body
app got it
--- error_log eval
[
qr/a client request body is buffered to a temporary file/,
qr/^VERIFY valid$/m,
qr/^APP POST \/hook verified= body=c{5000}$/m,
]



=== TEST 10: a chunked request body
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- raw_request eval
"POST /hook HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
X-QLM-Signature: dd25b41bb2d1d1c2ad3e1af543dd1fce29877d5d8de2909578c991180199998b\r
\r
6\r
hello \r
8\r
chunked \r
5\r
world\r
0\r
\r
"
--- response_body
app got it
--- error_log eval
[
qr/^VERIFY valid$/m,
qr/^APP POST \/hook verified= body=hello chunked world$/m,
]



=== TEST 11: several secrets, for a rotation: the old one verifies
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_secret old-key;
        qlm_webhook_verify_secret file=..\/html\/new.key;/r
--- user_files
>>> new.key
new-key
--- more_headers
X-QLM-Signature: 6ea7798f56bdb9822d2609717465511e7c5e1c9df69fff0a1c9d5f0fd5dc2374
--- request
POST /hook
{"EventType":"x"}
--- response_body
app got it
--- error_log
VERIFY valid



=== TEST 12: several secrets: the new one, read from a file, verifies
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_secret old-key;
        qlm_webhook_verify_secret file=..\/html\/new.key;/r
--- user_files
>>> new.key
new-key
--- more_headers
X-QLM-Signature: f1e1f7b5ae977f74c6ffd4737f0d5a114a04d33ca83830e36f706aad73225af1
--- request
POST /hook
{"EventType":"x"}
--- response_body
app got it
--- error_log
VERIFY valid



=== TEST 13: the location's secrets replace the global one
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_secret old-key;
        qlm_webhook_verify_secret file=..\/html\/new.key;/r
--- user_files
>>> new.key
new-key
--- more_headers
X-QLM-Signature: 1cd3bd42a3feaf152a88bfaf655a62af82833d0e57140cf8bfbbc62c92478a9d
--- request
POST /hook
{"EventType":"x"}
--- error_code: 403
--- error_log
VERIFY invalid



=== TEST 14: $qlm_webhook_verify_result in an if: the application is told
--- http_config eval: $::HttpConfig
--- config
    location /hook {
        qlm_webhook_verify on;
        proxy_set_header X-Verified $qlm_webhook_verify_result;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/sink;
    }
--- more_headers
X-QLM-Signature: 1cd3bd42a3feaf152a88bfaf655a62af82833d0e57140cf8bfbbc62c92478a9d
--- request
POST /hook
{"EventType":"x"}
--- response_body
app got it
--- error_log
X-Verified: valid



=== TEST 15: Standard Webhooks: a valid message
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
my $ts = time;
"webhook-id: msg_a1\nwebhook-timestamp: $ts\nwebhook-signature: v1,bm90IHRoaXMgb25lIGF0IGFsbCwgbm90IHRoaXMgb25lIQ== "
    . main::std_sig($::Key, 'msg_a1', $ts, '{"a":1}')
--- request
POST /hook
{"a":1}
--- response_body
app got it
--- error_log eval
[
qr/^VERIFY valid$/m,
qr/^APP POST \/hook verified= body=\{"a":1\}$/m,
]
--- no_error_log
[error]



=== TEST 16: Standard Webhooks: a replayed message is refused
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
my $ts = time;
"webhook-id: msg_replay\nwebhook-timestamp: $ts\nwebhook-signature: "
    . main::std_sig($::Key, 'msg_replay', $ts, '{"a":2}')
--- request eval
["POST /hook\n{\"a\":2}", "POST /hook\n{\"a\":2}"]
--- error_code eval
[200, 403]
--- response_body_like eval
["^app got it\n\$", "403 Forbidden"]



=== TEST 17: Standard Webhooks: a stale timestamp is refused
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_tolerance 5m;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
my $ts = time - 301;
"webhook-id: msg_old\nwebhook-timestamp: $ts\nwebhook-signature: "
    . main::std_sig($::Key, 'msg_old', $ts, '{"a":3}')
--- request
POST /hook
{"a":3}
--- error_code: 403
--- error_log eval
[
qr/request refused: the webhook-timestamp is outside the tolerance/,
qr/^VERIFY stale$/m,
]



=== TEST 18: Standard Webhooks: a wrong signature, and missing headers
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
my $ts = time;
"webhook-id: msg_w\nwebhook-timestamp: $ts\nwebhook-signature: "
    . main::std_sig('another key', 'msg_w', $ts, '{"a":4}')
--- request
POST /hook
{"a":4}
--- error_code: 403
--- error_log eval
qr/^VERIFY invalid$/m



=== TEST 19: the module's own webhooks verify at its own verify location (QLM)
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook;

    server {
        listen 127.0.0.1:$TEST_NGINX_RECEIVER_PORT;

        location /hook {
            qlm_webhook_verify on;
            access_log logs/error.log verified;
            proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
        }
    }
}
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/sink;
        qlm_webhook_emit license_created;
        qlm_webhook_field Email $qlm_webhook_arg_is_email;
    }
--- request
GET /qlm/qlmservice.asmx/GetActivationKey?is_email=e2e%40example.com
--- wait: 1
--- error_log eval
[
qr/^VERIFY valid$/m,
qr/^APP POST \/hook verified= body=\{"EventType":"license_created",.*"LicenseInfo":\{"Email":"e2e\@example\.com"\}\}$/m,
qr/qlm webhook: "license_created" event \S+ to \S+ delivered: status 200/,
]
--- no_error_log
VERIFY invalid
VERIFY missing



=== TEST 20: the module's own Standard Webhooks verify at its own location
--- http_config eval
$::HttpConfig =~ s/qlm_webhook_secret k3y;/qlm_webhook_secret $::Secret;/r . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook scheme=standard;

    server {
        listen 127.0.0.1:$TEST_NGINX_RECEIVER_PORT;

        location /hook {
            qlm_webhook_verify on;
            qlm_webhook_verify_scheme standard;
            access_log logs/error.log verified_id;
            proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
        }
    }
}
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT/sink;
        qlm_webhook_emit license_created;
    }
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait: 1
--- error_log eval
qr/^VERIFY valid [0-9a-f]{8}-[0-9a-f-]{27}$/m
--- no_error_log
VERIFY invalid
VERIFY missing
[error]



=== TEST 21: a verify location without any secret fails nginx -t
--- config
    location /hook {
        qlm_webhook_verify on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_verify" has no secret: set "qlm_webhook_verify_secret" or "qlm_webhook_secret" in \S+/nginx\.conf:\d+}



=== TEST 22: verify inherited from the server level, without a secret
--- config
    qlm_webhook_verify on;
    location /hook {
        qlm_webhook_verify_scheme standard;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_verify" has no secret}



=== TEST 23: an empty qlm_webhook_secret is no secret for a verify location
--- http_config
    qlm_webhook_secret "";
--- config
    location /hook {
        qlm_webhook_verify on;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_secret" is empty for "qlm_webhook_verify" in \S+/nginx\.conf:\d+}



=== TEST 24: an empty qlm_webhook_verify_secret, among others
--- http_config
    qlm_webhook_secret k3y;
--- config
    location /hook {
        qlm_webhook_verify on;
        qlm_webhook_verify_secret old-key;
        qlm_webhook_verify_secret "";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_verify_secret" is empty in \S+/nginx\.conf:\d+}



=== TEST 25: a Standard Webhooks secret with an empty key
--- config
    location /hook {
        qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret whsec_;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_verify_secret" has an empty key after "whsec_" for "qlm_webhook_verify_scheme standard" in \S+/nginx\.conf:\d+}



=== TEST 26: a secret from an empty file does not pass
--- config
    location /hook {
        qlm_webhook_verify on;
        qlm_webhook_verify_secret file=../html/empty.key;
    }
--- user_files
>>> empty.key

--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_verify_secret" is empty in \S+/nginx\.conf:\d+}



=== TEST 27: without qlm_webhook_verify, or with it off, no secret is needed
--- config
    location /open {
        qlm_webhook_verify off;
        return 200 "open\n";
    }
--- request
GET /open
--- response_body
open
--- no_error_log
[error]
[emerg]



=== TEST 28: Standard Webhooks: a raw secret fails nginx -t, and is not shown
--- config
    location /hook {
        qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret supersecretkey123;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_verify_secret" must be "whsec_" followed by base64 for "qlm_webhook_verify_scheme standard" in \S+/nginx\.conf:\d+}
--- no_error_log
supersecretkey123



=== TEST 29: Standard Webhooks: base64 with a character out of its alphabet
--- config
    location /hook {
        qlm_webhook_verify on;
        qlm_webhook_verify_secret whsec_c3VwZXJzZWNy-ZXRrZXkxMjM=;
        qlm_webhook_verify_scheme standard;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_verify_secret" must be "whsec_" followed by base64 for "qlm_webhook_verify_scheme standard" in \S+/nginx\.conf:\d+}



=== TEST 30: Standard Webhooks: the global secret, not "whsec_", in a verify location
--- http_config
    qlm_webhook_secret k3y;
--- config
    location /hook {
        qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_secret" must be "whsec_" followed by base64 for "qlm_webhook_verify_scheme standard" in \S+/nginx\.conf:\d+}
--- no_error_log
k3y



=== TEST 31: Standard Webhooks: a timestamp 2^64 ms ahead (1.8e16 s) does not wrap into the tolerance
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
# (ts - now) * 1000 is 2^64 + 384 + 1000 * (100 - the seconds between this
# line and the request): within the 5m tolerance once wrapped
my $ts = time + 18446744073709552 + 100;
"webhook-id: msg_far\nwebhook-timestamp: $ts\nwebhook-signature: "
    . main::std_sig($::Key, 'msg_far', $ts, '{"a":5}')
--- request
POST /hook
{"a":5}
--- error_code: 403
--- error_log eval
[
qr/request refused: the webhook-timestamp is outside the tolerance/,
qr/^VERIFY stale$/m,
]
--- no_error_log eval
qr/^APP /m



=== TEST 32: Standard Webhooks: the largest timestamp, far in the future
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
my $ts = '9223372036854775807';
"webhook-id: msg_max\nwebhook-timestamp: $ts\nwebhook-signature: "
    . main::std_sig($::Key, 'msg_max', $ts, '{"a":6}')
--- request
POST /hook
{"a":6}
--- error_code: 403
--- error_log eval
qr/^VERIFY stale$/m
--- no_error_log eval
qr/^APP /m



=== TEST 33: Standard Webhooks, a tolerance of 1h: 59 minutes ahead passes
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_tolerance 1h;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
main::std_headers('msg_t33', time + 3540, '{"a":7}')
--- request
POST /hook
{"a":7}
--- error_code: 200
--- error_log eval
qr/^VERIFY valid$/m



=== TEST 34: Standard Webhooks, a tolerance of 1h: 59 minutes behind passes
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_tolerance 1h;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
main::std_headers('msg_t34', time - 3540, '{"a":7}')
--- request
POST /hook
{"a":7}
--- error_code: 200
--- error_log eval
qr/^VERIFY valid$/m



=== TEST 35: Standard Webhooks, a tolerance of 1h: 61 minutes ahead is stale
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_tolerance 1h;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
main::std_headers('msg_t35', time + 3660, '{"a":7}')
--- request
POST /hook
{"a":7}
--- error_code: 403
--- error_log eval
qr/^VERIFY stale$/m



=== TEST 36: Standard Webhooks, a tolerance of 1h: 61 minutes behind is stale
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_tolerance 1h;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
main::std_headers('msg_t36', time - 3660, '{"a":7}')
--- request
POST /hook
{"a":7}
--- error_code: 403
--- error_log eval
qr/^VERIFY stale$/m



=== TEST 37: Standard Webhooks: a negative timestamp is malformed
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
main::std_headers('msg_t37', '-' . time, '{"a":8}')
--- request
POST /hook
{"a":8}
--- error_code: 403
--- error_log eval
[
qr/request refused: malformed webhook-id or webhook-timestamp header/,
qr/^VERIFY invalid$/m,
]
--- no_error_log eval
qr/^APP /m



=== TEST 38: Standard Webhooks: a timestamp with a plus sign is malformed
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
main::std_headers('msg_t38', '+' . time, '{"a":8}')
--- request
POST /hook
{"a":8}
--- error_code: 403
--- error_log eval
[
qr/request refused: malformed webhook-id or webhook-timestamp header/,
qr/^VERIFY invalid$/m,
]
--- no_error_log eval
qr/^APP /m



=== TEST 39: Standard Webhooks: a timestamp followed by garbage is malformed
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
main::std_headers('msg_t39', time . 'x', '{"a":8}')
--- request
POST /hook
{"a":8}
--- error_code: 403
--- error_log eval
[
qr/request refused: malformed webhook-id or webhook-timestamp header/,
qr/^VERIFY invalid$/m,
]
--- no_error_log eval
qr/^APP /m



=== TEST 40: Standard Webhooks: a timestamp in hex is malformed
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
main::std_headers('msg_t40', '0x6553f100', '{"a":8}')
--- request
POST /hook
{"a":8}
--- error_code: 403
--- error_log eval
[
qr/request refused: malformed webhook-id or webhook-timestamp header/,
qr/^VERIFY invalid$/m,
]
--- no_error_log eval
qr/^APP /m



=== TEST 41: Standard Webhooks: a timestamp beyond 64 bits is malformed
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
main::std_headers('msg_t41', '99999999999999999999', '{"a":8}')
--- request
POST /hook
{"a":8}
--- error_code: 403
--- error_log eval
[
qr/request refused: malformed webhook-id or webhook-timestamp header/,
qr/^VERIFY invalid$/m,
]
--- no_error_log eval
qr/^APP /m



=== TEST 42: Standard Webhooks: an empty timestamp is malformed
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;/r
--- more_headers eval
main::std_headers('msg_t42', '', '{"a":8}')
--- request
POST /hook
{"a":8}
--- error_code: 403
--- error_log eval
[
qr/request refused: malformed webhook-id or webhook-timestamp header/,
qr/^VERIFY invalid$/m,
]
--- no_error_log eval
qr/^APP /m



=== TEST 43: satisfy any: "allow 127.0.0.1" lets an unsigned request through
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        satisfy any;
        allow 127.0.0.1;
        deny all;/r
--- request
POST /hook
{"EventType":"x"}
--- response_body
app got it
--- error_log eval
[
qr/\[info\] .*qlm webhook: not verified: no X-QLM-Signature header/,
qr/^VERIFY missing$/m,
qr/^APP POST \/hook verified= body=\{"EventType":"x"\}$/m,
]
--- no_error_log
[error]
request refused



=== TEST 44: satisfy all: "allow 127.0.0.1" does not let an unsigned request through
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        satisfy all;
        allow 127.0.0.1;
        deny all;/r
--- request
POST /hook
{"EventType":"x"}
--- error_code: 403
--- error_log eval
[
qr/\[info\] .*qlm webhook: request refused: no X-QLM-Signature header/,
qr/^VERIFY missing$/m,
]
--- no_error_log eval
qr/^APP /m



=== TEST 45: satisfy any: a valid signature is enough, "deny all" or not
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        satisfy any;
        deny all;/r
--- more_headers
X-QLM-Signature: 1cd3bd42a3feaf152a88bfaf655a62af82833d0e57140cf8bfbbc62c92478a9d
--- request
POST /hook
{"EventType":"x"}
--- response_body
app got it
--- error_log eval
qr/^VERIFY valid$/m
--- no_error_log
[error]



=== TEST 46: satisfy any: neither a signature nor an allowed address
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        satisfy any;
        deny all;/r
--- more_headers
X-QLM-Signature: 2cd3bd42a3feaf152a88bfaf655a62af82833d0e57140cf8bfbbc62c92478a9d
--- request
POST /hook
{"EventType":"x"}
--- error_code: 403
--- error_log eval
[
qr/qlm webhook: not verified: the signature does not match/,
qr/^VERIFY invalid$/m,
]
--- no_error_log eval
qr/^APP /m



=== TEST 47: satisfy all: a valid signature from a denied address is refused
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        deny 127.0.0.1;/r
--- more_headers
X-QLM-Signature: 1cd3bd42a3feaf152a88bfaf655a62af82833d0e57140cf8bfbbc62c92478a9d
--- request
POST /hook
{"EventType":"x"}
--- error_code: 403
--- error_log eval
[
qr/access forbidden by rule/,
qr/^VERIFY valid$/m,
]
--- no_error_log eval
qr/^APP /m



=== TEST 48: error_page turns the 403 into a JSON answer
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        error_page 403 = \@refused;/r . q{
    location @refused {
        default_type application/json;
        return 403 '{"error":"invalid signature"}\n';
    }
}
--- more_headers
X-QLM-Signature: 2cd3bd42a3feaf152a88bfaf655a62af82833d0e57140cf8bfbbc62c92478a9d
--- request
POST /hook
{"EventType":"x"}
--- error_code: 403
--- response_headers
Content-Type: application/json
--- response_body
{"error":"invalid signature"}
--- no_error_log eval
qr/^APP /m



=== TEST 49: "return" runs in the rewrite phase, before verification: an unsigned request gets it
--- http_config eval: $::HttpConfig
--- config
    location /hook {
        qlm_webhook_verify on;
        access_log logs/error.log verified;
        return 204;
    }
--- request
POST /hook
{"EventType":"x"}
--- error_code: 204
--- response_body
--- error_log eval
qr/^VERIFY -$/m
--- no_error_log
qlm webhook: request refused
VERIFY valid



=== TEST 50: the pattern for an answer from nginx: try_files to a named location, after verification
--- http_config eval: $::HttpConfig
--- config
    location /hook {
        qlm_webhook_verify on;
        access_log logs/error.log verified;
        try_files "" @accepted;
    }

    location @accepted {
        access_log logs/error.log verified;
        return 204;
    }
--- more_headers
X-QLM-Signature: 1cd3bd42a3feaf152a88bfaf655a62af82833d0e57140cf8bfbbc62c92478a9d
--- request
POST /hook
{"EventType":"x"}
--- error_code: 204
--- response_body
--- error_log eval
qr/^VERIFY valid$/m
--- no_error_log
[error]



=== TEST 51: the same pattern, unsigned: 403
--- http_config eval: $::HttpConfig
--- config
    location /hook {
        qlm_webhook_verify on;
        access_log logs/error.log verified;
        try_files "" @accepted;
    }

    location @accepted {
        return 204;
    }
--- request
POST /hook
{"EventType":"x"}
--- error_code: 403
--- error_log eval
[
qr/qlm webhook: request refused: no X-QLM-Signature header/,
qr/^VERIFY missing$/m,
]



=== TEST 52: Standard Webhooks: a retry after a 503 passes, a replay after a 200 does not
--- http_config eval: $::HttpConfig
--- config eval
$::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;
        add_header X-Verify \$qlm_webhook_verify_result always;/r
--- more_headers eval
main::std_headers('msg_retry', time, '{"a":9}')
--- request eval
["POST /hook?fail=503\n{\"a\":9}", "POST /hook\n{\"a\":9}",
 "POST /hook\n{\"a\":9}"]
--- error_code eval
[503, 200, 403]
--- response_headers eval
["X-Verify: valid", "X-Verify: valid", "X-Verify: replayed"]
--- response_body_like eval
["503 Service", "^app got it\n\$", "403 Forbidden"]
--- no_error_log
[error]



=== TEST 53: Standard Webhooks: a retry after the application could not be reached passes
--- http_config eval: $::HttpConfig
--- config eval
($::Config =~ s/qlm_webhook_verify on;/qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;
        add_header X-Verify \$qlm_webhook_verify_result always;/r) . "
    location /down {
        qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;
        add_header X-Verify \$qlm_webhook_verify_result always;
        proxy_pass http://127.0.0.1:1;
    }
"
--- more_headers eval
main::std_headers('msg_down', time, '{"a":10}')
--- request eval
["POST /down\n{\"a\":10}", "POST /hook\n{\"a\":10}",
 "POST /hook\n{\"a\":10}"]
--- error_code eval
[502, 200, 403]
--- response_headers eval
["X-Verify: valid", "X-Verify: valid", "X-Verify: replayed"]
--- response_body_like eval
["502 Bad Gateway", "^app got it\n\$", "403 Forbidden"]
--- no_error_log
replay protection failed



=== TEST 54: Standard Webhooks: a copy that comes while the first is being answered is refused, then the id is free again
--- config eval
qq{
    location /outer {
        qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;
        # the application sends the same message again, at once
        proxy_pass http://127.0.0.1:\$server_port/inner;
    }

    location /inner {
        qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::Secret;
        add_header X-Verify \$qlm_webhook_verify_result always;
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_APP_PORT};
    }
}
--- http_config eval: $::HttpConfig
--- more_headers eval
main::std_headers('msg_twice', time, '{"a":11}')
--- request eval
["POST /outer\n{\"a\":11}", "POST /inner\n{\"a\":11}",
 "POST /outer\n{\"a\":11}"]
--- error_code eval
[403, 200, 403]
--- response_headers eval
["X-Verify: replayed", "X-Verify: valid", ""]
--- response_body_like eval
["403 Forbidden", "^app got it\n\$", "403 Forbidden"]
--- no_error_log
[error]
