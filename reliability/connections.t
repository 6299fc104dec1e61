# libcurl's sockets are nginx connections: when worker_connections runs
# out, deliveries must not take the last ones from license traffic.  One
# worker with worker_connections 32, qlm_webhook_concurrency 100, and a
# receiver that holds every webhook for 3 s: license calls go on being
# answered while deliveries hold connections, and every event is delivered
# once the receiver answers.  The figures are printed as notes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use QLMRun;

my ($ls, $rcv) = map { QLMRun::port_at($_) } 1 .. 2;
my $events = 60;

my $run = QLMRun->new(workers => 1, worker_connections => 32);
my $log = $run->prefix . '/receiver.log';

$run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/store;
    qlm_webhook_secret connections-secret;
    qlm_webhook_retry_interval 300ms;
    qlm_webhook_max_retries 1000;
    qlm_webhook_timeout 5s;
    qlm_webhook_concurrency 100;
    qlm_webhook_url license_created http://127.0.0.1:$rcv/hook;

@{[ QLMRun::servers($ls) ]}
_EOC_

sub lines {
    my ($re) = @_;
    my %n;

    open my $fh, '<', $log or return {};
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

# license calls, one after the other: (answered, slowest in ms)
sub license_calls {
    my ($n) = @_;
    my ($ok, $max) = (0, 0);

    for (1 .. $n) {
        my $t0 = time;
        my ($status) = $run->get('/qlm/qlmservice.asmx/GetActivationKey');
        my $ms = (time - $t0) * 1000;

        $ok++ if $status == 200;
        $max = $ms if $ms > $max;
    }

    return ($ok, $max);
}

$run->receiver(port => $rcv, delay => 3, log => $log, life => 60);

ok($run->start, 'nginx starts with worker_connections 32');

my ($ok, $max) = license_calls($events);
is($ok, $events, "$events license calls answered while deliveries start");
note(sprintf "first $events calls: %d answered, slowest %.0f ms", $ok, $max);

# the deliveries now hold what connections they could get

sleep 1;

my $held = keys %{ lines(qr/^GOT (\S+)/) };
note("deliveries held by the receiver: $held");
ok($held > 0, 'deliveries are in flight');

($ok, $max) = license_calls(20);
is($ok, 20, '20 license calls answered while the connections are taken');
note(sprintf "20 calls during the hold: %d answered, slowest %.0f ms",
             $ok, $max);

# every answered call emitted an event
my $total = $events + 20;

my $t0 = time;
my $deadline = time + 45;
sleep 0.2 while time < $deadline && keys %{ delivered() } < $total;

my $all = delivered();
is(scalar keys %$all, $total, "all $total events delivered");
is(scalar(grep { $all->{$_} > 1 } keys %$all), 0, 'each once');

my $not_enough = $run->count(qr/worker_connections are not enough/);
my $failed = $run->count(qr/"license_created" event \S+ to \S+ failed/);

note(sprintf "all delivered %.1f s after the hold; %d \"worker_connections "
     . "are not enough\" lines, %d failed attempts", time - $t0,
     $not_enough, $failed);

unlike($run->error_log, qr/\[(crit|emerg)\]/, 'no crit or emerg');

$run->stop;
$run->stop_receivers;

done_testing();
