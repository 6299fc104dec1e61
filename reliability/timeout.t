# A receiver that accepts and never answers: each attempt ends at
# qlm_webhook_timeout, the concurrency cap holds, and license traffic is
# served at full speed meanwhile.

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

my ($ls, $hold) = (QLMRun::port_at(1), QLMRun::port_at(4));

my $run = QLMRun->new(workers => 1, port => QLMRun::base_port());

# the silent receiver: accepts, reads, never answers; counts connections
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $hold,
                                Listen => 64, ReuseAddr => 1, Proto => 'tcp')
    or die "listen $hold: $!";

my $count_file = $run->prefix . '/connections';

my $child = fork;
die "fork: $!" unless defined $child;

if ($child == 0) {
    my $sel = IO::Select->new($srv);
    my (@held, $max, $n);
    my $deadline = time + 12;

    $max = 0;

    while (time < $deadline) {
        for my $s ($sel->can_read(0.1)) {
            if ($s == $srv) {
                my $c = $srv->accept or next;
                push @held, $c;
                $sel->add($c);
                next;
            }

            my $r = sysread($s, my $buf, 65536);
            if (!$r) {
                $sel->remove($s);
                @held = grep { $_ != $s } @held;
                close $s;
            }
        }

        $n = scalar @held;
        $max = $n if $n > $max;

        open my $fh, '>', "$count_file.tmp" or _exit(1);
        print $fh "$max\n";
        close $fh;
        rename "$count_file.tmp", $count_file;
    }

    _exit(0);
}

close $srv;

$run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/store;
    qlm_webhook_timeout 1s;
    qlm_webhook_max_retries 0;
    qlm_webhook_concurrency 4;
    # the one receiver may take every slot: the worker's cap is measured
    qlm_webhook_url_concurrency 4;
    qlm_webhook_breaker 0;
    qlm_webhook_url license_created http://127.0.0.1:$hold/hook;

@{[ QLMRun::servers($ls) ]}
_EOC_

ok($run->start, 'nginx starts, one worker');

# baseline: license calls with no delivery pending are not measured here;
# what matters is that calls during hung deliveries stay fast

my ($worst, $ok) = (0, 0);

for (1 .. 12) {
    my $t0 = time;
    my ($status) = $run->get('/qlm/qlmservice.asmx/GetActivationKey');
    my $dt = time - $t0;
    $worst = $dt if $dt > $worst;
    $ok++ if $status == 200;
}

is($ok, 12, '12 license calls answered while their deliveries hang');
cmp_ok($worst, '<', 0.5,
       sprintf('the slowest license call took %.0f ms', $worst * 1000));

ok($run->wait_log(qr/moved to dead letters: status 0, \d+ ms, attempt 1, .*(timed out|Timeout)/,
                  12, 10),
   'each attempt ended at the timeout and went to the dead letters');

my @ms = $run->error_log =~ /moved to dead letters: status 0, (\d+) ms/g;
my @late = grep { $_ < 900 || $_ > 1900 } @ms;
is(scalar @late, 0, 'every attempt lasted about 1s (' . join(',', @ms) . ')');

open my $fh, '<', $count_file;
my $max = $fh ? <$fh> : 0;
chomp $max if defined $max;
is($max, 4, 'never more than qlm_webhook_concurrency (4) at once');

$run->stop;
kill 'TERM', $child;
waitpid $child, 0;

done_testing();
