# A scheduled task over 2000 imported licenses, with reloads in between:
# every slot runs once (no license twice in a slot), every matching
# license of a slot is sent, none of the others.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(sleep time);
use QLMRun;

my $store = ($ENV{QLM_STORE_BUILD} || 'build/lmdb-store') . '/qlm-store';

plan skip_all => "no $store" unless -x $store;

my $rcv = QLMRun::port_at(2);

my $run = QLMRun->new(workers => 2, port => QLMRun::base_port());
my $path = $run->prefix . '/store';

sub day { strftime('%Y-%m-%d', localtime(time + $_[0] * 86400)) }

# 2000 licenses, every third expiring within 30 days

my $file = $run->prefix . '/licenses.jsonl';
my %match;

open my $fh, '>', $file or die $!;

for my $i (1 .. 2000) {
    my $key = sprintf 'L-%05d', $i;
    my $in = ($i % 3 == 0);
    my $expiry = $in ? day(1 + $i % 28) : day(40 + $i % 100);

    $match{$key} = 1 if $in;

    print $fh qq({"ActivationKey":"$key","Email":"u$i\@example.com",)
              . qq("SubscriptionExpiryDate":"${expiry}T00:00:00"}\n);
}

close $fh;

my $out = qx{$store $path import licenses $file 2>&1};
is($?, 0, 'qlm-store import') or diag($out);
is($out, "loaded 2000, skipped 0\n", '2000 licenses in the mirror');

$run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/store;
    qlm_webhook_concurrency 64;

    qlm_webhook_search soon
        "SubscriptionExpiryDate > [today_start] And SubscriptionExpiryDate < [today_start+30]";

    qlm_webhook_task renewals search=soon every=3s
        url=http://127.0.0.1:$rcv/renewals user_data=reliability;

    log_format hook 'HOOK \$http_x_qlm_event_id';

    server {
        listen 127.0.0.1:$rcv;
        location /renewals {
            access_log PREFIX/logs/hooks.log hook;
            return 200;
        }
    }

    server {
        listen 127.0.0.1:PORT;
        location / {
            return 200;
        }
    }
_EOC_

ok($run->start, 'nginx starts');

sleep 4;
ok($run->signal('HUP'), 'reload');
sleep 3.5;
ok($run->signal('HUP'), 'reload again');
sleep 4;

# let the last run's deliveries finish, then stop between two runs: a run
# scans in paced steps (a millisecond apart), so a stop at any moment may
# fall in one, which the next start would resume (not what this checks)

ok($run->wait_log(qr/task "renewals" done/, 3, 10), 'three runs or more');
sleep 2;

sub hooks {
    open my $h, '<', $run->prefix . '/logs/hooks.log' or return 0;
    my $n = 0;
    $n++ while <$h>;
    close $h;
    return $n;
}

my $deadline = time + 8;

while (time < $deadline) {
    my @state = $run->error_log
                =~ /task "renewals" (runs|resumes|done)/g;
    last if @state && $state[-1] eq 'done'
            && hooks() % scalar(keys %match) == 0;
    sleep 0.05;
}

$run->stop;

my @runs = $run->error_log =~ /qlm webhook: task "renewals" (runs|resumes)/g;
my @done = $run->error_log
    =~ /task "renewals" done: (\d+) licenses scanned, (\d+) matched/g;

cmp_ok(scalar @runs, '>=', 3, scalar(@runs) . ' runs began');

my (%ids, $dups);

open $fh, '<', $run->prefix . '/logs/hooks.log' or die $!;
while (my $line = <$fh>) {
    $dups++ if $line =~ /^HOOK (\S+)$/ && $ids{$1}++;
}
close $fh;

my $slots_sent = scalar(keys %ids) / scalar(keys %match);

is($dups // 0, 0, 'no license was sent twice for one slot');
cmp_ok(scalar keys %ids, '>=', 2 * scalar(keys %match),
       scalar(keys %ids) . ' deliveries: every match of each slot that '
       . 'finished (' . scalar(keys %match) . ' a slot)');
is(scalar(keys %ids) % scalar(keys %match), 0,
   'whole slots: each run sent all its matches');

my @finished = grep { $_ % 2 == 0 } 0 .. $#done;
for my $i (@finished) {
    is($done[$i + 1], scalar keys %match,
       "a run matched " . scalar(keys %match) . " licenses")
        if $done[$i] == 2000;
}

unlike($run->error_log, qr/\[(alert|crit|emerg)\]/, 'no alerts');

done_testing();
