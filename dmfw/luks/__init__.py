# LUKS1 and LUKS2 volumes as cryptsetup 2.7 reads them: the on-disk headers
# (luks1.py, luks2.py, json validation in luks2json.py), keyslot unlock
# (unlock.py: KDF -> keyslot area -> AF merge -> digest), and the crypt
# table line libcryptsetup would load for the unlocked volume (table.py).
# Nothing here writes to a disk.

from dmfw.errors import DMError, EINVAL

MAGIC = b"LUKS\xba\xbe"
MAGIC2 = b"SKUL\xba\xbe"
# Where cryptsetup and libblkid look for a LUKS2 secondary header when the
# primary is gone (the binary header sizes cryptsetup can make, 16 KiB-4 MiB).
SECONDARY_OFFSETS = (0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000,
                     0x100000, 0x200000, 0x400000)


class NotLuks(DMError):
    """Not a LUKS device (cryptsetup: "Device %s is not a valid LUKS device.")."""

    def __init__(self, msg=None):
        DMError.__init__(self, EINVAL, msg or "not a valid LUKS device")


def version_word(head, magic=MAGIC):
    """1, 2, or None: the version of the LUKS header starting `head` (at least
    8 bytes) behind `magic` (MAGIC2 for a LUKS2 secondary header)."""
    if len(head) < 8 or bytes(head[0:6]) != magic:
        return None
    v = head[6] << 8 | head[7]
    return v if v in (1, 2) else None


def probe_header(dev):
    """(offset, first 512 bytes) of the header libblkid's probe_luks finds: the
    primary (a LUKS2 one must say hdr_offset 0), else the first LUKS2 secondary
    at its offset that says so; None when there is none. Magic and offsets
    only, no checksums: what blkid reports, not what cryptsetup would open."""
    size = dev.size_bytes()
    for off, magic in [(0, MAGIC)] + [(o, MAGIC2) for o in SECONDARY_OFFSETS]:
        if off + 512 > size:
            break
        head = dev.pread(off, 512)
        if bytes(head[0:6]) != magic:
            continue
        v = head[6] << 8 | head[7]
        if v != 2 and off == 0 or v == 2 and int.from_bytes(bytes(head[256:264]), "big") == off:
            return off, head
    return None


def version_of(dev, offset=0):
    """1, 2, or None: the version word of the header at `offset`."""
    if dev.size_bytes() < offset + 4096:
        return None
    return version_word(dev.pread(offset, 8))


def load(dev, want=None):
    """The header on `dev` (a luks1.Header or luks2.Header). `want` is
    cryptsetup's --type: "luks" (either), "luks1" or "luks2". NotLuks when
    the device holds no valid header of that kind."""
    v = version_of(dev)
    if v is None and want in (None, "luks", "luks2"):
        # A damaged primary LUKS2 header: the secondary may still be found.
        from dmfw.luks import luks2
        return luks2.load(dev)
    if v is None:
        raise NotLuks()
    if want == "luks1" and v != 1 or want == "luks2" and v != 2:
        raise NotLuks()
    if v == 1:
        from dmfw.luks import luks1
        return luks1.load(dev)
    from dmfw.luks import luks2
    return luks2.load(dev)
