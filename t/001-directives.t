# Every http-level directive: accepted forms start nginx, rejected forms
# fail with the file, the line and the reason.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: every directive with good values
--- http_config
    qlm_webhook_store logs/qlm_store max_size=8m sync=500ms;
    qlm_webhooks on;
    qlm_webhook_secret "s3cr3t-inline-value";
    qlm_webhook_max_retries 0;
    qlm_webhook_retry_interval 30s;
    qlm_webhook_timeout 2500ms;
    qlm_webhook_url license_activated http://127.0.0.1:1985/a;
    qlm_webhook_url license_created "http://127.0.0.1:1985/a; https://hooks.example.com/b?k=v;";
    qlm_webhook_url license_created http://[::1]:8080/c http://localhost/d;
    qlm_webhook_url license_deleted HTTPS://user:pw@hooks.example.com:8443/x;
    qlm_webhook_url license_released http://127.0.0.1/r;
    qlm_webhook_url license_modified http://127.0.0.1/m;
    qlm_webhook_url customer_created http://127.0.0.1/cc;
    qlm_webhook_url customer_deleted http://127.0.0.1/cd;
    qlm_webhook_url customer_modified http://127.0.0.1/cm;
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
[alert]
[emerg]
s3cr3t-inline-value



=== TEST 2: webhooks off, sync off, max retries at the bound
--- http_config
    qlm_webhooks off;
    qlm_webhook_store logs/qlm_store sync=off;
    qlm_webhook_max_retries 1000;
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 3: the secret read from a file, relative to the conf directory
--- http_config
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret file=../html/qlm.secret;
    qlm_webhook_url license_created http://127.0.0.1:1985/a;
--- user_files
>>> qlm.secret
top-secret-from-file
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
[emerg]
top-secret-from-file



=== TEST 4: the secret file does not exist
--- http_config
    qlm_webhook_secret file=../html/missing.secret;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*open\(\) "\S+/html/missing\.secret" failed \(2: No such file or directory\) in \S+/nginx\.conf:\d+}



=== TEST 5: the secret file is too large
--- http_config
    qlm_webhook_secret file=../html/big.secret;
--- user_files eval
">>> big.secret\n" . ("x" x 5000) . "\n"
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*secret file "\S+/big\.secret" is larger than 4096 bytes in \S+/nginx\.conf:\d+}



=== TEST 6: the secret given twice
--- http_config
    qlm_webhook_secret a;
    qlm_webhook_secret b;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_secret" directive is duplicate in \S+/nginx\.conf:\d+}



=== TEST 7: qlm_webhooks takes on or off
--- http_config
    qlm_webhooks yes;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid value "yes" in "qlm_webhooks" directive, it must be "on" or "off" in \S+/nginx\.conf:\d+}



=== TEST 8: max retries out of range
--- http_config
    qlm_webhook_max_retries 1001;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_max_retries" directive must be between 0 and 1000 in \S+/nginx\.conf:\d+}



=== TEST 9: max retries not a number
--- http_config
    qlm_webhook_max_retries three;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_max_retries" directive invalid number in \S+/nginx\.conf:\d+}



=== TEST 10: retry interval of zero
--- http_config
    qlm_webhook_retry_interval 0;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_retry_interval" directive must be greater than 0 in \S+/nginx\.conf:\d+}



=== TEST 11: timeout that is not a time
--- http_config
    qlm_webhook_timeout soon;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_timeout" directive invalid value in \S+/nginx\.conf:\d+}



=== TEST 12: an unknown event
--- http_config
    qlm_webhook_url license_expired http://127.0.0.1/x;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid event name "license_expired" in \S+/nginx\.conf:\d+}



=== TEST 13: a URL of another scheme
--- http_config
    qlm_webhook_url license_created ftp://127.0.0.1/x;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URL "ftp://127\.0\.0\.1/x": must start with "http://" or "https://" in \S+/nginx\.conf:\d+}



