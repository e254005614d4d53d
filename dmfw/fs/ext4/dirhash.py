# The htree name hashes (ext4fs_dirhash): legacy (dx_hack_hash), half-MD4 and TEA,
# each in the signed-char and unsigned-char flavours (the superblock's
# signed/unsigned_directory_hash flag picks one: it records the char signedness of
# the machine that made the file system). SipHash (casefold + encrypt) is not here:
# such directories are scanned linearly.

M = 0xFFFFFFFF
LEGACY, HALF_MD4, TEA = 0, 1, 2
LEGACY_U, HALF_MD4_U, TEA_U = 3, 4, 5


def _rol(x, s):
    return ((x << s) | (x >> (32 - s))) & M


def _half_md4(buf, x):
    a, b, c, d = buf

    def F(x, y, z):
        return z ^ (x & (y ^ z))

    def G(x, y, z):
        return ((x & y) + ((x ^ y) & z)) & M

    def H(x, y, z):
        return x ^ y ^ z

    K2 = 0o13240474631
    K3 = 0o15666365641
    a = _rol((a + F(b, c, d) + x[0]) & M, 3)
    d = _rol((d + F(a, b, c) + x[1]) & M, 7)
    c = _rol((c + F(d, a, b) + x[2]) & M, 11)
    b = _rol((b + F(c, d, a) + x[3]) & M, 19)
    a = _rol((a + F(b, c, d) + x[4]) & M, 3)
    d = _rol((d + F(a, b, c) + x[5]) & M, 7)
    c = _rol((c + F(d, a, b) + x[6]) & M, 11)
    b = _rol((b + F(c, d, a) + x[7]) & M, 19)
    a = _rol((a + G(b, c, d) + x[1] + K2) & M, 3)
    d = _rol((d + G(a, b, c) + x[3] + K2) & M, 5)
    c = _rol((c + G(d, a, b) + x[5] + K2) & M, 9)
    b = _rol((b + G(c, d, a) + x[7] + K2) & M, 13)
    a = _rol((a + G(b, c, d) + x[0] + K2) & M, 3)
    d = _rol((d + G(a, b, c) + x[2] + K2) & M, 5)
    c = _rol((c + G(d, a, b) + x[4] + K2) & M, 9)
    b = _rol((b + G(c, d, a) + x[6] + K2) & M, 13)
    a = _rol((a + H(b, c, d) + x[3] + K3) & M, 3)
    d = _rol((d + H(a, b, c) + x[7] + K3) & M, 9)
    c = _rol((c + H(d, a, b) + x[2] + K3) & M, 11)
    b = _rol((b + H(c, d, a) + x[6] + K3) & M, 15)
    a = _rol((a + H(b, c, d) + x[1] + K3) & M, 3)
    d = _rol((d + H(a, b, c) + x[5] + K3) & M, 9)
    c = _rol((c + H(d, a, b) + x[0] + K3) & M, 11)
    b = _rol((b + H(c, d, a) + x[4] + K3) & M, 15)
    buf[0] = (buf[0] + a) & M
    buf[1] = (buf[1] + b) & M
    buf[2] = (buf[2] + c) & M
    buf[3] = (buf[3] + d) & M


def _tea(buf, x):
    s = 0
    b0, b1 = buf[0], buf[1]
    a, b, c, d = x[0], x[1], x[2], x[3]
    for _ in range(16):
        s = (s + 0x9E3779B9) & M
        b0 = (b0 + ((((b1 << 4) + a) & M) ^ ((b1 + s) & M) ^ (((b1 >> 5) + b) & M))) & M
        b1 = (b1 + ((((b0 << 4) + c) & M) ^ ((b0 + s) & M) ^ (((b0 >> 5) + d) & M))) & M
    buf[0] = (buf[0] + b0) & M
    buf[1] = (buf[1] + b1) & M


def _chars(name, signed):
    if signed:
        return [b - 256 if b >= 128 else b for b in name]
    return list(name)


def _str2hashbuf(cs, num):
    n = len(cs)
    pad = n | (n << 8)
    pad = (pad | (pad << 16)) & M
    val = pad
    out = []
    if n > num * 4:
        n = num * 4
    for i in range(n):
        val = (cs[i] + (val << 8)) & M
        if i % 4 == 3:
            out.append(val)
            val = pad
    if len(out) < num:
        out.append(val)
    while len(out) < num:
        out.append(pad)
    return out


def dirhash(name, version, seed):
    """The major hash (low bit clear) of `name` (bytes) in hash `version` (0..5)."""
    if version in (LEGACY, LEGACY_U):
        h0, h1 = 0x12A3FE2D, 0x37ABE8F9
        for c in _chars(name, version == LEGACY):
            h = (h1 + (h0 ^ ((c * 7152373) & M))) & M
            if h & 0x80000000:
                h = (h - 0x7FFFFFFF) & M
            h1 = h0
            h0 = h
        h = (h0 << 1) & M
    elif version in (HALF_MD4, HALF_MD4_U, TEA, TEA_U):
        buf = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]
        if seed and any(seed):
            buf = list(seed)
        cs = _chars(name, version in (HALF_MD4, TEA))
        md4 = version in (HALF_MD4, HALF_MD4_U)
        step = 32 if md4 else 16
        p = 0
        left = len(cs)
        while left > 0:
            blk = _str2hashbuf(cs[p:], 8 if md4 else 4)
            if md4:
                _half_md4(buf, blk)
            else:
                _tea(buf, blk)
            left -= step
            p += step
        h = buf[1] if md4 else buf[0]
    else:
        return None
    h &= ~1 & M
    if h == 0x7FFFFFFF << 1:
        h = 0x7FFFFFFE << 1
    return h
