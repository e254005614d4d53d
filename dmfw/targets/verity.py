"""dm-verity, as Linux 6.12's drivers/md/dm-verity-target.c (+ -fec.c and
-verify-sig.c): a read-only target that returns a data block only after
its hash has been checked up the tree to the root digest from the table.

Memory: verified hash blocks are kept in a direct-mapped cache (block hb in
slot hb % slots) of at most CACHE_BYTES (1 MiB; 256 blocks of 4 KiB), on
MicroPython at most an eighth of its heap, per target, never fewer than the
tree's height plus one blocks nor more than the tree. Its memory is one slab,
made when the first block is cached and halved until it fits: on a heap that
does not compact, blocks of their own and a dict rehashed as it fills spread
over it until no large block is left.
check_at_most_once costs one bit per data block. Nothing else grows with the
device size.

Table:  <version> <data dev> <hash dev> <data block size> <hash block size>
        <#data blocks> <hash start block> <algorithm> <root digest> <salt|->
        [<#opt args> <opt>...]
    version 0 (Chrome OS) or 1; block sizes powers of two, data blocks at
    most the page size; hash start in hash blocks. Optional: one of
    ignore_corruption | restart_on_corruption | panic_on_corruption, one of
    restart_on_error | panic_on_error, ignore_zero_blocks,
    check_at_most_once, try_verify_in_tasklet, use_fec_from_device <dev>
    fec_roots <2..24> fec_blocks <n> fec_start <block>,
    root_hash_sig_key_desc <key description in the firmware keyring>.
Status: V (verified so far) or C (a corruption was detected), as
    verity_status; tools read the rest from the table line.
"""

import binascii

from dmfw.errors import IOFailure, DMError, ENOENT, ENOKEY
from dmfw.target import Target, TargetError
from dmfw.numbers import parse_uint
from dmfw.verity.tree import Geometry
from dmfw.crypto import hashes

MODE_EIO = 0
MODE_LOGGING = 1
MODE_RESTART = 2
MODE_PANIC = 3

OPT_MODES = {"ignore_corruption": MODE_LOGGING,
             "restart_on_corruption": MODE_RESTART,
             "panic_on_corruption": MODE_PANIC}
OPT_ERROR_MODES = {"restart_on_error": MODE_RESTART,
                   "panic_on_error": MODE_PANIC}
MODE_NAMES = {MODE_LOGGING: "ignore_corruption",
              MODE_RESTART: "restart_on_corruption",
              MODE_PANIC: "panic_on_corruption"}
ERROR_MODE_NAMES = {MODE_RESTART: "restart_on_error",
                    MODE_PANIC: "panic_on_error"}
FEC_OPTS = ("use_fec_from_device", "fec_blocks", "fec_start", "fec_roots")
SIG_OPT = "root_hash_sig_key_desc"
SIG_ERR = "DM Verity Sig Verification "
# 5 single-word options + the FEC group (8) + the signature key (2).
OPTS_MAX = 5 + 8 + 2
MAX_CORRUPTED_ERRS = 100
INT_MAX = 0x7fffffff

BLOCK_DATA = 0
BLOCK_METADATA = 1


def _uint(s, bits=32):
    # sscanf("%u%c") / ("%llu%c"): decimal digits and nothing after.
    return parse_uint(s, bits)


def _is_pow2(n):
    return n and not (n & (n - 1))


def _log2(n):
    b = 0
    while (1 << (b + 1)) <= n:
        b += 1
    return b


def _cache_bytes(limit):
    # On MicroPython, an eighth of the heap at most (never below 16 KiB).
    import gc
    if hasattr(gc, "mem_free"):
        heap = gc.mem_free() + gc.mem_alloc()
        if heap // 8 < limit:
            return heap // 8 if heap // 8 > 16384 else 16384
    return limit


