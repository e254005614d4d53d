# dm-verity forward error correction, laid out as cryptsetup's
# verity_fec.c writes it and the kernel's dm-verity-fec.c reads it.
#
# FEC covers `fec_blocks` "virtual" blocks: the data blocks, then the hash
# area from hash_start on the hash device; anything past the end reads as
# zeros. With rsn = 255 - roots and rounds = ceil(fec_blocks / rsn), the
# codeword for byte j of round r takes byte j of virtual blocks
# r, r + rounds, r + 2*rounds, ... (rsn of them); its `roots` parity bytes
# sit at fec_start*bs + (r*bs + j)*roots.

from dmfw.errors import FormatError, IOFailure, EINVAL
from dmfw.verity import rs

RSM = 255
MIN_RSN = 231
MAX_RSN = 253
MAX_RECURSION = 4


def roots_ok(roots):
    return RSM - MAX_RSN <= roots <= RSM - MIN_RSN


class Layout:
    def __init__(self, bs, roots, fec_blocks, data_blocks, hash_start,
                 fec_start):
        if not roots_ok(roots):
            raise FormatError("Invalid number of parity bytes.", EINVAL)
        self.bs = bs
        self.roots = roots
        self.rsn = RSM - roots
        self.blocks = fec_blocks
        self.rounds = (fec_blocks + self.rsn - 1) // self.rsn
        self.data_blocks = data_blocks
        self.hash_blocks = fec_blocks - data_blocks
        self.hash_start = hash_start
        self.fec_start = fec_start

    def parity_bytes(self):
        return self.rounds * self.bs * self.roots

    def rows(self, r):
        """Virtual block numbers making up round r."""
        return [r + i * self.rounds for i in range(self.rsn)]


class Source:
    """Reads virtual blocks from the data and hash devices (zeros past the
    covered area); a read error gives None, which the decoder treats as an
    erasure, as the kernel does."""

    def __init__(self, layout, data_dev, hash_dev, data_off=0):
        self.l = layout
        self.data_dev = data_dev
        self.hash_dev = hash_dev
        self.data_off = data_off
        self.zero = bytes(layout.bs)

    def where(self, v):
        l = self.l
        if v < l.data_blocks:
            return self.data_dev, self.data_off + v * l.bs
        v -= l.data_blocks
        if v >= l.hash_blocks:
            return None, 0
        return self.hash_dev, (l.hash_start + v) * l.bs

    def read(self, v):
        dev, off = self.where(v)
        if dev is None:
            return self.zero
        buf = bytearray(self.l.bs)
        try:
            dev.readblocks(off >> 9, buf, off & 511)
        except IOFailure:
            return None
        return bytes(buf)


def _interleave(prow, roots, bs):
    out = bytearray(bs * roots)
    try:
        for k in range(roots):
            out[k::roots] = prow[k]
    except (TypeError, NotImplementedError):
        for k in range(roots):
            p = prow[k]
            for j in range(bs):
                out[j * roots + k] = p[j]
    return out


def _deinterleave(par, roots, bs):
    try:
        return [bytes(par[k::roots]) for k in range(roots)]
    except (TypeError, NotImplementedError):
        return [bytes([par[j * roots + k] for j in range(bs)])
                for k in range(roots)]


def encode(layout, src, fec_dev, fec_off, workers=1):
    """Write all parity (veritysetup format --fec-device). Rounds are
    independent codewords, so with workers > 1 (CPython) contiguous runs
    of rounds go to that many processes: the RS arithmetic is nine tenths
    of a format with FEC."""
    from dmfw.verity.tree import parallel_slices
    l = layout
    # Unaligned parity would make neighbouring workers rewrite one sector.
    par = None if fec_off & 511 else \
        parallel_slices(workers, l.rounds, [src.data_dev, src.hash_dev, fec_dev])
    if par is None:
        _encode_rounds(l, src, fec_dev, fec_off, 0, l.rounds)
        return

    def work(r0, r1, devs):
        _encode_rounds(l, Source(l, devs[0], devs[1], src.data_off), devs[2],
                       fec_off, r0, r1)
    par[0].run(work, par[1], [(src.data_dev, False), (src.hash_dev, False),
                              (fec_dev, True)])


