# qlm_webhook_concurrency with sync=on.  A new event's deliveries are
# leased when it is captured and start when it is committed, after its
# journal record; journaled, up to qlm_webhook_concurrency more are
# leased ahead of a free slot, and one that finds no slot at its commit
# goes back to the queue, its attempt taken back.  Against a receiver
# slower than the calls (and a receiver's own limit above the worker's,
# so that the worker's is the one that holds): never more deliveries at
# once than the limit, every event delivered once, each at its first
# attempt.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use QLMRun;

my ($ls, $rcv) = map { QLMRun::port_at($_) } 1 .. 2;
my $events = 20;

my $run = QLMRun->new(workers => 1);
my $log = $run->prefix . '/receiver.log';

$run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/store sync=on;
    qlm_webhook_secret concurrency-secret;
    qlm_webhook_concurrency 2;
    qlm_webhook_url_concurrency 8;
    qlm_webhook_timeout 5s;
    qlm_webhook_url license_created http://127.0.0.1:$rcv/hook;

@{[ QLMRun::servers($ls) ]}
_EOC_

# each webhook answered after 0.2 s: the calls outrun the deliveries
$run->receiver(port => $rcv, delay => 0.2, log => $log, life => 40);

ok($run->start, 'nginx starts');

my $ok = 0;
for (1 .. $events) {
    my ($status) = $run->get('/qlm/qlmservice.asmx/GetActivationKey');
    $ok++ if $status == 200;
}
is($ok, $events, "$events license calls answered");

sub answered {
    open(my $fh, '<', $log) or return 0;
    my %ids = map { /^ANS (\S+)/ ? ($1 => 1) : () } <$fh>;
    return scalar keys %ids;
}

my $deadline = time + 20;
sleep 0.1 while answered() < $events && time < $deadline;

is(answered(), $events, "the $events webhooks answered");

# the receiver notes GOT when a request arrives, ANS once it answered it

open(my $fh, '<', $log) or die "$log: $!";
my @lines = <$fh>;
close($fh);

my ($now, $max, %got, @attempts) = (0, 0);

for (@lines) {
    if (/^GOT (\S+) (\d+)/) {
        $now++;
        $max = $now if $now > $max;
        $got{$1}++;
        push @attempts, $2;

    } elsif (/^ANS /) {
        $now--;
    }
}

is($max, 2, 'never more than qlm_webhook_concurrency (2) at once');
is(scalar(grep { $_ == 1 } values %got), $events,
   'each event delivered once');
is(scalar(grep { $_ != 1 } @attempts), 0,
   'every delivery at its first attempt: no attempt counted for a lease '
   . 'given back');

is($run->count(qr/ lost|\[alert\]|\[crit\]|\[emerg\]/), 0,
   'nothing lost, no alert');

$run->stop;

done_testing();
