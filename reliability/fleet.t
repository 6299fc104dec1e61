# A fleet on one PostgreSQL (issue 15): three nginx (nodes a, b and c, 2
# workers each, each its own local spool) share one queue in PostgreSQL.
# 10,000 license calls (QLM_FLEET_EVENTS for a quick run) from 4 clients
# go round the three, while a worker is killed with SIGKILL every few
# hundred ms, and the whole of node b (master and workers) once, when a
# third of the calls are answered; b stays down until two thirds are,
# then starts again on its spool, which drains into PostgreSQL.
#
# Every call that got its whole answer had its event committed to its
# node's spool first, so each is delivered at least once: 0 lost.  A copy
# more comes only from work a killed worker had under way:
#   - deliveries it had claimed from PostgreSQL and started, or made but
#     whose outcome it had not written back yet: the lease expires and
#     another worker makes them again, at most qlm_webhook_concurrency;
#   - one forward batch (64 events) that PostgreSQL committed but the
#     spool had not acknowledged: forwarded again after the spool's lease,
#     a second row if the first was delivered and gone meanwhile.
# So duplicates <= (concurrency + 64) x (workers killed + 2 a node kill).
# The work is shared: qlm_log in PostgreSQL shows deliveries by each node.
#
# The license server and the receiver are a fourth nginx that is never
# killed; the receiver logs each delivery's X-QLM-Event-Id and the call's
# number (the payload's Comment field).
#
# Ports: QLMRun::base_port() and the next four; PostgreSQL on
# QLM_PG_TEST_PORT (3260).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use POSIX qw(_exit WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);
use QLMRun;

plan skip_all => 'no PostgreSQL server (Debian package postgresql)'
    unless QLMRun::PG::installed();

my $events = $ENV{QLM_FLEET_EVENTS} || 10000;
my $rate = $ENV{QLM_FLEET_RATE} || 250;
my $clients = 4;
my $concurrency = 8;
my $forward_batch = 64;
my $max_worker_kills = 400;

my ($ls, $rcv) = (QLMRun::port_at(1), QLMRun::port_at(2));
my @ports = (QLMRun::port_at(0), QLMRun::port_at(3), QLMRun::port_at(4));
my @names = qw(a b c);

my $pg = eval { QLMRun::PG->new(port => $ENV{QLM_PG_TEST_PORT} || 3260) };
# installed but not starting is a failure, not a skip
ok($pg, 'PostgreSQL runs, with the schema') or do {
    diag($@);
    done_testing();
    exit 1;
};

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

my @nodes;

# before global destruction, which may remove a prefix (and its pid file)
# before the nginx in it is stopped
END {
    $_->stop for grep { defined } @nodes, $peer;
    $pg->stop if $pg;
}

for my $i (0 .. 2) {
    my $run = QLMRun->new(workers => 2, port => $ports[$i]);
    my $store = $pg->store('PREFIX/spool', $names[$i]);

    $run->write_conf(<<"_EOC_");
    error_log PREFIX/logs/error.log info;

    qlm_webhook_store $store;
    qlm_webhook_secret fleet-secret;
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
    is($rc, 0, "node $names[$i]: nginx -t") or diag($out);
    ok($run->start, "node $names[$i] starts with 2 workers");

    push @nodes, $run;
}

my $start = time;
my $deadline = $start + 150;

# A client: calls with numbers of its own, at $rate / $clients a second,
# each to the next node (the one after if that one is down), until it has
# $quota whole answers; writes "n WHOLE" or "n CUT" for each call it made.

