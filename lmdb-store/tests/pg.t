#!/usr/bin/perl

# qlm-store on a PostgreSQL store: the schema's creation, version and
# migrations, the password rules, summary, queue, dead, log, replay,
# recover, licenses and customers on rows written by SQL
# (pg-store/qlm_pg_schema.c's columns), and import into qlm_mirror.
# Starts its own server with util/pg-test-server; skipped when Debian's
# postgresql package is not installed.
#
#   QLM_STORE_BUILD=/path/to/build QLM_PG_TEST_PORT=3260 \
#       prove lmdb-store/tests/pg.t

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IPC::Open3 qw(open3);
use JSON::PP;
use Symbol qw(gensym);
use Test::More;

my $top = File::Spec->catdir(dirname(File::Spec->rel2abs(__FILE__)), '..',
                             '..');
my $build = $ENV{QLM_STORE_BUILD} || "$top/lmdb-store/build";
my $cli = "$build/qlm-store";
my $server = "$top/util/pg-test-server";
my $port = $ENV{QLM_PG_TEST_PORT} || 3260;

plan skip_all => "no $cli: run make first" unless -x $cli;
plan skip_all => 'no PostgreSQL server (Debian package postgresql)'
    unless glob('/usr/lib/postgresql/*/bin/postgres')
        && -x (glob('/usr/lib/postgresql/*/bin/psql'))[0];

my $psql = (sort glob('/usr/lib/postgresql/*/bin/psql'))[-1];

# the server's directory must be reachable by the "postgres" user
my $dir = tempdir('qlm-store-pg.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $started;

END {
    system($server, 'stop', $dir) if $started;
}

local $ENV{QLM_PG_TEST_OWNER} = $$;
my $url = `$server start $dir $port`;
BAIL_OUT("util/pg-test-server start $dir $port failed") if $?;
$started = 1;
chomp $url;
is($url, "postgresql://qlm\@127.0.0.1:$port/qlm", 'the test server');

my $pwfile = "$dir/password";
open(my $pwfh, '<', $pwfile) or BAIL_OUT("$pwfile: $!");
my $password = <$pwfh>;
close $pwfh;
chomp $password;
ok(length($password) >= 32, 'a random password in DIR/password');
is((stat $pwfile)[2] & 0777, 0600, 'DIR/password is 0600');

my @seen;       # every output, checked for the password at the end

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
    push @seen, $out, $err;
    return ($? >> 8, $out, $err);
}

# qlm-store with the password file on the test store
# (-j first: the global options come before the store)
sub pg {
    my @j = ($_[0] eq '-j') ? (shift) : ();
    return run(@j, '--password-file', $pwfile, $url, @_);
}

sub ok_pg {
    my ($rc, $out, $err) = pg(@_);
    is($rc, 0, "qlm-store URL @_: exit 0") or diag($err);
    return $out;
}

sub json_pg {
    my $out = ok_pg('-j', @_);
    my $doc = eval { JSON::PP->new->decode($out) };
    ok(defined $doc, "qlm-store URL -j @_: valid JSON") or diag("$@: $out");
    return $doc;
}

# SQL as the role qlm; returns psql's unaligned output
sub sql {
    my ($q) = @_;
    local $ENV{PGPASSWORD} = $password;
    my $out = `$psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $port -U qlm -d qlm -c "$q" 2>&1`;
    is($?, 0, "sql: $q") or diag($out);
    chomp $out;
    return $out;
}


# the password: from the file only

my ($rc, $out, $err) = run('--password-file', $pwfile,
                           "postgresql://qlm:$password\@127.0.0.1:$port/qlm",
                           'summary');
is($rc, 1, 'a password in the URI: refused');
like($err, qr/carries a password/, '... with the reason');

($rc, $out, $err) = run('--password-file', $pwfile,
    "postgresql://qlm\@127.0.0.1:$port/qlm?password=$password", 'summary');
is($rc, 1, 'a password in the query: refused');

($rc, $out, $err) = run($url, 'summary');
is($rc, 1, 'no password file: the server refuses');
like($err, qr/connecting to PostgreSQL/, '... with the reason');

open(my $bad, '>', "$dir/bad") or die;
print $bad "wrong-$password\n";
close $bad;
($rc, $out, $err) = run('--password-file', "$dir/bad", $url, 'summary');
is($rc, 1, 'a wrong password: refused');
like($err, qr/password authentication failed/, '... by the server');

