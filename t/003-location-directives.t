# The location-level directives and the delivery settings: rejected forms
# fail nginx -t with the file, the line and the reason; good forms start.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: every location directive with good values; no event without an upstream
--- http_config
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_concurrency 4;
    qlm_webhook_ssl_verify off;
    qlm_webhook_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;
    qlm_webhook_capture_size 16k;
    qlm_webhook_error_detect on;
--- config
    qlm_webhook_success_status 200 201;
    location /q {
        qlm_webhook_emit license_created method=GetActivationKey;
        qlm_webhook_emit license_activated method=ValidateLicenseHttp if=$arg_is_activate;
        qlm_webhook_emit license_modified;
        qlm_webhook_field ActivationKey $qlm_webhook_arg_is_avkey;
        qlm_webhook_field ActivationKey "xml://*[local-name()='pckey']";
        qlm_webhook_field Seats json:/license/seats/0;
        qlm_webhook_field Whole json:;
        qlm_webhook_capture_size 1m;
        qlm_webhook_error_detect off;
        return 200 "ok\n";
    }
--- request
GET /q
--- response_body
ok
--- no_error_log
[error]
[emerg]
[warn]
qlm webhook:



=== TEST 2: qlm_webhook_emit with an unknown event
--- config
    location /q { qlm_webhook_emit license_lost; }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid event name "license_lost" in \S+/nginx\.conf:\d+}


=== TEST 3: qlm_webhook_emit with a method that has a slash
--- config
    location /q { qlm_webhook_emit license_created method=a/b; }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid method "a/b" in \S+/nginx\.conf:\d+}


=== TEST 4: qlm_webhook_emit with an unknown parameter
--- config
    location /q { qlm_webhook_emit license_created when=now; }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid parameter "when=now" in \S+/nginx\.conf:\d+}


=== TEST 5: qlm_webhook_emit with an empty if=
--- config
    location /q { qlm_webhook_emit license_created if=; }
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_emit" directive has an empty "if=" in \S+/nginx\.conf:\d+}


=== TEST 6: qlm_webhook_emit is not allowed at http level
--- http_config
    qlm_webhook_emit license_created;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_emit" directive is not allowed here in \S+/nginx\.conf:\d+}


=== TEST 7: qlm_webhook_field with an invalid XPath
--- config
    location /q { qlm_webhook_field ActivationKey "xml://pckey["; }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid XPath "//pckey\[" in \S+/nginx\.conf:\d+}


=== TEST 8: qlm_webhook_field with an empty XPath
--- config
    location /q { qlm_webhook_field ActivationKey xml:; }
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_field" directive has an empty XPath in \S+/nginx\.conf:\d+}


=== TEST 9: qlm_webhook_field with a JSON pointer without a slash
--- config
    location /q { qlm_webhook_field ActivationKey json:key; }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid JSON pointer "key", it must be empty or start with "/" in \S+/nginx\.conf:\d+}


=== TEST 10: qlm_webhook_field with a bad name
--- config
    location /q { qlm_webhook_field Activation-Key $arg_k; }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid field name "Activation-Key", letters, digits and "_" only in \S+/nginx\.conf:\d+}


=== TEST 11: qlm_webhook_field with an unknown variable
--- config
    location /q { qlm_webhook_field Email $no_such_variable; }
--- must_die
--- error_log eval
qr{\[emerg\] .*unknown "no_such_variable" variable}


=== TEST 12: qlm_webhook_success_status with a bad code
--- config
    location /q { qlm_webhook_success_status 200 2xx; }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid status "2xx" in \S+/nginx\.conf:\d+}


=== TEST 13: qlm_webhook_capture_size of zero
--- config
    location /q { qlm_webhook_capture_size 0; }
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_capture_size" must be greater than 0 in \S+/nginx\.conf:\d+}


=== TEST 14: qlm_webhook_error_detect takes on or off
--- config
    location /q { qlm_webhook_error_detect maybe; }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid value "maybe" in "qlm_webhook_error_detect" directive, it must be "on" or "off" in \S+/nginx\.conf:\d+}


=== TEST 15: qlm_webhook_concurrency of zero
--- http_config
    qlm_webhook_concurrency 0;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_concurrency" directive must be between 1 and 10000 in \S+/nginx\.conf:\d+}


=== TEST 16: qlm_webhook_ssl_verify takes on or off
--- http_config
    qlm_webhook_ssl_verify sometimes;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid value "sometimes" in "qlm_webhook_ssl_verify" directive, it must be "on" or "off" in \S+/nginx\.conf:\d+}


=== TEST 17: qlm_webhook_verify_scheme takes qlm or standard
--- config
    location /v { qlm_webhook_verify on; qlm_webhook_verify_scheme hmac; }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid scheme "hmac", it must be "qlm" or "standard" in \S+/nginx\.conf:\d+}



=== TEST 18: qlm_webhook_verify_tolerance of zero
--- config
    location /v { qlm_webhook_verify on; qlm_webhook_verify_tolerance 0; }
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_verify_tolerance" directive must be greater than 0 in \S+/nginx\.conf:\d+}



=== TEST 19: qlm_webhook_verify_secret from a file that does not exist
--- config
    location /v { qlm_webhook_verify on; qlm_webhook_verify_secret file=/nonexistent/qlm.key; }
--- must_die
--- error_log eval
qr{\[emerg\] .*open\(\) "/nonexistent/qlm\.key" failed \(2: No such file or directory\) in \S+/nginx\.conf:\d+}



=== TEST 20: qlm_webhook_url with an unknown scheme
--- http_config
    qlm_webhook_url license_created http://127.0.0.1/x scheme=hmac;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid scheme "scheme=hmac", it must be "qlm" or "standard" in \S+/nginx\.conf:\d+}



=== TEST 21: qlm_webhook_url with a scheme and no URL
--- http_config
    qlm_webhook_url license_created scheme=standard;
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_url" directive has no URL in \S+/nginx\.conf:\d+}
