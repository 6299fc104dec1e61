# Retries are spaced by qlm_webhook_retry_interval and counted by
# qlm_webhook_max_retries; every attempt is in the store's invocation log;
# a dead letter replayed with qlm-store is delivered by nginx.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use QLMRun;

my $store = ($ENV{QLM_STORE_BUILD} || 'build/lmdb-store') . '/qlm-store';

plan skip_all => "no $store" unless -x $store;

my ($ls, $rcv) = (QLMRun::port_at(1), QLMRun::port_at(2));

my $run = QLMRun->new(workers => 2, port => QLMRun::base_port());
my $path = $run->prefix . '/store';

sub conf {
    my ($answer, $switch) = @_;

    $switch ||= 'on';

    $run->write_conf(<<"_EOC_");
    qlm_webhooks $switch;
    qlm_webhook_store PREFIX/store;
    qlm_webhook_retry_interval 1s;
    qlm_webhook_max_retries 2;
    qlm_webhook_timeout 2s;
    qlm_webhook_url license_created http://user:pw\@127.0.0.1:$rcv/hook?key=1;

    log_format hook 'HOOK \$status \$http_x_qlm_event_id \$http_x_qlm_delivery_attempt';

@{[ QLMRun::servers($ls, $rcv, $answer) ]}
_EOC_
}

sub cli {
    my @args = @_;
    my $out = qx{$store --json $path @args 2>&1};
    return ($? >> 8, $out);
}

conf(500);
ok($run->start, 'nginx starts with a receiver that answers 500');

$run->get('/qlm/qlmservice.asmx/GetActivationKey');

ok($run->wait_log(qr/moved to dead letters/, 1, 8),
   'after 1 + 2 attempts the delivery is a dead letter');

$run->stop;

my ($rc, $out) = cli('log');
is($rc, 0, 'qlm-store log');

my $log = eval { decode_json($out) } || [];
is(scalar @$log, 3, 'three attempts in the invocation log');
is(join(',', map { $_->{outcome} } @$log), 'retry,retry,dead',
   'outcomes: retry, retry, dead');
is(join(',', map { $_->{attempt} } @$log), '1,2,3', 'attempts 1, 2, 3');
is(join(',', map { $_->{status} } @$log), '500,500,500', 'status 500 each');
my %ids = map { $_->{event_id} => 1 } @$log;
is(scalar keys %ids, 1, 'one event id');
is($log->[0]{url}, "http://127.0.0.1:$rcv/hook",
   'the URL is logged without credentials and query');

for my $i (1, 2) {
    my $gap = $log->[$i]{time} - $log->[$i - 1]{time};
    cmp_ok($gap, '>=', 1000, "attempt " . ($i + 1) . " came 1s or more after");
    cmp_ok($gap, '<', 2500, "... and not much later ($gap ms)");
}

($rc, $out) = cli('dead');
my $dead = eval { decode_json($out) } || [];
is(scalar @$dead, 1, 'one dead letter');

($rc, $out) = cli('replay', 'all');
is($rc, 0, 'qlm-store replay all');

($rc, $out) = cli('summary');
my $sum = eval { decode_json($out) } || {};
is($sum->{queued}, 1, 'the dead letter is queued again');
is($sum->{dead}, 0, 'no dead letters left');

conf(200, 'off');
ok($run->start, 'nginx starts with qlm_webhooks off');
sleep 2;
is($run->count(qr/^HOOK /m), 3, 'nothing is sent while webhooks are off');
$run->stop;

($rc, $out) = cli('summary');
$sum = eval { decode_json($out) } || {};
is($sum->{queued}, 1, 'the replayed event still waits in the queue');

conf(200);
ok($run->start, 'nginx starts with qlm_webhooks on, the receiver answers 200');

ok($run->wait_log(qr/^HOOK 200 \S+ 1$/m, 1, 5),
   'the replayed event is delivered, as attempt 1');

$run->stop;

($rc, $out) = cli('log', '--outcome', 'delivered');
$log = eval { decode_json($out) } || [];
is(scalar @$log, 1, 'one delivered attempt in the log');
ok($log->[0] && $ids{$log->[0]{event_id}}, 'with the same event id');

done_testing();
