# LV segments, one small class per lvm2 segment type, chosen from a table
# (as dissect.volume's lvm/metadata.py does). Every segment has the fields
# of lvm2's struct lv_segment, so readers never ask which type has what:
# a segment without stripes has stripe_count 1 and no areas. Constructors
# only read the metadata text; linking to other LVs happens in link(), and
# the VG counts the extents its PVs give away (VG._count_allocation).

from dmfw.errors import FormatError


def int_field(sec, key, what):
    v = sec.get(key)
    if not isinstance(v, int) or v < 0:
        raise FormatError("%s: missing or invalid %s" % (what, key))
    return v


def _str_field(sec, key, what):
    v = sec.get(key)
    if not isinstance(v, str):
        raise FormatError("%s: missing %s" % (what, key))
    return v


def _pairs(sec, key, what, noun):
    """lvm2's `key = ["name", extent, ...]` list of `<noun>_count` (name,
    extent) pairs: mirrors, stripes."""
    n = int_field(sec, noun + "_count", what)
    lst = sec.get(key)
    if n < 1 or not isinstance(lst, list) or len(lst) != 2 * n:
        raise FormatError("%s: %s do not match %s_count" % (what, key, noun))
    out = []
    for i in range(n):
        name, le = lst[2 * i], lst[2 * i + 1]
        if not isinstance(name, str) or not isinstance(le, int) or le < 0:
            raise FormatError("%s: bad %s %d" % (what, noun, i))
        out.append((name, le))
    return out


class Segment:
    """A segment of a type dmfw maps (subclasses) or refuses (this class:
    `mapped` is False and check_activation says why)."""
    mapped = False

    def __init__(self, lv, sec, vg, what, t, flags):
        self.lv = lv
        self.section = sec
        self.start_extent = int_field(sec, "start_extent", what)
        self.extent_count = int_field(sec, "extent_count", what)
        self.type = t
        self.type_flags = flags
        self.reshaping = bool([f for f in flags if "RESHAPE" in f])
        self.stripe_count = 1
        self.stripe_size = 0
        self.region_size = 0
        self.areas = []                     # [(PV, first extent)]
        self.lv_areas = []                  # [(LV, first extent)] once linked
        self.log_lv = None
        self.raid_legs = []                 # [(rmeta LV or None, rimage LV)]
        self.refs = {}                      # role -> LV once linked (thin, thin-pool)
        # Names to resolve in link(), once every LV of the VG exists.
        self.lv_refs = []                   # [(LV name, first extent)]
        self.log_ref = None
        self.raid_refs = []                 # [(rmeta name, rimage name)]
        self.role_refs = {}                 # role -> LV name
        self.parse(sec, vg, what)

    def parse(self, sec, vg, what):
        """Type-specific fields; the base type has none."""

    def link(self, vg, what):
        """Resolve the LVs this segment is built on (after all LVs exist)."""
        for name, le in self.lv_refs:
            sub = vg.lv(name)
            if sub is None or sub is self.lv:
                raise FormatError("%s: unknown sub-LV %s" % (what, name))
            if le + self.area_len() > sub.extents:
                raise FormatError("%s: %s is shorter than the segment" % (what, name))
            self.lv_areas.append((sub, le))
        if self.log_ref is not None:
            self.log_lv = vg.lv(self.log_ref)
            if self.log_lv is None or self.log_lv is self.lv:
                raise FormatError("%s: unknown mirror log %s" % (what, self.log_ref))
        for meta, image in self.raid_refs:
            legs = []
            for name in (meta, image):
                sub = vg.lv(name)
                if sub is None or sub is self.lv:
                    raise FormatError("%s: unknown sub-LV %s" % (what, name))
                legs.append(sub)
            if legs[1].extents < self.extent_count:
                raise FormatError("%s: %s is shorter than the segment" % (what, image))
            self.raid_legs.append((legs[0], legs[1]))
        for role, name in self.role_refs.items():
            sub = vg.lv(name)
            if sub is None or sub is self.lv:
                raise FormatError("%s: unknown LV %s" % (what, name))
            self.refs[role] = sub

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
        """Extents of one area (a stripe, or a whole leg)."""
        return self.extent_count // self.stripe_count

    def missing(self):
        return [pv for pv, _ in self.areas if pv.dev is None]


