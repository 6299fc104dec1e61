package Test::Nginx::Lite::HTTP;

# The client side of the lightweight Test::Nginx::Socket replacement:
# building requests from a block, sending them, parsing responses.

use strict;
use warnings;

use Exporter 'import';
use IO::Socket::INET ();
use IO::Select ();
use Errno qw(EAGAIN EINTR);
use Time::HiRes qw(sleep time);
use Test::More ();
use Test::Nginx::Lite::Server;

our @EXPORT = qw(block_requests send_request parse_response header);

# "--- more_headers" lines -> "Key: value\r\n"..., and whether the body is
# sent chunked (then no Content-Length is added).
sub more_headers {
    my ($text) = @_;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $text) {
        next if $line =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $line, 2;
        $val //= '';
        $chunked = 1 if lc $key eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $chunked);
}

# "METHOD [URI [VERSION]]" on the first line, the body on the next ones.
sub build_request {
    my ($name, $req, $more) = @_;
    my ($hdrs, $chunked) = more_headers($more);
    1 while $req =~ s/^\s*\#[^\n]+\s+|^\s+//gs;   # leading comments, blanks
    my ($first, $body) = split /\n/, $req, 2;
    $body //= '';
    $first //= '';
    my ($meth, $uri, $ver) = split ' ', $first;
    defined $meth or bail_out("$name - Request line should be non-empty");
    $uri //= '/';
    $ver //= 'HTTP/1.1';

    my $len = '';
    if (!$chunked && $body ne '' && $hdrs !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//gs;
        $len = "Content-Length: " . length($body) . "\r\n";
    }
    my $head = "$meth $uri $ver\r\n";
    $head .= "Host: $Opt{server_name}\r\n" if $hdrs !~ /(?:^|\n)Host:/msi;
    $head .= "Connection: close\r\n"       if $hdrs !~ /(?:^|\n)Connection/msi;
    return "$head$hdrs$len\r\n$body";
}

# The raw requests of a block: --- raw_request (sent as is) or --- request
# (a string, or with eval an array of requests; a request given as an array
# of packets is sent as their concatenation).
sub block_requests {
    my ($block) = @_;
    my $name = $block->name;
    my $raw = $block->raw_request;
    if (defined $raw) {
        return [ ref $raw eq 'ARRAY' ? join('', map { ref $_ ? $_->{value} : $_ } @$raw) : $raw ];
    }
    my $req = $block->request;
    defined $req or bail_out("$name - request empty");
    my $more = $block->more_headers // '';
    my @reqs = ref $req eq 'ARRAY' ? @$req : ($req);
    ref $req && ref $req ne 'ARRAY'
        and bail_out("$name - invalid ---request : MUST be string or array of requests");
    my @out;
    for my $i (0 .. $#reqs) {
        my $r = $reqs[$i];
        $r = join '', map { ref $_ ? $_->{value} : $_ } @$r if ref $r eq 'ARRAY';
        my $h = $more;
        if (ref $more eq 'ARRAY') {
            $h = $more->[$i] // bail_out("--- more_headers lacks data for the ${i}th request");
        }
        push @out, build_request($name, $r, $h);
    }
    return \@out;
}

