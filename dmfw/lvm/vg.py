# Volume groups as lvm2 sees them, built from one metadata copy: PVs, LVs,
# segments and the LVs they are built on, and whether an LV can be mapped
# exactly as lvm2 maps it. What cannot is refused with a reason, never
# approximated.

from dmfw.errors import DMError, FormatError, EINVAL, ENODEV, EOPNOTSUPP
from dmfw.lvm import disk, text

# Segment types dmfw maps exactly as lvm2 does (dmfw.lvm.tables).
SUPPORTED = ("striped", "mirror", "raid1", "thin-pool", "thin", "error", "zero")


class LVMError(DMError):
    def __init__(self, msg, errno=EINVAL):
        DMError.__init__(self, errno, msg)


def dm_name(vg, lv):
    """lvm2's dm name: each '-' in either name doubled, joined by '-'."""
    return vg.replace("-", "--") + "-" + lv.replace("-", "--")


def _nodash(u):
    return u.replace("-", "")


def _int(sec, key, what):
    v = sec.get(key)
    if not isinstance(v, int) or v < 0:
        raise FormatError("%s: missing or invalid %s" % (what, key))
    return v


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


class Segment:
    def __init__(self, lv, sec, vg):
        what = "LV %s/%s %s" % (vg.name, lv.name, sec.name)
        self.lv = lv
        self.section = sec
        self.start_extent = _int(sec, "start_extent", what)
        self.extent_count = _int(sec, "extent_count", what)
        t = sec.get("type")
        if not isinstance(t, str):
            raise FormatError("%s: missing segment type" % what)
        # lvm2 appends segment flags to the type: "thin-pool+METADATA_FORMAT".
        parts = t.split("+")
        t = parts[0]
        self.type = t
        self.type_flags = parts[1:]
        self.reshaping = bool([f for f in parts[1:] if "RESHAPE" in f])
        self.stripe_count = 1
        self.stripe_size = 0
        self.areas = []                     # [(PV, first extent)]
        self.lv_areas = []                  # [(LV, first extent)] once linked
        self.log_lv = None
        self.region_size = 0
        self._lv_refs = []
        self._log_ref = None
        self._refs = {}                     # role -> LV name (thin, thin-pool)
        self.refs = {}                      # role -> LV once linked
        if t == "thin-pool":
            for role, key in (("tmeta", "metadata"), ("tdata", "pool")):
                v = sec.get(key)
                if not isinstance(v, str):
                    raise FormatError("%s: missing %s" % (what, key))
                self._refs[role] = v
            self.chunk_size = _int(sec, "chunk_size", what)
            self.transaction_id = _int(sec, "transaction_id", what)
            self.zero_new_blocks = sec.get("zero_new_blocks", 1)
            self.discards = sec.get("discards", "passdown")
        if t == "thin":
            v = sec.get("thin_pool")
            if not isinstance(v, str):
                raise FormatError("%s: missing thin_pool" % what)
            self._refs["pool"] = v
            for key, role in (("external_origin", "external"), ("origin", "origin")):
                v = sec.get(key)
                if isinstance(v, str):
                    self._refs[role] = v
            self.device_id = _int(sec, "device_id", what)
            self.transaction_id = _int(sec, "transaction_id", what)
        self.raid_legs = []                 # [(rmeta LV or None, rimage LV)]
        if t == "raid1":
            n = _int(sec, "device_count", what)
            lst = sec.get("raids")
            if n < 2 or not isinstance(lst, list) or len(lst) != 2 * n or \
                    [x for x in lst if not isinstance(x, str)]:
                raise FormatError("%s: raids do not match device_count" % what)
            self._raid_refs = [(lst[2 * i], lst[2 * i + 1]) for i in range(n)]
            self.stripe_count = n
            self.region_size = _int(sec, "region_size", what)
            self.raid_opts = []
            for key in ("min_recovery_rate", "max_recovery_rate", "writebehind"):
                v = sec.get(key)
                if isinstance(v, int) and v:
                    self.raid_opts.append((key, v))
            if sec.get("data_offset", 0):
                self.reshaping = True
        if t == "mirror":
            n = _int(sec, "mirror_count", what)
            lst = sec.get("mirrors")
            if n < 1 or not isinstance(lst, list) or len(lst) != 2 * n:
                raise FormatError("%s: mirrors do not match mirror_count" % what)
            for i in range(n):
                name = lst[2 * i]
                le = lst[2 * i + 1]
                if not isinstance(name, str) or not isinstance(le, int) or le < 0:
                    raise FormatError("%s: bad mirror %d" % (what, i))
                self._lv_refs.append((name, le))
            self.stripe_count = n
            self.region_size = _int(sec, "region_size", what)
            log = sec.get("mirror_log")
            self._log_ref = log if isinstance(log, str) else None
        if t == "striped":
            n = _int(sec, "stripe_count", what)
            lst = sec.get("stripes")
            if n < 1 or not isinstance(lst, list) or len(lst) != 2 * n:
                raise FormatError("%s: stripes do not match stripe_count" % what)
            if self.extent_count % n:
                raise FormatError("%s: extent_count %d not divisible by %d stripes"
                                  % (what, self.extent_count, n))
            if n > 1:
                self.stripe_size = _int(sec, "stripe_size", what)
                if not self.stripe_size:
                    raise FormatError("%s: zero stripe_size" % what)
            self.stripe_count = n
            per = self.extent_count // n
            for i in range(n):
                pvkey = lst[2 * i]
                pe = lst[2 * i + 1]
                if not isinstance(pvkey, str) or not isinstance(pe, int) or pe < 0:
                    raise FormatError("%s: bad stripe %d" % (what, i))
                pv = vg.pv_by_key.get(pvkey)
                if pv is None:
                    # A stripe on another LV (pvmove, layered LVs).
                    self._lv_refs.append((pvkey, pe))
                    continue
                if pe + per > pv.pe_count:
                    raise FormatError("%s: extents %d-%d beyond the %d of %s"
                                      % (what, pe, pe + per - 1, pv.pe_count, pvkey))
                self.areas.append((pv, pe))
                pv.alloc += per

    def link(self, vg, what):
        """Resolve the LVs this segment is built on (after all LVs exist)."""
        for name, le in self._lv_refs:
            sub = vg.lv(name)
            if sub is None or sub is self.lv:
                raise FormatError("%s: unknown sub-LV %s" % (what, name))
            if le + self.area_len() > sub.extents:
                raise FormatError("%s: %s is shorter than the segment" % (what, name))
            self.lv_areas.append((sub, le))
        if self._log_ref is not None:
            self.log_lv = vg.lv(self._log_ref)
            if self.log_lv is None or self.log_lv is self.lv:
                raise FormatError("%s: unknown mirror log %s" % (what, self._log_ref))
        for meta, image in getattr(self, "_raid_refs", ()):
            legs = []
            for name in (meta, image):
                sub = vg.lv(name)
                if sub is None or sub is self.lv:
                    raise FormatError("%s: unknown sub-LV %s" % (what, name))
                legs.append(sub)
            if legs[1].extents < self.extent_count:
                raise FormatError("%s: %s is shorter than the segment" % (what, image))
            self.raid_legs.append((legs[0], legs[1]))
        for role, name in self._refs.items():
            sub = vg.lv(name)
            if sub is None or sub is self.lv:
                raise FormatError("%s: unknown LV %s" % (what, name))
            self.refs[role] = sub
        if self.type == "thin" and not _is_type(self.refs["pool"], "thin-pool"):
            raise FormatError("%s: %s is not a thin pool" % (what, self._refs["pool"]))

    def sub_lvs(self):
        """The LVs this segment's table refers to, in activation order."""
        out = [lv for lv, _ in self.lv_areas]
        if self.log_lv is not None:
            out.insert(0, self.log_lv)
        for meta, image in self.raid_legs:
            out.append(meta)
            out.append(image)
        for role in ("tmeta", "tdata", "pool", "external"):
            if role in self.refs:
                out.append(self.refs[role])
        return out

    def type_name(self):
        """As `lvs` shows it: a one-stripe `striped` segment is `linear`."""
        if self.type == "striped" and self.stripe_count == 1:
            return "linear"
        return self.type

    def usable_legs(self):
        """raid1 legs whose image and metadata LVs are complete."""
        return [leg for leg in self.raid_legs
                if not leg[0].missing() and not leg[1].missing()]

    def area_len(self):
        if self.type in ("mirror", "raid1"):
            return self.extent_count
        return self.extent_count // self.stripe_count

    def missing(self):
        return [pv for pv, _ in self.areas if pv.dev is None]


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
            self.segments.append(Segment(self, s, vg))
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
            if s.type not in SUPPORTED:
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
        self.refusal = None       # why no LV of this VG may be activated
        self.copies = []          # [(seqno, checksum, "/dev/x")]

    def uuid_str(self):
        return disk.format_uuid(self.uuid)

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
