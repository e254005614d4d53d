# Writing LVM2 metadata: an LV rename (lvrename's job; the boot command moves a
# boot counter with it) committed the way lvm2's format_text does it
# (lib/format_text/format-text.c: _vg_write_raw, _vg_commit_raw):
#   1. the new text, seqno + 1, goes into every metadata area's ring buffer right
#      after the committed copy (start aligned to 512 bytes, wrapping to just
#      after the mda header at the end of the area), never over the committed copy;
#   2. then each area's mda header is rewritten, one 512-byte sector, pointing
#      raw_locns[0] at the new text (its checksum inside, the header's own over it).
# Until a header is written that area still holds the old copy, so a power cut
# leaves every PV with the old or the new metadata, as lvm2 then reads them.
#
# The text is lvm2's own, edited: the LV's section name, seqno, description. An LV
# other LVs refer to by name (sub-LVs of mirrors, RAID, thin pools, snapshots) is
# refused rather than half renamed.

from dmfw.errors import DMError, EINVAL, EEXIST, ENOSPC
from dmfw.lvm import disk
from dmfw.lvm.crc import calc_crc
from dmfw.lvm.vg import LVMError

NAME_LEN = 128
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+_.-"
# apply_lvname_restrictions(): prefixes and infixes lvm2 keeps for itself.
_RESERVED_PREFIX = ("snapshot", "pvmove")
_RESERVED_INFIX = ("_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_imeta", "_iorig",
                   "_mimage", "_mlog", "_pmspare", "_rimage", "_rmeta", "_tdata",
                   "_tmeta", "_vdata", "_vorigin", "_wcorig")


def valid_name(name):
    """lvm2's validate_name(): VG and LV names."""
    return bool(name) and name[0] != "-" and name not in (".", "..") and \
        not [c for c in name if c not in _NAME_CHARS]


def check_lv_name(vg, name):
    """A new LV name checked as lvrename (lvm2 2.03) checks it, in its order and with
    its messages: length, blank, reserved names (apply_lvname_restrictions), then
    validate_name. lvm2's limit leaves room for "/dev/VG/" in NAME_LEN."""
    maxlen = NAME_LEN - len(vg) - 3
    if len(name) > maxlen:
        raise LVMError("New logical volume name \"%s\" may not exceed %d characters."
                       % (name, maxlen))
    if not name:
        raise LVMError("New logical volume name may not be blank")
    for p in _RESERVED_PREFIX:
        if name.startswith(p):
            raise LVMError("Names starting \"%s\" are reserved. Please choose a "
                           "different LV name." % p)
    for s in _RESERVED_INFIX:
        if s in name:
            raise LVMError("Names including \"%s\" are reserved. Please choose a "
                           "different LV name." % s)
    if not valid_name(name):
        raise LVMError("New logical volume name \"%s\" is invalid" % name)


def _lines_renamed(text, old, new, desc):
    """The metadata text with LV `old` called `new`, seqno + 1 and `desc` as its
    description -> (text, new seqno). lvm2's raw text has one item per line and a
    section is `name {` ... `}`."""
    lines = text.split("\n")
    depth = 0
    path = []
    hit = seq = dsc = None
    for i, line in enumerate(lines):
        s = line.strip()
        if s.endswith("{") and "=" not in s:
            path.append(s[:-1].strip())
            depth += 1
            if depth == 3 and path[1] == "logical_volumes" and path[2] == old:
                hit = i
            continue
        if s == "}":
            depth -= 1
            path.pop()
            continue
        if depth == 1 and s.startswith("seqno =") and seq is None:
            seq = i
        if depth == 0 and s.startswith("description =") and dsc is None:
            dsc = i
        if ('"%s"' % old) in s:
            raise LVMError("Cannot rename LV %s: other metadata refers to it (%s)."
                           % (old, s[:60]), EINVAL)
    if hit is None or seq is None:
        raise LVMError("Failed to find logical volume \"%s\" in the metadata" % old)
    try:
        n = int(lines[seq].split("=", 1)[1].strip()) + 1
    except ValueError:
        raise LVMError("metadata: bad seqno line")
    lines[hit] = lines[hit].replace(old, new, 1)
    lines[seq] = "seqno = %d" % n
    if dsc is not None:
        lines[dsc] = 'description = "%s"' % desc
    return "\n".join(lines), n


