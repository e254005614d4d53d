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


ARGON2_VARIANTS = ("argon2d", "argon2i", "argon2id")
# cryptsetup's Argon2 limits (lib/utils_pbkdf.c, crypt_pbkdf_get_limits):
# at most 4 GiB, and 1 GiB when the RAM size looks bogus.
ARGON2_MAX_KIB = 4 * 1024 * 1024
ARGON2_DEFAULT_KIB = 1024 * 1024
# What the MicroPython heap keeps back for everything else (the block being
# mixed, the shell, the crypt target's buffers).
HEAP_MARGIN_KIB = 256


def argon2(variant, password, salt, time_cost, memory_kib, parallel, dklen,
           limit_kib=None, secret=b"", ad=b""):
    """Argon2 version 0x13 as libargon2 computes it. More memory than
    `limit_kib` (None: memory_limit_kib()) raises KDFMemoryError before
    anything is allocated. `secret` and `ad` exist for RFC 9106's vectors;
    LUKS2 uses neither."""
    from dmfw.crypto import argon2 as a2
    if variant not in ARGON2_VARIANTS:
        raise DMError(EINVAL, "unknown Argon2 variant %s" % variant)
    # libargon2's own limits (argon2.h): its CLI and cryptsetup refuse these too.
    if time_cost < 1 or parallel < 1 or parallel > 0xFFFFFF or dklen < 4 \
            or memory_kib < 8 * parallel or memory_kib > 0xFFFFFFFF or len(salt) < 8:
        raise DMError(EINVAL, "bad %s parameters (t=%d m=%d p=%d)"
                      % (variant, time_cost, memory_kib, parallel))
    need = a2.blocks(memory_kib, parallel)
    if limit_kib is None:
        limit_kib = memory_limit_kib()
    if need > limit_kib:
        raise KDFMemoryError("%s needs %d KiB of memory, the limit is %d KiB"
                             % (variant, need, limit_kib))
    try:
        memory = bytearray(need * 1024)
    except MemoryError:
        raise KDFMemoryError("%s needs %d KiB of memory, only less could be allocated"
                             % (variant, need))
    try:
        return a2.compute(a2.TYPES[variant], bytes(password), bytes(salt), time_cost,
                          memory_kib, parallel, dklen, memory, bytes(secret), bytes(ad))
    except MemoryError:
        raise KDFMemoryError("%s needs %d KiB of memory and more for its work, "
                             "which could not be allocated" % (variant, need))
    finally:
        _wipe(memory)


def _wipe(buf):
    """Zero `buf` in place (the blocks are derived from the passphrase), in
    chunks so no second buffer of its size is needed."""
    z = bytes(min(len(buf), 65536))
    for i in range(0, len(buf), len(z)):
        n = min(len(z), len(buf) - i)
        buf[i:i + n] = z[:n] if n < len(z) else z


def memory_limit_kib():
    """The most Argon2 memory (KiB) a keyslot may use here.
    - A firmware's `dmfw_platform` module may set KDF_MEMORY_KIB.
    - MicroPython: 3/4 of the free heap after a collection, less a margin for
      the rest of dmfw (the memory must be one contiguous bytearray).
    - CPython: as cryptsetup: half the RAM, and without swap at most half the
      free memory, capped at 4 GiB (1 GiB when the RAM size is bogus)."""
    from dmfw.boot.handoff import board
    b = board()
    v = getattr(b, "KDF_MEMORY_KIB", None) if b is not None else None
    if v is not None:
        return int(v)
    import sys
    if sys.implementation.name == "micropython":
        import gc
        gc.collect()
        return max(0, gc.mem_free() * 3 // 4 // 1024 - HEAP_MARGIN_KIB)
    return _cryptsetup_limit(_meminfo())


def _meminfo():
    info = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                k, _, rest = line.partition(":")
                w = rest.split()
                if w:
                    info[k] = int(w[0])
    except (OSError, ValueError):
        pass
    return info


def _cryptsetup_limit(info):
    total = info.get("MemTotal", 0)
    if total < 128 * 1024 or total > 0xFFFFFFFF:
        return ARGON2_DEFAULT_KIB
    kib = total // 2
    free = info.get("MemFree", 0)
    if not info.get("SwapTotal", 0) and free > 64 * 1024 and free // 2 < kib:
        kib = free // 2
    return min(kib, ARGON2_MAX_KIB)
