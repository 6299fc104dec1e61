#!/usr/bin/perl
# A webhook receiver that takes its time, as real ones do: each request
# is answered "200" DELAY_MS after it has arrived whole, on a kept-alive
# connection, whatever the number of connections (one process, select()).
# bench/fleet uses it to show a drain bounded by the receiver's latency
# (each node's concurrency / DELAY) rather than by the machine's CPUs.
#
#   perl bench/slow-receiver.pl PORT DELAY_MS LIFETIME_SECONDS
#
# Listens on 127.0.0.1:PORT, prints "ready" once it listens, and exits by
# itself after LIFETIME_SECONDS.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);

my ($port, $delay, $lifetime) = @ARGV;
die "usage: $0 PORT DELAY_MS LIFETIME_SECONDS\n"
    unless defined $lifetime && $port =~ /^\d+$/ && $delay =~ /^\d+$/
        && $lifetime =~ /^\d+$/;

my $listener = IO::Socket::INET->new(
    LocalAddr => '127.0.0.1',
    LocalPort => $port,
    Listen    => 1024,
    ReuseAddr => 1,
) or die "slow-receiver: cannot listen on 127.0.0.1:$port: $!\n";

$| = 1;
print "ready\n";

my $sel = IO::Select->new($listener);
my $end = time + $lifetime;
my (%in, @due);

sub close_conn {
    my ($c) = @_;
    $sel->remove($c);
    delete $in{$c};
    close $c;
}

while (time < $end) {
    my $wait = 0.5;
    $wait = $due[0][0] - time if @due && $due[0][0] - time < $wait;
    $wait = 0 if $wait < 0;

    for my $fh ($sel->can_read($wait)) {
        if ($fh == $listener) {
            my $c = $listener->accept or next;
            $c->blocking(0);
            $sel->add($c);
            $in{$c} = '';
            next;
        }

        my $n = sysread($fh, my $buf, 65536);
        if (!$n) {
            close_conn($fh);
            next;
        }

        $in{$fh} .= $buf;

        # whole requests: headers, then Content-Length bytes of body
        while ($in{$fh} =~ /\r\n\r\n/) {
            my $h = index($in{$fh}, "\r\n\r\n") + 4;
            my ($len) = substr($in{$fh}, 0, $h) =~ /^Content-Length:\s*(\d+)/mi;
            $len ||= 0;
            last if length($in{$fh}) < $h + $len;
            substr($in{$fh}, 0, $h + $len) = '';
            push @due, [time + $delay / 1000, $fh];
        }
    }

    my $now = time;

    while (@due && $due[0][0] <= $now) {
        my (undef, $c) = @{ shift @due };
        next unless exists $in{$c};
        syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }
}
