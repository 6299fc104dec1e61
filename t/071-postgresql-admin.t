# The admin API and the status page on a PostgreSQL fleet: the log, the
# dead letters, replay and recover read and write PostgreSQL's tables, not
# the instance's spool, and the status page shows the fleet's queue.  The
# blocks are nodes of one fleet in turn (node=t071a, t071b, ...: each
# block is a new nginx with an empty spool), so what one block's node
# left in PostgreSQL the next block's node sees, replays and logs.  The
# receiver's /flaky answers 503 or 200 as each block configures it.
# Skipped when the postgresql server package is not installed.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);

my $top = abs_path(dirname(abs_path(__FILE__)) . '/..');
my $server = "$top/util/pg-test-server";
our $pg_port = $ENV{QLM_PG_T_PORT} || 3263;
my ($psql) = sort { $b cmp $a } glob('/usr/lib/postgresql/*/bin/psql');
my $cli = ($ENV{QLM_STORE_BUILD} || "$top/build/lmdb-store") . '/qlm-store';

if (!glob('/usr/lib/postgresql/*/bin/postgres') || !$psql) {
    SKIP: {
        skip('no PostgreSQL server (Debian package postgresql)', 1);
    }
    exit 0;
}

our $pgdir = tempdir('qlm-t-pg.XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $pgdir;
my $started;

END {
    system($server, 'stop', $pgdir) if $started;
}

$ENV{QLM_PG_TEST_OWNER} = $$;
our $url = `$server start $pgdir $pg_port`;
die "util/pg-test-server start failed\n" if $?;
$started = 1;
chomp $url;

system($cli, '--password-file', "$pgdir/password", $url, 'schema', 'init') == 0
    or die "qlm-store schema init failed\n";

sub psql {
    my ($sql) = @_;
    open(my $fh, '<', "$pgdir/password") or die "$pgdir/password: $!";
    my $pw = <$fh>;
    close $fh;
    chomp $pw;
    local $ENV{PGPASSWORD} = $pw;
    my $out = `$psql -X -q -A -t -h 127.0.0.1 -p $pg_port -U qlm -d qlm -c "$sql"`;
    chomp $out;
    return $out;
}

# a delivery due in 2100, never claimed: the fleet's queue holds one; its
# id is given, so the deliveries forwarded by the blocks get 1, 2, ...

psql("INSERT INTO qlm_queue (id, event_id, event, url, body, due, created, "
     . "updated) VALUES (1000000, 't071-later', 'license_created', "
     . "'http://127.0.0.1:9/later', '', 4102444800000, 1, 1)");

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;

# the http{} of a node: its name, what /flaky answers, and the store
sub conf {
    my ($node, $flaky, $store) = @_;
    $store ||= "$url password_file=$pgdir/password";
    my $answer = $flaky == 200 ? 'return 200 "thanks\n";'
                               : 'return 503 "down\n";';
    return <<"_EOC_";
    qlm_webhook_store $store
                      spool=logs/qlm_spool node=$node;
    qlm_webhook_secret "test-secret";
    qlm_webhook_retry_interval 1s;
    qlm_webhook_max_retries 1;
    qlm_webhook_timeout 3s;

    limit_req_zone \$server_name zone=pace:1m rate=1r/s;

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;

        location / {
            return 200 '<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><result>activated</result></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        access_log off;

        location /flaky {
            $answer
        }

        location /down {
            return 503 "down\n";
        }

        location /hook {
            return 200 "thanks\n";
        }
    }
_EOC_
}

our $Config = <<'_EOC_';
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit license_activated;
    }

    location /admin/ {
        qlm_webhook_admin;
    }

    location = /status {
        qlm_webhook_status;
    }

    # a second request here waits a second: time for the fleet's figures
    location = /pace {
        limit_req zone=pace burst=5;
        return 204;
    }
_EOC_

repeat_each(1);
no_shuffle();
run_tests();

# what the blocks left in PostgreSQL

is(psql("SELECT count(*) FROM qlm_queue WHERE id <> 1000000"), '0',
   'nothing left queued but the delivery of 2100');
is(psql("SELECT string_agg(node || ':' || attempt || ':' || outcome, ',' "
        . "ORDER BY seq) FROM qlm_log WHERE item_id = 1"),
   't071a:1:2,t071a:2:3,t071b:1:1',
   'delivery 1: a retry and its death on one node, its replay on another');
is(psql("SELECT url || ' ' || attempt FROM qlm_dead"),
   "http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/down 2",
   'the receiver that never answers 200 is dead again after its recovery');

__DATA__

