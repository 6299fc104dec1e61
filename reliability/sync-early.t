# With sync=on an event's deliveries start once its journal record is on
# disk, not after its LMDB commit.  Here another process (mdb_load, in a
# write transaction it will abort) holds the store's writer lock, so no
# commit can be made: the calls are answered, and their webhooks must
# still arrive.  Once the lock is let go, the commits record what was
# delivered meanwhile: one "delivered" log record an event, with its
# item's id, nothing left queued, and no event delivered twice.  Then the
# same of a burst of parallel calls.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use JSON::PP;
use POSIX ();
use QLMRun;

my $mdb_load = QLMRun::mdb_load();
plan(skip_all => "no $mdb_load (lmdb-utils)") unless -x $mdb_load;

my ($ls, $rcv) = map { QLMRun::port_at($_) } 1 .. 2;
my $events = 5;

my $run = QLMRun->new(workers => 1);
my $log = $run->prefix . '/receiver.log';
my $store = $run->prefix . '/store';
my $tool = QLMRun::PG::store_tool();

$run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/store sync=on;
    qlm_webhook_secret early-secret;
    qlm_webhook_timeout 5s;
    qlm_webhook_url license_created http://127.0.0.1:$rcv/hook;

@{[ QLMRun::servers($ls) ]}
_EOC_

$run->receiver(port => $rcv, log => $log, life => 40);

ok($run->start, 'nginx starts');

sub got { QLMRun::received($log) }

sub wait_got {
    my ($n, $secs) = @_;
    my $deadline = time + $secs;
    sleep 0.05 while keys %{ got() } < $n && time < $deadline;
    return scalar keys %{ got() };
}

sub call {
    my ($status) = $run->get('/qlm/qlmservice.asmx/GetActivationKey');
    return $status;
}

# one event first: the store made and its first commit done

is(call(), 200, 'the first call answered');
is(wait_got(1, 10), 1, 'its webhook arrived');

# the writer lock held by mdb_load, in a transaction it will abort

my $hold = QLMRun::hold_writer_lock($store);
sleep 0.5;

my $held = time;
my $ok = 0;
$ok += (call() == 200) for 1 .. $events;
is($ok, $events, "$events calls answered while the store's writer lock is "
                 . 'held');

is(wait_got(1 + $events, 3), 1 + $events,
   'their webhooks arrived with no commit possible');
cmp_ok(time - $held, '<', 4.5, 'all within the hold');

# an event's line once it is stored: "queued for 1 URL", or "stored for 1
# URL, delivered before its commit" when it never waited in the queue

my $stored = qr/event \S+ (?:queued|stored) for 1 URL/;
my $queued_during = $run->count($stored);

isnt(QLMRun::release_writer_lock($hold), 0,
     'mdb_load aborted its transaction');

# the commits made once the lock is free record the deliveries

my ($delivered, $summary) = (0, {});
my $deadline = time + 10;

while (time < $deadline) {
    my $out = `$tool -j $store log --outcome delivered 2>/dev/null`;
    my $recs = eval { decode_json($out) } || [];
    $delivered = $recs;
    last if @$recs >= 1 + $events;
    sleep 0.1;
}

is(scalar @$delivered, 1 + $events, 'a "delivered" log record an event');
is(scalar(grep { ($_->{item_id} // 0) > 0 } @$delivered), 1 + $events,
   'each with its item\'s id');

my %ids = map { $_->{event_id} => 1 } @$delivered;
is(scalar keys %ids, 1 + $events, 'for distinct events');

cmp_ok($queued_during, '<=', 1, 'no event of the hold stored during it');
ok($run->wait_log($stored, 1 + $events, 5),
   'each event stored once the lock was free');

$summary = decode_json(`$tool -j $store summary`);
is($summary->{queued}, 0, 'nothing left queued');
is($summary->{counters}{delivered}, 1 + $events, 'delivered counted once an event');

sleep 1;
my $got = got();
is(scalar(grep { $_ != 1 } values %$got), 0, 'no event delivered twice');

is($run->count(qr/recording the attempt|lost|\[alert\]|\[crit\]/), 0,
   'every attempt recorded, nothing lost, no alert');

# Then a burst from parallel clients: commits come at most every 2 ms, and
# the deliveries answered before their event's commit are recorded in it
# (the item never stored).  Whatever way each went, every event is stored
# once, delivered once and has one log record with an id of its own.

my ($clients, $each) = (8, 50);
my @kids;

for my $c (1 .. $clients) {
    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        my $ok = 0;
        for (1 .. $each) {
            my ($status) = $run->get('/qlm/qlmservice.asmx/GetActivationKey');
            $ok++ if $status == 200;
        }
        POSIX::_exit($ok == $each ? 0 : 1);
    }

    push @kids, $pid;
}

my $failed = 0;
for (@kids) {
    waitpid($_, 0);
    $failed++ if $?;
}

my $total = 1 + $events + $clients * $each;

is($failed, 0, "the burst's " . $clients * $each . ' calls answered');
is(wait_got($total, 20), $total, 'their webhooks arrived');

$deadline = time + 20;
while (time < $deadline) {
    $summary = decode_json(`$tool -j $store summary`);
    last if ($summary->{counters}{delivered} // 0) >= $total
            && $summary->{queued} == 0;
    sleep 0.1;
}

is($summary->{counters}{enqueued}, $total, 'each event stored once');
is($summary->{counters}{delivered}, $total, 'each delivery counted once');
is($summary->{queued}, 0, 'nothing left queued');
is($summary->{log_records}, $total, 'a log record a delivery');

is($run->count($stored), $total, 'a "queued" or "stored" line an event');
is($run->count(qr/event \S+ stored for 1 URL, delivered before its commit/)
   + $run->count(qr/event \S+ queued for 1 URL$/m), $total,
   'in either of its two forms');

my $out = `$tool -j $store log --outcome delivered 2>&1`;
my $recs = eval { decode_json($out) };
ok($recs, 'qlm-store -j log prints the records')
    or diag("exit status $?, " . length($out) . " bytes: "
            . substr($out, 0, 300));
my %items = map { $_->{item_id} => 1 }
            grep { $_->{item_id} } @{ $recs || [] };
is(scalar keys %items, $total, 'each record with an item id of its own');

sleep 1;
$got = got();
is(scalar(grep { $_ != 1 } values %$got), 0, 'no event delivered twice');

is($run->count(qr/recording the attempt|lost|\[alert\]|\[crit\]/), 0,
   'every attempt recorded, nothing lost, no alert');

$run->stop;

done_testing();
