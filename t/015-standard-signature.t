# Standard Webhooks headers on the wire, checked independently of the
# module: the receiver logs each delivery's headers and raw body into
# error.log, and this file recomputes the HMAC with Digest::SHA over the key
# that "whsec_<base64>" encodes (not over the secret's text).

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256_base64 sha256_hex);
use MIME::Base64 qw(decode_base64);

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;

# a key of 24 bytes with NUL, high and "=" bytes, as the scheme writes it
our $Secret = 'whsec_AP8B/gL9PS4KAIB/yBEhLDdCTVhjb976';

repeat_each(1);
no_shuffle();
run_tests();

sub b64 {
    my $s = shift;
    $s .= '=' while length($s) % 4;
    return $s;
}

# a fixed vector first (openssl dgst -sha256 -hmac over the same bytes),
# so that a mistake in this file's own Perl cannot pass for the module's
my $key = decode_base64(substr($Secret, 6));
is(length $key, 24, 'vector: the key is 24 bytes');
is(b64(hmac_sha256_base64('msg_1.1700000000.{"a":1}', $key)),
   'dcEVp9f5QP6qgkmziUqNj0swe46QRria5THN67JEfxc=',
   'vector: HMAC-SHA256 with the decoded key');

my $log = server_root() . "/logs/error.log";
open my $fh, '<:raw', $log or die "cannot open $log: $!";

my @hooks;
while (my $line = <$fh>) {
    chomp $line;
    if ($line =~ m{^HOOK id=(\S+) ts=(\S+) sig=(.+?) qlm=(\S+) body=(.*)$}) {
        push @hooks, { id => $1, ts => $2, sig => $3, qlm => $4, body => $5 };
    }
}
close $fh;

is(scalar @hooks, 1, 'one delivery with the Standard Webhooks headers');

for my $h (@hooks) {
    my $signed = "$h->{id}.$h->{ts}.$h->{body}";

    is($h->{sig}, 'v1,' . b64(hmac_sha256_base64($signed, $key)),
       'webhook-signature: HMAC-SHA256 of id.timestamp.body, decoded key');
    isnt($h->{sig}, 'v1,' . b64(hmac_sha256_base64($signed, $Secret)),
         'not the HMAC with the secret as text');
    like($h->{body}, qr/"EventId":"\Q$h->{id}\E"/,
         'webhook-id is the event id');
    ok(abs($h->{ts} - time) < 30, 'webhook-timestamp is now, in seconds');
    is($h->{qlm}, sha256_hex($h->{body} . $Secret),
       'X-QLM-Signature: sha256(body || secret), the secret as written');
}

__DATA__

=== TEST 1: a scheme=standard delivery, signed with the key the secret encodes
--- http_config eval
qq{
    qlm_webhook_store logs/qlm_store;
    qlm_webhook_secret file=../html/std.secret;
    qlm_webhook_url license_created
        http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook scheme=standard;

    log_format hook escape=none 'HOOK id=\$http_webhook_id '
        'ts=\$http_webhook_timestamp sig=\$http_webhook_signature '
        'qlm=\$http_x_qlm_signature body=\$request_body';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT};
        client_body_in_single_buffer on;

        location /hook {
            access_log logs/error.log hook;
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/sink;
        }

        location /sink {
            access_log off;
            return 200;
        }
    }
}
--- user_files eval
">>> std.secret\n$::Secret\n"
--- config
    location /qlm/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RECEIVER_PORT/sink;
        qlm_webhook_emit license_created;
        qlm_webhook_field Email $qlm_webhook_arg_is_email;
    }
--- request
GET /qlm/qlmservice.asmx/GetActivationKey?is_email=std%40example.com
--- wait: 1
--- error_log eval
qr/qlm webhook: "license_created" event \S+ to \S+ delivered: status 200/
--- no_error_log
[error]
AP8B/gL9PS4KAIB
