# Argon2 (RFC 9106, version 0x13): argon2d, argon2i and argon2id in pure
# Python for LUKS2 keyslots. dmfw.crypto.kdf.argon2 is the entry point (it
# checks the memory limit first); this module is the computation.
#
# Memory is one flat bytearray of 1 KiB blocks (one allocation, no per-word
# objects kept); a block is unpacked into 128 64-bit ints to be mixed and
# packed back. Lanes are computed one after another, slice by slice: within
# a slice a lane references only its own blocks and other lanes' earlier
# slices, so this order gives the parallel result.

import struct

from dmfw.crypto.blake2b import digest as _b2b, hprime

M = 0xFFFFFFFFFFFFFFFF
TYPES = {"argon2d": 0, "argon2i": 1, "argon2id": 2}
_Q = "<128Q"
# The words of the block in column order, and where each word of the block
# sits in that order.
_COLS = tuple(2 * i + o for i in range(8)
              for o in (0, 1, 16, 17, 32, 33, 48, 49, 64, 65, 80, 81, 96, 97, 112, 113))
_UNCOLS = tuple(_COLS.index(k) for k in range(128))


def _p(v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15):
    """BLAKE2b's round without message, with Argon2's multiplications
    (BlaMka), on 16 words."""
    v0 = (v0 + v4 + 2 * (v0 & 0xFFFFFFFF) * (v4 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v12 ^= v0
    v12 = (v12 >> 32) | ((v12 << 32) & 0xFFFFFFFFFFFFFFFF)
    v8 = (v8 + v12 + 2 * (v8 & 0xFFFFFFFF) * (v12 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v4 ^= v8
    v4 = (v4 >> 24) | ((v4 << 40) & 0xFFFFFFFFFFFFFFFF)
    v0 = (v0 + v4 + 2 * (v0 & 0xFFFFFFFF) * (v4 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v12 ^= v0
    v12 = (v12 >> 16) | ((v12 << 48) & 0xFFFFFFFFFFFFFFFF)
    v8 = (v8 + v12 + 2 * (v8 & 0xFFFFFFFF) * (v12 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v4 ^= v8
    v4 = (v4 >> 63) | ((v4 << 1) & 0xFFFFFFFFFFFFFFFF)
    v1 = (v1 + v5 + 2 * (v1 & 0xFFFFFFFF) * (v5 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v13 ^= v1
    v13 = (v13 >> 32) | ((v13 << 32) & 0xFFFFFFFFFFFFFFFF)
    v9 = (v9 + v13 + 2 * (v9 & 0xFFFFFFFF) * (v13 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v5 ^= v9
    v5 = (v5 >> 24) | ((v5 << 40) & 0xFFFFFFFFFFFFFFFF)
    v1 = (v1 + v5 + 2 * (v1 & 0xFFFFFFFF) * (v5 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v13 ^= v1
    v13 = (v13 >> 16) | ((v13 << 48) & 0xFFFFFFFFFFFFFFFF)
    v9 = (v9 + v13 + 2 * (v9 & 0xFFFFFFFF) * (v13 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v5 ^= v9
    v5 = (v5 >> 63) | ((v5 << 1) & 0xFFFFFFFFFFFFFFFF)
    v2 = (v2 + v6 + 2 * (v2 & 0xFFFFFFFF) * (v6 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v14 ^= v2
    v14 = (v14 >> 32) | ((v14 << 32) & 0xFFFFFFFFFFFFFFFF)
    v10 = (v10 + v14 + 2 * (v10 & 0xFFFFFFFF) * (v14 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v6 ^= v10
    v6 = (v6 >> 24) | ((v6 << 40) & 0xFFFFFFFFFFFFFFFF)
    v2 = (v2 + v6 + 2 * (v2 & 0xFFFFFFFF) * (v6 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v14 ^= v2
    v14 = (v14 >> 16) | ((v14 << 48) & 0xFFFFFFFFFFFFFFFF)
    v10 = (v10 + v14 + 2 * (v10 & 0xFFFFFFFF) * (v14 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v6 ^= v10
    v6 = (v6 >> 63) | ((v6 << 1) & 0xFFFFFFFFFFFFFFFF)
    v3 = (v3 + v7 + 2 * (v3 & 0xFFFFFFFF) * (v7 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v15 ^= v3
    v15 = (v15 >> 32) | ((v15 << 32) & 0xFFFFFFFFFFFFFFFF)
    v11 = (v11 + v15 + 2 * (v11 & 0xFFFFFFFF) * (v15 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v7 ^= v11
    v7 = (v7 >> 24) | ((v7 << 40) & 0xFFFFFFFFFFFFFFFF)
    v3 = (v3 + v7 + 2 * (v3 & 0xFFFFFFFF) * (v7 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v15 ^= v3
    v15 = (v15 >> 16) | ((v15 << 48) & 0xFFFFFFFFFFFFFFFF)
    v11 = (v11 + v15 + 2 * (v11 & 0xFFFFFFFF) * (v15 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v7 ^= v11
    v7 = (v7 >> 63) | ((v7 << 1) & 0xFFFFFFFFFFFFFFFF)
    v0 = (v0 + v5 + 2 * (v0 & 0xFFFFFFFF) * (v5 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v15 ^= v0
    v15 = (v15 >> 32) | ((v15 << 32) & 0xFFFFFFFFFFFFFFFF)
    v10 = (v10 + v15 + 2 * (v10 & 0xFFFFFFFF) * (v15 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v5 ^= v10
    v5 = (v5 >> 24) | ((v5 << 40) & 0xFFFFFFFFFFFFFFFF)
    v0 = (v0 + v5 + 2 * (v0 & 0xFFFFFFFF) * (v5 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v15 ^= v0
    v15 = (v15 >> 16) | ((v15 << 48) & 0xFFFFFFFFFFFFFFFF)
    v10 = (v10 + v15 + 2 * (v10 & 0xFFFFFFFF) * (v15 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v5 ^= v10
    v5 = (v5 >> 63) | ((v5 << 1) & 0xFFFFFFFFFFFFFFFF)
    v1 = (v1 + v6 + 2 * (v1 & 0xFFFFFFFF) * (v6 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v12 ^= v1
    v12 = (v12 >> 32) | ((v12 << 32) & 0xFFFFFFFFFFFFFFFF)
    v11 = (v11 + v12 + 2 * (v11 & 0xFFFFFFFF) * (v12 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v6 ^= v11
    v6 = (v6 >> 24) | ((v6 << 40) & 0xFFFFFFFFFFFFFFFF)
    v1 = (v1 + v6 + 2 * (v1 & 0xFFFFFFFF) * (v6 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v12 ^= v1
    v12 = (v12 >> 16) | ((v12 << 48) & 0xFFFFFFFFFFFFFFFF)
    v11 = (v11 + v12 + 2 * (v11 & 0xFFFFFFFF) * (v12 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v6 ^= v11
    v6 = (v6 >> 63) | ((v6 << 1) & 0xFFFFFFFFFFFFFFFF)
    v2 = (v2 + v7 + 2 * (v2 & 0xFFFFFFFF) * (v7 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v13 ^= v2
    v13 = (v13 >> 32) | ((v13 << 32) & 0xFFFFFFFFFFFFFFFF)
    v8 = (v8 + v13 + 2 * (v8 & 0xFFFFFFFF) * (v13 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v7 ^= v8
    v7 = (v7 >> 24) | ((v7 << 40) & 0xFFFFFFFFFFFFFFFF)
    v2 = (v2 + v7 + 2 * (v2 & 0xFFFFFFFF) * (v7 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v13 ^= v2
    v13 = (v13 >> 16) | ((v13 << 48) & 0xFFFFFFFFFFFFFFFF)
    v8 = (v8 + v13 + 2 * (v8 & 0xFFFFFFFF) * (v13 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v7 ^= v8
    v7 = (v7 >> 63) | ((v7 << 1) & 0xFFFFFFFFFFFFFFFF)
    v3 = (v3 + v4 + 2 * (v3 & 0xFFFFFFFF) * (v4 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v14 ^= v3
    v14 = (v14 >> 32) | ((v14 << 32) & 0xFFFFFFFFFFFFFFFF)
    v9 = (v9 + v14 + 2 * (v9 & 0xFFFFFFFF) * (v14 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v4 ^= v9
    v4 = (v4 >> 24) | ((v4 << 40) & 0xFFFFFFFFFFFFFFFF)
    v3 = (v3 + v4 + 2 * (v3 & 0xFFFFFFFF) * (v4 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v14 ^= v3
    v14 = (v14 >> 16) | ((v14 << 48) & 0xFFFFFFFFFFFFFFFF)
    v9 = (v9 + v14 + 2 * (v9 & 0xFFFFFFFF) * (v14 & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    v4 ^= v9
    v4 = (v4 >> 63) | ((v4 << 1) & 0xFFFFFFFFFFFFFFFF)
    return (v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15)


def _g(x, y):
    """Argon2's compression G(X, Y) on two blocks of 128 words: P on each row
    of 16 words, then on each column (word pairs 2i, 2i+1 of every row). The
    columns are gathered and scattered with one index list each, since
    MicroPython cannot assign to strided slices."""
    r = [a ^ b for a, b in zip(x, y)]
    q = []
    for i in range(0, 128, 16):
        q += _p(*r[i:i + 16])
    q = [q[k] for k in _COLS]
    c = []
    for i in range(0, 128, 16):
        c += _p(*q[i:i + 16])
    return [c[k] ^ rk for k, rk in zip(_UNCOLS, r)]


def blocks(m, p):
    """The number of 1 KiB blocks Argon2 uses for m KiB and p lanes."""
    if m < 8 * p:
        m = 8 * p
    return (m // (4 * p)) * 4 * p


def h0(y, password, salt, t, m, p, taglen, secret=b"", ad=b"", version=0x13):
    def le(n):
        return struct.pack("<I", n)
    return _b2b(le(p) + le(taglen) + le(m) + le(t) + le(version) + le(y)
                + le(len(password)) + bytes(password) + le(len(salt)) + bytes(salt)
                + le(len(secret)) + bytes(secret) + le(len(ad)) + bytes(ad))


def compute(y, password, salt, t, m, p, taglen, memory, secret=b"", ad=b""):
    """The tag; `memory` is a zeroed bytearray of blocks(m, p) * 1024 bytes."""
    unpack, pack = struct.unpack_from, struct.pack_into
    nblocks = len(memory) // 1024
    q = nblocks // p          # lane length
    seg = q // 4
    h = h0(y, password, salt, t, m, p, taglen, secret, ad)
    for lane in range(p):
        for j in (0, 1):
            memory[(lane * q + j) * 1024:(lane * q + j + 1) * 1024] = \
                hprime(1024, h + struct.pack("<II", j, lane))
    zero = [0] * 128
    for r in range(t):
        for s in range(4):
            indep = y == 1 or (y == 2 and r == 0 and s < 2)
            for lane in range(p):
                start = 2 if r == 0 and s == 0 else 0
                if indep:
                    zin = [r, lane, s, nblocks, t, y, 0] + [0] * 121
                    addr = None
                cur = lane * q + s * seg + start
                prev = cur - 1 if cur % q else cur + q - 1
                pblk = list(unpack(_Q, memory, prev * 1024))
                for i in range(start, seg):
                    if indep:
                        if addr is None or i % 128 == 0:
                            zin[6] += 1
                            addr = _g(zero, _g(zero, zin))
                        rnd = addr[i % 128]
                    else:
                        rnd = pblk[0]
                    j1 = rnd & 0xFFFFFFFF
                    rlane = lane if r == 0 and s == 0 else (rnd >> 32) % p
                    if r == 0:
                        if s == 0 or rlane == lane:
                            area = s * seg + i - 1
                        else:
                            area = s * seg - (1 if i == 0 else 0)
                    elif rlane == lane:
                        area = q - seg + i - 1
                    else:
                        area = q - seg - (1 if i == 0 else 0)
                    x = (j1 * j1) >> 32
                    rel = area - 1 - ((area * x) >> 32)
                    startpos = 0 if r == 0 or s == 3 else (s + 1) * seg
                    ref = rlane * q + (startpos + rel) % q
                    nb = _g(pblk, unpack(_Q, memory, ref * 1024))
                    if r:
                        old = unpack(_Q, memory, cur * 1024)
                        nb = [a ^ b for a, b in zip(nb, old)]
                    pack(_Q, memory, cur * 1024, *nb)
                    pblk = nb
                    cur += 1
    c = list(unpack(_Q, memory, (q - 1) * 1024))
    for lane in range(1, p):
        last = unpack(_Q, memory, ((lane + 1) * q - 1) * 1024)
        c = [a ^ b for a, b in zip(c, last)]
    return hprime(taglen, struct.pack(_Q, *c))
