# One on-disk ext2/3/4 inode: the fields the reader contract wants, the block map
# root (i_block), its checksum, and in-inode extended attributes (inline_data keeps
# the part of a file that does not fit in i_block in "system.data").

import struct

from dmfw.errors import FormatError
from dmfw.fs.base import Inode, S_IFMT, S_IFCHR, S_IFBLK, S_IFDIR, S_IFREG, S_IFLNK
from dmfw.fs.ext4.csum import crc32c, inode_seed
from dmfw.fs.ext4.super import RO_HUGE_FILE

FL_ENCRYPT = 0x800
FL_INDEX = 0x1000
FL_HUGE_FILE = 0x40000
FL_EXTENTS = 0x80000
FL_EA_INODE = 0x200000
FL_INLINE_DATA = 0x10000000
FL_CASEFOLD = 0x40000000

XATTR_MAGIC = 0xEA020000
XATTR_INDEX_SYSTEM = 7


class ExtInode(Inode):
    """An inode as read from the inode table; inline ones keep `raw` (s_inode_size
    bytes) for their attributes."""
    raw = None
    extra_isize = 0
    fast_link = False
    blocks = None  # st_blocks; None: ceil(size / 512) (dmfw.fs.base's convention)

    def __init__(self, fs, ino, raw):
        # Attributes are kept few: base.scandir() holds one of these per entry, and
        # a 3000-entry directory must fit MicroPython's default 2 MiB heap.
        self.ino = ino
        (mode, uid, size_lo, atime, ctime, mtime, _, gid, nlink, blocks_lo,
         flags) = struct.unpack_from("<HHIIIIIHHII", raw, 0)
        gen, acl_lo, size_hi = struct.unpack_from("<III", raw, 0x64)
        blocks_hi, acl_hi, uid_hi, gid_hi = struct.unpack_from("<4H", raw, 0x74)
        self.mode = mode
        self.uid = uid | (uid_hi << 16)
        self.gid = gid | (gid_hi << 16)
        self.size = size_lo | (size_hi << 32)
        self.mtime = mtime
        if atime != mtime:  # None (the class default) means "as mtime"
            self.atime = atime
        if ctime != mtime:
            self.ctime = ctime
        self.nlink = nlink
        self.flags = flags
        # st_blocks as ext4_inode_blocks() computes it: 48 bits with huge_file,
        # in file system blocks when the inode says so.
        if fs.sb.ro_compat & RO_HUGE_FILE:
            blocks = blocks_lo | (blocks_hi << 32)
            if flags & FL_HUGE_FILE:
                blocks *= fs.block_size >> 9
        else:
            blocks = blocks_lo
        if flags & FL_INLINE_DATA and (mode & S_IFMT) == S_IFREG:
            # ext4_file_getattr(): inline data reports its bytes as sectors too, so
            # tools do not take the file for a hole.
            blocks += (self.size + 511) >> 9
        if blocks != (self.size + 511) >> 9:  # None (the class default): as that
            self.blocks = blocks
        extra = 0
        if len(raw) > 128:
            extra = struct.unpack_from("<H", raw, 0x80)[0]
            if extra & 3 or 128 + extra > len(raw):
                raise FormatError("ext4: inode %d: bad extra size %d" % (ino, extra))
        fmt = mode & S_IFMT
        if fmt == S_IFCHR or fmt == S_IFBLK:
            old, new = struct.unpack_from("<II", raw, 0x28)
            if old:
                self.rdev_major, self.rdev_minor = (old >> 8) & 0xFF, old & 0xFF
            else:
                self.rdev_major = (new & 0xFFF00) >> 8
                self.rdev_minor = (new & 0xFF) | ((new >> 12) & 0xFFF00)
        else:
            self.iblock = bytes(raw[0x28:0x64])
        if fmt == S_IFLNK:
            # A fast symlink keeps its target in i_block: no data blocks besides
            # an attribute block (i_blocks counts 512-byte units; huge_file is
            # irrelevant at zero).
            ea = (fs.block_size >> 9) if (acl_lo | (acl_hi << 32)) else 0
            self.fast_link = (not (flags & (FL_EXTENTS | FL_INLINE_DATA))
                              and self.size < 60 and blocks - ea <= 0)
        if fs.sb.csum:
            if not fs.verified(ino):
                self._verify(raw, extra, inode_seed(fs.sb.seed, ino, gen))
                fs.mark_verified(ino)
            if fmt == S_IFDIR or fmt == S_IFREG or fmt == S_IFLNK:
                self.seed = inode_seed(fs.sb.seed, ino, gen)
        if flags & FL_INLINE_DATA:
            # Only inline data needs the attribute area later.
            self.raw = raw
            self.extra_isize = extra

    def _verify(self, raw, extra, seed):
        want = struct.unpack_from("<H", raw, 0x7C)[0]
        big = len(raw) > 128 and extra >= 4
        if big:
            want |= struct.unpack_from("<H", raw, 0x82)[0] << 16
        mv = memoryview(raw)
        c = crc32c(mv[:0x7C], seed)
        c = crc32c(b"\0\0", c)
        if big:
            c = crc32c(mv[0x7E:0x82], c)
            c = crc32c(b"\0\0", c)
            c = crc32c(mv[0x84:], c)
        else:
            c = crc32c(mv[0x7E:], c)
            c &= 0xFFFF
        if c != want and any(raw):
            # (an all-zero inode is an unused one in a never-written table, as
            # e2fsprogs treats it: "not in use" is the better message)
            raise FormatError("ext4: inode %d: checksum mismatch" % self.ino)

    def xattr(self, index, name):
        """The value of in-inode attribute (index, name) or None (no external block
        lookup: system.data is always in the inode)."""
        raw = self.raw
        start = 128 + self.extra_isize
        if start + 4 > len(raw) or struct.unpack_from("<I", raw, start)[0] != XATTR_MAGIC:
            return None
        base = start + 4
        off = base
        end = len(raw)
        while off + 16 <= end:
            nlen, idx, voff, vino, vsize = struct.unpack_from("<BBHII", raw, off)
            if nlen == 0 and idx == 0 and voff == 0 and vino == 0:
                break
            nm = bytes(raw[off + 16:off + 16 + nlen])
            if off + 16 + nlen > end:
                break
            if idx == index and nm == name:
                if vino:
                    raise FormatError("ext4: inode %d: attribute value in an inode" % self.ino)
                if base + voff + vsize > end:
                    raise FormatError("ext4: inode %d: attribute value past the inode"
                                      % self.ino)
                return bytes(raw[base + voff:base + voff + vsize])
            off += (16 + nlen + 3) & ~3
        return None

