# Crashes under load: 10,000 license calls (QLM_CRASH_EVENTS for a quick
# run) from 4 clients, 2 workers, while a worker is killed with SIGKILL
# every few hundred ms and the whole nginx (master and workers) twice, and
# started again on the same store.  Every call that got its whole answer
# had its event on disk first (sync=on: in the worker's journal, the
# answer's end held for it; a killed worker's journal is replayed by the
# next worker to start), so each such event is delivered at least once:
# 0 lost.  Duplicates come only from deliveries in flight in a killed
# worker: at most qlm_webhook_concurrency per worker killed.
#
# The license server and the receiver are a second nginx that is never
# killed; the receiver logs each delivery's X-QLM-Event-Id and the call's
# number (the payload's Comment field) in an access log.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use POSIX qw(_exit WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);
use QLMRun;

my $events = $ENV{QLM_CRASH_EVENTS} || 10000;

# calls a second, all clients together: the load lasts long enough for
# a hundred kills or so (unpaced, 10,000 calls take 5 s)
my $rate = $ENV{QLM_CRASH_RATE} || 250;
my $clients = 4;
my $concurrency = 8;
my $max_worker_kills = 400;

my ($ls, $rcv) = (QLMRun::port_at(1), QLMRun::port_at(2));

# the license server and the receiver: never killed
my $peer = QLMRun->new(workers => 1, port => $ls);
my $hooks = $peer->prefix . '/logs/hooks.log';

$peer->write_conf(<<"_EOC_");
    error_log PREFIX/logs/error.log notice;

    log_format ids escape=json
        'HOOK \$status \$http_x_qlm_event_id \$http_x_qlm_delivery_attempt '
        '\$request_body';

    server {
        listen 127.0.0.1:PORT;
        location / {
            return 200 '<QuickLicenseManager><pckey>K\$arg_n</pckey></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$rcv;

        # proxied to the sink so that the body is read and logged
        location = /hook {
            access_log $hooks ids;
            proxy_pass http://127.0.0.1:$rcv/sink;
        }

        location = /sink {
            return 200;
        }
    }
_EOC_

ok($peer->start, 'the license server and the receiver run');

my $run = QLMRun->new(workers => 2, port => QLMRun::base_port());

$run->write_conf(<<"_EOC_");
    error_log PREFIX/logs/error.log info;

    qlm_webhook_store PREFIX/store sync=on;
    qlm_webhook_secret crash-secret;
    qlm_webhook_retry_interval 500ms;
    qlm_webhook_max_retries 1000;
    qlm_webhook_timeout 3s;
    qlm_webhook_concurrency $concurrency;
    qlm_webhook_url license_created http://127.0.0.1:$rcv/hook;

    server {
        listen 127.0.0.1:PORT;
        location /qlm/ {
            proxy_pass http://127.0.0.1:$ls;
            qlm_webhook_emit license_created;
            qlm_webhook_field Comment \$arg_n;
        }
    }
_EOC_

my ($rc, $out) = $run->nginx('-t');
is($rc, 0, 'nginx -t') or diag($out);
ok($run->start, 'nginx starts with 2 workers');

my $start = time;
my $deadline = $start + 150;

# A client: calls with numbers of its own, at $rate / $clients a second,
# until it has $quota whole answers; writes "n WHOLE" or "n CUT" for each
# call it made.

sub client {
    my ($c, $quota) = @_;

    open my $log, '>', $run->prefix . "/client-$c.log" or _exit(1);
    $log->autoflush(1);

    my ($whole, $i) = (0, 0);

    while ($whole < $quota && $i < 3 * $quota && time < $deadline) {
        my $n = $c * 1000000 + ++$i;
        my $due = $start + $i * $clients / $rate;

        sleep $due - time if $due > time;

        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $run->port,
                                      Proto => 'tcp', Timeout => 3);
        if (!$s) {
            # nginx is down: this number was never sent
            sleep 0.02;
            next;
        }

        print $s "GET /qlm/qlmservice.asmx/GetActivationKey?n=$n HTTP/1.0"
                 . "\r\nHost: localhost\r\n\r\n";

        my $res = '';
        my $until = time + 5;
        while (time < $until) {
            my $r = sysread($s, my $buf, 65536);
            last unless $r;
            $res .= $buf;
        }
        close $s;

        my $body = "<QuickLicenseManager><pckey>K$n</pckey>"
                   . "</QuickLicenseManager>";

        if ($res =~ m{^HTTP/1\.\d 200 .*\r\n\r\n\Q$body\E\z}s) {
            $whole++;
            print $log "$n WHOLE\n";

        } else {
            print $log "$n CUT\n";
        }
    }

    _exit(0);
}

my @kids;
for my $c (1 .. $clients) {
    my $quota = int($events / $clients) + ($c <= $events % $clients ? 1 : 0);
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    client($c, $quota) if $pid == 0;
    push @kids, $pid;
}

sub calls {
    my %calls;

    for my $c (1 .. $clients) {
        open my $fh, '<', $run->prefix . "/client-$c.log" or next;
        while (<$fh>) {
            $calls{$1} = $2 if /^(\d+) (WHOLE|CUT)$/;
        }
        close $fh;
    }

    return \%calls;
}

