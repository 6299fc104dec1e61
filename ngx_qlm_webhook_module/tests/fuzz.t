#!/usr/bin/env perl
# A short run of each libFuzzer target (ASan and UBSan), for the test
# suite: QLM_FUZZ_TIME seconds each (5), on its corpus under this
# directory, new inputs kept in a temporary directory.  The long run is
# "make fuzz".  Skipped when clang has no libFuzzer.
#
#   prove ngx_qlm_webhook_module/tests/fuzz.t
#   QLM_FUZZ_BUILD=/tmp/b QLM_FUZZ_TIME=30 prove ngx_qlm_webhook_module/tests/fuzz.t

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use Test::More;

my $src = File::Spec->rel2abs(dirname(__FILE__));
my $top = dirname(dirname($src));
my $build = $ENV{QLM_FUZZ_BUILD} || "$top/build/search";
my $time = $ENV{QLM_FUZZ_TIME} || 5;

# the target, its corpus, a dictionary
my @targets = (
    [search  => 'corpus'],
    [payload => 'corpus-payload'],
    [form    => 'corpus-form'],
    [verify  => 'corpus-verify'],
    [field   => 'corpus-field', 'xml.dict'],
);

my $out = qx{make -s -C '$src' O='$build' fuzzer 2>&1};

plan skip_all => "no libFuzzer: $out"
    unless -x "$build/fuzz_form" && $out !~ /has no libFuzzer/;

my $tmp = tempdir('qlm-fuzz-XXXXXX', TMPDIR => 1, CLEANUP => 1);

for my $t (@targets) {
    my ($name, $corpus, $dict) = @$t;
    my $bin = "$build/fuzz_$name";
    my $d = $dict ? "-dict='$src/$dict'" : '';

    mkdir "$tmp/$name";

    my $log = qx{cd '$tmp' && '$bin' -max_total_time=$time -max_len=4096 \\
                 -timeout=10 -print_final_stats=1 $d '$tmp/$name' \\
                 '$src/$corpus' 2>&1};
    my $rc = $? >> 8;

    my ($runs) = $log =~ /stat::number_of_executed_units:\s*(\d+)/;

    ok($rc == 0 && $runs, "fuzz_$name: ${time}s, " . ($runs // 0)
                          . " executions, no finding")
        or diag(join "\n", grep { /ERROR|SUMMARY|#\d+ 0x|Test unit/ }
                           split /\n/, $log);
}

done_testing();
