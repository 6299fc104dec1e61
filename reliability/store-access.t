# A store that the workers' user cannot reach.  The master runs as root and
# the workers as "nobody": nginx -t, start and reload refuse a store behind
# a directory that nobody cannot search, and name that directory.  A worker
# that cannot open the store all the same (the permissions changed after
# the master's check, then the worker was respawned) says so once, serves
# license traffic, retries the open with backoff, and delivers again once
# it can.  A reload refused for it leaves the master running.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use QLMRun;

plan skip_all => 'needs root: the workers run as "nobody"' if $> != 0;
plan skip_all => 'no user "nobody"' unless defined getpwnam('nobody');

my ($ls, $rcv) = map { QLMRun::port_at($_) } 1 .. 2;

# nobody's own group: "nogroup" on Debian, where there is no group "nobody"
my $group = getgrgid((getpwnam('nobody'))[3]) // 'nogroup';

my $run = QLMRun->new(workers => 1, user => "nobody $group");
my $prefix = $run->prefix;
my $private = "$prefix/private";

# the prefix (a tempdir, 0700) must let nobody through; "private" does not
chmod 0711, $prefix or die "chmod $prefix: $!";
mkdir $private, 0700 or die "mkdir $private: $!";

$run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/private/store;
    qlm_webhook_secret access-secret;
    qlm_webhook_retry_interval 500ms;
    qlm_webhook_url license_created http://127.0.0.1:$rcv/hook;

    log_format hook 'HOOK \$http_x_qlm_event_id';

@{[ QLMRun::servers($ls, $rcv) ]}
_EOC_

sub send_events {
    my $n = shift;
    my $ok = 0;

    for (1 .. $n) {
        my ($status) = $run->get('/qlm/qlmservice.asmx/GetActivationKey');
        $ok++ if $status == 200;
    }

    return $ok;
}

my $reach = qr/qlm_webhook_store: user "nobody" cannot reach "\Q$private\E\/store": no search permission on directory "\Q$private\E" \(mode 0700, owner 0:0\)/;

# 1. refused at nginx -t and at start, and nothing is created

my ($rc, $out) = $run->nginx('-t');
isnt($rc, 0, 'nginx -t fails');
like($out, $reach, 'nginx -t names the directory that stops the user');
note("nginx -t: " . join ' ', grep { /qlm_webhook_store/ } split /\n/, $out);

ok(!$run->start, 'nginx does not start');
ok(!-e "$private/store", 'no store directory was created');

# 2. with search permission: started, the worker opens the store

chmod 0711, $private or die "chmod $private: $!";

($rc, $out) = $run->nginx('-t');
is($rc, 0, 'nginx -t passes once nobody can search the directory')
    or diag($out);

ok($run->start, 'nginx starts');
ok($run->wait_log(qr/qlm webhook store "[^"]+" opened/, 1, 5),
   'the worker opened the store');

is(send_events(5), 5, '5 license calls answered');
ok($run->wait_log(qr/^HOOK /m, 5, 10), '5 deliveries arrived');

# 3. the permission goes away and the worker is respawned

chmod 0700, $private or die "chmod $private: $!";

my ($old) = $run->worker_pids;
BAIL_OUT('no worker') unless $old;
kill 'KILL', $old;

my $new;
for (1 .. 50) {
    sleep 0.1;
    ($new) = $run->worker_pids;
    last if $new && $new != $old;
}

ok($new && $new != $old, 'a new worker runs');

my $cannot = qr/\[alert\] \d+#\d+: qlm_webhook_store: cannot open "[^"]+": Permission denied, webhooks are disabled in this worker until it can, retrying/;

ok($run->wait_log($cannot, 1, 5), 'the new worker says it cannot open the store');

my $t0 = time;
is(send_events(50), 50, '50 license calls answered while the store is closed');
my $ms = (time - $t0) * 1000;

sleep 3.5;

is($run->count($cannot), 1, 'one alert, however many requests and retries');

my $retries = $run->count(qr/\[debug\] \d+#\d+: qlm_webhook_store: cannot open/);
ok($retries >= 2, "the open was retried ($retries retries so far)");

my $per_request = $run->count(qr/\[error\].*store is not open in this worker/);
note(sprintf "store closed: 50 license calls in %.0f ms, 1 alert, %d retries "
     . "in 3.5 s, %d per-request error lines", $ms, $retries, $per_request);

# 4. the permission comes back: the next retry opens it, deliveries resume

chmod 0711, $private or die "chmod $private: $!";

ok($run->wait_log(qr/qlm_webhook_store: "[^"]+" opened after \d+ retries/, 1,
                  70),
   'the worker opened the store on a retry');

my ($after) = $run->error_log =~ /opened after (\d+) retries/;
note("opened after $after retries");

is(send_events(5), 5, '5 more license calls answered');
ok($run->wait_log(qr/^HOOK /m, 10, 10), 'their 5 deliveries arrived');

# 5. a reload with a directory nobody cannot search is refused

chmod 0700, $private or die "chmod $private: $!";

my $before = $run->count($reach);
my $master = $run->master_pid;
my ($worker) = $run->worker_pids;

ok($run->signal('HUP'), 'HUP sent');
ok($run->wait_log($reach, $before + 1, 5),
   'the reload is refused and names the directory');

# a failure in init_module at a reload would end the master (nginx exits
# there), leaving its workers behind: the check runs before, at parse time
sleep 0.5;
ok(kill(0, $master), 'the master runs on after the refused reload');
is(send_events(5), 5, 'the old worker still answers');

chmod 0711, $private;

$run->stop;

ok(!kill(0, $master), 'the master stopped');
ok(!kill(0, $worker), 'its worker stopped with it, none left behind');

done_testing();
