# Keyslot unlock as libcryptsetup does it: derive the keyslot key from the
# passphrase (PBKDF2 or Argon2), decrypt the keyslot area (512-byte
# sectors, IV sector 0 at the area start), AF-merge the stripes, and accept
# the result only if it matches the volume key digest. Secrets live in
# bytearrays that are wiped before they are let go.

from dmfw.errors import DMError, EPERM, ENOMEM, EINVAL, ENOENT
from dmfw.luks import af

NO_KEY = "No key available with this passphrase."


def wipe(b):
    if isinstance(b, bytearray):
        b[:] = bytes(len(b))


def _b64(s):
    import binascii
    try:
        return binascii.a2b_base64(s)
    except (ValueError, TypeError):
        raise DMError(EINVAL, "invalid base64 in LUKS2 header")


def _consttime_eq(a, b):
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


def _material(dev, offset, key_len, area_len, spec, slot_key):
    """The decrypted split key of a keyslot (a bytearray)."""
    from dmfw.crypto import cipher
    n = af.split_sectors(key_len) * 512
    if area_len is not None and n > area_len or offset + n > dev.size_bytes():
        raise DMError(EINVAL, "keyslot area is truncated")
    buf = dev.pread(offset, n)
    cipher.new(spec, slot_key, 512).decrypt(buf, 0)
    return buf


def _pbkdf2(name, secret, salt, iterations, n):
    from dmfw.crypto import kdf
    return bytearray(kdf.pbkdf2(name, secret, salt, iterations, n))


class Result:
    def __init__(self, key, slot, digest=None):
        self.key = key          # bytearray: the volume key
        self.slot = slot
        self.digest = digest    # LUKS2 digest id


# -- LUKS1

def _luks1_try(h, s, passphrase):
    dk = _pbkdf2(h.hash, passphrase, s.salt, s.iterations, h.key_bytes)
    try:
        buf = _material(h.dev, s.offset * 512, h.key_bytes, None, h.cipher_spec(), dk)
    finally:
        wipe(dk)
    try:
        key = af.merge(buf, h.key_bytes, h.hash)
    finally:
        wipe(buf)
    d = _pbkdf2(h.hash, key, h.mk_salt, h.mk_iterations, 20)
    if _consttime_eq(d, h.mk_digest):
        return key
    wipe(key)
    return None


def luks1(h, passphrase, slot=None):
    from dmfw.luks.luks1 import ACTIVE
    slots = h.slots if slot is None else [h.slots[slot]]
    for s in slots:
        if s.active != ACTIVE:
            continue
        key = _luks1_try(h, s, passphrase)
        if key is not None:
            return Result(key, s.n)
    raise DMError(EPERM, NO_KEY)


# -- LUKS2

def _kdf2(k, passphrase, n, log):
    from dmfw.crypto import kdf
    t = k["type"]
    salt = _b64(k["salt"])
    if t == "pbkdf2":
        return _pbkdf2(k["hash"], passphrase, salt, k["iterations"], n)
    if t not in ("argon2i", "argon2id"):
        raise DMError(EINVAL, "unsupported PBKDF %s" % t)
    return bytearray(kdf.argon2(t, passphrase, salt, k["time"], k["memory"],
                                k["cpus"], n, limit_kib=kdf.memory_limit_kib()))


def _luks2_try(h, dev, n, ks, digest, passphrase, log):
    area = ks["area"]
    key_len = ks["key_size"]
    if ks["af"]["type"] != "luks1" or area["type"] != "raw":
        return None
    # Bounds before any allocation: no cipher takes a key over 512 bytes.
    if not 0 < key_len <= 512 or not 0 < area["key_size"] <= 512:
        raise DMError(EINVAL, "Keyslot %d has an invalid key size." % n)
    dk = _kdf2(ks["kdf"], passphrase, area["key_size"], log)
    try:
        buf = _material(dev, int(area["offset"]), key_len, int(area["size"]),
                        area["encryption"], dk)
    finally:
        wipe(dk)
    try:
        # cryptsetup merges with LUKS_STRIPES whatever the JSON says.
        key = af.merge(buf, key_len, ks["af"]["hash"])
    finally:
        wipe(buf)
    if digest["type"] != "pbkdf2":
        wipe(key)
        raise DMError(EINVAL, "unsupported digest type %s" % digest["type"])
    want = _b64(digest["digest"])
    d = _pbkdf2(digest["hash"], key, _b64(digest["salt"]), digest["iterations"],
                len(want))
    if _consttime_eq(d, want):
        return key
    wipe(key)
    return None


def priority(ks):
    p = ks.get("priority", 1)
    if not isinstance(p, int):
        return 0
    return p if p in (0, 1, 2) else 1


def luks2_order(h, slot=None):
    """(keyslot id, keyslot, digest id) in the order cryptsetup tries them
    for the default segment: priority 2 first, then 1; 0 only by --key-slot."""
    dig = h.segment_digest()
    if dig is None:
        return []
    d = h.json["digests"][dig]
    ids = sorted([int(k) for k in h.json["keyslots"]])
    out = []
    for want in (2, 1):
        for i in ids:
            k = str(i)
            ks = h.json["keyslots"][k]
            if k not in d["keyslots"]:
                continue
            if slot is not None:
                if i == slot and want == 1:
                    out.append((i, ks, dig))
                continue
            if priority(ks) == want:
                out.append((i, ks, dig))
    return out


def luks2(h, passphrase, slot=None, log=None, key_dev=None):
    """Result for the first keyslot the passphrase opens. `key_dev` holds
    the keyslot areas (the header device); `log` gets the skip messages."""
    from dmfw.crypto import kdf
    dev = key_dev or h.dev
    order = luks2_order(h, slot)
    if slot is not None and not order:
        raise DMError(ENOENT, "Keyslot %d is not active." % slot)
    skipped = False
    for i, ks, dig in order:
        try:
            key = _luks2_try(h, dev, i, ks, h.json["digests"][dig], passphrase, log)
        except kdf.KDFMemoryError as e:
            skipped = True
            if log:
                log("Keyslot %d skipped: %s" % (i, e.msg))
            continue
        if key is not None:
            return Result(key, i, dig)
    if skipped:
        raise DMError(ENOMEM, "Not enough available memory to open a keyslot.")
    raise DMError(EPERM, NO_KEY)


def unlock(h, passphrase, slot=None, log=None, key_dev=None):
    if h.version == 1:
        if slot is not None and not (0 <= slot < 8):
            raise DMError(EINVAL, "Key slot %d is invalid." % slot)
        return luks1(h, passphrase, slot)
    return luks2(h, passphrase, slot, log, key_dev)
