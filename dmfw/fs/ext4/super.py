# The ext2/3/4 superblock, its feature words and the group descriptors.
# Descriptors are read on demand, one descriptor block cached at a time, so a
# file system with millions of groups costs no memory up front.

import struct

from dmfw.errors import FormatError
from dmfw.fs.ext4.csum import crc16, crc32c, le32

MAGIC = 0xEF53

# s_feature_compat
COMPAT_HAS_JOURNAL = 0x4
COMPAT_SPARSE_SUPER2 = 0x200
# s_feature_incompat
INCOMPAT_COMPRESSION = 0x1
INCOMPAT_FILETYPE = 0x2
INCOMPAT_RECOVER = 0x4
INCOMPAT_JOURNAL_DEV = 0x8
INCOMPAT_META_BG = 0x10
INCOMPAT_EXTENTS = 0x40
INCOMPAT_64BIT = 0x80
INCOMPAT_MMP = 0x100
INCOMPAT_FLEX_BG = 0x200
INCOMPAT_EA_INODE = 0x400
INCOMPAT_DIRDATA = 0x1000
INCOMPAT_CSUM_SEED = 0x2000
INCOMPAT_LARGEDIR = 0x4000
INCOMPAT_INLINE_DATA = 0x8000
INCOMPAT_ENCRYPT = 0x10000
INCOMPAT_CASEFOLD = 0x20000
# What this reader understands; anything else in incompat is refused (the
# kernel refuses to mount too). Encryption is refused per inode, casefolded
# directories are read with names as stored (lookup scans them linearly).
INCOMPAT_OK = (INCOMPAT_FILETYPE | INCOMPAT_RECOVER | INCOMPAT_META_BG | INCOMPAT_EXTENTS
               | INCOMPAT_64BIT | INCOMPAT_MMP | INCOMPAT_FLEX_BG | INCOMPAT_EA_INODE
               | INCOMPAT_CSUM_SEED | INCOMPAT_LARGEDIR | INCOMPAT_INLINE_DATA
               | INCOMPAT_ENCRYPT | INCOMPAT_CASEFOLD)
# s_feature_ro_compat (read-only compatible: a reader may ignore the unknown ones)
RO_SPARSE_SUPER = 0x1
RO_LARGE_FILE = 0x2
RO_BTREE_DIR = 0x4
RO_HUGE_FILE = 0x8
RO_GDT_CSUM = 0x10
RO_METADATA_CSUM = 0x400

# libblkid's ext rules: what ext2/ext3 may have; anything beyond is ext4.
EXT3_RO_SUPP = RO_SPARSE_SUPER | RO_LARGE_FILE | RO_BTREE_DIR
EXT2_INCOMPAT_SUPP = INCOMPAT_FILETYPE | INCOMPAT_META_BG
EXT3_INCOMPAT_SUPP = EXT2_INCOMPAT_SUPP | INCOMPAT_RECOVER

BG_INODE_UNINIT = 0x1


def _has_super(sb, g):
    """Whether group g holds a superblock backup (and so descriptors after it)."""
    if g == 0:
        return True
    if sb.compat & COMPAT_SPARSE_SUPER2:
        return g == sb.backup_bgs[0] or g == sb.backup_bgs[1]
    if g <= 1 or not (sb.ro_compat & RO_SPARSE_SUPER):
        return True
    if not (g & 1):
        return False
    for p in (3, 5, 7):
        n = p
        while n < g:
            n *= p
        if n == g:
            return True
    return False


def fmt_uuid(u):
    h = "".join("%02x" % b for b in u)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