=== TEST 14: a list without any URL
--- http_config
    qlm_webhook_url license_created " ; ;";
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*empty URL list " ; ;" in \S+/nginx\.conf:\d+}



=== TEST 15: a URL without a host
--- http_config
    qlm_webhook_url license_created http:///x;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URL "http:///x": has no host in \S+/nginx\.conf:\d+}



=== TEST 16: a bad port
--- http_config
    qlm_webhook_url license_created http://127.0.0.1:70000/x;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URL "http://127\.0\.0\.1:70000/x": has an invalid port in \S+/nginx\.conf:\d+}



=== TEST 17: two URLs separated by a space instead of ";"
--- http_config
    qlm_webhook_url license_created "http://a.example/x http://b.example/y";
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URL "http://a\.example/x http://b\.example/y": contains a space or a control character in \S+/nginx\.conf:\d+}



=== TEST 18: a fragment
--- http_config
    qlm_webhook_url license_created http://a.example/x#top;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URL "http://a\.example/x#top": must not contain a fragment in \S+/nginx\.conf:\d+}



=== TEST 19: the same URL twice for one event, across directives
--- http_config
    qlm_webhook_url license_created http://a.example/x;
    qlm_webhook_url license_created "http://b.example/y;http://a.example/x";
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*duplicate URL "http://a\.example/x" in \S+/nginx\.conf:\d+}



=== TEST 20: the same URL for two events is fine
--- http_config
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_url license_created http://127.0.0.1:1985/x;
    qlm_webhook_url license_deleted http://127.0.0.1:1985/x;
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[emerg]



=== TEST 21: a bad IPv6 address
--- http_config
    qlm_webhook_url license_created http://[::1/x;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URL "http://\[::1/x": has an invalid IPv6 address in \S+/nginx\.conf:\d+}



=== TEST 22: credentials never reach the error message of a duplicate
--- http_config
    qlm_webhook_url license_created "https://bob:hunter2@a.example/x?token=abc;https://bob:hunter2@a.example/x?token=abc";
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*duplicate URL "https://a\.example/x" in \S+/nginx\.conf:\d+}
--- no_error_log
hunter2



=== TEST 23: store max_size below 1m
--- http_config
    qlm_webhook_store qlm_store max_size=512k;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*max_size "512k" is less than 1m in \S+/nginx\.conf:\d+}



=== TEST 24: store max_size not a size
--- http_config
    qlm_webhook_store qlm_store max_size=big;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid max_size "big" in \S+/nginx\.conf:\d+}



=== TEST 25: store sync not on, off or a time
--- http_config
    qlm_webhook_store qlm_store sync=sometimes;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid sync "sometimes", it must be "on", "off" or a time in \S+/nginx\.conf:\d+}



=== TEST 26: store write_map neither on, off nor auto
--- http_config
    qlm_webhook_store qlm_store write_map=yes;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid write_map "yes", it must be "on", "off" or "auto" in \S+/nginx\.conf:\d+}



=== TEST 27: store with an unknown parameter
--- http_config
    qlm_webhook_store qlm_store size=10m;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid parameter "size=10m" in \S+/nginx\.conf:\d+}



=== TEST 28: store given twice
--- http_config
    qlm_webhook_store a;
    qlm_webhook_store b;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_store" directive is duplicate in \S+/nginx\.conf:\d+}



=== TEST 29: a store whose directory cannot be created
--- http_config
    qlm_webhook_store /nonexistent-dir-qlm/sub/store;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*qlm_webhook_store: mkdir\(\) "/nonexistent-dir-qlm/sub/store" failed \(2: No such file or directory\)}



=== TEST 30: http-level directives are rejected in a location
--- config
    location /t {
        qlm_webhook_url license_created http://127.0.0.1/x;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_url" directive is not allowed here in \S+/nginx\.conf:\d+}



=== TEST 31: a URL event without a URL
--- http_config
    qlm_webhook_url license_created;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid number of arguments in "qlm_webhook_url" directive in \S+/nginx\.conf:\d+}



