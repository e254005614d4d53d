# Volume groups as lvm2 sees them, built from one metadata copy: PVs, LVs,
# segments and the LVs they are built on, and whether an LV can be mapped
# exactly as lvm2 maps it. What cannot is refused with a reason, never
# approximated.

from dmfw.errors import DMError, FormatError, EINVAL, ENODEV, EOPNOTSUPP
from dmfw.lvm import disk, text
from dmfw.lvm.segment import SUPPORTED, segment, int_field as _int


class LVMError(DMError):
    def __init__(self, msg, errno=EINVAL):
        DMError.__init__(self, errno, msg)


def dm_name(vg, lv):
    """lvm2's dm name: each '-' in either name doubled, joined by '-'."""
    return vg.replace("-", "--") + "-" + lv.replace("-", "--")


def _nodash(u):
    return u.replace("-", "")


def _strlist(sec, key):
    v = sec.get(key, [])
    if not isinstance(v, list):
        return []
    return [x for x in v if isinstance(x, str)]


class PV:
    def __init__(self, key, sec, vgname):
        what = "VG %s PV %s" % (vgname, key)
        self.key = key                      # pv0, pv1, ... in the metadata
        u = sec.get("id")
        if not isinstance(u, str) or len(_nodash(u)) != 32:
            raise FormatError("%s: missing or invalid id" % what)
        self.uuid = _nodash(u)
        dv = sec.get("device")
        self.device_hint = dv if isinstance(dv, str) else None
        self.status = _strlist(sec, "status")
        self.dev_size = sec.get("dev_size") if isinstance(sec.get("dev_size"), int) else 0
        self.pe_start = _int(sec, "pe_start", what)
        self.pe_count = _int(sec, "pe_count", what)
        self.section = sec
        self.dev = None                     # the BlockDevice, when found
        self.label = None
        self.alloc = 0                      # extents used by LVs

    def uuid_str(self):
        return disk.format_uuid(self.uuid)

    def name(self):
        return "/dev/" + self.dev.name if self.dev is not None else "[unknown]"


def _is_type(lv, t):
    return bool(lv.segments) and lv.segments[0].type == t


class LV:
    def __init__(self, name, sec, vg):
        self.vg = vg
        self.name = name
        what = "LV %s/%s" % (vg.name, name)
        u = sec.get("id")
        if not isinstance(u, str) or len(_nodash(u)) != 32:
            raise FormatError("%s: missing or invalid id" % what)
        self.uuid = _nodash(u)
        # Flags lvm2 writes for compatibility ("flags = [...]") count as
        # status: ACTIVATION_SKIP, ERROR_WHEN_FULL, WRITE_LOCKED, ...
        self.status = _strlist(sec, "status") + _strlist(sec, "flags")
        self.visible = "VISIBLE" in self.status
        self.section = sec
        self.segments = []
        n = _int(sec, "segment_count", what)
        for i in range(1, n + 1):
            s = sec.get("segment%d" % i)
            if not isinstance(s, text.Section):
                raise FormatError("%s: segment%d missing" % (what, i))
            self.segments.append(segment(self, s, vg, "%s %s" % (what, s.name)))
        self.segments.sort(key=lambda s: s.start_extent)
        le = 0
        for s in self.segments:
            if s.start_extent != le:
                raise FormatError("%s: segments are not contiguous at extent %d"
                                  % (what, le))
            le += s.extent_count
        self.extents = le

    def uuid_str(self):
        return disk.format_uuid(self.uuid)

    def full_name(self):
        return self.vg.name + "/" + self.name

    def dm_name(self):
        return dm_name(self.vg.name, self.name)

    def size(self):
        return self.extents * self.vg.extent_size

    def writable(self):
        return "WRITE" in self.status or "WRITE_LOCKED" in self.status

    def sub_lvs(self):
        out = []
        for s in self.segments:
            for sub in s.sub_lvs():
                if sub not in out:
                    out.append(sub)
        return out

    def needed_lvs(self):
        """sub_lvs() less the legs of a degraded RAID1 left out of its table."""
        skip = []
        for s in self.segments:
            ok = s.usable_legs()
            for leg in s.raid_legs:
                if leg not in ok:
                    skip.extend(leg)
        return [lv for lv in self.sub_lvs() if lv not in skip]

    def missing(self):
        out = []
        for s in self.segments:
            for pv in s.missing():
                if pv not in out:
                    out.append(pv)
        for sub in self.sub_lvs():
            for pv in sub.missing():
                if pv not in out:
                    out.append(pv)
        return out

    def check_activation(self):
        """None if this LV can be mapped exactly as lvm2 maps it, else why not."""
        vg = self.vg
        if vg.refusal:
            return vg.refusal
        if self._checking:
            return "LV %s is built on itself; not activating." % self.full_name()
        for s in self.segments:
            if not s.mapped:
                return ("LV %s uses segment type \"%s\", which dmfw cannot map "
                        "(supported: %s); not activating."
                        % (self.full_name(), s.type, ", ".join(SUPPORTED)))
        if len(self.segments) > 1 and [s for s in self.segments
                                       if s.type in ("thin", "thin-pool")]:
            return ("LV %s: a thin or thin-pool LV of several segments is not "
                    "supported by dmfw; not activating." % self.full_name())
        if "LOCKED" in self.status or [1 for sub in self.sub_lvs() if "PVMOVE" in sub.status]:
            return ("LV %s is locked by a pvmove in progress, which dmfw cannot map; "
                    "not activating." % self.full_name())
        for s in self.segments:
            if s.type == "striped" and s.areas and s.lv_areas:
                return ("LV %s: a segment striped over both PVs and LVs is not "
                        "supported by dmfw; not activating." % self.full_name())
        for lv in vg.lvs:
            for s in lv.segments:
                if s.type == "snapshot" and s.section.get("origin") == self.name:
                    return ("LV %s has a snapshot (%s), whose snapshot-origin mapping "
                            "dmfw does not do; not activating." % (self.full_name(), lv.name))
        for s in self.segments:
            if s.reshaping or [1 for _, im in s.raid_legs
                               if [f for f in im.status if f.startswith("RESHAPE")]]:
                return ("LV %s is being reshaped, which dmfw cannot map; not "
                        "activating." % self.full_name())
        raid = [s for s in self.segments if s.type == "raid1"]
        if raid:
            # lvm2's default activation_mode "degraded": a RAID1 LV comes up
            # while one leg is complete.
            if [s for s in raid if not s.usable_legs()]:
                return ("Refusing activation of partial LV %s.  Use '--activationmode "
                        "partial' to override." % self.full_name())
        elif self.missing():
            return ("Refusing activation of partial LV %s.  Use '--activationmode "
                    "partial' to override." % self.full_name())
        for s in self.segments:
            for pv, pe in s.areas:
                end = pv.pe_start + (pe + s.area_len()) * vg.extent_size
                if end > pv.dev.nr_sectors:
                    return ("LV %s: /dev/%s has %d sectors, fewer than the %d its "
                            "extents need (truncated PV?); not activating."
                            % (self.full_name(), pv.dev.name, pv.dev.nr_sectors, end))
        self._checking = True
        try:
            for sub in self.needed_lvs():
                why = sub.check_activation()
                if why:
                    return why
        finally:
            self._checking = False
        return None

    _checking = False

    def require_activation(self):
        why = self.check_activation()
        if why:
            raise LVMError(why, EOPNOTSUPP if "segment type" in why else ENODEV)

    def is_type(self, t):
        return _is_type(self, t)


