# The EROFS superblock (Linux fs/erofs/super.c, erofs_fs.h): 128 bytes at byte 1024,
# little-endian. Only what the reader needs is kept; unknown incompatible features are
# refused by name, as the kernel refuses to mount them.

import struct
from dmfw.errors import FormatError, EOPNOTSUPP, EBADMSG

SUPER_OFFSET = 1024
MAGIC = 0xE0F5E1E2

COMPAT_SB_CHKSUM = 0x1

INCOMPAT_ZERO_PADDING = 0x1     # lz4 / lzma / deflate data ends at the pcluster end
INCOMPAT_COMPR_CFGS = 0x2       # also BIG_PCLUSTER: per-algorithm config records
INCOMPAT_CHUNKED_FILE = 0x4
INCOMPAT_DEVICE_TABLE = 0x8     # also COMPR_HEAD2
INCOMPAT_ZTAILPACKING = 0x10
INCOMPAT_FRAGMENTS = 0x20       # also DEDUPE
INCOMPAT_XATTR_PREFIXES = 0x40
INCOMPAT_SUPPORTED = 0x7F
INCOMPAT_NAMES = ((0x80, "48bit"), (0x100, "metabox"))

# Z_EROFS_COMPRESSION_*: algorithm number -> dmfw.compress decoder name.
ALGORITHMS = ("lz4", "microlzma", "deflate", "zstd")


def crc32c(data):
    """crc32c(~0, data) as the kernel computes it (no final inversion)."""
    from dmfw.crc32 import crc32c_raw
    return crc32c_raw(data) & 0xFFFFFFFF


def uuid_str(b):
    h = "".join("%02x" % x for x in b)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


class Super:
    """The parsed superblock of `dev` (FormatError when it is not a sane EROFS)."""

    def __init__(self, dev):
        name = getattr(dev, "name", "?")
        self.dev_bytes = dev.nr_sectors << 9
        if self.dev_bytes < SUPER_OFFSET + 128:
            raise FormatError("%s: too small for erofs" % name)
        sb = dev.pread(SUPER_OFFSET, 128)
        (magic, csum, self.feature_compat, blkszbits, extslots, self.root_nid,
         self.inos, self.build_time, self.build_time_nsec, self.blocks,
         self.meta_blkaddr, self.xattr_blkaddr) = struct.unpack_from("<IIIBBHQQIIII", sb, 0)
        if magic != MAGIC:
            raise FormatError("%s: not an erofs file system (bad magic)" % name)
        # Linux takes 512 B .. PAGE_SIZE blocks; 64 KiB pages are the largest there are.
        if blkszbits < 9 or blkszbits > 16:
            raise FormatError("erofs: %s: block size 2^%d is not supported" % (name, blkszbits))
        self.blkszbits = blkszbits
        self.block_size = 1 << blkszbits
        self.uuid = bytes(sb[48:64])
        vol = bytes(sb[64:80])
        if b"\0" in vol:
            vol = vol[:vol.index(b"\0")]
        self.volume_name = vol
        (self.feature_incompat, self.u1, self.extra_devices, self.devt_slotoff,
         dirblkbits) = struct.unpack_from("<IHHHB", sb, 80)
        self.packed_nid = struct.unpack_from("<Q", sb, 96)[0]
        if self.feature_compat & COMPAT_SB_CHKSUM:
            self._check_csum(dev, name)
        unknown = self.feature_incompat & ~INCOMPAT_SUPPORTED
        if unknown:
            names = [n for bit, n in INCOMPAT_NAMES if unknown & bit]
            raise FormatError("erofs: %s: unsupported incompatible features 0x%x (%s)"
                              % (name, unknown, ", ".join(names) or "unknown"), EOPNOTSUPP)
        if dirblkbits:
            raise FormatError("erofs: %s: dirblkbits %d is not supported" % (name, dirblkbits),
                              EOPNOTSUPP)
        if self.extra_devices:
            raise FormatError("erofs: %s: images on %d extra devices are not supported"
                              % (name, self.extra_devices), EOPNOTSUPP)
        if self.meta_blkaddr << blkszbits >= self.dev_bytes:
            raise FormatError("erofs: %s: metadata start block %d outside the device"
                              % (name, self.meta_blkaddr))
        self.sb_size = 128 + extslots * 16
        if SUPER_OFFSET + self.sb_size > max(self.block_size, 4096):
            raise FormatError("erofs: %s: sb_extslots %d past the superblock" % (name, extslots))
        self.zero_padding = bool(self.feature_incompat & INCOMPAT_ZERO_PADDING)
        if self.feature_incompat & INCOMPAT_COMPR_CFGS:
            self.available_algs = self.u1
        else:
            self.available_algs = 1   # lz4 only; u1 is lz4_max_distance then
        if self.available_algs & ~0xF:
            raise FormatError("erofs: %s: unknown compression algorithms 0x%x"
                              % (name, self.available_algs), EOPNOTSUPP)

    def _check_csum(self, dev, name):
        # crc32c over the superblock's block from byte 1024 to its end, the checksum
        # field zeroed (erofs_superblock_csum_verify). erofs-utils leaves the feature
        # off for blocks under 4 KiB; for those the 1 KiB from the superblock on is used.
        bs = self.block_size
        n = bs - SUPER_OFFSET if bs > SUPER_OFFSET else bs
        if SUPER_OFFSET + n > self.dev_bytes:
            raise FormatError("erofs: %s: superblock block truncated" % name)
        buf = bytearray(dev.pread(SUPER_OFFSET, n))
        want = struct.unpack_from("<I", buf, 4)[0]
        buf[4:8] = b"\0\0\0\0"
        got = crc32c(buf)
        if got != want:
            raise FormatError("erofs: %s: invalid superblock checksum 0x%08x, 0x%08x expected"
                              % (name, got, want), EBADMSG)
