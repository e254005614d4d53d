# Scanning block devices for LVM2 (lvm2's label scan and vg_read): labels
# and metadata areas per device, VGs assembled by PV UUID from the newest
# committed metadata copy, with lvm2's warnings for everything that does
# not fit (missing or duplicate PVs, older or disagreeing copies).

from dmfw.errors import DMError, ENODEV
from dmfw.lvm import disk
from dmfw.lvm.vg import LVMError, vg_from_text


class Scan:
    """The result of scanning a set of block devices for LVM2."""

    def __init__(self):
        self.warnings = []
        self.labels = []          # [PVLabel] in device order
        self.vgs = []             # [VG], sorted by name
        self.orphans = []         # [PVLabel] not in any VG

    def warn(self, msg):
        if msg not in self.warnings:
            self.warnings.append(msg)

    def vg(self, name):
        hits = [v for v in self.vgs if v.name == name]
        if not hits:
            raise LVMError("Volume group \"%s\" not found" % name, ENODEV)
        if len(hits) > 1:
            raise LVMError("Multiple VGs found with the same name: skipping %s" % name)
        return hits[0]

    def lv(self, spec):
        """VG/LV (also /dev/VG/LV) → LV."""
        s = spec[5:] if spec.startswith("/dev/") else spec
        i = s.find("/")
        if i <= 0:
            raise LVMError("\"%s\": Invalid path for Logical Volume." % spec)
        vg = self.vg(s[:i])
        lv = vg.lv(s[i + 1:])
        if lv is None:
            raise LVMError("Failed to find logical volume \"%s\"" % s, ENODEV)
        return lv


def _skip(dev):
    # lvm2's scan_lvs=0: PVs inside LVs are not looked for.
    u = getattr(dev, "uuid", None)
    return isinstance(u, str) and u.startswith("LVM-")


def scan(devices):
    """Scan `devices` (a list of BlockDevices) → Scan."""
    sc = Scan()
    by_uuid = {}
    copies = {}               # vg uuid -> [(seqno, checksum, label, text, VG)]
    for dev in devices:
        if _skip(dev):
            continue
        try:
            lab = disk.read_label(dev, sc.warn)
        except DMError as e:
            sc.warn("/dev/%s: %s" % (dev.name, e))
            continue
        if lab is None:
            continue
        sc.labels.append(lab)
        by_uuid.setdefault(lab.uuid, []).append(lab)
        for m in lab.mdas:
            if m.text is None:
                continue
            try:
                root, vg = vg_from_text(m.text)
            except DMError as e:
                sc.warn("WARNING: Failed to read metadata text at %d off %d size %d on /dev/%s: %s"
                        % (m.offset + m.text_offset, m.text_offset, m.text_size,
                           dev.name, e))
                continue
            copies.setdefault(vg.uuid, []).append((vg.seqno, m.checksum, lab, m.text, vg))
    dups = {}
    for u, labs in by_uuid.items():
        if len(labs) > 1:
            dups[u] = labs
            sc.warn("WARNING: PV %s is found on more than one device: %s."
                    % (disk.format_uuid(u), ", ".join(["/dev/" + l.dev.name for l in labs])))
    used = {}
    for vgid, cs in copies.items():
        vg = _pick(sc, cs)
        if vg is None:
            continue
        for pv in vg.pvs:
            labs = by_uuid.get(pv.uuid)
            if not labs:
                sc.warn("WARNING: Couldn't find device with uuid %s." % pv.uuid_str())
                sc.warn("WARNING: VG %s is missing PV %s (last written to %s)."
                        % (vg.name, pv.uuid_str(), pv.device_hint or "[unknown]"))
                continue
            pv.label = labs[0]
            pv.dev = labs[0].dev
            used[pv.uuid] = True
            if pv.uuid in dups and not vg.refusal:
                vg.refusal = ("Cannot activate LVs in VG %s while PVs appear on "
                              "duplicate devices." % vg.name)
        sc.vgs.append(vg)
    sc.vgs.sort(key=lambda v: v.name)
    names = {}
    for vg in sc.vgs:
        names.setdefault(vg.name, []).append(vg)
    for n, vgs in names.items():
        if len(vgs) > 1:
            sc.warn("WARNING: VG name %s is used by VGs %s."
                    % (n, " and ".join([v.uuid_str() for v in vgs])))
    for lab in sc.labels:
        if lab.uuid not in used:
            sc.orphans.append(lab)
    return sc


def _pick(sc, cs):
    """The newest copy wins; copies of one seqno must agree."""
    best = max([c[0] for c in cs])
    top = [c for c in cs if c[0] == best]
    devs = []
    for seqno, crc, lab, data, _ in cs:
        if seqno != best:
            sc.warn("WARNING: Ignoring metadata seqno %d on /dev/%s for seqno %d on "
                    "/dev/%s for VG %s." % (seqno, lab.dev.name, best,
                                           top[0][2].dev.name, top[0][4].name))
        devs.append((seqno, crc, "/dev/" + lab.dev.name))
    vg = top[0][4]
    vg.copies = devs
    # The raw text the VG was read from: a metadata commit (dmfw.lvm.commit) edits
    # this copy, not whichever area comes first (a power cut can leave older ones).
    vg.text = top[0][3]
    for seqno, crc, lab, data, _ in top[1:]:
        if crc != top[0][1] or data != top[0][3]:
            sc.warn("WARNING: Inconsistent metadata found for VG %s." % vg.name)
            vg.refusal = ("VG %s: metadata copies with seqno %d differ (/dev/%s, /dev/%s); "
                          "not activating." % (vg.name, best, top[0][2].dev.name,
                                               lab.dev.name))
            break
    return vg

