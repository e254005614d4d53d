# CRC-32 (IEEE 802.3, reflected, as zlib, GPT and lvm2 use it) in one place. MicroPython
# ports may build binascii without crc32 (MICROPY_PY_BINASCII_CRC32), so a
# table-driven fallback is kept; the table is built on first use only.

_tables = {}


def _table(poly):
    t = _tables.get(poly)
    if t is None:
        t = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ poly if c & 1 else c >> 1
            t.append(c)
        _tables[poly] = t
    return t


def _update(t, data, crc):
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def crc32_table(data, crc=0):
    return _update(_table(0xEDB88320), data, crc ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


def crc32c_raw(data, crc=0xFFFFFFFF):
    """CRC-32C (Castagnoli) without the final inversion, as the kernel's
    crc32c() (device-mapper persistent-data checksums use it)."""
    return _update(_table(0x82F63B78), data, crc)


try:
    from binascii import crc32 as _native

    def crc32(data, crc=0):
        return _native(data, crc) & 0xFFFFFFFF
except ImportError:
    crc32 = crc32_table
