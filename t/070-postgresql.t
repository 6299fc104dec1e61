# The PostgreSQL backend: qlm_webhook_store postgresql://...  A test
# server from Debian's postgresql package (util/pg-test-server) holds the
# queue; the local LMDB store at spool= takes each event first, and the
# forwarder moves it over.  Deliveries, retries, dead letters and the log
# end up in PostgreSQL's tables, checked with psql at the end.  Skipped
# when the postgresql server package is not installed.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);

my $top = abs_path(dirname(abs_path(__FILE__)) . '/..');
my $server = "$top/util/pg-test-server";
my $pg_port = $ENV{QLM_PG_T_PORT} || 3262;
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

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;
$ENV{TEST_NGINX_PG_URL} = $url;
$ENV{TEST_NGINX_PG_PASSWORD} = "$pgdir/password";

our $HttpConfig = <<"_EOC_";
    qlm_webhook_store $url password_file=$pgdir/password
                      spool=logs/qlm_spool node=t070;
    qlm_webhook_secret "test-secret";
    qlm_webhook_retry_interval 1s;
    qlm_webhook_max_retries 1;
    qlm_webhook_timeout 3s;

    log_format hook escape=none 'HOOK \$request_method \$uri '
        'event=\$http_x_qlm_event id=\$http_x_qlm_event_id '
        'attempt=\$http_x_qlm_delivery_attempt '
        'sig=\$http_x_qlm_signature';

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

        location /hook {
            access_log logs/error.log hook;
            return 200 "thanks\\n";
        }

        location /fail {
            access_log logs/error.log hook;
            return 503;
        }
    }
_EOC_

repeat_each(1);
no_shuffle();
run_tests();

# what the blocks left in PostgreSQL

SKIP: {
    # under valgrind the last block's deliveries may still be on their way
    skip('timing: nginx runs under valgrind', 1)
        if $ENV{TEST_NGINX_USE_VALGRIND};
    is(psql("SELECT count(*) FROM qlm_queue"), '0', 'nothing left queued');
}
is(psql("SELECT count(*) FROM qlm_log WHERE node = 't070' AND outcome = 1 "
        . "AND url LIKE '%/hook/pg'"),
   '2', 'two deliveries logged as delivered, by this node');
is(psql("SELECT url || ' ' || attempt || ' ' || last_status || ' ' "
        . "|| last_error FROM qlm_dead"),
   "http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/fail 2 503 "
   . "HTTP status 503",
   'the failing URL is a dead letter after its retry, with the reason');
is(psql("SELECT string_agg(attempt || ':' || outcome, ',' ORDER BY seq) "
        . "FROM qlm_log WHERE url LIKE '%/fail'"),
   '1:2,2:3', 'its attempts logged: a retry, then a dead letter');
is(psql("SELECT fields->>'ActivationKey' FROM qlm_mirror "
        . "WHERE tbl = 0 AND key = 'PG-KEY-1' AND NOT deleted"),
   'PG-KEY-1', 'the license is in the fleet\'s mirror, qlm_mirror');
is(psql("SELECT count(*) FROM qlm_mirror WHERE key LIKE 'CAF%'"), '0',
   'a key that is not UTF-8 is not in qlm_mirror');
is(psql("SELECT count(*) FROM qlm_task_slot WHERE task = 'every' "
        . "AND node = 't070'"),
   psql("SELECT count(DISTINCT slot) FROM qlm_task_slot "
        . "WHERE task = 'every'"),
   'each slot of the task is this node\'s, one row a slot');

__DATA__

=== TEST 1: a password in the connection string is refused
--- http_config
    qlm_webhook_store postgresql://qlm:hunter2@127.0.0.1:5432/qlm;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*password.* in \S+/nginx\.conf:\d+}
--- no_error_log
hunter2



=== TEST 2: a connection string that libpq does not take
--- http_config
    qlm_webhook_store postgresql://qlm@127.0.0.1:5432/qlm?nosuch=1;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid connection string in \S+/nginx\.conf:\d+}



=== TEST 3: pool= out of range
--- http_config
    qlm_webhook_store postgresql://qlm@127.0.0.1:5432/qlm pool=0;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid pool "pool=0", it must be 1 to 16 in \S+/nginx\.conf:\d+}



=== TEST 4: a password file that does not exist
--- http_config
    qlm_webhook_store postgresql://qlm@127.0.0.1:5432/qlm password_file=/nonexistent/pw;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*open\(\) "/nonexistent/pw" failed .* in \S+/nginx\.conf:\d+}