($rc, $out, $err) = run('--password-file', "$dir/none", $url, 'summary');
is($rc, 1, 'a missing password file');
like($err, qr{password file "\Q$dir\E/none"}, '... named');

($rc, $out, $err) = run($url, 'urls');
is($rc, 2, 'urls: for LMDB stores');


# no schema yet

($rc, $out, $err) = pg('summary');
is($rc, 1, 'summary before schema init: refused');
like($err, qr/version 0\b.*version 2\b.*schema init/,
     '... naming both versions and the command');

is(ok_pg('schema', 'version'), "schema version 0 (this qlm-store: 2)\n",
   'schema version: 0');

($rc, $out, $err) = pg('schema', 'migrate');
is($rc, 1, 'schema migrate without a schema: refused');
like($err, qr/schema init/, '... pointing to schema init');

# a database that is not ours

sql('CREATE TABLE other (x int)');
($rc, $out, $err) = pg('schema', 'init');
is($rc, 1, 'schema init on a database that is not empty: refused');
like($err, qr/not empty/, '... with the reason');
is(sql("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'qlm_%'"), 0,
   '... and nothing created');
sql('DROP TABLE other');


# the schema

is(ok_pg('schema', 'init'), "schema created at version 2\n", 'schema init');
is(sql("SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables"
       . " WHERE schemaname = 'public'"),
   'qlm_counter qlm_dead qlm_log qlm_meta qlm_mirror qlm_queue qlm_task_slot',
   '... the tables');
is(sql("SELECT count(*) FROM information_schema.columns"
       . " WHERE table_name LIKE 'qlm_%'"), 2 + 14 + 11 + 13 + 4 + 2 + 7,
   '... their columns');
is(sql("SELECT value FROM qlm_meta WHERE name = 'schema_version'"), '2',
   '... version 2 in qlm_meta');
is(ok_pg('schema', 'version'), "schema version 2 (this qlm-store: 2)\n",
   'schema version: 2');
is_deeply(json_pg('schema', 'version'),
          { version => 2, program_version => 2 }, 'schema version -j');
is(ok_pg('schema', 'init'), "schema already at version 2\n",
   'schema init again: nothing done');
is(ok_pg('schema', 'migrate'), "schema at version 2: nothing to migrate\n",
   'schema migrate at the latest version: a no-op');

# a database at version 1 (before the shared mirror) is migrated

sql("DROP TABLE qlm_mirror; DROP SEQUENCE qlm_mirror_seq; "
    . "UPDATE qlm_meta SET value = '1' WHERE name = 'schema_version'");
($rc, $out, $err) = pg('summary');
is($rc, 1, 'summary on version 1: refused');
like($err, qr/version 1\b.*version 2\b.*schema migrate/,
     '... naming both versions and the command');
is(ok_pg('schema', 'migrate'), "schema migrated from version 1 to 2\n",
   'schema migrate from version 1');
is(sql("SELECT count(*) FROM information_schema.columns"
       . " WHERE table_name = 'qlm_mirror'"), 7, '... qlm_mirror is there');
is(sql("SELECT value FROM qlm_meta WHERE name = 'schema_version'"), '2',
   '... version 2 in qlm_meta');

# a version this program does not know