class VG:
    def __init__(self, root, vgsec):
        self.root = root
        self.section = vgsec
        self.name = vgsec.name
        self.text = None          # the raw metadata text (set by the scan's pick)
        what = "VG %s" % self.name
        u = vgsec.get("id")
        if not isinstance(u, str) or len(_nodash(u)) != 32:
            raise FormatError("%s: missing or invalid id" % what)
        self.uuid = _nodash(u)
        self.seqno = _int(vgsec, "seqno", what)
        self.extent_size = _int(vgsec, "extent_size", what)
        if not self.extent_size:
            raise FormatError("%s: zero extent_size" % what)
        self.status = _strlist(vgsec, "status")
        self.pvs = []
        self.pv_by_key = {}
        pvs = vgsec.get("physical_volumes")
        if isinstance(pvs, text.Section):
            for s in pvs.sections():
                pv = PV(s.name, s, self.name)
                self.pvs.append(pv)
                self.pv_by_key[s.name] = pv
        self.lvs = []
        lvs = vgsec.get("logical_volumes")
        if isinstance(lvs, text.Section):
            for s in lvs.sections():
                self.lvs.append(LV(s.name, s, self))
        for lv in self.lvs:
            for seg in lv.segments:
                seg.link(self, "LV %s/%s %s" % (self.name, lv.name, seg.section.name))
        self._count_allocation()
        self.refusal = None       # why no LV of this VG may be activated
        self.copies = []          # [(seqno, checksum, "/dev/x")]

    def uuid_str(self):
        return disk.format_uuid(self.uuid)

    def _count_allocation(self):
        # The extents each PV gives to LVs (pvs' PFree, vgs' VFree).
        for lv in self.lvs:
            for seg in lv.segments:
                for pv, _pe in seg.areas:
                    pv.alloc += seg.area_len()

    def lv(self, name):
        for lv in self.lvs:
            if lv.name == name:
                return lv
        return None

    def role(self, lv):
        """(parent LV, part) for an LV another is built on; (None,
        "pmspare") for the pool metadata spare."""
        if lv.name.endswith("_pmspare") and not lv.visible:
            return (None, "pmspare")
        for p in self.lvs:
            for seg in p.segments:
                if seg.log_lv is lv:
                    return (p, "log")
                for sub, _ in seg.lv_areas:
                    if sub is lv:
                        return (p, "image")
                for role in ("tmeta", "tdata"):
                    if seg.refs.get(role) is lv:
                        return (p, role)
                for meta, image in seg.raid_legs:
                    if meta is lv:
                        return (p, "rmeta")
                    if image is lv:
                        return (p, "rimage")
        return None

    def visible_lvs(self):
        return [lv for lv in self.lvs if lv.visible]

    def missing(self):
        return [pv for pv in self.pvs if pv.dev is None]

    def extent_count(self):
        return sum([pv.pe_count for pv in self.pvs])

    def free_count(self):
        return sum([pv.pe_count - pv.alloc for pv in self.pvs])


def vg_from_text(data):
    """Parse one metadata copy → (root Section, VG)."""
    root = text.parse(data)
    vgsec = None
    for k, v in root.items:
        if isinstance(v, text.Section):
            vgsec = v
            break
    if vgsec is None:
        raise FormatError("Metadata has no volume group section")
    if root.get("contents") != "Text Format Volume Group" or root.get("version") != 1:
        raise FormatError("Metadata is not LVM2 text format version 1")
    return root, VG(root, vgsec)
