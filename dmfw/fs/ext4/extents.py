# Extent trees: a 12-byte header, then index entries (depth > 0) or extents.
# A lookup walks from the root in i_block down to a leaf for every request (no
# per-file map is kept); interior and leaf blocks come through the reader's small
# block cache. Depth is bounded (the kernel's own limit is 5) and every child
# must be exactly one level below its parent, so a loop cannot be walked.

import struct

from dmfw.errors import FormatError
from dmfw.fs.ext4.csum import crc32c

MAGIC = 0xF30A
MAX_DEPTH = 5
INIT_MAX_LEN = 32768
NO_BLOCK = 1 << 32  # logical block numbers are 32 bits: "up to the end"


def _header(buf, ino, nbytes, depth_want):
    if len(buf) < 12:
        raise FormatError("ext4: inode %d: extent node too small" % ino)
    magic, entries, mx, depth = struct.unpack_from("<4H", buf, 0)
    if magic != MAGIC:
        raise FormatError("ext4: inode %d: bad extent header magic 0x%04x" % (ino, magic))
    if depth > MAX_DEPTH or (depth_want is not None and depth != depth_want):
        raise FormatError("ext4: inode %d: bad extent tree depth %d" % (ino, depth))
    if entries > mx or 12 + 12 * mx > nbytes:
        raise FormatError("ext4: inode %d: bad extent header (%d of %d entries)"
                          % (ino, entries, mx))
    return entries, mx, depth


def _search(buf, n, lblk):
    """Index of the last entry whose first logical block is <= lblk, or -1."""
    lo, hi = 0, n - 1
    found = -1
    while lo <= hi:
        mid = (lo + hi) >> 1
        if struct.unpack_from("<I", buf, 12 + 12 * mid)[0] <= lblk:
            found = mid
            lo = mid + 1
        else:
            hi = mid - 1
    return found


class ExtentMap:
    def __init__(self, fs, inode):
        self.fs = fs
        self.inode = inode
        self.ino = inode.ino

    def _node(self, pblk, depth):
        fs = self.fs
        buf = fs.meta_block(pblk, self.ino)
        entries, mx, _ = _header(buf, self.ino, len(buf), depth)
        if fs.sb.csum:
            key = -(pblk * 4 + 2)
            if not fs.verified(key):
                tail = 12 + 12 * mx
                if tail + 4 > len(buf):
                    raise FormatError("ext4: inode %d: no room for extent checksum" % self.ino)
                want = struct.unpack_from("<I", buf, tail)[0]
                if crc32c(memoryview(buf)[:tail], self.inode.seed) != want:
                    raise FormatError("ext4: inode %d: extent block %d checksum mismatch"
                                      % (self.ino, pblk))
                fs.mark_verified(key)
        return buf, entries

    def map(self, lblk):
        """(physical block or 0 for a hole/unwritten extent, run length) at lblk."""
        buf = self.inode.iblock
        entries, _, depth = _header(buf, self.ino, 60, None)
        nxt = NO_BLOCK  # first logical block of the next subtree: bounds a hole
        while depth > 0:
            i = _search(buf, entries, lblk)
            if i < 0:
                if entries == 0:
                    return 0, nxt - lblk
                first = struct.unpack_from("<I", buf, 12)[0]
                return 0, min(nxt, first) - lblk
            if i + 1 < entries:
                nxt = min(nxt, struct.unpack_from("<I", buf, 12 + 12 * (i + 1))[0])
            _, lo, hi = struct.unpack_from("<IIH", buf, 12 + 12 * i)
            child = lo | (hi << 32)
            depth -= 1
            buf, entries = self._node(child, depth)
        i = _search(buf, entries, lblk)
        if i + 1 < entries:
            nxt = min(nxt, struct.unpack_from("<I", buf, 12 + 12 * (i + 1))[0])
        if i >= 0:
            first, ln, hi, lo = struct.unpack_from("<IHHI", buf, 12 + 12 * i)
            uninit = ln > INIT_MAX_LEN
            if uninit:
                ln -= INIT_MAX_LEN
            if lblk < first + ln:
                run = first + ln - lblk
                if uninit:
                    return 0, run
                return (lo | (hi << 32)) + (lblk - first), run
        if nxt <= lblk:
            raise FormatError("ext4: inode %d: extents out of order" % self.ino)
        return 0, nxt - lblk
