# Reed-Solomon RS(255, 255-roots) over GF(256) with polynomial 0x11d, first
# consecutive root alpha^0 and primitive element alpha^1: the code
# cryptsetup's libfec encodes (init_rs_char(8, 0x11d, 0, 1, roots, 0)) and
# the kernel's dm-verity-fec decodes.
#
# Work is done "row-wise": a row is one byte position of many codewords at
# once (one data block of the FEC interleaving), so encoding and syndrome
# computation are a few hundred whole-row operations instead of per-byte
# loops. Whole-row XOR uses big-int arithmetic; multiplication by a
# constant uses bytes.translate where the interpreter has it (CPython) and a
# per-byte table loop elsewhere (MicroPython).

NN = 255

EXP = bytearray(512)
LOG = bytearray(256)


def _init():
    x = 1
    for i in range(255):
        EXP[i] = x
        LOG[x] = i
        x <<= 1
        if x & 0x100:
            x ^= 0x11d
    for i in range(255, 512):
        EXP[i] = EXP[i - 255]


_init()


def gmul(a, b):
    if a == 0 or b == 0:
        return 0
    return EXP[LOG[a] + LOG[b]]


def ginv(a):
    return EXP[255 - LOG[a]]


_tables = {}


def _table(c):
    t = _tables.get(c)
    if t is None:
        lc = LOG[c]
        t = bytes([0] + [EXP[LOG[x] + lc] for x in range(1, 256)])
        if len(_tables) < 64:
            _tables[c] = t
    return t


_HAS_TRANSLATE = hasattr(b"", "translate")


def mul_row(row, c):
    """Every byte of `row` times the field constant c."""
    if c == 0:
        return bytes(len(row))
    if c == 1:
        return bytes(row)
    t = _table(c)
    if _HAS_TRANSLATE:
        return bytes(row).translate(t)
    return bytes([t[x] for x in row])


def xor_row(a, b):
    n = len(a)
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(n, "big")


def generator(roots):
    """g(x) = prod_{m<roots} (x - alpha^m); g[k] is the coefficient of x^k."""
    g = [1]
    for m in range(roots):
        a = EXP[m]
        ng = [0] * (len(g) + 1)
        for k in range(len(g)):
            ng[k + 1] ^= g[k]
            ng[k] ^= gmul(g[k], a)
        g = ng
    return g


def encode_rows(rows, roots):
    """Systematic parity for codewords laid out as rows (rows[i] holds data
    byte i of every codeword). Returns `roots` parity rows, highest-degree
    parity symbol first, as libfec writes them after the data."""
    g = generator(roots)
    n = len(rows[0])
    zero = bytes(n)
    bb = [zero] * roots
    for row in rows:
        f = xor_row(row, bb[0])
        for j in range(1, roots):
            bb[j] = xor_row(bb[j], mul_row(f, g[roots - j]))
        bb = bb[1:] + [mul_row(f, g[0])]
    return bb


def syndrome_rows(rows, roots):
    """S_m = r(alpha^m) for m < roots, for every codeword at once; `rows`
    is the whole received codeword (data rows then parity rows)."""
    out = []
    for m in range(roots):
        a = EXP[m]
        acc = rows[0]
        for p in range(1, len(rows)):
            acc = xor_row(mul_row(acc, a), rows[p])
        out.append(acc)
    return out


def _poly_eval(p, x):
    # p[k] coefficient of x^k
    y = 0
    for c in reversed(p):
        y = gmul(y, x) ^ c
    return y


def decode(synd, n, erasures=()):
    """Errors-and-erasures decoding from syndromes of one codeword of
    length n (n <= 255, position 0 = highest degree). `erasures` are known
    bad positions. Returns [(position, xor_value)] or None if the word is
    uncorrectable (the kernel's -EBADMSG)."""
    nroots = len(synd)
    if not any(synd):
        return []
    if len(erasures) > nroots:
        return None
    # Erasure locator Gamma(x) = prod (1 + X_k x), X_k = alpha^(n-1-pos).
    lam = [1]
    for pos in erasures:
        xk = EXP[(n - 1 - pos) % 255]
        nl = lam + [0]
        for k in range(len(lam)):
            nl[k + 1] ^= gmul(lam[k], xk)
        lam = nl
    ne = len(erasures)
    # Berlekamp-Massey seeded with the erasure locator.
    b = list(lam)
    L = ne
    for r in range(ne, nroots):
        d = 0
        for k in range(len(lam)):
            if k <= r:
                d ^= gmul(lam[k], synd[r - k])
        b = [0] + b
        if d:
            t = list(lam)
            if len(t) < len(b):
                t += [0] * (len(b) - len(t))
            for k in range(len(b)):
                t[k] ^= gmul(d, b[k])
            if 2 * L <= r + ne:
                L = r + 1 + ne - L
                di = ginv(d)
                b = [gmul(c, di) for c in lam]
            lam = t
    while len(lam) > 1 and lam[-1] == 0:
        lam.pop()
    deg = len(lam) - 1
    if deg == 0 or deg > nroots:
        return None
    # Chien search over the positions that exist in a (shortened) word: Lambda at
    # x = alpha^-(n-1-pos), each term kept as its logarithm and stepped by its degree
    # (one table lookup per term and position, no multiplications).
    logs = []
    steps = []
    e0 = (255 - (n - 1)) % 255
    for j in range(1, len(lam)):
        if lam[j]:
            logs.append((LOG[lam[j]] + j * e0) % 255)
            steps.append(j % 255)
    c0 = lam[0]
    nt = len(logs)
    locs = []
    for pos in range(n):
        v = c0
        for k in range(nt):
            lg = logs[k]
            v ^= EXP[lg]
            lg += steps[k]
            logs[k] = lg - 255 if lg >= 255 else lg
        if v == 0:
            locs.append(pos)
            if len(locs) > deg:
                return None
    if len(locs) != deg:
        return None
    # Omega(x) = S(x) Lambda(x) mod x^nroots; fcr = 0 gives
    # e = X * Omega(X^-1) / Lambda'(X^-1).
    om = [0] * nroots
    for i in range(nroots):
        for j in range(len(lam)):
            if i + j < nroots:
                om[i + j] ^= gmul(synd[i], lam[j])
    dl = [lam[k] if k & 1 else 0 for k in range(1, len(lam))]
    out = []
    for pos in locs:
        xk = EXP[(n - 1 - pos) % 255]
        xinv = ginv(xk)
        den = _poly_eval(dl, xinv)
        if den == 0:
            return None
        e = gmul(gmul(xk, _poly_eval(om, xinv)), ginv(den))
        out.append((pos, e))
    return out
