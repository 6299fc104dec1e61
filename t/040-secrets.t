# Secrets never reach a log.  After deliveries (QLM's scheme, Standard
# Webhooks, a URL with credentials and a token, a scheduled task with its
# own secret), verifications that pass and that fail, and configurations
# that fail, every log file nginx wrote is searched for every secret, and
# for the signatures a failed verification expected, and none is found.
# The error log is at debug level, as Test::Nginx runs it.

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256_hex hmac_sha256_base64);
use File::Find;

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;
$ENV{TEST_NGINX_APP_PORT} ||= 1987;

# the key is text, so that the decoded bytes would show in a log too
our $Key = 'secret-key-not-in-logs-0123456';
our $Secret = 'whsec_c2VjcmV0LWtleS1ub3QtaW4tbG9ncy0wMTIzNDU2';
our $VerifyOnly = 'v3rify-only-s3cret';
our $TaskSecret = 't4sk-s3cret-value';
our $Password = 'hunter2pass';
our $Token = 'tok3n-abc-123';

our $Body = '{"EventType":"x"}';
our $Ts = time;

# what a failed verification computed: never to be shown either
our @Expected = (
    sha256_hex($Body . $Secret),
    sha256_hex($Body . $TaskSecret),
    sha256_hex($Body . $VerifyOnly),
    hmac_sha256_base64("msg_bad.$Ts.$Body", $Key),
);

our @Secrets = ($Secret, substr($Secret, 6), $Key, unpack('H*', $Key),
                $VerifyOnly, $TaskSecret, $Password, $Token, @Expected);

our $Verify = qq{
        location /hook/qlm {
            qlm_webhook_verify on;
            access_log logs/verify.log verify;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_APP_PORT}/sink;
        }

        location /hook/std {
            qlm_webhook_verify on;
            qlm_webhook_verify_scheme standard;
            access_log logs/verify.log verify;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_APP_PORT}/sink;
        }

        location /hook/task {
            qlm_webhook_verify on;
            qlm_webhook_verify_secret $VerifyOnly;
            qlm_webhook_verify_secret $TaskSecret;
            access_log logs/verify.log verify;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_APP_PORT}/sink;
        }
};

our $HttpConfig = qq{
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret file=../html/qlm.secret;

    qlm_webhook_url license_created
        http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/qlm;
    qlm_webhook_url license_created
        http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/std
        scheme=standard;
    qlm_webhook_url license_created
        "http://bob:$Password\@127.0.0.1:$ENV{TEST_NGINX_APP_PORT}/creds?token=$Token";

    qlm_webhook_search all "Email Like '%'";
    qlm_webhook_task nightly search=all every=1s
        url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/task
        secret=$TaskSecret;

    log_format verify 'VERIFY \$uri \$status \$qlm_webhook_verify_result';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        access_log off;

        location / {
            return 200 '<QuickLicenseManager><result>ok</result></QuickLicenseManager>';
        }
    }

    # where the module delivers: the verify locations
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
$Verify
    }

    # the application behind them, and the receiver of the URL with
    # credentials; its logs are searched as well.  It was sent the token:
    # whether it logs its own query string is its business, so it does not
    log_format app '\$remote_addr "\$request_method \$uri" \$status';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_APP_PORT};
        error_log logs/app-error.log info;
        access_log logs/app-access.log app;

        location / {
            return 200 "ok\\n";
        }
    }
};

repeat_each(1);
no_shuffle();
run_tests();

# the last block's logs: every file under logs/, the store aside (it keeps
# the receivers' URLs, credentials included, to deliver to them)

my $logs = server_root() . '/logs';
my (%text, @files);

find({ no_chdir => 1, wanted => sub {
    if (-d $_ && $_ =~ m{/qlm_store$}) {
        $File::Find::prune = 1;
        return;
    }

    return unless -f $_;

    open my $fh, '<:raw', $_ or die "cannot open $_: $!";
    local $/;
    $text{$_} = <$fh>;
    close $fh;
    push @files, $_;
} }, $logs);

ok(scalar(grep { m{/error\.log$} } @files), 'error.log was read');
ok(scalar(grep { m{/verify\.log$} } @files), 'verify.log was read');
ok(scalar(grep { m{/app-access\.log$} } @files), 'app-access.log was read');