def _encode_rounds(l, src, fec_dev, fec_off, r0, r1):
    for r in range(r0, r1):
        rows = []
        for v in l.rows(r):
            b = src.read(v)
            if b is None:
                raise IOFailure("Failed to read RS block %d." % r)
            rows.append(b)
        par = _interleave(rs.encode_rows(rows, l.roots), l.roots, l.bs)
        off = fec_off + r * l.bs * l.roots
        fec_dev.writeblocks(off >> 9, par, off & 511)


def _parity(layout, fec_dev, r):
    l = layout
    n = l.bs * l.roots
    off = (l.fec_start * l.bs) + r * n
    buf = bytearray(n)
    fec_dev.readblocks(off >> 9, buf, off & 511)
    return _deinterleave(buf, l.roots, l.bs)


def _decode_round(layout, rows, prow, erasures, want_pos, out):
    """Decode every codeword of one round. Corrections at codeword position
    want_pos are applied to `out` (a bytearray of the target block) when
    given. Returns the number of corrected symbols, or -1 if some codeword
    is beyond repair."""
    l = layout
    synd = rs.syndrome_rows(rows + prow, l.roots)
    acc = 0
    for s in synd:
        acc |= int.from_bytes(s, "big")
    if not acc:
        return 0
    fixed = 0
    bs = l.bs
    for j in range(bs):
        if not (acc >> ((bs - 1 - j) * 8)) & 0xff:
            continue
        fix = rs.decode([s[j] for s in synd], l.rsn + l.roots, erasures)
        if fix is None:
            return -1
        for pos, e in fix:
            if pos == want_pos and out is not None:
                out[j] ^= e
        fixed += len(fix)
    return fixed


def correct(layout, src, fec_dev, v, check, is_erasure=None, is_zero=None):
    """Recover virtual block v as the kernel's verity_fec_decode: a first
    pass without erasures, then one with the rows whose hashes fail marked
    as erasures. `check(block)` tells whether a candidate is the right
    block; `is_zero(b)` names data blocks known to be zero
    (ignore_zero_blocks), which are taken as zeros without reading them.
    Returns the corrected bytes or None."""
    l = layout
    r = v % l.rounds
    target = (v - r) // l.rounds
    prow = _parity(layout, fec_dev, r)
    rows = []
    bad = []
    for i, b in enumerate(l.rows(r)):
        if is_zero is not None and b != v and is_zero(b):
            rows.append(src.zero)
            continue
        d = src.read(b)
        if d is None:
            d = src.zero
            if len(bad) <= l.roots:
                bad.append(i)
        rows.append(d)
    for use_erasures in (False, True):
        eras = []
        if use_erasures:
            eras = list(bad)
            if is_erasure is not None:
                for i, b in enumerate(l.rows(r)):
                    if len(eras) > l.roots:
                        break
                    if i not in eras and is_erasure(b, rows[i]):
                        eras.append(i)
            if not eras:
                break
            eras.sort()
        elif bad:
            continue
        out = bytearray(rows[target])
        if _decode_round(l, rows, prow, eras, target, out) >= 0 and \
                check(out):
            return bytes(out)
    return None


def check_all(layout, src, fec_dev):
    """veritysetup verify's FEC pass (decode everything, no erasures):
    the number of repairable symbol errors, or IOFailure."""
    l = layout
    total = 0
    for r in range(l.rounds):
        rows = []
        for v in l.rows(r):
            b = src.read(v)
            if b is None:
                raise IOFailure("Failed to read RS block %d byte %d." % (r, 0))
            rows.append(b)
        n = _decode_round(l, rows, _parity(l, fec_dev, r), [], -1, None)
        if n < 0:
            raise IOFailure("Failed to repair parity for block %d." % r)
        total += n
    return total
