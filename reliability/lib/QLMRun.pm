package QLMRun;

# A real nginx with a master and workers in a prefix of its own, for the
# tests that signal, kill or restart it.  Loopback only; every wait is
# bounded.
#
# Ports: a test uses base_port() and the next few (base + 1, + 2...);
# QLM_RELIABILITY_PORT moves the base so that two people can run the suite
# on one machine (2984 by default).

use strict;
use warnings;

use File::Temp qw(tempdir);
use File::Path qw(make_path);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

sub base_port { $ENV{QLM_RELIABILITY_PORT} || 2984 }

# the port "base + n"
sub port_at { base_port() + $_[-1] }

sub new {
    my ($class, %args) = @_;

    my $self = bless {
        binary  => $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx',
        modules => [split ' ', $ENV{TEST_NGINX_LOAD_MODULES} || ''],
        prefix  => tempdir('qlm-rel-XXXXXX', TMPDIR => 1,
                           CLEANUP => !$ENV{QLM_KEEP}),
        port    => $args{port} || base_port(),
        workers => $args{workers} || 2,
        user    => $args{user},
        worker_connections => $args{worker_connections} || 256,
    }, $class;

    make_path("$self->{prefix}/conf", "$self->{prefix}/logs");

    return $self;
}

sub prefix { $_[0]{prefix} }
sub port { $_[0]{port} }

# the http{} body is the caller's; PORT and PREFIX are replaced
sub write_conf {
    my ($self, $http) = @_;

    $http =~ s/\bPORT\b/$self->{port}/g;
    $http =~ s/\bPREFIX\b/$self->{prefix}/g;

    # as root the workers run as root too, unless a test asks for a user
    my $user = $> != 0 ? ""
             : $self->{user} ? "user $self->{user};\n"
             : "user root;\n";

    # a sanitizer runtime preloaded by a wrapper (make asan) must reach
    # the new binary of an upgrade; nginx keeps only the variables named
    $user .= "env LD_PRELOAD;\nenv ASAN_OPTIONS;\nenv UBSAN_OPTIONS;\n";
    my $load = join '', map { "load_module $_;\n" } @{ $self->{modules} };

    open my $fh, '>', "$self->{prefix}/conf/nginx.conf" or die $!;
    print $fh <<"_EOC_";
$load${user}worker_processes $self->{workers};
daemon on;
master_process on;
error_log logs/error.log debug;
pid logs/nginx.pid;

events {
    worker_connections $self->{worker_connections};
}

http {
    access_log off;
    client_body_temp_path $self->{prefix}/client_body_temp;
    proxy_temp_path $self->{prefix}/proxy_temp;
$http
}
_EOC_
    close $fh;
}

sub nginx {
    my ($self, @args) = @_;

    my @cmd = ($self->{binary}, '-p', "$self->{prefix}/",
               '-c', "$self->{prefix}/conf/nginx.conf",
               '-e', "$self->{prefix}/logs/error.log", @args);

    my $out = qx{@cmd 2>&1};
    return ($? >> 8, $out);
}

sub start {
    my $self = shift;

    my ($rc, $out) = $self->nginx();
    return 0 if $rc != 0;

    return $self->wait_port($self->{port}, 5);
}

sub master_pid {
    my $self = shift;

    open my $fh, '<', "$self->{prefix}/logs/nginx.pid" or return undef;
    my $pid = <$fh>;
    close $fh;

    chomp $pid if defined $pid;
    return $pid;
}

sub signal {
    my ($self, $sig) = @_;

    my $pid = $self->master_pid or return 0;
    return kill $sig, $pid;
}

# QUIT, then TERM, then KILL the process group; bounded
sub stop {
    my $self = shift;

    my $pid = $self->master_pid or return;

    for my $step (['QUIT', 8], ['TERM', 3], ['KILL', 2]) {
        my ($sig, $secs) = @$step;

        kill $sig, $pid or return;

        my $deadline = time + $secs;
        while (time < $deadline) {
            return unless kill 0, $pid;
            sleep 0.05;
        }
    }
}

# a process that runs: not gone, not a zombie waiting for its parent
# (daemons are reaped by pid 1, which some containers do late)
sub alive {
    my ($self, $pid) = @_;

    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $stat = <$fh>;
    close $fh;

    return 0 unless defined $stat;
    return $stat =~ /^\d+ \(.*\) ([A-Za-z])/ && $1 ne 'Z' && $1 ne 'X';
}

sub worker_pids {
    my $self = shift;

    my $master = $self->master_pid or return ();
    my @pids;

    opendir my $dh, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh>;
        close $fh;

        next unless defined $stat;

        # pid (comm) state ppid
        if ($stat =~ /^\d+ \(([^)]*)\) \S (\d+)/ && $2 == $master) {
            push @pids, $p;
        }
    }
    closedir $dh;

    return sort { $a <=> $b } @pids;
}

sub wait_port {
    my ($self, $port, $secs) = @_;

    my $deadline = time + $secs;

    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        if ($s) {
            close $s;
            return 1;
        }
        sleep 0.05;
    }

    return 0;
}

