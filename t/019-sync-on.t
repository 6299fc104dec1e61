# sync=on: the event loop does not wait on the disk.  The batch's commits
# ran in nginx's thread pool already; the claims of due items (retries,
# items given back), the leased items given back, the scheduled tasks'
# steps and qlm_webhook_verify's replay table go there too.  A turn's
# events are first written to the worker's journal; a journal left by a
# worker that ended before its commits is replayed at start.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(abs_path);
use Digest::SHA qw(hmac_sha256_base64);
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/helpers";
use QLMJournal;

# Standard Webhooks headers: base64 of HMAC-SHA256(key, "id.timestamp.body")
sub std_headers {
    my ($id, $ts, $body) = @_;
    my $b64 = hmac_sha256_base64("$id.$ts.$body", 'supersecretkey123');
    $b64 .= '=' while length($b64) % 4;
    return "webhook-id: $id\nwebhook-timestamp: $ts\n"
        . "webhook-signature: v1,$b64";
}

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;
$ENV{TEST_NGINX_QLM_CONF} ||= abs_path('conf/qlm.conf');

our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store sync=on;
    qlm_webhook_retry_interval 1s;

    log_format hook escape=none 'HOOK \$uri event=\$http_x_qlm_event attempt=\$http_x_qlm_delivery_attempt body=\$request_body';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;

        location / {
            return 200 '<QuickLicenseManager><pckey>K</pckey></QuickLicenseManager>';
        }

        location = /qlmLicenseServer/qlmservice.asmx/GetActivationKey {
            return 200 '<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><pckey>NEW-A</pckey><pckey>NEW-B</pckey><pckey>NEW-C</pckey><pckey>NEW-D</pckey><pckey>NEW-E</pckey></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        client_body_in_single_buffer on;

        # the body is read (and logged) when the request is proxied
        location /ok {
            access_log logs/error.log hook;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/sink;
        }

        location /sink {
            access_log off;
            return 200;
        }

        location /fail {
            access_log logs/error.log hook;
            return 503;
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
# a location that verifies Standard Webhooks, in front of the receiver
our $VerifyConfig = $Config . qq{
    location /hook/ {
        qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret whsec_c3VwZXJzZWNyZXRrZXkxMjM=;
        add_header X-Verify \$qlm_webhook_verify_result always;
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/;
    }
};

# the admin API, a response of a second and a half (1 KB at once, the rest
# half a second later), and the error log
our $AdminConfig = $Config . "
    location /admin/ {
        qlm_webhook_admin;
    }

    location = /slow {
        limit_rate_after 0;
        limit_rate 1k;
        return 200 \"" . ('$request_id' x 48) . "\";
    }

    location = /error.log {
        default_type text/plain;
        alias logs/error.log;
    }
";

# A journal as a worker killed before its commits leaves it, in a store
# of its own (written before nginx starts, t/helpers/QLMJournal.pm says
# how): records 1 and 2 hold an event each; the third's checksum is wrong
# (a write cut short).

sub jrecord {
    my ($lsn, $key, $url, $bad) = @_;
    return QLMJournal::jrecord($lsn, "evt_$key", $url,
        qq({"EventType":"license_created","Key":"$key"}), $bad);
}

our $JStore = tempdir(CLEANUP => 1) . '/store';
mkdir $JStore or die "$JStore: $!";
{
    my $url = "http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/ok";
    open(my $fh, '>', "$JStore/journal-1-1") or die "journal: $!";
    binmode $fh;
    print $fh jrecord(1, 'FROM-JOURNAL-1', $url),
              jrecord(2, 'FROM-JOURNAL-2', $url),
              jrecord(3, 'TORN', $url, 1);
    close($fh);
}

run_tests();

__DATA__

=== TEST 1: sync=on: delivered at once, from the commit that stored the event
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/ok;
}
--- config eval: $::Config
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait: 0.5
--- error_log eval
[
qr/^HOOK \/ok event=license_created attempt=1 body=\{"EventType":"license_created"/m,
qr/qlm webhook: "license_created" event \S+ to http:\/\/127\.0\.0\.1:\d+\/ok delivered: status 200/,
]
--- no_error_log
[error]
[alert]



=== TEST 2: sync=on: a retry is claimed in a thread of the pool, not in the event loop
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/fail;
}
--- config eval: $::Config
--- request
GET /qlm/qlmservice.asmx/GetActivationKey
--- wait: 2.5
--- error_log eval
[
qr/^HOOK \/fail event=license_created attempt=1 body=/m,
qr/^HOOK \/fail event=license_created attempt=2 body=/m,
qr/qlm webhook: 1 claimed in a thread, rc 0/,
qr/to http:\/\/127\.0\.0\.1:\d+\/fail failed, will retry: status 503, \d+ ms, attempt 2/,
]
--- no_error_log
[alert]
claiming deliveries failed



=== TEST 3: sync=on, one attempt at a time to a URL: five events of one call are leased at one commit; those that must wait are given back with the next commit, claimed in a thread as the URL frees, and all arrive
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url_concurrency 1;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/ok;
}
--- config
    location /qlmLicenseServer/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        include $TEST_NGINX_QLM_CONF;
    }
