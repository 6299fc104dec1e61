# Paused receivers are kept in the store: qlm-store pauses and resumes
# them while nginx runs (its workers follow within a second or two), and a
# pause, by the admin API or qlm-store, outlives a restart of nginx.
#
# qlm-store runs in a helper on TEST_NGINX_APP_PORT that nginx proxies
# /cli/ to: GET /cli/urls, /cli/urls/pause, /cli/urls/resume run
# "qlm-store -j STORE urls [pause|resume URL]" and answer its output.

use Test::Nginx::Socket 'no_plan';
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use IO::Socket::INET;
use POSIX ();

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;
$ENV{TEST_NGINX_APP_PORT} ||= 1987;

my $cli = abs_path($ENV{QLM_STORE_BUILD} || 'build/lmdb-store')
          . '/qlm-store';

# one store for every block: the restart keeps it
my $dir = tempdir(CLEANUP => 1);
$ENV{TEST_NGINX_PAUSE_STORE} = "$dir/store";
our $hook = "http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook";

my $ls = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                               LocalPort => $ENV{TEST_NGINX_APP_PORT},
                               Listen => 8, ReuseAddr => 1)
    or die "listen $ENV{TEST_NGINX_APP_PORT}: $!";
my $parent = $$;
my $pid = fork();
die "fork: $!" unless defined $pid;

if ($pid == 0) {
    my $end = time + 120;
    while (time < $end && getppid() == $parent) {
        my $c = $ls->accept or next;
        my $req = '';
        my $t = time + 2;
        while ($req !~ /\r\n\r\n/ && time < $t) {
            sysread($c, $req, 4096, length $req) or last;
        }
        my ($path) = $req =~ m{^GET /cli/(\S*) };
        my @args = !defined $path ? () : $path eq 'urls' ? ('urls')
                 : $path =~ m{^urls/(pause|resume)$} ? ('urls', $1, $hook)
                 : ();
        my $out = @args ? qx{$cli -j $dir/store @args 2>&1} . "exit $?\n"
                        : "bad request\n";
        syswrite($c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     . "Content-Length: " . length($out)
                     . "\r\nConnection: close\r\n\r\n$out");
        close($c);
    }
    POSIX::_exit(0);
}

close($ls);
END { kill('TERM', $pid) if $pid && $$ == $parent }

our $HttpConfig = <<"_EOC_";
    qlm_webhook_store $dir/store;
    qlm_webhook_url license_created $hook;

    log_format hook escape=none 'HOOK \$uri';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;

        location / {
            return 200 '<QuickLicenseManager><pckey>K</pckey></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        access_log logs/error.log hook;

        location /hook {
            return 200;
        }
    }
_EOC_

# /pause: about 1.5 s (limit_rate), the time for a worker to read the
# store's generation once
our $Config = <<'_EOC_';
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit license_created;
    }

    location /cli/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_APP_PORT;
        proxy_read_timeout 10s;
    }

    location /admin/ {
        qlm_webhook_admin;
    }

    location = /pause {
        limit_rate_after 0;
        limit_rate 300;
        return 200 "$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id";
    }

    location = /status {
        qlm_webhook_status;
    }
_EOC_

no_long_string();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: qlm-store pauses a receiver while nginx runs, then resumes it
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
[
"GET /qlm/GetActivationKey",
"GET /pause",
"GET /cli/urls/pause",
"GET /pause",
"GET /qlm/GetActivationKey",
"GET /pause",
"GET /status",
"GET /cli/urls",
"GET /cli/urls/resume",
"GET /pause",
"GET /status",
"GET /cli/urls",
]
--- response_body_like eval
[
qr/K/,
qr/^[0-9a-f]+$/,
qr/^\{"url":"http:\/\/127\.0\.0\.1:\d+\/hook","paused":true\}\nexit 0\n$/,
qr/^[0-9a-f]+$/,
qr/K/,
qr/^[0-9a-f]+$/,
qr/"queued":1,.*"license_created":\{"stored":2,"delivered":1,.*"paused_urls":\["http:\/\/127\.0\.0\.1:\d+\/hook"\]\}$/s,
qr/^\[\n\{"url":"http:\/\/127\.0\.0\.1:\d+\/hook","paused":true,"since":\d+,"since_iso":"[-0-9T:.]+Z","by":"qlm-store"\}\n\]\nexit 0\n$/,
qr/^\{"url":"http:\/\/127\.0\.0\.1:\d+\/hook","paused":false\}\nexit 0\n$/,
qr/^[0-9a-f]+$/,
qr/"queued":0,.*"license_created":\{"stored":2,"delivered":2,.*"paused_urls":\[\]\}$/s,
qr/^\[\]\nexit 0\n$/,
]
--- no_error_log
[error]
--- timeout: 15



=== TEST 2: the admin API's pause is kept in the store, and listed by both
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
[
"POST /admin/urls/pause?url=$::hook",
"GET /admin/urls",
"GET /cli/urls",
"GET /qlm/GetActivationKey",
]
--- response_body_like eval
[
qr/^\{"url":"http:\/\/127\.0\.0\.1:\d+\/hook","paused":true\}\n$/,
qr/^\{"urls":\[\{"url":"http:\/\/127\.0\.0\.1:\d+\/hook","paused":true,"since":\d+,"since_iso":"[-0-9T:.]+Z","by":"admin API"\}\]\}\n$/,
qr/^\[\n\{"url":"http:\/\/127\.0\.0\.1:\d+\/hook","paused":true,"since":\d+,"since_iso":"[-0-9T:.]+Z","by":"admin API"\}\n\]\nexit 0\n$/,
qr/K/,
]
--- wait: 0.5
--- no_error_log eval
[
qr/\[error\]/,
qr/^HOOK /m,
]



=== TEST 3: after a restart, still paused; resumed by qlm-store, the delivery waiting goes out
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
[
"GET /status",
"GET /admin/urls",
"GET /cli/urls/resume",
"GET /pause",
"GET /status",
"GET /admin/urls",
]
--- response_body_like eval
[
qr/"queued":1,.*"paused_urls":\["http:\/\/127\.0\.0\.1:\d+\/hook"\]\}$/s,
qr/"paused":true,.*"by":"admin API"/,
qr/"paused":false/,
qr/^[0-9a-f]+$/,
qr/"queued":0,.*"license_created":\{"stored":0,"delivered":1,.*"paused_urls":\[\]\}$/s,
qr/^\{"urls":\[\{"url":"http:\/\/127\.0\.0\.1:\d+\/hook","paused":false\}\]\}\n$/,
]
--- no_error_log
[error]
--- timeout: 10