class VerityTarget(Target):
    name = "verity"
    # What Linux 6.12 registers (dmsetup targets in the reference guest).
    version = (1, 10, 0)
    needs_readonly = True
    singleton = True
    immutable = True
    # The kernel limits data blocks to PAGE_SIZE: 4096 on x86-64 (the
    # reference guest); a firmware on 64 KiB pages may raise it to 65536.
    page_size = 4096
    CACHE_BYTES = 1 << 20

    def __init__(self, ctx, begin, length, argv):
        # verity_ctr(): the table's words first, then what they set up.
        Target.__init__(self, ctx, begin, length, argv)
        self._defaults()
        root_hex = self._parse_args(ctx, length, list(argv))
        self._setup(ctx, root_hex)

    def _defaults(self):
        self.mode = MODE_EIO
        self.error_mode = MODE_EIO
        self.ignore_zero_blocks = False
        self.zero_digest = None         # digest of a zero block, with ignore_zero_blocks
        self.validated = None           # check_at_most_once: one bit per data block
        self.use_tasklet = False
        self.fec_dev = None
        self.fec_roots = 0
        self.fec_blocks = 0
        self.fec_start = 0
        self.fec = None
        self.sig_key_desc = None
        self.sig = None
        self.hash_failed = False
        self.corrupted_errs = 0
        self.fec_corrected = 0
        self.fec_level = 0

    def _parse_args(self, ctx, length, argv):
        """The ten positional arguments and the optional ones, with the
        kernel's messages; returns the root digest as the table spelled it."""
        if len(argv) < 10:
            raise TargetError("Not enough arguments")
        if len(argv) > 10:
            # Linux parses the "modifier" options first; only the feature
            # count can fail in that pass.
            self._feature_count(argv[10:])
        v = _uint(argv[0])
        if v is None or v > 1:
            raise TargetError("Invalid version")
        self.hash_version = v
        try:
            self.data_dev = ctx.get_device(argv[1])
        except DMError as e:
            raise TargetError("Data device lookup failed", e.errno)
        try:
            self.hash_dev = ctx.get_device(argv[2])
        except DMError as e:
            raise TargetError("Hash device lookup failed", e.errno)
        dbs = _uint(argv[3])
        if dbs is None or not _is_pow2(dbs) or \
                dbs < self.data_dev.logical_block_size or dbs > self.page_size:
            raise TargetError("Invalid data device block size")
        hbs = _uint(argv[4])
        if hbs is None or not _is_pow2(hbs) or \
                hbs < self.hash_dev.logical_block_size or hbs > INT_MAX:
            raise TargetError("Invalid hash device block size")
        self.data_bs = dbs
        self.hash_bs = hbs
        dshift = _log2(dbs) - 9
        nblocks = _uint(argv[5], 64)
        if nblocks is None or ((nblocks << dshift) >> 64):
            raise TargetError("Invalid data blocks")
        if length > (nblocks << dshift):
            raise TargetError("Data device is too small")
        hstart = _uint(argv[6], 64)
        if hstart is None or ((hstart << (_log2(hbs) - 9)) >> 64):
            raise TargetError("Invalid hash start")
        alg = argv[7]
        if alg not in hashes.DIGEST_SIZE or not hashes.supported(alg):
            raise TargetError("Cannot initialize hash function", ENOENT)
        ds = hashes.DIGEST_SIZE[alg]
        if hbs < ds * 2:
            raise TargetError("Digest size too big")
        self.alg = alg
        root_hex = argv[8]
        if len(root_hex) != ds * 2:
            raise TargetError("Invalid root digest")
        try:
            self.root = binascii.unhexlify(root_hex)
        except (ValueError, TypeError):
            raise TargetError("Invalid root digest")
        salt = b""
        if argv[9] != "-":
            if len(argv[9]) & 1:
                raise TargetError("Invalid salt")
            try:
                salt = binascii.unhexlify(argv[9])
            except (ValueError, TypeError):
                raise TargetError("Invalid salt")
        self.salt = salt
        self.data_blocks = nblocks
        self.hash_start = hstart
        if len(argv) > 10:
            self._parse_opts(ctx, argv[10:])
        return root_hex

    def _setup(self, ctx, root_hex):
        """Signature, tree geometry, FEC and the hash-block cache."""
        # Checked against the string exactly as the table spelled it.
        self._verify_signature(ctx, root_hex)
        try:
            self.geo = Geometry(self.hash_version, self.data_bs, self.hash_bs,
                                self.data_blocks, self.hash_start, self.alg, self.salt)
        except DMError as e:
            raise TargetError(e.msg, e.errno)
        if (self.hash_dev.size_bytes() // self.hash_bs) < self.geo.hash_end:
            raise TargetError("Hash device is too small")
        if self.ignore_zero_blocks:
            self.zero_digest = self.geo.zero_digest()
        self._fec_ctr()
        n = _cache_bytes(self.CACHE_BYTES) // self.hash_bs
        if n < self.geo.levels + 1:
            n = self.geo.levels + 1
        if n > self.geo.hash_blocks():
            n = self.geo.hash_blocks() or 1
        self.cache_slots = n
        self.slot_hb = [None] * n       # which hash block each slot of the slab holds
        self.slab = None

    # -- construction helpers
    def _feature_count(self, rest):
        n = _uint(rest[0])
        if n is None or n > OPTS_MAX or len(rest) - 1 < n:
            raise TargetError("Invalid number of feature args")
        return n

    def _parse_opts(self, ctx, rest):
        argc = self._feature_count(rest)
        i = 1
        while argc:
            name = rest[i]
            i += 1
            argc -= 1
            low = name.lower()
            if low in OPT_MODES:
                if self.mode != MODE_EIO:
                    raise TargetError("Conflicting error handling parameters")
                self.mode = OPT_MODES[low]
            elif low in OPT_ERROR_MODES:
                if self.error_mode != MODE_EIO:
                    raise TargetError("Conflicting error handling parameters")
                self.error_mode = OPT_ERROR_MODES[low]
            elif low == "ignore_zero_blocks":
                self.ignore_zero_blocks = True  # its digest needs the geometry
            elif low == "check_at_most_once":
                if self.data_blocks > INT_MAX:
                    raise TargetError("device too large to use check_at_most_once")
                self.validated = bytearray((self.data_blocks + 7) >> 3)
            elif low == "try_verify_in_tasklet":
                self.use_tasklet = True
            elif low in FEC_OPTS:
                if not argc:
                    raise TargetError("FEC feature arguments require a value")
                val = rest[i]
                i += 1
                argc -= 1
                self._fec_opt(ctx, low, val)
            elif low == SIG_OPT:
                if self.sig_key_desc is not None:
                    raise TargetError(SIG_ERR + "root_hash_sig_key_desc already specified")
                if not argc:
                    raise TargetError(SIG_ERR + "Signature key not specified")
                desc = rest[i]
                i += 1
                argc -= 1
                from dmfw.keyring import get_keyring
                sig = get_keyring(ctx.mapper).user_key(desc)
                if sig is None:
                    raise TargetError(SIG_ERR + "Invalid key specified")
                self.sig_key_desc = desc
                self.sig = sig
            else:
                raise TargetError("Unrecognized verity feature request")

    def _fec_opt(self, ctx, name, val):
        shift = _log2(self.data_bs) - 9
        if name == "use_fec_from_device":
            try:
                self.fec_dev = ctx.get_device(val)
            except DMError as e:
                raise TargetError("FEC device lookup failed", e.errno)
        elif name == "fec_roots":
            n = _uint(val, 8)
            if n is None or not (2 <= n <= 24):
                raise TargetError("Invalid fec_roots")
            self.fec_roots = n
        else:
            n = _uint(val, 64)
            if n is None or ((n << shift) >> 64):
                raise TargetError("Invalid " + name)
            if name == "fec_blocks":
                self.fec_blocks = n
            else:
                self.fec_start = n

    def _verify_signature(self, ctx, root_hex):
        from dmfw.keyring import get_keyring
        kr = get_keyring(ctx.mapper)
        if self.sig is None:
            if kr.require_signatures:
                raise TargetError("Root hash verification failed", ENOKEY)
            return
        try:
            kr.verify_detached(root_hex.encode(), self.sig)
        except DMError as e:
            raise TargetError("Root hash verification failed: %s" % e.msg, e.errno)

    def _fec_ctr(self):
        if self.fec_dev is None:
            return
        from dmfw.verity import fec
        geo = self.geo
        if self.data_bs != self.hash_bs:
            raise TargetError("Block sizes must match to use FEC")
        if not self.fec_roots:
            raise TargetError("Missing fec_roots")
        if not self.fec_blocks:
            raise TargetError("Missing fec_blocks")
        rsn = fec.RSM - self.fec_roots
        rounds = (self.fec_blocks + rsn - 1) // rsn
        if self.fec_blocks < self.data_blocks + geo.hash_blocks() or not rounds:
            raise TargetError("Invalid fec_blocks")
        bs = self.data_bs
        if self.hash_dev.size_bytes() // bs < self.fec_blocks - self.data_blocks:
            raise TargetError("Hash device is too small for fec_blocks")
        # The parity is rounds * roots blocks from fec_start on.
        if self.fec_dev.size_bytes() // bs < self.fec_start + rounds * self.fec_roots:
            raise TargetError("FEC device is too small")
        if self.data_dev.size_bytes() // bs < self.data_blocks:
            raise TargetError("Data device is too small")
        self.fec = fec.Layout(bs, self.fec_roots, self.fec_blocks,
                              self.data_blocks, self.hash_start, self.fec_start)
        self.fec_src = fec.Source(self.fec, self.data_dev, self.hash_dev)

    # -- reporting
    def params(self, showkeys=False):
        out = "%d %s %s %d %d %d %d %s %s %s" % (
            self.hash_version, self.data_dev.devno(), self.hash_dev.devno(),
            self.data_bs, self.hash_bs, self.data_blocks, self.hash_start,
            self.alg, binascii.hexlify(self.root).decode(),
            binascii.hexlify(self.salt).decode() if self.salt else "-")
        opts = []
        if self.mode != MODE_EIO:
            opts.append(MODE_NAMES[self.mode])
        if self.error_mode != MODE_EIO:
            opts.append(ERROR_MODE_NAMES[self.error_mode])
        if self.ignore_zero_blocks:
            opts.append("ignore_zero_blocks")
        if self.validated is not None:
            opts.append("check_at_most_once")
        if self.use_tasklet:
            opts.append("try_verify_in_tasklet")
        if self.fec is not None:
            opts.append("use_fec_from_device %s fec_blocks %d fec_start %d fec_roots %d"
                        % (self.fec_dev.devno(), self.fec_blocks,
                           self.fec_start, self.fec_roots))
        if self.sig_key_desc is not None:
            opts.append("%s %s" % (SIG_OPT, self.sig_key_desc))
        if opts:
            n = len(opts) + (7 if self.fec is not None else 0) + \
                (1 if self.sig_key_desc is not None else 0)
            out += " %d %s" % (n, " ".join(opts))
        return out

    def status(self):
        return "C" if self.hash_failed else "V"

    def areas(self):
        return [(self.data_dev, 0, self.length)]

    def logical_block_size(self):
        # verity_io_hints(): never below the data block size.
        return max(Target.logical_block_size(self), self.data_bs)

    def shrink(self):
        # Verified hash blocks are read and checked again when next needed.
        self.slab = None
        self.slot_hb = [None] * self.cache_slots

    def dtr(self):
        self.slab = None

    # -- errors
    def _handle_err(self, kind, block):
        """verity_handle_err: True when the I/O must fail."""
        self.hash_failed = True
        if self.corrupted_errs < MAX_CORRUPTED_ERRS:
            self.corrupted_errs += 1
        if self.mode == MODE_LOGGING:
            return False
        if self.mode == MODE_RESTART:
            self.ctx.mapper.platform.restart("dm-verity device corrupted")
        elif self.mode == MODE_PANIC:
            self.ctx.mapper.platform.panic("dm-verity device corrupted")
        return True

    def _io_error(self, e):
        # restart_on_error / panic_on_error: I/O errors that are not hash
        # mismatches.
        if self.error_mode == MODE_PANIC:
            self.ctx.mapper.platform.panic("dm-verity device has I/O error")
        elif self.error_mode == MODE_RESTART:
            self.ctx.mapper.platform.restart("dm-verity device has I/O error")
        raise e

    def _corrupt(self, kind, block):
        return IOFailure("%s: %s block %d is corrupted" % (
            self.data_dev.name, "data" if kind == BLOCK_DATA else "metadata",
            block))

    # -- the hash tree
    def _cached(self, hb):
        """Where verified hash block hb starts in the slab, or -1."""
        i = hb % len(self.slot_hb)
        return i * self.hash_bs if self.slot_hb[i] == hb else -1

    def _cache_put(self, hb, blk):
        if self.slab is None and not self._make_slab():
            return
        i = hb % len(self.slot_hb)
        o = i * self.hash_bs
        self.slab[o:o + self.hash_bs] = blk
        self.slot_hb[i] = hb

    def _make_slab(self):
        least = self.geo.levels + 1
        n = self.cache_slots
        while True:
            try:
                self.slab = bytearray(n * self.hash_bs)
                break
            except MemoryError:
                if n <= least:
                    return False        # uncached: every read checks up to the root
                n = n // 2 if n // 2 > least else least
        self.slot_hb = [None] * n
        return True

    def _read_hash_block(self, hb):
        buf = bytearray(self.hash_bs)
        off = hb * self.hash_bs
        self.hash_dev.readblocks(off >> 9, buf, off & 511)
        return bytes(buf)

    def want_digest(self, block):
        """The verified expected digest of data block `block`."""
        geo = self.geo
        ds = geo.digest_size
        if not geo.levels:
            return self.root
        hb, off = geo.position(block, 0)
        o = self._cached(hb)
        if o >= 0:
            return bytes(self.slab[o + off:o + off + ds])
        want = self.root
        for lvl in range(geo.levels - 1, -1, -1):
            hb, off = geo.position(block, lvl)
            o = self._cached(hb)
            if o >= 0:
                # A copy: putting a lower level in the slab may overwrite this slot.
                want = bytes(self.slab[o + off:o + off + ds])
                continue
            try:
                blk = self._read_hash_block(hb)
            except IOFailure as e:
                blk = self._fec_metadata(hb, want)
                if blk is None:
                    self._io_error(e)
                self._cache_put(hb, blk)
                want = blk[off:off + ds]
                continue
            if geo.digest(blk) == want:
                self._cache_put(hb, blk)
            else:
                fixed = self._fec_metadata(hb, want)
                if fixed is not None:
                    blk = fixed
                    self._cache_put(hb, blk)
                elif self._handle_err(BLOCK_METADATA, hb):
                    raise self._corrupt(BLOCK_METADATA, hb)
            want = blk[off:off + ds]
        return want

    # -- FEC
    def _fec_correct(self, v, want):
        if self.fec is None or self.fec_level >= 4:
            return None
        from dmfw.verity import fec
        geo = self.geo
        self.fec_level += 1
        try:
            def erasure(b, data):
                if b >= self.data_blocks:
                    return False
                try:
                    w = self.want_digest(b)
                except DMError:
                    return False
                return geo.digest(data) != w
            zd = self.zero_digest

            def is_zero(b):
                if zd is None or b >= self.data_blocks:
                    return False
                try:
                    return self.want_digest(b) == zd
                except DMError:
                    return False
            out = fec.correct(self.fec, self.fec_src, self.fec_dev, v,
                              lambda blk: geo.digest(blk) == want, erasure,
                              is_zero)
        except DMError:
            out = None
        finally:
            self.fec_level -= 1
        if out is not None:
            self.fec_corrected += 1
        return out

    def _fec_metadata(self, hb, want):
        return self._fec_correct(hb - self.hash_start + self.data_blocks, want)

    # -- I/O
    def read(self, sector, mv):
        bs = self.data_bs
        spb = bs >> 9
        n = len(mv) >> 9
        first = sector // spb
        last = (sector + n - 1) // spb
        if last >= self.data_blocks:
            raise IOFailure("%s: io out of range" % self.data_dev.name)
        aligned = not (sector % spb) and not (n % spb)
        if aligned:
            buf = mv
        else:
            # The kernel refuses unaligned I/O; a firmware reader (FAT wants
            # 512-byte sectors) gets whole verified blocks copied out.
            buf = memoryview(bytearray((last - first + 1) * bs))
        try:
            self.data_dev.readblocks(first * spb, buf)
            ioerr = None
        except IOFailure as e:
            if self.fec is None:
                self._io_error(e)
            ioerr = e
        if ioerr is None and self.geo.levels:
            self._verify_run(first, last - first + 1, buf)
        else:
            for i in range(last - first + 1):
                self._verify_block(first + i, buf[i * bs:(i + 1) * bs], ioerr)
        if not aligned:
            skip = (sector - first * spb) << 9
            mv[:] = buf[skip:skip + len(mv)]

    def _verify_run(self, first, count, buf):
        """The common case, inlined (a firmware reads a kernel as thousands of small
        blocks): each block's digest is checked against its level-0 hash block when
        that is cached and verified; anything else (a hash block to read and check, a
        mismatch, FEC) takes _verify_block's full path."""
        geo = self.geo
        bs = self.data_bs
        ds = geo.digest_size
        bits = geo.bits
        mask = geo.per_block - 1
        slot = geo.slot
        lb0 = geo.level_block[0]
        hbs = self.hash_bs
        digest = geo.digest
        zd = self.zero_digest
        v = self.validated
        for i in range(count):
            b = first + i
            if v is not None and v[b >> 3] & (1 << (b & 7)):
                continue
            hb = lb0 + (b >> bits)
            # Looked up each time: _verify_block may make the slab or resize the slots.
            shb = self.slot_hb
            j = hb % len(shb)
            d = buf[i * bs:(i + 1) * bs]
            if shb[j] != hb:
                self._verify_block(b, d, None)
                continue
            o = j * hbs + (b & mask) * slot
            want = self.slab[o:o + ds]
            if zd is not None and want == zd:
                d[:] = bytes(bs)
            elif digest(d) == want:
                if v is not None:
                    v[b >> 3] |= 1 << (b & 7)
            else:
                self._verify_block(b, d, None)

    def _verify_block(self, b, d, ioerr):
        v = self.validated
        if v is not None and ioerr is None and v[b >> 3] & (1 << (b & 7)):
            return
        try:
            want = self.want_digest(b)
        except DMError:
            d[:] = bytes(len(d))
            raise
        zd = self.zero_digest
        if zd is not None and want == zd:
            d[:] = bytes(len(d))
            return
        if ioerr is None and self.geo.digest(d) == want:
            if v is not None:
                v[b >> 3] |= 1 << (b & 7)
            return
        fixed = self._fec_correct(b, want)
        if fixed is not None:
            d[:] = fixed
            return
        if ioerr is not None:
            self._io_error(ioerr)
        if self._handle_err(BLOCK_DATA, b):
            # Never hand out data that failed its hash.
            d[:] = bytes(len(d))
            raise self._corrupt(BLOCK_DATA, b)

    def write(self, sector, mv):
        raise IOFailure("%s: verity target is read-only" % self.data_dev.name)


TARGETS = [VerityTarget]
