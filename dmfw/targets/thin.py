"""dm-thin-pool and dm-thin, read side (dm-thin.c, dm-thin-metadata.c and
persistent-data's btrees). The pool checks the metadata superblock; a
thin device maps each virtual block through the pool's two-level btree
(device id -> block -> data block) and reads unmapped blocks as zeros.
Firmware does not allocate: writes to a thin device are refused, so the
metadata is never changed behind the kernel's back.

  thin-pool <metadata dev> <data dev> <data block size> <low water mark>
            <#features> [skip_block_zeroing] [ignore_discard]
            [no_discard_passdown] [read_only] [error_if_no_space]
  thin <pool dev> <dev id> [<external origin dev>]

Status (thin-pool): <transaction id> <used>/<total metadata blocks>
        <used>/<total data blocks> <held metadata root|-> ro
        discard_passdown|no_discard_passdown queue|error_if_no_space -
        <metadata low water mark>
Status (thin): <mapped sectors> <highest mapped sector|->
    as pool_status and thin_status (STATUSTYPE_INFO).
"""

import struct

from dmfw.target import Target, TargetError, parse_u64
from dmfw.errors import DMError, IOFailure, EROFS
from dmfw.blockdev import SECTOR_SHIFT
from dmfw.crc32 import crc32c_raw

THIN_MAGIC = 27022010
META_BLOCK = 4096
SUPERBLOCK_CSUM_XOR = 160774
BTREE_CSUM_XOR = 121107
INTERNAL_NODE = 1
LEAF_NODE = 2
_FEATURES = ("skip_block_zeroing", "ignore_discard", "no_discard_passdown",
             "read_only", "error_if_no_space")

class Metadata:
    """A thin-pool metadata device: superblock and btree lookups."""

    def __init__(self, dev):
        self.dev = dev
        self.nodes = {}
        sb = self.block(0)
        if struct.unpack_from("<Q", sb, 32)[0] != THIN_MAGIC:
            raise TargetError("Error opening metadata block manager: "
                              "superblock has the wrong magic")
        if crc32c_raw(memoryview(sb)[4:]) ^ SUPERBLOCK_CSUM_XOR != \
                struct.unpack_from("<I", sb, 0)[0]:
            raise TargetError("Error opening metadata block manager: "
                              "superblock checksum failed")
        if struct.unpack_from("<Q", sb, 8)[0] != 0:
            raise TargetError("superblock check failed: blocknr wrong")
        self.version = struct.unpack_from("<I", sb, 40)[0]
        if self.version not in (1, 2):
            raise TargetError("unsupported thin metadata version %d" % self.version)
        if struct.unpack_from("<I", sb, 360)[0] & ~1:
            raise TargetError("could not access metadata due to unsupported "
                              "optional features")
        self.time = struct.unpack_from("<I", sb, 44)[0]
        self.trans_id = struct.unpack_from("<Q", sb, 48)[0]
        self.held_root = struct.unpack_from("<Q", sb, 56)[0]
        self.data_sm = struct.unpack_from("<QQ", sb, 64)
        self.meta_sm = struct.unpack_from("<QQ", sb, 192)
        self.mapping_root = struct.unpack_from("<Q", sb, 320)[0]
        self.details_root = struct.unpack_from("<Q", sb, 328)[0]
        self.data_block_size = struct.unpack_from("<I", sb, 336)[0]
        self.nr_blocks = struct.unpack_from("<Q", sb, 344)[0]

    def meta_used(self):
        """Metadata blocks in use as the pool's status counts them: the
        space map's allocations plus the reserve dm-thin keeps back
        (__set_metadata_reserve: a tenth, at most 4096 blocks)."""
        total = self.meta_sm[0]
        used = self.meta_sm[1] + min(4096, total // 10)
        return used if used < total else total

    def block(self, nr):
        try:
            return self.dev.pread(nr * META_BLOCK, META_BLOCK)
        except DMError:
            raise IOFailure("thin metadata: cannot read block %d" % nr)

    def node(self, nr):
        n = self.nodes.get(nr)
        if n is not None:
            return n
        b = self.block(nr)
        csum, flags, blocknr, count, maxe, vsize = struct.unpack_from("<IIQIII", b, 0)
        if crc32c_raw(memoryview(b)[4:]) ^ BTREE_CSUM_XOR != csum:
            raise IOFailure("thin metadata: btree node %d checksum failed" % nr)
        if blocknr != nr or count > maxe or 32 + maxe * (8 + vsize) > META_BLOCK or \
                not flags & (INTERNAL_NODE | LEAF_NODE):
            raise IOFailure("thin metadata: btree node %d is corrupt" % nr)
        keys = struct.unpack_from("<%dQ" % count, b, 32)
        voff = 32 + 8 * maxe
        values = [bytes(b[voff + i * vsize:voff + (i + 1) * vsize]) for i in range(count)]
        n = (flags & INTERNAL_NODE, keys, values)
        if len(self.nodes) > 4096:
            self.nodes = {}
        self.nodes[nr] = n
        return n

    def lookup(self, root, key):
        """The value bytes stored under `key`, or None."""
        nr = root
        for _ in range(64):
            internal, keys, values = self.node(nr)
            i = _lower_bound(keys, key)
            if internal:
                if i < 0:
                    return None
                nr = struct.unpack("<Q", values[i])[0]
                continue
            if i >= 0 and keys[i] == key:
                return values[i]
            return None
        raise IOFailure("thin metadata: btree too deep")

    def highest(self, root):
        nr = root
        for _ in range(64):
            internal, keys, values = self.node(nr)
            if not keys:
                return None
            if internal:
                nr = struct.unpack("<Q", values[-1])[0]
                continue
            return keys[-1]
        raise IOFailure("thin metadata: btree too deep")


def _lower_bound(keys, key):
    """Index of the last key <= key, or -1."""
    lo = 0
    hi = len(keys)
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] <= key:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


