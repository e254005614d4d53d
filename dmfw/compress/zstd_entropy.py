# Zstandard entropy tables (RFC 8878 section 4): the FSE distributions a block
# carries, the FSE decoding tables built from them (and the predefined ones), the
# Huffman literal tables, and XXH64 for the content checksum. Everything here reads
# only the bytes it is given and raises CorruptData for a table the RFC forbids; the
# tables are small (at most 512 FSE states, 2048 Huffman entries).

from dmfw.compress import CorruptData

# Bit reader width: MicroPython small ints hold 62 bits (larger ones are heap
# allocated); on CPython big ints are cheap and fewer refills win.
try:
    import sys
    MICROPYTHON = sys.implementation.name == "micropython"
except (ImportError, AttributeError):
    MICROPYTHON = True
FILL = 62 if MICROPYTHON else 126

# Highest set bit of 0..1023 (MicroPython has no int.bit_length); FSE states are < 1024.
_HB = bytearray(1024)
for _i in range(2, 1024):
    _HB[_i] = _HB[_i >> 1] + 1


def _bad(why):
    return CorruptData("zstd", why)


def highbit(x):
    """Index of the highest set bit of x > 0."""
    n = 0
    while x >= 1024:
        x >>= 10
        n += 10
    return n + _HB[x]


def read_ncount(b, pos, end, maxlog, maxsym, what):
    """Read an FSE table description (RFC 8878 4.1.1) at b[pos:end]: returns
    (normalized counts, accuracy log, position after it)."""
    if pos >= end:
        raise _bad("%s: missing FSE table" % what)
    al = (b[pos] & 15) + 5
    if al > maxlog:
        raise _bad("%s: FSE accuracy log %d > %d" % (what, al, maxlog))
    bp = pos * 8 + 4
    lim = end * 8
    remaining = (1 << al) + 1
    threshold = 1 << al
    nb = al + 1
    probs = []
    while remaining > 1:
        if len(probs) > maxsym or bp > lim:
            raise _bad("%s: FSE table overruns" % what)
        i = bp >> 3
        v = int.from_bytes(b[i:i + 3], "little") >> (bp & 7)
        mx = 2 * threshold - 1 - remaining
        c = v & (threshold - 1)
        if c < mx:
            bp += nb - 1
        else:
            c = v & (2 * threshold - 1)
            if c >= threshold:
                c -= mx
            bp += nb
        c -= 1
        probs.append(c)
        if c < 0:
            remaining += c
        else:
            remaining -= c
        if c == 0:
            # 2-bit repeat flags: that many more zero counts; 3 means "and more".
            while True:
                if len(probs) > maxsym + 1 or bp > lim:
                    raise _bad("%s: FSE zero run overruns" % what)
                i = bp >> 3
                f = (int.from_bytes(b[i:i + 2], "little") >> (bp & 7)) & 3
                bp += 2
                for _ in range(f):
                    probs.append(0)
                if f != 3:
                    break
        while remaining < threshold:
            nb -= 1
            threshold >>= 1
    if remaining != 1 or len(probs) > maxsym + 1 or bp > lim:
        raise _bad("%s: invalid FSE table" % what)
    return probs, al, (bp + 7) >> 3


def _spread(probs, al, what):
    """Symbol of each state and each symbol's first state number (RFC 8878 4.1.1,
    "FSE table construction")."""
    size = 1 << al
    high = size - 1
    syms = bytearray(size)
    nxt = []
    for s in range(len(probs)):
        c = probs[s]
        if c == -1:
            syms[high] = s
            high -= 1
            nxt.append(1)
        else:
            nxt.append(c)
    step = (size >> 1) + (size >> 3) + 3
    mask = size - 1
    p = 0
    for s in range(len(probs)):
        c = probs[s]
        if c <= 0:
            continue
        if high == mask:
            # No "less than 1" states: no position to skip.
            for _ in range(c):
                syms[p] = s
                p = (p + step) & mask
        else:
            for _ in range(c):
                syms[p] = s
                p = (p + step) & mask
                while p > high:
                    p = (p + step) & mask
    if p != 0:
        raise _bad("%s: FSE table does not fill its states" % what)
    return syms, nxt


def fse_table(probs, al, what):
    """Decoding table of a distribution: lists (symbol, bits to read, baseline) per
    state."""
    syms, nxt = _spread(probs, al, what)
    size = 1 << al
    hb = _HB
    nbs = bytearray(size)
    bases = [0] * size
    for u in range(size):
        s = syms[u]
        x = nxt[s]
        nxt[s] = x + 1
        k = al - hb[x]
        nbs[u] = k
        bases[u] = (x << k) - size
    return syms, nbs, bases


# Literals length and match length codes: (baseline, extra bits) (RFC 8878 3.1.1.3.2.1).
LL_CODES = [(i, 0) for i in range(16)] + [
    (16, 1), (18, 1), (20, 1), (22, 1), (24, 2), (28, 2), (32, 3), (40, 3), (48, 4),
    (64, 6), (128, 7), (256, 8), (512, 9), (1024, 10), (2048, 11), (4096, 12),
    (8192, 13), (16384, 14), (32768, 15), (65536, 16)]