--- request
GET /qlmLicenseServer/qlmservice.asmx/GetActivationKey?is_productid=1&is_majorversion=1&is_minorversion=0&is_quantity=5
--- wait: 1.5
--- error_log eval
[
qr/^HOOK \/ok event=license_created attempt=1 body=.*"ActivationKey":"NEW-A"/m,
qr/^HOOK \/ok event=license_created attempt=1 body=.*"ActivationKey":"NEW-B"/m,
qr/^HOOK \/ok event=license_created attempt=1 body=.*"ActivationKey":"NEW-C"/m,
qr/^HOOK \/ok event=license_created attempt=1 body=.*"ActivationKey":"NEW-D"/m,
qr/^HOOK \/ok event=license_created attempt=1 body=.*"ActivationKey":"NEW-E"/m,
qr/qlm webhook: 1 claimed in a thread, rc 0/,
]
--- no_error_log
[alert]
[error]
failed



=== TEST 4: sync=on: a scheduled task's step is scanned and written in a thread, and its match is delivered
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_search "Everything" "ActivationKey Like 'T-%'";
    qlm_webhook_task everything "search=Everything" every=1s
        url=http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/ok user_data=u-4;
}
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey $arg_k;
    }
--- request
GET /qlm/qlmservice.asmx/GetActivationKey?k=T-4
--- wait: 2.5
--- error_log eval
[
qr/^HOOK \/ok event=everything attempt=1 body=\{"Name":"everything","WebHookUserData":"u-4","LicenseInfo":\{"ActivationKey":"T-4"\}\}$/m,
qr/qlm webhook: task "everything" done: 1 licenses scanned, 1 matched/,
qr/qlm webhook: a task step scanned and written in a thread/,
]
--- no_error_log
[alert]
[error]



=== TEST 5: sync=on: qlm_webhook_verify's replay check runs in a thread; a retry after a 503 passes, a replay after a 200 does not
--- http_config eval: $::HttpConfig
--- config eval: $::VerifyConfig
--- more_headers eval
main::std_headers('msg_sync_on', time, '{"a":1}')
--- request eval
["POST /hook/fail\n{\"a\":1}", "POST /hook/ok\n{\"a\":1}",
 "POST /hook/ok\n{\"a\":1}"]
--- error_code eval
[503, 200, 403]
--- response_headers eval
["X-Verify: valid", "X-Verify: valid", "X-Verify: replayed"]
--- error_log eval
qr/qlm webhook: webhook-id checked in a thread: (?:0|-30906)$/m
--- no_error_log
[error]
[alert]



=== TEST 6: sync=on: the outcome of a verified webhook is written in a thread after the answer
--- http_config eval: $::HttpConfig
--- config eval: $::VerifyConfig
--- more_headers eval
main::std_headers('msg_sync_on_kept', time, '{"a":2}')
--- request
POST /hook/ok
{"a":2}
--- error_code: 200
--- response_headers
X-Verify: valid
--- wait: 0.3
--- error_log eval
[
qr/qlm webhook: webhook-id checked in a thread: 0$/m,
"qlm webhook: a webhook-id settled in a thread",
qr/qlm webhook: webhook-id kept: 0$/m,
]
--- no_error_log
[error]
[alert]



=== TEST 7: sync=on: the admin API's replay of all dead letters steps in a thread
--- http_config eval
$::HttpConfig . qq{
    qlm_webhook_max_retries 0;
    qlm_webhook_url license_created http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/fail;
}
--- config eval: $::AdminConfig
--- request eval
[
"GET /qlm/a",
"GET /qlm/b",
"GET /slow",
"POST /admin/dead/replay",
"GET /error.log",
]
--- response_body_like eval
[
qr/K/, qr/K/, qr/^\w{1536}$/,
qr/^\{"replayed":2\}\n$/,
qr/qlm webhook: admin: a replay step in a thread: 2$/m,
]
--- no_error_log
[alert]
[crit]



