# ext4 metadata checksums. metadata_csum uses CRC-32C as the kernel's ext4_chksum():
# no final inversion, chained (seed -> group/inode number -> bytes). The table-driven
# CRC-32C lives in dmfw/crc32.py (shared with persistent-data); gdt_csum without
# metadata_csum uses CRC-16 (poly 0x8005 reflected, as e2fsprogs' ext2fs_crc16).

from dmfw.crc32 import crc32c_raw

_crc16_table = None


def crc32c(data, crc=0xFFFFFFFF):
    return crc32c_raw(data, crc)


def le32(v):
    return bytes((v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, (v >> 24) & 0xFF))


def _table16():
    global _crc16_table
    if _crc16_table is None:
        t = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
            t.append(c)
        _crc16_table = t
    return _crc16_table


def crc16(data, crc=0xFFFF):
    t = _table16()
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def inode_seed(fs_seed, ino, gen):
    """The per-inode seed of extent, directory and inode checksums."""
    return crc32c(le32(gen), crc32c(le32(ino), fs_seed))
