# Key derivation for LUKS: PBKDF2 (RFC 8018) over any dmfw.crypto.hashes name
# and Argon2 (RFC 9106, dmfw.crypto.argon2) behind a memory limit, so a keyslot
# that needs more memory than the platform has fails with a clear ENOMEM
# before anything is allocated, never with an out-of-memory crash.

from dmfw.errors import DMError, ENOMEM, EINVAL


class KDFMemoryError(DMError):
    """Argon2 would need more memory than the limit allows (errno ENOMEM)."""

    def __init__(self, msg):
        super().__init__(ENOMEM, msg)


def pbkdf2(hash_name, password, salt, iterations, dklen):
    """PBKDF2-HMAC-`hash_name` (cryptsetup's names: sha1, sha256, sha512, ...)."""
    from dmfw.crypto import hashes
    if hash_name not in hashes.DIGEST_SIZE:
        raise DMError(EINVAL, "unknown hash %s" % hash_name)
    if iterations < 1 or dklen < 1:
        raise DMError(EINVAL, "bad PBKDF2 parameters")
    password = bytes(password)
    salt = bytes(salt)
    import hashlib
    fast = getattr(hashlib, "pbkdf2_hmac", None)
    if fast is not None:
        try:
            return fast(hash_name, password, salt, iterations, dklen)
        except ValueError:   # OpenSSL without this hash: the pure one below
            pass
    return _pbkdf2(hash_name, password, salt, iterations, dklen)


def _pbkdf2(hash_name, password, salt, iterations, dklen):
    from dmfw.crypto import hashes
    ctor = hashes.constructor(hash_name)
    hlen = hashes.DIGEST_SIZE[hash_name]
    bs = hashes.BLOCK_SIZE[hash_name]
    key = password
    if len(key) > bs:
        key = ctor(key).digest()
    k = int.from_bytes(key + bytes(bs - len(key)), "big")
    ipad = (k ^ int.from_bytes(b"\x36" * bs, "big")).to_bytes(bs, "big")
    opad = (k ^ int.from_bytes(b"\x5c" * bs, "big")).to_bytes(bs, "big")
    # The padded keys are hashed once; each HMAC then continues from a copy of
    # those states. Hash objects without copy() (MicroPython's) re-feed them.
    inner = ctor(ipad)
    if hasattr(inner, "copy"):
        outer = ctor(opad)

        def prf(msg):
            h = inner.copy()
            h.update(msg)
            o = outer.copy()
            o.update(h.digest())
            return o.digest()
    else:
        def prf(msg):
            return ctor(opad + ctor(ipad + msg).digest()).digest()
    out = b""
    i = 1
    while len(out) < dklen:
        u = prf(salt + i.to_bytes(4, "big"))
        acc = int.from_bytes(u, "big")
        for _ in range(iterations - 1):
            u = prf(u)
            acc ^= int.from_bytes(u, "big")
        out += acc.to_bytes(hlen, "big")
        i += 1
    return out[:dklen]
