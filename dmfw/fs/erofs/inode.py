# EROFS on-disk inodes (Linux fs/erofs/inode.c): a compact (32-byte) or extended
# (64-byte) inode at meta_blkaddr * block_size + nid * 32, then the inline xattrs,
# then (by layout) inline tail data, chunk indexes or the compression map.

import struct
from dmfw.errors import FormatError, EOPNOTSUPP
from dmfw.fs.base import (Inode, S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK,
                          S_IFIFO, S_IFSOCK)

FLAT_PLAIN = 0
COMPRESSED_FULL = 1
FLAT_INLINE = 2
COMPRESSED_COMPACT = 3
CHUNK_BASED = 4
LAYOUT_NAMES = ("flat-plain", "compressed-full", "flat-inline", "compressed-compact",
                "chunk-based")

CHUNK_FORMAT_BLKBITS_MASK = 0x1F
CHUNK_FORMAT_INDEXES = 0x20
NULL_ADDR = 0xFFFFFFFF

_TYPES = (S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK)


class ErofsInode(Inode):
    # Attributes equal to these class defaults are not set per instance: a listing of
    # a big directory holds thousands of inodes, and MicroPython's instance dicts grow
    # by doubling.
    nid = 0
    layout = 0
    isize = 32          # on-disk inode size
    xattr_isize = 0
    iloc = 0            # byte offset of the on-disk inode
    raw = 0             # i_u: raw_blkaddr / compressed_blocks / rdev / chunk format
    zmap = None         # the compression map (zmap.ZMap), made on first read
    chunkbits = 0

    @property
    def ino(self):
        return self.nid

    def is_compressed(self):
        return self.layout == COMPRESSED_FULL or self.layout == COMPRESSED_COMPACT

    def data_start(self):
        """Byte offset of what follows the inode and its inline xattrs."""
        return self.iloc + self.isize + self.xattr_isize


def read_inode(fs, nid):
    sb = fs.sb
    if nid < 0 or nid > (sb.dev_bytes >> 5):
        raise FormatError("erofs: nid %d: outside the device" % nid)
    iloc = (sb.meta_blkaddr << sb.blkszbits) + (nid << 5)
    if iloc + 32 > sb.dev_bytes:
        raise FormatError("erofs: nid %d: inode outside the device" % nid)
    b = fs.meta(iloc, 32, nid)
    i_format, icount, mode = struct.unpack_from("<HHH", b, 0)
    if i_format & ~0xF:
        raise FormatError("erofs: nid %d: unsupported i_format 0x%x" % (nid, i_format),
                          EOPNOTSUPP)
    layout = (i_format >> 1) & 7
    if layout > CHUNK_BASED:
        raise FormatError("erofs: nid %d: unknown data layout %d" % (nid, layout),
                          EOPNOTSUPP)
    ino = ErofsInode()
    ino.nid = nid
    ino.iloc = iloc
    if layout:
        ino.layout = layout
    if i_format & 1:
        ino.isize = 64
        if iloc + 64 > sb.dev_bytes:
            raise FormatError("erofs: nid %d: inode outside the device" % nid)
        b = fs.meta(iloc, 64, nid)
        (size, raw, _i_ino, uid, gid, mtime, _nsec, nlink) = \
            struct.unpack_from("<QIIIIQII", b, 8)
    else:
        ino.isize = 32
        (nlink, size, mtime_rel, raw, _i_ino, uid, gid) = struct.unpack_from("<HIIIIHH", b, 6)
        # Compact inodes carry no time of their own: the image's build time (newer
        # images add a 32-bit offset to it in the once-reserved field).
        mtime = sb.build_time + mtime_rel
    ino.mode = mode
    if nlink != 1:
        ino.nlink = nlink
    if uid:
        ino.uid = uid
    if gid:
        ino.gid = gid
    if size:
        ino.size = size
    ino.mtime = mtime
    if raw:
        ino.raw = raw
    if icount:
        ino.xattr_isize = 12 + 4 * (icount - 1)
    t = mode & S_IFMT
    if t not in _TYPES:
        raise FormatError("erofs: nid %d: bad file type 0%o" % (nid, mode))
    if t in (S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK):
        # new_encode_dev(): minor's low 8 bits, major, then minor's high bits.
        if t == S_IFCHR or t == S_IFBLK:
            ino.rdev_major = (raw & 0xFFF00) >> 8
            ino.rdev_minor = (raw & 0xFF) | ((raw >> 12) & 0xFFF00)
    elif ino.layout == CHUNK_BASED:
        if raw & 0xFFFF & ~(CHUNK_FORMAT_BLKBITS_MASK | CHUNK_FORMAT_INDEXES):
            raise FormatError("erofs: nid %d: unsupported chunk format 0x%x" % (nid, raw),
                              EOPNOTSUPP)
        ino.chunkbits = sb.blkszbits + (raw & CHUNK_FORMAT_BLKBITS_MASK)
        if ino.chunkbits > 40:
            raise FormatError("erofs: nid %d: chunk size 2^%d is too large"
                              % (nid, ino.chunkbits))
    # st_blocks as Linux's erofs_read_inode: compressed blocks, else (and when a
    # compressed file has none: all in a fragment or the inline tail) whole fs blocks.
    if (layout == COMPRESSED_FULL or layout == COMPRESSED_COMPACT) and raw:
        ino.blocks = raw << (sb.blkszbits - 9)
    else:
        ino.blocks = ((size + sb.block_size - 1) >> sb.blkszbits) << (sb.blkszbits - 9)
    if t == S_IFLNK and size > 4095:
        raise FormatError("erofs: nid %d: symlink of %d bytes" % (nid, size))
    if ino.data_start() > sb.dev_bytes:
        raise FormatError("erofs: nid %d: xattrs run past the device" % nid)
    return ino
