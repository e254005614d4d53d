# The squashfs 4.0 superblock (96 bytes, little-endian, at byte 0) and the
# compressor options block that may follow it, checked the way Linux's
# squashfs_fill_super and squashfs-tools' *_extract_options check them.
# Layout of a squashfs-tools image, start to end (the kernel relies on it too):
#   superblock, [compressor options], data and fragment blocks, inode table,
#   directory table, fragment table, export table, id table, xattr tables.

import struct

from dmfw.errors import FormatError, EOPNOTSUPP

MAGIC = 0x73717368          # "hsqs"
MAGIC_SWAPPED = 0x68737173  # big-endian images (squashfs 3.x and older)
SB_SIZE = 96
INVALID = 0xFFFFFFFFFFFFFFFF
METADATA_SIZE = 8192
MAX_BLOCK = 1 << 20

# Superblock flags (squashfs_fs.h).
NOI = 0x1
NOD = 0x2
NOF = 0x8
NO_FRAG = 0x10
ALWAYS_FRAG = 0x20
DUPLICATES = 0x40
EXPORTABLE = 0x80
NOX = 0x100
NO_XATTR = 0x200
COMP_OPT = 0x400
NOID = 0x800

# squashfs compressor id -> (squashfs-tools name, dmfw.compress decoder name)
COMPRESSORS = {
    1: ("gzip", "zlib"),
    2: ("lzma", "lzma"),
    3: ("lzo", "lzo"),
    4: ("xz", "xz"),
    5: ("lz4", "lz4"),
    6: ("zstd", "zstd"),
}

_SB = "<IIIIIHHHHHHQQQQQQQQ"


def err(msg, errno=None):
    if errno is None:
        return FormatError("squashfs: " + msg)
    return FormatError("squashfs: " + msg, errno)


class Super:
    """The parsed superblock; offsets are absolute bytes on the device."""

    def __init__(self, raw, dev_bytes):
        if len(raw) < SB_SIZE:
            raise err("device too small for a superblock")
        f = struct.unpack(_SB, raw[:SB_SIZE])
        if f[0] != MAGIC:
            if f[0] == MAGIC_SWAPPED:
                raise err("big-endian image (squashfs 3.x or older) not supported",
                          EOPNOTSUPP)
            raise err("bad magic 0x%08x" % f[0])
        (_, self.inodes, self.mkfs_time, self.block_size, self.fragments, self.comp_id,
         self.block_log, self.flags, self.no_ids, major, minor, self.root_inode,
         self.bytes_used, self.id_table_start, self.xattr_id_table_start,
         self.inode_table_start, self.directory_table_start, self.fragment_table_start,
         self.lookup_table_start) = f
        if major != 4 or minor != 0:
            raise err("version %d.%d not supported (only 4.0)" % (major, minor), EOPNOTSUPP)
        c = COMPRESSORS.get(self.comp_id)
        if c is None:
            raise err("unknown compressor id %d" % self.comp_id, EOPNOTSUPP)
        self.comp_name, self.decoder = c
        bs = self.block_size
        if bs < 4096 or bs > MAX_BLOCK or bs & (bs - 1):
            raise err("bad block size %d (4 KiB..1 MiB, a power of 2)" % bs)
        if (1 << self.block_log) != bs:
            raise err("block_log %d does not match block size %d" % (self.block_log, bs))
        if self.inodes == 0:
            raise err("no inodes")
        if self.no_ids == 0:
            raise err("empty id table")
        if self.bytes_used > dev_bytes:
            raise err("file system size %d is past the end of the device (%d bytes)"
                      % (self.bytes_used, dev_bytes))
        if self.bytes_used < SB_SIZE:
            raise err("bytes_used %d too small" % self.bytes_used)
        if (self.root_inode & 0xFFFF) >= METADATA_SIZE:
            raise err("bad root inode reference 0x%x" % self.root_inode)
        self.data_start = SB_SIZE
        if not (SB_SIZE <= self.inode_table_start < self.directory_table_start
                < self.bytes_used):
            raise err("inode table %d / directory table %d out of order"
                      % (self.inode_table_start, self.directory_table_start))
        if self.id_table_start >= self.bytes_used:
            raise err("id table start %d past the end" % self.id_table_start)
        self.options = {}

    def parse_options(self, meta_block):
        """Check the compressor options block (COMP_OPT flag) with
        `meta_block(pos, lo, hi) -> (data, next)`; sets data_start past it."""
        if not (self.flags & COMP_OPT):
            return
        data, nxt = meta_block(SB_SIZE, SB_SIZE, self.inode_table_start, "compressor options")
        self.data_start = nxt
        self.options = check_options(self.comp_name, bytes(data), self.block_size)


