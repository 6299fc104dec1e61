# Events queued while the receiver fails survive a stop and a start of
# nginx, and go out, with their ids, once the receiver answers.  A worker
# killed in the middle of a delivery leaves a lease that expires, and
# another worker delivers the event.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep time);
use QLMRun;

my ($ls, $rcv, $hold) = map { QLMRun::port_at($_) } 1 .. 3;

my $run = QLMRun->new(workers => 2, port => QLMRun::base_port());

sub conf {
    my ($answer, $url) = @_;

    $run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/store sync=on;
    qlm_webhook_secret restart-secret;
    qlm_webhook_retry_interval 300ms;
    qlm_webhook_max_retries 1000;
    qlm_webhook_timeout 1s;
    # every event is attempted while the receiver fails: no circuit
    qlm_webhook_breaker 0;
    qlm_webhook_url license_created $url;

    log_format hook 'HOOK \$status \$http_x_qlm_event_id \$http_x_qlm_delivery_attempt';

@{[ QLMRun::servers($ls, $rcv, $answer) ]}
_EOC_
}

sub ids {
    my $status = shift;
    my %ids;

    for my $line (split /\n/, $run->error_log) {
        $ids{$1}++ if $line =~ /^HOOK $status (\S+) \d+$/;
    }

    return \%ids;
}

# 1. the receiver fails: the events wait in the queue

conf(503, "http://127.0.0.1:$rcv/hook");
ok($run->start, 'nginx starts with a failing receiver');

for (1 .. 10) {
    $run->get('/qlm/qlmservice.asmx/GetActivationKey');
}

ok($run->wait_log(qr/^HOOK 503 /m, 20, 10),
   'each event was attempted and retried');

my $failed = ids(503);
is(scalar keys %$failed, 10, '10 events failed at least once');

$run->stop;
ok(!$run->master_pid || !kill(0, $run->master_pid), 'nginx stopped');

my $store = $ENV{QLM_STORE_BUILD} && "$ENV{QLM_STORE_BUILD}/qlm-store";

SKIP: {
    skip 'qlm-store not built', 1 unless $store && -x $store;

    my $summary = qx{$store --json ${\ $run->prefix}/store summary};
    like($summary, qr/"queued":\s*10\b/, 'qlm-store: 10 items queued');
}

# 2. started again with a receiver that answers: every event goes out

conf(200, "http://127.0.0.1:$rcv/hook");
ok($run->start, 'nginx starts again');

ok($run->wait_log(qr/^HOOK 200 /m, 10, 10), '10 deliveries succeeded');

my $ok = ids(200);
is(join(',', sort keys %$ok), join(',', sort keys %$failed),
   'the same event ids, none lost');
is(scalar(grep { $ok->{$_} > 1 } keys %$ok), 0, 'none delivered twice');

$run->stop;

# 3. a worker killed in the middle of a delivery

# a receiver that holds its first connection open and answers the next
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $hold,
                                Listen => 8, ReuseAddr => 1, Proto => 'tcp')
    or die "listen $hold: $!";

my $child = fork;
die "fork: $!" unless defined $child;

if ($child == 0) {
    my (@held, $n);
    my $deadline = time + 20;

    open my $log, '>>', $run->prefix . '/holder.log' or _exit(1);
    $log->autoflush(1);

    while (time < $deadline) {
        my $c = $srv->accept or next;
        my $req = '';
        while ($req !~ /\r\n\r\n/ || length($req) < 10) {
            my $r = sysread($c, my $buf, 4096);
            last unless $r;
            $req .= $buf;
        }
        my ($id) = $req =~ /X-QLM-Event-Id: (\S+)/i;
        print $log "REQ $id\n";

        if (++$n == 1) {
            push @held, $c;
            next;
        }

        # the rest of the body, then the answer
        sleep 0.1;
        print $c "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                 . "Connection: close\r\n\r\n";
        close $c;
        print $log "OK $id\n";
        last;
    }

    _exit(0);
}

close $srv;

conf(200, "http://127.0.0.1:$hold/hook");
ok($run->start, 'nginx starts with a receiver that holds the first call');

$run->get('/qlm/qlmservice.asmx/GetActivationKey');

my $holder = $run->prefix . '/holder.log';
my $deadline = time + 5;
sleep 0.1 while time < $deadline && !-s $holder;

# the worker that sends is the one that logged "sending"
my @senders = $run->error_log =~ /\[debug\] (\d+)#\d+: qlm webhook: sending/g;
my $pid = $senders[-1];
ok($pid, "worker $pid is delivering");
ok(kill('KILL', $pid), 'worker killed with SIGKILL');

$deadline = time + 15;
my $text = '';
while (time < $deadline) {
    open my $fh, '<', $holder or last;
    local $/;
    $text = <$fh> // '';
    close $fh;
    last if $text =~ /^OK /m;
    sleep 0.2;
}

my @req = $text =~ /^REQ (\S+)$/mg;
my ($done) = $text =~ /^OK (\S+)$/m;

is(scalar @req, 2, 'the event was sent again after the lease expired');
is($req[0], $req[1], 'with the same event id');
is($done, $req[0], 'and delivered');

ok($run->wait_log(qr/qlm webhook: "license_created" event \S+ to \S+ delivered/,
                  11, 5), 'the delivery is logged by the other worker');

waitpid $child, 0;
$run->stop;

done_testing();
