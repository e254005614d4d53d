# The LUKS1 header (cryptsetup lib/luks1/luks.h, big-endian), read and
# checked as LUKS_read_phdr / LUKS_check_keyslots do.

from dmfw.luks import NotLuks, version_word
from dmfw.luks.af import STRIPES, split_sectors

HDR_SIZE = 592
NUMKEYS = 8
ACTIVE = 0x00AC71F3
DISABLED = 0x0000DEAD


def _u32(b, o):
    return b[o] << 24 | b[o + 1] << 16 | b[o + 2] << 8 | b[o + 3]


def _cstr(b):
    end = b.find(b"\x00")
    raw = bytes(b if end < 0 else b[:end])
    try:
        return raw.decode()
    except UnicodeError:
        raise NotLuks()


class Keyslot:
    def __init__(self, n, b, o):
        self.n = n
        self.active = _u32(b, o)
        self.iterations = _u32(b, o + 4)
        self.salt = bytes(b[o + 8:o + 40])
        self.offset = _u32(b, o + 40)          # sectors
        self.stripes = _u32(b, o + 44)


class Header:
    version = 1
    type = "LUKS1"

    def __init__(self, b, dev):
        self.dev = dev
        self.cipher_name = _cstr(b[8:40])
        self.cipher_mode = _cstr(b[40:72])
        self.hash = _cstr(b[72:104]).lower()
        self.payload_offset = _u32(b, 104)
        self.key_bytes = _u32(b, 108)
        self.mk_digest = bytes(b[112:132])
        self.mk_salt = bytes(b[132:164])
        self.mk_iterations = _u32(b, 164)
        self.uuid = _cstr(b[168:208])
        self.slots = [Keyslot(i, b, 208 + 48 * i) for i in range(NUMKEYS)]

    def cipher_spec(self):
        """The dm-crypt cipher string: aes + xts-plain64 -> aes-xts-plain64."""
        if self.cipher_mode == "ecb":
            return self.cipher_name + "-ecb"
        return "%s-%s" % (self.cipher_name, self.cipher_mode)

    def data_offset(self):
        """The data segment's start in 512-byte sectors."""
        return self.payload_offset

    def key_size(self):
        return self.key_bytes

    def active_slots(self):
        return [s for s in self.slots if s.active == ACTIVE]


def _check(h):
    # LUKS_read_phdr: key size, hash, keyslot words; LUKS_check_keyslots:
    # areas inside the header's reach, not overlapping, 4000 stripes.
    from dmfw.crypto import hashes
    if not 0 < h.key_bytes <= 512 or h.mk_iterations == 0:
        raise NotLuks()
    try:
        hashes.new(h.hash)
    except ValueError:
        raise NotLuks("Requested LUKS hash %s is not supported." % h.hash)
    secs = split_sectors(h.key_bytes)
    for s in h.slots:
        if s.active not in (ACTIVE, DISABLED):
            raise NotLuks("LUKS keyslot %d is invalid." % s.n)
    order = sorted(h.slots, key=lambda s: s.offset)
    for s in h.slots:
        bad = s.stripes != STRIPES or s.offset * 512 < HDR_SIZE
        if h.payload_offset and (h.payload_offset <= s.offset or
                                 h.payload_offset < s.offset + secs):
            bad = True
        if bad:
            raise NotLuks("LUKS keyslot %d is invalid." % s.n)
    for i in range(NUMKEYS - 1):
        if order[i + 1].offset < order[i].offset + secs:
            raise NotLuks("LUKS keyslot %d is invalid." % order[i + 1].n)


def parse(b, dev=None):
    """A Header from the first 592 bytes; NotLuks if they are not one."""
    if len(b) < HDR_SIZE or version_word(b) != 1:
        raise NotLuks()
    h = Header(b, dev)
    _check(h)
    return h


def load(dev):
    if dev.size_bytes() < 4096:
        raise NotLuks()
    return parse(dev.pread(0, HDR_SIZE), dev)
