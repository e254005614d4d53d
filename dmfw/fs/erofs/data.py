# Uncompressed file data (Linux fs/erofs/data.c, erofs_map_blocks): FLAT_PLAIN is one
# contiguous run from raw_blkaddr; FLAT_INLINE the same for all whole blocks but the
# last, whose bytes follow the inode (tail packing, never crossing a block); CHUNK_BASED
# an array of block addresses (4-byte block map, or 8-byte chunk indexes) after the
# inode, one per 2^chunkbits bytes, NULL_ADDR being a hole.
#
# Each call maps one contiguous piece at `pos` and returns up to `n` bytes of it.

import struct
from dmfw.errors import FormatError
from dmfw.fs.erofs.inode import FLAT_INLINE, CHUNK_FORMAT_INDEXES, NULL_ADDR


def flat_map(fs, ino, pos):
    """(byte offset on the device, bytes contiguous from there, in the inline tail)
    of `pos` in a FLAT_PLAIN / FLAT_INLINE inode."""
    sb = fs.sb
    bs = sb.block_size
    size = ino.size
    nblocks = (size + bs - 1) >> sb.blkszbits
    lastblk = nblocks - 1 if ino.layout == FLAT_INLINE else nblocks
    split = lastblk << sb.blkszbits
    if pos < split:
        return (ino.raw << sb.blkszbits) + pos, split - pos, False
    tail = ino.data_start()
    if (tail & (bs - 1)) + (size - split) > bs:
        raise FormatError("erofs: nid %d: inline data of %d bytes crosses a block"
                          % (ino.nid, size - split))
    return tail + pos - split, size - pos, True


def read_flat(fs, ino, pos, n):
    off, avail, tail = flat_map(fs, ino, pos)
    if tail:
        return fs.meta(off, min(n, avail), ino.nid)
    return fs.data(off, min(n, avail), ino)


def read_chunked(fs, ino, pos, n):
    sb = fs.sb
    unit = 8 if ino.raw & CHUNK_FORMAT_INDEXES else 4
    chunk = pos >> ino.chunkbits
    at = ((ino.data_start() + unit - 1) & ~(unit - 1)) + chunk * unit
    e = fs.meta(at, unit, ino.nid)
    # Without extra devices the kernel masks device_id to 0 (device_id_mask); the high
    # 16 bits of an index's block number exist only with the 48-bit feature, refused.
    blk = struct.unpack_from("<I", e, unit - 4)[0]
    end = (chunk + 1) << ino.chunkbits
    cnt = min(n, end - pos, ino.size - pos)
    if blk == NULL_ADDR:
        return bytes(cnt)
    off = (blk << sb.blkszbits) + pos - (chunk << ino.chunkbits)
    return fs.data(off, cnt, ino)
