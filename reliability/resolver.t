# Delivery to host names, through libcurl's resolver (the threaded one in
# Debian's libcurl: getaddrinfo() in a thread, /etc/hosts then DNS).  One
# event goes to three URLs: "localhost" (in /etc/hosts), a name the DNS
# server says does not exist, and a name it never answers.  License calls
# must stay fast all along, and QUIT must not hang on the silent name.
#
# The test runs in network and mount namespaces of its own (unshare, as
# root): its /etc/resolv.conf, bind-mounted there only, names a DNS server
# on 127.0.0.1:53 that this test runs; nothing outside is touched.  The
# figures are printed as notes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep time);

BEGIN {
    if (!$ENV{QLM_NETNS}) {
        if ($> != 0 || system('unshare --help >/dev/null 2>&1') != 0) {
            require Test::More;
            Test::More::plan(skip_all => 'needs root and unshare(1)');
        }

        $ENV{QLM_NETNS} = 1;
        exec('unshare', '--mount', '--net', '--propagation', 'private', '--',
             $^X, $0, @ARGV) or die "exec unshare: $!";
    }
}

use QLMRun;

system('ip', 'link', 'set', 'lo', 'up') == 0 or BAIL_OUT('ip link set lo up');

my ($ls, $rcv) = map { QLMRun::port_at($_) } 1 .. 2;

my $run = QLMRun->new(workers => 1);
my $prefix = $run->prefix;
my $dnslog = "$prefix/dns.log";

# glibc waits 5 s for the silent server: longer than an attempt (1 s)

open my $fh, '>', "$prefix/resolv.conf" or die $!;
print $fh "nameserver 127.0.0.1\noptions timeout:5 attempts:1\n";
close $fh;

system('mount', '--bind', "$prefix/resolv.conf", '/etc/resolv.conf') == 0
    or BAIL_OUT('mount --bind resolv.conf');

# the DNS server: NXDOMAIN for every name, except silence for "hang."

my $dns = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 53,
                                Proto => 'udp')
    or BAIL_OUT("udp 127.0.0.1:53: $!");

my $dns_pid = fork;
die "fork: $!" unless defined $dns_pid;

if ($dns_pid == 0) {
    my $deadline = time + 60;

    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($dns), 1) = 1;
        next unless select(my $rout = $rin, undef, undef, 0.5);

        my $peer = recv($dns, my $q, 512, 0);
        next unless defined $peer && length($q) > 12;

        # the question: labels from byte 12, then type and class
        my ($i, @labels) = (12);
        while ($i < length $q) {
            my $n = ord substr($q, $i, 1);
            last if $n == 0;
            push @labels, substr($q, $i + 1, $n);
            $i += $n + 1;
        }
        my $name = join '.', @labels;
        my $question = substr($q, 12, $i + 5 - 12);

        open my $log, '>>', $dnslog;
        print $log "Q $name\n";
        close $log;

        next if $name =~ /^hang\./;

        send($dns, substr($q, 0, 2) . pack('n4', 0x8183, 1, 0, 0) . "\0\0"
                   . $question, 0, $peer);
    }

    _exit(0);
}

close $dns;

END { kill 'KILL', $dns_pid if $dns_pid; }

my $urls = join ';', map { "http://$_:$rcv/hook" }
           qw(localhost nx.qlm.test hang.qlm.test);

$run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/store;
    qlm_webhook_secret resolver-secret;
    qlm_webhook_retry_interval 500ms;
    qlm_webhook_max_retries 1000;
    qlm_webhook_timeout 1s;
    qlm_webhook_url license_created "$urls";

    log_format hook 'HOOK \$http_x_qlm_event_id';

@{[ QLMRun::servers($ls, $rcv) ]}
_EOC_

sub queries {
    my ($re) = @_;

    open my $in, '<', $dnslog or return 0;
    my $n = grep { /$re/ } <$in>;
    close $in;

    return $n;
}

ok($run->start, 'nginx starts');

my ($status) = $run->get('/qlm/qlmservice.asmx/GetActivationKey');
is($status, 200, 'the license call that emits the event');

# license calls every 20 ms for 5 s, while the deliveries resolve

my ($calls, $ok, $max, $sum, $threads) = (0, 0, 0, 0, 0);
my ($worker) = $run->worker_pids;
my $end = time + 5;

# resolver threads left to end on their own after a timeout
sub threads {
    open my $st, '<', "/proc/$worker/status" or return 0;
    my ($n) = map { /^Threads:\s+(\d+)/ ? $1 : () } <$st>;
    close $st;
    return $n // 0;
}

while (time < $end) {
    my $th = threads();
    $threads = $th if $th > $threads;

    my $t0 = time;
    my ($st) = $run->get('/qlm/qlmservice.asmx/GetActivationKey');
    my $ms = (time - $t0) * 1000;

    $calls++;
    $ok++ if $st == 200;
    $sum += $ms;
    $max = $ms if $ms > $max;

    sleep 0.02;
}

is($ok, $calls, "$calls license calls answered while names resolve");
ok($max < 500, sprintf 'the slowest took %.0f ms', $max);

note(sprintf "license calls during 5 s of resolving: %d, mean %.1f ms, "
     . "slowest %.0f ms; the worker had up to %d threads", $calls,
     $sum / ($calls || 1), $max, $threads);

my $log = $run->error_log;

like($log, qr/to http:\/\/localhost:\d+\/hook delivered: status 200/,
     'localhost: delivered');

like($log, qr/to http:\/\/nx\.qlm\.test:\d+\/hook failed, will retry: .*[Cc]ould not resolve host/,
     'a name that does not exist: the attempt fails, to be retried');

like($log, qr/to http:\/\/hang\.qlm\.test:\d+\/hook failed, will retry: .*[Rr]esol/,
     'a name whose server never answers: the attempt times out');

my $nx = () = $log =~ /to http:\/\/nx\.qlm\.test\S+ failed/g;
my $hang = () = $log =~ /to http:\/\/hang\.qlm\.test\S+ failed/g;
my ($hang_err) = $log =~ /to http:\/\/hang\.qlm\.test\S+ failed, will retry: (.*)/;

note("attempts in 5 s: nx.qlm.test $nx failed, hang.qlm.test $hang failed"
     . " (" . ($hang_err // '-') . "); DNS queries: "
     . queries(qr/^Q nx\./) . " for nx, " . queries(qr/^Q hang\./)
     . " for hang");

# QUIT while a silent name is being resolved

my $master = $run->master_pid;
my $t0 = time;
kill 'QUIT', $master;

my $deadline = time + 15;
sleep 0.02 while time < $deadline && $run->alive($master);
my $took = time - $t0;

ok(!$run->alive($master), 'QUIT: nginx exited');
note(sprintf "QUIT with a silent name in flight: exited in %.2f s", $took);

unlike($run->error_log, qr/\[(crit|emerg)\]/, 'no crit or emerg');

done_testing();