# Connect (retrying while the port refuses, bounded: this is how we wait for
# a freshly started nginx; a probe connection would add lines to error.log),
# send the request and read until the server closes the connection.  A
# read/write stall longer than $timeout is a failing test, as in the real one.
sub send_request {
    my ($block, $req, $timeout) = @_;
    my $name = $block->name;
    local $SIG{PIPE} = 'IGNORE';

    my $deadline = time + ($Opt{valgrind} ? 30 : 5);
    my $sock;
    while (1) {
        $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr, PeerPort => $ServerPort,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock;
        my $err = "$!";
        if (nginx_child_gone() || time >= $deadline) {
            Test::More->builder->no_ending(1);
            Test::More::fail("$name - Can't connect to $ServerAddr:$ServerPort: $err (aborted)\n");
            return undef;
        }
        sleep 0.05;
    }
    $sock->blocking(0);
    my $sel = IO::Select->new($sock);
    my ($off, $resp) = (0, '');

    while ($off < length $req) {
        if (!$sel->can_write($timeout)) { return timed_out($block, $sock, $resp) }
        my $n = syswrite $sock, $req, length($req) - $off, $off;
        if (!defined $n) {
            next if $! == EAGAIN || $! == EINTR;
            warn "write failed: $!\n";
            last;
        }
        $off += $n;
    }
    if (defined(my $how = $block->shutdown)) {
        shutdown $sock, ($how =~ /\S/ ? $how : 1);
    }
    while (1) {
        if (!$sel->can_read($timeout)) { return timed_out($block, $sock, $resp) }
        my $n = sysread $sock, my $buf, 4096;
        if (!defined $n) {
            next if $! == EAGAIN || $! == EINTR;
            warn "WARNING: $name - HTTP response read failure: $!\n";
            last;
        }
        last if $n == 0;
        $resp .= $buf;
    }
    close $sock;
    return $resp;
}

sub timed_out {
    my ($block, $sock, $resp) = @_;
    close $sock;
    if (!defined $block->abort) {
        Test::More->builder->no_ending(1);
        Test::More::fail("ERROR: client socket timed out - " . $block->name . "\n");
    }
    return $resp;
}

sub bad_response {
    my ($name, $msg) = @_;
    Test::More->builder->no_ending(1);
    Test::More::fail("$name - $msg");
    return;
}

# Returns (response, raw header text, bytes left after the body).  The
# response is { code, headers => [[name, value], ...], body } with the
# chunked encoding removed and the body cut to the Content-Length.
sub parse_response {
    my ($name, $raw, $head_req) = @_;
    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';
    my ($head, $body) = split /\r?\n\r?\n/, $raw, 2;
    $head //= '';
    $body //= '';
    my ($status, @lines) = split /\r?\n/, $head;
    $status //= '';
    my ($code) = $status =~ m{^(?:\S+\s+)?(\d{3})\b};
    my @headers;
    for (@lines) {
        if (/^[ \t]+(.*)/ && @headers) { $headers[-1][1] .= " $1"; next }
        push @headers, [$1, $2] if /^([^:\s]+)\s*:\s*(.*?)\s*$/;
    }
    my $res = { code => $code, headers => \@headers, body => $body };
    my $left;
    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    my $te  = header($res, 'Transfer-Encoding');
    my $len = header($res, 'Content-Length');
    if (defined $te && $te eq 'chunked') {
        my $decoded = '';
        pos($body) = 0;
        while (1) {
            if ($body =~ /\G0[ \t]*\r\n/gc) {       # last chunk, trailers
                1 while $body =~ /\G[^\r\n]+\r\n/gc;
                $body =~ /\G\r\n/gc
                    or return bad_response($name, "invalid chunked data received (expected CRLF).");
                $left = $1 if $body =~ /\G(.+)/gcs;
                last;
            }
            if ($body =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/gc) {
                my $size = hex $1;
                my $data = substr $body, pos($body), $size;
                length($data) == $size
                    or return bad_response($name, "invalid chunked data received "
                                           . "(not enought octets for the data section)");
                $decoded .= $data;
                pos($body) += $size;
                $body =~ /\G\r\n/gc
                    or return bad_response($name, "invalid chunked data received (expected CRLF).");
            } elsif ($body =~ /\G(.+)/gcs) {
                return bad_response($name, "invalid chunked body received: $1");
            } else {
                return bad_response($name, "no last chunk found - $body");
            }
        }
        $res->{body} = $decoded;
    } elsif (defined $len && $len =~ /^\d+$/) {
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got ",
                 length $body, "\n" unless $head_req;
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->{body} = substr $body, 0, $len;
        }
    }
    return ($res, $raw_headers, $left);
}

# Case-insensitive header lookup; repeated headers are joined with ", ".
sub header {
    my ($res, $key) = @_;
    return undef unless $res;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $key } @{ $res->{headers} };
    return @v ? join(', ', @v) : undef;
}

1;
