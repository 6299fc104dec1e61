# qlm_webhook_pipeline: the deliveries to one address that start in one
# turn go on one kept connection, in one write, and their answers are read
# in order; a receiver that closes the connection part-way gets the rest
# again on new connections; off by default.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;

# one license call emits license_created to every URL below: four
# deliveries to one address, started by one commit
our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret pipeline-secret;
    qlm_webhook_max_retries 0;
    qlm_webhook_concurrency 8;

    log_format hook escape=none 'HOOK \$request_uri '
        'verify=\$qlm_webhook_verify_result '
        'conn=\$connection req=\$connection_requests';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;

        location / {
            return 200 '<QuickLicenseManager><pckey>K-\$request_id</pckey></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        access_log logs/hooks.log hook;
        keepalive_requests 1000;

        location /v/ {
            qlm_webhook_verify on;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/ok/;
        }

        location /ok/ {
            access_log off;
            return 200 '{"ok":true}';
        }

        location = /empty {
            return 444;
        }

        # a header at once, then a body at 10 bytes a second
        location = /slow {
            limit_rate_after 0;
            limit_rate 10;
            return 200 "a body that takes far longer than the timeout";
        }
    }

    # the second request on a connection is its last
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}1;
        access_log logs/hooks.log hook;
        keepalive_requests 2;

        location /c/ {
            return 200 'ok';
        }
    }
_EOC_

our $Urls = join "",
    map { "    qlm_webhook_url license_created "
          . "\"http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/v/$_\";\n" }
    1 .. 4;

our $Long = '$request_id' x 68;

our $Config = <<"_EOC_";
    location /qlm/ {
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey "xml://pckey";
    }

    location = /pause {
        limit_rate_after 0;
        limit_rate 2k;
        return 200 "\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id\$request_id";
    }

    # longer than a second: about 1 KB a second for 2 KB
    location = /sleep {
        limit_rate_after 0;
        limit_rate 1k;
        return 200 "$::Long";
    }

    location = /hooks.log {
        default_type text/plain;
        alias logs/hooks.log;
    }

    location = /error.log {
        default_type text/plain;
        alias logs/error.log;
    }
_EOC_

# four URLs on the receiver that closes after two answers, and four on
# the one whose second URL drops the connection unanswered
our $CloseUrls = join "",
    map { "    qlm_webhook_url license_created "
          . "\"http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}1/c/$_\";\n" }
    1 .. 4;

our $DropUrls = join "",
    map { "    qlm_webhook_url license_created "
          . "\"http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}$_\";\n" }
    "/v/1", "/empty", "/v/3", "/v/4";

# the line's head answers slowly, three wait behind it
our $SlowUrls = join "",
    map { "    qlm_webhook_url license_created "
          . "\"http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}$_\";\n" }
    "/slow", "/v/2", "/v/3", "/v/4";

# a log of exactly these many hooks to each of these URIs, in any order
sub hooks {
    my %n = @_;
    my ($ahead, $all) = ("", 0);

    for my $u (sort keys %n) {
        $ahead .= "(?=" . ("(?:[^\n]*\n)*?HOOK \Q$u\E " x $n{$u}) . ")";
        $all += $n{$u};
    }

    return qr/\A$ahead(?:HOOK [^\n]*\n){$all}\z/;
}

# the calls of every block: one that opens the receiver's connections,
# one whose deliveries go on them, then the logs
our $Requests = [
    "GET /qlm/qlmservice.asmx/GetActivationKey",
    "GET /pause",
    "GET /qlm/qlmservice.asmx/GetActivationKey",
    "GET /pause",
    "GET /hooks.log",
    "GET /error.log",
];

repeat_each(1);
no_long_string();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: four deliveries of one call go on the kept connection in one write, each answered and logged as delivered
--- http_config eval
$::HttpConfig . "    qlm_webhook_pipeline 8;\n" . $::Urls
--- config eval: $::Config
--- request eval: $::Requests
--- response_body_like eval
[
qr/K-/, qr/^\w+$/, qr/K-/, qr/^\w+$/,
qr/\A(?:HOOK \/v\/\d verify=valid conn=\d+ req=1\n){4}(?:HOOK \/v\/\d verify=valid conn=(\d+) req=[2-5]\n)(?:HOOK \/v\/\d verify=valid conn=\1 req=[2-5]\n){3}\z/,
qr/qlm webhook: 4 request\(s\) in a write: \d+.*(?:delivered: status 200.*){4}/s,
]
--- no_error_log eval
[("[error]") x 6]



