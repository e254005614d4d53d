# Renaming a GPT partition (the boot command moves a boot counter in the root
# partition's label, as systemd-sysupdate names partitions `@v+@l-@d`).
# The entry changes in both arrays with new CRCs, in the order that leaves a valid
# GPT at every step: backup array, backup header, then primary array, primary
# header. A cut after the backup header leaves a primary with the old name and a
# backup with the new one, both valid: sgdisk and Linux read the primary (the old
# name) and the next rename rewrites both. A GPT with a damaged or differing copy is
# not written: repair it first (`sgdisk -v`, then `sgdisk -e`/`-b`).

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
    if ph is None:
        raise FormatError("%s: primary GPT is invalid (%s): not written" % (dev.name, pe))
    ah, ae = _read_side(dev, ph.alt_lba, last, ss)
    if ah is None:
        raise FormatError("%s: alternate GPT is invalid (%s): not written" % (dev.name, ae))
    if bytes(pe) != bytes(ae) or ph.n_ent != ah.n_ent:
        raise FormatError("%s: primary and alternate GPT differ: not written" % dev.name)
    if partno < 1 or partno > ph.n_ent:
        raise DMError(EINVAL, "%s: no partition %d" % (dev.name, partno))
    o = (partno - 1) * ENTRY_SIZE
    if bytes(pe[o:o + 16]) == bytes(16):
        raise DMError(EINVAL, "%s: partition %d is unused" % (dev.name, partno))
    ents = bytearray(pe)
    ents[o + 56:o + 128] = raw + bytes(2 * NAME_UNITS - len(raw))
    crc = crc32(ents)
    for h in (ah, ph):
        dev.writeblocks(h.ent_lba * ss >> 9, ents, (h.ent_lba * ss) & 511)
        hdr = bytearray(dev.pread(h.my_lba * ss, ss))
        hsize = struct.unpack_from("<I", hdr, 12)[0]
        struct.pack_into("<I", hdr, 88, crc)
        hdr[16:20] = bytes(4)
        struct.pack_into("<I", hdr, 16, crc32(hdr[0:hsize]))
        dev.writeblocks(h.my_lba * ss >> 9, hdr)
    dev.sync()
