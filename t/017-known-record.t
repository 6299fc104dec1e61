# QLM sends the affected object: an event's LicenseInfo or CustomerInfo is
# the whole record the module knows (qlm-store import, earlier events,
# events not yet committed) with the call's changes over it; a delete
# carries the last record; an answer that lists several new keys gives
# one event a key.

use Test::Nginx::Socket 'no_plan';
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use IO::Socket::INET;
use IO::Select;
use POSIX ();

$ENV{TEST_NGINX_LS_PORT} ||= 1985;
$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;
$ENV{TEST_NGINX_APP_PORT} ||= 1987;
$ENV{TEST_NGINX_QLM_CONF} ||= abs_path('conf/qlm.conf');
$ENV{TEST_NGINX_QLM_MODIFIED_CONF} ||= abs_path('conf/qlm_modified.conf');

my $store = abs_path($ENV{QLM_STORE_BUILD} || 'build/lmdb-store')
            . '/qlm-store';

# QLM's documented example license (886 bytes as a task sends it): its
# LicenseInfo, compact, as QLM writes it
open(my $fh, '<', 't/data/scheduled-task-example.json') or die "example: $!";
my $body = join('', map { s/^\s+|\s+$//gr } <$fh>);
close($fh);
$body =~ s/": /":/g;
our ($Info) = $body =~ /"LicenseInfo":(\{.*\})\}$/;
our $Key = 'BNQ50D0500G3HJKM8P91111KIYQJIVSIQ6E9EAB';

sub write_file { open(my $f, '>', $_[0]) or die "$_[0]: $!"; print $f $_[1]; close($f) }

# one store a block: each starts from the imported records only
my $dir = tempdir(CLEANUP => 1);
write_file("$dir/lic.json", "[$Info]\n");
write_file("$dir/cust.json",
    '[{"Email":"jane@example.com","FullName":"Jane Doe","Company":"ACME",'
    . '"Phone":"","City":"Montreal","PrivacyConsent":"false"}]' . "\n");

for my $n (1 .. 8) {
    mkdir("$dir/store-$n");
    my $out = qx{$store --map-size 10m $dir/store-$n import licenses $dir/lic.json 2>&1}
              . qx{$store --map-size 10m $dir/store-$n import customers $dir/cust.json 2>&1};
    die "qlm-store import: $out" if $? != 0;
    $ENV{"TEST_NGINX_QLM_STORE_$n"} = "$dir/store-$n";
}

# A license server that holds its answers until two calls have come (or
# a second has passed), then answers both at once: their answers reach
# nginx in the same turn of its event loop, so the second event is built
# before the first is committed.
my $ls = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                               LocalPort => $ENV{TEST_NGINX_APP_PORT},
                               Listen => 8, ReuseAddr => 1)
    or die "listen $ENV{TEST_NGINX_APP_PORT}: $!";
my $parent = $$;
my $pid = fork();
die "fork: $!" unless defined $pid;

if ($pid == 0) {
    my $end = time + 120;
    my @held;
    my $sel = IO::Select->new($ls);
    while (time < $end && getppid() == $parent) {
        my @ready = $sel->can_read(0.1);
        for my $c (map { scalar $_->accept } grep { $_ == $ls } @ready) {
            my $req = '';
            my $t = time + 2;
            while ($req !~ /\r\n\r\n/ && time < $t) {
                sysread($c, $req, 4096, length $req) or last;
            }
            push @held, [$c, time, $req];
        }
        if (@held >= 2 || (@held && time > $held[0][1] + 1)) {
            # a deletion is answered first (TEST 8)
            @held = sort { ($b->[2] =~ /DeleteLicense/ ? 1 : 0)
                           <=> ($a->[2] =~ /DeleteLicense/ ? 1 : 0) } @held;
            my $answer = '<?xml version="1.0" encoding="utf-8"?>'
                         . '<QuickLicenseManager><result>ok</result>'
                         . '</QuickLicenseManager>';
            syswrite($_->[0], "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                              . "Content-Length: " . length($answer)
                              . "\r\nConnection: close\r\n\r\n$answer")
                for @held;
            close($_->[0]) for @held;
            @held = ();
        }
    }
    POSIX::_exit(0);
}

close($ls);
END { kill('TERM', $pid) if $pid && $$ == $parent }

