# PostgreSQL restarted under load (issue 15): one nginx (2 workers) on a
# PostgreSQL store; license calls at a steady rate for about 15 s
# (QLM_PG_RESTART_SECS); 5 s in, PostgreSQL is stopped (pg_ctl stop -m
# fast) and 5 s later started again on the same data.
#
# License traffic never waits on the database: events go to the local
# spool first.  So every call is answered 200 with the license server's
# bytes, nothing is lost (all events are delivered once PostgreSQL is
# back, within a bounded wait), the error log says so in a rate-limited
# line (once every 10 s a worker, not once a failure), and the calls
# during the outage are about as fast as before it.  The p99 of client
# timings on 2 shared cores is noisy: both figures are printed, and the
# test asserts the outage's is within 3x of the one before (issue 15 asks
# "unchanged", 1.5x as a target) or within 5 ms of it.
#
# Ports: QLMRun::base_port() and the next two; PostgreSQL on
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

my $secs = $ENV{QLM_PG_RESTART_SECS} || 15;
my $rate = $ENV{QLM_PG_RESTART_RATE} || 100;
my $clients = 2;
my $stop_at = $secs / 3;
my $outage = $secs / 3;

my ($ls, $rcv) = (QLMRun::port_at(1), QLMRun::port_at(2));

my $pg = eval { QLMRun::PG->new(port => $ENV{QLM_PG_TEST_PORT} || 3260) };
# installed but not starting is a failure, not a skip
ok($pg, 'PostgreSQL runs, with the schema') or do {
    diag($@);
    done_testing();
    exit 1;
};

my $peer = QLMRun->new(workers => 1, port => $ls);
my $hooks = $peer->prefix . '/logs/hooks.log';

