# Directory listings, streamed from the directory table: runs of up to 256
# entries, each run under a 12-byte header (count - 1, inode table block of
# its entries, base inode number); an entry is (offset in that block, inode
# number delta, basic type, name length - 1, name). Entries are sorted by
# strcmp, so a lookup stops at the first larger name. Extended directories
# carry an index in the inode: for each metadata block the listing enters,
# the listing offset of the first run starting there and its first name; a
# lookup in a big directory starts at the last index entry <= the name.

import struct

from dmfw.fs.squashfs.super import err, METADATA_SIZE

unpack_from = struct.unpack_from

DIR_COUNT = 256
NAME_LEN = 256


def _check_name(name, who):
    if not name or name == b"." or name == b".." or b"/" in name or b"\0" in name:
        raise err("%s: bad name %r in directory" % (who, bytes(name[:64])))


def stream(fs, d, block, off, left, who, stop_after=None):
    """(name, (inode ref, type, inode number)) of the `left` listing bytes from
    directory table block `block`, offset `off`; with `stop_after`, ends at
    the first name greater than it (sorted listings)."""
    sb = fs.sb
    lo = sb.directory_table_start
    inode_blocks = sb.directory_table_start - sb.inode_table_start
    s = fs.meta.stream(lo + block, off, lo, fs.dir_end, who)
    while left > 0:
        if left < 12:
            raise err("%s: listing ends inside a header" % who)
        count, iblock, base = struct.unpack("<III", s.take(12))
        left -= 12
        count += 1
        if count > DIR_COUNT:
            raise err("%s: run of %d entries (at most %d)" % (who, count, DIR_COUNT))
        if iblock >= inode_blocks:
            raise err("%s: entries in inode block %d outside the inode table" % (who, iblock))
        ref_hi = iblock << 16
        for _ in range(count):
            data = s.data
            o = s.off
            if o + 8 + NAME_LEN <= len(data):
                # The whole entry is in this block: no copies through take().
                eoff, delta, etype, nsize = unpack_from("<HhHH", data, o)
                nsize += 1
                o += 8
                name = data[o:o + nsize]
                s.off = o + nsize
                left -= 8 + nsize
                if left < 0:
                    raise err("%s: entry past the end of the listing" % who)
            else:
                if left < 8:
                    raise err("%s: listing ends inside an entry" % who)
                eoff, delta, etype, nsize = struct.unpack("<HhHH", s.take(8))
                nsize += 1
                left -= 8
                if nsize > left:
                    raise err("%s: entry name of %d bytes past the listing" % (who, nsize))
                name = s.take(nsize)
                left -= nsize
            if etype < 1 or etype > 7 or eoff >= METADATA_SIZE:
                raise err("%s: entry of type %d at inode offset %d" % (who, etype, eoff))
            if stop_after is None:
                _check_name(name, who)
            elif name >= stop_after:
                # Sorted: past the name, or the name (callers compare for equality;
                # a name with "/" never equals a path component).
                if name == stop_after:
                    yield name, (ref_hi | eoff, etype, base + delta)
                return
            else:
                continue
            yield name, (ref_hi | eoff, etype, base + delta)


def entries(fs, d):
    who = "directory inode %d" % d.ino
    return stream(fs, d, d.dir_block, d.dir_off, d.size - 3, who)


def lookup(fs, d, name):
    """The (inode ref, type, number) of `name` in directory `d`, or None."""
    who = "directory inode %d" % d.ino
    block = d.dir_block
    skip = 0
    if d.idx_count:
        block, skip = _index(fs, d, name, who)
    off = (d.dir_off + skip) % METADATA_SIZE
    for raw, ref in stream(fs, d, block, off, d.size - 3 - skip, who, name):
        if raw == name:
            return ref
    return None


def _index(fs, d, name, who):
    sb = fs.sb
    it = sb.inode_table_start
    bpos, boff = d.idx_pos
    s = fs.meta.stream(bpos, boff, it, sb.directory_table_start, who)
    block = d.dir_block
    skip = 0
    size = d.size - 3
    for _ in range(d.idx_count):
        index, start, nsize = struct.unpack("<III", s.take(12))
        nsize += 1
        if nsize > NAME_LEN:
            raise err("%s: index name of %d bytes" % (who, nsize))
        first = s.take(nsize)
        if first > name:
            break
        if index < skip or index >= size or start < block:
            raise err("%s: directory index entry (%d, %d) out of order" % (who, index, start))
        skip = index
        block = start
    return block, skip