our $HttpConfig = <<"_EOC_";
    qlm_webhook_secret known-record-secret;
    qlm_webhook_url license_activated http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/license_activated;
    qlm_webhook_url license_created http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/license_created;
    qlm_webhook_url license_deleted http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/license_deleted;
    qlm_webhook_url license_modified http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/license_modified;
    qlm_webhook_url customer_modified http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/customer_modified;
    qlm_webhook_url customer_deleted http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook/customer_deleted;

    log_format hook escape=none 'HOOK \$uri body=\$request_body';

    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        default_type text/xml;
        access_log off;

        # several keys: one element a key (is_usemultipleactivationskey=false)
        location = /qlmLicenseServer/qlmservice.asmx/GetActivationKey {
            return 200 '<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><pckey>NEW-A</pckey><pckey>NEW-B</pckey><pckey>NEW-C</pckey></QuickLicenseManager>';
        }

        location /qlmLicenseServer/ {
            return 200 '<?xml version="1.0" encoding="utf-8"?><QuickLicenseManager><result>ok</result></QuickLicenseManager>';
        }
    }

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
_EOC_

our $Config = <<"_EOC_";
    location /qlmLicenseServer/ {
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_LS_PORT};
        include $ENV{TEST_NGINX_QLM_CONF};
        include $ENV{TEST_NGINX_QLM_MODIFIED_CONF};
    }

    # the license server that answers two calls at once
    location /held/ {
        proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_APP_PORT}/qlmLicenseServer/;
        include $ENV{TEST_NGINX_QLM_CONF};
        include $ENV{TEST_NGINX_QLM_MODIFIED_CONF};
    }

    # two calls for one key at the same time: a copy goes out with the call
    location = /both {
        mirror /second;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/held/qlmservice.asmx/ActivateKey?is_avkey=$Key&is_pcid=PC-BOTH;
    }

    # one call, then another once the first is answered (and committed)
    location = /then-delete {
        auth_request /activate;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/qlmLicenseServer/qlmservice.asmx/DeleteLicense?is_avkey=$Key;
    }

    location = /activate {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/qlmLicenseServer/qlmservice.asmx/ActivateKey?is_avkey=$Key&is_pcid=PC-7&is_computer_name=HOST-7;
    }

    # a customer's e-mail changes, then a call for each address
    location = /move-chain {
        auth_request /mc2;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/qlmLicenseServer/qlmservice.asmx/UpdatePrivacyConsentHttp?is_email=jane\@example.com&is_consent=true;
    }

    location = /mc2 {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/move-chain2;
    }

    location = /move-chain2 {
        auth_request /mc1;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/qlmLicenseServer/qlmservice.asmx/UpdatePrivacyConsentHttp?is_email=jane.new\@example.com&is_consent=true;
    }

    location = /mc1 {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/qlmLicenseServer/qlmservice.asmx/UpdateUserInformation?is_vendor=regnow&is_previousemail=jane\@example.com&email=jane.new\@example.com&phone=555;
    }

    # a deletion and an activation of one key answered at once, the
    # deletion first (the license server sorts it first)
    location = /delete-activate {
        mirror /delete-first;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/held/qlmservice.asmx/ActivateKey?is_avkey=$Key&is_pcid=PC-NEW;
    }
    location = /delete-first {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/held/qlmservice.asmx/DeleteLicense?is_avkey=$Key;
    }
    location = /second {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/held/qlmservice.asmx/UpdateLicenseHttp?is_avkey=$Key&is_userdata1=both;
    }
_EOC_

sub with { my ($info, %set) = @_; $info =~ s/"$_":("(?:[^"\\]|\\.)*"|[^,}]*)/"$_":$set{$_}/ for keys %set; $info }

our $Event = '\{"EventType":"%s","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","LicenseInfo":%s\}';

sub hook { my ($event, $info) = @_;
    my $re = sprintf($Event, $event, quotemeta($info)); qr/^HOOK \/hook\/$event body=$re$/m }

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: UpdateLicenseHttp on an imported license: every imported field, the change over it
--- http_config eval: "qlm_webhook_store $ENV{TEST_NGINX_QLM_STORE_1};\n" . $::HttpConfig
--- config eval: $::Config
--- request eval
"GET /qlmLicenseServer/qlmservice.asmx/UpdateLicenseHttp?is_avkey=$::Key&is_features=STD,PRO,ENT,"
--- wait: 0.5
--- error_log eval
::hook('license_modified', ::with($::Info, Features => '"STD,PRO,ENT,"'))
--- no_error_log
[error]
[warn]



=== TEST 2: DeleteLicense: the last record known
--- http_config eval: "qlm_webhook_store $ENV{TEST_NGINX_QLM_STORE_2};\n" . $::HttpConfig
--- config eval: $::Config
--- request eval
"GET /qlmLicenseServer/qlmservice.asmx/DeleteLicense?is_avkey=$::Key"
--- wait: 0.5
--- error_log eval
::hook('license_deleted', $::Info)
--- no_error_log
[error]
[warn]



