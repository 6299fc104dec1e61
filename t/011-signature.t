# X-QLM-Signature on the wire, checked independently of the module: the
# receiver logs each delivery's raw body and signature into error.log, and
# this file recomputes sha256(body || secret) with Digest::SHA.

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256_hex);

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;

repeat_each(1);
no_shuffle();
run_tests();

# Fixed vectors first, so that a mistake in this file's own Perl cannot
# pass for the module's.

# vectors computed with coreutils' sha256sum
is(sha256_hex('{"EventType":"x"}' . 'k3y'),
   "1cd3bd42a3feaf152a88bfaf655a62af82833d0e57140cf8bfbbc62c92478a9d",
   "vector: body followed by the secret, not an HMAC");
is(sha256_hex("abc"),
   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
   "vector: abc");

my $log = server_root() . "/logs/error.log";
open my $fh, '<:raw', $log or die "cannot open $log: $!";

my %hooks;
while (my $line = <$fh>) {
    chomp $line;
    if ($line =~ m{^HOOK POST (/hook/[abc]) event=(\S+) sig=([0-9a-f]{64}) body=(.*)$}) {
        $hooks{$1} = { event => $2, sig => $3, body => $4 };
    }
}
close $fh;

is(join(',', sort keys %hooks), '/hook/a,/hook/b,/hook/c',
   'the last block delivered to the three URLs');

my $secret = 'k3y;with spaces';

for my $uri (sort keys %hooks) {
    my $h = $hooks{$uri};
    is($h->{sig}, sha256_hex($h->{body} . $secret),
       "$uri: X-QLM-Signature is sha256(body || secret)");
    isnt($h->{sig}, sha256_hex($h->{body}), "$uri: the secret is part of it");
}

# the bodies, escaped as JSON

like($hooks{'/hook/a'}{body},
     qr/^\{"EventType":"license_created","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":\{"Email":"\\"quoted\\"\\\\slash\@x\.com"\}\}$/,
     'quotes and backslashes are escaped');
like($hooks{'/hook/b'}{body},
     qr/^\{"EventType":"license_deleted",.*"LicenseInfo":\{"ActivationKey":"K\x{c3}\x{a9}Y-1"\}\}$/,
     'UTF-8 passes as is');
like($hooks{'/hook/c'}{body},
     qr/^\{"EventType":"customer_modified",.*"CustomerInfo":\{"FullName":"Jo\\nSmith","Email":"jo\@acme\.com","Company":"ACME\\tInc"\}\}$/,
     'control characters are escaped, a customer event has CustomerInfo');

__DATA__

=== TEST 1: three events, signed with a secret read from a file
--- http_config
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret file=../html/secret.txt;
    qlm_webhook_url license_created http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/a;
    qlm_webhook_url license_deleted http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/b;
    qlm_webhook_url customer_modified http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/hook/c;

    log_format hook escape=none 'HOOK $request_method $uri '
        'event=$http_x_qlm_event sig=$http_x_qlm_signature '
        'body=$request_body';

    server {
        listen 127.0.0.1:$TEST_NGINX_LS_PORT;
        default_type text/xml;
        access_log off;

        location / {
            return 200 '<QuickLicenseManager><result>ok</result></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_RECEIVER_PORT;
        client_body_in_single_buffer on;

        location /hook {
            access_log logs/error.log hook;
            proxy_pass http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/sink;
        }

        location /sink {
            access_log off;
            return 200;
        }
    }
--- user_files
>>> secret.txt
k3y;with spaces
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_LS_PORT;
        qlm_webhook_emit license_created method=GetActivationKey;
        qlm_webhook_emit license_deleted method=DeleteLicense;
        qlm_webhook_emit customer_modified method=UpdateUserInformation;
        qlm_webhook_field ActivationKey $qlm_webhook_arg_is_avkey;
        qlm_webhook_field Email $qlm_webhook_arg_is_email;
        qlm_webhook_field FullName $qlm_webhook_arg_is_fullname;
        qlm_webhook_field Company $qlm_webhook_arg_is_company;
    }
--- request eval
[
"GET /qlm/qlmservice.asmx/GetActivationKey?is_email=%22quoted%22%5Cslash%40x.com",
"GET /qlm/qlmservice.asmx/DeleteLicense?is_avkey=K%C3%A9Y-1",
"GET /qlm/qlmservice.asmx/UpdateUserInformation?is_fullname=Jo%0ASmith&is_company=ACME%09Inc&is_email=jo%40acme.com",
]
--- wait: 1
--- no_error_log
[error]
k3y;with spaces
