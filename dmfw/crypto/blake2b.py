# BLAKE2b (RFC 7693) with any digest length 1..64 and an optional key, and
# Argon2's variable-length hash H' (RFC 9106 3.3). CPython's hashlib.blake2b
# is used when present; the pure one is for MicroPython, which has none.

import struct

_M = 0xFFFFFFFFFFFFFFFF
_IV = (0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b,
       0xa54ff53a5f1d36f1, 0x510e527fade682d1, 0x9b05688c2b3e6c1f,
       0x1f83d9abfb41bd6b, 0x5be0cd19137e2179)
_SIGMA = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    (14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3),
    (11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4),
    (7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8),
    (9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13),
    (2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9),
    (12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11),
    (13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10),
    (6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5),
    (10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0),
)
# The (a, b, c, d) word indices of the eight G calls of a round.
_G = ((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15),
      (0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14))


def _compress(h, block, t, last):
    m = struct.unpack("<16Q", block)
    v = list(h) + list(_IV)
    v[12] ^= t & _M
    v[13] ^= t >> 64
    if last:
        v[14] ^= _M
    M = _M
    for r in range(12):
        s = _SIGMA[r % 10]
        for k in range(8):
            a, b, c, d = _G[k]
            va = (v[a] + v[b] + m[s[2 * k]]) & M
            vd = v[d] ^ va
            vd = ((vd >> 32) | (vd << 32)) & M
            vc = (v[c] + vd) & M
            vb = v[b] ^ vc
            vb = ((vb >> 24) | (vb << 40)) & M
            va = (va + vb + m[s[2 * k + 1]]) & M
            vd ^= va
            vd = ((vd >> 16) | (vd << 48)) & M
            vc = (vc + vd) & M
            vb ^= vc
            v[b] = ((vb >> 63) | (vb << 1)) & M
            v[a] = va
            v[c] = vc
            v[d] = vd
    return [h[i] ^ v[i] ^ v[i + 8] for i in range(8)]


class Blake2b:
    """The pure BLAKE2b, with hashlib's update/digest/copy."""
    block_size = 128

    def __init__(self, data=b"", digest_size=64, key=b""):
        if not 1 <= digest_size <= 64 or len(key) > 64:
            raise ValueError("bad BLAKE2b parameters")
        self.digest_size = digest_size
        h = list(_IV)
        h[0] ^= 0x01010000 ^ (len(key) << 8) ^ digest_size
        self._h = h
        self._t = 0
        self._buf = b""
        if key:
            self._buf = bytes(key) + bytes(128 - len(key))
        if data:
            self.update(data)

    def update(self, data):
        buf = self._buf + bytes(data)
        # The last block is compressed with the final flag, so a full block
        # waits until more data shows it is not the last.
        n = ((len(buf) - 1) // 128) * 128 if buf else 0
        h, t = self._h, self._t
        for i in range(0, n, 128):
            t += 128
            h = _compress(h, buf[i:i + 128], t, False)
        self._h, self._t, self._buf = h, t, buf[n:]

    def copy(self):
        c = Blake2b(digest_size=self.digest_size)
        c._h, c._t, c._buf = list(self._h), self._t, self._buf
        return c

    def digest(self):
        buf = self._buf
        h = _compress(self._h, buf + bytes(128 - len(buf)), self._t + len(buf), True)
        return struct.pack("<8Q", *h)[:self.digest_size]

    def hexdigest(self):
        import binascii
        return binascii.hexlify(self.digest()).decode()


def new(data=b"", digest_size=64, key=b""):
    """A BLAKE2b hash object: hashlib's where it has one, else the pure one."""
    try:
        import hashlib
        fast = hashlib.blake2b
    except (ImportError, AttributeError):
        return Blake2b(data, digest_size, key)
    return fast(bytes(data), digest_size=digest_size, key=bytes(key))


def digest(data, digest_size=64, key=b""):
    return new(data, digest_size, key).digest()


def hprime(outlen, data):
    """Argon2's H'(outlen, data): BLAKE2b up to 64 bytes, else a chain of
    64-byte BLAKE2b digests of which the first 32 bytes each are kept."""
    x = struct.pack("<I", outlen) + bytes(data)
    if outlen <= 64:
        return digest(x, outlen)
    v = digest(x)
    out = [v[:32]]
    left = outlen - 32
    while left > 64:
        v = digest(v)
        out.append(v[:32])
        left -= 32
    out.append(digest(v, left))
    return b"".join(out)