=== TEST 2: off by default: each delivery writes its own request
--- http_config eval
$::HttpConfig . $::Urls
--- config eval: $::Config
--- request eval: $::Requests
--- response_body_like eval
[
qr/K-/, qr/^\w+$/, qr/K-/, qr/^\w+$/,
qr/\A(?:HOOK \/v\/\d verify=valid conn=\d+ req=[12]\n){8}\z/,
qr/\A(?!.*qlm webhook: [2-9] request\(s\) in a write).*qlm webhook: 1 request\(s\) in a write/s,
]
--- no_error_log eval
[("[error]") x 6]



=== TEST 3: the receiver closes the connection after its second answer: the requests behind it go again, each on a connection of its own, and every delivery arrives once
--- http_config eval
$::HttpConfig . "    qlm_webhook_pipeline 8;\n" . $::CloseUrls
--- config eval: $::Config
--- request eval: $::Requests
--- response_body_like eval
[
qr/K-/, qr/^\w+$/, qr/K-/, qr/^\w+$/,
main::hooks(map { ("/c/$_" => 2) } 1 .. 4),
qr/qlm webhook: 4 request\(s\) in a write: \d+.*(?:a pipelined request starts again.*){3}/s,
]
--- no_error_log eval
[("[error]") x 6]



=== TEST 4: a receiver that drops the connection at the second request without an answer: that one goes once more on a new connection and fails, as it would alone; the two behind it are delivered
--- http_config eval
$::HttpConfig . "    qlm_webhook_pipeline 8;\n" . $::DropUrls
--- config eval: $::Config
--- request eval: $::Requests
--- response_body_like eval
[
qr/K-/, qr/^\w+$/, qr/K-/, qr/^\w+$/,
main::hooks("/v/1" => 2, "/v/3" => 2, "/v/4" => 2, "/empty" => 3),
qr/qlm webhook: 4 request\(s\) in a write: \d+.*a pipelined request starts again.*"license_created" event \S+ to http:\/\/127\.0\.0\.1:\d+\/empty failed, moved to dead letters: status 0, \d+ ms, attempt 1, empty reply from the receiver$/ms,
]
--- no_error_log eval
[
("[alert]") x 6,
]



=== TEST 5: the line's head times out: it fails as it would alone, and so do the three behind it, whose time is up as well; nothing is delivered twice
--- http_config eval
$::HttpConfig . "    qlm_webhook_pipeline 8;\n    qlm_webhook_timeout 1s;\n"
. $::SlowUrls
--- config eval: $::Config
--- request eval
[
"GET /qlm/qlmservice.asmx/GetActivationKey",
"GET /pause",
"GET /qlm/qlmservice.asmx/GetActivationKey",
"GET /sleep",
"GET /error.log",
]
--- response_body_like eval
[
qr/K-/, qr/^\w+$/, qr/K-/, qr/^\w{2176}$/,
qr/queued for 4 URLs.*queued for 4 URLs.*qlm webhook: 4 request\(s\) in a write: \d+(?:.*(?:\/slow|\/v\/[234]) failed, moved to dead letters: status (?:0|200), \d+ ms, attempt 1, timed out after \d+ ms){4}/s,
]
--- no_error_log eval
[
("[alert]") x 5,
]



=== TEST 6: qlm_webhook_pipeline takes 1 to 64
--- http_config
    qlm_webhook_pipeline 65;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_pipeline" directive must be between 1 and 64 in \S+/nginx\.conf:\d+}



=== TEST 7: qlm_webhook_pipeline 0 is refused too
--- http_config
    qlm_webhook_pipeline 0;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_pipeline" directive must be between 1 and 64 in \S+/nginx\.conf:\d+}
