# nginx -t with four workers, then reload (HUP) and binary upgrade (USR2)
# under traffic: each worker opens the store after fork, every event is
# delivered exactly once per URL, nothing is lost across the switch.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use QLMRun;

my ($ls, $rcv) = (QLMRun::port_at(1), QLMRun::port_at(2));

my $run = QLMRun->new(workers => 4, port => QLMRun::base_port());

$run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/store;
    qlm_webhook_secret reload-secret;
    qlm_webhook_retry_interval 500ms;
    qlm_webhook_timeout 2s;
    qlm_webhook_url license_created http://127.0.0.1:$rcv/hook;

    log_format hook 'HOOK \$http_x_qlm_event_id \$http_x_qlm_delivery_attempt';

@{[ QLMRun::servers($ls, $rcv) ]}
_EOC_

sub hooks {
    my %seen;
    my $total = 0;

    for my $line (split /\n/, $run->error_log) {
        if ($line =~ /^HOOK (\S+) (\d+)$/) {
            $seen{$1}++;
            $total++;
        }
    }

    return ($total, scalar keys %seen, grep { $seen{$_} > 1 } keys %seen);
}

# Waits for $n deliveries, then a settle time longer than a retry and a
# timeout, so that a late duplicate is counted too; then each of the $n
# events must have arrived exactly once.
sub delivered_once {
    my ($n, $what) = @_;

    ok($run->wait_log(qr/^HOOK /m, $n, 10), "$n deliveries arrived $what");
    sleep 3;

    my ($total, $distinct, @dups) = hooks();
    note("$what: $total deliveries, $distinct distinct ids, "
         . scalar(@dups) . " delivered more than once");
    is($distinct, $n, "$n distinct event ids $what");
    is($total, $n, "each delivered exactly once $what");
    is(scalar @dups, 0, "no event delivered twice $what")
        or diag("delivered twice: @dups");
}

sub send_events {
    my $n = shift;
    my $ok = 0;

    for (1 .. $n) {
        my ($status) = $run->get('/qlm/qlmservice.asmx/GetActivationKey');
        $ok++ if $status == 200;
    }

    return $ok;
}

my ($rc, $out) = $run->nginx('-t');
is($rc, 0, 'nginx -t accepts the configuration with 4 workers');
like($out, qr/test is successful/, 'nginx -t says so');

ok($run->start, 'nginx starts');

ok($run->wait_log(qr/qlm webhook store "[^"]+" opened/, 4, 5),
   'each of the 4 workers opened the store');
is(scalar(my @w = $run->worker_pids), 4, '4 worker processes');

is(send_events(20), 20, '20 license calls answered');
delivered_once(20, 'before the reload');

# reload under traffic

my @old = $run->worker_pids;
ok($run->signal('HUP'), 'HUP sent');

is(send_events(20), 20, '20 more calls answered during the reload');

ok($run->wait_log(qr/qlm webhook store "[^"]+" opened/, 8, 10),
   '4 new workers opened the store');
ok($run->wait_log(qr/qlm webhook store "[^"]+" closed/, 4, 10),
   'the 4 old workers closed it');

# an old worker logs "closed" before it exits: it may be a process (or a
# zombie not yet reaped) a moment longer
my %old = map { $_ => 1 } @old;
my @new;
for (1 .. 50) {
    @new = $run->worker_pids;
    last unless grep { $old{$_} } @new;
    sleep 0.1;
}
is(scalar(grep { $old{$_} } @new), 0, 'the workers are new processes');

delivered_once(40, 'after the reload');

# binary upgrade: a new master from the same binary, then the old one quits

my $oldmaster = $run->master_pid;
ok($run->signal('USR2'), 'USR2 sent');

my $newmaster;
for (1 .. 50) {
    sleep 0.1;
    $newmaster = $run->master_pid;
    last if $newmaster && $newmaster != $oldmaster
            && -e $run->prefix . '/logs/nginx.pid.oldbin';
}

isnt($newmaster, $oldmaster, 'a new master runs');

ok($run->wait_log(qr/qlm webhook store "[^"]+" opened/, 12, 10),
   'the new master\'s workers opened the store');

kill 'QUIT', $oldmaster;

for (1 .. 100) {
    last unless kill 0, $oldmaster;
    sleep 0.1;
}

ok(!kill(0, $oldmaster), 'the old master is gone');

is(send_events(10), 10, '10 calls answered by the upgraded nginx');
delivered_once(50, 'after the upgrade');

my $log = $run->error_log;
unlike($log, qr/\[(alert|crit|emerg)\]/, 'no alert, crit or emerg');

$run->stop;

done_testing();
