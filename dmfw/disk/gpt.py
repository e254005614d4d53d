# GUID Partition Table reader, following the checks Linux's block/partitions/
# efi.c makes: a protective (or hybrid) MBR, a primary header at LBA 1 whose
# CRC, self-LBA and usable range are sane, an entry array whose CRC matches,
# and the backup header (at the primary's alternate LBA, or the last LBA) used
# with a warning when the primary is damaged. Sector size is found the way a
# DDI is: `EFI PART` at byte 512 or at byte 4096. Addresses are converted to
# the 512-byte sectors the block layer uses.

import struct
from dmfw.errors import FormatError
from dmfw.crc32 import crc32

SIGNATURE = b"EFI PART"
HEADER_MIN = 92
ENTRY_SIZE = 128
# An entry array larger than this is refused rather than allocated (Linux
# caps it at KMALLOC_MAX_SIZE; firmware has far less memory).
MAX_ARRAY_BYTES = 1 << 20
SECTOR_SIZES = (512, 4096)


def guid_str(b):
    """16 on-disk bytes (mixed endian, as EFI stores GUIDs) -> text form."""
    a, b1, c = struct.unpack("<IHH", b[0:8])
    tail = bytes(b[8:16])
    return "%08x-%04x-%04x-%s-%s" % (a, b1, c, _hex(tail[0:2]), _hex(tail[2:8]))


def _hex(b):
    return "".join("%02x" % x for x in b)


def utf16le_name(b):
    """GPT partition names are UTF-16LE, NUL-terminated; MicroPython has no
    utf-16 codec, so decode by hand (unpaired surrogates become U+FFFD)."""
    out = []
    i = 0
    n = len(b) & ~1
    while i < n:
        u = b[i] | (b[i + 1] << 8)
        i += 2
        if u == 0:
            break
        if 0xD800 <= u < 0xDC00 and i < n:
            lo = b[i] | (b[i + 1] << 8)
            if 0xDC00 <= lo < 0xE000:
                i += 2
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)
            else:
                u = 0xFFFD
        elif 0xD800 <= u < 0xE000:
            u = 0xFFFD
        out.append(chr(u))
    return "".join(out)


class Partition:
    def __init__(self, partno, type_uuid, uuid, name, first_lba, last_lba,
                 attrs, sector_size):
        self.partno = partno            # 1-based entry index, as Linux numbers
        self.type_uuid = type_uuid
        self.uuid = uuid
        self.name = name
        self.first_lba = first_lba
        self.last_lba = last_lba
        self.attrs = attrs
        self.sector_size = sector_size
        f = sector_size >> 9
        self.start = first_lba * f              # 512-byte sectors
        self.nr_sectors = (last_lba - first_lba + 1) * f

    def __repr__(self):
        return "<Partition %d %s %s %r %d+%d>" % (
            self.partno, self.type_uuid, self.uuid, self.name, self.start,
            self.nr_sectors)


class GPT:
    def __init__(self):
        self.sector_size = 512
        self.disk_uuid = None
        self.first_usable = 0
        self.last_usable = 0
        self.partitions = []
        self.warnings = []
        self.source = "primary"          # which header was used


class _Header:
    pass


def _parse_header(buf, lba, last_lba, ss):
    """Header bytes read at `lba` -> _Header, or a reason string."""
    if bytes(buf[0:8]) != SIGNATURE:
        return "bad signature"
    (rev, hsize, hcrc, _res, my_lba, alt_lba, first, last) = struct.unpack_from(
        "<IIIIQQQQ", buf, 8)
    if hsize < HEADER_MIN or hsize > ss:
        return "header size %d out of range" % hsize
    h = bytearray(buf[0:hsize])
    h[16:20] = b"\0\0\0\0"
    if crc32(h) != hcrc:
        return "header CRC mismatch"
    if my_lba != lba:
        return "header says it is at LBA %d, found at %d" % (my_lba, lba)
    if first > last_lba or last > last_lba or last < first:
        return "usable range %d-%d outside disk" % (first, last)
    (ent_lba, n_ent, ent_size, ent_crc) = struct.unpack_from("<QIII", buf, 72)
    if ent_size != ENTRY_SIZE:
        return "entry size %d not supported" % ent_size
    if n_ent * ent_size > MAX_ARRAY_BYTES:
        return "entry array too large (%d entries)" % n_ent
    if ent_lba < 2 or ent_lba == lba or ent_lba > last_lba:
        return "entry array LBA %d invalid" % ent_lba
    r = _Header()
    r.revision = rev
    r.my_lba = my_lba
    r.alt_lba = alt_lba
    r.first = first
    r.last = last
    r.disk_uuid = guid_str(buf[56:72])
    r.ent_lba = ent_lba
    r.n_ent = n_ent
    r.ent_crc = ent_crc
    return r


