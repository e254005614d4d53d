# lvm2's calc_crc(): the reflected CRC-32 polynomial, but started from
# 0xf597a6cf and without the final inversion, so it is not zlib's crc32.
# zlib-style crc32(d, v) computes ~update(~v, d); feeding it ~INITIAL and
# inverting the result gives lvm2's value.

INITIAL_CRC = 0xf597a6cf

try:
    from binascii import crc32 as _crc32
    _crc32(b"", 0)
except (ImportError, TypeError):
    # Ports built without binascii.crc32 (it is optional in MicroPython).
    _crc32 = None

_table = None


def _make_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        t.append(c)
    return t


def calc_crc(data, crc=INITIAL_CRC):
    if _crc32 is not None:
        return _crc32(data, crc ^ 0xFFFFFFFF) ^ 0xFFFFFFFF
    return _slow(data, crc)


def _slow(data, crc):
    global _table
    if _table is None:
        _table = _make_table()
    t = _table
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc
