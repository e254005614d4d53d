# AES block cipher (FIPS-197), ECB over whole buffers, for dm-crypt and LUKS.
#
# One backend is chosen once per process: MicroPython's cryptolib (C speed;
# 16/32-byte keys only, so a 24-byte key uses the pure code), the optional
# `cryptography` package on CPython, else the pure Python code below
# (T-tables on 32-bit words). Every backend gives the same bytes; the tests
# force each one. Modes (XTS, CBC, ESSIV) are built on top in cipher.py, so a
# backend only has to do ECB: one call per sector, not per block.

import struct

_BACKEND = None         # "cryptolib" | "cryptography" | "pure", chosen lazily
_TABLES = None          # (SBOX, INV_SBOX, TE0..3, TD0..3), built on first pure use
# Pure AES works through this many bytes at a time, so a large buffer never
# turns into one huge tuple of words.
_CHUNK = 4096


def backend():
    """The backend chosen for this process (chosen on first call)."""
    global _BACKEND
    if _BACKEND is None:
        try:
            import cryptolib  # noqa: F401  (MicroPython)
            _BACKEND = "cryptolib"
        except ImportError:
            try:
                from cryptography.hazmat.primitives.ciphers import Cipher  # noqa: F401
                _BACKEND = "cryptography"
            except ImportError:
                _BACKEND = "pure"
    return _BACKEND


def set_backend(name):
    """Force a backend (tests, benchmarks); None chooses again."""
    global _BACKEND
    _BACKEND = name


def _xtime(a):
    a <<= 1
    return (a ^ 0x11b) if a & 0x100 else a


def _mul(a, b):
    r = 0
    while b:
        if b & 1:
            r ^= a
        a = _xtime(a)
        b >>= 1
    return r