def _read_side(dev, lba, last_lba, ss):
    """(header, entries) read at `lba`, or (None, reason)."""
    if lba < 1 or lba > last_lba:
        return None, "LBA %d outside disk" % lba
    h = _parse_header(dev.pread(lba * ss, ss), lba, last_lba, ss)
    if isinstance(h, str):
        return None, h
    nbytes = h.n_ent * ENTRY_SIZE
    if (h.ent_lba * ss + nbytes + ss - 1) // ss > last_lba + 1:
        return None, "entry array beyond end of disk"
    ents = dev.pread(h.ent_lba * ss, nbytes)
    if crc32(ents) != h.ent_crc:
        return None, "entry array CRC mismatch"
    return h, ents


def _check_pmbr(dev):
    mbr = dev.pread(0, 512)
    if mbr[510] != 0x55 or mbr[511] != 0xAA:
        return False
    for i in range(4):
        if mbr[446 + 16 * i + 4] == 0xEE:
            return True
    return False


def probe_sector_size(dev):
    """512 or 4096 if a GPT header signature sits at LBA 1 (primary) or at the
    last LBA (backup) for that sector size, else None. The disk's own logical
    block size is tried first."""
    size = dev.nr_sectors << 9
    order = [dev.logical_block_size] + [s for s in SECTOR_SIZES
                                        if s != dev.logical_block_size]
    for ss in order:
        if ss in SECTOR_SIZES and size >= 3 * ss and \
                bytes(dev.pread(ss, 8)) == SIGNATURE:
            return ss
    for ss in order:
        if ss in SECTOR_SIZES and size >= 3 * ss and \
                bytes(dev.pread((size // ss - 1) * ss, 8)) == SIGNATURE:
            return ss
    return None


def read_gpt(dev, sector_size=None):
    """Parse the GPT on block device `dev`. Raises FormatError if there is
    no usable GPT; damage repaired by the backup is in .warnings."""
    ss = sector_size or probe_sector_size(dev)
    if ss is None:
        raise FormatError("%s: no GPT found" % dev.name)
    size = dev.nr_sectors << 9
    if size < 3 * ss:
        raise FormatError("%s: too small for a GPT" % dev.name)
    if not _check_pmbr(dev):
        raise FormatError("%s: no protective MBR, not a GPT disk" % dev.name)
    last_lba = size // ss - 1
    g = GPT()
    g.sector_size = ss
    ph, pe = _read_side(dev, 1, last_lba, ss)
    alt = ph.alt_lba if ph is not None else last_lba
    ah, ae = _read_side(dev, alt, last_lba, ss)
    if ph is None and ah is None and alt != last_lba:
        ah, ae = _read_side(dev, last_lba, last_lba, ss)
    if ph is None and ah is None:
        raise FormatError("%s: no valid GPT (primary: %s; backup: %s)"
                          % (dev.name, pe, ae))
    if ph is None:
        g.warnings.append("%s: primary GPT is invalid (%s), using alternate GPT"
                          % (dev.name, pe))
        h, ents = ah, ae
        g.source = "backup"
    else:
        h, ents = ph, pe
        if ah is None:
            g.warnings.append("%s: alternate GPT is invalid (%s), using primary GPT"
                              % (dev.name, ae))
        elif (ah.first, ah.last, ah.disk_uuid, ah.n_ent, ah.ent_crc) != \
                (ph.first, ph.last, ph.disk_uuid, ph.n_ent, ph.ent_crc):
            g.warnings.append("%s: primary and alternate GPT headers differ"
                              % dev.name)
        if ph.alt_lba != last_lba:
            g.warnings.append("%s: alternate GPT header not at the end of the disk"
                              % dev.name)
    g.disk_uuid = h.disk_uuid
    g.first_usable = h.first
    g.last_usable = h.last
    g.partitions = _entries(ents, h.n_ent, last_lba, ss)
    return g


def _entries(ents, n, last_lba, ss):
    out = []
    zero = bytes(16)
    for i in range(n):
        o = i * ENTRY_SIZE
        e = ents[o:o + ENTRY_SIZE]
        if bytes(e[0:16]) == zero:
            continue
        first, last, attrs = struct.unpack_from("<QQQ", e, 32)
        # Linux's is_pte_valid(): entries reaching past the disk are ignored.
        if first > last_lba or last > last_lba or last < first:
            continue
        out.append(Partition(i + 1, guid_str(e[0:16]), guid_str(e[16:32]),
                             utf16le_name(e[56:128]), first, last, attrs, ss))
    return out