ML_CODES = [(i + 3, 0) for i in range(32)] + [
    (35, 1), (37, 1), (39, 1), (41, 1), (43, 2), (47, 2), (51, 3), (59, 3), (67, 4),
    (83, 4), (99, 5), (131, 7), (259, 8), (515, 9), (1027, 10), (2051, 11), (4099, 12),
    (8195, 13), (16387, 14), (32771, 15), (65539, 16)]
# Offset code N: Offset_Value = (1 << N) + N extra bits; 31 is the largest code.
OF_CODES = [(1 << i, i) for i in range(32)]

LL_DEFAULT = (6, [4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2,
                  2, 3, 2, 1, 1, 1, 1, 1, -1, -1, -1, -1])
ML_DEFAULT = (6, [1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1,
                  -1, -1, -1, -1, -1])
OF_DEFAULT = (5, [1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                  -1, -1, -1, -1, -1])

# (codes, max accuracy log, max symbol, predefined distribution) per sequence field.
KINDS = {
    "literal lengths": (LL_CODES, 9, 35, LL_DEFAULT),
    "offsets": (OF_CODES, 8, 31, OF_DEFAULT),
    "match lengths": (ML_CODES, 9, 52, ML_DEFAULT),
}


def seq_table(probs, al, kind):
    """Sequence decoding table: one tuple per state, (baseline, extra bits, extra
    mask, state bits, state mask, next state baseline), so the decoding loop reads a
    field and moves a state with one unpack and no other lookups."""
    codes = KINDS[kind][0]
    if len(probs) > len(codes):
        raise _bad("%s: symbol out of range" % kind)
    syms, nxt = _spread(probs, al, kind)
    size = 1 << al
    hb = _HB
    t = [None] * size
    for u in range(size):
        s = syms[u]
        x = nxt[s]
        nxt[s] = x + 1
        k = al - hb[x]
        base, extra = codes[s]
        t[u] = (base, extra, (1 << extra) - 1, k, (1 << k) - 1, (x << k) - size)
    return t, al


def rle_table(sym, kind):
    codes = KINDS[kind][0]
    if sym >= len(codes):
        raise _bad("%s: RLE symbol %d out of range" % (kind, sym))
    base, extra = codes[sym]
    return [(base, extra, (1 << extra) - 1, 0, 0, 0)], 0


_predef = {}


def predefined(kind):
    t = _predef.get(kind)
    if t is None:
        al, probs = KINDS[kind][3]
        t = _predef[kind] = seq_table(probs, al, kind)
    return t


def _huf_weights(b, pos, end):
    """Huffman weights (RFC 8878 4.2.1): returns (weights, position after)."""
    if pos >= end:
        raise _bad("literals: missing Huffman tree")
    hb = b[pos]
    pos += 1
    if hb >= 128:
        n = hb - 127
        e = pos + ((n + 1) >> 1)
        if e > end:
            raise _bad("literals: truncated Huffman weights")
        w = []
        for i in range(n):
            x = b[pos + (i >> 1)]
            w.append(x & 15 if i & 1 else x >> 4)
        return w, e
    e = pos + hb
    if e > end or hb == 0:
        raise _bad("literals: truncated Huffman weights")
    probs, al, p = read_ncount(b, pos, e, 6, 12, "Huffman weights")
    syms, nbs, bases = fse_table(probs, al, "Huffman weights")
    # Backward bit stream read by two interleaved states, until a state update reads
    # past the stream's start: then the other state's symbol is the last weight.
    st = b[p:e]
    acc, bc, q = bits_start(st, "Huffman weights")
    m = (1 << al) - 1
    if bc < 2 * al:
        acc, bc, q = fill(st, q, acc, bc)
    bc -= al
    s1 = (acc >> bc) & m
    bc -= al
    s2 = (acc >> bc) & m
    w = []
    ap = w.append
    while len(w) <= 253:
        if bc < 12:
            acc, bc, q = fill(st, q, acc, bc)
        ap(syms[s1])
        n = nbs[s1]
        bc -= n
        s1 = bases[s1] + ((acc >> bc) & ((1 << n) - 1))
        if bc + 8 * q < 0:
            ap(syms[s2])
            return w, e
        if len(w) > 253:
            break
        ap(syms[s2])
        n = nbs[s2]
        bc -= n
        s2 = bases[s2] + ((acc >> bc) & ((1 << n) - 1))
        if bc + 8 * q < 0:
            ap(syms[s1])
            return w, e
    raise _bad("literals: too many Huffman weights")


def fill(s, p, acc, bc):
    """Refill a backward bit reader to FILL-7..FILL bits: (acc, bc, p). Past the
    stream's start it shifts in zeros and p goes negative, so bc + 8 * p is the count
    of real bits left (0 when a stream was consumed exactly). The hot loops in zstd.py
    inline the common case (p >= k) of this."""
    k = (FILL - bc) >> 3
    acc = (acc & ((1 << bc) - 1)) << (k << 3)
    if p >= k:
        p -= k
        acc |= int.from_bytes(s[p:p + k], "little")
    else:
        if p > 0:
            acc |= int.from_bytes(s[0:p], "little") << ((k - p) << 3)
        p -= k
    return acc, bc + (k << 3), p