$peer->write_conf(<<"_EOC_");
    error_log PREFIX/logs/error.log notice;

    log_format ids escape=json
        'HOOK \$status \$http_x_qlm_event_id \$request_body';

    server {
        listen 127.0.0.1:PORT;
        location / {
            return 200 '<QuickLicenseManager><pckey>K\$arg_n</pckey></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$rcv;

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
my $store = $pg->store('PREFIX/spool', 'n1');

END {
    $_->stop for grep { defined } $run, $peer;
    $pg->stop if $pg;
}

$run->write_conf(<<"_EOC_");
    error_log PREFIX/logs/error.log info;

    qlm_webhook_store $store;
    qlm_webhook_secret restart-secret;
    qlm_webhook_retry_interval 500ms;
    qlm_webhook_max_retries 1000;
    qlm_webhook_timeout 3s;
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
ok($run->wait_log(qr/connected to PostgreSQL/, 2, 10),
   'both workers connected to PostgreSQL');

my $start = time;

# A client: a call every $clients / $rate s for $secs s; writes "n start
# ms WHOLE|CUT" for each, start and ms from its own clock (Time::HiRes)

sub client {
    my $c = shift;

    open my $log, '>', $run->prefix . "/client-$c.log" or _exit(1);
    $log->autoflush(1);

    my $i = 0;

    while (time < $start + $secs) {
        my $n = $c * 1000000 + ++$i;
        my $due = $start + ($i - 1) * $clients / $rate + ($c - 1) / $rate;

        sleep $due - time if $due > time;

        my $t0 = time;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $run->port,
                                      Proto => 'tcp', Timeout => 3);
        my $res = '';

        if ($s) {
            print $s "GET /qlm/qlmservice.asmx/GetActivationKey?n=$n "
                     . "HTTP/1.0\r\nHost: localhost\r\n\r\n";

            my $until = time + 5;
            while (time < $until) {
                my $r = sysread($s, my $buf, 65536);
                last unless $r;
                $res .= $buf;
            }
            close $s;
        }

        my $ms = (time - $t0) * 1000;
        my $body = "<QuickLicenseManager><pckey>K$n</pckey>"
                   . "</QuickLicenseManager>";
        my $whole = $res =~ m{^HTTP/1\.\d 200 .*\r\n\r\n\Q$body\E\z}s;

        printf $log "%d %.4f %.3f %s\n", $n, $t0 - $start, $ms,
               $whole ? 'WHOLE' : 'CUT';
    }

    _exit(0);
}

my @kids;
for my $c (1 .. $clients) {
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    client($c) if $pid == 0;
    push @kids, $pid;
}

# the outage: PostgreSQL stopped (fast), then started on the same data

sleep $start + $stop_at - time;
my $down = time - $start;
my $stopped = $pg->stop;
my $stop_took = time - $start - $down;

sleep $start + $stop_at + $outage - time if $start + $stop_at + $outage > time;
my $again = $pg->start_again;
my $up = time - $start;

ok($stopped, sprintf 'PostgreSQL stopped at %.1f s (in %.2f s)',
   $down, $stop_took);
ok($again, sprintf 'PostgreSQL started again at %.1f s', $up);

for my $pid (@kids) {
    for (1 .. 200) {
        last if waitpid($pid, WNOHANG) != 0;
        sleep 0.1;
    }
}

my (@calls, %whole);

for my $c (1 .. $clients) {
    open my $fh, '<', $run->prefix . "/client-$c.log" or next;
    while (<$fh>) {
        my ($n, $t, $ms, $what) = split;
        push @calls, [$n, $t, $ms, $what];
        $whole{$n} = 1 if $what eq 'WHOLE';
    }
    close $fh;
}

cmp_ok(scalar @calls, '>=', $secs * $rate * 0.8,
       'the clients kept their rate');
is(scalar(keys %whole), scalar @calls,
   'every call was answered 200 with the license server\'s bytes');

# p99 of the calls started in a window
sub p99 {
    my ($from, $to) = @_;

    my @ms = sort { $a <=> $b }
             map { $_->[2] } grep { $_->[1] >= $from && $_->[1] < $to } @calls;
    return (0, 0) unless @ms;

    return ($ms[int(0.99 * $#ms + 0.5)], scalar @ms);
}

# before: after a second of warm-up; during: from the stop to the start
my ($p99_before, $n_before) = p99(1, $down);
my ($p99_during, $n_during) = p99($down, $up);
my ($p99_after, $n_after) = p99($up, $secs);

note(sprintf "license p99: before %.2f ms (%d calls), during the outage "
             . "%.2f ms (%d calls, x%.2f), after %.2f ms (%d calls)",
             $p99_before, $n_before, $p99_during, $n_during,
             $p99_before ? $p99_during / $p99_before : 0,
             $p99_after, $n_after);

ok($p99_during < 3 * $p99_before || $p99_during < $p99_before + 5,
   'license p99 during the outage within 3x (or 5 ms) of p99 before');

# every event delivered once PostgreSQL is back: bounded by a reconnect
# backoff (at most 10 s), the spool's lease (30 s) and the backlog

sub delivered {
    my %ids;

    open my $fh, '<', $hooks or return {};
    while (<$fh>) {
        $ids{$1}{$2} = 1
            if /^HOOK 200 (\S+) .*\\"Comment\\":\\"(\d+)\\"/;
    }
    close $fh;

    my %byn;
    for my $id (keys %ids) {
        $byn{$_}++ for keys %{ $ids{$id} };
    }

    return (\%byn, scalar keys %ids);
}

my ($byn, $distinct, @missing);
my $settle = time + 60;

while (1) {
    ($byn, $distinct) = delivered();
    @missing = grep { !$byn->{$_} } keys %whole;
    last if !@missing || time > $settle;
    sleep 0.5;
}

my $took = time - $start - $up;

is(scalar @missing, 0,
   sprintf 'every event delivered once PostgreSQL was back (%.1f s after)',
   $took)
    or diag('lost: ' . join(' ', (sort @missing)[0 .. 9]));

my @twice = grep { $byn->{$_} > 1 } keys %$byn;
is(scalar @twice, 0, 'no call produced two events');

my $log = $run->error_log;
my $failed = () = $log =~ /\[error\] .*PostgreSQL \S+ failed: /g;
my $outage_s = $up - $down;

# a line a worker at the loss, then at most one every 10 s
my $max_lines = 2 * (2 + int($outage_s / 10));

note("\"PostgreSQL ... failed\" lines: $failed (at most $max_lines)");
cmp_ok($failed, '>=', 1, 'the outage is in the error log');
cmp_ok($failed, '<=', $max_lines, 'the error is rate-limited');

# libpq's reason, readable and on one line
like($log, qr/PostgreSQL connection failed: [\x20-\x7e]+; events are kept /,
     'the error says why, in one line');

my ($queued) = map { $_->[0] } $pg->sql('SELECT count(*) FROM qlm_queue');
is($queued, 0, 'nothing left in qlm_queue');

my @alarms = $log =~ /^.*\[(?:alert|crit|emerg)\].*$/mg;
is(scalar @alarms, 0, 'no alert, crit or emerg')
    or diag(join "\n", @alarms[0 .. ($#alarms < 9 ? $#alarms : 9)]);

$run->stop;
$peer->stop;
$pg->stop;

done_testing();
