# One on-disk ext2/3/4 inode: the fields the reader contract wants, the block map
# root (i_block), its checksum, and in-inode extended attributes (inline_data keeps
# the part of a file that does not fit in i_block in "system.data").

import struct

from dmfw.errors import FormatError
from dmfw.fs.base import Inode, S_IFMT, S_IFCHR, S_IFBLK
from dmfw.fs.ext4.csum import crc32c, le32, inode_seed

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
    """An inode as read from the inode table; `raw` is its s_inode_size bytes."""

    def __init__(self, fs, ino, raw):
        self.ino = ino
        self.raw = raw
        (mode, uid, size_lo, atime, ctime, mtime, _, gid, nlink, blocks_lo,
         flags) = struct.unpack_from("<HHIIIIIHHII", raw, 0)
        self.gen, acl_lo, size_hi = struct.unpack_from("<III", raw, 0x64)
        blocks_hi, acl_hi, uid_hi, gid_hi = struct.unpack_from("<4H", raw, 0x74)
        self.mode = mode
        self.uid = uid | (uid_hi << 16)
        self.gid = gid | (gid_hi << 16)
        self.size = size_lo | (size_hi << 32)
        self.atime = atime
        self.ctime = ctime
        self.mtime = mtime
        self.nlink = nlink
        self.flags = flags
        self.file_acl = acl_lo | (acl_hi << 32)
        self.blocks = blocks_lo | (blocks_hi << 32)  # in 512-byte units (see ea_blocks)
        self.extra_isize = 0
        if len(raw) > 128:
            self.extra_isize = struct.unpack_from("<H", raw, 0x80)[0]
            if self.extra_isize & 3 or 128 + self.extra_isize > len(raw):
                raise FormatError("ext4: inode %d: bad extra size %d" % (ino, self.extra_isize))
        self.iblock = raw[0x28:0x64]
        fmt = mode & S_IFMT
        if fmt == S_IFCHR or fmt == S_IFBLK:
            old, new = struct.unpack_from("<II", raw, 0x28)
            if old:
                self.rdev_major, self.rdev_minor = (old >> 8) & 0xFF, old & 0xFF
            else:
                self.rdev_major = (new & 0xFFF00) >> 8
                self.rdev_minor = (new & 0xFF) | ((new >> 12) & 0xFFF00)
        if fs.sb.csum:
            self.seed = inode_seed(fs.sb.seed, ino, self.gen)
            key = ("i", ino)
            if not fs.verified(key):
                self._verify()
                fs.mark_verified(key)

    def _verify(self):
        raw = self.raw
        want = struct.unpack_from("<H", raw, 0x7C)[0]
        big = len(raw) > 128 and self.extra_isize >= 4
        if big:
            want |= struct.unpack_from("<H", raw, 0x82)[0] << 16
        mv = memoryview(raw)
        c = crc32c(mv[:0x7C], self.seed)
        c = crc32c(b"\0\0", c)
        if big:
            c = crc32c(mv[0x7E:0x82], c)
            c = crc32c(b"\0\0", c)
            c = crc32c(mv[0x84:], c)
        else:
            c = crc32c(mv[0x7E:], c)
            c &= 0xFFFF
        if c != want:
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


def le32s(v):
    return le32(v)
