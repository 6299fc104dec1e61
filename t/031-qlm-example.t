# QLM's own scheduled-task example (its documentation's payload, 886
# bytes): the license imported with qlm-store import, from JSON, from
# QLM's data set XML and from the management console's CSV export, is
# sent by a task byte for byte as QLM sends it.

use Test::Nginx::Socket 'no_plan';
use File::Temp qw(tempdir);
use Cwd qw(abs_path);

$ENV{TEST_NGINX_RECEIVER_PORT} ||= 1986;

my $store = abs_path($ENV{QLM_STORE_BUILD} || 'build/lmdb-store')
            . '/qlm-store';
# QLM's documentation's example, as published (soraco/qlm, qlmdocs/how-to/
# how-to-automatically-invoke-a-webhook-using-scheduled-tasks.md)
my $example = 't/data/scheduled-task-example.json';

# QLM's example, compacted as QLM sends it: one key a line in the file
open(my $fh, '<', $example) or die "$example: $!";
our $Body = join('', map { s/^\s+|\s+$//gr } <$fh>);
close($fh);
$Body =~ s/": /":/g;
die "the example is " . length($Body) . " bytes, not 886\n"
    unless length($Body) == 886;

# its LicenseInfo, in the three formats qlm-store import reads
my $dir = tempdir(CLEANUP => 1);
my ($info) = $Body =~ /"LicenseInfo":\{(.*)\}\}$/;
my @kv = $info =~ /"(\w+)":("(?:[^"\\]|\\.)*"|[^,]*)/g;
my (@names, @values);
while (my ($k, $v) = splice(@kv, 0, 2)) {
    push @names, $k;
    push @values, $v =~ /^"(.*)"$/ ? $1 : $v;
}

sub write_file { open(my $f, '>', $_[0]) or die "$_[0]: $!"; print $f $_[1]; close($f) }

write_file("$dir/lic.json", "[{$info}]\n");

write_file("$dir/lic.xml", join("\n",
    '<?xml version="1.0" standalone="yes"?>', '<NewDataSet>',
    '  <xs:schema id="NewDataSet" xmlns:xs="http://www.w3.org/2001/XMLSchema"/>',
    '  <qryLicenseInfo>',
    (map {
        my $n = $names[$_] eq 'ExpiryDate' ? 'SubscriptionExpiryDate' : $names[$_];
        length($values[$_]) ? "    <$n>$values[$_]</$n>" : "    <$n />"
    } 0 .. $#names),
    '  </qryLicenseInfo>', '</NewDataSet>', ''));

# the console's captions have spaces; its dates are US ones
my @csv = @values;
$csv[$_] = '5/29/2021 11:59:59 PM' for grep { $names[$_] eq 'ExpiryDate' } 0 .. $#names;
write_file("$dir/lic.csv", "\xef\xbb\xbf"
    . join(',', map { s/([a-z])([A-Z])/$1 $2/gr } @names) . "\r\n"
    . join(',', map { /[",]/ ? '"' . s/"/""/gr . '"' : $_ } @csv) . "\r\n");

for my $f (qw(json xml csv)) {
    mkdir("$dir/store-$f");
    my $out = qx{$store --map-size 10m $dir/store-$f import licenses $dir/lic.$f 2>&1};
    die "qlm-store import $f: $out" if $? != 0;
    $ENV{"TEST_NGINX_QLM_STORE_" . uc($f)} = "$dir/store-$f";
}

our $HttpConfig = <<"_EOC_";
    qlm_webhook_search example "ActivationKey = 'BNQ50D0500G3HJKM8P91111KIYQJIVSIQ6E9EAB'";

    qlm_webhook_task stWebHook search=example every=1s
        url=http://127.0.0.1:$ENV{TEST_NGINX_RECEIVER_PORT}/hook
        secret=example-secret "user_data=my user data";

    log_format hook escape=none 'HOOK length=\$content_length body=\$request_body';

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

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: imported from JSON: QLM's 886 bytes
--- http_config eval: "qlm_webhook_store $ENV{TEST_NGINX_QLM_STORE_JSON};\n" . $::HttpConfig
--- config
--- request
GET /
--- wait: 2.5
--- error_log eval
qr/^HOOK length=886 body=\Q$::Body\E$/m
--- no_error_log
[error]
[warn]



=== TEST 2: imported from QLM's data set XML: the same 886 bytes
--- http_config eval: "qlm_webhook_store $ENV{TEST_NGINX_QLM_STORE_XML};\n" . $::HttpConfig
--- config
--- request
GET /
--- wait: 2.5
--- error_log eval
qr/^HOOK length=886 body=\Q$::Body\E$/m
--- no_error_log
[error]
[warn]



=== TEST 3: imported from the console's CSV export: the same 886 bytes
--- http_config eval: "qlm_webhook_store $ENV{TEST_NGINX_QLM_STORE_CSV};\n" . $::HttpConfig
--- config
--- request
GET /
--- wait: 2.5
--- error_log eval
qr/^HOOK length=886 body=\Q$::Body\E$/m
--- no_error_log
[error]
[warn]
