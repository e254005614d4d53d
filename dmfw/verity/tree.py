# Hash tree geometry and hashing, shared by the verity target (lookups),
# veritysetup format (build) and veritysetup verify (full check). Layout as
# in the kernel's verity_ctr: level i (0 = lowest) holds
# ceil(data_blocks / 2**((i+1)*bits)) blocks; the top level is stored first,
# at hash_start. Version 1 hashes salt||block and pads every digest to
# hash_bs >> bits bytes; version 0 hashes block||salt with packed digests.

from dmfw.errors import FormatError, IOFailure, EINVAL
from dmfw.crypto import hashes

MAX_LEVELS = 63


def log2(n):
    b = 0
    while (1 << (b + 1)) <= n:
        b += 1
    return b


class Geometry:
    def __init__(self, version, data_bs, hash_bs, data_blocks, hash_start,
                 alg, salt):
        if alg not in hashes.DIGEST_SIZE or not hashes.supported(alg):
            raise FormatError("Hash algorithm %s not supported." % alg)
        self.version = version
        self.data_bs = data_bs
        self.hash_bs = hash_bs
        self.data_blocks = data_blocks
        self.hash_start = hash_start
        self.alg = alg
        self.salt = bytes(salt)
        ds = hashes.DIGEST_SIZE[alg]
        self.digest_size = ds
        if hash_bs < 2 * ds:
            raise FormatError("Digest size too big", EINVAL)
        self.bits = log2(hash_bs // ds)
        self.per_block = 1 << self.bits
        # Stride between digests in a hash block.
        self.slot = (hash_bs >> self.bits) if version else ds
        levels = 0
        if data_blocks:
            while self.bits * levels < 64 and \
                    (data_blocks - 1) >> (self.bits * levels):
                levels += 1
        if levels > MAX_LEVELS:
            raise FormatError("Too many tree levels", EINVAL)
        self.levels = levels
        self.level_block = [0] * levels
        self.level_size = [0] * levels
        pos = hash_start
        for i in range(levels - 1, -1, -1):
            self.level_block[i] = pos
            s = (data_blocks + (1 << ((i + 1) * self.bits)) - 1) \
                >> ((i + 1) * self.bits)
            self.level_size[i] = s
            pos += s
        self.hash_end = pos     # first hash block after the tree
        # CPython can clone a salted state; MicroPython's hashes cannot.
        self._pre = None
        self._ctor = hashes.constructor(alg)
        if version:
            h = hashes.new(alg, self.salt) if self.salt else hashes.new(alg)
            if hasattr(h, "copy"):
                self._pre = h

    def hash_blocks(self):
        return self.hash_end - self.hash_start

    def digest(self, data):
        if self._pre is not None:
            h = self._pre.copy()
        elif self.version and self.salt:
            h = self._ctor(self.salt)
        else:
            h = self._ctor()
        h.update(data)
        if not self.version and self.salt:
            h.update(self.salt)
        return h.digest()

    def position(self, block, level):
        """(hash block number, byte offset of the digest inside it) of data
        block `block` at tree level `level`."""
        p = block >> (level * self.bits)
        return (self.level_block[level] + (p >> self.bits),
                (p & (self.per_block - 1)) * self.slot)

    def zero_digest(self):
        return self.digest(bytes(self.data_bs))


def _readinto(dev, byte_off, mv):
    dev.readblocks(byte_off >> 9, mv, byte_off & 511)


def _level(geo, src, src_off, src_bs, count, emit, buf, j=0, stop=None):
    """Hash `count` blocks of size src_bs from device src at byte src_off,
    emitting each finished hash block as emit(index, bytes, first source
    block, number of source blocks); hash blocks j .. stop-1 only."""
    per = geo.per_block
    slot = geo.slot
    ds = geo.digest_size
    hbs = geo.hash_bs
    mv = memoryview(buf)
    # CPython, v1 (the default): clone the salted state and hash views
    # cut once, no call through geo.digest per block (a sixth of a
    # one-core verify). MicroPython has no copy(): the plain loop.
    pre = geo._pre
    if pre is not None:
        copy = pre.copy
        views = [mv[i * src_bs:(i + 1) * src_bs] for i in range(per)]
        packed = slot == ds
    if stop is None:
        stop = (count + per - 1) // per
    while j < stop:
        first = j * per
        k = min(per, count - first)
        _readinto(src, src_off + first * src_bs, mv[:k * src_bs])
        out = bytearray(hbs)
        if pre is not None and packed:
            got = []
            put = got.append
            for v in (views if k == per else views[:k]):
                h = copy()
                h.update(v)
                put(h.digest())
            out[:k * ds] = b"".join(got)
        elif pre is not None:
            o = 0
            for v in (views if k == per else views[:k]):
                h = copy()
                h.update(v)
                out[o:o + ds] = h.digest()
                o += slot
        else:
            o = 0
            a = 0
            for i in range(k):
                out[o:o + ds] = geo.digest(mv[a:a + src_bs])
                o += slot
                a += src_bs
        emit(j, out, first, k)
        j += 1


def parallel_slices(workers, nblocks, devs):
    """The parallel module and the slices of nblocks units, or None: one worker,
    MicroPython (never imports it), or devices that cannot be reopened."""
    if workers < 2:
        return None
    import sys
    if sys.implementation.name != "cpython":
        return None
    from dmfw.verity import parallel
    if not parallel.usable(workers, nblocks, devs):
        return None
    return parallel, parallel.split(nblocks, workers)


def _emit_to(hash_dev, base, hbs):
    def emit(j, out, first, k):
        hash_dev.writeblocks(((base + j) * hbs) >> 9, out)
    return emit


def build(geo, data_dev, hash_dev, data_off=0, workers=1):
    """Write the whole tree for data_dev to hash_dev; return the root.
    workers > 1: level 0 hashed by that many processes (CPython)."""
    buf = bytearray(geo.per_block * max(geo.data_bs, geo.hash_bs))
    if geo.levels == 0:
        one = bytearray(geo.data_bs)
        _readinto(data_dev, data_off, memoryview(one))
        return geo.digest(one)
    hbs = geo.hash_bs

    for lvl in range(geo.levels):
        base = geo.level_block[lvl]
        if lvl == 0:
            n = geo.level_size[0]
            par = parallel_slices(workers, n, [data_dev, hash_dev])
            if par is None:
                _level(geo, data_dev, data_off, geo.data_bs, geo.data_blocks,
                       _emit_to(hash_dev, base, hbs), buf)
                continue

            def work(j0, j1, devs):
                _level(geo, devs[0], data_off, geo.data_bs, geo.data_blocks,
                       _emit_to(devs[1], base, hbs), buf, j0, j1)
            par[0].run(work, par[1], [(data_dev, False), (hash_dev, True)])
        else:
            prev = geo.level_block[lvl - 1]
            _level(geo, hash_dev, prev * hbs, hbs, geo.level_size[lvl - 1],
                   _emit_to(hash_dev, base, hbs), buf)
    top = bytearray(hbs)
    _readinto(hash_dev, geo.level_block[geo.levels - 1] * hbs, memoryview(top))
    return geo.digest(top)


class VerifyFailed(IOFailure):
    """veritysetup verify's failure, with cryptsetup's message lines."""

    def __init__(self, lines):
        IOFailure.__init__(self, "\n".join(lines))
        self.lines = lines


def verify(geo, data_dev, hash_dev, root, data_off=0, workers=1):
    """Full check as cryptsetup's VERITY_verify: recompute every level,
    compare with what is stored, then the root. Raises VerifyFailed with
    the message of the first difference in cryptsetup's order.
    workers > 1: level 0 checked by that many processes (CPython)."""
    hbs = geo.hash_bs
    if geo.levels == 0:
        one = bytearray(geo.data_bs)
        _readinto(data_dev, data_off, memoryview(one))
        if geo.digest(one) != root:
            raise VerifyFailed(["Verification of root hash failed."])
        return
    for lvl in range(geo.levels):
        if lvl == 0:
            src, src_off, src_bs, n = data_dev, data_off, geo.data_bs, \
                geo.data_blocks
        else:
            src, src_off, src_bs, n = hash_dev, \
                geo.level_block[lvl - 1] * hbs, hbs, geo.level_size[lvl - 1]
        nblocks = geo.level_size[lvl]
        par = parallel_slices(workers, nblocks, [src, hash_dev]) if lvl == 0 else None
        if par is None:
            _check_range(geo, lvl, src, src_off, src_bs, n, hash_dev, 0, nblocks)
            continue

        def work(j0, j1, devs, lvl=lvl, src_off=src_off, src_bs=src_bs, n=n):
            _check_range(geo, lvl, devs[0], src_off, src_bs, n, devs[1], j0, j1)
        par[0].run(work, par[1], [(src, False), (hash_dev, False)])
    top = bytearray(hbs)
    _readinto(hash_dev, geo.level_block[geo.levels - 1] * hbs, memoryview(top))
    if geo.digest(top) != root:
        raise VerifyFailed(["Verification of root hash failed."])


def _check_range(geo, lvl, src, src_off, src_bs, n, hash_dev, j0, j1):
    hbs = geo.hash_bs
    base = geo.level_block[lvl]
    stored = bytearray(hbs)
    smv = memoryview(stored)
    buf = bytearray(geo.per_block * src_bs)

    def emit(j, out, first, k):
        _readinto(hash_dev, (base + j) * hbs, smv)
        if out != stored:
            raise VerifyFailed([_where(geo, out, stored, k, (base + j) * hbs,
                                       src_off + first * src_bs, src_bs),
                                "Verification of data area failed."])
    _level(geo, src, src_off, src_bs, n, emit, buf, j0, j1)


def _where(geo, want, got, k, hash_pos, src_pos, src_bs):
    # The first difference, named the way cryptsetup's create_or_verify
    # walks a hash block: digest, its padding, ..., then the spare tail.
    i = 0
    while want[i] == got[i]:
        i += 1
    ds = geo.digest_size
    slot = geo.slot
    idx = i // slot
    if idx < k:
        if i % slot < ds:
            return "Verification failed at position %d." % (src_pos + idx * src_bs)
        return "Spare area is not zeroed at position %d." % (hash_pos + idx * slot + ds)
    return "Spare area is not zeroed at position %d." % (hash_pos + k * slot)
