# ECDSA verification on NIST P-256 and P-384 (FIPS 186-4), Jacobian
# coordinates, Shamir's trick for u1*G + u2*Q. Verification only, so no
# constant-time concerns.

from dmfw.errors import DMError, EBADMSG, EKEYREJECTED
from dmfw.crypto import der
from dmfw.crypto.bigint import bitlen, from_bytes, inverse

CURVES = {
    "1.2.840.10045.3.1.7": ("P-256", 32,
        0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff,
        0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b,
        0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296,
        0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5,
        0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551),
    "1.3.132.0.34": ("P-384", 48,
        0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff,
        0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef,
        0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7,
        0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f,
        0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973),
}


def reject(msg):
    return DMError(EKEYREJECTED, msg)


class Curve:
    def __init__(self, name, size, p, b, gx, gy, n):
        self.name = name
        self.size = size
        self.p = p
        self.a = p - 3
        self.b = b
        self.g = (gx, gy)
        self.n = n

    def on_curve(self, x, y):
        p = self.p
        return (y * y - (x * x * x + self.a * x + self.b)) % p == 0

    # Jacobian (X, Y, Z); Z == 0 is the point at infinity.
    def double(self, P):
        X, Y, Z = P
        if not Z or not Y:
            return (0, 1, 0)
        p = self.p
        yy = Y * Y % p
        s = 4 * X * yy % p
        zz = Z * Z % p
        m = 3 * (X - zz) * (X + zz) % p
        x3 = (m * m - 2 * s) % p
        y3 = (m * (s - x3) - 8 * yy * yy) % p
        z3 = 2 * Y * Z % p
        return (x3, y3, z3)

    def add(self, P, Q):
        if not P[2]:
            return Q
        if not Q[2]:
            return P
        p = self.p
        X1, Y1, Z1 = P
        X2, Y2, Z2 = Q
        z1z1 = Z1 * Z1 % p
        z2z2 = Z2 * Z2 % p
        u1 = X1 * z2z2 % p
        u2 = X2 * z1z1 % p
        s1 = Y1 * Z2 * z2z2 % p
        s2 = Y2 * Z1 * z1z1 % p
        h = (u2 - u1) % p
        r = (s2 - s1) % p
        if not h:
            return self.double(P) if not r else (0, 1, 0)
        hh = h * h % p
        hhh = h * hh % p
        v = u1 * hh % p
        x3 = (r * r - hhh - 2 * v) % p
        y3 = (r * (v - x3) - s1 * hhh) % p
        z3 = Z1 * Z2 * h % p
        return (x3, y3, z3)

    def affine_x(self, P):
        zi = inverse(P[2], self.p)
        return P[0] * zi * zi % self.p

    def mul_add(self, u1, u2, Q):
        G = (self.g[0], self.g[1], 1)
        Q = (Q[0], Q[1], 1)
        GQ = self.add(G, Q)
        R = (0, 1, 0)
        for i in range(max(bitlen(u1), bitlen(u2)) - 1, -1, -1):
            R = self.double(R)
            b1 = (u1 >> i) & 1
            b2 = (u2 >> i) & 1
            if b1 and b2:
                R = self.add(R, GQ)
            elif b1:
                R = self.add(R, G)
            elif b2:
                R = self.add(R, Q)
        return R


class ECPublicKey:
    def __init__(self, curve_oid, point):
        c = CURVES.get(curve_oid)
        if c is None:
            raise DMError(EBADMSG, "EC key: unsupported curve %s" % curve_oid)
        self.curve = Curve(*c)
        size = self.curve.size
        if len(point) != 1 + 2 * size or point[0] != 4:
            raise DMError(EBADMSG, "EC key: only uncompressed points are supported")
        x = from_bytes(point[1:1 + size])
        y = from_bytes(point[1 + size:])
        if x >= self.curve.p or y >= self.curve.p or not self.curve.on_curve(x, y):
            raise DMError(EBADMSG, "EC key: point not on curve")
        self.q = (x, y)

    def describe(self):
        return "EC %s" % self.curve.name

    def verify(self, digest, sig_der):
        r_node, s_node = der.seq(der.parse(sig_der), "ECDSA-Sig-Value", 2, 2)
        r = der.integer(r_node)
        s = der.integer(s_node)
        c = self.curve
        n = c.n
        if not (0 < r < n and 0 < s < n):
            raise reject("ECDSA signature out of range")
        e = from_bytes(digest)
        nbits = bitlen(n)
        if len(digest) * 8 > nbits:
            e >>= len(digest) * 8 - nbits
        w = inverse(s, n)
        R = c.mul_add(e * w % n, r * w % n, self.q)
        if not R[2] or c.affine_x(R) % n != r:
            raise reject("ECDSA signature mismatch")