my $err = $text{"$logs/error.log"} // '';
my $verify = $text{"$logs/verify.log"} // '';

# what was to be searched happened

like($err, qr/qlm webhook: "license_created" event \S+ to http:\/\/127\.0\.0\.1:\d+\/hook\/qlm delivered: status 200/,
     'the QLM delivery was made');
like($err, qr/qlm webhook: "license_created" event \S+ to http:\/\/127\.0\.0\.1:\d+\/hook\/std delivered: status 200/,
     'the Standard Webhooks delivery was made');
like($err, qr/qlm webhook: "license_created" event \S+ to http:\/\/127\.0\.0\.1:\d+\/creds delivered: status 200/,
     'the delivery to the URL with credentials was made, logged without them');
like($verify, qr/^VERIFY \/hook\/task 200 valid$/m, 'the task delivery was made and verified');
like($verify, qr/^VERIFY \/hook\/qlm 200 valid$/m, 'a QLM delivery verified');
like($verify, qr/^VERIFY \/hook\/std 200 valid$/m, 'a Standard Webhooks delivery verified');
like($verify, qr/^VERIFY \/hook\/qlm 403 invalid$/m, 'a QLM verification failed');
like($verify, qr/^VERIFY \/hook\/std 403 invalid$/m, 'a Standard Webhooks verification failed');
like($verify, qr/^VERIFY \/hook\/task 403 invalid$/m, 'a verification with two secrets failed');

for my $s (@Secrets) {
    my @found = grep { index($text{$_}, $s) >= 0 } @files;
    is("@found", '', "\"$s\" is in no log");
}

__DATA__

=== TEST 1: a bad URL with credentials and a token: nginx -t says why, without them
--- http_config eval
qq{
    qlm_webhook_url license_created "http://bob:$::Password\@127.0.0.1:0/x?token=$::Token";
}
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URL "http://127\.0\.0\.1:0/x": has an invalid port}
--- no_error_log eval
[@::Secrets]



=== TEST 2: a secret that is not "whsec_" for scheme=standard: nginx -t says why, without it
--- http_config eval
qq{
    qlm_webhook_secret "$::VerifyOnly";
    qlm_webhook_url license_created http://127.0.0.1:1/x scheme=standard;
}
--- config
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_secret" must be "whsec_" followed by base64}
--- no_error_log eval
[@::Secrets]



=== TEST 3: a verify location whose secret is not "whsec_": nginx -t says why, without it
--- http_config eval
qq{
    qlm_webhook_secret file=../html/qlm.secret;
}
--- config eval
qq{
    location /hook {
        qlm_webhook_verify on;
        qlm_webhook_verify_scheme standard;
        qlm_webhook_verify_secret $::TaskSecret;
    }
}
--- user_files eval
">>> qlm.secret\n$::Secret\n"
--- must_die
--- error_log eval
qr{\[emerg\] .*"qlm_webhook_verify_secret" must be "whsec_" followed by base64}
--- no_error_log eval
[@::Secrets]



=== TEST 4: deliveries of every kind, verifications that pass and fail
--- http_config eval: $::HttpConfig
--- config eval
qq{
    location /qlm/ {
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        qlm_webhook_emit license_created;
        qlm_webhook_field ActivationKey \$qlm_webhook_arg_is_avkey;
        qlm_webhook_field Email \$qlm_webhook_arg_is_email;
    }
$::Verify
}
--- user_files eval
">>> qlm.secret\n$::Secret\n"
--- more_headers eval
"X-QLM-Signature: " . ("0" x 64) . "
webhook-id: msg_bad
webhook-timestamp: $::Ts
webhook-signature: v1," . ("A" x 43) . "="
--- request eval
[
"GET /qlm/qlmservice.asmx/GetActivationKey?is_avkey=K-S1&is_email=s%40example.com",
"POST /hook/qlm\n$::Body",
"POST /hook/std\n$::Body",
"POST /hook/task\n$::Body",
]
--- error_code eval
[200, 403, 403, 403]
--- wait: 2.5
--- no_error_log eval
[@::Secrets]
