# Renaming a GPT partition (the boot command moves a boot counter in the root
# partition's label, as systemd-sysupdate names partitions `@v+@l-@d`).
# The entry changes in both arrays with new CRCs, in the order that leaves a valid
# GPT at every step: backup array, backup header, then primary array, primary
# header. A cut after the backup header leaves a primary with the old name and a
# backup with the new one, both valid: Linux and sgdisk read the primary (the old
# name). A cut after the primary array leaves an invalid primary (its array CRC)
# and the new name in the backup, which Linux then reads.
# Either way the next rename starts from the copy Linux reads (the primary when it
# is valid, as read_gpt picks) and rewrites both copies from it -- the repair sgdisk
# makes on its next write; refusing instead would stop boot counting for good
# after one power cut. A disk with no valid copy is not written.

import struct

from dmfw.crc32 import crc32
from dmfw.disk.gpt import ENTRY_SIZE, _read_side, probe_sector_size
from dmfw.errors import DMError, FormatError, EINVAL

NAME_UNITS = 36


def utf16le(name):
    """str -> UTF-16LE bytes (MicroPython's str.encode has no UTF-16)."""
    out = bytearray()
    for ch in name:
        c = ord(ch)
        if 0xD800 <= c < 0xE000:
            raise DMError(EINVAL, "partition name: lone surrogate")
        if c >= 0x10000:
            c -= 0x10000
            for u in (0xD800 | (c >> 10), 0xDC00 | (c & 0x3FF)):
                out += struct.pack("<H", u)
        else:
            out += struct.pack("<H", c)
    return bytes(out)


def _header(src, my_lba, alt_lba, ent_lba, crc):
    """The valid header's sector `src` placed at my_lba (its copy's fields)."""
    hdr = bytearray(src)
    hsize = struct.unpack_from("<I", hdr, 12)[0]
    struct.pack_into("<QQ", hdr, 24, my_lba, alt_lba)
    struct.pack_into("<Q", hdr, 72, ent_lba)
    struct.pack_into("<I", hdr, 88, crc)
    hdr[16:20] = bytes(4)
    struct.pack_into("<I", hdr, 16, crc32(hdr[0:hsize]))
    return hdr


def set_partition_name(dev, partno, name):
    """Give partition `partno` (1-based, as Linux numbers) of the GPT on `dev` the
    label `name` (at most 36 UTF-16 code units)."""
    raw = utf16le(name)
    if len(raw) > 2 * NAME_UNITS:
        raise DMError(EINVAL, "partition name %r: longer than %d UTF-16 units"
                      % (name, NAME_UNITS))
    ss = probe_sector_size(dev)
    if ss is None:
        raise FormatError("%s: no GPT found" % dev.name)
    last = (dev.nr_sectors << 9) // ss - 1
    ph, pe = _read_side(dev, 1, last, ss)
    alt = ph.alt_lba if ph is not None else last
    ah, ae = _read_side(dev, alt, last, ss)
    if ph is None and ah is None:
        raise FormatError("%s: no valid GPT (primary: %s; backup: %s): not written"
                          % (dev.name, pe, ae))
    h = ph if ph is not None else ah
    if partno < 1 or partno > h.n_ent:
        raise DMError(EINVAL, "%s: no partition %d" % (dev.name, partno))
    ents = bytearray(pe if ph is not None else ae)
    o = (partno - 1) * ENTRY_SIZE
    if bytes(ents[o:o + 16]) == bytes(16):
        raise DMError(EINVAL, "%s: partition %d is unused" % (dev.name, partno))
    ents[o + 56:o + 128] = raw + bytes(2 * NAME_UNITS - len(raw))
    crc = crc32(ents)
    src = dev.pread(h.my_lba * ss, ss)
    arr = (len(ents) + ss - 1) // ss
    # Where each copy's array goes: its own header's place when that header is
    # valid, else the layout every GPT tool writes (LBA 2; just before the backup).
    back_ent = ah.ent_lba if ah is not None else alt - arr
    prim_ent = ph.ent_lba if ph is not None else 2
    for my, other, at in ((alt, 1, back_ent), (1, alt, prim_ent)):
        dev.writeblocks(at * ss >> 9, ents, (at * ss) & 511)
        dev.writeblocks(my * ss >> 9, _header(src, my, other, at, crc))
    dev.sync()
