# lvm2's calc_crc(): the reflected CRC-32 polynomial, but started from
# 0xf597a6cf and without the final inversion, so it is not zlib's crc32.
# zlib-style crc32(d, v) computes ~update(~v, d); feeding it ~INITIAL and
# inverting the result gives lvm2's value.

from dmfw.crc32 import crc32, crc32_table

INITIAL_CRC = 0xf597a6cf


def calc_crc(data, crc=INITIAL_CRC):
    return crc32(data, crc ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


def _slow(data, crc):
    # The table-driven path, whatever the port has (tests compare the two).
    return crc32_table(data, crc ^ 0xFFFFFFFF) ^ 0xFFFFFFFF