class Super:
    def __init__(self, dev, raw):
        name = getattr(dev, "name", "?")
        if len(raw) < 1024 or struct.unpack_from("<H", raw, 0x38)[0] != MAGIC:
            raise FormatError("%s: not an ext2/ext3/ext4 file system" % name)
        self.raw = raw
        self.dev = dev
        self.name = name
        (self.inodes_count, blocks_lo, _, _, _, self.first_data_block, log_bs, log_cs,
         self.blocks_per_group, _, self.inodes_per_group) = struct.unpack_from("<11I", raw, 0)
        self.rev_level = struct.unpack_from("<I", raw, 0x4C)[0]
        if self.rev_level == 0:
            self.first_ino, self.inode_size = 11, 128
            self.compat = self.incompat = self.ro_compat = 0
        else:
            self.first_ino, self.inode_size = struct.unpack_from("<IH", raw, 0x54)
            self.compat, self.incompat, self.ro_compat = struct.unpack_from("<3I", raw, 0x5C)
        self.uuid_raw = bytes(raw[0x68:0x78])
        self.volume_name = bytes(raw[0x78:0x88]).split(b"\0")[0]
        self.hash_seed = struct.unpack_from("<4I", raw, 0xEC)
        self.def_hash_version = raw[0xFC]
        desc_size = struct.unpack_from("<H", raw, 0xFE)[0]
        self.first_meta_bg = struct.unpack_from("<I", raw, 0x104)[0]
        blocks_hi = struct.unpack_from("<I", raw, 0x150)[0]
        self.flags = struct.unpack_from("<I", raw, 0x160)[0]
        self.checksum_type = raw[0x175]
        self.backup_bgs = struct.unpack_from("<2I", raw, 0x24C)
        self.checksum_seed_field = struct.unpack_from("<I", raw, 0x270)[0]
        self.sb_checksum = struct.unpack_from("<I", raw, 0x3FC)[0]
        if log_bs > 6:
            raise FormatError("%s: ext4: bad block size (log %d)" % (name, log_bs))
        self.block_size = bs = 1024 << log_bs
        self.is64 = bool(self.incompat & INCOMPAT_64BIT)
        self.blocks_count = blocks_lo | ((blocks_hi << 32) if self.is64 else 0)
        self.desc_size = desc_size if self.is64 else 32
        self.csum = bool(self.ro_compat & RO_METADATA_CSUM)
        self.gdt_csum = bool(self.ro_compat & RO_GDT_CSUM) and not self.csum
        if self.csum:
            if self.checksum_type != 1:
                raise FormatError("%s: ext4: unknown checksum type %d"
                                  % (name, self.checksum_type))
            if crc32c(memoryview(raw)[:0x3FC]) != self.sb_checksum:
                raise FormatError("%s: ext4: superblock checksum mismatch" % name)
            if self.incompat & INCOMPAT_CSUM_SEED:
                self.seed = self.checksum_seed_field
            else:
                self.seed = crc32c(self.uuid_raw)
        self._check(name, bs, log_cs)
        self.groups = (self.blocks_count - self.first_data_block
                       + self.blocks_per_group - 1) // self.blocks_per_group
        if self.groups <= 0 or self.groups * self.inodes_per_group != self.inodes_count:
            raise FormatError("%s: ext4: inode count %d does not match %d groups of %d"
                              % (name, self.inodes_count, self.groups,
                                 self.inodes_per_group))
        self.descs_per_block = bs // self.desc_size
        self._gd_blk = -1
        self._gd_buf = None
        self._gd_ok = {}  # groups whose descriptor checksum was verified (bounded)

    def _check(self, name, bs, log_cs):
        bad = self.incompat & ~INCOMPAT_OK
        if bad:
            raise FormatError("%s: ext4: unsupported incompatible features 0x%x"
                              % (name, bad))
        if self.incompat & INCOMPAT_JOURNAL_DEV:
            raise FormatError("%s: ext4: an external journal device, not a file system" % name)
        if self.rev_level > 1:
            raise FormatError("%s: ext4: unknown revision %d" % (name, self.rev_level))
        isz = self.inode_size
        if isz < 128 or isz > bs or (isz & (isz - 1)):
            raise FormatError("%s: ext4: bad inode size %d" % (name, isz))
        if self.is64 and (self.desc_size < 64 or self.desc_size > 1024
                          or (self.desc_size & (self.desc_size - 1))):
            raise FormatError("%s: ext4: bad descriptor size %d" % (name, self.desc_size))
        if (self.blocks_per_group < 8 or self.blocks_per_group > 8 * bs
                or self.inodes_per_group < 1 or self.inodes_per_group > 8 * bs
                or self.first_data_block >= self.blocks_count
                or self.first_ino < 11 or self.first_ino > self.inodes_count):
            raise FormatError("%s: ext4: bad geometry in the superblock" % name)
        if self.first_data_block != (1 if bs == 1024 and log_cs == 0 else 0) \
                and self.first_data_block > 1:
            raise FormatError("%s: ext4: bad first data block" % name)
        size = self.dev_bytes()
        if self.blocks_count * bs > size:
            raise FormatError("%s: ext4: file system is %d blocks, device holds %d"
                              % (name, self.blocks_count, size // bs))

    def dev_bytes(self):
        return self.dev.nr_sectors * 512

    def kind(self):
        """blkid's TYPE (libblkid's ext rules)."""
        if self.flags & 0x4:
            return "ext4dev"
        beyond3 = (self.ro_compat & ~EXT3_RO_SUPP) or (self.incompat & ~EXT3_INCOMPAT_SUPP)
        if beyond3:
            return "ext4"
        if self.compat & COMPAT_HAS_JOURNAL:
            return "ext3"
        if self.incompat & ~EXT2_INCOMPAT_SUPP:
            return "ext4"
        return "ext2"

    def hash_unsigned(self):
        return bool(self.flags & 0x2)

    # --- group descriptors ---
    def _desc_block(self, i):
        """Block number of descriptor block i (meta_bg puts later ones in their groups)."""
        if not (self.incompat & INCOMPAT_META_BG) or i < self.first_meta_bg:
            return self.first_data_block + 1 + i
        g = i * self.descs_per_block
        first = self.first_data_block + g * self.blocks_per_group
        return first + (1 if _has_super(self, g) else 0)

    def group_desc(self, g):
        """(inode_table_block, flags, itable_unused) of group g, checksum verified."""
        if g < 0 or g >= self.groups:
            raise FormatError("%s: ext4: group %d out of range" % (self.name, g))
        blk = self._desc_block(g // self.descs_per_block)
        if blk >= self.blocks_count:
            raise FormatError("%s: ext4: descriptor block %d past the end" % (self.name, blk))
        if blk != self._gd_blk:
            bs = self.block_size
            self._gd_buf = self.dev.pread(blk * bs, bs)
            self._gd_blk = blk
        off = (g % self.descs_per_block) * self.desc_size
        d = memoryview(self._gd_buf)[off:off + self.desc_size]
        itab, = struct.unpack_from("<I", d, 0x8)
        flags, = struct.unpack_from("<H", d, 0x12)
        unused, csum = struct.unpack_from("<HH", d, 0x1C)
        if self.is64:
            itab |= struct.unpack_from("<I", d, 0x28)[0] << 32
            unused |= struct.unpack_from("<H", d, 0x32)[0] << 16
        if (self.csum or self.gdt_csum) and g not in self._gd_ok:
            if self.csum:
                c = crc32c(d[:0x1E], crc32c(le32(g), self.seed))
                c = crc32c(b"\0\0", c)
                if self.desc_size > 0x20:
                    c = crc32c(d[0x20:], c)
                c &= 0xFFFF
            else:
                c = crc16(d[:0x1E], crc16(le32(g), crc16(self.uuid_raw)))
                if self.desc_size > 0x20:
                    c = crc16(d[0x20:], c)
            if c != csum:
                raise FormatError("%s: ext4: group %d: descriptor checksum mismatch"
                                  % (self.name, g))
            if len(self._gd_ok) >= 4096:
                self._gd_ok = {}
            self._gd_ok[g] = True
        if not (self.csum or self.gdt_csum):
            flags &= ~BG_INODE_UNINIT  # only meaningful with checksummed descriptors
            unused = 0
        return itab, flags, unused
