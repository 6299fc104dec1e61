# QUIT and TERM with deliveries in flight: 20 events, a receiver that takes
# 2 s to answer, 2 workers with 4 deliveries each at a time.  The signal
# comes while deliveries are in flight.  Nothing is lost: what was queued
# and what was in flight is delivered after a restart (or, for QUIT,
# before the worker exits); duplicates are bounded by what was in flight.
# The figures are printed as notes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use QLMRun;

my ($ls, $rcv) = map { QLMRun::port_at($_) } 1 .. 2;
my $events = 20;

my $run = QLMRun->new(workers => 2);

sub conf {
    my ($store) = @_;

    $run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/$store sync=on;
    qlm_webhook_secret shutdown-secret;
    qlm_webhook_retry_interval 300ms;
    qlm_webhook_max_retries 100;
    qlm_webhook_timeout 10s;
    qlm_webhook_concurrency 4;
    qlm_webhook_url license_created http://127.0.0.1:$rcv/hook;

@{[ QLMRun::servers($ls) ]}
_EOC_
}

sub lines {
    my ($file, $re) = @_;
    my %n;

    open my $fh, '<', $file or return {};
    while (<$fh>) {
        $n{$1}++ if /$re/;
    }
    close $fh;

    return \%n;
}

sub delivered {
    my %n;

    for my $line (split /\n/, $run->error_log) {
        $n{$1}++ if $line =~ /"license_created" event (\S+) to \S+ delivered:/;
    }

    return \%n;
}

sub wait_for {
    my ($secs, $cond) = @_;
    my $deadline = time + $secs;

    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.02;
    }

    return $cond->();
}

for my $sig (qw(QUIT TERM)) {
    my $log = $run->prefix . "/receiver-$sig.log";

    conf("store-$sig");

    $run->receiver(port => $rcv, delay => 2, log => $log, life => 40);
    ok($run->start, "$sig: nginx starts");

    my $ok = 0;
    for (1 .. $events) {
        my ($status) = $run->get('/qlm/qlmservice.asmx/GetActivationKey');
        $ok++ if $status == 200;
    }
    is($ok, $events, "$sig: $events license calls answered");

    ok(wait_for(5, sub { keys %{ lines($log, qr/^GOT (\S+)/) } >= 4 }),
       "$sig: deliveries in flight");

    my $master = $run->master_pid;
    my $t0 = time;
    kill $sig, $master;

    my $gone = wait_for(15, sub { !$run->alive($master) });
    my $took = time - $t0;
    ok($gone, "$sig: nginx exited");

    my $got = lines($log, qr/^GOT (\S+)/);
    my $before = delivered();
    my $in_flight = grep { !$before->{$_} } keys %$got;

    note(sprintf "%s: exited in %.2f s; at exit %d events had reached the "
         . "receiver, %d recorded as delivered, %d in flight handed back",
         $sig, $took, scalar keys %$got, scalar keys %$before, $in_flight);

    if ($sig eq 'QUIT') {
        # QUIT ends within the 10 s attempt timeout: finished or handed back
        ok($took < 10, 'QUIT: the workers did not wait past the timeout');
    }

    # restart: the queue and the handed-back deliveries go out

    sleep 2.5;    # the receiver's answers in progress are written
    $run->stop_receivers;
    $run->receiver(port => $rcv, delay => 0, log => $log, life => 30);

    ok($run->start, "$sig: nginx starts again on the same store");

    ok(wait_for(20, sub { keys %{ delivered() } >= $events }),
       "$sig: every event recorded as delivered after the restart");

    my $all = delivered();
    my $ans = lines($log, qr/^ANS (\S+)/);
    my @dups = grep { $ans->{$_} > 1 } keys %$ans;

    is(scalar keys %$all, $events, "$sig: $events distinct events delivered");
    is(scalar(grep { !$ans->{$_} } keys %$all), 0,
       "$sig: each reached the receiver");
    ok(@dups <= $in_flight,
       "$sig: duplicates (" . scalar(@dups) . ") bounded by the $in_flight "
       . "in flight");

    note(sprintf "%s: %d delivered, %d answered twice by the receiver "
         . "(in flight when the signal came)", $sig, scalar keys %$all,
         scalar @dups);

    unlike($run->error_log, qr/\[(crit|emerg)\]/, "$sig: no crit or emerg");

    $run->stop;
    $run->stop_receivers;

    # the next round's error.log starts empty
    unlink $run->prefix . '/logs/error.log';
}

done_testing();
