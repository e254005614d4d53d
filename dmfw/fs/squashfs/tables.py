# The lookup tables at the end of an image: each is an array of fixed-size
# entries in metadata blocks, found through an index of u64 block positions at
# the table's start field. Checked as Linux's squashfs_read_table users do:
# tables in squashfs-tools order (fragments < export < ids < xattrs), every
# index entry inside [previous table, this index) and blocks at most 8 KiB +
# header apart. The indexes are small (one u64 per 8 KiB of entries) and kept;
# entries are read on demand through the metadata cache, except ids when they
# fit one block (2048 ids).

import struct

from dmfw.fs.squashfs.super import INVALID, METADATA_SIZE, err

XATTR_INVALID = 0xFFFFFFFF


class Table:
    """Entries of `size` bytes, `count` of them; index at `start`, blocks in
    [lo, start)."""

    def __init__(self, fs, name, start, count, size, lo, hi):
        self.fs = fs
        self.name = name
        self.count = count
        self.size = size
        self.per_block = METADATA_SIZE // size
        nblocks = (count * size + METADATA_SIZE - 1) // METADATA_SIZE
        if start < lo or start + 8 * nblocks > hi:
            raise err("%s table index at %d outside [%d, %d)" % (name, start, lo, hi))
        raw = fs.dev.pread(start, 8 * nblocks)
        self.index = list(struct.unpack("<%dQ" % nblocks, raw)) if nblocks else []
        prev = lo
        for i, p in enumerate(self.index):
            end = self.index[i + 1] if i + 1 < nblocks else start
            if p < prev or p >= end or end - p > METADATA_SIZE + 2:
                raise err("%s table block %d at %d is misplaced" % (name, i, p))
            prev = p
        self.start = start
        self.first = self.index[0] if self.index else start

    def entry(self, i, who):
        if i >= self.count:
            raise err("%s: %s index %d out of range (%d entries)"
                      % (who, self.name, i, self.count))
        b = i // self.per_block
        lo = self.index[b]
        hi = self.index[b + 1] if b + 1 < len(self.index) else self.start
        s = self.fs.meta.stream(lo, (i % self.per_block) * self.size, lo, hi, who)
        return s.take(self.size)


def load(fs, sb):
    """Check every table of `sb` and keep their indexes on `fs`: fs.ids,
    fs.frags, fs.xattr_ids (count; the xattrs themselves are not read)."""
    nxt = sb.bytes_used
    fs.xattr_ids = 0
    if sb.xattr_id_table_start != INVALID:
        x = sb.xattr_id_table_start
        if x + 16 > nxt or x < sb.directory_table_start:
            raise err("xattr id table at %d outside the image" % x)
        kv_start, ids = struct.unpack("<QI", fs.dev.pread(x, 12))
        if ids == 0 or kv_start >= x or kv_start < sb.directory_table_start:
            raise err("bad xattr id table (%d ids, data at %d)" % (ids, kv_start))
        # 16-byte xattr ids; the index follows the 16-byte header.
        Table(fs, "xattr id", x + 16, ids, 16, kv_start, nxt)
        fs.xattr_ids = ids
        nxt = kv_start
    ids = Table(fs, "id", sb.id_table_start, sb.no_ids, 4, sb.directory_table_start, nxt)
    nxt = ids.first
    if sb.no_ids <= ids.per_block:
        s = fs.meta.stream(ids.index[0], 0, ids.index[0], ids.start, "id table")
        raw = s.take(4 * sb.no_ids)
        fs.id_list = struct.unpack("<%dI" % sb.no_ids, raw)
    else:
        fs.id_list = None
    fs.ids = ids
    if sb.lookup_table_start != INVALID:
        t = Table(fs, "export", sb.lookup_table_start, sb.inodes, 8,
                  sb.directory_table_start, nxt)
        nxt = t.first
    fs.frags = None
    if sb.fragments:
        fs.frags = Table(fs, "fragment", sb.fragment_table_start, sb.fragments, 16,
                         sb.directory_table_start, nxt)
        nxt = fs.frags.first
    if sb.directory_table_start >= nxt:
        raise err("directory table at %d overlaps the tables after it (%d)"
                  % (sb.directory_table_start, nxt))
    fs.dir_end = nxt


def get_id(fs, i, who):
    if i >= fs.sb.no_ids:
        raise err("%s: id index %d out of range (%d ids)" % (who, i, fs.sb.no_ids))
    if fs.id_list is not None:
        return fs.id_list[i]
    return struct.unpack("<I", fs.ids.entry(i, who))[0]