sql("UPDATE qlm_meta SET value = '7' WHERE name = 'schema_version'");
for my $cmd (['summary'], ['dead'], ['log'], ['replay', 'all']) {
    ($rc, $out, $err) = pg(@$cmd);
    is($rc, 1, "@$cmd on version 7: refused");
    like($err, qr/version 7\b.*version 2\b/, '... naming both versions');
}
($rc, $out, $err) = pg('schema', 'migrate');
is($rc, 1, 'schema migrate from version 7: refused');
like($err, qr/version 7, newer than this program's 2/, '... with the reason');
sql("UPDATE qlm_meta SET value = '2' WHERE name = 'schema_version'");


# rows written by SQL, as the nginx side writes them

my $now = time() * 1000;
my ($past, $future) = ($now - 60_000, $now + 3_600_000);

sql("INSERT INTO qlm_queue (id, event_id, event, url, headers, body, due,"
    . " lease, node, attempt, created, updated) VALUES"
    . " (1, 'e1', 'license.activated', 'https://r.example/a', '',"
    . "  '\\x7b7d', $past, 0, '', 1, $past, $past),"
    . " (2, 'e2', 'license.created', 'https://r.example/a', '',"
    . "  '\\x7b7d', $future, 0, '', 0, $now, $now),"
    . " (3, 'e3', 'license.released', 'https://r.example/a', '',"
    . "  '\\x7b7d', $future, 77, 'node-a', 2, $now, $now)");

sql("INSERT INTO qlm_dead (id, event_id, event, url, headers, body,"
    . " attempt, last_status, last_error, created, updated) VALUES"
    . " (11, 'e11', 'license.deleted',"
    . "  'https://user:pw\@r.example/hook?token=t0ken', 'X-A: 1',"
    . "  '\\x7b2261223a317d', 5, 503, 'HTTP 503', $past - 3600000,"
    . "  $past - 3600000),"
    . " (12, 'e12', 'customer.created', 'https://r.example/b', '',"
    . "  '\\x7b7d', 5, 0, 'timed out', $past, $past)");

sql("INSERT INTO qlm_log (time, item_id, attempt, status, duration,"
    . " outcome, event_id, event, url, error, answer, node) VALUES"
    . " ($past - 2000, 11, 5, 503, 12, 3, 'e11', 'license.deleted',"
    . "  'https://r.example/hook', 'HTTP 503', '\\x627573', 'node-a'),"
    . " ($past - 1000, 1, 1, 500, 20, 2, 'e1', 'license.activated',"
    . "  'https://r.example/a', 'HTTP 500', '\\x', 'node-b'),"
    . " ($past, 4, 1, 200, 30, 1, 'e4', 'license.activated',"
    . "  'https://r.example/a', '', '\\x6f6b', 'node-a')");

sql("INSERT INTO qlm_counter (name, value) VALUES ('enqueued', 9),"
    . " ('delivered', 4), ('dead', 2)");


# summary

$out = ok_pg('summary');
like($out, qr/^queued +3$/m, 'summary: queued');
like($out, qr/^due +1$/m, 'summary: due');
like($out, qr/^leased +1$/m, 'summary: leased');
like($out, qr/^dead +2$/m, 'summary: dead');
like($out, qr/^log records +3$/m, 'summary: log records');
like($out, qr/^counters\n  dead +2\n  delivered +4\n  enqueued +9\n\z/m,
     'summary: the counters, sorted');

my $doc = json_pg('summary');
is_deeply([ @$doc{qw(queued due leased dead log_records next_due)} ],
          [ 3, 1, 1, 2, 3, $past ], 'summary -j: the figures');
is_deeply($doc->{counters}, { dead => 2, delivered => 4, enqueued => 9 },
          'summary -j: the counters');


# queue and dead

$doc = json_pg('queue');
is_deeply([ map { "$_->{id} $_->{state} $_->{attempt}" } @$doc ],
          [ '1 due 1', '2 waiting 0', '3 leased 2' ], 'queue -j, in due order');

$out = ok_pg('dead');
like($out, qr/^ID +STATE +DIED +ATTEMPT +STATUS +EVENT +EVENT ID +URL +LAST ERROR$/m,
     'dead: the LMDB header');
like($out, qr{^11 +dead .* 5 +503 +license\.deleted +e11 +https://r\.example/hook +HTTP 503$}m,
     'dead: a row, its URL without credentials and query');
unlike($out, qr/t0ken|user:pw/, 'dead: no URL secrets');

$doc = json_pg('dead', '--body', '--limit', '1');
is(scalar @$doc, 1, 'dead --limit 1');
is_deeply([ @{$doc->[0]}{qw(id event_id attempt last_status body headers)} ],
          [ 11, 'e11', 5, 503, '{"a":1}', 'X-A: 1' ],
          'dead -j --body: the row, body decoded');


# log, with the LMDB filters

$doc = json_pg('log');
is_deeply([ map { $_->{event_id} } @$doc ], [ 'e11', 'e1', 'e4' ],
          'log -j: oldest first');
is_deeply([ @{$doc->[0]}{qw(outcome status attempt duration_ms item_id
                            answer)} ],
          [ 'dead', 503, 5, 12, 11, 'bus' ], 'log -j: a record');

$doc = json_pg('log', '--newest-first', '--limit', '2');
is_deeply([ map { $_->{event_id} } @$doc ], [ 'e4', 'e1' ],
          'log --newest-first --limit 2');

$doc = json_pg('log', '--event', 'license.activated', '--outcome', 'retry');
is_deeply([ map { $_->{event_id} } @$doc ], [ 'e1' ],
          'log --event --outcome');

$doc = json_pg('log', '--url', 'https://r.example/hook');
is_deeply([ map { $_->{event_id} } @$doc ], [ 'e11' ], 'log --url');

$doc = json_pg('log', '--event-id', 'e4');
is_deeply([ map { $_->{event_id} } @$doc ], [ 'e4' ], 'log --event-id');

$doc = json_pg('log', '--since', int(($past - 1000) / 1000),
               '--until', int($past / 1000));
is_deeply([ map { $_->{event_id} } @$doc ], [ 'e1' ], 'log --since --until');

$out = ok_pg('log', '--limit', '1');
like($out, qr/^TIME +OUTCOME +STATUS +ATTEMPT +DURATION +ITEM +EVENT +EVENT ID +URL +ERROR +ANSWER\n.* dead +503 +5 +12 ms +11 +license\.deleted +e11 +https:\/\/r\.example\/hook +HTTP 503 +bus\n\z/,
     'log: the LMDB table');


# replay: back to the queue, same id, attempt 0, due now

($rc, $out, $err) = pg('replay', '99');
is($rc, 1, 'replay of an unknown id: exit 1');
like($err, qr/replay: /, '... with the reason');

my $before = time() * 1000;
is(ok_pg('replay', '11'), "replayed 1\n", 'replay 11');
my $after = time() * 1000 + 1000;
is(sql('SELECT count(*) FROM qlm_dead WHERE id = 11'), 0,
   '... gone from qlm_dead');
my ($attempt, $due, $lease, $node, $status, $error, $event, $body, $upd) =
    split /\|/, sql("SELECT attempt, due, lease, node, last_status,"
                    . " last_error, event, encode(body, 'escape'), updated"
                    . " FROM qlm_queue WHERE id = 11");
is($attempt, 0, '... in qlm_queue with attempt 0');
ok($due >= $before - 1000 && $due <= $after, '... due now') or diag($due);
is($upd, $due, '... updated now');
is("$lease $node", '0 ', '... not leased');
is("$status $error $event $body", '503 HTTP 503 license.deleted {"a":1}',
   '... its status, error, event and body kept');

$out = ok_pg('summary');
like($out, qr/^queued +4$/m, 'summary after replay: queued 4');
like($out, qr/^dead +1$/m, 'summary after replay: dead 1');

# a dead letter whose event and URL are queued again stays

sql("INSERT INTO qlm_dead (id, event_id, event, url, body, attempt,"
    . " last_status, last_error, created, updated) VALUES"
    . " (13, 'e1', 'license.activated', 'https://r.example/a', '\\x',"
    . " 5, 0, 'x', $now, $now)");
($rc, $out, $err) = pg('-j', 'replay', 'all');
is($rc, 0, 'replay all: exit 0');
is($out, qq({"replayed":1}\n), 'replay all -j: 1 replayed');
like($err, qr/1 dead letter kept/, '... and 1 kept: e1 is queued');
is(sql('SELECT string_agg(id::text, \' \' ORDER BY id) FROM qlm_dead'), '13',
   '... that one stays dead');
sql('DELETE FROM qlm_dead');

# recover --since: only those that died at or after it

sql("INSERT INTO qlm_dead (id, event_id, event, url, body, attempt,"
    . " last_status, last_error, created, updated) VALUES"
    . " (21, 'e21', 'x', 'https://r.example/c', '\\x', 3, 0, '',"
    . "  $now - 7200000, $now - 7200000),"
    . " (22, 'e22', 'x', 'https://r.example/c', '\\x', 3, 0, '',"
    . "  $now - 60000, $now - 60000)");
is(ok_pg('recover', '--since', '-1h'), "replayed 1\n", 'recover --since -1h');
is(sql('SELECT string_agg(id::text, \' \' ORDER BY id) FROM qlm_dead'), '21',
   '... the older one stays');
is(sql('SELECT attempt FROM qlm_queue WHERE id = 22'), 0,
   '... the newer one queued');


# the license mirror: licenses and customers on rows written by SQL, as
# nginx's forward writes them

sub write_file {
    my ($name, $text) = @_;
    open(my $fh, '>', $name) or die "$name: $!";
    print $fh $text;
    close $fh;
}

# sql() with double quotes (JSON's) in it: psql's command is in the shell's
sub sql_json { my ($q) = @_; $q =~ s/"/\\"/g; return sql($q) }

sql_json("INSERT INTO qlm_mirror (tbl, key, updated, deleted, fields, seq,"
    . " written) VALUES"
    . " (0, 'b-2', $past, false,"
    . "  '{\"ActivationKey\": \"b-2\", \"Email\": \"b\@x.example\"}',"
    . "  nextval('qlm_mirror_seq'), $past),"
    . " (0, 'A-1', $now, true,"
    . "  '{\"ActivationKey\": \"A-1\", \"ComputerID\": \"PC-0\"}',"
    . "  nextval('qlm_mirror_seq'), $now),"
    . " (1, 'c\@x.example', $past, false, '{\"Email\": \"c\@x.example\"}',"
    . "  nextval('qlm_mirror_seq'), $past)");

$out = ok_pg('licenses');
my @lines = split /\n/, $out;
is(scalar @lines, 3, 'licenses: a header and two rows');
like($lines[0], qr/^KEY +UPDATED +DELETED +FIELDS$/, 'licenses: the header');
like($lines[1], qr/^A-1 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +yes +ComputerID=PC-0; ActivationKey=A-1$/,
     'licenses: in byte order, a deleted one shown as on LMDB');
like($lines[2],
     qr/^b-2 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +no +Email=b\@x\.example; ActivationKey=b-2$/,
     'licenses: its fields');

$doc = json_pg('licenses');
is_deeply($doc,
          [ { key => 'A-1', updated => $now, updated_iso => $doc->[0]{updated_iso},
              deleted => JSON::PP::true,
              fields => { ActivationKey => 'A-1', ComputerID => 'PC-0' } },
            { key => 'b-2', updated => $past, updated_iso => $doc->[1]{updated_iso},
              deleted => JSON::PP::false,
              fields => { ActivationKey => 'b-2', Email => 'b@x.example' } } ],
          'licenses -j: the rows');
like($doc->[0]{updated_iso}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
     'licenses -j: updated_iso');

$doc = json_pg('licenses', '--limit', '1');
is(scalar @$doc, 1, 'licenses --limit 1');

$doc = json_pg('customers');
is_deeply([ map { $_->{key} } @$doc ], [ 'c@x.example' ],
          'customers: table 1 only');

# import: the LMDB tests' JSON lines and array (cli.t), then QLM's data set
# XML and the console's CSV export (t/031-qlm-example.t's forms)

write_file("$dir/licenses.jsonl",
    qq({"ActivationKey":"K-1","Email":"a\@b.c","ProductID":7,"SubscriptionExpiryDate":"2026-12-20T00:00:00"}\n)
    . "not json\n\n"
    . qq({"Email":"nokey\@b.c"}\n)
    . qq({"ActivationKey":"K-2","FullName":"Jo","UsesAdminEncryption":false,"Features":null}\n));

my $seq0 = sql('SELECT last_value FROM qlm_mirror_seq');

($rc, $out, $err) = pg('import', 'licenses', "$dir/licenses.jsonl");
is($rc, 1, 'import with bad records: exit 1');
is($out, "loaded 2, skipped 2\n", 'import: the summary of LMDB\'s import');
like($err, qr/^qlm-store: import: line 2: .*, skipped$/m,
     'import: a line that is not JSON is named');
like($err, qr/^qlm-store: import: line 4: no ActivationKey, skipped$/m,
     'import: a record without its key is named');

is(sql("SELECT count(*) FROM qlm_mirror WHERE tbl = 0 AND key LIKE 'K-%'"
       . " AND seq > $seq0 AND NOT deleted"
       . " AND abs(written - (extract(epoch FROM now()) * 1000)::bigint)"
       . " < 60000"), 2,
   'import: rows with a new seq, written by the database\'s clock');

$doc = json_pg('licenses');
is_deeply([ map { $_->{key} } @$doc ], [ 'A-1', 'K-1', 'K-2', 'b-2' ],
          'licenses: the imported ones listed, in key order');
is_deeply($doc->[1]{fields},
          { ActivationKey => 'K-1', Email => 'a@b.c', ProductID => '7',
            ExpiryDate => '2026-12-20T00:00:00' },
          'import: numbers as text, the expiry date\'s alias');
is_deeply($doc->[2]{fields},
          { ActivationKey => 'K-2', FullName => 'Jo',
            UsesAdminEncryption => 'false' },
          'import: booleans as text, nulls left out');

# the same file in an LMDB store: the same listing but for the times
# (jsonb keeps a record's fields in its own order)
{
    mkdir("$dir/lmdb");
    my ($lrc, $lout, $lerr) = run('--map-size', '10m', "$dir/lmdb", 'import',
                                  'licenses', "$dir/licenses.jsonl");
    is("$lrc $lout", "1 loaded 2, skipped 2\n", 'LMDB: the same import');
    ($lrc, $lout) = run('-j', "$dir/lmdb", 'licenses');
    my $ldoc = JSON::PP->new->decode($lout);
    my @pg = grep { $_->{key} =~ /^K-/ } @$doc;
    delete @$_{qw(updated updated_iso)} for @pg, @$ldoc;
    is_deeply(\@pg, $ldoc, 'LMDB and PostgreSQL: the same records');
}

my $k1 = sql("SELECT seq FROM qlm_mirror WHERE tbl = 0 AND key = 'K-1'");

# a second import merges: later fields overwrite, the others stay; a key
# twice in one file is two changes of its row

write_file("$dir/licenses.json",
    qq([{"ActivationKey":"K-1","ComputerID":"PC-9","Email":"new\@b.c"},\n)
    . qq( {"ActivationKey":"K-2","FullName":"Jo Two"},\n)
    . qq( {"ActivationKey":"K-2","Country":"FR"}]\n));

is(ok_pg('import', 'licenses', "$dir/licenses.json"),
   "loaded 3, skipped 0\n", 'import of an array');

$doc = json_pg('licenses');
is_deeply($doc->[1]{fields},
          { ActivationKey => 'K-1', Email => 'new@b.c', ProductID => '7',
            ExpiryDate => '2026-12-20T00:00:00', ComputerID => 'PC-9' },
          'merge: later fields overwrite, others kept');
is_deeply($doc->[2]{fields},
          { ActivationKey => 'K-2', FullName => 'Jo Two',
            UsesAdminEncryption => 'false', Country => 'FR' },
          'merge: a key twice in one file, both changes');
ok(sql("SELECT seq FROM qlm_mirror WHERE tbl = 0 AND key = 'K-1'") > $k1,
   'merge: the seq grows');

# a newer record is kept; a tombstone is replaced, not merged

sql("UPDATE qlm_mirror SET updated = $future WHERE tbl = 0 AND key = 'K-1'");
sql("UPDATE qlm_mirror SET updated = $past WHERE tbl = 0 AND key = 'A-1'");
$k1 = sql("SELECT seq FROM qlm_mirror WHERE tbl = 0 AND key = 'K-1'");

write_file("$dir/again.json",
    qq([{"ActivationKey":"K-1","Email":"old\@b.c"},\n)
    . qq( {"ActivationKey":"A-1","Email":"back\@b.c"}]\n));
is(ok_pg('import', 'licenses', "$dir/again.json"), "loaded 2, skipped 0\n",
   'import over a newer row and a tombstone');
is(sql("SELECT fields->>'Email' || ' ' || seq || ' ' || updated"
       . " FROM qlm_mirror WHERE tbl = 0 AND key = 'K-1'"),
   "new\@b.c $k1 $future", 'a newer row: kept as it was, its seq too');

$doc = json_pg('licenses', '--limit', '1');
is_deeply([ $doc->[0]{key}, $doc->[0]{deleted}, $doc->[0]{fields} ],
          [ 'A-1', JSON::PP::false,
            { ActivationKey => 'A-1', Email => 'back@b.c' } ],
          'a tombstone: replaced by the record, fields not merged');

# QLM's data set XML and the console's CSV export

write_file("$dir/lic.xml", join("\n",
    '<?xml version="1.0" standalone="yes"?>', '<NewDataSet>',
    '  <xs:schema id="NewDataSet" xmlns:xs="http://www.w3.org/2001/XMLSchema"/>',
    '  <qryLicenseInfo>',
    '    <ActivationKey>X-1</ActivationKey>',
    '    <FullName>John Smith</FullName>',
    '    <SubscriptionExpiryDate>2021-05-29T23:59:59</SubscriptionExpiryDate>',
    '    <ComputerID />',
    '  </qryLicenseInfo>', '</NewDataSet>', ''));
is(ok_pg('import', 'licenses', "$dir/lic.xml"), "loaded 1, skipped 0\n",
   'import of QLM\'s data set XML');

write_file("$dir/lic.csv", "\xef\xbb\xbf"
    . "Activation Key,Full Name,Comment,Expiry Date\r\n"
    . "C-1,\"Smith, John\",\"say \"\"hi\"\"\",5/29/2021 11:59:59 PM\r\n");
is(ok_pg('import', 'licenses', "$dir/lic.csv"), "loaded 1, skipped 0\n",
   'import of the console\'s CSV export');

$doc = json_pg('licenses');
my %by = map { $_->{key} => $_->{fields} } @$doc;
is_deeply($by{'X-1'},
          { ActivationKey => 'X-1', FullName => 'John Smith',
            ExpiryDate => '2021-05-29T23:59:59', ComputerID => '' },
          'XML: the columns, an empty one empty');
is_deeply($by{'C-1'},
          { ActivationKey => 'C-1', FullName => 'Smith, John',
            Comment => 'say "hi"', ExpiryDate => '5/29/2021 11:59:59 PM' },
          'CSV: the columns without their spaces, quoted fields');

# a value that is not UTF-8 (CSV keeps bytes as they are): jsonb cannot
# hold it, it is left out and counted

write_file("$dir/latin1.csv",
    "ActivationKey,FullName,Email\n" . "L-1,Jos\xe9,l\@x.example\n");
($rc, $out, $err) = pg('import', 'licenses', "$dir/latin1.csv");
is($rc, 1, 'a field not UTF-8: exit 1');
is($out, "loaded 1, skipped 0, 1 field not UTF-8 left out\n",
   '... counted in the summary');
like($err, qr/^qlm-store: import: "L-1": 1 field not UTF-8, left out$/m,
     '... named by its record');
is(sql("SELECT fields::text FROM qlm_mirror WHERE tbl = 0 AND key = 'L-1'"),
   '{"Email": "l@x.example", "ActivationKey": "L-1"}',
   '... the other fields loaded');
$doc = json_pg('import', 'licenses', "$dir/lic.csv");
is_deeply($doc, { loaded => 1, skipped => 0 }, 'import -j: the summary');

# customers, and more records than a transaction and a listing slice

write_file("$dir/customers.jsonl",
    join('', map { qq({"Email":"u$_\@x.example","FullName":"U $_"}\n) }
                 1 .. 1500));
is(ok_pg('import', 'customers', "$dir/customers.jsonl"),
   "loaded 1500, skipped 0\n", 'import customers: 1500 records');
$doc = json_pg('customers');
is(scalar @$doc, 1501, 'customers: every one, over two slices');
is_deeply([ map { $_->{key} } @$doc ],
          [ sort map { $_->{key} } @$doc ], '... in byte order, once each');
is(scalar(() = ok_pg('customers', '--limit', '1200') =~ /\n/g), 1201,
   'customers --limit 1200: a header and 1200 rows');

($rc, $out, $err) = pg('import', 'things', "$dir/licenses.json");
is($rc, 2, 'import of an unknown table: usage error');
($rc, $out, $err) = pg('import', 'licenses', "$dir/none.json");
is($rc, 1, 'import of a missing file: exit 1');
like($err, qr/none\.json/, '... named');


# trim: the log's bounds, as on LMDB

sql("DELETE FROM qlm_log");
sql("INSERT INTO qlm_log (time, item_id, attempt, status, duration, outcome,"
    . " event_id, event, url, error, answer, node) SELECT g, g, 1, 200, 1, 1,"
    . " 'e' || g, 'license_created', 'http://x.example/', '', '', 'n'"
    . " FROM generate_series(1, 12050) g");
is(ok_pg('trim', '--log-max-records', '50'), "removed 12000\n",
   'trim --log-max-records 50: the oldest go, over two statements');
is(sql("SELECT count(*) || ' ' || min(time) FROM qlm_log"), '50 12001',
   '... the newest 50 stay');
is_deeply(json_pg('trim', '--log-max-age', '1'), { removed => 50 },
          'trim --log-max-age 1 -j: those older than a second go');
is(sql("SELECT count(*) FROM qlm_log"), 0, '... none left');


# the password never shown

ok(!grep({ index($_, $password) >= 0 } @seen),
   'the password is in no output');

done_testing();
