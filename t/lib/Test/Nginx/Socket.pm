package Test::Nginx::Socket;

# A small stand-in for Test::Nginx::Socket (openresty/test-nginx), used when
# the real module is not installed: the subset of its data-driven format that
# this project's t/*.t use, with the same test names and counts.  Test::Base
# provides the "=== TEST"/"--- section" parser, the filters (eval, chomp...)
# and the Test::More functions re-exported to the test file, as in the real
# one.  Helpers: Test::Nginx::Lite::Server (server root, nginx.conf, the nginx
# process, error.log) and Test::Nginx::Lite::HTTP (requests, responses).

use Test::Base -base;   # we become Test::Base's default class

use strict;
use warnings;

use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep);
use List::Util qw(min);
use Test::Nginx::Lite::Server;
use Test::Nginx::Lite::HTTP;

our $VERSION = '0.01';

our @EXPORT = qw(
    run_tests repeat_each no_shuffle master_on master_off master_process_enabled
    workers worker_connections log_level no_long_string no_root_location
    env_to_nginx config_preamble html_dir server_root server_port server_addr
    server_name timeout check_accum_error_log add_block_preprocessor
    add_cleanup_handler add_test_cleanup_handler bail_out is_str
    $ServerPort $ServerAddr
);

my $HaveLongString = eval { require Test::LongString; 1 };
my $MainPid = $$;
my $RepeatEach = 1;
my $NoLongString;
my (@Preprocessors, @CleanupHandlers, @TestCleanupHandlers);
my ($PrevBlock, $PrevConfig);

# Sections of the real module that this runner ignores: warn about them.
my @Unsupported = qw(
    pipelined_requests skip_nginx skip_eval todo access_log no_access_log
    tcp_listen udp_listen http2 init response_body_filters server_name
    raw_response_headers_like no_shutdown_error_log post_setup_server_root
);

# ---------------------------------------------------------------------------
# The file-level API (same names and prototypes as the real module)

sub repeat_each (@)        { $RepeatEach = shift if @_; $RepeatEach }
sub no_shuffle ()          { }      # blocks always run in file order here
sub master_on ()           { $Opt{master} = 'on' }
sub master_off ()          { $Opt{master} = 'off' }
sub workers (@)            { @_ ? ($Opt{workers} = shift) : $Opt{workers} }
sub worker_connections (@) { @_ ? ($Opt{worker_connections} = shift) : $Opt{worker_connections} }
sub log_level (@)          { @_ ? ($Opt{log_level} = shift) : $Opt{log_level} }
sub timeout (@)            { @_ ? ($Opt{timeout} = shift) : $Opt{timeout} }
sub server_name (@)        { @_ ? ($Opt{server_name} = shift) : $Opt{server_name} }
sub server_addr (@)        { @_ ? ($ServerAddr = shift) : $ServerAddr }
sub server_port (@)        { @_ ? ($ServerPort = shift) : $ServerPort }
sub no_long_string ()      { $NoLongString = 1 }
sub no_root_location ()    { $Opt{no_root_location} = 1 }
sub check_accum_error_log () { $Opt{accum_error_log} = 1 }
sub config_preamble ($)    { $Opt{preamble} = shift }
sub html_dir ()            { $Test::Nginx::Lite::Server::HtmlDir }
sub server_root ()         { $Test::Nginx::Lite::Server::ServRoot }
sub add_block_preprocessor (&) { unshift @Preprocessors, shift }
sub add_cleanup_handler ($)    { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }

sub master_process_enabled (@) {
    $Opt{master} = $_[0] ? 'on' : 'off' if @_;
    return $Opt{master};
}

sub env_to_nginx (@) {
    Carp::croak("env_to_nginx: no arguments specified") unless @_;
    for my $v (@_) {
        Carp::croak("env_to_nginx: bad argument value: $v\n") if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @{ $Opt{env} }, $v;
    }
}

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::like($got, $expected, $desc) if ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc) if $NoLongString || !$HaveLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

