# Directories: linear dirent blocks (with the metadata_csum tail), inline
# directories, and htree (dx_root / dx_node) lookups. Listings always walk the
# blocks in order (dx blocks look like one empty entry and are skipped); a name
# lookup in an indexed directory hashes the name and reads only the leaf blocks
# the index points to.

import struct

from dmfw.errors import FormatError
from dmfw.fs.ext4.csum import crc32c
from dmfw.fs.ext4.dirhash import dirhash
from dmfw.fs.ext4.inode import FL_INDEX, FL_CASEFOLD
from dmfw.fs.ext4.inline import inline_dir_parts

TAIL_FT = 0xDE
MAX_LEVELS = 3  # 2 without largedir, 3 with it


def check_block(fs, dino, buf, lblk, pblk, dx):
    """Verify a directory block's checksum once per (block, directory): the device
    is read-only, so a verified block stays verified (the kernel's buffer_verified)."""
    key = -(pblk * 4 + 1)  # small ints: inode numbers are >= 1, blocks negative
    if fs.verified(key):
        return
    if dx:
        check_dx_csum(fs, dino, buf, lblk)
    else:
        check_leaf_csum(fs, dino, buf, lblk)
    fs.mark_verified(key)


def check_leaf_csum(fs, dino, buf, lblk):
    bs = len(buf)
    t = bs - 12
    zero1, rlen, nlen, ft, want = struct.unpack_from("<IHBBI", buf, t)
    if zero1 or rlen != 12 or nlen or ft != TAIL_FT:
        raise FormatError("ext4: inode %d: directory block %d has no checksum tail"
                          % (dino.ino, lblk))
    if crc32c(memoryview(buf)[:t], dino.seed) != want:
        raise FormatError("ext4: inode %d: directory block %d checksum mismatch"
                          % (dino.ino, lblk))


def _countlimit(buf, bs, ino):
    """Offset of the dx count/limit header of a dx root or node block, or -1."""
    rlen = struct.unpack_from("<H", buf, 4)[0]
    if rlen == bs or (bs == 65536 and (rlen == 0 or rlen == 65535)):
        return 8  # (a 64 KiB rec_len is stored as 65535 or 0)
    if rlen == 12:
        rlen2 = struct.unpack_from("<H", buf, 16)[0]
        zero, info_len = struct.unpack_from("<IxB", buf, 24)
        if rlen2 == bs - 12 and zero == 0 and info_len == 8:
            return 32
    return -1


def check_dx_csum(fs, dino, buf, lblk):
    bs = len(buf)
    off = _countlimit(buf, bs, dino.ino)
    if off < 0:
        raise FormatError("ext4: inode %d: directory block %d: bad index block"
                          % (dino.ino, lblk))
    limit, count = struct.unpack_from("<HH", buf, off)
    if count > limit or off + limit * 8 + 8 > bs:
        raise FormatError("ext4: inode %d: directory block %d: no room for the index "
                          "checksum" % (dino.ino, lblk))
    t = off + limit * 8
    mv = memoryview(buf)
    c = crc32c(mv[:off + count * 8], dino.seed)
    c = crc32c(mv[t:t + 4], c)
    c = crc32c(b"\0\0\0\0", c)
    if c != struct.unpack_from("<I", buf, t + 4)[0]:
        raise FormatError("ext4: inode %d: directory index block %d checksum mismatch"
                          % (dino.ino, lblk))


def is_dx(fs, dino):
    return bool(dino.flags & FL_INDEX) and fs.sb.compat & 0x20


def parse_block(fs, dino, buf, start, end, where, only_len=-1):
    """Yield (name, ino) of the live entries in buf[start:end] (with only_len >= 0,
    only those whose name has that length)."""
    off = start
    filetype = fs.filetype
    icount = fs.sb.inodes_count
    while off < end:
        if off + 8 > end:
            raise FormatError("ext4: inode %d: %s: directory entry past the end"
                              % (dino.ino, where))
        ino, rlen, nlen, _ = struct.unpack_from("<IHBB", buf, off)
        if rlen == 0 or rlen == 65535:
            if end - start == 65536 and off == start:
                rlen = 65536
        if not filetype:
            nlen = struct.unpack_from("<H", buf, off + 6)[0]
        if rlen < 12 and not (rlen == 8 and ino == 0 and off + 8 == end) or rlen & 3 \
                or off + rlen > end or (ino and 8 + nlen > rlen):
            raise FormatError("ext4: inode %d: %s: bad directory entry at offset %d"
                              % (dino.ino, where, off - start))
        if ino:
            if ino > icount:
                raise FormatError("ext4: inode %d: %s: entry names inode %d out of range"
                                  % (dino.ino, where, ino))
            if nlen and (only_len < 0 or nlen == only_len):
                name = bytes(buf[off + 8:off + 8 + nlen])
                if name != b"." and name != b"..":
                    yield name, ino
        off += rlen


def dir_blocks(fs, dino):
    """Yield (logical block, buffer) of every mapped block of a directory."""
    bs = fs.block_size
    nblocks = (dino.size + bs - 1) // bs
    mp = fs.mapper(dino)
    dx = is_dx(fs, dino)
    lblk = 0
    while lblk < nblocks:
        pblk, run = mp.map(lblk)
        run = min(run, nblocks - lblk)
        if run <= 0:
            raise FormatError("ext4: inode %d: bad block map" % dino.ino)
        if pblk == 0:
            lblk += run
            continue
        for k in range(run):
            buf = fs.data_block(pblk + k, dino.ino)
            if fs.sb.csum:
                isdx = dx and (lblk + k == 0 or _countlimit(buf, bs, dino.ino) == 8)
                check_block(fs, dino, buf, lblk + k, pblk + k, isdx)
            yield lblk + k, buf
        lblk += run