sub client {
    my ($c, $quota) = @_;

    open my $log, '>', $peer->prefix . "/client-$c.log" or _exit(1);
    $log->autoflush(1);

    my ($whole, $i) = (0, 0);

    while ($whole < $quota && $i < 3 * $quota && time < $deadline) {
        my $n = $c * 1000000 + ++$i;
        my $due = $start + $i * $clients / $rate;

        sleep $due - time if $due > time;

        my $s;
        for my $k (0 .. 2) {
            $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                       PeerPort => $ports[($i + $c + $k) % 3],
                                       Proto => 'tcp', Timeout => 3)
                and last;
        }

        if (!$s) {
            # no node up: this number was never sent
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
        open my $fh, '<', $peer->prefix . "/client-$c.log" or next;
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

sub spool_queued {
    my $run = shift;

    my $tool = QLMRun::PG::store_tool();
    return -1 unless -x $tool;

    my $summary = qx{$tool --json ${\ $run->prefix}/spool summary 2>&1};
    return $summary =~ /"queued":\s*(\d+)/ ? $1 : -1;
}

# the killer: a worker of a node that runs every 200-500 ms; node b whole
# at a third of the calls, started again at two thirds

my $nb = $nodes[1];
my ($worker_kills, $node_kills, $restart_failed, $b_down) = (0, 0, 0, 0);
my ($b_spooled, $b_down_for) = (-1, 0);
my $running = @kids;

while ($running && time < $deadline + 10) {
    sleep 0.2 + rand 0.3;

    $running = grep { waitpid($_, WNOHANG) == 0 } @kids;
    @kids = grep { kill 0, $_ } @kids;

    my $done = whole(calls());

    if ($node_kills == 0 && $done >= $events / 3) {
        my $master = $nb->master_pid;
        my @workers = $nb->worker_pids;

        # workers outlive a killed master: a crash of nginx ends them too
        kill 'KILL', $master, @workers;

        for (1 .. 100) {
            last unless grep { $nb->alive($_) } $master, @workers;
            sleep 0.02;
        }

        $node_kills++;
        $b_down = time;
        next;
    }

    # down for 5 s at least, however quick the run
    if ($b_down && (($done >= 2 * $events / 3 && time > $b_down + 5)
                    || !$running))
    {
        # what b had not forwarded when it died waits in its spool
        $b_spooled = spool_queued($nb);
        $b_down_for = time - $b_down;
        $restart_failed++ unless $nb->start;
        $b_down = 0;
        next;
    }

    next if $worker_kills >= $max_worker_kills;

    my @workers = map { $_->worker_pids } $b_down ? @nodes[0, 2] : @nodes;
    next unless @workers;

    kill 'KILL', $workers[int rand @workers] and $worker_kills++;
}

waitpid($_, 0) for @kids;

if ($b_down) {
    $b_spooled = spool_queued($nb);
    $b_down_for = time - $b_down;
    $restart_failed++ unless $nb->start;
}

my $calls = calls();
my @whole = grep { $calls->{$_} eq 'WHOLE' } keys %$calls;
my $cut = keys(%$calls) - @whole;

is($node_kills, 1, 'node b was killed whole once');
is($restart_failed, 0, 'node b started again on its spool');
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

# every whole answer's event delivered: bounded by the lease (6 s in
# PostgreSQL), the retries and the backlog

my $settle = time + 90;
my ($ids, $byn, $total, @missing);

while (1) {
    ($ids, $byn, $total) = deliveries();
    @missing = grep { !$byn->{$_} } @whole;
    last if !@missing || time > $settle;
    sleep 0.5;
}

# then the spools empty: a forward that PostgreSQL committed but a killed
# worker did not acknowledge goes again after the spool's lease (30 s);
# and the queue too

my $empty = time + 60;

while (time < $empty) {
    my ($q) = map { $_->[0] } $pg->sql('SELECT count(*) FROM qlm_queue');
    last if $q == 0 && !grep { spool_queued($_) > 0 } @nodes;
    sleep 1;
}

# then longer than a lease and a timeout, so that a late copy is counted
sleep 8;
($ids, $byn, $total) = deliveries();
@missing = grep { !$byn->{$_} } @whole;

my $elapsed = time - $start;
my $distinct = keys %$ids;
my $dups = $total - $distinct;
my $kills = $worker_kills + 2 * $node_kills;
my $bound = ($concurrency + $forward_batch) * $kills;
my @twice = grep { keys %{ $byn->{$_} } > 1 } keys %$byn;

my %by_node = map { $_->[0] => $_->[1] }
              $pg->sql('SELECT node, count(*) FROM qlm_log '
                       . 'WHERE outcome = 1 GROUP BY node');
my ($queued) = map { $_->[0] } $pg->sql('SELECT count(*) FROM qlm_queue');
my ($dead) = map { $_->[0] } $pg->sql('SELECT count(*) FROM qlm_dead');

note(sprintf "events %d (whole answers), calls cut %d, delivered %d "
             . "(distinct ids %d), duplicates %d (bound %d), lost %d, "
             . "kills: %d workers + %d node, node b down %.1f s with %d "
             . "events in its spool, time %.1f s",
             scalar @whole, $cut, $total, $distinct, $dups, $bound,
             scalar @missing, $worker_kills, $node_kills, $b_down_for,
             $b_spooled, $elapsed);
note('deliveries by node (qlm_log): '
     . join(', ', map { "$_ " . ($by_node{$_} // 0) } @names));

is(scalar @missing, 0, 'every whole answer\'s event was delivered: 0 lost')
    or diag('lost: ' . join(' ', (sort @missing)[0 .. 9]));
cmp_ok($dups, '<=', $bound,
       'duplicates bounded by the work under way at the kills');
is(scalar @twice, 0, 'no call produced two events') or diag("@twice[0..4]");

for my $name (@names) {
    cmp_ok($by_node{$name} // 0, '>', 0,
           "node $name made deliveries (qlm_log.node)");
}

is($queued, 0, 'nothing left in qlm_queue');
is($dead, 0, 'no dead letter in qlm_dead');

for my $i (0 .. 2) {
    my $left = spool_queued($nodes[$i]);

    SKIP: {
        skip 'qlm-store not built', 1 if $left < 0;
        is($left, 0, "node $names[$i]: its spool is empty");
    }

    # the master reports each killed worker; nothing else is alarming
    my @alarms = grep { !/exited on signal 9/ }
                 $nodes[$i]->error_log =~ /^.*\[(?:alert|crit|emerg)\].*$/mg;
    is(scalar @alarms, 0,
       "node $names[$i]: no alert, crit or emerg but the killed workers")
        or diag(join "\n", @alarms[0 .. ($#alarms < 9 ? $#alarms : 9)]);
}

$_->stop for @nodes;
$peer->stop;
$pg->stop;

done_testing();