sub run_tests () {
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;
    for my $block (Test::Base::blocks()) {
        $_->($block) for @Preprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_block($block);
        $_->($block) for @TestCleanupHandlers;
        $PrevBlock = $block;
    }
    $_->() for @CleanupHandlers;
}

# ---------------------------------------------------------------------------
# One block: (re)start nginx with the block's configuration, then run the
# requests repeat_each() times against that same nginx.

sub run_block {
    my ($block) = @_;
    my $name = $block->name;
    %Test::Nginx::Lite::Server::RandPorts = ();
    for my $sec (@Unsupported) {
        warn "WARNING: $name - section --- $sec is not supported by this runner\n"
            if exists $block->{$sec};
    }

    my $config = $block->config;
    if (!defined $config) {
        # like the real one: no --- config means "keep the running nginx"
        defined $PrevConfig or bail_out("$name - No '--- config' section specified "
                                        . "and could not get previous one.");
    } else {
        $PrevConfig = $config = expand_env($config, $name);
        stop_nginx($name);
        check_shutdown_error_log($PrevBlock, $ENV{TEST_NGINX_NO_CLEAN}) if $PrevBlock;
        undef $PrevBlock;
        setup_server_root();
        write_user_files($block);
        write_config($block, $config);
        my $must_die = $block->must_die;
        return run_must_die($block, $must_die) if defined $must_die;
        return unless start_nginx($block);
    }

    reset_error_log();
    for my $rep (0 .. $RepeatEach - 1) {
        write_user_files($block) if $rep > 0;
        run_requests($block, $rep);
    }
    stop_nginx($name) if $Opt{valgrind};   # valgrind reports at exit
}

sub start_nginx {
    my ($block) = @_;
    my $name = $block->name;
    if ($Opt{valgrind}) {
        warn "$name\n";
        start_nginx_bg();   # the requests wait (bounded) for the port
        sleep $Opt{sleep};
        return 1;
    }
    my ($status, $pid) = run_nginx(10);
    if (!defined $status) {
        $Test::Nginx::Lite::Server::ChildPid = $pid;
        stop_nginx($name);
        Test::More::fail("$name - nginx did not start within 10 seconds");
        return 0;
    }
    if ($status != 0) {
        my @emerg = grep { /\[(?:emerg|alert|crit)\]/ } @{ error_log_lines() };
        Test::More::fail("$name - Cannot start nginx (status code $status)");
        Test::More::diag(join '', @emerg) if @emerg;
        return 0;
    }
    wait_pid_file(2);       # the daemon writes it right after forking
    sleep $Opt{sleep};
    return 1;
}

# --- must_die [exit code]: nginx has to fail to start, each repetition.
sub run_must_die {
    my ($block, $must_die) = @_;
    my $name = $block->name;
    reset_error_log();
    for my $rep (0 .. $RepeatEach - 1) {
        my ($status, $pid) = run_nginx($Opt{daemon} eq 'on' ? 10 : $Opt{timeout});
        my $running = !defined $status;
        $status //= 0;
        if ($status & 128) {
            Test::More::fail("$name - nginx core dumped");
        } elsif (looks_like_number($must_die)) {
            Test::More::is($must_die, $status >> 8, "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }
        check_error_log($block, undef, $rep, 0);
        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; killing it (req $rep)\n";
            $Test::Nginx::Lite::Server::ChildPid = $pid if $running;
            wait_pid_file(1) unless $running;
            stop_nginx($name);
        }
    }
}

sub run_requests {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $reqs = block_requests($block);
    my $timeout = parse_time(scalar $block->timeout) // $Opt{timeout};
    my $need_array = @$reqs > 1;
    my $wait = $block->wait;
    my $res;
    for my $idx (0 .. $#$reqs) {
        my $raw = send_request($block, $reqs->[$idx], $timeout) // '';
        if (!defined $block->ignore_response) {
            my ($raw_headers, $left);
            ($res, $raw_headers, $left) =
                parse_response($name, $raw, $reqs->[$idx] =~ /^\s*HEAD\s+/);
            if ($left) {
                $left =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                warn "WARNING: $name - unexpected extra bytes after last chunk in ",
                     "response: \"$left\"\n";
            }
            check_error_code($block, $res, $idx, $need_array);
            check_response_headers($block, $res, $raw_headers // '', $idx, $need_array);
            check_response_body($block, $res, $idx, $rep, $need_array);
        }
        if ($idx < $#$reqs) {   # the real one checks the log after each request
            sleep $wait if $wait;
            check_error_log($block, $res, $rep, $need_array);
        }
    }
    sleep $wait if $wait;
    check_error_log($block, $res, $rep, $need_array);
}

# ---------------------------------------------------------------------------
# Checks.  Test names and counts follow the real module.

# With several requests every expectation must be an array, one per request.
sub indexed {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results should be arrays as well.");
    }
    return ref $value eq 'ARRAY' ? $value->[0] : $value;
}

sub check_error_code {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->{code}) || '';
    if (defined(my $like = $block->error_code_like)) {
        my $pat = indexed($name, $like, $idx, $need_array);
        Test::More::like($code, qr/$pat/sm, "$name - status code ok");
    } elsif (defined(my $expected = $block->error_code)) {
        Test::More::is($code, indexed($name, $expected, $idx, $need_array), "$name - status code ok");
    } else {
        Test::More::is($code, 200, "$name - status code ok");
    }
}

