# The LUKS anti-forensic splitter, merge direction only (cryptsetup's
# lib/luks1/af.c AF_merge): key = last stripe ^ diffuse(... diffuse(s0) ^ s1 ...).
# The XOR works on big integers so a stripe is one operation, not a loop
# over its bytes (4000 stripes per unlock).

from dmfw.crypto import hashes

STRIPES = 4000


def split_sectors(key_len, stripes=STRIPES):
    """512-byte sectors the split key takes (AF_split_sectors)."""
    return (key_len * stripes + 511) // 512


def _diffuse(buf, name, ds):
    n = len(buf)
    out = bytearray(n)
    i = 0
    off = 0
    while off < n:
        chunk = buf[off:off + ds]
        h = hashes.new(name)
        h.update(bytes((i >> 24 & 255, i >> 16 & 255, i >> 8 & 255, i & 255)))
        h.update(chunk)
        d = h.digest()
        out[off:off + len(chunk)] = d[:len(chunk)]
        off += ds
        i += 1
    return out


def merge(material, key_len, hash_name, stripes=STRIPES):
    """The key of `key_len` bytes split over `stripes` stripes in `material`
    (a bytearray), as a new bytearray. ValueError for an unknown hash."""
    ds = len(hashes.new(hash_name).digest())
    acc = 0
    mv = memoryview(material)
    for s in range(stripes - 1):
        acc ^= int.from_bytes(mv[s * key_len:(s + 1) * key_len], "big")
        b = bytearray(acc.to_bytes(key_len, "big"))
        b = _diffuse(b, hash_name, ds)
        acc = int.from_bytes(b, "big")
    last = stripes - 1
    acc ^= int.from_bytes(mv[last * key_len:(last + 1) * key_len], "big")
    return bytearray(acc.to_bytes(key_len, "big"))
