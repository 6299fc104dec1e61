#!/usr/bin/perl

# qlm-store, run against a store filled by build/tests/mkstore.
#
#   QLM_STORE_BUILD=/path/to/build prove lmdb-store/tests/cli.t

use strict;
use warnings;

use Fcntl qw(:flock);
use File::Basename qw(dirname);
use File::Spec;
use FindBin;
use lib "$FindBin::Bin/../../t/helpers";
use QLMJournal;
use File::Temp qw(tempdir);
use IPC::Open3 qw(open3);
use JSON::PP;
use POSIX qw(strftime);
use Symbol qw(gensym);
use Test::More;

my $build = $ENV{QLM_STORE_BUILD}
    || File::Spec->catdir(dirname(File::Spec->rel2abs(__FILE__)), '..',
                          'build');
my $cli = "$build/qlm-store";
my $mkstore = "$build/tests/mkstore";

plan skip_all => "no $cli or $mkstore: run make first"
    unless -x $cli && -x $mkstore;

my $dir = tempdir('qlm-store-cli.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $store = "$dir/store";
my $now = time();

system($mkstore, $store, $now * 1000) == 0 or BAIL_OUT("mkstore failed");

# runs qlm-store, returns (exit status, stdout, stderr)

sub run {
    my ($out, $err) = ('', '');
    my $errfh = gensym;
    my $pid = open3(my $in, my $outfh, $errfh, $cli, @_);
    close $in;
    local $/;
    $out = <$outfh> // '';
    $err = <$errfh> // '';
    waitpid($pid, 0);
    return ($? >> 8, $out, $err);
}

sub ok_run {
    my ($rc, $out, $err) = run(@_);
    is($rc, 0, "qlm-store @_: exit 0") or diag($err);
    return $out;
}

sub json_run {
    my $out = ok_run(@_);
    my $doc = eval { JSON::PP->new->decode($out) };
    ok(defined $doc, "qlm-store @_: valid JSON") or diag("$@: $out");
    return $doc;
}

sub rows {
    my ($out) = @_;
    my @lines = split /\n/, $out;
    shift @lines;
    return @lines;
}

my $iso = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

# summary

my $out = ok_run($store, 'summary');
like($out, qr/^queued\s+3$/m, 'summary: queued');
like($out, qr/^due\s+1$/m, 'summary: due');
like($out, qr/^leased\s+1$/m, 'summary: leased');
like($out, qr/^dead\s+1$/m, 'summary: dead');
like($out, qr/^log records\s+4$/m, 'summary: log records');
my $next = strftime('%Y-%m-%d %H:%M:%S', localtime($now - 60));
like($out, qr/^next due\s+\Q$next\E$/m, 'summary: next due, local time');
like($out, qr/^map size\s+64\.0 MiB$/m, 'summary: map size');
like($out, qr/^map used\s+\d+\.\d KiB \(\d+\.\d%\)$/m, 'summary: map used');
like($out, qr/^  enqueued\s+4$/m, 'summary: counters');

my $doc = json_run('-j', $store, 'summary');
is($doc->{queued}, 3, 'summary json: queued');
is($doc->{due}, 1, 'summary json: due');
is($doc->{leased}, 1, 'summary json: leased');
is($doc->{dead}, 1, 'summary json: dead');
is($doc->{log_records}, 4, 'summary json: log_records');
is($doc->{next_due}, ($now - 60) * 1000, 'summary json: next_due ms');
like($doc->{next_due_iso}, $iso, 'summary json: next_due_iso');
is($doc->{map_size}, 64 * 1024 * 1024, 'summary json: map_size');
is_deeply($doc->{counters}, { enqueued => 4, dead => 1, attempts => 4 },
          'summary json: counters');
unlike($out, qr/^journals/m, 'summary: no journals line without journals');
is_deeply($doc->{journals}, { live => 0, ended => 0, events => 0 },
          'summary json: no journals');

# summary: a journal left by a worker that ended (sync=on), not replayed:
# the look counts its events and leaves it

{
    my $journal = "$store/journal-999999-1";
    open(my $fh, '>', $journal) or die "$journal: $!";
    binmode $fh;
    print $fh map { QLMJournal::jrecord($_, "ev-j$_", 'http://j.example/',
                                        '{"n":1}') } 1 .. 2;
    close($fh);

    $out = ok_run($store, 'summary');
    like($out, qr/^journals\s+0 of running workers, 1 of ended workers \(2 events to replay\)$/m,
         'summary: the ended journal and its events');
    like($out, qr/^queued\s+3$/m, 'summary: the journal is not in the queue');

    $doc = json_run('-j', $store, 'summary');
    is_deeply($doc->{journals}, { live => 0, ended => 1, events => 2 },
              'summary json: journals');
    ok(-e $journal, 'summary: the journal is left for nginx to replay');

    # its process lives (this one holds the flock()): counted, not read

    open(my $lock, '<', $journal) or die "$journal: $!";
    flock($lock, LOCK_EX) or die "flock: $!";
    $doc = json_run('-j', $store, 'summary');
    is_deeply($doc->{journals}, { live => 1, ended => 0, events => 0 },
              'summary json: a locked journal is a running worker\'s');
    close($lock);

    unlink $journal or die "$journal: $!";
}

# queue

$out = ok_run($store, 'queue');
my @rows = rows($out);
like($out, qr/^ID\s+STATE\s+DUE\s+ATTEMPT\s+STATUS\s+EVENT\s+EVENT ID\s+URL\s+/,
     'queue: header');
is(scalar @rows, 3, 'queue: 3 rows');
like($rows[0], qr/^3\s+due\s+.*ev-1\s+https:\/\/a\.example\/hook/,
     'queue: due first');
like($rows[1], qr/^2\s+leased\s/, 'queue: leased second');
like($rows[2], qr/^4\s+waiting\s/, 'queue: waiting last');
unlike($out, qr/\{"n":/, 'queue: no body');

# columns line up: the URL column starts at the same offset in every line

my @at = map { index($_, 'https://') } @rows;
is_deeply([ @at ], [ ($at[0]) x 3 ], 'queue: aligned');
is(index((split /\n/, $out)[0], 'URL'), $at[0], 'queue: header aligned');

# receiver URLs are shown without credentials and query

like($rows[2], qr{\shttps://c\.example/hook\s}, 'queue: URL without secrets');
unlike($out, qr/hunter2|bob|t0k/, 'queue: no credentials, no query');

$doc = json_run($store, 'queue', '--json');
is($doc->[2]{url}, 'https://c.example/hook',
   'queue json: URL without credentials and query');
$out = ok_run('--json', $store, 'queue', '--body');
unlike($out, qr/hunter2|t0k/, 'queue json --body: no credentials, no query');

$doc = json_run($store, 'queue', '--json');
is(ref $doc, 'ARRAY', 'queue json: an array');
is(scalar @$doc, 3, 'queue json: 3 items');
is_deeply([ map { $_->{id} } @$doc ], [ 3, 2, 4 ], 'queue json: due order');
is_deeply([ map { $_->{state} } @$doc ], [ 'due', 'leased', 'waiting' ],
          'queue json: states');
is($doc->[2]{event_id}, "ev-\"q\"\t\\x", 'queue json: escaping');
is($doc->[0]{due}, ($now - 60) * 1000, 'queue json: due ms');
like($doc->[0]{due_iso}, $iso, 'queue json: due_iso');
ok($doc->[1]{lease} > 0, 'queue json: lease');
ok(!exists $doc->[0]{body}, 'queue json: no body');

$doc = json_run('--json', $store, 'queue', '--body', '--limit', '1');
is(scalar @$doc, 1, 'queue --limit 1');
is($doc->[0]{body}, '{"n":3}', 'queue --body');
is($doc->[0]{headers}, 'X-Test: 1', 'queue --body: headers');

$out = ok_run($store, 'queue', '--body');
like($out, qr/BODY/, 'queue --body: header');
like($out, qr/\{"n":3\}/, 'queue --body: body');

# log

$out = ok_run($store, 'log');
@rows = rows($out);
like($out, qr/^TIME\s+OUTCOME\s+STATUS\s+ATTEMPT\s+DURATION\s+ITEM\s+EVENT/,
     'log: header');
is(scalar @rows, 4, 'log: 4 records');
like($rows[0], qr/\sdelivered\s+200\s/, 'log: oldest first');
like($rows[1], qr/\sretry\s+503\s.*HTTP status 503\s+\{"busy":true\}\?$/,
     'log: retry row, with the answer on one line');
like($rows[0], qr/\sdelivered\s+200\s.*\s-\s+-$/,
     'log: no error, no answer');
my $t = strftime('%Y-%m-%d %H:%M:%S', localtime($now - 3 * 3600));
like($rows[0], qr/^\Q$t\E\s/, 'log: local time');

sub log_ids {
    my $doc = json_run('-j', $store, 'log', @_);
    return [ map { $_->{item_id} } @$doc ];
}

is_deeply(log_ids(), [ 3, 2, 1, 4 ], 'log json: all');
is_deeply(log_ids('--newest-first'), [ 4, 1, 2, 3 ], 'log --newest-first');
is_deeply(log_ids('--outcome', 'retry'), [ 2 ], 'log --outcome retry');
is_deeply(log_ids('--outcome', 'delivered'), [ 3, 4 ],
          'log --outcome delivered');
is_deeply(log_ids('--event', 'license.renewed'), [ 4 ], 'log --event');
is_deeply(log_ids('--event-id', 'ev-dead'), [ 1 ], 'log --event-id');
is_deeply(log_ids('--since', '-1h'), [ 1, 4 ], 'log --since -1h');
is_deeply(log_ids('--since', '-90m'), [ 1, 4 ], 'log --since -90m');
is_deeply(log_ids('--until', '-1h'), [ 3, 2 ], 'log --until -1h');
is_deeply(log_ids('--since', '-1d', '--until', '-1h', '--newest-first'),
          [ 2, 3 ], 'log: a range, newest first');
is_deeply(log_ids('--since', $now - 7200 - 1, '--until', $now - 1000),
          [ 2, 1 ], 'log: epoch seconds');
my $since = strftime('%Y-%m-%dT%H:%M:%S', localtime($now - 2 * 3600 - 1));
is_deeply(log_ids('--since', $since), [ 2, 1, 4 ], 'log: local time');
is_deeply(log_ids('--limit', '2', '--newest-first'), [ 4, 1 ],
          'log --limit');
{
    my $doc = json_run('-j', $store, 'log', '--outcome', 'retry');
    is($doc->[0]{answer}, qq{{"busy":true}\n}, 'log json: the answer whole');
}

is_deeply(log_ids('--event', 'nothing'), [], 'log: no match, empty array');
is_deeply(log_ids('--url', 'https://hooks.example/in'), [ 3, 2, 1, 4 ],
          'log --url');
is_deeply(log_ids('--url', 'https://other.example/in'), [],
          'log --url: another URL');
$since = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($now - 2 * 3600 - 1));
is_deeply(log_ids('--since', $since), [ 2, 1, 4 ], 'log: UTC, with Z');
$since = strftime('%Y-%m-%dT%H:%M:%S', gmtime($now - 2 * 3600 - 1 + 5400))
         . '+01:30';
is_deeply(log_ids('--since', $since), [ 2, 1, 4 ], 'log: a zone offset');

$doc = json_run('-j', $store, 'log', '--outcome', 'dead');
is($doc->[0]{outcome}, 'dead', 'log json: outcome');
is($doc->[0]{status}, 500, 'log json: status');
is($doc->[0]{error}, 'HTTP status 500', 'log json: error');
is($doc->[0]{duration_ms}, 42, 'log json: duration');
is($doc->[0]{time}, ($now - 1800) * 1000, 'log json: time ms');
like($doc->[0]{time_iso}, $iso, 'log json: time_iso');

# dead letters

$out = ok_run($store, 'dead');
@rows = rows($out);
is(scalar @rows, 1, 'dead: 1 row');
like($rows[0], qr/^1\s+dead\s.*\s5\s+500\s.*HTTP status 500$/, 'dead: row');

$doc = json_run('-j', $store, 'dead');
is($doc->[0]{attempt}, 5, 'dead json: attempt');
is($doc->[0]{last_status}, 500, 'dead json: status');

# replay and trim write

is(ok_run($store, 'replay', '1'), "replayed 1\n", 'replay 1');
$doc = json_run('-j', $store, 'summary');
is($doc->{dead}, 0, 'replay: no dead letter left');
is($doc->{queued}, 4, 'replay: queued again');
is($doc->{counters}{replayed}, 1, 'replay: counted');
$doc = json_run('-j', $store, 'queue');
is_deeply([ map { $_->{id} } @$doc ], [ 3, 1, 2, 4 ], 'replay: due now');
is($doc->[1]{attempt}, 0, 'replay: attempt 0');
is($doc->[1]{state}, 'due', 'replay: state due');

my ($rc, $o, $err) = run($store, 'replay', '1');
is($rc, 1, 'replay of a missing id: exit 1');
like($err, qr/^qlm-store: qlm_store_dead_replay: no such item$/,
     'replay of a missing id: message');

is(ok_run($store, 'replay', 'all'), "replayed 0\n", 'replay all: none');

$doc = json_run('-j', $store, 'trim', '--log-max-records', '3');
is($doc->{removed}, 1, 'trim --log-max-records');
is_deeply(log_ids(), [ 2, 1, 4 ], 'trim: the oldest went');
is(ok_run($store, 'trim', '--log-max-age', '3600'), "removed 1\n",
   'trim --log-max-age');
is_deeply(log_ids(), [ 1, 4 ], 'trim by age');

# recover: the dead letters that failed since a time, in a store of its own

{
    my $store2 = "$dir/store2";
    system($mkstore, $store2, $now * 1000) == 0
        or BAIL_OUT("mkstore failed");

    # id 1 died 200 s ago
    my ($rc, $out, $err) = run($store2, 'recover');
    is($rc, 2, 'recover without --since: usage error');
    like($err, qr/recover takes --since TIME/, 'recover: message');

    ($rc) = run($store2, 'recover', '--since', 'soon');
    is($rc, 2, 'recover --since soon: usage error');

    ($rc) = run($store2, 'recover', '--since', '-1m', '--limit', '1');
    is($rc, 2, 'recover takes no --limit');

    is(ok_run($store2, 'recover', '--since', '-1m'), "replayed 0\n",
       'recover --since -1m: none failed since');
    is(json_run('-j', $store2, 'summary')->{dead}, 1, 'recover: still dead');

    my $doc = json_run('-j', $store2, 'recover', '--since', '-10m');
    is($doc->{replayed}, 1, 'recover --since -10m: replayed');
    $doc = json_run('-j', $store2, 'summary');
    is($doc->{dead}, 0, 'recover: no dead letter left');
    is($doc->{queued}, 4, 'recover: queued again');
    is($doc->{counters}{replayed}, 1, 'recover: counted');
}

# errors

($rc, $o, $err) = run($store, 'frobnicate');
is($rc, 2, 'unknown command: exit 2');
like($err, qr/unknown command/, 'unknown command: message');

($rc) = run($store);
is($rc, 2, 'no command: exit 2');

($rc, $o, $err) = run($store, 'log', '--since', 'yesterday');
is($rc, 2, 'bad time: exit 2');

($rc) = run($store, 'log', '--outcome', 'maybe');
is($rc, 2, 'bad outcome: exit 2');

($rc) = run($store, 'queue', '--outcome', 'dead');
is($rc, 2, 'an option of another command: exit 2');

($rc) = run($store, 'replay');
is($rc, 2, 'replay without an id: exit 2');

($rc) = run($store, 'queue', '--limit', 'x');
is($rc, 2, 'bad limit: exit 2');

($rc, $o, $err) = run("$dir/missing", 'summary');
is($rc, 1, 'missing store: exit 1');
like($err, qr/^qlm-store: qlm_store_open "\Q$dir\E\/missing": No such file/,
     'missing store: message');
ok(!-e "$dir/missing", 'a reading command creates nothing');

($rc, $o) = run('--help');
is($rc, 0, '--help: exit 0');
like($o, qr/^usage: qlm-store/, '--help: usage');

# the license mirror: import, merge, listing

{
    my $jsonl = "$dir/licenses.jsonl";
    open my $fh, '>', $jsonl or die $!;
    print $fh qq({"ActivationKey":"K-1","Email":"a\@b.c","ProductID":7,"SubscriptionExpiryDate":"2026-12-20T00:00:00"}\n);
    print $fh "not json\n";
    print $fh "\n";
    print $fh qq({"Email":"nokey\@b.c"}\n);
    print $fh qq({"ActivationKey":"K-2","FullName":"Jo","UsesAdminEncryption":false,"Features":null}\n);
    close $fh;

    my ($rc, $out, $err) = run($store, 'import', 'licenses', $jsonl);
    is($rc, 1, 'import with bad records: exit 1');
    is($out, "loaded 2, skipped 2\n", 'import: loaded and skipped');
    like($err, qr/^qlm-store: import: line 2: .*, skipped$/m,
         'import: a line that is not JSON is named');
    like($err, qr/^qlm-store: import: line 4: no ActivationKey, skipped$/m,
         'import: a record without its key is named');

    my $array = "$dir/licenses.json";
    open $fh, '>', $array or die $!;
    print $fh qq([{"ActivationKey":"K-1","ComputerID":"PC-9","Email":"new\@b.c"}]);
    close $fh;

    ($rc, $out, $err) = run($store, 'import', 'licenses', $array);
    is($rc, 0, 'import of an array: exit 0');
    is($out, "loaded 1, skipped 0\n", 'import of an array: loaded');

    my $doc = json_run('-j', $store, 'licenses');
    is(scalar @$doc, 2, 'licenses: two records');
    is($doc->[0]{key}, 'K-1', 'licenses: in key order');
    is_deeply($doc->[0]{fields},
              { ActivationKey => 'K-1', Email => 'new@b.c', ProductID => '7',
                ExpiryDate => '2026-12-20T00:00:00', ComputerID => 'PC-9' },
              'merge: later fields overwrite, others kept, alias applied');
    is_deeply($doc->[1]{fields},
              { ActivationKey => 'K-2', FullName => 'Jo',
                UsesAdminEncryption => 'false' },
              'booleans as text, nulls left out');
    is($doc->[1]{deleted}, JSON::PP::false, 'not deleted');

    $doc = json_run('-j', $store, 'licenses', '--limit', '1');
    is(scalar @$doc, 1, 'licenses --limit 1');

    $out = ok_run($store, 'customers');
    is($out, "KEY  UPDATED  DELETED  FIELDS\n", 'customers: none');

    ($rc, $out, $err) = run($store, 'import', 'things', $array);
    is($rc, 2, 'import of an unknown table: usage error');
}

# a store that nginx runs with max_size=4g: qlm-store, given no size, shows
# and keeps that size (it used to shrink the map to the pages in use, show
# "used 100%" and write the smaller size back on its first commit)

{
    my $big = "$dir/big";
    my $empty = "$dir/empty.json";

    open my $fh, '>', $empty or die $!;
    print $fh "[]\n";
    close $fh;

    ok_run('--map-size', '4g', $big, 'import', 'licenses', $empty);

    my $out = ok_run($big, 'summary');
    like($out, qr/^map size\s+4\.0 GiB$/m, 'summary: the store\'s own map size');
    like($out, qr/^map used\s+\d+\.\d KiB \(0\.0%\)$/m,
         'summary: used, a small share of it');

    ok_run($big, 'import', 'licenses', $empty);
    my $doc = json_run('-j', $big, 'summary');
    is($doc->{map_size}, 4 * 1024 * 1024 * 1024,
       'summary json: the size is kept across a write without --map-size');
    ok($doc->{map_used} > 0 && $doc->{map_used} < 1024 * 1024,
       'summary json: map_used');
}

# urls: pause, list, resume; the URL kept as the log shows it

{
    my $doc = json_run('-j', $store, 'urls');
    is_deeply($doc, [], 'urls json: none paused');

    my $out = ok_run($store, 'urls', 'pause',
                     'https://user:pw@hooks.example.com/qlm?token=s3cret');
    is($out, "paused https://hooks.example.com/qlm\n",
       'urls pause: without credentials and query');

    $doc = json_run('-j', $store, 'urls', 'pause', 'http://b.example/h');
    is_deeply($doc, { url => 'http://b.example/h', paused => JSON::PP::true },
              'urls pause json: as the admin API answers');

    $doc = json_run('-j', $store, 'urls', 'pause', 'http://b.example/h');
    ok($doc->{paused}, 'urls pause: again, the same answer');

    $out = ok_run($store, 'urls');
    my @r = rows($out);
    is(scalar @r, 2, 'urls: two rows');
    like($r[0], qr{^http://b\.example/h\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+qlm-store$},
         'urls: URL, since, by, in URL order');
    like($r[1], qr{^https://hooks\.example\.com/qlm\s}, 'urls: the second');
    unlike($out, qr/s3cret|pw@/, 'urls: no credential, no query');

    $doc = json_run('-j', $store, 'urls');
    is($doc->[0]{url}, 'http://b.example/h', 'urls json: url');
    ok($doc->[0]{paused}, 'urls json: paused');
    like($doc->[0]{since_iso}, $iso, 'urls json: since_iso');
    is($doc->[0]{by}, 'qlm-store', 'urls json: by');

    $doc = json_run('-j', $store, 'urls', 'resume', 'http://b.example/h');
    is_deeply($doc, { url => 'http://b.example/h', paused => JSON::PP::false },
              'urls resume json');

    $doc = json_run('-j', $store, 'urls');
    is(scalar @$doc, 1, 'urls: one left');
    is($doc->[0]{url}, 'https://hooks.example.com/qlm', 'urls: the other');

    my ($rc, undef, $err) = run($store, 'urls', 'stop', 'http://x/');
    is($rc, 2, 'urls stop: usage error');
    like($err, qr/urls takes nothing, or "pause" or "resume" and a URL/,
         'urls stop: says what it takes');

    ($rc) = run($store, 'urls', 'pause');
    is($rc, 2, 'urls pause without a URL: usage error');

    ($rc, undef, $err) = run($store, 'urls', 'pause', 'http://' . 'x' x 600);
    is($rc, 1, 'urls pause: a URL too long, runtime error');
    like($err, qr/qlm_store_url_pause: /, 'urls pause: names the call');
}

done_testing();
