# Scheduled tasks: a saved search over the license mirror, run every
# period by one worker; each matching license is POSTed with the task's
# name and user data, signed with the task's secret.

use Test::Nginx::Socket 'no_plan';
use POSIX qw(strftime);

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;

# dates relative to the day the test runs, in local time as the macros
sub day { strftime('%Y-%m-%d', localtime(time + $_[0] * 86400)) }

our $HttpConfig = <<"_EOC_";
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret global-secret;

    qlm_webhook_search "Upcoming Renewals"
        "SubscriptionExpiryDate > [today_start] And SubscriptionExpiryDate < [today_start+30] And Not (Email Like '%\@example.org')";

    qlm_webhook_task renewals "search=Upcoming Renewals" every=1s
        url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/renewals
        secret=task-secret user_data=crm-42;

    log_format hook escape=none 'HOOK \$uri event=\$http_x_qlm_event '
        'verified=\$qlm_webhook_verify_result body=\$request_body';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        access_log off;
        location / {
            return 200 '<QuickLicenseManager><result>ok</result></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        client_body_in_single_buffer on;

        location /renewals {
            qlm_webhook_verify on;
            qlm_webhook_verify_secret task-secret;
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
    location /qlm/ {
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey \$qlm_webhook_arg_is_avkey;
        qlm_webhook_field Email \$qlm_webhook_arg_is_email;
        qlm_webhook_field ExpiryDate \$qlm_webhook_arg_is_expdate;
        qlm_webhook_field ProductID \$qlm_webhook_arg_is_productid;
    }
_EOC_

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a license expiring in 10 days is sent, exactly as QLM's payload, signed with the task's secret; the step is scanned in nginx's thread pool
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
"GET /qlm/qlmservice.asmx/GetActivationKey?is_avkey=K-T1&is_email=jane%40example.com&is_productid=3&is_expdate=" . main::day(10)
--- wait: 2.5
--- error_log eval
[
qr/^HOOK \/renewals event=renewals verified=valid body=\{"Name":"renewals","WebHookUserData":"crm-42","LicenseInfo":\{"ActivationKey":"K-T1","Email":"jane\@example\.com","ExpiryDate":"\Q${\ main::day(10)}\ET00:00:00","ProductID":3\}\}$/m,
qr/qlm webhook: task "renewals" done: 1 licenses scanned, 1 matched/,
qr/qlm webhook: a task step scanned and written in a thread/,
]
--- no_error_log
[error]
verified=invalid



=== TEST 2: licenses outside the search are not sent
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
"GET /qlm/qlmservice.asmx/GetActivationKey?is_avkey=K-T2&is_email=jane%40example.com&is_expdate=" . main::day(40)
--- wait: 2.5
--- error_log eval
qr/qlm webhook: task "renewals" done: 1 licenses scanned, 0 matched/
--- no_error_log
HOOK
[error]



=== TEST 3: Not (Email Like ...) excludes a match
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
"GET /qlm/qlmservice.asmx/GetActivationKey?is_avkey=K-T3&is_email=bob%40example.org&is_expdate=" . main::day(5)
--- wait: 2.5
--- error_log eval
qr/qlm webhook: task "renewals" done: 1 licenses scanned, 0 matched/
--- no_error_log
HOOK



=== TEST 4: a search that does not parse fails nginx -t with its name and column
--- http_config
    qlm_webhook_search broken "ExpiryDate > [today_start] And And";
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*search "broken": .*at column 32 in \S+/nginx\.conf:\d+}



=== TEST 5: an unknown field in a search
--- http_config
    qlm_webhook_search bad "ExpiryDat > [today_start]";
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*search "bad": unknown field "ExpiryDat" at column 1 in \S+/nginx\.conf:\d+}



=== TEST 6: a task with an unknown search
--- http_config
    qlm_webhook_task t search=nope every=1d url=http://127.0.0.1/x;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*task "t" uses an unknown search "nope"}



=== TEST 7: a task without url=
--- http_config
    qlm_webhook_search s "ProductID = 1";
    qlm_webhook_task t search=s every=1d;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*task "t" needs search=, every= and url= in \S+/nginx\.conf:\d+}



=== TEST 8: bad every= and at=
--- http_config
    qlm_webhook_search s "ProductID = 1";
    qlm_webhook_task t search=s every=soon url=http://127.0.0.1/x;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid every "soon" in task "t" in \S+/nginx\.conf:\d+}



=== TEST 9: bad at=
--- http_config
    qlm_webhook_search s "ProductID = 1";
    qlm_webhook_task t search=s every=1d at=25:00 url=http://127.0.0.1/x;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid at "25:00" in task "t", it must be HH:MM in \S+/nginx\.conf:\d+}



=== TEST 10: a customers search cannot feed a task
--- http_config
    qlm_webhook_search c "Company = 'ACME'" table=customers;
    qlm_webhook_task t search=c every=1d url=http://127.0.0.1/x;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*task "t" uses search "c" over customers; tasks send licenses}



