# LUKS1 and LUKS2 volumes as cryptsetup 2.7 reads them: the on-disk headers
# (luks1.py, luks2.py, json validation in luks2json.py), keyslot unlock
# (unlock.py: KDF -> keyslot area -> AF merge -> digest), and the crypt
# table line libcryptsetup would load for the unlocked volume (table.py).
# Nothing here writes to a disk.

from dmfw.errors import DMError, EINVAL

MAGIC = b"LUKS\xba\xbe"
MAGIC2 = b"SKUL\xba\xbe"


class NotLuks(DMError):
    """Not a LUKS device (cryptsetup: "Device %s is not a valid LUKS device.")."""

    def __init__(self, msg=None):
        DMError.__init__(self, EINVAL, msg or "not a valid LUKS device")


def version_of(dev, offset=0):
    """1, 2, or None: the version word of the header at `offset`."""
    if dev.size_bytes() < offset + 4096:
        return None
    head = dev.pread(offset, 8)
    if bytes(head[0:6]) != MAGIC:
        return None
    v = head[6] << 8 | head[7]
    return v if v in (1, 2) else None


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