def _tables():
    global _TABLES
    if _TABLES is not None:
        return _TABLES
    # S-box from the multiplicative inverse and the affine map (FIPS-197 5.1.1),
    # with log/antilog tables over the generator 3.
    exp = [0] * 256
    log = [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x ^= _xtime(x)
    sbox = bytearray(256)
    inv = bytearray(256)
    for a in range(256):
        b = exp[(255 - log[a]) % 255] if a else 0
        s = b
        for _ in range(4):
            b = ((b << 1) | (b >> 7)) & 0xff
            s ^= b
        s ^= 0x63
        sbox[a] = s
        inv[s] = a
    te = [[0] * 256 for _ in range(4)]
    td = [[0] * 256 for _ in range(4)]
    for a in range(256):
        s = sbox[a]
        w = (_mul(s, 2) << 24) | (s << 16) | (s << 8) | _mul(s, 3)
        t = inv[a]
        v = (_mul(t, 14) << 24) | (_mul(t, 9) << 16) | (_mul(t, 13) << 8) | _mul(t, 11)
        for k in range(4):
            te[k][a] = w
            td[k][a] = v
            w = (w >> 8) | ((w & 0xff) << 24)
            v = (v >> 8) | ((v & 0xff) << 24)
    _TABLES = (sbox, inv, te[0], te[1], te[2], te[3], td[0], td[1], td[2], td[3])
    return _TABLES


def _expand(key):
    """Encryption round keys (FIPS-197 5.2) and the equivalent inverse-cipher
    round keys (5.3.5), as lists of 32-bit words."""
    t = _tables()
    sbox = t[0]
    nk = len(key) // 4
    nr = nk + 6
    w = list(struct.unpack(">%dI" % nk, key))
    rcon = 1
    for i in range(nk, 4 * (nr + 1)):
        x = w[i - 1]
        if i % nk == 0:
            x = ((sbox[(x >> 16) & 255] << 24) | (sbox[(x >> 8) & 255] << 16)
                 | (sbox[x & 255] << 8) | sbox[x >> 24]) ^ (rcon << 24)
            rcon = _xtime(rcon)
        elif nk > 6 and i % nk == 4:
            x = ((sbox[x >> 24] << 24) | (sbox[(x >> 16) & 255] << 16)
                 | (sbox[(x >> 8) & 255] << 8) | sbox[x & 255])
        w.append(w[i - nk] ^ x)
    # Inverse: round keys in reverse order, InvMixColumns on the inner ones
    # (Td[k][sbox[b]] is InvMixColumns of byte b alone). Each group of four is
    # stored as words 0, 3, 2, 1: see _crypt.
    td0, td1, td2, td3 = t[6], t[7], t[8], t[9]
    d = []
    for r in range(nr, -1, -1):
        g = []
        for c in range(4):
            x = w[4 * r + c]
            if 0 < r < nr:
                x = (td0[sbox[x >> 24]] ^ td1[sbox[(x >> 16) & 255]]
                     ^ td2[sbox[(x >> 8) & 255]] ^ td3[sbox[x & 255]])
            g.append(x)
        d += [g[0], g[3], g[2], g[1]]
    return nr, w, d


def _crypt(buf, nr, rk, t0, t1, t2, t3, sb, inverse):
    # In place on `buf` (bytearray or memoryview), _CHUNK bytes at a time.
    # The inverse cipher's ShiftRows goes the other way; with the state (and
    # its round keys) held as words 0, 3, 2, 1 its rounds are the same
    # formulas as the forward cipher's, so one loop serves both.
    p1, p3 = (3, 1) if inverse else (1, 3)
    n = len(buf)
    off = 0
    last = 4 * nr
    k0, k1, k2, k3 = rk[0], rk[1], rk[2], rk[3]
    l0, l1, l2, l3 = rk[last], rk[last + 1], rk[last + 2], rk[last + 3]
    while off < n:
        m = min(_CHUNK, n - off)
        fmt = ">%dI" % (m // 4)
        words = struct.unpack_from(fmt, buf, off)
        out = [0] * (m // 4)
        for i in range(0, m // 4, 4):
            s0 = words[i] ^ k0
            s1 = words[i + p1] ^ k1
            s2 = words[i + 2] ^ k2
            s3 = words[i + p3] ^ k3
            for k in range(4, last, 4):
                u0 = (t0[s0 >> 24] ^ t1[(s1 >> 16) & 255]
                      ^ t2[(s2 >> 8) & 255] ^ t3[s3 & 255] ^ rk[k])
                u1 = (t0[s1 >> 24] ^ t1[(s2 >> 16) & 255]
                      ^ t2[(s3 >> 8) & 255] ^ t3[s0 & 255] ^ rk[k + 1])
                u2 = (t0[s2 >> 24] ^ t1[(s3 >> 16) & 255]
                      ^ t2[(s0 >> 8) & 255] ^ t3[s1 & 255] ^ rk[k + 2])
                s3 = (t0[s3 >> 24] ^ t1[(s0 >> 16) & 255]
                      ^ t2[(s1 >> 8) & 255] ^ t3[s2 & 255] ^ rk[k + 3])
                s0 = u0
                s1 = u1
                s2 = u2
            out[i] = ((sb[s0 >> 24] << 24) | (sb[(s1 >> 16) & 255] << 16)
                      | (sb[(s2 >> 8) & 255] << 8) | sb[s3 & 255]) ^ l0
            out[i + p1] = ((sb[s1 >> 24] << 24) | (sb[(s2 >> 16) & 255] << 16)
                           | (sb[(s3 >> 8) & 255] << 8) | sb[s0 & 255]) ^ l1
            out[i + 2] = ((sb[s2 >> 24] << 24) | (sb[(s3 >> 16) & 255] << 16)
                          | (sb[(s0 >> 8) & 255] << 8) | sb[s1 & 255]) ^ l2
            out[i + p3] = ((sb[s3 >> 24] << 24) | (sb[(s0 >> 16) & 255] << 16)
                           | (sb[(s1 >> 8) & 255] << 8) | sb[s2 & 255]) ^ l3
        struct.pack_into(fmt, buf, off, *out)
        off += m


class AES:
    """AES with a 16, 24 or 32-byte key; encrypt_blocks/decrypt_blocks work in
    place on a bytearray or writable memoryview whose length is a multiple of
    16 (ECB: each block on its own)."""

    def __init__(self, key, backend_name=None):
        if len(key) not in (16, 24, 32):
            raise ValueError("AES key must be 16, 24 or 32 bytes")
        b = backend_name or backend()
        if b == "cryptolib" and len(key) == 24:
            b = "pure"      # cryptolib.aes refuses 192-bit keys
        self.backend = b
        self._enc = self._dec = None
        self._rk = None
        if b == "cryptolib":
            import cryptolib
            # An aes object either encrypts or decrypts (its first use fixes
            # it): keep one of each. Mode 1 is ECB.
            k = bytes(key)
            self._enc = cryptolib.aes(k, 1)
            self._dec = cryptolib.aes(k, 1)
        elif b == "cryptography":
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
            self._cipher = Cipher(algorithms.AES(bytes(key)), modes.ECB())
        elif b == "pure":
            self._rk = _expand(bytes(key))
        else:
            raise ValueError("unknown AES backend " + b)

    def _check(self, buf):
        if len(buf) % 16:
            raise ValueError("AES data must be a multiple of 16 bytes")

    def encrypt_blocks(self, buf):
        self._check(buf)
        b = self.backend
        if b == "cryptolib":
            self._enc.encrypt(buf, buf)
        elif b == "cryptography":
            e = self._cipher.encryptor()
            buf[:] = e.update(bytes(buf))
        else:
            t = _tables()
            nr, w, _d = self._rk
            _crypt(buf, nr, w, t[2], t[3], t[4], t[5], t[0], False)

    def decrypt_blocks(self, buf):
        self._check(buf)
        b = self.backend
        if b == "cryptolib":
            self._dec.decrypt(buf, buf)
        elif b == "cryptography":
            d = self._cipher.decryptor()
            buf[:] = d.update(bytes(buf))
        else:
            t = _tables()
            nr, _w, d = self._rk
            _crypt(buf, nr, d, t[6], t[7], t[8], t[9], t[1], True)

    def wipe(self):
        """Drop the key schedule (the caller zeroes its key bytes)."""
        self._enc = self._dec = self._rk = None
        self._cipher = None
