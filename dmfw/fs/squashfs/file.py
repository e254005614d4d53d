# File data: `nblocks` data blocks stored back to back from the inode's start
# position, then (optionally) a tail packed in a fragment block shared with
# other files. The block list in the inode has one u32 per block: its stored
# size, bit 24 set when stored uncompressed (-noD or incompressible data), 0
# for a hole (a sparse block of zeros). A block's disk position is the start
# plus the sizes before it, so the list is walked once per file (checking
# every word and that the data ends inside the data area) and a checkpoint
# (disk position, block list position) kept every WINDOW blocks; a read loads
# the WINDOW words around its block.
#
# Caches, per file system: one block list (checkpoints for one inode, one
# window of WINDOW words), one decompressed data block and one decompressed
# fragment block (each <= block_size); for blocks over 256 KiB only one of
# the two at a time.

import struct

from dmfw.errors import DMError, FormatError
from dmfw.compress import decompress
from dmfw.fs.squashfs.super import err

UNCOMPRESSED = 1 << 24
WINDOW = 512


def stored(dev, pos, n, scratch=None):
    """`n` bytes at `pos` as a view into one sector-aligned buffer: pread would
    hold the bytes twice (its covering sectors and the copy), too much for a
    1 MiB block on a small heap. The view's end is inside the device: `pos + n`
    is before the inode table, and the device is whole sectors. `scratch` (a
    bytearray the caller keeps) is reused when large enough: a new buffer per
    block makes MicroPython collect often, and each collection scans every live
    buffer (a kernel being loaded among them). Returns (view, buffer)."""
    skip = pos & 511
    need = (skip + n + 511) & ~511
    buf = scratch if scratch is not None and len(scratch) >= need else bytearray(need)
    dev.readblocks(pos >> 9, memoryview(buf)[:need])
    return memoryview(buf)[skip:skip + n], buf


class BlockList:
    def __init__(self, fs, ino, who):
        sb = fs.sb
        bs = sb.block_size
        self.ref = ino.ref
        self.fs = fs
        self.who = who
        self.checkpoints = []
        self.nblocks = ino.nblocks
        pos, off = ino.blist
        s = fs.meta.stream(pos, off, sb.inode_table_start, sb.directory_table_start, who)
        disk = ino.start
        left = ino.nblocks
        limit = sb.inode_table_start
        while left > 0:
            self.checkpoints.append((disk, s.where()))
            n = WINDOW if left > WINDOW else left
            words = struct.unpack("<%dI" % n, s.take(4 * n))
            for w in words:
                size = w & ~UNCOMPRESSED
                if size > bs:
                    raise err("%s: data block of %d bytes stored (block size %d)"
                              % (who, size, bs))
                disk += size
            if disk > limit:
                raise err("%s: data runs to %d, past the data area (%d)" % (who, disk, limit))
            left -= n
        self.win = -1
        self.words = None
        self.offsets = None

    def locate(self, k):
        """(disk position, size word) of block k."""
        w = k // WINDOW
        if w != self.win:
            disk, where = self.checkpoints[w]
            sb = self.fs.sb
            s = self.fs.meta.stream(where[0], where[1], sb.inode_table_start,
                                    sb.directory_table_start, self.who)
            n = min(WINDOW, self.nblocks - w * WINDOW)
            words = struct.unpack("<%dI" % n, s.take(4 * n))
            offs = []
            for wd in words:
                offs.append(disk)
                disk += wd & ~UNCOMPRESSED
            self.words = words
            self.offsets = offs
            self.win = w
        i = k - w * WINDOW
        return self.offsets[i], self.words[i]


SHARED_ABOVE = 256 << 10