=== TEST 5: an empty spool=
--- http_config
    qlm_webhook_store postgresql://qlm@127.0.0.1:5432/qlm spool=;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*empty spool path in \S+/nginx\.conf:\d+}



=== TEST 6: an event goes through PostgreSQL and is delivered, signed
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_activated http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/pg;
}
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit license_activated;
        qlm_webhook_field ActivationKey $arg_is_avkey;
    }
--- request
GET /qlm/ActivateKey?is_avkey=PG-KEY-1
--- response_body chomp
<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><result>activated</result></QuickLicenseManager>
--- wait: 1.5
--- error_log eval
[
qr/qlm webhook: connected to PostgreSQL at 127\.0\.0\.1:\d+, database "qlm"/,
qr/qlm webhook: "license_activated" event [0-9a-f-]{36} queued for 1 URL/,
qr/"license_activated" event \S+ to http:\/\/127\.0\.0\.1:\d+\/hook\/pg delivered: status 200, \d+ ms, attempt 1/,
qr/HOOK POST \/hook\/pg event=license_activated id=[0-9a-f-]{36} attempt=1 sig=[0-9a-f]{64}$/m,
]
--- no_error_log
[error]
[alert]



=== TEST 7: two URLs: one delivered, one retried then buried in qlm_dead
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_activated "http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/pg;http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/fail";
}
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit license_activated;
    }
--- request
GET /qlm/ActivateKey?is_avkey=PG-KEY-2
--- response_body chomp
<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><result>activated</result></QuickLicenseManager>
--- wait: 3
--- error_log eval
[
qr/to http:\/\/127\.0\.0\.1:\d+\/hook\/pg delivered: status 200/,
qr/to http:\/\/127\.0\.0\.1:\d+\/fail failed, will retry: status 503, \d+ ms, attempt 1/,
qr/to http:\/\/127\.0\.0\.1:\d+\/fail failed, moved to dead letters: status 503, \d+ ms, attempt 2/,
]
--- no_error_log
[alert]



=== TEST 8: the status page counts what went over to PostgreSQL
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit license_activated;
    }
    location = /status {
        qlm_webhook_status;
    }
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_activated http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/count;
}
--- request eval
["GET /qlm/ActivateKey?is_avkey=PG-KEY-3", "GET /status"]
--- response_body_like eval
[qr/activated/, qr/"postgresql_forwarded":\d+,"postgresql_errors":0/]
--- no_error_log
[error]



=== TEST 9: a scheduled task's slots are claimed in qlm_task_slot
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_search all "ProductID = 1";
    qlm_webhook_task every search=all every=1s
                     url=http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/task;
}
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- wait: 2.5
--- error_log eval
qr/qlm webhook: task "every" runs/
--- no_error_log
[error]
[alert]



=== TEST 10: a license key that is not UTF-8 stays in the local mirror, and its event goes through
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_url license_activated http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/latin1;
}
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit license_activated;
        qlm_webhook_field ActivationKey $qlm_webhook_arg_is_avkey;
    }
--- request
GET /qlm/ActivateKey?is_avkey=CAF%E9-KEY
--- response_body chomp
<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><result>activated</result></QuickLicenseManager>
--- wait: 1.5
--- error_log eval
qr/HOOK POST \/hook\/latin1 event=license_activated id=[0-9a-f-]{36} attempt=1 /
--- no_error_log
[error]
[alert]



=== TEST 11: with sync=on on the spool, the forwarder claims and acknowledges its rows in nginx's thread pool, not in the event loop
--- http_config eval
($::HttpConfig =~ s/node=t070;/node=t070 sync=on;/r) . q{
    qlm_webhook_url license_activated http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/sync;
}
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit license_activated;
        qlm_webhook_field ActivationKey $arg_is_avkey;
    }
--- request
GET /qlm/ActivateKey?is_avkey=PG-SYNC-1
--- response_body chomp
<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><result>activated</result></QuickLicenseManager>
--- wait: 1.5
--- error_log eval
[
qr/qlm webhook: postgresql: [1-9]\d* spool rows claimed in a thread/,
qr/qlm webhook: postgresql: the spool's acknowledgement of [1-9]\d* rows written in a thread/,
qr/"license_activated" event \S+ to http:\/\/127\.0\.0\.1:\d+\/hook\/sync delivered: status 200/,
]
--- no_error_log
[error]
[alert]