=== TEST 1: node a: a failing receiver gives a dead letter, in PostgreSQL
--- http_config eval
main::conf('t071a', 503) . q{
    qlm_webhook_url license_activated http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/flaky;
}
--- config eval: $::Config
--- request
GET /qlm/ActivateKey?is_avkey=ADM-1
--- response_body_like: activated
--- wait: 3
--- error_log eval
[
qr/to http:\/\/127\.0\.0\.1:\d+\/flaky failed, will retry: status 503, \d+ ms, attempt 1/,
qr/to http:\/\/127\.0\.0\.1:\d+\/flaky failed, moved to dead letters: status 503, \d+ ms, attempt 2/,
]
--- no_error_log
[alert]
[crit]



=== TEST 2: node b, its spool empty, lists the dead letter; 404 for another
--- http_config eval: main::conf('t071b', 503)
--- config eval: $::Config
--- request eval
["GET /admin/dead", "GET /admin/dead?limit=1&body=1",
 "POST /admin/dead/999/replay"]
--- error_code eval
[200, 200, 404]
--- response_body_like eval
[
qr/^\{"dead_letters":\[\{"id":1,"created":\d{13},"created_iso":"[-0-9T:.]+Z","updated":\d{13},"updated_iso":"[-0-9T:.]+Z","attempt":2,"last_status":503,"last_error":"HTTP status 503","event":"license_activated","event_id":"[0-9a-f-]{36}","url":"http:\/\/127\.0\.0\.1:\d+\/flaky"\}\],"next":null\}\n\z/,
qr/^\{"dead_letters":\[\{"id":1,.*"url":"http:\/\/127\.0\.0\.1:\d+\/flaky","body":"\{\\"EventType\\":\\"license_activated\\",.*\}"\}\],"next":null\}\n\z/,
qr/^\{"error":"no dead letter 999"\}\n\z/,
]
--- no_error_log
[error]
[alert]



=== TEST 3: node b replays it; the receiver now answers 200
--- http_config eval: main::conf('t071b', 200)
--- config eval: $::Config
--- request
POST /admin/dead/1/replay
--- response_body
{"replayed":1}
--- wait: 1.5
--- error_log eval
[
qr/qlm webhook: admin: dead letter 1 replayed/,
qr/to http:\/\/127\.0\.0\.1:\d+\/flaky delivered: status 200, \d+ ms, attempt 1/,
]
--- no_error_log
[error]
[alert]



=== TEST 4: the log shows the three attempts, newest first, with their nodes
--- http_config eval: main::conf('t071c', 200)
--- config eval: $::Config
--- request eval
[
"GET /admin/log?url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/flaky",
"GET /admin/log?url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/flaky&limit=2",
"GET /admin/log?outcome=dead&event=license_activated",
"POST /admin/dead/1/replay",
]
--- error_code eval
[200, 200, 200, 404]
--- response_body_like eval
[
qr/^\{"records":\[\{"key":"\d{13}-\d+","time":\d{13},"time_iso":"[-0-9T:.]+Z","outcome":"delivered","status":200,"attempt":1,"duration_ms":\d+,"item_id":1,"event":"license_activated","event_id":"([0-9a-f-]{36})","url":"http:\/\/127\.0\.0\.1:\d+\/flaky","error":"","answer":"thanks\\n","node":"t071b"\},\{[^{}]*"outcome":"dead","status":503,"attempt":2,[^{}]*"event_id":"\1",[^{}]*"error":"HTTP status 503","answer":"down\\n","node":"t071a"\},\{[^{}]*"outcome":"retry","status":503,"attempt":1,[^{}]*"node":"t071a"\}\],"next":null\}\n\z/,
qr/^\{"records":\[\{[^{}]*"outcome":"delivered"[^{}]*\},\{[^{}]*"outcome":"dead"[^{}]*\}\],"next":"\d{13}-\d+"\}\n\z/,
qr/^\{"records":\[\{[^{}]*"outcome":"dead"[^{}]*"node":"t071a"\}\],"next":null\}\n\z/,
qr/^\{"error":"no dead letter 1"\}\n\z/,
]
--- no_error_log
[error]
[alert]



=== TEST 5: node c: two more dead letters
--- http_config eval
main::conf('t071c', 503) . q{
    qlm_webhook_url license_activated "http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/flaky;http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/down";
}
--- config eval: $::Config
--- request
GET /qlm/ActivateKey?is_avkey=ADM-2
--- response_body_like: activated
--- wait: 3
--- error_log eval
[
qr/to http:\/\/127\.0\.0\.1:\d+\/flaky failed, moved to dead letters: status 503/,
qr/to http:\/\/127\.0\.0\.1:\d+\/down failed, moved to dead letters: status 503/,
]
--- no_error_log
[alert]
[crit]



=== TEST 6: node d: nothing died since 2099
--- http_config eval: main::conf('t071d', 200)
--- config eval: $::Config
--- request
POST /admin/recover?since=2099-01-01T00:00:00Z
--- response_body
{"replayed":0}
--- error_log
qlm webhook: admin: recover: 0 dead letters replayed in 1 step
--- no_error_log
[error]
[alert]



