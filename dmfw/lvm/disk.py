# LVM2's on-disk headers (lvm2 lib/label/label.c, lib/format_text/
# text_label.c, format-text.c): the label in one of sectors 0-3, the
# pv_header behind it, each metadata area's mda_header and the committed
# metadata text in the area's ring buffer. Every check lvm2 makes is made
# here; a failed check becomes a warning in lvm2's words and that copy is
# not used.

import struct

from dmfw.errors import DMError
from dmfw.lvm.crc import calc_crc

LABEL_ID = b"LABELONE"
LVM2_TYPE = b"LVM2 001"
FMTT_MAGIC = b" LVM2 x[5A%r0N*>"
FMTT_VERSION = 1
MDA_HEADER_SIZE = 512
LABEL_SCAN_SECTORS = 4
RAW_LOCN_IGNORED = 1


def format_uuid(u):
    """32-char id → lvm2's 6-4-4-4-4-4-6 display form."""
    return "-".join([u[0:6], u[6:10], u[10:14], u[14:18], u[18:22],
                     u[22:26], u[26:32]])


class MetadataArea:
    def __init__(self, offset, size):
        self.offset = offset        # bytes from the device start
        self.size = size
        self.ignored = False
        self.text = None            # committed metadata (bytes) or None
        self.checksum = None
        self.text_offset = 0        # rlocn offset inside the area
        self.text_size = 0
        self.wrapped = False
        self.header_ok = False


class PVLabel:
    """What a device's label and metadata areas say."""

    def __init__(self, dev, sector):
        self.dev = dev
        self.sector = sector
        self.uuid = None            # 32 chars, no dashes
        self.dev_size = 0           # bytes, as recorded by pvcreate
        self.data_areas = []        # [(offset, size)] bytes
        self.mdas = []              # [MetadataArea]
        self.ext_version = 0
        self.ext_flags = 0
        self.ba_areas = []          # bootloader areas

    def uuid_str(self):
        return format_uuid(self.uuid)


def _u64(b, o):
    return struct.unpack_from("<Q", b, o)[0]


def _u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


def _locns(buf, o, end):
    # A {offset, size} list ends at the first entry with offset 0.
    out = []
    while o + 16 <= end:
        off = _u64(buf, o)
        size = _u64(buf, o + 8)
        o += 16
        if not off:
            return out, o
        out.append((off, size))
    return None, o


def find_label(dev, warn):
    """Sector 0-3 holding a valid LVM2 label → (sector, 512 bytes) or None."""
    n = min(LABEL_SCAN_SECTORS, dev.nr_sectors)
    if n <= 0:
        return None
    try:
        head = dev.pread(0, n * 512)
    except DMError:
        return None
    found = None
    for sector in range(n):
        lh = head[sector * 512:(sector + 1) * 512]
        if lh[0:8] != LABEL_ID:
            continue
        if found is not None:
            warn("Ignoring additional label on /dev/%s at sector %d"
                 % (dev.name, sector))
            continue
        if _u64(lh, 8) != sector:
            warn("/dev/%s: Label for sector %d found at sector %d - ignoring."
                 % (dev.name, _u64(lh, 8), sector))
            continue
        if calc_crc(memoryview(lh)[20:]) != _u32(lh, 16):
            warn("/dev/%s: Label checksum incorrect - ignoring." % dev.name)
            continue
        if lh[24:32] != LVM2_TYPE:
            # Another labeller's type (none that dmfw knows).
            continue
        found = (sector, lh)
    return found


