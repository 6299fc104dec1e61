# With a master and several workers, each worker opens the store itself,
# after fork, and closes it when it exits.

use Test::Nginx::Socket 'no_plan';

master_on();
workers(4);
repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: four workers open the store, each in its own process
Four "opened" lines from four different PIDs.
--- http_config
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_url license_created http://127.0.0.1:1985/x;
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- wait: 0.5
--- grep_error_log eval: qr/\d+#\d+: qlm webhook store "\S+qlm_store" opened/
--- grep_error_log_out eval
my $l = qr/#\d+: qlm webhook store "\S+qlm_store" opened\n/;
qr/\A(\d+)$l(?!\1#)(\d+)$l(?!\1#|\2#)(\d+)$l(?!\1#|\2#|\3#)\d+$l\z/
--- no_error_log
[error]
[alert]
[emerg]
--- shutdown_error_log eval
qr/qlm webhook store "\S+qlm_store" closed/
