package Test::Nginx::Lite::Server;

# The nginx side of the lightweight Test::Nginx::Socket replacement:
# settings, the server root, nginx.conf, starting and stopping nginx and
# reading the error log.  Behaviour follows openresty/test-nginx
# (Test::Nginx::Util); the code is our own.

use strict;
use warnings;

use Exporter 'import';
use File::Spec ();
use File::Path qw(make_path remove_tree);
use IO::Socket::INET ();
use POSIX qw(:sys_wait_h SIGQUIT SIGKILL);
use Time::HiRes qw(sleep time);
use Test::More ();

our @EXPORT = qw(
    $ServerAddr $ServerPort %Opt
    bail_out expand_env parse_time fmt_str
    setup_server_root write_user_files write_config
    nginx_pid is_running run_nginx start_nginx_bg stop_nginx wait_pid_file
    reset_error_log error_log_lines nginx_child_gone
);

our $ServerAddr = '127.0.0.1';
our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;

# Everything the test file can change through the exported setters.
our %Opt = (
    workers            => 1,
    worker_connections => 64,
    log_level          => $ENV{TEST_NGINX_LOG_LEVEL} || 'debug',
    master             => $ENV{TEST_NGINX_MASTER_PROCESS} || 'off',
    daemon             => 'on',
    server_name        => 'localhost',
    no_root_location   => 0,
    env                => [],
    preamble           => '',
    timeout            => $ENV{TEST_NGINX_TIMEOUT} || 3,
    sleep              => $ENV{TEST_NGINX_SLEEP} || 0.015,
    accum_error_log    => $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG},
    valgrind           => $ENV{TEST_NGINX_USE_VALGRIND},
    load_modules       => $ENV{TEST_NGINX_LOAD_MODULES},
);

# Under valgrind nginx stays in the foreground, as a child of ours.
$Opt{daemon} = 'off' if $Opt{valgrind};