def read_label(dev, warn):
    """The PV label of `dev` with its metadata areas read, or None."""
    hit = find_label(dev, warn)
    if hit is None:
        return None
    sector, lh = hit
    pv_off = _u32(lh, 20)
    if pv_off > 512 - 40:
        warn("Invalid pv_header offset %d on /dev/%s." % (pv_off, dev.name))
        return None
    pv = PVLabel(dev, sector)
    try:
        pv.uuid = str(bytes(lh[pv_off:pv_off + 32]), "ascii")
    except UnicodeError:
        pv.uuid = None
    if pv.uuid is None or not _valid_id(pv.uuid):
        warn("/dev/%s: PV header has an invalid UUID." % dev.name)
        return None
    pv.dev_size = _u64(lh, pv_off + 32)
    o = pv_off + 40
    das, o = _locns(lh, o, 512)
    if das is None:
        warn("Disk areas overflow label on /dev/%s." % dev.name)
        return None
    mdas, o = _locns(lh, o, 512)
    if mdas is None:
        warn("Metadata areas overflow label on /dev/%s." % dev.name)
        return None
    pv.data_areas = das
    if o + 8 <= 512:
        pv.ext_version = _u32(lh, o)
        pv.ext_flags = _u32(lh, o + 4)
        if pv.ext_version:
            bas, _ = _locns(lh, o + 8, 512)
            pv.ba_areas = bas or []
    for off, size in mdas:
        m = MetadataArea(off, size)
        _read_mda(dev, m, warn)
        pv.mdas.append(m)
    return pv


_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#"


def _valid_id(u):
    # id_valid() in lvm2's uuid.c: 32 characters of its alphabet.
    if len(u) != 32:
        return False
    for c in u:
        if c not in _ID_CHARS:
            return False
    return True


def _read_mda(dev, m, warn):
    where = "/dev/%s at %d" % (dev.name, m.offset)
    try:
        h = dev.pread(m.offset, MDA_HEADER_SIZE)
    except DMError:
        warn("Failed to read metadata area header on %s." % where)
        return
    bad = []
    if calc_crc(memoryview(h)[4:]) != _u32(h, 0):
        bad.append("WARNING: Wrong checksum %x in mda header on %s."
                   % (_u32(h, 0), where))
    if h[4:20] != FMTT_MAGIC:
        bad.append("WARNING: Wrong magic number in mda header on %s." % where)
    if _u32(h, 20) != FMTT_VERSION:
        bad.append("WARNING: Wrong version %d in mda header on %s."
                   % (_u32(h, 20), where))
    if _u64(h, 24) != m.offset:
        bad.append("WARNING: Wrong start sector %d in mda header on %s."
                   % (_u64(h, 24), where))
    size = _u64(h, 32)
    if size < MDA_HEADER_SIZE:
        bad.append("WARNING: Metadata area size %d too small in mda header on %s."
                   % (size, where))
    if bad:
        for line in bad:
            warn(line)
        return
    m.header_ok = True
    # The label's size for the area and the header's agree in lvm2's
    # writes; the header's is the one lvm2 reads with.
    m.size = size
    off = _u64(h, 40)
    tsize = _u64(h, 48)
    m.checksum = _u32(h, 56)
    m.ignored = bool(_u32(h, 60) & RAW_LOCN_IGNORED)
    if m.ignored or (not off and not tsize):
        return
    if off >= size or tsize > size - MDA_HEADER_SIZE or off < MDA_HEADER_SIZE:
        warn("WARNING: Metadata location out of bounds (offset %d size %d mda %d) on /dev/%s."
             % (off, tsize, size, dev.name))
        return
    wrap = 0
    if off + tsize > size:
        wrap = off + tsize - size
    m.text_offset = off
    m.text_size = tsize
    m.wrapped = wrap > 0
    try:
        text = dev.pread(m.offset + off, tsize - wrap)
        if wrap:
            text += dev.pread(m.offset + MDA_HEADER_SIZE, wrap)
    except DMError:
        warn("WARNING: Failed to read metadata text at %d off %d size %d on /dev/%s."
             % (m.offset + off, off, tsize, dev.name))
        return
    if calc_crc(text) != m.checksum:
        warn("WARNING: Checksum error on /dev/%s at offset %d."
             % (dev.name, m.offset + off))
        return
    m.text = text
