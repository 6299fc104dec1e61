# A journal left by workers of another user.  With sync=on a worker that
# ends before its commits leaves its journal, a file it created with mode
# 0600; when the "user" directive changes before the next start (or the
# store was last used by nginx running as root), the new workers could not
# open it, and its events would never be replayed.  The master runs as
# root: it gives the journals to the workers' user as it does data.mdb and
# lock.mdb, so the first worker replays them and removes them.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../t/helpers";

use Test::More;
use Time::HiRes qw(sleep time);
use QLMRun;
use QLMJournal;

plan skip_all => 'needs root: the workers run as "nobody"' if $> != 0;
plan skip_all => 'no user "nobody"' unless defined getpwnam('nobody');

my ($ls, $rcv) = map { QLMRun::port_at($_) } 1 .. 2;

my $group = getgrgid((getpwnam('nobody'))[3]) // 'nogroup';

my $run = QLMRun->new(workers => 1, user => "nobody $group");
my $prefix = $run->prefix;
my $store = "$prefix/store";

chmod 0711, $prefix or die "chmod $prefix: $!";

$run->write_conf(<<"_EOC_");
    qlm_webhook_store PREFIX/store sync=on;
    qlm_webhook_secret journal-secret;
    qlm_webhook_url license_created http://127.0.0.1:$rcv/hook;

    log_format hook 'HOOK \$http_x_qlm_event_id';

@{[ QLMRun::servers($ls, $rcv) ]}
_EOC_

# A journal as a worker running as root leaves it
# (t/helpers/QLMJournal.pm writes its records), one event a record

sub jrecord {
    my ($lsn, $id) = @_;
    return QLMJournal::jrecord($lsn, $id, "http://127.0.0.1:$rcv/hook",
        qq({"EventType":"license_created","Key":"$id"}));
}

mkdir $store, 0700 or die "mkdir $store: $!";

my $journal = "$store/journal-1-1";
{
    open(my $fh, '>', $journal) or die "$journal: $!";
    binmode $fh;
    print $fh jrecord(1, 'evt_root_1'), jrecord(2, 'evt_root_2');
    close($fh);
    chmod 0600, $journal or die "chmod $journal: $!";
}

is((stat $journal)[4], 0, 'the journal left behind belongs to root');

ok($run->start, 'nginx starts, its workers as nobody');

ok($run->wait_log(qr/\[notice\].*qlm_webhook_store: 2 events replayed from the journals of ended workers in "\Q$store\E"/, 1, 10),
   "the worker replays the root-owned journal's 2 events");
ok($run->wait_log(qr/^HOOK evt_root_1$/m, 1, 10),
   'the first event is delivered');
ok($run->wait_log(qr/^HOOK evt_root_2$/m, 1, 10),
   'the second event is delivered');

ok(!-e $journal, 'the replayed journal is removed');
is($run->count(qr/\[alert\]|\[crit\]|\[emerg\]/), 0,
   'no alert: the journal was not left for another worker');

# the store goes on as usual: a call's event is journaled and delivered

my ($status) = $run->get('/qlm/qlmservice.asmx/GetActivationKey');
is($status, 200, 'a license call is answered');
ok($run->wait_log(qr/^HOOK /m, 3, 10), 'its event is delivered too');

my @own = grep { (stat $_)[4] == (getpwnam('nobody'))[2] }
          glob "$store/journal-*";
is(scalar @own, 1, "the worker's own journal belongs to nobody");

$run->stop;

is(scalar(() = glob "$store/journal-*"), 0,
   'no journal is left after a stop');

done_testing();