our $Binary = $ENV{TEST_NGINX_BINARY}
    || (grep { -f && -x _ } map { "$_/nginx" } split /:/, $ENV{PATH} // '')[0]
    || '/usr/sbin/nginx';

our $ServRoot = $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
our $ConfDir  = "$ServRoot/conf";
our $LogDir   = "$ServRoot/logs";
our $HtmlDir  = "$ServRoot/html";
our $ConfFile = "$ConfDir/nginx.conf";
our $ErrLog   = "$LogDir/error.log";
our $AccLog   = "$LogDir/access.log";
our $PidFile  = "$LogDir/nginx.pid";
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $ChildPid;      # nginx (under valgrind) running as our direct child
my $ErrLogPos = 0;  # how much of error.log the checks have already seen
my $NginxV;         # output of nginx -V

sub bail_out {
    stop_nginx('bail_out');
    Test::More::BAIL_OUT(join '', @_);
}

# "10ms" -> 0.01, "2s" -> 2, "1.5" -> 1.5
sub parse_time {
    my $t = shift;
    return $t unless defined $t;
    return $1 / 1000 if $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $1 if $t =~ /^\s*([\d.]+)\s*s?\s*$/;
    return $t;
}

sub fmt_str {
    (my $s = shift) =~ s/\n\z//;
    $s =~ s/(["\r\n])/{ '"' => '\\"', "\r" => '\\r', "\n" => '\\n' }->{$1}/ge;
    return $s;
}

# Replace $TEST_NGINX_FOO by $ENV{TEST_NGINX_FOO}; an unset variable aborts
# the run, as in the real module.  $TEST_NGINX_RAND_PORT_N: a free port,
# the same one for the whole block.
our %RandPorts;
sub expand_env {
    my ($text, $name) = @_;
    return $text unless defined $text && !ref $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        $var =~ /^TEST_NGINX_RAND_PORT_\d+$/ ? ($RandPorts{$var} //= free_port())
        : defined $ENV{$var} ? $ENV{$var}
        : bail_out("$name - No environment $var defined.\n");
    }ge;
    return $text;
}

sub free_port {
    my %used = map { $_ => 1 } $ServerPort, grep { defined } values %RandPorts;
    for my $port (map { 1988 + int rand 60000 } 1 .. 1000) {
        next if $used{$port};
        my $s = IO::Socket::INET->new(LocalAddr => $ServerAddr, LocalPort => $port,
                                      Listen => 1, ReuseAddr => 1) or next;
        close $s;
        return $port;
    }
    bail_out("Cannot find an available listening port number.\n");
}

# A fresh server root for every nginx start: conf/, html/ and logs/ are
# recreated, so each block sees only its own error.log.
sub setup_server_root {
    if (-d $ServRoot) {
        remove_tree($ConfDir, $LogDir, $HtmlDir, "$ServRoot/cache",
                    glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));
        # like the real one: never delete anything we did not create
        rmdir $ServRoot or bail_out("Can't remove $ServRoot (not empty?): $!");
    }
    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        mkdir $dir or bail_out("Failed to do mkdir $dir: $!\n");
    }
    write_file("$HtmlDir/index.html",
        '<html><head><title>It works!</title></head><body>It works!</body></html>');
}

sub write_file {
    my ($path, $data) = @_;
    open my $out, '>', $path or bail_out("Can't open $path for writing: $!\n");
    binmode $out;
    print $out $data;
    close $out;
}

# --- user_files: either ">>> name [touch-date]" followed by the content,
# or (with eval) an array of [name, content, date].
sub write_user_files {
    my ($block) = @_;
    my $files = $block->user_files or return;
    my $name  = $block->name;
    if (!ref $files) {
        my @list;
        for my $line (split /^/, $files) {
            if ($line =~ />>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, undef, $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type: ", ref $files,
                 ", only scalar or ARRAY are accepted");
    }
    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{(.*)/} && !-d $1) {
            make_path($1) or bail_out("$name - Cannot create directory $1");
        }
        write_file($path, expand_env($body // '', $name));
        if ($date) {
            system("TZ=GMT touch -t '$date' '$path'") == 0
                or bail_out("$name - failed to set the date of $path");
        }
    }
}

sub nginx_v {
    return $NginxV if defined $NginxV;
    $NginxV = `'$Binary' -V 2>&1`;
    bail_out("Failed to run \"$Binary -V\": $NginxV") if $? != 0;
    return $NginxV;
}

# The generated nginx.conf, laid out as Test::Nginx::Util does it (the
# only change: load_module lines come first).
sub write_config {
    my ($block, $config) = @_;
    my $name = $block->name;
    my %sec = map { $_ => expand_env($block->$_ // '', $name) }
              qw(main_config http_config post_main_config);
    my $level = $block->log_level || $Opt{log_level};
    my $v = nginx_v();

    my $temp = '';
    for my $t (qw(client_body proxy fastcgi scgi uwsgi)) {
        next if $v =~ /--without-http_${t}_module/;
        next if $sec{http_config} =~ /\b${t}_temp_path\b/;
        $temp .= " ${t}_temp_path $ServRoot/${t}_temp;";
    }

    my $conf = '';
    for my $mod (grep { length } split /\s+/, $Opt{load_modules} // '') {
        $conf .= "load_module " . File::Spec->rel2abs($mod) . ";\n";
    }
    $conf .= <<"_EOC_";
worker_processes  $Opt{workers};
daemon $Opt{daemon};
master_process $Opt{master};
error_log $ErrLog $level;
pid       $PidFile;
_EOC_
    for my $e (@{ $Opt{env} }) {
        $conf .= "env " . ($e =~ /\s/ ? "'$e'" : $e) . ";\n";
    }
    my $root = $Opt{no_root_location} ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    $conf .= <<"_EOC_";

$sec{main_config}

http {
    access_log $AccLog;$temp

    default_type text/plain;
    keepalive_timeout  68000ms;

$sec{http_config}
    server {
        listen          $ServerPort;
        server_name     '$Opt{server_name}';
        client_max_body_size 30M;
$Opt{preamble}
        # test case config
$config
$root    }
}

$sec{post_main_config}

events {
    accept_mutex off;
    worker_connections  $Opt{worker_connections};
}
_EOC_
    $conf .= "user root;\n" if $> == 0;
    write_file($ConfFile, $conf);
}

sub nginx_cmd {
    -x $Binary or bail_out("Cannot find the nginx executable ($Binary)");
    return ($Binary, '-e', $ErrLog, '-p', "$ServRoot/", '-c', $ConfFile);
}

sub spawn {
    my ($new_group, @cmd) = @_;
    my $pid = fork // bail_out("fork() failed: $!");
    return $pid if $pid;
    setpgrp(0, 0) if $new_group;
    open STDOUT, '>', '/dev/null';
    exec { $cmd[0] } @cmd;
    warn "exec $cmd[0] failed: $!\n";
    POSIX::_exit(127);
}

# Run nginx and wait (bounded) for the command to return: with "daemon on"
# it returns once nginx has daemonized.  Returns the wait status, or undef
# and the pid when the process is still running after $limit seconds.
sub run_nginx {
    my ($limit) = @_;
    my $pid = spawn(0, nginx_cmd());
    my $deadline = time + $limit;
    while (time < $deadline) {
        return $? if waitpid($pid, WNOHANG) == $pid;
        sleep 0.01;
    }
    return (undef, $pid);
}

# Valgrind mode: nginx in the foreground of its own process group.
sub start_nginx_bg {
    my $opts = $Opt{valgrind};
    my @vg = ('valgrind', '--num-callers=100', '-q');
    if ($opts =~ /^\d+$/) {
        push @vg, qw(--tool=memcheck --leak-check=full --keep-debuginfo=yes
                     --show-possibly-lost=no --gen-suppressions=all);
        push @vg, '--suppressions=valgrind.suppress' if -f 'valgrind.suppress';
    } else {
        @vg = ('valgrind', '-q', split ' ', $opts);
    }
    $ChildPid = spawn(1, @vg, nginx_cmd());
}

# True when the valgrind child has already exited.
sub nginx_child_gone {
    return 0 unless $ChildPid;
    return 0 if waitpid($ChildPid, WNOHANG) == 0;
    undef $ChildPid;
    return 1;
}

sub is_running {
    my $pid = shift;
    return 0 unless $pid && kill 0, $pid;
    waitpid($pid, WNOHANG);     # reap it if it is our child
    return 0 unless kill 0, $pid;
    if (open my $st, '<', "/proc/$pid/stat") {     # zombies do not count
        my $line = <$st> // '';
        return 0 if $line =~ /^\d+ \(.*\) Z/s;
    }
    return 1;
}

sub nginx_pid {
    open my $in, '<', $PidFile or return undef;
    my $pid = <$in>;
    return ($pid && $pid =~ /(\d+)/) ? $1 : undef;
}

sub wait_pid_file {
    my $limit = shift;
    my $deadline = time + $limit;
    sleep 0.01 while !nginx_pid() && time < $deadline;
    return nginx_pid();
}

# Stop nginx gracefully (QUIT), then by force (KILL to its group) if it
# does not exit within the timeout.  Every wait is bounded.
sub stop_nginx {
    my ($name) = @_;
    my @pids = grep { defined } $ChildPid, nginx_pid();
    my %seen;
    for my $pid (grep { !$seen{$_}++ } @pids) {
        next unless is_running($pid);
        kill SIGQUIT, $pid;
        my $limit = $ChildPid ? ($Opt{timeout} > 10 ? $Opt{timeout} : 10) : $Opt{timeout};
        my $deadline = time + $limit;
        sleep 0.02 while is_running($pid) && time < $deadline;
        if (is_running($pid)) {
            warn "$name - timeout when waiting for the process $pid to exit\n";
            kill SIGKILL, (getpgrp($pid) == $pid ? -$pid : $pid);
            $deadline = time + 2;
            sleep 0.02 while is_running($pid) && time < $deadline;
        }
    }
    undef $ChildPid;
    unlink $PidFile;
}

sub reset_error_log { $ErrLogPos = 0 }

# The error.log lines appended since the previous call (or since the
# start of the block after reset_error_log()).
sub error_log_lines {
    sleep $Opt{sleep} * 3;   # let nginx finish logging (log phase)
    open my $in, '<', $ErrLog or return [];
    seek $in, $ErrLogPos, 0 if !$Opt{accum_error_log} && $ErrLogPos > 0;
    my @lines = <$in>;
    $ErrLogPos = tell $in unless $Opt{accum_error_log};
    close $in;
    return \@lines;
}

1;