=== TEST 3: one call after another: the second event carries the first's change
--- http_config eval: "qlm_webhook_store $ENV{TEST_NGINX_QLM_STORE_3};\n" . $::HttpConfig
--- config eval: $::Config
--- request
GET /then-delete
--- wait: 0.5
--- error_log eval
my $info = ::with($::Info, ComputerID => '"PC-7"', ComputerName => '"HOST-7"');
[::hook('license_activated', $info), ::hook('license_deleted', $info)]
--- no_error_log
[error]
[warn]



=== TEST 4: two calls answered at once: the second event, built before the first is committed, carries both changes
--- http_config eval: "qlm_webhook_store $ENV{TEST_NGINX_QLM_STORE_4};\n" . $::HttpConfig
--- config eval: $::Config
--- request
GET /both
--- wait: 1
--- error_log eval
qr/^HOOK \/hook\/license_\w+ body=.*"UserData":"both".*"ComputerID":"PC-BOTH"/m
--- no_error_log
[error]
[warn]



=== TEST 5: a customer's event carries the imported customer
--- http_config eval: "qlm_webhook_store $ENV{TEST_NGINX_QLM_STORE_5};\n" . $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/UpdatePrivacyConsentHttp?is_email=jane@example.com&is_consent=true
--- wait: 0.5
--- error_log eval
qr/^HOOK \/hook\/customer_modified body=\{"EventType":"customer_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","CustomerInfo":\{[^}]*"FullName":"Jane Doe"[^}]*\}\}$/m
--- no_error_log
[error]
[warn]



=== TEST 6: GetActivationKey with several keys: one license_created a key
--- http_config eval: "qlm_webhook_store $ENV{TEST_NGINX_QLM_STORE_6};\n" . $::HttpConfig
--- config eval: $::Config
--- request
GET /qlmLicenseServer/qlmservice.asmx/GetActivationKey?is_productid=1&is_majorversion=1&is_minorversion=0&is_quantity=3&is_usemultipleactivationskey=false
--- wait: 0.5
--- error_log eval
[qr/^HOOK \/hook\/license_created body=.*"LicenseInfo":\{"ActivationKey":"NEW-A","ProductID":1,"MajorVersion":1,"MinorVersion":0,"NumLicenses":3\}\}$/m,
 qr/^HOOK \/hook\/license_created body=.*"LicenseInfo":\{"ActivationKey":"NEW-B","ProductID":1,"MajorVersion":1,"MinorVersion":0,"NumLicenses":3\}\}$/m,
 qr/^HOOK \/hook\/license_created body=.*"LicenseInfo":\{"ActivationKey":"NEW-C","ProductID":1,"MajorVersion":1,"MinorVersion":0,"NumLicenses":3\}\}$/m,
 qr/\[info\] .*the answer lists 3 keys, one "license_created" event each/]
--- no_error_log
[error]
[warn]



=== TEST 7: a customer's e-mail changes (is_previousemail): the record moves to the new address, the old one is deleted
--- http_config eval: "qlm_webhook_store $ENV{TEST_NGINX_QLM_STORE_7};\n" . $::HttpConfig
--- config eval: $::Config
--- request
GET /move-chain
--- wait: 0.5
--- error_log eval
my $ev = '^HOOK /hook/customer_modified body=\{"EventType":"customer_modified","EventId":"[0-9a-f-]{36}","Timestamp":"[0-9T:-]{19}","CustomerInfo":';
my $info = sub { my $s = quotemeta(shift); qr/$ev$s\}$/m };
[$info->('{"FullName":"Jane Doe","Email":"jane.new@example.com","Company":"ACME","City":"Montreal","Phone":"555","PrivacyConsent":false}'),
 $info->('{"FullName":"Jane Doe","Email":"jane.new@example.com","Company":"ACME","City":"Montreal","Phone":"555","PrivacyConsent":true}'),
 $info->('{"Email":"jane@example.com","PrivacyConsent":true}')]
--- no_error_log
[error]
[warn]
PreviousEmail



=== TEST 8: a deletion, then an activation of the key, answered at once: the deletion carries the imported record, the activation starts afresh
--- http_config eval: "qlm_webhook_store $ENV{TEST_NGINX_QLM_STORE_8};\n" . $::HttpConfig
--- config eval: $::Config
--- request
GET /delete-activate
--- wait: 1
--- error_log eval
[::hook('license_deleted', $::Info),
 qr/^HOOK \/hook\/license_activated body=\{"EventType":"license_activated",.*"LicenseInfo":\{"ActivationKey":"$::Key","ComputerID":"PC-NEW"\}\}$/m]
--- no_error_log
[error]
[warn]