def entries(fs, dino):
    if fs.inline(dino):
        for buf, start, end, where in inline_dir_parts(fs, dino):
            for e in parse_block(fs, dino, buf, start, end, where):
                yield e
        return
    bs = fs.block_size
    for lblk, buf in dir_blocks(fs, dino):
        for e in parse_block(fs, dino, buf, 0, bs, "block %d" % lblk):
            yield e


def _find(fs, dino, buf, name, where):
    """Inode number of `name` in one leaf block, 0 if absent. The hot path of every
    path walk: a block that does not contain the name's bytes at all is skipped,
    otherwise entries are compared by length first, without making names."""
    if name not in buf:
        return 0
    nl = len(name)
    for n, ino in parse_block(fs, dino, buf, 0, len(buf), where, nl):
        if n == name:
            return ino
    return 0


class _Htree:
    def __init__(self, fs, dino):
        self.fs = fs
        self.dino = dino
        self.bs = fs.block_size
        self.nblocks = (dino.size + self.bs - 1) // self.bs
        self.mp = fs.mapper(dino)

    def block(self, lblk, dx):
        if lblk >= self.nblocks:
            raise FormatError("ext4: inode %d: htree points past the directory (block %d)"
                              % (self.dino.ino, lblk))
        pblk, _ = self.mp.map(lblk)
        if pblk == 0:
            raise FormatError("ext4: inode %d: htree block %d is a hole"
                              % (self.dino.ino, lblk))
        buf = self.fs.data_block(pblk, self.dino.ino)
        if self.fs.sb.csum:
            check_block(self.fs, self.dino, buf, lblk, pblk, dx)
        return buf

    def entries(self, buf, off, want_limit):
        limit, count = struct.unpack_from("<HH", buf, off)
        if limit != want_limit or count == 0 or count > limit:
            raise FormatError("ext4: inode %d: bad htree node (count %d, limit %d)"
                              % (self.dino.ino, count, limit))
        return off, count


def htree_lookup(fs, dino, name):
    """Inode number of `name` in indexed directory dino, 0 if absent; None when the
    directory cannot be searched by hash (unknown hash, casefold): scan instead."""
    if dino.flags & FL_CASEFOLD:
        return None
    t = _Htree(fs, dino)
    bs = t.bs
    root = t.block(0, True)
    zero, hv, info_len, levels = struct.unpack_from("<IBBB", root, 24)
    if zero or info_len != 8:
        raise FormatError("ext4: inode %d: bad htree root" % dino.ino)
    if hv > 2:
        return None
    if hv <= 2 and fs.sb.hash_unsigned():
        hv += 3
    maxlev = MAX_LEVELS if fs.sb.incompat & 0x4000 else 2
    if levels >= maxlev:
        raise FormatError("ext4: inode %d: htree too deep (%d levels)" % (dino.ino, levels))
    h = dirhash(name, hv, fs.sb.hash_seed)
    tail = 8 if fs.sb.csum else 0
    frames = []  # [buf, entries offset, count, index chosen]
    buf, off = root, 32
    want = (bs - 32 - tail) // 8
    lvl = 0
    while True:
        off, count = t.entries(buf, off, want)
        lo, hi = 1, count - 1
        while lo <= hi:
            m = (lo + hi) >> 1
            if struct.unpack_from("<I", buf, off + 8 * m)[0] > h:
                hi = m - 1
            else:
                lo = m + 1
        frames.append([buf, off, count, lo - 1])
        if lvl == levels:
            break
        lvl += 1
        buf = t.block(struct.unpack_from("<I", buf, off + 8 * (lo - 1) + 4)[0] & 0x0FFFFFFF,
                      True)
        off = 8
        want = (bs - 8 - tail) // 8
    seen = 0
    while True:
        f = frames[-1]
        lblk = struct.unpack_from("<I", f[0], f[1] + 8 * f[3] + 4)[0] & 0x0FFFFFFF
        leaf = t.block(lblk, False)
        ino = _find(fs, dino, leaf, name, "block %d" % lblk)
        if ino:
            return ino
        seen += 1
        if seen > t.nblocks:
            raise FormatError("ext4: inode %d: htree loops" % dino.ino)
        # Hash collisions may continue in the next leaf (its start hash has bit 0
        # set): step the deepest frame that has a next entry, then back down.
        k = len(frames) - 1
        while k >= 0:
            frames[k][3] += 1
            if frames[k][3] < frames[k][2]:
                break
            k -= 1
        if k < 0:
            return 0
        f = frames[k]
        bh = struct.unpack_from("<I", f[0], f[1] + 8 * f[3])[0]
        if (bh & ~1) != h:
            return 0
        while k < len(frames) - 1:
            f = frames[k]
            nb = struct.unpack_from("<I", f[0], f[1] + 8 * f[3] + 4)[0] & 0x0FFFFFFF
            buf = t.block(nb, True)
            o, count = t.entries(buf, 8, (bs - 8 - tail) // 8)
            k += 1
            frames[k] = [buf, o, count, 0]