def bits_start(s, what):
    """A backward bit stream's reader state: its last byte holds a 1 marking the start."""
    n = len(s)
    if n == 0 or s[n - 1] == 0:
        raise _bad("%s: bad bit stream end" % what)
    last = s[n - 1]
    bc = highbit(last)
    return last & ((1 << bc) - 1), bc, n - 1


def huf_table(b, pos, end):
    """Read a Huffman tree description: returns (table, max bits, position after).
    The table has 1 << max bits entries, symbol << 4 | code length, indexed by the
    next max-bits bits of the stream."""
    w, pos = _huf_weights(b, pos, end)
    # One pass: each weight's symbols in increasing order, and the sum of 2**(w-1).
    byw = [[], [], [], [], [], [], [], [], [], [], [], [], []]
    tot = 0
    sy = 0
    for x in w:
        if x:
            if x > 11:
                raise _bad("literals: Huffman weight %d > 11" % x)
            tot += 1 << (x - 1)
            byw[x].append(sy)
        sy += 1
    if tot == 0:
        raise _bad("literals: empty Huffman tree")
    mb = highbit(tot) + 1
    if mb > 11:
        raise _bad("literals: Huffman code longer than 11 bits")
    rest = (1 << mb) - tot
    lw = highbit(rest) + 1
    if rest != 1 << (lw - 1):
        raise _bad("literals: Huffman weights do not sum to a power of 2")
    byw[lw].append(sy)
    ones = len(byw[1])
    if ones < 2 or ones & 1:
        raise _bad("literals: invalid Huffman tree")
    # Canonical order: the longest codes (smallest weight) first, each weight's symbols
    # in increasing order; a symbol of weight x covers 2**(x-1) entries.
    t = []
    ext = t.extend      # MicroPython: extend is 3x faster than slice assignment, += 4x
    for x in range(1, mb + 1):
        n = 1 << (x - 1)
        nb = mb + 1 - x
        for sy in byw[x]:
            ext([sy << 4 | nb] * n)
    return t, mb, pos


def huf_multi(t, mb):
    """Multi-symbol table over the same mb-bit index: (symbols, bits, count) of as
    many whole codes as fit in the mb bits; and the most symbols an entry holds."""
    size = 1 << mb
    mask = size - 1
    mt = [None] * size
    maxc = 1
    for i in range(size):
        e = t[i]
        n = e & 15
        syms = [e >> 4]
        while True:
            e = t[(i << n) & mask]
            k = e & 15
            if n + k > mb:
                break
            syms.append(e >> 4)
            n += k
        c = len(syms)
        if c > maxc:
            maxc = c
        mt[i] = (bytes(syms), n, c)
    return mt, maxc


# XXH64 (the content checksum), on Python integers masked to 64 bits.
P1 = 11400714785074694791
P2 = 14029467366897019727
P3 = 1609587929392839161
P4 = 9650029242287828579
P5 = 2870177450012600261
M64 = 0xFFFFFFFFFFFFFFFF


def _round(acc, lane):
    acc = (acc + lane * P2) & M64
    return (((acc << 31) | (acc >> 33)) * P1) & M64


def xxh64(buf, seed=0):
    import struct
    n = len(buf)
    i = 0
    if n >= 32:
        v1 = (seed + P1 + P2) & M64
        v2 = (seed + P2) & M64
        v3 = seed
        v4 = (seed - P1) & M64
        unpack = struct.unpack_from
        end = n - 32
        while i <= end:
            a, b, c, d = unpack("<4Q", buf, i)
            v1 = (v1 + a * P2) & M64
            v1 = (((v1 << 31) | (v1 >> 33)) * P1) & M64
            v2 = (v2 + b * P2) & M64
            v2 = (((v2 << 31) | (v2 >> 33)) * P1) & M64
            v3 = (v3 + c * P2) & M64
            v3 = (((v3 << 31) | (v3 >> 33)) * P1) & M64
            v4 = (v4 + d * P2) & M64
            v4 = (((v4 << 31) | (v4 >> 33)) * P1) & M64
            i += 32
        h = (((v1 << 1) | (v1 >> 63)) + ((v2 << 7) | (v2 >> 57)) +
             ((v3 << 12) | (v3 >> 52)) + ((v4 << 18) | (v4 >> 46))) & M64
        for v in (v1, v2, v3, v4):
            h = ((h ^ _round(0, v)) * P1 + P4) & M64
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(buf[i:i + 8], "little"))
        h = (((h << 27) | (h >> 37)) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(buf[i:i + 4], "little") * P1) & M64
        h = (((h << 23) | (h >> 41)) * P2 + P3) & M64
        i += 4
    while i < n:
        h ^= (buf[i] * P5) & M64
        h = (((h << 11) | (h >> 53)) * P1) & M64
        i += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    return h ^ (h >> 32)