=== TEST 11: two searches of one name
--- http_config
    qlm_webhook_search s "ProductID = 1";
    qlm_webhook_search s "ProductID = 2";
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*duplicate search "s" in \S+/nginx\.conf:\d+}



=== TEST 12: a task without secret= signs with qlm_webhook_secret
--- http_config eval
$::HttpConfig =~ s/secret=task-secret //r
              =~ s/verify_secret task-secret;/verify_secret global-secret;/r
--- config eval: $::Config
--- request eval
"GET /qlm/qlmservice.asmx/GetActivationKey?is_avkey=K-T12&is_email=jane%40example.com&is_expdate=" . main::day(10)
--- wait: 2.5
--- error_log eval
qr/^HOOK \/renewals event=renewals verified=valid body=\{"Name":"renewals","WebHookUserData":"crm-42","LicenseInfo":\{"ActivationKey":"K-T12",/m
--- no_error_log
[error]
verified=invalid



=== TEST 13: the status page counts the task's deliveries stored and delivered
--- http_config eval: $::HttpConfig
--- config eval
$::Config . q{
    location = /pause {
        limit_rate_after 0;
        limit_rate 2k;
        return 200 "$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id";
    }

    location = /status {
        qlm_webhook_status;
    }
}
--- request eval
[
"GET /qlm/qlmservice.asmx/GetActivationKey?is_avkey=K-T13&is_email=jane%40example.com&is_productid=3&is_expdate=" . main::day(10),
"GET /pause",
"GET /status",
]
--- response_body_like eval
[
qr/QuickLicenseManager/,
qr/^[0-9a-f]+$/,
qr/"scheduled_tasks":\{"stored":[1-9]\d*,"delivered":[1-9]\d*,"retry":0,"dead":0\}/,
]
--- timeout: 10
--- no_error_log
[error]



=== TEST 14: retry= on a task: a failing delivery is retried on the task's schedule, then a dead letter
--- http_config eval
$::HttpConfig =~ s{url=(\S+)/renewals}{url=$1/fail retry=200ms,300ms}r
              =~ s{location /sink \{}{location /fail { return 500; }\n        location /sink \{}r . q{
    qlm_webhook_breaker 0;
    qlm_webhook_retry_interval 1h;
}
--- config eval: $::Config
--- request eval
"GET /qlm/qlmservice.asmx/GetActivationKey?is_avkey=K-T14&is_email=jane%40example.com&is_expdate=" . main::day(10)
--- wait: 2.5
--- error_log eval
[
qr/"renewals" event \S+ to http:\/\/127\.0\.0\.1:\d+\/fail failed, will retry: status 500, \d+ ms, attempt 1, HTTP status 500$/m,
qr/"renewals" event \S+ to http:\/\/127\.0\.0\.1:\d+\/fail failed, will retry: status 500, \d+ ms, attempt 2, HTTP status 500$/m,
qr/"renewals" event \S+ to http:\/\/127\.0\.0\.1:\d+\/fail failed, moved to dead letters: status 500, \d+ ms, attempt 3, HTTP status 500$/m,
]
--- no_error_log
[error]
attempt 4



=== TEST 15: a task's retry= that does not parse fails nginx -t
--- http_config
    qlm_webhook_search s "ExpiryDate > [today_start]";
    qlm_webhook_task t search=s every=1h url=http://127.0.0.1:1/hook retry=5s,soon;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid "retry=5s,soon", it must be "retry=exponential", "retry=exponential:base:cap" or a list of times greater than 0, as "retry=5s,5m,30m" in \S+/nginx\.conf:\d+}



=== TEST 16: qlm_webhook_task_rate: a task's deliveries start at most at the rate, the rest wait queued
--- http_config eval
$::HttpConfig . q{
    qlm_webhook_task_rate 1r/s;
}
--- config eval
$::Config . q{
    location = /pause {
        limit_rate_after 0;
        limit_rate 2k;
        return 200 "$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id$request_id";
    }

    location = /status {
        qlm_webhook_status;
    }
}
--- request eval
[
(map { "GET /qlm/qlmservice.asmx/GetActivationKey?is_avkey=K-T16-$_&is_email=jane%40example.com&is_expdate=" . main::day(10) } 1 .. 6),
"GET /pause",
"GET /status",
]
--- response_body_like eval
[
(map { qr/QuickLicenseManager/ } 1 .. 6),
qr/^[0-9a-f]+$/,
qr/"scheduled_tasks":\{"stored":([6-9]|\d\d+),"delivered":[1-4],"retry":0,"dead":0\}/,
]
--- timeout: 10
--- no_error_log
[error]



=== TEST 17: a qlm_webhook_task_rate that does not parse fails nginx -t
--- http_config
    qlm_webhook_task_rate 5;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid rate "5", it must be "off" or a number from 1 to 1000000 followed by "r/s" or "r/m", as "200r/s" in \S+/nginx\.conf:\d+}



=== TEST 18: qlm_webhook_task_rate in r/m, then given twice
--- http_config
    qlm_webhook_task_rate 600r/m;
    qlm_webhook_task_rate off;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_task_rate" directive is duplicate in \S+/nginx\.conf:\d+}
