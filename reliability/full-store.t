# A full store, and a full filesystem: license answers stay byte for byte
# the license server's, lost events are counted and said once per
# interval (not once each), what is stored is still delivered, and new
# events are stored again once there is room.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);
use QLMRun;

my ($ls, $rcv) = (QLMRun::port_at(1), QLMRun::port_at(2));

# an answer of about 40 KB: its field makes each event about as large
my $big = '{"key":"' . ('k' x 40000) . '"}';

sub conf {
    my ($run, $store, $size, $extra) = @_;
    $extra //= '';

    mkdir $run->prefix . '/html';
    open my $fh, '>', $run->prefix . '/html/big.json' or die $!;
    print $fh $big;
    close $fh;

    $run->write_conf(<<"_EOC_");
    qlm_webhook_store $store max_size=$size$extra;
    qlm_webhook_retry_interval 1s;
    qlm_webhook_max_retries 1000;
    qlm_webhook_timeout 2s;
    qlm_webhook_url license_created http://127.0.0.1:$rcv/hook;

    log_format hook 'HOOK \$status \$http_x_qlm_event_id';

    server {
        listen 127.0.0.1:$ls;
        default_type application/json;
        location / {
            root PREFIX/html;
            try_files /big.json =404;
        }
    }

    # the receiver fails while the file "down" exists
    server {
        listen 127.0.0.1:$rcv;
        location /hook {
            access_log PREFIX/logs/error.log hook;
            if (-f PREFIX/down) {
                return 503;
            }
            return 200;
        }
    }

    server {
        listen 127.0.0.1:PORT;
        location /qlm/ {
            proxy_pass http://127.0.0.1:$ls;
            qlm_webhook_emit license_created;
            qlm_webhook_field Key json:/key;
        }

        location = /status {
            qlm_webhook_status;
        }
    }
_EOC_
}

sub status {
    my $run = shift;
    my ($code, $body) = $run->get('/status');
    return eval { decode_json($body) } || {};
}

# n calls: how many answered 200 with the license server's bytes, slowest
sub calls {
    my ($run, $n) = @_;
    my ($ok, $max) = (0, 0);

    for (1 .. $n) {
        my $t = time;
        my ($code, $body) = $run->get('/qlm/GetActivationKey');
        my $ms = (time - $t) * 1000;
        $max = $ms if $ms > $max;
        $ok++ if $code == 200 && $body eq $big;
    }

    return ($ok, $max);
}

sub touch { open my $fh, '>', $_[0] or die "$_[0]: $!"; close $fh }

# --- a full store (its max_size reached) -----------------------------------

{
    my $run = QLMRun->new(workers => 2, port => QLMRun::base_port());
    my $p = $run->prefix;

    touch("$p/down");
    conf($run, "$p/store", '1m');
    ok($run->start, 'nginx starts with a 1 MB store, the receiver down');

    my ($ok, $max) = calls($run, 120);
    is($ok, 120, "120 license calls answered whole while the store fills "
       . "(slowest " . int($max) . " ms)");

    my $st = status($run);
    my $lost = $st->{counters}{lost_store_full} // 0;
    my $stored = $st->{deliveries}{license_created}{stored} // 0;
    cmp_ok($lost, '>', 0, "the store filled: $lost events lost, counted");
    is($stored + $lost, 120, "stored ($stored) and lost ($lost) make 120");

    my $lines = $run->count(qr/\[error\] .*lost: store is full/);
    cmp_ok($lines, '<=', 4, "$lines error line(s) for $lost lost events "
           . "(one per worker per 10 s)");

    # the receiver comes back: what was stored goes out, room comes back

    unlink "$p/down";

    ok($run->wait_log(qr/^HOOK 200 /m, $stored, 20),
       "the $stored stored events are delivered");

    ($ok) = calls($run, 5);
    is($ok, 5, 'five more license calls answered');

    ok($run->wait_log(qr/^HOOK 200 /m, $stored + 5, 10),
       'and their events are stored and delivered: the store has room again');

    is($run->count(qr/\[(alert|crit|emerg)\]/), 0, 'no alert, crit, emerg');

    $run->stop;
}

# --- a full filesystem (a 3 MB tmpfs, the store's map larger) ---------------
# with pwrite() (write_map=off), then with a writable map (write_map=on,
# what write_map=auto chooses on a tmpfs), where a page written into a
# hole of a full filesystem would be a SIGBUS

for my $extra (' write_map=off', ' write_map=on') {
SKIP: {
    my $wm = $extra =~ /=on/;
    my $how = ',' . $extra;

    # a writable map allocates 4 MB ahead at least: a larger filesystem,
    # filled after the start, and more calls to fill what was allocated
    my ($fs_size, $n) = $wm ? ('12m', 320) : ('3m', 150);

    skip 'a tmpfs needs root', 7 if $> != 0;

    my $run = QLMRun->new(workers => 2, port => QLMRun::base_port());
    my $p = $run->prefix;
    my $fs = "$p/fs";

    mkdir $fs or die "$fs: $!";

    skip 'cannot mount a tmpfs here', 7
        if system("mount -t tmpfs -o size=$fs_size qlm-rel-tmpfs $fs "
                  . "2>/dev/null") != 0;

    # ballast: the room that comes back when it is deleted
    system("dd if=/dev/zero of=$fs/ballast bs=64k count=16 2>/dev/null")
        unless $wm;

    touch("$p/down");
    conf($run, "$fs/store", '64m', $extra);

    if (!$run->start) {
        system("umount $fs");
        skip 'nginx did not start on the tmpfs', 7;
    }

    system("dd if=/dev/zero of=$fs/ballast bs=64k count=1000 2>/dev/null")
        if $wm;

    my ($ok, $max) = calls($run, $n);
    is($ok, $n, "$n license calls answered whole while the filesystem "
       . "fills$how (slowest " . int($max) . " ms)");

    my $st = status($run);
    my $lost = ($st->{counters}{lost_store_full} // 0)
               + ($st->{counters}{lost_other} // 0);
    my $stored = $st->{deliveries}{license_created}{stored} // 0;
    cmp_ok($lost, '>', 0, "the filesystem filled$how: $lost events lost, counted");

    my $lines = $run->count(qr/\[error\] .*" event \S+ lost: /);
    cmp_ok($lines, '<=', 4, "$lines error line(s) for $lost lost events");

    my @workers = $run->worker_pids;
    is(scalar @workers, 2, "the workers live$how");

    # the store copies on write: even a delivery needs a free page, so room
    # comes back from outside (an operator frees space)

    unlink "$p/down", "$fs/ballast";

    ok($run->wait_log(qr/^HOOK 200 /m, $stored, 20),
       "the $stored stored events are delivered");

    ($ok) = calls($run, 3);
    ok($ok == 3 && $run->wait_log(qr/^HOOK 200 /m, $stored + 3, 10),
       "once there is room, new events are stored and delivered$how");

    $lines = $run->count(qr/\[error\] .*claiming deliveries failed/);
    cmp_ok($lines, '<=', 6, "$lines error line(s) for failed claims "
           . "while the filesystem was full");

    $run->stop;
    system("umount $fs");
}
}

done_testing();