def _areas(vg):
    out = []
    for pv in vg.pvs:
        lab = pv.label
        if lab is None:
            raise LVMError("Cannot change VG %s while PVs are missing." % vg.name)
        for m in lab.mdas:
            if m.header_ok and not m.ignored:
                out.append((lab.dev, m))
    if not out:
        raise LVMError("VG %s has no metadata area to write." % vg.name)
    return out


def _place(m, size):
    """Where the next copy goes in area m: (offset in the area, bytes before the
    wrap). Refuses a copy that would overlap the committed one."""
    ring = m.size - disk.MDA_HEADER_SIZE
    old = m.text_size if m.text is not None else 0
    if size + old > ring:
        raise LVMError("VG metadata of %d bytes too large for circular buffer (%d)"
                       % (size, ring), ENOSPC)
    if m.text is None:
        off = disk.MDA_HEADER_SIZE
    else:
        off = (m.text_offset + m.text_size + 511) & ~511
        if off >= m.size:
            off = disk.MDA_HEADER_SIZE + (off - m.size)
    first = m.size - off
    return off, (size if size <= first else first)


def _header(dev, m, off, size, crc):
    import struct
    h = bytearray(dev.pread(m.offset, disk.MDA_HEADER_SIZE))
    flags = struct.unpack_from("<I", h, 60)[0]
    struct.pack_into("<QQII", h, 40, off, size, crc, flags)
    h[64:88] = bytes(24)          # raw_locns[1]: no precommitted copy
    struct.pack_into("<I", h, 0, calc_crc(memoryview(h)[4:]))
    return h


def rename_lv(sc, vg, old, new, description=None):
    """Rename LV `old` of `vg` (from dmfw.lvm.scan's Scan `sc`) to `new` with one
    metadata commit on every metadata area of the VG. Refused (LVMError, nothing
    written) for an invalid or taken name, a missing PV, an LV others refer to,
    or a ring too small."""
    check_lv_name(vg.name, new)
    if old == new:
        return
    lv = vg.lv(old)
    if lv is None:
        raise LVMError("Existing logical volume \"%s\" not found in volume group \"%s\""
                       % (old, vg.name))
    if vg.lv(new) is not None:
        raise LVMError("Logical Volume \"%s\" already exists in volume group \"%s\""
                       % (new, vg.name), EEXIST)
    n = len(vg.name) + len(new) + 3
    if n >= NAME_LEN:
        # lvm2 2.03 lets a name of exactly lvrename's maximum through its own check
        # and stops it here, as its lv_set_name() does.
        raise LVMError("Internal error: LV name \"%s/%s\" length %d is not supported."
                       % (vg.name, new, n))
    if vg.refusal:
        raise LVMError(vg.refusal)
    areas = _areas(vg)
    if vg.text is None:
        raise LVMError("VG %s: no committed metadata to start from." % vg.name)
    # The newest copy (the scan's pick): after a cut mid-commit some areas still
    # hold the previous seqno, and the new text must follow the newest.
    cur = bytes(vg.text)
    nul = cur.endswith(b"\0")
    body = cur[:-1] if nul else cur
    try:
        text = body.decode()
    except UnicodeError:
        raise LVMError("VG %s: metadata is not text" % vg.name)
    out, seqno = _lines_renamed(text, old, new, description or
                                "Write from dmfw: lvrename %s %s %s." % (vg.name, old, new))
    data = out.encode() + (b"\0" if nul else b"")
    crc = calc_crc(data)
    plan = []
    for dev, m in areas:
        off, first = _place(m, len(data))
        plan.append((dev, m, off, first))
    # 1. the texts (the committed copies untouched), 2. the headers.
    try:
        for dev, m, off, first in plan:
            dev.writeblocks((m.offset + off) >> 9, data[:first], (m.offset + off) & 511)
            if first < len(data):
                at = m.offset + disk.MDA_HEADER_SIZE
                dev.writeblocks(at >> 9, data[first:], at & 511)
        for dev, m, off, first in plan:
            dev.writeblocks(m.offset >> 9, _header(dev, m, off, len(data), crc))
            m.text, m.text_offset, m.text_size, m.checksum = data, off, len(data), crc
            m.wrapped = first < len(data)
    finally:
        for dev, _, _, _ in plan:
            try:
                dev.sync()
            except DMError:
                pass
    vg.seqno = seqno
    vg.text = data
    lv.name = new