# "Name: value" lines, "!Name" for an absent header; later lines win.
sub header_spec {
    my ($text) = @_;
    my (@keys, %val);
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        my ($key, $val) = $line =~ s/^!\s*// ? ($line, undef) : split(/\s*:\s*/, $line, 2);
        push @keys, $key unless exists $val{$key};
        $val{$key} = $val;
    }
    return map { [$_, $val{$_}] } @keys;
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;
    if (defined(my $spec = $block->response_headers)) {
        for my $h (header_spec(indexed($name, $spec, $idx, $need_array))) {
            my ($key, $val) = @$h;
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                                   "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            Test::More::is(header($res, $key) // '', $val, "$name - header $key ok");
        }
    } elsif (defined($spec = $block->response_headers_like)) {
        for my $h (header_spec(indexed($name, $spec, $idx, $need_array))) {
            my ($key, $val) = @$h;
            $val //= '';
            Test::More::like(header($res, $key) // '', qr/^$val$/, "$name - header $key like ok");
        }
    }
}

sub check_response_body {
    my ($block, $res, $idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->{body} : undef;
    if (defined(my $body = $block->response_body)) {
        my $expected = indexed($name, $body, $idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected = expand_env($expected, $name);
        }
        if (ref $expected) {
            Test::More::like($content, $expected,
                "$name - response_body - like (repeated req $rep, req $idx)");
        } else {
            is_str($content, $expected,
                "$name - response_body - response is expected (repeated req $rep, req $idx)");
        }
        return;
    }
    for my $type (qw(like unlike)) {
        my $method = "response_body_$type";
        my $pats = $block->$method;
        next unless defined $pats;
        my $pat = indexed($name, $pats, $idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        my $summary = $content // '';
        $summary =~ s/^\s+|\s+$//g;
        $summary =~ s/\s+/ /g;
        no strict 'refs';
        &{"Test::More::$type"}($content, qr/$pat/s,
            "$name - response_body_$type - response is expected ($summary)");
        return;
    }
}

# Error-log patterns: a string is one literal pattern per line; with eval a
# qr// or an array of qr// and strings.
sub patterns {
    my ($pats) = @_;
    return [ ref $pats eq 'ARRAY' ? @$pats : $pats ] if ref $pats;
    chomp $pats;
    return [ split /\n+/, $pats ];
}

sub pattern_matches {
    my ($pat, $line) = @_;
    return ref $pat ? $line =~ /$pat/ : $line =~ /\Q$pat\E/;
}

# One passing test per pattern, in the order lines match them, then one
# failing test per pattern that matched no line.
sub must_match {
    my ($lines, $pats, $name, $suffix) = @_;
    for my $line (@$lines) {
        for my $pat (@$pats) {
            next unless defined $pat && pattern_matches($pat, $line);
            Test::More::pass("$name - pattern \"$pat\" matches a line in error.log$suffix");
            undef $pat;
        }
    }
    Test::More::fail("$name - pattern \"$_\" should match a line in error.log$suffix")
        for grep { defined } @$pats;
}

sub mentions {
    my ($val, $what) = @_;
    return 0 unless defined $val;
    return scalar grep { mentions($_, $what) } @$val if ref $val eq 'ARRAY';
    return "$val" =~ /\Q$what\E/;
}

sub check_error_log {
    my ($block, $res, $rep, $need_array) = @_;
    my $name = $block->name;
    my $lines = error_log_lines();

    my $grep = $block->grep_error_log;
    my $grep_out = $block->grep_error_log_out;
    bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined")
        if !defined $grep && defined $grep_out;
    $grep = $grep->[$rep] if ref $grep eq 'ARRAY';
    if (defined $grep) {
        defined $grep_out
            or bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined");
        my $expected = expand_env($grep_out, $name);
        $expected = $expected->[$rep] if ref $expected eq 'ARRAY';
        my $got = '';
        for my $line (@$lines) {
            if (ref $grep ? $line =~ /$grep/ : $line =~ /\Q$grep\E/) {
                $got .= "$&\n" if $& !~ /\n/;
            }
        }
        is_str($got, $expected, "$name - grep_error_log_out (req $rep)");
    }

    my $must = $block->error_log;
    must_match($lines, patterns($must), $name, " (req $rep)") if defined $must;

    my $mustnt = $block->no_error_log;
    if (defined $mustnt) {
        my $pats = patterns($mustnt);
        my %found;
        for my $i (0 .. $#$lines) {
            for my $pat (grep { defined } @$pats) {
                next unless pattern_matches($pat, $lines->[$i]);
                Test::More->builder->no_ending(1) if $found{$pat}++;
                my @more = @$lines[$i + 1 .. min($i + 9, $#$lines - 1)];
                Test::More::fail("$name - pattern \"" . fmt_str($pat) . "\" should not match any "
                    . "line in error.log but matches line \"" . fmt_str($lines->[$i])
                    . "\" (req $rep)\n" . join '', @more);
            }
        }
        for my $pat (grep { defined && !$found{$_} } @$pats) {
            Test::More::pass("$name - pattern \"" . fmt_str($pat)
                             . "\" does not match a line in error.log (req $rep)");
        }
    }

    # unexpected serious messages are reported, not failed (like the real one)
    for my $level (qw(alert crit emerg)) {
        next if mentions($must, "[$level") || mentions($mustnt, "[$level");
        warn "WARNING: $name - ", fmt_str($_), "\n" for grep { /\[$level\]/ } @$lines;
    }
    for my $line (grep { /\bAssertion .*?failed\b/ } @$lines) {
        Test::More->builder->no_ending(1);
        chomp(my $l = $line);
        Test::More::fail("$name - $l\n");
    }
}

# --- shutdown_error_log: checked once nginx has been stopped after the
# block (at the start of the next block or at the end of the file).
sub check_shutdown_error_log {
    my ($block, $dry_run) = @_;
    my $spec = $block->shutdown_error_log;
    return unless defined $spec;
    my $name = $block->name;
    my $lines = error_log_lines();
    my $pats = patterns($spec);
    SKIP: {
        Test::More::skip("$name - shutdown_error_log - tests skipped due to dry_run",
                         scalar @$pats) if $dry_run;
        must_match($lines, $pats, $name, '');
    }
}

END {
    if ($$ == $MainPid) {
        local $?;
        $_->() for @CleanupHandlers;
        stop_nginx('END') if $Opt{valgrind} || !$ENV{TEST_NGINX_NO_CLEAN};
        check_shutdown_error_log($PrevBlock, $ENV{TEST_NGINX_NO_CLEAN}) if $PrevBlock;
    }
}

1;
