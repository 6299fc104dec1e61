# One receiver must not hold the others back.  500 events at about 100/s,
# each to a healthy receiver (`return 200`) and, in the second run, also to
# a receiver that accepts and never answers (qlm_webhook_timeout 5s): the
# healthy one must get at least 90% of what it gets alone in the same time.
# Per-URL limits, claims that pass over a receiver at its limit and the
# circuit breaker make it so.  The figures are printed as notes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep time);
use QLMRun;

my ($ls, $ok, $hold) = map { QLMRun::port_at($_) } 1 .. 3;
my ($events, $rate, $window) = (500, 100, 6);

# the silent receiver: accepts, reads, never answers, for a bounded time
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $hold,
                                Listen => 128, ReuseAddr => 1, Proto => 'tcp')
    or die "listen $hold: $!";

my $child = fork;
die "fork: $!" unless defined $child;

if ($child == 0) {
    my $sel = IO::Select->new($srv);
    my $deadline = time + 60;

    while (time < $deadline) {
        for my $s ($sel->can_read(0.1)) {
            if ($s == $srv) {
                my $c = $srv->accept or next;
                $sel->add($c);
                next;
            }

            my $r = sysread($s, my $buf, 65536);
            if (!$r) {
                $sel->remove($s);
                close $s;
            }
        }
    }

    _exit(0);
}

close $srv;

sub run_once {
    my ($urls) = @_;

    my $run = QLMRun->new(workers => 2);

    $run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/store;
    qlm_webhook_secret fairness-secret;
    qlm_webhook_timeout 5s;
    qlm_webhook_breaker 5;
    qlm_webhook_retry_interval 1s;
    qlm_webhook_max_retries 100;
    qlm_webhook_url license_created "$urls";

    server {
        listen 127.0.0.1:$ls;
        location / {
            return 200 '<QuickLicenseManager><pckey>K</pckey></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$ok;
        location / {
            return 200;
        }
    }

    server {
        listen 127.0.0.1:PORT;
        location /qlm/ {
            proxy_pass http://127.0.0.1:$ls;
            qlm_webhook_emit license_created;
        }
    }
_EOC_

    ok($run->start, 'nginx started') or return;

    my $t0 = time;
    my $answered = 0;

    for my $i (1 .. $events) {
        my ($status) = $run->get('/qlm/qlmservice.asmx/GetActivationKey');
        $answered++ if $status == 200;

        my $next = $t0 + $i / $rate;
        sleep($next - time) if $next > time;
    }

    my $sent = time - $t0;
    sleep($t0 + $window - time) if $t0 + $window > time;

    my $healthy = $run->count(qr{to http://127\.0\.0\.1:$ok/ok delivered:});
    my $bad = $run->count(qr{to http://127\.0\.0\.1:$hold/\S* failed});
    my $opened = $run->count(qr{circuit open});

    $run->stop;

    return { answered => $answered, sent => $sent, healthy => $healthy,
             bad => $bad, opened => $opened };
}

my $alone = run_once("http://127.0.0.1:$ok/ok");
my $both = run_once("http://127.0.0.1:$ok/ok;http://127.0.0.1:$hold/hold");

kill 'TERM', $child;
waitpid $child, 0;

for my $r (['alone', $alone], ['with the silent receiver', $both]) {
    my ($name, $f) = @$r;
    note(sprintf "%s: %d events sent in %.1f s (%d answered), %d delivered "
                 . "to the healthy receiver within %d s; attempts to the "
                 . "silent one failed: %d; circuit opened: %d",
                 $name, $events, $f->{sent}, $f->{answered}, $f->{healthy},
                 $window, $f->{bad}, $f->{opened});
}

is($alone->{answered}, $events, 'alone: every license call answered');
is($both->{answered}, $events, 'both: every license call answered');
cmp_ok($alone->{healthy}, '>', 0, 'alone: deliveries made');
cmp_ok($both->{healthy}, '>=', 0.9 * $alone->{healthy},
       'the healthy receiver keeps at least 90% of its rate alone');
cmp_ok($both->{opened}, '>=', 1, "the silent receiver's circuit opened");

done_testing();