class Data:
    def __init__(self, fs):
        self.fs = fs
        # Past 256 KiB blocks one decompressed block (data or fragment) is kept,
        # not two: a 1 MiB-block image then reads in a 2 MiB MicroPython heap.
        self.shared = fs.sb.block_size > SHARED_ABOVE
        self.blist = None
        self.key = None
        self.block_data = None
        self.frag_key = None
        self.frag = None
        # The last fragment that failed to decode and why: many small files share
        # a fragment, and a corrupt one is not decoded again for each of them.
        self.bad_frag = None
        self.bad_why = None
        # Reused for stored (uncompressed) blocks and fragments; the cached block
        # or fragment is a view into them, replaced by the next read anyway.
        self.scratch = None
        self.fscratch = None

    def _list(self, ino, who):
        bl = self.blist
        if bl is None or bl.ref != ino.ref:
            self.blist = None
            bl = BlockList(self.fs, ino, who)
            self.blist = bl
        return bl

    def _decode(self, raw, want, who, what):
        try:
            out = decompress(self.fs.sb.decoder, raw, self.fs.sb.block_size)
        except DMError as e:
            raise FormatError("squashfs: %s: %s: %s" % (who, what, e), e.errno)
        return out

    def block(self, ino, k):
        """Decompressed data block k of `ino` (block_size bytes but the last)."""
        sb = self.fs.sb
        bs = sb.block_size
        who = "inode %d" % ino.ino
        disk, word = self._list(ino, who).locate(k)
        want = bs if k < (ino.size >> sb.block_log) else ino.size - k * bs
        key = (disk, word, want)
        if key == self.key:
            return self.block_data
        # Drop the cached block first: on a small heap two blocks may not fit.
        self.key = None
        self.block_data = None
        if self.shared:
            self.frag_key = None
            self.frag = None
        size = word & ~UNCOMPRESSED
        if size == 0:
            data = bytes(want)
        else:
            if word & UNCOMPRESSED:
                data, buf = stored(self.fs.dev, disk, size, self.scratch)
                if not self.shared:
                    self.scratch = buf
            else:
                data = self._decode(self.fs.dev.pread(disk, size), want, who,
                                    "data block %d" % k)
            if len(data) != want:
                raise err("%s: data block %d holds %d bytes, expected %d"
                          % (who, k, len(data), want))
        self.block_data = data
        self.key = key
        return data

    def tail(self, ino):
        """The file's tail in its fragment block."""
        sb = self.fs.sb
        who = "inode %d" % ino.ino
        want = ino.size - (ino.nblocks << sb.block_log)
        if ino.frag == self.bad_frag:
            raise FormatError("squashfs: %s: fragment %d: %s" % (who, ino.frag, self.bad_why[0]),
                              self.bad_why[1])
        if ino.frag != self.frag_key:
            self.frag_key = None
            self.frag = None
            if self.shared:
                self.key = None
                self.block_data = None
            raw = self.fs.frags.entry(ino.frag, who)
            start, word = struct.unpack("<QI", raw[:12])
            size = word & ~UNCOMPRESSED
            if size == 0 or size > sb.block_size or word >> 25:
                raise err("%s: fragment %d of %d bytes" % (who, ino.frag, size))
            if start < sb.data_start or start + size > sb.inode_table_start:
                raise err("%s: fragment %d at %d outside the data area"
                          % (who, ino.frag, start))
            if word & UNCOMPRESSED:
                data, buf = stored(self.fs.dev, start, size, self.fscratch)
                if not self.shared:
                    self.fscratch = buf
            else:
                try:
                    data = decompress(sb.decoder, self.fs.dev.pread(start, size),
                                      sb.block_size)
                except DMError as e:
                    self.bad_frag = ino.frag
                    self.bad_why = (str(e), e.errno)
                    raise FormatError("squashfs: %s: fragment %d: %s" % (who, ino.frag, e),
                                      e.errno)
            self.frag = data
            self.frag_key = ino.frag
        data = self.frag
        if ino.frag_off + want > len(data):
            raise err("%s: tail of %d bytes at %d past fragment %d (%d bytes)"
                      % (who, want, ino.frag_off, ino.frag, len(data)))
        return data, ino.frag_off, want


def _piece(fs, ino, pos):
    """(buffer, start, end): the bytes of `ino` from `pos` to the end of its block
    are buffer[start:end]."""
    d = fs.data
    log = fs.sb.block_log
    k = pos >> log
    if k < ino.nblocks:
        data = d.block(ino, k)
        return data, pos - (k << log), len(data)
    data, o, want = d.tail(ino)
    within = pos - (k << log)
    if within >= want:
        raise err("inode %d: read past its tail" % ino.ino)
    return data, o + within, o + want


def read(fs, ino, pos, n):
    size = ino.size
    if pos >= size or n <= 0:
        return b""
    if n > size - pos:
        n = size - pos
    parts = []
    while n > 0:
        data, o, end = _piece(fs, ino, pos)
        t = end - o
        if t > n:
            t = n
        if type(data) is bytes:
            if not parts and t == n and o == 0 and t == len(data):
                return data
            parts.append(data[o:o + t])
        else:
            # A bytearray or view the cache owns: copy the piece out.
            parts.append(bytes(data[o:o + t]))
        pos += t
        n -= t
    return parts[0] if len(parts) == 1 else b"".join(parts)


def readinto(fs, ino, pos, mv):
    """read() straight into the caller's buffer: one copy out of the cached block."""
    size = ino.size
    n = len(mv)
    if pos >= size or n <= 0:
        return 0
    if n > size - pos:
        n = size - pos
    got = 0
    while got < n:
        data, o, end = _piece(fs, ino, pos)
        t = end - o
        if t > n - got:
            t = n - got
        mv[got:got + t] = memoryview(data)[o:o + t]
        pos += t
        got += t
    return got
