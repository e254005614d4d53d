# The LUKS2 header pair as cryptsetup's luks2_disk_metadata.c reads it:
# each 4096-byte binary header with its checksum (checksum_alg over the
# whole hdr_size area, csum field zeroed), the JSON area after it, the
# secondary copy at hdr_size or, when the primary is unreadable, searched
# at 16 KiB .. 4 MiB; of two good copies the higher seqid wins.

from dmfw.luks import MAGIC, MAGIC2, SECONDARY_OFFSETS, NotLuks, version_word
from dmfw.luks import luks2json

BIN = 4096
# hdr2_offsets in luks2_disk_metadata.c.


def _u64(b, o):
    v = 0
    for i in range(8):
        v = v << 8 | b[o + i]
    return v


def _cstr(b):
    end = b.find(b"\x00")
    raw = bytes(b if end < 0 else b[:end])
    try:
        return raw.decode()
    except UnicodeError:
        return None


class Header:
    version = 2
    type = "LUKS2"

    def __init__(self, dev, b, j, offset):
        self.dev = dev
        self.hdr_size = _u64(b, 8)
        self.seqid = _u64(b, 16)
        self.label = _cstr(b[24:72]) or ""
        self.csum_alg = _cstr(b[72:104])
        self.uuid = _cstr(b[168:208]) or ""
        self.subsystem = _cstr(b[208:256]) or ""
        self.offset = offset
        self.json = j
        self.metadata_size = luks2json.u64(j["config"]["json_size"]) + BIN
        self.keyslots_size = luks2json.u64(j["config"]["keyslots_size"])

    # -- the default segment (what `open` maps)
    def segment(self):
        segs = self.json["segments"]
        s = segs.get("0")
        if s is None or s.get("type") != "crypt":
            return None
        return s

    def segment_digest(self, seg_id="0"):
        for k, d in self.json["digests"].items():
            if seg_id in d["segments"]:
                return k
        return None

    def cipher_spec(self):
        s = self.segment()
        return s["encryption"] if s else None

    def data_offset(self):
        s = self.segment()
        return int(s["offset"]) // 512 if s else 0

    def key_size(self):
        d = self.segment_digest()
        for k, ks in self.json["keyslots"].items():
            if d is not None and k in self.json["digests"][d]["keyslots"]:
                return ks["key_size"]
        return None

    def flags(self):
        return self.json["config"].get("flags", [])

    def requirements(self):
        r = self.json["config"].get("requirements", {})
        return r.get("mandatory", [])


def _read_one(dev, offset, magic, size_cap):
    """(header, hdr_size): the header at `offset` if its binary header,
    checksum and JSON are good, else None; hdr_size when the binary header
    and its checksum are good (hdr_read_disk succeeded: the secondary
    follows it) even if the JSON is not, else None."""
    from dmfw.crypto import hashes
    if offset + BIN > dev.size_bytes():
        return None, None
    b = dev.pread(offset, BIN)
    if version_word(b, magic) != 2:
        return None, None
    hdr_size = _u64(b, 8)
    if hdr_size not in luks2json.METADATA_SIZES or _u64(b, 256) != offset or \
            hdr_size > size_cap or offset + hdr_size > dev.size_bytes() or \
            (magic == MAGIC2 and offset != hdr_size):
        return None, None
    alg = _cstr(b[72:104])
    try:
        h = hashes.new(alg or "")
    except ValueError:
        return None, None
    area = dev.pread(offset + BIN, hdr_size - BIN)
    stored = bytes(b[448:512])
    b[448:512] = bytes(64)
    h.update(b)
    h.update(area)
    d = h.digest()
    if stored[:len(d)] != d:
        return None, None
    end = area.find(b"\x00")
    if end < 0:
        return None, hdr_size
    import json
    try:
        j = json.loads(bytes(area[:end]).decode())
    except (ValueError, UnicodeError):
        return None, hdr_size
    try:
        luks2json.validate(j, hdr_size - BIN)
        hdr = Header(dev, b, j, offset)
    except NotLuks:
        return None, hdr_size
    return hdr, hdr_size


def load(dev):
    """The newest good copy of the LUKS2 header on `dev`; NotLuks if none."""
    size_cap = SECONDARY_OFFSETS[-1]
    p, psize = _read_one(dev, 0, MAGIC, size_cap)
    s = None
    if psize is not None:
        s, _ = _read_one(dev, psize, MAGIC2, size_cap)
    else:
        for off in SECONDARY_OFFSETS:
            s, _ = _read_one(dev, off, MAGIC2, size_cap)
            if s is not None:
                break
    if p is None and s is None:
        raise NotLuks()
    if p is None:
        return s
    if s is None or p.seqid >= s.seqid:
        return p
    return s
