# With sync=on a delivery starts at its event's journal record, before the
# event's LMDB commit, under a lease counted from then (qlm_webhook_timeout
# and as much again, at most 10 s more).  Here the commit is held up
# longer than that lease: mdb_load holds the store's writer lock for 4 s,
# the lease being 2 s, and the receiver answers in 0.4 s, so that the
# outcome of a delivery whose event's commit was already waiting comes
# during that commit.  The event must still be delivered once: its item
# is stored with a lease counted from the commit, not one already over
# that another worker would claim before the outcome's own commit.  The
# order in which the two workers get the lock once it is free is not
# forced: a run without the lease counted from the commit passed too
# (5 of 5), so this checks the whole path, not that race alone.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use QLMRun;

my $mdb_load = QLMRun::mdb_load();
plan(skip_all => "no $mdb_load (lmdb-utils)") unless -x $mdb_load;

my ($ls, $rcv) = map { QLMRun::port_at($_) } 1 .. 2;
my $events = 8;

my $run = QLMRun->new(workers => 2);
my $log = $run->prefix . '/receiver.log';
my $store = $run->prefix . '/store';

$run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/store sync=on;
    qlm_webhook_secret lease-secret;
    qlm_webhook_timeout 1s;
    qlm_webhook_retry_interval 1s;
    qlm_webhook_url license_created http://127.0.0.1:$rcv/hook;

@{[ QLMRun::servers($ls) ]}
_EOC_

$run->receiver(port => $rcv, log => $log, life => 40, delay => 0.4);

ok($run->start, 'nginx starts');

sub got { QLMRun::received($log) }

sub call {
    my ($status) = $run->get('/qlm/qlmservice.asmx/GetActivationKey');
    return $status;
}

is(call(), 200, 'the first call answered');
my $deadline = time + 10;
sleep 0.05 while keys %{ got() } < 1 && time < $deadline;

my $hold = QLMRun::hold_writer_lock($store);
sleep 0.5;

my $ok = 0;
$ok += (call() == 200) for 1 .. $events;
is($ok, $events, "$events calls answered while the writer lock is held");

$deadline = time + 3;
sleep 0.05 while keys %{ got() } < 1 + $events && time < $deadline;
is(scalar keys %{ got() }, 1 + $events, 'their webhooks arrived');

# past the lease: 2 s from the calls
sleep 3.5;

QLMRun::release_writer_lock($hold);

# the other worker's poll, and a retry's interval, had their chance

sleep 3;

my $got = got();
is(scalar(grep { $_ > 1 } values %$got), 0, 'no event delivered twice')
    or diag(join(', ', map { "$_ x$got->{$_}" } grep { $got->{$_} > 1 }
                                                 keys %$got));
is($run->count(qr/lease on \S+ to \S+ expired/), 0,
   'no lease over before its delivery was recorded');
is($run->count(qr/\[(?:alert|crit|emerg)\]/), 0, 'no alert');

$run->stop;
done_testing();
