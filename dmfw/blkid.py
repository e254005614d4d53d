# What util-linux blkid (2.41, Debian trixie) prints for a device: the tags of the
# first signature found, in blkid's order, then the partition's own tags. Readers and
# format parsers supply the values; this module only orders and names them.
#   crypto_LUKS     UUID [LABEL SUBSYSTEM (LUKS2)] TYPE
#   DM_verity_hash  UUID TYPE
#   LVM2_member     UUID TYPE
#   ext2/3/4        [LABEL] UUID [SEC_TYPE="ext2" for ext3] BLOCK_SIZE TYPE
#   vfat            [SEC_TYPE="msdos" FAT12/16] [LABEL_FATBOOT] [LABEL] UUID BLOCK_SIZE TYPE
#   squashfs        BLOCK_SIZE TYPE
#   erofs           [LABEL] UUID BLOCK_SIZE TYPE
#   a GPT disk      PTUUID PTTYPE="gpt"
#   a GPT partition ... [PARTLABEL] PARTUUID

from dmfw.errors import DMError


def _cstr(b):
    end = b.find(b"\x00")
    raw = bytes(b if end < 0 else b[:end])
    try:
        return raw.decode()
    except UnicodeError:
        return None


def _luks(dev):
    # libblkid's probe_luks: the primary header, else a LUKS2 secondary copy;
    # a version it does not know is still crypto_LUKS, without a UUID.
    from dmfw.luks import probe_header
    found = probe_header(dev)
    if found is None:
        return None
    head = found[1]
    version = head[6] << 8 | head[7]
    tags = []
    if version == 1:
        tags.append(("UUID", _cstr(head[168:208])))
    elif version == 2:
        tags.append(("UUID", _cstr(head[168:208])))
        tags.append(("LABEL", _cstr(head[24:72])))
        tags.append(("SUBSYSTEM", _cstr(head[208:256])))
    return tags + [("TYPE", "crypto_LUKS")]


def _verity(head):
    if head[0:8] != b"verity\x00\x00":
        return None
    from dmfw.verity.superblock import uuid_str
    return [("UUID", uuid_str(bytes(head[16:32]))), ("TYPE", "DM_verity_hash")]


def _lvm(dev):
    from dmfw.lvm.disk import find_label, format_uuid
    found = find_label(dev, lambda msg: None)
    if found is None:
        return None
    lh = found[1]
    off = lh[20] | lh[21] << 8 | lh[22] << 16 | lh[23] << 24
    if off < 32 or off + 32 > 512:
        return None
    uuid = _cstr(lh[off:off + 32])
    return [("UUID", format_uuid(uuid) if uuid else None), ("TYPE", "LVM2_member")]


def _fs(dev):
    from dmfw.fs import detect, open_fs
    if detect(dev) is None:
        return None
    fs = open_fs(dev)
    tags = []
    if fs.kind == "vfat":
        if getattr(fs, "bits", 32) != 32:
            tags.append(("SEC_TYPE", "msdos"))
        tags.append(("LABEL_FATBOOT", getattr(fs, "boot_label", None)))
    if fs.kind != "squashfs":
        tags.append(("LABEL", fs.label))
        tags.append(("UUID", fs.uuid))
    if fs.kind == "ext3":
        tags.append(("SEC_TYPE", "ext2"))
    tags.append(("BLOCK_SIZE", str(fs.block_size)))
    tags.append(("TYPE", fs.kind))
    return tags


def _gpt(dev):
    from dmfw.disk.gpt import read_gpt
    try:
        g = read_gpt(dev)
    except DMError:
        return None
    if g is None or not g.disk_uuid:
        return None
    return [("PTUUID", g.disk_uuid), ("PTTYPE", "gpt")]


def _head(dev):
    try:
        return dev.pread(0, min(4096, dev.nr_sectors << 9))
    except DMError:
        return None


def _first(dev, probers, head):
    if head is None:
        return []
    for f in probers:
        try:
            tags = f(head) if f is _verity else f(dev)
        except DMError:
            tags = None
        if tags:
            return tags
    return []


_SUPERBLOCKS = (_luks, _verity, _lvm, _fs)


def probe(dev):
    """[(tag, value)] as blkid prints them for `dev` (empty: nothing found)."""
    tags = _first(dev, _SUPERBLOCKS + (_gpt,), _head(dev))
    part = getattr(dev, "part", None)
    if part is not None:
        tags.append(("PARTLABEL", part.name))
        tags.append(("PARTUUID", part.uuid))
    return [(k, v) for k, v in tags if v]


def signatures(dev):
    """[(kind, type)] of what libblkid's wipe-mode probe reports on `dev`, in its
    chain order: a "superblock" (LUKS, verity, LVM2, a filesystem), then a
    "partition" table; what cryptsetup warns about before it maps over them."""
    found = []
    head = _head(dev)
    for kind, probers, key in (("superblock", _SUPERBLOCKS, "TYPE"),
                               ("partition", (_gpt,), "PTTYPE")):
        for k, v in _first(dev, probers, head):
            if k == key:
                found.append((kind, v))
    return found


def quote(v):
    return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')


def line(name, tags):
    return "%s: %s" % (name, " ".join("%s=%s" % (k, quote(v)) for k, v in tags))