=== TEST 8: sync=on: qlm_webhook_pause_after's pause is written to the store in a thread
--- http_config eval
$::HttpConfig . qq{
    qlm_webhook_max_retries 50;
    qlm_webhook_breaker 0;
    qlm_webhook_pause_after 1s;
    qlm_webhook_url license_created http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/fail;
}
--- config eval: $::Config
--- request
GET /qlm/a
--- wait: 3
--- error_log eval
[
qr/\[warn\].*qlm webhook: http:\/\/127\.0\.0\.1:\d+\/fail failing for [12] s, paused/,
qr/qlm webhook: a pause of http:\/\/127\.0\.0\.1:\d+\/fail written in a thread/,
]
--- no_error_log
[error]
[alert]



=== TEST 9: sync=on: a journal left by a worker that ended before its commits is replayed into the store at start, its events delivered; the record cut short is not
--- http_config eval
"    qlm_webhook_store $::JStore sync=on;
    qlm_webhook_url license_created http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/ok;
" . ($::HttpConfig =~ s/^\s*qlm_webhook_store [^\n]*\n//r)
--- config eval: $::Config
--- request
GET /qlm/a
--- wait: 1
--- error_log eval
[
qr/\[notice\].*qlm_webhook_store: 2 events replayed from the journals of ended workers in "[^"]+\/store"/,
qr/^HOOK \/ok event=license_created attempt=1 body=\{"EventType":"license_created","Key":"FROM-JOURNAL-1"\}$/m,
qr/^HOOK \/ok event=license_created attempt=1 body=\{"EventType":"license_created","Key":"FROM-JOURNAL-2"\}$/m,
]
--- no_error_log eval
[
qr/TORN/,
qr/\[alert\]/,
qr/\[error\]/,
]



=== TEST 10: sync=on: the admin API's single changes (a replay of one dead letter, a test event, a pause, a resume) are written in a thread, and answered once written
--- http_config eval
$::HttpConfig . qq{
    qlm_webhook_max_retries 0;
    qlm_webhook_url license_created http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/fail;
}
--- config eval: $::AdminConfig
--- request eval
[
"GET /qlm/a",
"GET /slow",
"POST /admin/dead/1/replay",
"POST /admin/dead/99/replay",
"POST /admin/test?event=license_created",
"POST /admin/urls/pause?url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/fail",
"POST /admin/urls/resume?url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/fail",
"GET /slow",
"GET /error.log",
]
--- error_code eval
[200, 200, 200, 404, 202, 200, 200, 200, 200]
--- response_body_like eval
[
qr/K/, qr/^\w{1536}$/,
qr/^\{"replayed":1\}\n$/,
qr/^\{"error":"no dead letter 99"\}\n$/,
qr/^\{"event":"license_created","event_id":"[0-9a-f-]{36}","deliveries":\[\{"id":\d+,"url":"http:\/\/127\.0\.0\.1:\d+\/fail"\}\]\}\n$/,
qr/^\{"url":"http:\/\/127\.0\.0\.1:\d+\/fail","paused":true\}\n$/,
qr/^\{"url":"http:\/\/127\.0\.0\.1:\d+\/fail","paused":false\}\n$/,
qr/^\w{1536}$/,
qr/\A(?=(?:.*?^HOOK \/fail event=license_created attempt=1 ){3})(?=.*admin: a replay in a thread: 1\n.*admin: dead letter 1 replayed.*admin: a replay in a thread: 0\n.*admin: a test event in a thread: 1\n.*admin: test "license_created" event [0-9a-f-]{36} queued for 1 URL.*paused by the admin API.*admin: a pause in a thread: 0\n.*resumed by the admin API.*admin: a resume in a thread: 0\n)/ms,
]
--- no_error_log
[alert]
[crit]



=== TEST 11: sync=on: a scheduled task's begin is written in a thread, and its run delivers
--- http_config eval
$::HttpConfig . qq{
    qlm_webhook_search mine "ActivationKey = 'TASK-1'";
    qlm_webhook_task t1 search=mine every=1s
        url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/ok;
}
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey $qlm_webhook_arg_is_avkey;
    }
--- request
GET /qlm/a?is_avkey=TASK-1
--- wait: 2.5
--- error_log eval
[
qr/qlm webhook: a task begin written in a thread/,
qr/qlm webhook: task "t1" runs/,
qr/qlm webhook: a task step scanned and written in a thread/,
qr/^HOOK \/ok event=\S* attempt=1 body=\{.*"ActivationKey":"TASK-1"/m,
]
--- no_error_log
[error]
[alert]
