# The module loads into nginx and, unconfigured, changes nothing.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: loaded, no directive: plain traffic is served, no store opened
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello
--- no_error_log
[error]
[alert]
[emerg]
qlm webhook store



=== TEST 2: a store is opened by the worker when a URL is configured
--- http_config
    qlm_webhook_store logs/qlm_webhook;
    qlm_webhook_url license_created http://127.0.0.1:1985/hook;
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/qlm webhook store "\S+\/qlm_webhook" opened/
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 3: an explicit store path
--- http_config
    qlm_webhook_store logs/qlm_store_test max_size=2m sync=on;
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/qlm webhook store "\S+\/qlm_store_test" opened/
--- no_error_log
[error]
[alert]
[emerg]
