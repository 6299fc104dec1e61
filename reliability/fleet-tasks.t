# A fleet on one PostgreSQL (issue 15): the license mirror is shared, and
# a scheduled task fires once per slot across the fleet.
#
# Three nginx (nodes a, b and c) on one PostgreSQL.  30 license calls go
# round the three, so each node captures a third of the licenses; each
# node's local mirror then holds all 30 (the copy from qlm_mirror).  Then
# the three are reloaded with the same task (every 2 s, matching the 30):
# each slot is run by one node (one qlm_task_slot row a slot), so each
# delivery's X-QLM-Event-Id (a name-based UUID of the task, the slot and
# the license) reaches the receiver once; three nodes each running every
# slot would send each of them three times.
#
# Ports: QLMRun::base_port() and the next four; PostgreSQL on
# QLM_PG_TEST_PORT (3260).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);
use QLMRun;

plan skip_all => 'no PostgreSQL server (Debian package postgresql)'
    unless QLMRun::PG::installed();

my $licenses = 30;
my ($ls, $rcv) = (QLMRun::port_at(1), QLMRun::port_at(2));
my @ports = (QLMRun::port_at(0), QLMRun::port_at(3), QLMRun::port_at(4));
my @names = qw(a b c);
my $tool = QLMRun::PG::store_tool();

my $pg = eval { QLMRun::PG->new(port => $ENV{QLM_PG_TEST_PORT} || 3260) };
BAIL_OUT("PostgreSQL: $@") unless $pg;
ok($pg, 'PostgreSQL runs, with the schema');

my $peer = QLMRun->new(workers => 1, port => $ls);
my $hooks = $peer->prefix . '/logs/hooks.log';

$peer->write_conf(<<"_EOC_");
    error_log PREFIX/logs/error.log notice;

    log_format ids escape=json '\$http_x_qlm_event \$http_x_qlm_event_id';

    server {
        listen 127.0.0.1:PORT;
        location / {
            return 200 '<QuickLicenseManager><result>ok</result></QuickLicenseManager>';
        }
    }

    server {
        listen 127.0.0.1:$rcv;

        location = /hook {
            access_log $hooks ids;
            return 200;
        }
    }
_EOC_

ok($peer->start, 'the license server and the receiver run');

my @nodes;

END {
    $_->stop for grep { defined } @nodes, $peer;
    $pg->stop if $pg;
}

sub node_conf {
    my ($run, $name, $task) = @_;
    my $store = $pg->store('PREFIX/spool', $name);

    my $sched = $task ? <<"_EOT_" : '';
    qlm_webhook_search fleet "Email = 'fleet\@example.com'";
    qlm_webhook_task sweep search=fleet every=2s
                     url=http://127.0.0.1:$rcv/hook;
_EOT_

    $run->write_conf(<<"_EOC_");
    error_log PREFIX/logs/error.log info;

    qlm_webhook_store $store;
    qlm_webhook_secret fleet-secret;
    qlm_webhook_timeout 3s;
$sched
    server {
        listen 127.0.0.1:PORT;
        location /qlm/ {
            proxy_pass http://127.0.0.1:$ls;
            qlm_webhook_emit license_activated;
            qlm_webhook_field ActivationKey \$arg_is_avkey;
            qlm_webhook_field Email \$qlm_webhook_arg_is_email;
        }
    }
_EOC_
}

for my $i (0 .. 2) {
    my $run = QLMRun->new(workers => 1, port => $ports[$i]);
    node_conf($run, $names[$i], 0);
    ok($run->start, "node $names[$i] starts");
    push @nodes, $run;
}

# each call to the next node: each captures a third of the licenses

my $answered = 0;

for my $n (1 .. $licenses) {
    my ($status) = $nodes[$n % 3]->get(
        "/qlm/ActivateKey?is_avkey=FLEET-$n&is_email=fleet%40example.com");
    $answered++ if defined $status && $status == 200;
}

is($answered, $licenses, "$licenses license calls answered, a third a node");

# the copy: each node's local mirror has every license, within 10 s

sub mirror_keys {
    my ($run) = @_;
    my $out = qx{$tool -j @{[ $run->prefix ]}/spool licenses 2>/dev/null};
    my $list = eval { JSON::PP->new->decode($out) } || [];
    return scalar grep { ($_->{key} // '') =~ /^FLEET-\d+$/ } @$list;
}

my @seen;
my $until = time + 10;

while (time < $until) {
    @seen = map { mirror_keys($_) } @nodes;
    last unless grep { $_ != $licenses } @seen;
    sleep 0.2;
}

is("@seen", join(' ', ($licenses) x 3),
   'every node\'s local mirror holds all the licenses');

# the task on all three: each slot run by one of them

for my $i (0 .. 2) {
    node_conf($nodes[$i], $names[$i], 1);
    my ($rc, $out) = $nodes[$i]->nginx('-s', 'reload');
    is($rc, 0, "node $names[$i] reloads with the task") or diag($out);
}

sleep 9;

# the counters' next addition (every 10 s), before the nodes stop

my $by = time + 15;

while (time < $by) {
    my ($row) = $pg->sql("SELECT count(*) FROM qlm_counter "
                         . "WHERE name = 'task_runs' AND value > 0");
    last if $row->[0];
    sleep 0.5;
}

$_->stop for @nodes;
@nodes = ();
sleep 0.5;

my ($row) = $pg->sql("SELECT count(*), count(DISTINCT slot), "
                     . "string_agg(DISTINCT node, ',' ORDER BY node) "
                     . "FROM qlm_task_slot WHERE task = 'sweep'");
my ($runs, $slots, $who) = @$row;

ok($runs >= 3, "the task ran in several slots ($runs)");
is($runs, $slots, 'one qlm_task_slot row a slot');
like($who, qr/^[abc](,[abc])*$/, "slots run by nodes of the fleet ($who)");

my %ids;
my $deliveries = 0;

if (open(my $fh, '<', $hooks)) {
    while (<$fh>) {
        next unless /^sweep (\S+)/;
        $ids{$1}++;
        $deliveries++;
    }
    close $fh;
}

my @twice = grep { $ids{$_} > 1 } keys %ids;

ok($deliveries >= 2 * $licenses,
   "task deliveries: $deliveries (at least two whole runs)");
is(scalar @twice, 0, 'no task delivery came twice: each slot ran once');
is(($pg->sql("SELECT count(*) FROM qlm_mirror WHERE key LIKE 'FLEET-%'"))[0][0],
   $licenses, 'qlm_mirror holds the licenses');

# the status page's counters, summed over the fleet every 10 s
my ($counted) = $pg->sql("SELECT coalesce(sum(value), 0) FROM qlm_counter "
                         . "WHERE name = 'task_runs'");
ok($counted->[0] >= 1 && $counted->[0] <= $runs,
   "qlm_counter's task_runs ($counted->[0]) counts the fleet's runs "
   . "($runs), up to the last 10 s");
my ($fwd) = $pg->sql("SELECT coalesce(sum(value), 0) FROM qlm_counter "
                     . "WHERE name = 'postgresql_forwarded'");
ok($fwd->[0] >= $licenses,
   "qlm_counter: what the three nodes forwarded, summed ($fwd->[0])");

done_testing();