class StripedSegment(Segment):
    mapped = True

    def parse(self, sec, vg, what):
        stripes = _pairs(sec, "stripes", what, "stripe")
        n = len(stripes)
        if self.extent_count % n:
            raise FormatError("%s: extent_count %d not divisible by %d stripes"
                              % (what, self.extent_count, n))
        if n > 1:
            self.stripe_size = int_field(sec, "stripe_size", what)
            if not self.stripe_size:
                raise FormatError("%s: zero stripe_size" % what)
        self.stripe_count = n
        per = self.extent_count // n
        for pvkey, pe in stripes:
            pv = vg.pv_by_key.get(pvkey)
            if pv is None:
                # A stripe on another LV (pvmove, layered LVs).
                self.lv_refs.append((pvkey, pe))
                continue
            if pe + per > pv.pe_count:
                raise FormatError("%s: extents %d-%d beyond the %d of %s"
                                  % (what, pe, pe + per - 1, pv.pe_count, pvkey))
            self.areas.append((pv, pe))


class MirrorSegment(Segment):
    mapped = True

    def parse(self, sec, vg, what):
        self.lv_refs = _pairs(sec, "mirrors", what, "mirror")
        self.stripe_count = len(self.lv_refs)
        self.region_size = int_field(sec, "region_size", what)
        log = sec.get("mirror_log")
        self.log_ref = log if isinstance(log, str) else None

    def area_len(self):
        return self.extent_count


class Raid1Segment(Segment):
    mapped = True

    def parse(self, sec, vg, what):
        n = int_field(sec, "device_count", what)
        lst = sec.get("raids")
        if n < 2 or not isinstance(lst, list) or len(lst) != 2 * n or \
                [x for x in lst if not isinstance(x, str)]:
            raise FormatError("%s: raids do not match device_count" % what)
        self.raid_refs = [(lst[2 * i], lst[2 * i + 1]) for i in range(n)]
        self.stripe_count = n
        self.region_size = int_field(sec, "region_size", what)
        self.raid_opts = []
        for key in ("min_recovery_rate", "max_recovery_rate", "writebehind"):
            v = sec.get(key)
            if isinstance(v, int) and v:
                self.raid_opts.append((key, v))
        if sec.get("data_offset", 0):
            self.reshaping = True

    def area_len(self):
        return self.extent_count


class ThinPoolSegment(Segment):
    mapped = True

    def parse(self, sec, vg, what):
        self.role_refs = {"tmeta": _str_field(sec, "metadata", what),
                          "tdata": _str_field(sec, "pool", what)}
        self.chunk_size = int_field(sec, "chunk_size", what)
        self.transaction_id = int_field(sec, "transaction_id", what)
        self.zero_new_blocks = sec.get("zero_new_blocks", 1)
        self.discards = sec.get("discards", "passdown")


class ThinSegment(Segment):
    mapped = True

    def parse(self, sec, vg, what):
        self.role_refs = {"pool": _str_field(sec, "thin_pool", what)}
        for key, role in (("external_origin", "external"), ("origin", "origin")):
            v = sec.get(key)
            if isinstance(v, str):
                self.role_refs[role] = v
        self.device_id = int_field(sec, "device_id", what)
        self.transaction_id = int_field(sec, "transaction_id", what)

    def link(self, vg, what):
        Segment.link(self, vg, what)
        pool = self.refs["pool"]
        if not (pool.segments and pool.segments[0].type == "thin-pool"):
            raise FormatError("%s: %s is not a thin pool" % (what, self.role_refs["pool"]))


class FillSegment(Segment):
    """error and zero segments: a target with no areas."""
    mapped = True


# Segment types dmfw maps exactly as lvm2 does (dmfw.lvm.tables); any
# other type is a plain Segment, refused at activation with its name.
TYPES = (("striped", StripedSegment), ("mirror", MirrorSegment),
         ("raid1", Raid1Segment), ("thin-pool", ThinPoolSegment),
         ("thin", ThinSegment), ("error", FillSegment), ("zero", FillSegment))
SUPPORTED = tuple([t for t, _cls in TYPES])


def segment(lv, sec, vg, what):
    """The segment of `sec` in the class its type names."""
    t = sec.get("type")
    if not isinstance(t, str):
        raise FormatError("%s: missing segment type" % what)
    # lvm2 appends segment flags to the type: "thin-pool+METADATA_FORMAT".
    parts = t.split("+")
    cls = Segment
    for name, c in TYPES:
        if name == parts[0]:
            cls = c
    return cls(lv, sec, vg, what, parts[0], parts[1:])
