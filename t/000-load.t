# The module loads into nginx and, unconfigured, changes nothing.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: loaded, no directive: plain traffic is served, no store opened
The default store would be the directory qlm_webhook under the prefix (the
server root here): it must not exist after a request.
--- config
    location = /t {
        return 200 "hello\n";
    }
    location ^~ /qlm_webhook/ {
        root .;
        log_not_found off;
    }
--- request eval
["GET /t", "GET /qlm_webhook/data.mdb", "GET /qlm_webhook/"]
--- error_code eval
[200, 404, 404]
--- response_body_like eval
['^hello\n\z', '404 Not Found', '404 Not Found']
--- no_error_log
[error]
[alert]
[emerg]
qlm webhook store



=== TEST 2: a store is opened by the worker when a URL is configured
The probe that finds no store in TEST 1 finds this one's data file (one
request: error_log is checked after each request of a block).
--- http_config
    qlm_webhook_store logs/qlm_webhook;
    qlm_webhook_url license_created http://127.0.0.1:1985/hook;
--- config
    location = /t {
        return 200 "ok\n";
    }
    location ^~ /logs/qlm_webhook/ {
        root .;
    }
--- request
HEAD /logs/qlm_webhook/data.mdb
--- response_body
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



=== TEST 4: write_map=off: the store is written with pwrite(), not through a writable map
--- http_config
    qlm_webhook_store logs/qlm_store_nomap write_map=off;
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/qlm webhook store "\S+\/qlm_store_nomap" opened$/m
--- no_error_log
with a writable map
[error]
[alert]
[emerg]



=== TEST 5: write_map=auto with sync=on: no writable map (LMDB's msync() of a map costs more than pwrite() and fdatasync())
--- http_config
    qlm_webhook_store logs/qlm_store_auto sync=on write_map=auto;
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/qlm webhook store "\S+\/qlm_store_auto" opened$/m
--- no_error_log
with a writable map
[error]
[alert]
[emerg]
