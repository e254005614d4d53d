# RIPEMD-160 (Dobbertin, Bosselaers, Preneel 1996) for the LUKS1 volumes that
# name it as their hash. OpenSSL 3 hides it in the legacy provider and
# MicroPython has none, so dmfw.crypto.hashes falls back to this one.

import struct

from dmfw.crypto.mdhash import MDHash

_M = 0xFFFFFFFF

_RL = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
       7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8,
       3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12,
       1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2,
       4, 0, 5, 9, 7, 12, 2, 10, 14, 1, 3, 8, 11, 6, 15, 13)
_RR = (5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12,
       6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2,
       15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13,
       8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14,
       12, 15, 10, 4, 1, 5, 8, 7, 6, 2, 13, 14, 0, 3, 9, 11)
_SL = (11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8,
       7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12,
       11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5,
       11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12,
       9, 15, 5, 11, 6, 8, 13, 12, 5, 12, 13, 14, 11, 8, 5, 6)
_SR = (8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6,
       9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11,
       9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5,
       15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8,
       8, 5, 12, 9, 12, 5, 14, 6, 8, 13, 6, 5, 15, 13, 11, 11)
_KL = (0, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xA953FD4E)
_KR = (0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x7A6D76E9, 0)


def _f(j, x, y, z):
    if j == 0:
        return x ^ y ^ z
    if j == 1:
        return (x & y) | (~x & z)
    if j == 2:
        return (x | (~y & _M)) ^ z
    if j == 3:
        return (x & z) | (y & ~z)
    return x ^ (y | (~z & _M))


def _compress(h, block):
    X = struct.unpack("<16I", block)
    M = _M
    al, bl, cl, dl, el = h
    ar, br, cr, dr, er = h
    for i in range(80):
        j = i >> 4
        t = (al + _f(j, bl, cl, dl) + X[_RL[i]] + _KL[j]) & M
        s = _SL[i]
        t = (((t << s) | (t >> (32 - s))) + el) & M
        al = el
        el = dl
        dl = ((cl << 10) | (cl >> 22)) & M
        cl = bl
        bl = t
        t = (ar + _f(4 - j, br, cr, dr) + X[_RR[i]] + _KR[j]) & M
        s = _SR[i]
        t = (((t << s) | (t >> (32 - s))) + er) & M
        ar = er
        er = dr
        dr = ((cr << 10) | (cr >> 22)) & M
        cr = br
        br = t
    return ((h[1] + cl + dr) & M, (h[2] + dl + er) & M, (h[3] + el + ar) & M,
            (h[4] + al + br) & M, (h[0] + bl + cr) & M)


class ripemd160(MDHash):
    digest_size = 20
    block_size = 64
    name = "ripemd160"
    _iv = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
    _compress = staticmethod(_compress)

    def digest(self):
        pad = b"\x80" + bytes((55 - self._len) % 64)
        tail = self._buf + pad + struct.pack("<Q", (self._len * 8) & 0xFFFFFFFFFFFFFFFF)
        return struct.pack("<5I", *self._blocks(self._h, tail))