GZIP_STRATEGIES = (("default", 1), ("filtered", 2), ("huffman", 4), ("rle", 8), ("fixed", 16))
XZ_FILTERS = (("x86", 1), ("powerpc", 2), ("ia64", 4), ("arm", 8), ("armthumb", 16),
              ("sparc", 32))
LZO_ALGORITHMS = ("lzo1x_1", "lzo1x_1_11", "lzo1x_1_12", "lzo1x_1_15", "lzo1x_999")


def _flags(value, table):
    names = []
    for name, bit in table:
        if value & bit:
            names.append(name)
            value &= ~bit
    return names, value


def check_options(comp, d, block_size):
    """The options squashfs-tools wrote for `comp`, as a dict; a structure this
    reader does not know (wrong size, unknown version or flags) is refused."""
    def bad(why):
        return err("%s compressor options: %s" % (comp, why), EOPNOTSUPP)
    if comp == "lzma":
        raise bad("lzma has no options")
    want = 4 if comp == "zstd" else 8
    if len(d) != want:
        raise bad("%d bytes, expected %d" % (len(d), want))
    if comp == "gzip":
        level, window, strategy = struct.unpack("<iHH", d)
        if level < 1 or level > 9:
            raise bad("compression level %d" % level)
        if window < 8 or window > 15:
            raise bad("window size %d" % window)
        names, rest = _flags(strategy, GZIP_STRATEGIES)
        if rest:
            raise bad("unknown strategy bits 0x%x" % rest)
        return {"compression-level": level, "window-size": window, "strategies": names}
    if comp == "xz":
        dict_size, filters = struct.unpack("<II", d)
        # squashfs-tools and Linux accept 2^n and 2^n + 2^(n+1) only.
        low = dict_size & -dict_size
        if dict_size == 0 or (dict_size != low and dict_size != 3 * low):
            raise bad("dictionary size %d" % dict_size)
        if dict_size < 8192:
            raise bad("dictionary size %d below 8192" % dict_size)
        names, rest = _flags(filters, XZ_FILTERS)
        if rest:
            raise bad("unknown filter bits 0x%x" % rest)
        return {"dict-size": dict_size, "filters": names}
    if comp == "lz4":
        version, flags = struct.unpack("<II", d)
        if version != 1:
            raise bad("version %d (only 1, LZ4 legacy)" % version)
        if flags & ~1:
            raise bad("unknown flags 0x%x" % flags)
        return {"version": version, "hc": bool(flags & 1)}
    if comp == "lzo":
        algorithm, level = struct.unpack("<II", d)
        if algorithm >= len(LZO_ALGORITHMS):
            raise bad("algorithm %d" % algorithm)
        if algorithm == 4:
            if level < 1 or level > 9:
                raise bad("compression level %d" % level)
        elif level != 0:
            raise bad("compression level %d for %s" % (level, LZO_ALGORITHMS[algorithm]))
        return {"algorithm": LZO_ALGORITHMS[algorithm], "compression-level": level}
    # zstd
    level = struct.unpack("<I", d)[0]
    if level < 1 or level > 22:
        raise bad("compression level %d" % level)
    return {"compression-level": level}