=== TEST 32: store max_size in g, also on nginx versions whose sizes stop at m
--- http_config
    qlm_webhook_store logs/qlm_store max_size=1g;
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[emerg]
[alert]



=== TEST 33: scheme=standard with a secret that is not "whsec_" + base64
--- http_config
    qlm_webhook_secret raw-s3cr3t-bytes;
    qlm_webhook_url license_created http://127.0.0.1:1985/a scheme=standard;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_secret" must be "whsec_" followed by base64 for "scheme=standard" in \S+/nginx\.conf:\d+}
--- no_error_log
raw-s3cr3t-bytes



=== TEST 34: the same, the secret after the URL, and base64 without its padding
--- http_config
    qlm_webhook_url license_created http://127.0.0.1:1985/a scheme=standard;
    qlm_webhook_secret whsec_c3VwZXJzZWNyZXRrZXkxMjM;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_secret" must be "whsec_" followed by base64 for "scheme=standard" in \S+/nginx\.conf:\d+}
--- no_error_log
c3VwZXJzZWNyZXRrZXkxMjM



=== TEST 35: scheme=standard without any secret
--- http_config
    qlm_webhook_url license_created http://127.0.0.1:1985/a scheme=standard;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"scheme=standard" of "qlm_webhook_url" needs "qlm_webhook_secret" in \S+/nginx\.conf:\d+}



=== TEST 36: scheme=standard with "whsec_" and nothing after it
--- http_config
    qlm_webhook_secret whsec_;
    qlm_webhook_url license_created http://127.0.0.1:1985/a scheme=standard;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_secret" has an empty key after "whsec_" for "scheme=standard" in \S+/nginx\.conf:\d+}



=== TEST 37: scheme=standard with a "whsec_" secret from a file; other URLs need none
--- http_config
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret file=../html/std.secret;
    qlm_webhook_url license_created http://127.0.0.1:1985/a scheme=standard;
    qlm_webhook_url license_deleted http://127.0.0.1:1985/b;
--- user_files
>>> std.secret
whsec_c3VwZXJzZWNyZXRrZXkxMjM=
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
[emerg]
c3VwZXJzZWNyZXRrZXkxMjM



=== TEST 38: credentials and the query never reach the error message of an invalid URL
--- http_config
    qlm_webhook_url license_created "https://bob:hunter2@a.example:99999/x?token=abc";
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URL "https://a\.example:99999/x": has an invalid port in \S+/nginx\.conf:\d+}
--- no_error_log
hunter2
token=abc



=== TEST 39: port 0, which libcurl's parser takes, is refused
--- http_config
    qlm_webhook_url license_created http://127.0.0.1:0/x;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URL "http://127\.0\.0\.1:0/x": has an invalid port in \S+/nginx\.conf:\d+}



=== TEST 40: an invalid URL is shown without its credentials and query
--- http_config
    qlm_webhook_url license_created "http://bob:hunter2@a.example:99999/x?token=abc";
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URL "http://a\.example:99999/x": has an invalid port in \S+/nginx\.conf:\d+}
--- no_error_log eval
[qr/hunter2/, qr/token/]



=== TEST 41: a host name with a character libcurl refuses
--- http_config
    qlm_webhook_url license_created http://a,b.example/x;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URL "http://a,b\.example/x": has an invalid host in \S+/nginx\.conf:\d+}



=== TEST 42: libcurl's own words for what it cannot parse
--- http_config
    qlm_webhook_url license_created http:a.example/x;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URL "http:a\.example/x": unsupported number of slashes following scheme in \S+/nginx\.conf:\d+}



=== TEST 43: a scheme libcurl knows but webhooks do not use
--- http_config
    qlm_webhook_url license_created file:///etc/passwd;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URL "file:///etc/passwd": must start with "http://" or "https://" in \S+/nginx\.conf:\d+}



=== TEST 44: an IPv6 address with a port, userinfo and a query are accepted
--- http_config
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_url license_created "http://u:p@[::1]:8080/x?a=1;HTTP://[2001:db8::1]/y";
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[emerg]
[error]
