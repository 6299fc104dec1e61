# Every emitted event updates the license mirror that the scheduled tasks
# search: fields merge event after event, a delete marks the record, and
# customers have their own table.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use QLMRun;

my $store = ($ENV{QLM_STORE_BUILD} || 'build/lmdb-store') . '/qlm-store';

plan skip_all => "no $store" unless -x $store;

my $ls = QLMRun::port_at(1);
my $root = "$FindBin::Bin/..";

my $run = QLMRun->new(workers => 2, port => QLMRun::base_port());

$run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/store;

    server {
        listen 127.0.0.1:$ls;
        location ~ /GetActivationKey\$ {
            return 200 '<QuickLicenseManager><pckey>MIRROR-1</pckey></QuickLicenseManager>';
        }
        location / {
            return 200 '<QuickLicenseManager><result>ok</result></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:PORT;
        location /qlmLicenseServer/ {
            proxy_pass http://127.0.0.1:$ls;
            include $root/conf/qlm.conf;
            include $root/conf/qlm_modified.conf;
        }
    }
_EOC_

ok($run->start, 'nginx starts with conf/qlm.conf and no URL at all');

my $base = '/qlmLicenseServer/qlmservice.asmx';

for my $call ("GetActivationKey?is_productid=7&is_email=a%40b.c&is_quantity=2",
              "ActivateKey?is_avkey=MIRROR-1&is_pcid=PC-1&is_computer_name=HOST",
              "UpdateLicenseHttp?is_avkey=MIRROR-1&is_email=new%40b.c",
              "GetActivationKey?is_productid=9",
              "UpdateUserInformation?email=jane%40b.c&name=Jane&company=ACME")
{
    my ($status) = $run->get("$base/$call");
    is($status, 200, "$call answered");
}

sub records {
    my $table = shift;
    my $out = qx{$store --json ${\ $run->prefix}/store $table};
    return eval { decode_json($out) } || [];
}

my $lic = records('licenses');
is(scalar @$lic, 1, 'one license: both creations answered the same key');
is($lic->[0]{key}, 'MIRROR-1', 'keyed by ActivationKey');
is_deeply($lic->[0]{fields},
          { ActivationKey => 'MIRROR-1', Email => 'new@b.c', ProductID => '9',
            NumLicenses => '2', ComputerID => 'PC-1', ComputerName => 'HOST' },
          'fields merged: later values overwrite, the others are kept');
is($lic->[0]{deleted}, JSON::PP::false, 'not deleted');

$run->get("$base/DeleteLicense?is_avkey=MIRROR-1");

$lic = records('licenses');
is($lic->[0]{deleted}, JSON::PP::true, 'a delete marks the license deleted');
is($lic->[0]{fields}{ComputerID}, 'PC-1', 'and keeps what was known');

my $cust = records('customers');
is(scalar @$cust, 1, 'one customer');
is($cust->[0]{key}, 'jane@b.c', 'keyed by Email');
is_deeply($cust->[0]{fields},
          { Email => 'jane@b.c', FullName => 'Jane', Company => 'ACME' },
          'customer fields');

unlike($run->error_log, qr/\[(alert|crit|emerg|error)\]/, 'no errors');

$run->stop;

done_testing();
