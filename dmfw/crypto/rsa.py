# RSA signature verification: RSASSA-PKCS1-v1_5 and RSASSA-PSS (RFC 8017),
# public keys from X.509 SubjectPublicKeyInfo. Verification only.

from dmfw.errors import DMError, EBADMSG, EKEYREJECTED
from dmfw.crypto import der, hashes
from dmfw.crypto.bigint import bitlen, from_bytes, to_bytes

# DigestInfo prefixes (algorithm identifier with NULL parameters).
_DI_OID = {"sha1": "1.3.14.3.2.26",
           "sha224": "2.16.840.1.101.3.4.2.4",
           "sha256": "2.16.840.1.101.3.4.2.1",
           "sha384": "2.16.840.1.101.3.4.2.2",
           "sha512": "2.16.840.1.101.3.4.2.3"}


def _oid_der(dotted):
    parts = [int(x) for x in dotted.split(".")]
    body = [40 * parts[0] + parts[1]]
    out = b""
    for v in [body[0]] + parts[2:]:
        enc = [v & 0x7f]
        v >>= 7
        while v:
            enc.insert(0, 0x80 | (v & 0x7f))
            v >>= 7
        out += bytes(enc)
    return der.encode(der.OID, out)


def reject(msg):
    return DMError(EKEYREJECTED, msg)


class RSAPublicKey:
    def __init__(self, n, e):
        if n <= 0 or e <= 1 or not (n & 1):
            raise DMError(EBADMSG, "RSA key: bad modulus or exponent")
        self.n = n
        self.e = e
        self.bits = bitlen(n)
        self.k = (self.bits + 7) // 8

    def describe(self):
        return "RSA %d" % self.bits

    def _em(self, sig):
        if len(sig) != self.k:
            raise reject("RSA signature has the wrong length")
        s = from_bytes(sig)
        if s >= self.n:
            raise reject("RSA signature out of range")
        return pow(s, self.e, self.n)

    def verify_pkcs1(self, digest, alg, sig):
        m = self._em(sig)
        em = to_bytes(m, self.k)
        for params in (der.encode(der.NULL, b""), b""):
            algid = der.encode(der.SEQUENCE, _oid_der(_DI_OID[alg]) + params)
            t = der.encode(der.SEQUENCE, algid + der.encode(der.OCTET_STRING, digest))
            ps = self.k - len(t) - 3
            if ps >= 8 and em == b"\x00\x01" + b"\xff" * ps + b"\x00" + t:
                return
        raise reject("RSA PKCS#1 v1.5 signature mismatch")

    def verify_pss(self, digest, alg, sig, salt_len, mgf_alg):
        m = self._em(sig)
        embits = self.bits - 1
        emlen = (embits + 7) // 8
        hlen = len(digest)
        if m >> (emlen * 8):
            raise reject("RSA-PSS: encoded message too long")
        em = to_bytes(m, emlen)
        if emlen < hlen + salt_len + 2 or em[-1] != 0xbc:
            raise reject("RSA-PSS: inconsistent encoding")
        masked = em[:emlen - hlen - 1]
        h = em[emlen - hlen - 1:-1]
        zbits = 8 * emlen - embits
        if masked[0] & (0xff << (8 - zbits)) & 0xff:
            raise reject("RSA-PSS: inconsistent encoding")
        mask = mgf1(h, len(masked), mgf_alg)
        db = bytearray([a ^ b for a, b in zip(masked, mask)])
        db[0] &= 0xff >> zbits
        ps = emlen - hlen - salt_len - 2
        if any(db[:ps]) or db[ps] != 1:
            raise reject("RSA-PSS: inconsistent encoding")
        salt = bytes(db[len(db) - salt_len:]) if salt_len else b""
        h2 = hashes.digest(alg, bytes(8) + digest + salt)
        if h2 != h:
            raise reject("RSA-PSS signature mismatch")


def mgf1(seed, length, alg):
    out = b""
    c = 0
    while len(out) < length:
        out += hashes.digest(alg, seed + to_bytes(c, 4))
        c += 1
    return out[:length]


def from_spki(key_bits):
    """RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }"""
    n, e = der.seq(der.parse(key_bits), "RSAPublicKey", 2, 2)
    return RSAPublicKey(der.integer(n), der.integer(e))