sub whole {
    my $calls = shift;
    return scalar grep { $_ eq 'WHOLE' } values %$calls;
}

# the killer: a worker every 200-500 ms; all of nginx at a third and at
# two thirds of the calls, then started again on the same store

my ($worker_kills, $master_kills, $restart_failed) = (0, 0, 0);
my $running = @kids;

while ($running && time < $deadline + 10) {
    sleep 0.2 + rand 0.3;

    $running = grep { waitpid($_, WNOHANG) == 0 } @kids;
    @kids = grep { kill 0, $_ } @kids;

    my $done = whole(calls());

    if ($master_kills < 2 && $done >= ($master_kills + 1) * $events / 3) {
        my $master = $run->master_pid;
        my @workers = $run->worker_pids;

        # workers outlive a killed master: a crash of nginx ends them too
        kill 'KILL', $master, @workers;

        for (1 .. 100) {
            last unless grep { $run->alive($_) } $master, @workers;
            sleep 0.02;
        }

        $master_kills++;
        $restart_failed++ unless $run->start;
        next;
    }

    next if $worker_kills >= $max_worker_kills;

    my @workers = $run->worker_pids;
    next unless @workers;

    kill 'KILL', $workers[int rand @workers] and $worker_kills++;
}

waitpid($_, 0) for @kids;

my $calls = calls();
my @whole = grep { $calls->{$_} eq 'WHOLE' } keys %$calls;
my $cut = keys(%$calls) - @whole;

is($restart_failed, 0, 'nginx started again after each crash');
is($master_kills, 2, 'the master was killed twice');
# one kill every 350 ms on average: 2.8 a second of load, 1 is the floor
cmp_ok($worker_kills, '>=', int($events / $rate), 'workers were killed');
is(scalar @whole, $events, "$events calls got their whole answer");

# the receiver's log: "HOOK status id attempt {...\"Comment\":\"n\"...}"

sub deliveries {
    my (%ids, %n, $total);

    open my $fh, '<', $hooks or return ({}, {}, 0);
    while (<$fh>) {
        next unless /^HOOK 200 (\S+) \d+ .*\\"Comment\\":\\"(\d+)\\"/;
        $ids{$1}++;
        $n{$2}{$1} = 1;
        $total++;
    }
    close $fh;

    return (\%ids, \%n, $total // 0);
}

# every whole answer's event delivered: bounded by the lease (6 s), the
# retries and the backlog

my $settle = time + 60;
my ($ids, $byn, $total, @missing);

while (1) {
    ($ids, $byn, $total) = deliveries();
    @missing = grep { !$byn->{$_} } @whole;
    last if !@missing || time > $settle;
    sleep 0.5;
}

# then longer than a lease and a timeout, so that a late copy is counted
sleep 8;
($ids, $byn, $total) = deliveries();
@missing = grep { !$byn->{$_} } @whole;

my $elapsed = time - $start;
my $distinct = keys %$ids;
my $dups = $total - $distinct;
my $bound = $concurrency * ($worker_kills + 2 * $master_kills);
my @twice = grep { keys %{ $byn->{$_} } > 1 } keys %$byn;

note(sprintf "events %d (whole answers), calls cut %d, delivered %d "
             . "(distinct ids %d), duplicates %d (bound %d), lost %d, "
             . "kills: %d workers + %d masters, time %.1f s",
             scalar @whole, $cut, $total, $distinct, $dups, $bound,
             scalar @missing, $worker_kills, $master_kills, $elapsed);

is(scalar @missing, 0, 'every whole answer\'s event was delivered: 0 lost')
    or diag('lost: ' . join(' ', (sort @missing)[0 .. 9]));
cmp_ok($dups, '<=', $bound,
       'duplicates bounded by the deliveries in flight at the kills');
is(scalar @twice, 0, 'no call produced two events') or diag("@twice[0..4]");

my $store = $ENV{QLM_STORE_BUILD} && "$ENV{QLM_STORE_BUILD}/qlm-store";

SKIP: {
    skip 'qlm-store not built', 2 unless $store && -x $store;

    my $summary = qx{$store --json ${\ $run->prefix}/store summary};
    like($summary, qr/"queued":\s*0\b/, 'qlm-store: nothing left queued');
    like($summary, qr/"dead":\s*0\b/, 'qlm-store: no dead letter')
        or diag($summary);
}

# the master reports each killed worker; nothing else is alarming
my @alarms = grep { !/exited on signal 9/ }
             $run->error_log =~ /^.*\[(?:alert|crit|emerg)\].*$/mg;
is(scalar @alarms, 0, 'no alert, crit or emerg but the killed workers')
    or diag(join "\n", @alarms[0 .. ($#alarms < 9 ? $#alarms : 9)]);

# the journals of killed workers (sync=on), replayed by the next worker
# to start; a worker that stops removes its own

my $replayed = 0;
$replayed += $1 for $run->error_log
    =~ /qlm_webhook_store: (\d+) events? replayed from the journals/g;
note("events replayed from the journals of killed workers: $replayed");

$run->stop;
$peer->stop;

my @journals = glob($run->prefix . '/store/journal-*');
is(scalar @journals, 0, 'no journal left once nginx stopped')
    or diag("@journals");

done_testing();
