# EROFS directories (Linux fs/erofs/dir.c, namei.c): the directory's data, read like a
# file's, is a run of blocks; each starts with 12-byte dirents (nid u64, nameoff u16,
# file_type u8, reserved u8) whose first nameoff / 12 is the entry count, then the
# names back to back. The last name runs to the first NUL or the block's (or the
# directory's) end. Entries are sorted by name within and across blocks ("." and ".."
# included), so lookups binary-search first the blocks, then one block.

import struct
from dmfw.errors import FormatError

NAME_LEN = 255


def block(fs, d, i):
    """[(name, nid, file_type)] of directory block i."""
    bs = fs.sb.block_size
    start = i << fs.sb.blkszbits
    maxsize = min(bs, d.size - start)
    buf = fs.read_data(d, start, maxsize)
    if len(buf) != maxsize:
        raise FormatError("erofs: nid %d: directory block %d is short" % (d.nid, i))
    if maxsize < 12:
        raise FormatError("erofs: nid %d: directory block %d of %d bytes"
                          % (d.nid, i, maxsize))
    nameoff0 = struct.unpack_from("<H", buf, 8)[0]
    if nameoff0 < 12 or nameoff0 >= maxsize or nameoff0 % 12:
        raise FormatError("erofs: nid %d: directory block %d: bad first name offset %d"
                          % (d.nid, i, nameoff0))
    n = nameoff0 // 12
    out = []
    for k in range(n):
        nid, off, ft = struct.unpack_from("<QHB", buf, k * 12)
        if k + 1 < n:
            end = struct.unpack_from("<H", buf, k * 12 + 20)[0]
        else:
            end = maxsize
            z = buf.find(b"\0", off) if off < maxsize else -1
            if z >= 0:
                end = z
        if off < nameoff0 or end <= off or end > maxsize or end - off > NAME_LEN:
            raise FormatError("erofs: nid %d: directory block %d: corrupt entry %d"
                              % (d.nid, i, k))
        out.append((bytes(buf[off:end]), nid, ft))
    return out


def nblocks(fs, d):
    return (d.size + fs.sb.block_size - 1) >> fs.sb.blkszbits


def entries(fs, d):
    for i in range(nblocks(fs, d)):
        for name, nid, _ft in block(fs, d, i):
            if name != b"." and name != b"..":
                yield name, nid


def lookup(fs, d, name):
    """The nid of `name` in directory d, or None (erofs_find_target_block/_dirent)."""
    lo = 0
    hi = nblocks(fs, d) - 1
    cand = None
    while lo <= hi:
        mid = (lo + hi) >> 1
        ents = block(fs, d, mid)
        first = ents[0][0]
        if name == first:
            return ents[0][1]
        if name > first:
            cand = ents
            lo = mid + 1
        else:
            hi = mid - 1
    if cand is None:
        return None
    lo = 0
    hi = len(cand) - 1
    while lo <= hi:
        mid = (lo + hi) >> 1
        n = cand[mid][0]
        if n == name:
            return cand[mid][1]
        if name > n:
            lo = mid + 1
        else:
            hi = mid - 1
    return None