=== TEST 7: node d recovers what died in the last hour: /flaky is delivered
--- http_config eval: main::conf('t071d', 200)
--- config eval: $::Config
--- request
POST /admin/recover?since=-1h
--- response_body
{"replayed":2}
--- wait: 3
--- error_log eval
[
qr/qlm webhook: admin: recover: 2 dead letters replayed in 1 step$/m,
qr/to http:\/\/127\.0\.0\.1:\d+\/flaky delivered: status 200, \d+ ms, attempt 1/,
qr/to http:\/\/127\.0\.0\.1:\d+\/down failed, moved to dead letters: status 503, \d+ ms, attempt 2/,
]
--- no_error_log
[alert]
[crit]



=== TEST 8: the status page shows the fleet's queue and dead letters
--- http_config eval: main::conf('t071e', 200)
--- config eval: $::Config
--- request eval
["GET /pace", "GET /pace", "GET /status", "GET /pace", "GET /status",
 "GET /status?format=prometheus"]
--- error_code eval
[204, 204, 200, 204, 200, 200]
--- response_body_like eval
[
qr/^$/,
qr/^$/,
qr/"store":\{"open":true,"backend":"postgresql","queued":null,"due":null,"leased":null,"dead_letters":null,"log_records":null,"next_due":null,"fleet_at":null,"fleet_age_ms":null,"spool_queued":0,"map_size":\d+,"map_used":\d+\},/,
qr/^$/,
qr/"store":\{"open":true,"backend":"postgresql","queued":1,"due":0,"leased":0,"dead_letters":1,"log_records":10,"next_due":4102444800000,"fleet_at":\d{13},"fleet_age_ms":\d+,"spool_queued":0,"map_size":\d+,"map_used":\d+\},/,
qr/^qlm_webhook_queue_items 1\n.*^qlm_webhook_queue_due 0\n.*^qlm_webhook_dead_letters 1\n.*^qlm_webhook_log_records 10\n.*^qlm_webhook_fleet_age_seconds \d+\.\d{3}\n.*^qlm_webhook_spool_items 0\n/ms,
]
--- no_error_log
[error]
[alert]



=== TEST 9: a test event goes through the spool to PostgreSQL and out
--- http_config eval
main::conf('t071f', 200) . q{
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook;
}
--- config eval: $::Config
--- request
POST /admin/test
--- error_code: 202
--- response_body_like: ^\{"event":"license_created","event_id":"[0-9a-f-]{36}","deliveries":\[\{"id":\d+,"url":"http://127\.0\.0\.1:\d+/hook"\}\]\}$
--- wait: 1.5
--- error_log eval
qr/"license_created" event \S+ to http:\/\/127\.0\.0\.1:\d+\/hook delivered: status 200, \d+ ms, attempt 1/
--- no_error_log
[error]
[alert]



=== TEST 10: a database that does not answer: 503 and a JSON error
--- http_config eval
main::conf('t071g', 200, "postgresql://qlm\@127.0.0.1:$::pg_port/nosuchdb password_file=$::pgdir/password")
--- config eval: $::Config
--- request eval
["GET /admin/dead", "GET /admin/log", "POST /admin/dead/replay",
 "GET /admin/urls"]
--- error_code eval
[503, 503, 503, 200]
--- response_body_like eval
[
qr/^\{"error":"the PostgreSQL store is unavailable"\}\n\z/,
qr/^\{"error":"the PostgreSQL store is unavailable"\}\n\z/,
qr/^\{"error":"the PostgreSQL store is unavailable"\}\n\z/,
qr/^\{"urls":\[\]\}\n\z/,
]
--- no_error_log
[alert]
[crit]



=== TEST 11: three requests in a row while it does not answer: said once
--- http_config eval
main::conf('t071h', 200, "postgresql://qlm\@127.0.0.1:$::pg_port/nosuchdb password_file=$::pgdir/password")
--- config eval: $::Config
--- raw_request eval
"GET /admin/dead HTTP/1.1\r\nHost: localhost\r\n\r\n"
. "GET /admin/log HTTP/1.1\r\nHost: localhost\r\n\r\n"
. "POST /admin/dead/replay HTTP/1.1\r\nHost: localhost\r\n"
. "Content-Length: 0\r\nConnection: close\r\n\r\n"
--- ignore_response
--- timeout: 6
--- grep_error_log eval: qr/qlm webhook: admin: the PostgreSQL store is unavailable[^,]*/
--- grep_error_log_out
qlm webhook: admin: the PostgreSQL store is unavailable: the admin API answers 503 to the log
--- no_error_log
[alert]
[crit]
