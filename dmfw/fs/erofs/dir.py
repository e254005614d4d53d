# EROFS directories (Linux fs/erofs/dir.c, namei.c): the directory's data, read like a
# file's, is a run of blocks; each starts with 12-byte dirents (nid u64, nameoff u16,
# file_type u8, reserved u8) whose first nameoff / 12 is the entry count, then the
# names back to back. The last name runs to the first NUL or the block's (or the
# directory's) end. Entries are sorted by name within and across blocks ("." and ".."
# included), so lookups binary-search first the blocks, then one block.

import struct
from dmfw.errors import FormatError
from dmfw.fs.erofs.inode import FLAT_PLAIN, FLAT_INLINE
from dmfw.fs.erofs.data import flat_map

NAME_LEN = 255


class Block:
    """Directory block i of d; entries are decoded (and checked) one at a time, so a
    binary search reads only the few it probes."""

    def __init__(self, fs, d, i):
        bs = fs.sb.block_size
        start = i << fs.sb.blkszbits
        self.maxsize = maxsize = min(bs, d.size - start)
        self.nid = d.nid
        self.i = i
        c = fs._dirblk
        if c is not None and c[0] == d.nid and c[1] == i:
            buf = c[2]
        else:
            if d.layout == FLAT_PLAIN or d.layout == FLAT_INLINE:
                # Through the metadata cache: lookups probe the same blocks again.
                off, avail, _tail = flat_map(fs, d, start)
                if avail < maxsize:
                    raise FormatError("erofs: nid %d: directory block %d is short"
                                      % (d.nid, i))
                buf = fs.meta(off, maxsize, d.nid)
            else:
                buf = fs.read_data(d, start, maxsize)
            if len(buf) != maxsize:
                raise FormatError("erofs: nid %d: directory block %d is short" % (d.nid, i))
            fs._dirblk = (d.nid, i, buf)
        self.buf = buf
        if maxsize < 12:
            raise FormatError("erofs: nid %d: directory block %d of %d bytes"
                              % (d.nid, i, maxsize))
        off0 = struct.unpack_from("<H", buf, 8)[0]
        if off0 < 12 or off0 >= maxsize or off0 % 12:
            raise FormatError("erofs: nid %d: directory block %d: bad first name offset %d"
                              % (d.nid, i, off0))
        self.off0 = off0
        self.n = off0 // 12

    def entry(self, k):
        """(name, nid, file_type) of entry k."""
        buf = self.buf
        maxsize = self.maxsize
        nid, off, ft = struct.unpack_from("<QHB", buf, k * 12)
        if k + 1 < self.n:
            end = struct.unpack_from("<H", buf, k * 12 + 20)[0]
        else:
            end = maxsize
            z = buf.find(b"\0", off) if off < maxsize else -1
            if z >= 0:
                end = z
        if off < self.off0 or end <= off or end > maxsize or end - off > NAME_LEN:
            raise FormatError("erofs: nid %d: directory block %d: corrupt entry %d"
                              % (self.nid, self.i, k))
        return buf[off:end], nid, ft


def nblocks(fs, d):
    return (d.size + fs.sb.block_size - 1) >> fs.sb.blkszbits


def entries(fs, d):
    for i in range(nblocks(fs, d)):
        b = Block(fs, d, i)
        for k in range(b.n):
            name, nid, _ft = b.entry(k)
            if name != b"." and name != b"..":
                yield name, nid


def lookup(fs, d, name):
    """The nid of `name` in directory d, or None (erofs_find_target_block/_dirent)."""
    lo = 0
    hi = nblocks(fs, d) - 1
    cand = None
    while lo <= hi:
        mid = (lo + hi) >> 1
        b = Block(fs, d, mid)
        first, nid, _ft = b.entry(0)
        if name == first:
            return nid
        if name > first:
            cand = mid
            lo = mid + 1
        else:
            hi = mid - 1
    if cand is None:
        return None
    b = Block(fs, d, cand)
    lo = 1
    hi = b.n - 1
    while lo <= hi:
        mid = (lo + hi) >> 1
        n, nid, _ft = b.entry(mid)
        if n == name:
            return nid
        if name > n:
            lo = mid + 1
        else:
            hi = mid - 1
    return None
