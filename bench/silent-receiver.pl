#!/usr/bin/perl
# A webhook receiver that never answers: it accepts connections, reads and
# discards what arrives, and closes a connection only when the other side
# does.  bench/run points scenario E's URL at it, so that every delivery
# attempt waits for qlm_webhook_timeout.
#
#   perl bench/silent-receiver.pl PORT LIFETIME_SECONDS
#
# Listens on 127.0.0.1:PORT, prints "ready" on stdout once it listens, and
# exits by itself after LIFETIME_SECONDS (bench/run also stops it).

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;

my ($port, $lifetime) = @ARGV;
die "usage: $0 PORT LIFETIME_SECONDS\n"
    unless defined $lifetime && $port =~ /^\d+$/ && $lifetime =~ /^\d+$/;

my $listener = IO::Socket::INET->new(
    LocalAddr => '127.0.0.1',
    LocalPort => $port,
    Listen    => 128,
    ReuseAddr => 1,
) or die "silent-receiver: cannot listen on 127.0.0.1:$port: $!\n";

$| = 1;
print "ready\n";

my $sel = IO::Select->new($listener);
my $end = time + $lifetime;
my $accepted = 0;

while (time < $end) {
    for my $fh ($sel->can_read(0.5)) {
        if ($fh == $listener) {
            my $c = $listener->accept or next;
            $sel->add($c);
            $accepted++;
            next;
        }
        my $n = sysread $fh, my $buf, 65536;
        next if $n;                     # data: discard, never answer
        $sel->remove($fh);              # EOF or error: the sender gave up
        close $fh;
    }
}

print STDERR "silent-receiver: accepted $accepted connections\n";
