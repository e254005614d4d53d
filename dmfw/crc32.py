# CRC-32 (IEEE 802.3, reflected, as zlib, GPT and lvm2 use it) in one place. MicroPython
# ports may build binascii without crc32 (MICROPY_PY_BINASCII_CRC32), so a
# table-driven fallback is kept; the table is built on first use only.

_table = None


def _make_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        t.append(c)
    return t


def crc32_table(data, crc=0):
    global _table
    if _table is None:
        _table = _make_table()
    t = _table
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:
    from binascii import crc32 as _native

    def crc32(data, crc=0):
        return _native(data, crc) & 0xFFFFFFFF
except ImportError:
    crc32 = crc32_table