sub error_log {
    my $self = shift;

    open my $fh, '<:raw', "$self->{prefix}/logs/error.log" or return '';
    local $/;
    my $log = <$fh>;
    close $fh;

    return $log // '';
}

sub count {
    my ($self, $re) = @_;

    my $log = $self->error_log;
    my $n = () = $log =~ /$re/g;
    return $n;
}

# wait until $re matches at least $n times in error.log
sub wait_log {
    my ($self, $re, $n, $secs) = @_;

    my $deadline = time + $secs;

    while (time < $deadline) {
        return 1 if $self->count($re) >= $n;
        sleep 0.1;
    }

    return $self->count($re) >= $n;
}

# a plain HTTP/1.0 GET on loopback; returns (status, body)
sub get {
    my ($self, $path, $port) = @_;

    $port ||= $self->{port};

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or return (0, "connect: $!");

    print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n\r\n";

    my $res = '';
    my $deadline = time + 5;

    $s->blocking(1);
    while (time < $deadline) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $res .= $buf;
    }
    close $s;

    my ($status) = $res =~ m{^HTTP/1\.\d (\d{3})};
    my (undef, $body) = split /\r\n\r\n/, $res, 2;

    return ($status || 0, $body // '');
}

# The servers of most tests, for write_conf(): the license server on $ls
# (one fixed QLM answer), the receiver on $rcv (its access log is the
# error log, in the log_format "hook" the test defines; it answers with
# $answer, 200 by default; none with $rcv undefined, for a receiver of
# the test's own) and the proxy on PORT, whose /qlm/ emits
# license_created.
sub servers {
    my ($ls, $rcv, $answer) = @_;
    $answer //= 200;

    my $receiver = !defined $rcv ? '' : <<"_EOC_";
    server {
        listen 127.0.0.1:$rcv;
        location /hook {
            access_log PREFIX/logs/error.log hook;
            return $answer;
        }
    }

_EOC_

    return <<"_EOC_";
    server {
        listen 127.0.0.1:$ls;
        location / {
            return 200 '<QuickLicenseManager><pckey>K</pckey></QuickLicenseManager>';
        }
    }

$receiver    server {
        listen 127.0.0.1:PORT;
        location /qlm/ {
            proxy_pass http://127.0.0.1:$ls;
            qlm_webhook_emit license_created;
        }
    }
_EOC_
}

# A receiver outside nginx: answers each webhook after $delay seconds,
# one process a connection (keep-alive honoured), for at most $life
# seconds.  Appends "GOT id attempt" when a request arrives and "ANS id
# attempt" once the answer is written, to $log.  Returns its pid.
sub receiver {
    my ($self, %args) = @_;

    my $port = $args{port};
    my $delay = $args{delay} || 0;
    my $life = $args{life} || 60;
    my $log = $args{log};

    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                    LocalPort => $port, Listen => 256,
                                    ReuseAddr => 1, Proto => 'tcp',
                                    Timeout => 1)
        or die "listen $port: $!";

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid) {
        close $srv;
        push @{ $self->{receivers} }, $pid;
        return $pid;
    }

    # one process group: stop_receivers() ends the connections' too
    setpgrp(0, 0);
    $SIG{CHLD} = 'IGNORE';
    $SIG{PIPE} = 'IGNORE';
    my $deadline = time + $life;

    while (time < $deadline) {
        my $c = $srv->accept or next;

        my $child = fork;
        next unless defined $child;

        if ($child) {
            close $c;
            next;
        }

        close $srv;
        _serve($c, $delay, $log, $deadline);
        POSIX::_exit(0);
    }

    POSIX::_exit(0);
}

sub _note {
    my ($log, $line) = @_;

    open my $fh, '>>', $log or return;
    syswrite $fh, "$line\n";
    close $fh;
}

sub _serve {
    my ($c, $delay, $log, $deadline) = @_;

    my $buf = '';

    while (time < $deadline) {
        my $end = index($buf, "\r\n\r\n");

        if ($end < 0) {
            my $n = sysread($c, $buf, 65536, length $buf);
            return unless $n;
            next;
        }

        my $head = substr($buf, 0, $end);
        my ($len) = $head =~ /^content-length:\s*(\d+)/mi;
        $len //= 0;

        while (length($buf) < $end + 4 + $len) {
            my $n = sysread($c, $buf, 65536, length $buf);
            return unless $n;
        }

        substr($buf, 0, $end + 4 + $len) = '';

        my ($id) = $head =~ /^x-qlm-event-id:\s*(\S+)/mi;
        my ($attempt) = $head =~ /^x-qlm-delivery-attempt:\s*(\d+)/mi;
        $id //= '-';
        $attempt //= 0;

        _note($log, "GOT $id $attempt");
        sleep $delay if $delay;

        my $w = syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        return unless $w;

        _note($log, "ANS $id $attempt");
    }
}

# The requests a receiver's log shows, by event id: { id => times }.

