# [date] is the task's previous run: "OrderDate > [date]" sends a license
# once, in the first run after it appeared.  Slots missed while nginx was
# down run once, not once each, when it comes back.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(sleep time);
use QLMRun;

my $store = ($ENV{QLM_STORE_BUILD} || 'build/lmdb-store') . '/qlm-store';

plan skip_all => "no $store" unless -x $store;

my $rcv = QLMRun::port_at(2);

my $run = QLMRun->new(workers => 2, port => QLMRun::base_port());
my $path = $run->prefix . '/store';

$run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/store;

    qlm_webhook_search new_orders "OrderDate > [date]";

    qlm_webhook_task new_orders search=new_orders every=2s
        url=http://127.0.0.1:$rcv/orders;

    log_format hook escape=none 'HOOK \$request_body';

    server {
        listen 127.0.0.1:$rcv;
        client_body_in_single_buffer on;
        location /orders {
            access_log PREFIX/logs/hooks.log hook;
            proxy_pass http://127.0.0.1:$rcv/sink;
        }
        location /sink {
            access_log off;
            return 200;
        }
    }

    server {
        listen 127.0.0.1:PORT;
        location / {
            return 200;
        }
    }
_EOC_

sub import_one {
    my ($key, $when) = @_;
    my $file = $run->prefix . "/$key.jsonl";

    open my $fh, '>', $file or die $!;
    print $fh qq({"ActivationKey":"$key","OrderDate":")
              . strftime('%Y-%m-%dT%H:%M:%S', localtime($when)) . qq("}\n);
    close $fh;

    return system("$store $path import licenses $file >/dev/null") == 0;
}

sub hooks {
    open my $fh, '<', $run->prefix . '/logs/hooks.log' or return ();
    my @keys = map { /"ActivationKey":"([^"]+)"/ ? $1 : () } <$fh>;
    close $fh;
    return @keys;
}

ok($run->start, 'nginx starts');
ok($run->wait_log(qr/task "new_orders" done/, 1, 5), 'a first run');

# right after a run (on an even second T): an old order, and one dated
# T+1, after this run and before the next

my $n = $run->count(qr/task "new_orders" done/);
ok($run->wait_log(qr/task "new_orders" done/, $n + 1, 5), 'a run ends');

ok(import_one('OLD-1', time - 86400), 'an order of yesterday');
ok(import_one('NEW-1', time + 1), 'an order of a second later');

ok($run->wait_log(qr/task "new_orders" done/, $n + 3, 8), 'two more runs');
sleep 0.5;

my @sent = hooks();
is(join(',', @sent), 'NEW-1', 'the new order was sent once, the old never');

# down for more than two slots, then back: one run

$run->stop;
my $runs = $run->count(qr/task "new_orders" runs/);

sleep 5;
ok($run->start, 'nginx starts again after missing slots');
sleep 1.5;

# the runs since: at most one in any slot (the log has seconds)

my @secs = map { my ($h, $m, $s) = split /:/; $h * 3600 + $m * 60 + $s }
           $run->error_log =~ /(\d\d:\d\d:\d\d) \[info\] \d+#\d+: qlm webhook: task "new_orders" runs/g;
splice @secs, 0, $runs;

my %slots;
$slots{int($_ / 2)}++ for @secs;

cmp_ok(scalar @secs, '>=', 1, 'a run right after the start');
is(scalar(grep { $_ > 1 } values %slots), 0,
   'the missed slots ran once, as one run, not once each');

$run->stop;

is(join(',', hooks()), 'NEW-1', 'and did not send the order again');

unlike($run->error_log, qr/\[(alert|crit|emerg|error)\]/, 'no errors');

done_testing();