def _u(s, what):
    try:
        return parse_u64(s, what)
    except TargetError:
        raise TargetError("Invalid %s" % what)


class ThinPoolTarget(Target):
    name = "thin-pool"
    version = (1, 23, 0)

    def __init__(self, ctx, begin, length, argv):
        Target.__init__(self, ctx, begin, length, argv)
        if len(argv) < 4:
            raise TargetError("Invalid argument count")
        self.meta_dev = ctx.get_device(argv[0])
        self.data_dev = ctx.get_device(argv[1])
        self.block_size = _u(argv[2], "block size")
        if self.block_size < 128 or self.block_size > 2097152 or self.block_size & 127:
            raise TargetError("Invalid block size")
        self.low_water = _u(argv[3], "low water mark")
        self.features = []
        if len(argv) > 4:
            nf = _u(argv[4], "number of features")
            self.features = argv[5:]
            if len(self.features) != nf:
                raise TargetError("Not enough arguments for pool features")
            for f in self.features:
                if f not in _FEATURES:
                    raise TargetError("Unrecognised pool feature requested")
        elif len(argv) != 4:
            raise TargetError("Invalid argument count")
        self.pmd = Metadata(self.meta_dev)     # pool metadata, as dm-thin's pmd
        if self.pmd.data_block_size != self.block_size:
            raise TargetError("Pool data block size mismatch: the metadata says %d"
                              % self.pmd.data_block_size)

    def read(self, sector, mv):
        self.data_dev.readblocks(sector, mv)

    def write(self, sector, mv):
        raise DMError(EROFS, "thin-pool: writes are not supported by dmfw")

    def params(self, showkeys=False):
        # pool_status(): every field, the last feature too, ends in a space.
        s = "%s %s %d %d %d " % (self.meta_dev.devno(), self.data_dev.devno(),
                                 self.block_size, self.low_water, len(self.features))
        return s + "".join([f + " " for f in _FEATURES if f in self.features])

    def status(self):
        pmd = self.pmd
        # calc_metadata_threshold(): a quarter of the metadata, at most 4 MiB.
        quarter = (self.meta_dev.nr_sectors >> 3) // 4
        return "%d %d/%d %d/%d %s ro %s %s_if_no_space - %d " % (
            pmd.trans_id, pmd.meta_used(), pmd.meta_sm[0], pmd.data_sm[1], pmd.data_sm[0],
            str(pmd.held_root) if pmd.held_root else "-",
            "no_discard_passdown" if "no_discard_passdown" in self.features
            else "discard_passdown",
            "error" if "error_if_no_space" in self.features else "queue",
            quarter if quarter < 1024 else 1024)

    def areas(self):
        return [(self.meta_dev, 0, self.meta_dev.nr_sectors),
                (self.data_dev, 0, self.length)]


class ThinTarget(Target):
    name = "thin"
    version = (1, 23, 0)

    def __init__(self, ctx, begin, length, argv):
        Target.__init__(self, ctx, begin, length, argv)
        if len(argv) not in (2, 3):
            raise TargetError("Invalid argument count")
        self.pool_dev = ctx.get_device(argv[0])
        self.dev_id = _u(argv[1], "device id")
        if self.dev_id >= 1 << 24:
            raise TargetError("Invalid device id")
        self.origin = ctx.get_device(argv[2]) if len(argv) == 3 else None
        live = getattr(self.pool_dev, "live", None)
        pools = [t for t in (live.targets if live else []) if isinstance(t, ThinPoolTarget)]
        if len(pools) != 1:
            raise TargetError("Couldn't get pool mapped device")
        self.pool = pools[0]
        pmd = self.pool.pmd
        self.root = None
        v = pmd.lookup(pmd.mapping_root, self.dev_id)
        if v is None or pmd.lookup(pmd.details_root, self.dev_id) is None:
            raise TargetError("Couldn't open thin internal device")
        self.root = struct.unpack("<Q", v)[0]
        self.bs = self.pool.block_size

    def read(self, sector, mv):
        bs = self.bs
        pmd = self.pool.pmd
        n = len(mv) >> SECTOR_SHIFT
        done = 0
        while done < n:
            s = sector + done
            blk = s // bs
            off = s - blk * bs
            cnt = bs - off
            if cnt > n - done:
                cnt = n - done
            part = mv[done << SECTOR_SHIFT:(done + cnt) << SECTOR_SHIFT]
            v = pmd.lookup(self.root, blk)
            if v is not None:
                data = struct.unpack("<Q", v)[0] >> 24
                self.pool.data_dev.readblocks(data * bs + off, part)
            elif self.origin is not None and s < self.origin.nr_sectors:
                self.origin.readblocks(s, part)
            else:
                for i in range(len(part)):
                    part[i] = 0
            done += cnt

    def write(self, sector, mv):
        raise DMError(EROFS, "thin: writes are not supported by dmfw (read-only thin "
                      "provisioning)")

    def params(self, showkeys=False):
        s = "%s %d" % (self.pool_dev.devno(), self.dev_id)
        if self.origin is not None:
            s += " " + self.origin.devno()
        return s

    def status(self):
        pmd = self.pool.pmd
        d = pmd.lookup(pmd.details_root, self.dev_id)
        mapped = struct.unpack_from("<Q", d, 0)[0] if d else 0
        hi = pmd.highest(self.root)
        if hi is None:
            return "%d -" % (mapped * self.bs)
        return "%d %d" % (mapped * self.bs, (hi + 1) * self.bs - 1)


TARGETS = [ThinPoolTarget, ThinTarget]
