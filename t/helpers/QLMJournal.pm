package QLMJournal;

# A record of a sync=on journal, as a worker writes it
# (lmdb-store/qlm_store_journal.c): a header of magic "QMJ1", length,
# number and CRC-32 (of the events, then of the header's first 16
# bytes), its events, padded to the next 4 KiB.  Each record here holds
# one event of one delivery: table and flags bytes, the item count, then
# the item's five varints (due, created, updated, attempt, last status)
# and six strings of a varint length (event id, event, URL, headers,
# body, last error).  With bad, the checksum is wrong: a write cut short.

use strict;
use warnings;

use Compress::Zlib qw(crc32);
use Exporter qw(import);

our @EXPORT_OK = qw(jrecord);

sub varint {
    my ($v) = @_;
    my $out = '';
    while ($v >= 0x80) { $out .= chr(($v & 0x7f) | 0x80); $v >>= 7 }
    return $out . chr($v);
}

sub jstr { varint(length $_[0]) . $_[0] }

sub jrecord {
    my ($lsn, $id, $url, $body, $bad) = @_;
    my $ev = chr(0) . chr(0) . varint(1)
             . varint(1000) . varint(1000) . varint(1000) . varint(0)
             . varint(0)
             . jstr($id) . jstr('license_created') . jstr($url)
             . jstr('') . jstr($body) . jstr('');
    my $head = pack('VVQ<', 0x314a4d51, length $ev, $lsn);
    my $crc = crc32($head, crc32($ev)) ^ ($bad ? 1 : 0);
    my $rec = $head . pack('V', $crc) . $ev;
    return $rec . ("\0" x (4096 - length($rec) % 4096));
}

1;