sub received {
    my ($log) = @_;

    open(my $fh, '<', $log) or return {};
    my %ids;
    for (<$fh>) {
        $ids{$1}++ if /^GOT (\S+)/;
    }
    close($fh);
    return \%ids;
}

# Another process holds a store's writer lock: mdb_load (lmdb-utils)
# begins its write transaction once it has read the header, and
# release_writer_lock() gives it a key too long for LMDB, so that it
# aborts with the store unchanged; it returns mdb_load's exit status.

sub mdb_load { '/usr/bin/mdb_load' }

sub hold_writer_lock {
    my ($store) = @_;

    open(my $hold, '|-', mdb_load() . " -s qlm-test-hold $store 2>/dev/null")
        or die "mdb_load: $!";
    select((select($hold), $| = 1)[0]);
    print $hold "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n";
    return $hold;
}

sub release_writer_lock {
    my ($hold) = @_;

    print $hold ' ' . ('61' x 600) . "\n 76\nDATA=END\n";
    close($hold);
    return $? >> 8;
}

sub stop_receivers {
    my $self = shift;

    for my $pid (@{ $self->{receivers} || [] }) {
        kill 'KILL', -$pid;
        waitpid($pid, 0);
    }

    $self->{receivers} = [];
}

sub DESTROY {
    my $self = shift;
    local $?;
    $self->stop;
    $self->stop_receivers;
}

# A throw-away PostgreSQL from util/pg-test-server, in a directory of its
# own, with the module's schema: QLMRun::PG->new(port => P) dies when it
# cannot start; QLMRun::PG::installed() says whether the server package
# is there at all (tests skip without it).  The server stops with the
# object, or by itself once this process is gone.

package QLMRun::PG;

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);

my $top = File::Spec->rel2abs(dirname(__FILE__) . '/../..');

sub installed {
    return scalar grep { -x "$_/postgres" } glob '/usr/lib/postgresql/*/bin';
}

sub store_tool {
    my $build = $ENV{QLM_STORE_BUILD} || "$top/build/lmdb-store";
    return "$build/qlm-store";
}

sub new {
    my ($class, %args) = @_;

    # the server runs as "postgres" under root: it must reach its directory
    my $base = tempdir('qlm-pg-XXXXXX', TMPDIR => 1,
                       CLEANUP => !$ENV{QLM_KEEP});
    chmod 0755, $base;

    my $self = bless {
        dir  => "$base/db",
        port => $args{port},
        tool => "$top/util/pg-test-server",
    }, $class;

    local $ENV{QLM_PG_TEST_OWNER} = $$;

    my $out = qx{$self->{tool} start $self->{dir} $self->{port} 2>&1};
    die "pg-test-server start: $out" if $? != 0;

    ($self->{uri}) = $out =~ m{^(postgresql://\S+)}m;
    die "pg-test-server start: no URI in: $out" unless $self->{uri};
    $self->{started} = 1;

    my $tool = store_tool();
    $out = qx{$tool --password-file $self->{dir}/password $self->{uri} schema init 2>&1};
    die "qlm-store schema init: $out" if $? != 0;

    return $self;
}

sub uri { $_[0]{uri} }
sub port { $_[0]{port} }
sub password_file { "$_[0]{dir}/password" }

# what qlm_webhook_store takes, with the spool and node
sub store {
    my ($self, $spool, $node) = @_;

    return "$self->{uri} password_file=" . $self->password_file
           . " spool=$spool node=$node";
}

sub stop {
    my $self = shift;

    return unless $self->{started};
    qx{$self->{tool} stop $self->{dir} 2>&1};
    $self->{started} = 0;
    return $? == 0;
}

sub start_again {
    my $self = shift;

    local $ENV{QLM_PG_TEST_OWNER} = $$;

    my $out = qx{$self->{tool} start-again $self->{dir} 2>&1};
    return 0 if $? != 0;

    $self->{started} = 1;
    return 1;
}

# rows of a query, each an array; the password in psql's environment only
sub sql {
    my ($self, $query) = @_;

    my ($psql) = grep { -x } '/usr/bin/psql',
                           glob('/usr/lib/postgresql/*/bin/psql');
    die 'no psql' unless $psql;

    local $ENV{PGPASSFILE} = '/dev/null';
    local $ENV{PGCONNECT_TIMEOUT} = 5;

    open my $fh, '<', $self->password_file or die $!;
    local $ENV{PGPASSWORD} = scalar <$fh>;
    close $fh;
    chomp $ENV{PGPASSWORD};

    # no shell: the query is one argument
    open my $out, '-|', $psql, qw(-X -A -t -q -v ON_ERROR_STOP=1 -d),
                        $self->{uri}, '-c', $query
        or die "psql: $!";
    my @rows = map { chomp; [split /\|/, $_, -1] } <$out>;
    close $out;

    die "psql failed ($?): $query" if $? != 0;

    return @rows;
}

sub DESTROY {
    my $self = shift;
    local $?;
    $self->stop;
}

1;
