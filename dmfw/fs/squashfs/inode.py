# squashfs inodes: a 16-byte common header (type, permission bits, uid and gid
# indexes into the id table, mtime, inode number) and a per-type body; the
# "extended" types (8..14) add nlink/xattr fields, 64-bit sizes and the
# directory index. An inode reference is (metadata block offset from the inode
# table's start) << 16 | offset inside the decompressed block.

import struct

from dmfw.fs.base import (Inode, S_IFDIR, S_IFREG, S_IFLNK, S_IFBLK, S_IFCHR,
                          S_IFIFO, S_IFSOCK)
from dmfw.fs.squashfs.super import err, METADATA_SIZE
from dmfw.fs.squashfs.tables import get_id, XATTR_INVALID

DIR, REG, SYMLINK, BLKDEV, CHRDEV, FIFO, SOCKET = 1, 2, 3, 4, 5, 6, 7
LDIR, LREG, LSYMLINK, LBLKDEV, LCHRDEV, LFIFO, LSOCKET = 8, 9, 10, 11, 12, 13, 14

# basic type -> S_IFMT bits
IFMT = (0, S_IFDIR, S_IFREG, S_IFLNK, S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK)
FRAG_NONE = 0xFFFFFFFF
SYMLINK_MAX = 4096  # Linux refuses longer targets (PAGE_SIZE)


class SquashInode(Inode):
    blocks = 0         # st_blocks: Linux gives 0 but for regular files
    ref = 0
    itype = 0
    xattr = XATTR_INVALID
    # regular files
    start = 0          # disk position of the first data block
    frag = FRAG_NONE
    frag_off = 0
    nblocks = 0        # entries in the block list
    blist = None       # (block, offset) of the block list in the inode table
    # directories
    dir_block = 0      # metadata block, relative to the directory table
    dir_off = 0
    idx_count = 0
    idx_pos = None     # (block, offset) of the directory index
    parent = 0
    target = None      # symlink

    def __repr__(self):
        return "<squashfs inode %d type %d>" % (self.ino, self.itype)


def read_inode(fs, ref, want_type=0):
    """The inode at reference `ref`; `want_type` (a basic type from a
    directory entry) must match the inode's type when given."""
    sb = fs.sb
    blk = ref >> 16
    off = ref & 0xFFFF
    it = sb.inode_table_start
    who = "inode 0x%x" % ref
    if blk >= sb.directory_table_start - it or off >= METADATA_SIZE:
        raise err("%s: reference outside the inode table" % who)
    s = fs.meta.stream(it + blk, off, it, sb.directory_table_start, who)
    itype, mode, uid_i, gid_i, mtime, number = struct.unpack("<HHHHII", s.take(16))
    if itype < 1 or itype > 14:
        raise err("%s: unknown inode type %d" % (who, itype))
    basic = itype if itype <= 7 else itype - 7
    if want_type and want_type != basic:
        raise err("%s: directory entry says type %d, inode has type %d"
                  % (who, want_type, itype))
    if number < 1 or number > sb.inodes:
        raise err("%s: inode number %d out of range (1..%d)" % (who, number, sb.inodes))
    who = "inode %d" % number
    ino = SquashInode()
    ino.ref = ref
    ino.itype = itype
    ino.ino = number
    ino.mode = (mode & 0o7777) | IFMT[basic]
    ino.uid = get_id(fs, uid_i, who)
    ino.gid = get_id(fs, gid_i, who)
    ino.mtime = mtime
    xattr = XATTR_INVALID
    if itype == DIR:
        start, nlink, size, doff, parent = struct.unpack("<IIHHI", s.take(16))
        ino.nlink = nlink
        _dir(fs, ino, start, size, doff, parent, who)
    elif itype == LDIR:
        nlink, size, start, parent, count, doff, xattr = struct.unpack("<IIIIHHI", s.take(24))
        ino.nlink = nlink
        _dir(fs, ino, start, size, doff, parent, who)
        ino.idx_count = count
        ino.idx_pos = s.where()
    elif itype == REG:
        start, frag, foff, size = struct.unpack("<IIII", s.take(16))
        _file(fs, ino, start, frag, foff, size, who)
        ino.blist = s.where()
        # st_blocks as Linux's squashfs_read_inode sets them
        ino.blocks = ((size - 1) >> 9) + 1
    elif itype == LREG:
        start, size, sparse, nlink, frag, foff, xattr = struct.unpack("<QQQIIII", s.take(40))
        ino.nlink = nlink
        _file(fs, ino, start, frag, foff, size, who)
        ino.blist = s.where()
        ino.blocks = max(0, (size - sparse + 511) >> 9)
    elif basic == SYMLINK:
        nlink, size = struct.unpack("<II", s.take(8))
        if size > SYMLINK_MAX:
            raise err("%s: symlink of %d bytes (at most %d)" % (who, size, SYMLINK_MAX))
        ino.nlink = nlink
        ino.size = size
        ino.target = s.take(size)
        if itype == LSYMLINK:
            xattr = struct.unpack("<I", s.take(4))[0]
    elif basic == BLKDEV or basic == CHRDEV:
        if itype > 7:
            nlink, rdev, xattr = struct.unpack("<III", s.take(12))
        else:
            nlink, rdev = struct.unpack("<II", s.take(8))
        ino.nlink = nlink
        # Linux's new_decode_dev: 12-bit major, 20-bit minor split around it.
        ino.rdev_major = (rdev & 0xFFF00) >> 8
        ino.rdev_minor = (rdev & 0xFF) | ((rdev >> 12) & 0xFFF00)
    else:
        if itype > 7:
            nlink, xattr = struct.unpack("<II", s.take(8))
        else:
            nlink = struct.unpack("<I", s.take(4))[0]
        ino.nlink = nlink
    if xattr != XATTR_INVALID and xattr >= fs.xattr_ids:
        raise err("%s: xattr index %d out of range (%d)" % (who, xattr, fs.xattr_ids))
    ino.xattr = xattr
    return ino


def _dir(fs, ino, start, size, doff, parent, who):
    sb = fs.sb
    # The listing's size counts 3 bytes for "." and "..", which are not stored.
    if size < 3:
        raise err("%s: directory size %d below 3" % (who, size))
    if start >= fs.dir_end - sb.directory_table_start or doff >= METADATA_SIZE:
        raise err("%s: directory listing outside the directory table" % who)
    ino.size = size
    ino.dir_block = start
    ino.dir_off = doff
    ino.parent = parent


def _file(fs, ino, start, frag, foff, size, who):
    sb = fs.sb
    bs = sb.block_size
    if frag != FRAG_NONE:
        if frag >= sb.fragments:
            raise err("%s: fragment %d out of range (%d)" % (who, frag, sb.fragments))
        if foff >= bs:
            raise err("%s: fragment offset %d past the block size" % (who, foff))
        ino.nblocks = size >> sb.block_log
    else:
        ino.nblocks = (size + bs - 1) >> sb.block_log
    if ino.nblocks and not (sb.data_start <= start <= sb.inode_table_start):
        raise err("%s: data start %d outside the data area" % (who, start))
    ino.size = size
    ino.start = start
    ino.frag = frag
    ino.frag_off = foff
