# Whirlpool (ISO/IEC 10118-3, the final "version 3.0" S-box) for the LUKS1
# volumes that name it as their hash. OpenSSL 3 keeps it in the legacy
# provider and MicroPython has none. The tables are built from the S-box's
# mini-boxes on first use rather than spelled out (8 x 256 64-bit words).

import struct

from dmfw.crypto.mdhash import MDHash

_T = None   # (C0..C7, round constants)


def _tables():
    global _T
    if _T is not None:
        return _T
    E = (1, 11, 9, 12, 13, 6, 15, 3, 14, 8, 7, 4, 10, 2, 5, 0)
    R = (7, 12, 11, 13, 14, 4, 9, 15, 6, 3, 8, 10, 2, 5, 1, 0)
    Ei = [0] * 16
    for i in range(16):
        Ei[E[i]] = i
    S = []
    for u in range(256):
        a = E[u >> 4]
        b = Ei[u & 15]
        r = R[a ^ b]
        S.append((E[a ^ r] << 4) | Ei[b ^ r])

    def mul(x, k):     # in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1
        p = 0
        while k:
            if k & 1:
                p ^= x
            x <<= 1
            if x & 0x100:
                x ^= 0x11D
            k >>= 1
        return p
    M = 0xFFFFFFFFFFFFFFFF
    C0 = []
    for x in range(256):
        s = S[x]
        w = 0
        for k in (1, 1, 4, 1, 8, 5, 2, 9):
            w = (w << 8) | mul(s, k)
        C0.append(w)
    C = [C0]
    for t in range(1, 8):
        n = 8 * t
        C.append([((w >> n) | (w << (64 - n))) & M for w in C0])
    rc = []
    for r in range(10):
        w = 0
        for j in range(8):
            w = (w << 8) | S[8 * r + j]
        rc.append(w)
    _T = (C, rc)
    return _T


def _rho(K, C):
    C0, C1, C2, C3, C4, C5, C6, C7 = C
    out = []
    for i in range(8):
        out.append(C0[K[i] >> 56] ^ C1[(K[(i - 1) & 7] >> 48) & 255]
                   ^ C2[(K[(i - 2) & 7] >> 40) & 255] ^ C3[(K[(i - 3) & 7] >> 32) & 255]
                   ^ C4[(K[(i - 4) & 7] >> 24) & 255] ^ C5[(K[(i - 5) & 7] >> 16) & 255]
                   ^ C6[(K[(i - 6) & 7] >> 8) & 255] ^ C7[K[(i - 7) & 7] & 255])
    return out


def _compress(h, block):
    C, rc = _tables()
    m = struct.unpack(">8Q", block)
    K = list(h)
    st = [m[i] ^ K[i] for i in range(8)]
    for r in range(10):
        K = _rho(K, C)
        K[0] ^= rc[r]
        L = _rho(st, C)
        st = [L[i] ^ K[i] for i in range(8)]
    return [h[i] ^ st[i] ^ m[i] for i in range(8)]


class whirlpool(MDHash):
    digest_size = 64
    block_size = 64
    name = "whirlpool"
    _iv = (0,) * 8
    _compress = staticmethod(_compress)

    def digest(self):
        # 0x80, zeros up to 32 bytes short of a block, then the 256-bit bit length.
        pad = b"\x80" + bytes((31 - self._len) % 64)
        bits = self._len * 8
        tail = (self._buf + pad + bytes(16)
                + struct.pack(">QQ", bits >> 64, bits & 0xFFFFFFFFFFFFFFFF))
        return struct.pack(">8Q", *self._blocks(self._h, tail))
