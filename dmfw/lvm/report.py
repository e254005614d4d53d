# `pvs`, `vgs`, `lvs` reports in lvm2's layout (lib/report/columns.h,
# libdm-report.c): columns padded to max(heading, minimum width, values),
# one space apart, two spaces of indent, strings left- and numbers
# right-aligned, headings always left-aligned; sizes as dm_size_to_string.

from dmfw.errors import UsageError

# unit letter -> power of 1024 (lowercase) or 1000 (uppercase, except the
# special b/s); as lvm2's unit table.
_POW = "bkmgtpe"
_SHORT = {"k": " KiB", "m": " MiB", "g": " GiB", "t": " TiB", "p": " PiB",
          "e": " EiB", "b": " B"}


def size_str(sectors, unit="r", suffix=True, long_units=False):
    """dm_size_to_string(): `unit` r/h (human; R/H in powers of 1000) or one
    of bskmgtpe (powers of 1024; uppercase: 1000). long_units gives the
    " MiB" form pvscan prints instead of the report's "m"."""
    human = unit in "rRhH"
    rounding = unit in "rR"
    u = unit.lower()
    if not human and u not in "bs" + _POW:
        raise UsageError("Invalid units specification %s" % unit)
    if sectors == 0:
        if not suffix:
            return "0"
        if human:
            return "0   " if long_units else "0 "
        return "0" + _suffix(unit, u, long_units)
    nbytes = sectors * 512
    if u == "s":
        return "%d%s" % (sectors, "S" if suffix else "")
    if u == "b":
        return "%d%s" % (nbytes, "B" if suffix else "")
    prefix = ""
    if human:
        base = 1000 if unit in "HR" else 1024
        i = 6
        byte = base ** 6
        while i > 0 and nbytes < byte:
            byte //= base
            i -= 1
        if i == 0:
            return "%d%s" % (nbytes, "B" if unit in "HR" else "b")
        u = _POW[i]
        unit = u.upper() if unit in "HR" else u
        suffix = True
    else:
        base = 1000 if unit.isupper() else 1024
        byte = base ** _POW.index(u)
    hund, up = _round2(nbytes, byte)
    if rounding and up:
        # `r` units flag a value shown larger than it is.
        prefix = "<"
    text = "%s%d.%02d" % (prefix, hund // 100, hund % 100)
    return text + (_suffix(unit, u, long_units) if suffix else "")


def _suffix(unit, u, long_units):
    if not long_units:
        return unit
    if unit.islower():
        return _SHORT[u]
    return " " + u.upper() + "B"


def _round2(num, den):
    """num/den to two decimals the way printf("%.2f") rounds the value:
    half to even (exact for powers of two). → (hundredths, rounded_up)."""
    q, r = divmod(num * 100, den)
    up = 2 * r > den or (2 * r == den and q & 1)
    return q + (1 if up else 0), bool(up)


# -- fields: name -> (heading, right-aligned, min width, kind, getter)
# kind: "pv" rows are PVRow, "vg" VG, "lv" LV, "seg" (LV, Segment).

def _lvattr(r, u):
    return r.lv_attr()


class PVRow:
    """A PV as pvs shows it: in a VG (maybe missing) or an orphan label."""

    def __init__(self, pv=None, vg=None, label=None):
        self.pv = pv
        self.vg = vg
        self.label = label or (pv.label if pv is not None else None)

    def name(self):
        if self.pv is not None:
            return self.pv.name()
        return "/dev/" + self.label.dev.name

    def uuid(self):
        if self.pv is not None:
            return self.pv.uuid_str()
        return self.label.uuid_str()

    def attr(self):
        if self.pv is None:
            return "---"
        st = self.pv.status
        return ("a" if "ALLOCATABLE" in st else "-") + \
            ("x" if "EXPORTED" in self.vg.status else "-") + \
            ("m" if self.pv.dev is None else "-")

    def size(self):
        if self.pv is None:
            return self.label.dev_size >> 9
        return self.pv.pe_count * self.vg.extent_size

    def free(self):
        if self.pv is None:
            return self.size()
        return (self.pv.pe_count - self.pv.alloc) * self.vg.extent_size


def _seg_areas(seg):
    return [(pv.name(), pe) for pv, pe in seg.areas] + \
        [(lv.name, le) for lv, le in seg.lv_areas] + \
        [(image.name, 0) for _, image in seg.raid_legs] + \
        ([(seg.refs["tdata"].name, 0)] if "tdata" in seg.refs else [])


def _seg_ranges(seg):
    return " ".join(["%s:%d-%d" % (n, pe, pe + seg.area_len() - 1)
                     for n, pe in _seg_areas(seg)])


def _seg_devices(seg):
    return ",".join(["%s(%d)" % a for a in _seg_areas(seg)])


def _log(r):
    for s in r.lv.segments:
        if s.log_lv is not None:
            return "[%s]" % s.log_lv.name
    return ""


def _pool(r):
    s = r.lv.segments[0] if r.lv.segments else None
    if s is not None and s.type == "thin":
        return s.refs["pool"].name
    return ""


def _origin(r):
    s = r.lv.segments[0] if r.lv.segments else None
    if s is not None and "origin" in s.refs:
        return s.refs["origin"].name
    return ""


def _pct(num, den):
    if not den:
        return "0.00"
    hund, _ = _round2(num * 100, den)
    return "%d.%02d" % (hund // 100, hund % 100)


def _thin_percent(r, which):
    # lvm2 parses the thin and thin-pool status lines (dm_get_status_thin,
    # dm_get_status_thin_pool): thin "<mapped sectors> <highest>", pool
    # "<trans id> <used>/<total meta blocks> <used>/<total data blocks> ...".
    s = r.lv.segments[0] if r.lv.segments else None
    if not r.active or s is None or s.type not in ("thin", "thin-pool"):
        return ""
    for ttype, line in r.status:
        w = line.split()
        if ttype == "thin" and s.type == "thin" and w:
            return "" if which == "meta" else _pct(int(w[0]), r.lv.size())
        if ttype == "thin-pool" and s.type == "thin-pool" and len(w) > 2:
            used, total = w[1 if which == "meta" else 2].split("/")
            return _pct(int(used), int(total))
    return ""


def _copy_percent(r):
    # lvm2 takes the in-sync ratio from the status line: mirror "<#legs>
    # <dev>... <in sync>/<regions> ...", raid "<type> <#devs> <health>
    # <in sync>/<sectors> ..." (dm_get_status_mirror, dm_get_status_raid).
    if not r.active or not r.lv.segments or r.lv.segments[0].type not in ("mirror", "raid1"):
        return ""
    done = total = 0
    for ttype, line in r.status:
        w = line.split()
        if ttype == "mirror" and w:
            ratio = w[int(w[0]) + 1]
        elif ttype == "raid" and len(w) > 3:
            ratio = w[3]
        else:
            continue
        a, b = ratio.split("/")
        done += int(a)
        total += int(b)
    if not total:
        return ""
    hund, _ = _round2(done * 100, total)
    return "%d.%02d" % (hund // 100, hund % 100)


def _vg_attr(vg):
    st = vg.status
    pol = vg.section.get("allocation_policy", "normal")
    return ("w" if "WRITE" in st else "r") + ("z" if "RESIZEABLE" in st else "-") + \
        ("x" if "EXPORTED" in st else "-") + ("p" if vg.missing() else "-") + \
        _POLICY.get(pol, "n") + ("c" if "CLUSTERED" in st else "-")


_POLICY = {"normal": "n", "contiguous": "c", "cling": "l", "cling_by_tags": "l",
           "anywhere": "a", "inherit": "i"}

# Alignment: left (strings, and lvm2's percent fields) or right (numbers).
S, N = False, True

FIELDS = {
    # pvs
    "pv_name": ("PV", S, 10, "pv", lambda r, u: r.name()),
    "pv_uuid": ("PV UUID", S, 38, "pv", lambda r, u: r.uuid()),
    "pv_fmt": ("Fmt", S, 0, "pv", lambda r, u: "lvm2"),
    "pv_attr": ("Attr", S, 0, "pv", lambda r, u: r.attr()),
    "pv_size": ("PSize", N, 0, "pv", lambda r, u: size_str(r.size(), *u)),
    "pv_free": ("PFree", N, 0, "pv", lambda r, u: size_str(r.free(), *u)),
    "pv_used": ("Used", N, 0, "pv", lambda r, u: size_str(r.size() - r.free(), *u)),
    "dev_size": ("DevSize", N, 0, "pv",
                 lambda r, u: size_str(r.label.dev.nr_sectors if r.label else 0, *u)),
    "pe_start": ("1st PE", N, 7, "pv",
                 lambda r, u: size_str(r.pv.pe_start if r.pv else
                                       (r.label.data_areas[0][0] >> 9
                                        if r.label.data_areas else 0), *u)),
    "pv_pe_count": ("PE", N, 3, "pv", lambda r, u: str(r.pv.pe_count if r.pv else 0)),
    "pv_pe_alloc_count": ("Alloc", N, 0, "pv", lambda r, u: str(r.pv.alloc if r.pv else 0)),
    "pv_mda_count": ("#PMda", N, 0, "pv",
                     lambda r, u: str(len(r.label.mdas) if r.label else 0)),
    # vgs
    "vg_name": ("VG", S, 0, "vg", lambda vg, u: vg.name if vg else ""),
    "vg_uuid": ("VG UUID", S, 38, "vg", lambda vg, u: vg.uuid_str() if vg else ""),
    "vg_fmt": ("Fmt", S, 0, "vg", lambda vg, u: "lvm2"),
    "vg_attr": ("Attr", S, 5, "vg", lambda vg, u: _vg_attr(vg)),
    "vg_size": ("VSize", N, 0, "vg",
                lambda vg, u: size_str(vg.extent_count() * vg.extent_size, *u)),
    "vg_free": ("VFree", N, 0, "vg",
                lambda vg, u: size_str(vg.free_count() * vg.extent_size, *u)),
    "vg_extent_size": ("Ext", N, 0, "vg", lambda vg, u: size_str(vg.extent_size, *u)),
    "vg_extent_count": ("#Ext", N, 0, "vg", lambda vg, u: str(vg.extent_count())),
    "vg_free_count": ("Free", N, 0, "vg", lambda vg, u: str(vg.free_count())),
    "pv_count": ("#PV", N, 0, "vg", lambda vg, u: str(len(vg.pvs))),
    "vg_missing_pv_count": ("#PV Missing", N, 0, "vg", lambda vg, u: str(len(vg.missing()))),
    "lv_count": ("#LV", N, 0, "vg", lambda vg, u: str(len(vg.visible_lvs()))),
    "snap_count": ("#SN", N, 0, "vg",
                   lambda vg, u: str(len([l for l in vg.lvs if l.segments and
                                          l.segments[0].type == "snapshot"]))),
    "vg_seqno": ("Seq", N, 0, "vg", lambda vg, u: str(vg.seqno)),
    # lvs
    "lv_name": ("LV", S, 4, "lv", lambda r, u: r.display_name()),
    "lv_full_name": ("LV", S, 4, "lv", lambda r, u: r.lv.full_name()),
    "lv_uuid": ("LV UUID", S, 38, "lv", lambda r, u: r.lv.uuid_str()),
    "lv_path": ("Path", S, 0, "lv",
                lambda r, u: "/dev/" + r.lv.full_name() if r.lv.visible else ""),
    "lv_dm_path": ("DMPath", S, 0, "lv", lambda r, u: "/dev/mapper/" + r.lv.dm_name()),
    "lv_attr": ("Attr", S, 0, "lv", _lvattr),
    "lv_active": ("Active", S, 0, "lv", lambda r, u: "active" if r.active else ""),
    "lv_size": ("LSize", N, 0, "lv", lambda r, u: size_str(r.lv.size(), *u)),
    "seg_count": ("#Seg", N, 0, "lv", lambda r, u: str(len(r.lv.segments))),
    "pool_lv": ("Pool", S, 0, "lv", lambda r, u: _pool(r)),
    "origin": ("Origin", S, 0, "lv", lambda r, u: _origin(r)),
    "data_percent": ("Data%", S, 6, "lv", lambda r, u: _thin_percent(r, "data")),
    "metadata_percent": ("Meta%", S, 6, "lv", lambda r, u: _thin_percent(r, "meta")),
    "move_pv": ("Move", S, 0, "lv", lambda r, u: ""),
    "mirror_log": ("Log", S, 0, "lv", lambda r, u: _log(r)),
    "copy_percent": ("Cpy%Sync", S, 0, "lv", lambda r, u: _copy_percent(r)),
    "convert_lv": ("Convert", S, 0, "lv", lambda r, u: ""),
    # segments (rows are LVRow with .seg set)
    "segtype": ("Type", S, 0, "seg", lambda r, u: r.seg.type_name()),
    "stripes": ("#Str", N, 0, "seg",
                lambda r, u: str(r.seg.stripe_count if r.seg.type in ("striped", "mirror", "raid1")
                                 else len(r.seg.areas) + len(r.seg.lv_areas))),
    "stripe_size": ("Stripe", N, 0, "seg", lambda r, u: size_str(r.seg.stripe_size, *u)),
    "seg_start": ("Start", N, 0, "seg",
                  lambda r, u: size_str(r.seg.start_extent * r.lv.vg.extent_size, *u)),
    "seg_start_pe": ("Start", N, 0, "seg", lambda r, u: str(r.seg.start_extent)),
    "seg_size": ("SSize", N, 0, "seg",
                 lambda r, u: size_str(r.seg.extent_count * r.lv.vg.extent_size, *u)),
    "seg_size_pe": ("SSize", N, 0, "seg", lambda r, u: str(r.seg.extent_count)),
    "seg_pe_ranges": ("PE Ranges", S, 0, "seg", lambda r, u: _seg_ranges(r.seg)),
    "devices": ("Devices", S, 0, "seg", lambda r, u: _seg_devices(r.seg)),
}

# lvm2's short aliases: a field may be named without its prefix.
_PREFIX = {"pv": "pv_", "vg": "vg_", "lv": "lv_", "seg": "seg_"}

DEFAULTS = {
    "pvs": "pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free",
    "vgs": "vg_name,pv_count,lv_count,snap_count,vg_attr,vg_size,vg_free",
    "lvs": "lv_name,vg_name,lv_attr,lv_size,pool_lv,origin,data_percent,"
           "metadata_percent,move_pv,mirror_log,copy_percent,convert_lv",
    "lvs_segments": "lv_name,vg_name,lv_attr,stripes,segtype,seg_size",
    "pvs_segments": "pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free,pvseg_start,pvseg_size",
}

SORT = {"pvs": "pv_name", "vgs": "vg_name", "lvs": "vg_name,lv_name"}


def field_name(name, kind):
    if name in FIELDS:
        return name
    for pre in (kind, "lv", "vg", "pv", "seg"):
        full = _PREFIX[pre] + name
        if full in FIELDS:
            return full
    raise UsageError("Unrecognised field: %s" % name)


def columns(default, opt, kind):
    """-o list (with lvm2's leading '+' to append) → field names."""
    cols = default.split(",")
    for o in opt:
        if o.startswith("+"):
            cols = cols + [field_name(x, kind) for x in o[1:].split(",") if x]
        else:
            cols = [field_name(x, kind) for x in o.split(",") if x]
    return cols


def render(cols, rows, units=("r",), headings=True, separator=None, aligned=True):
    """rows: objects each field's getter accepts. → report text."""
    cells = []
    for r in rows:
        line = []
        for c in cols:
            getter = FIELDS[c][4]
            line.append(getter(_adapt(r, FIELDS[c][3]), units))
        cells.append(line)
    if separator is not None and not aligned:
        out = []
        if headings:
            out.append("  " + separator.join([FIELDS[c][0] for c in cols]))
        for line in cells:
            out.append("  " + separator.join(line))
        return "".join([l + "\n" for l in out])
    widths = []
    for i, c in enumerate(cols):
        w = max(len(FIELDS[c][0]) if headings else 0, FIELDS[c][2])
        for line in cells:
            if len(line[i]) > w:
                w = len(line[i])
        widths.append(w)
    sep = " " if separator is None else separator
    out = []
    if headings:
        out.append("  " + sep.join([_pad(FIELDS[c][0], widths[i], False)
                                    for i, c in enumerate(cols)]))
    for line in cells:
        out.append("  " + sep.join([_pad(v, widths[i], FIELDS[cols[i]][1])
                                    for i, v in enumerate(line)]))
    return "".join([l + "\n" for l in out])


def _pad(s, w, right):
    n = w - len(s)
    if n <= 0:
        return s
    return " " * n + s if right else s + " " * n


def _adapt(r, kind):
    # A row of a richer kind answers for the kinds it contains.
    if kind == "vg":
        return r if _is_vg(r) else r.vg
    return r


def _is_vg(r):
    return hasattr(r, "extent_size")


_SEG_CHAR = {"mirror": "m", "raid1": "r", "raid4": "r", "raid5": "r", "raid6": "r",
             "raid10": "r", "thin-pool": "t", "thin": "V", "cache": "C",
             "cache-pool": "C", "vdo": "v", "vdo-pool": "d", "snapshot": "s",
             "integrity": "g", "writecache": "C"}


class LVRow:
    """An LV (or one of its segments) with its activation state."""

    def __init__(self, lv, md=None, seg=None, opened=None, status=None):
        """`status`: [(target type, status line)] as activate.status_lines
        gives them; the report reads the kernel's words, not targets."""
        self.lv = lv
        self.vg = lv.vg
        self.seg = seg
        self.md = md
        self.status = status or []
        self.active = md is not None
        if opened is None:
            opened = md is not None and md.open_count() > 0
        self.opened = opened

    def display_name(self):
        return self.lv.name if self.lv.visible else "[%s]" % self.lv.name

    def lv_attr(self):
        lv = self.lv
        t = lv.segments[0].type if lv.segments else "striped"
        c = _SEG_CHAR.get(t)
        if c is None and t.startswith("raid"):
            c = "r"
        if c is not None and "NOTSYNCED" in lv.status:
            c = c.upper()
        zero = "-"
        if t in ("thin", "thin-pool"):
            pool = lv if t == "thin-pool" else lv.segments[0].refs["pool"]
            zero = "z" if pool.segments[0].zero_new_blocks else "-"
        role = lv.vg.role(lv)
        if role is not None:
            # Sub-LVs show their part and their parent's target type (a
            # pool's data and metadata LVs show none).
            c = None
            t = role[0].segments[0].type if role[0] else ""
            k = _SEG_CHAR.get(t, "-") if role[1] not in ("tmeta", "tdata") else "-"
            first = {"image": "i", "log": "l", "tmeta": "e", "tdata": "T",
                     "rmeta": "e", "rimage": "i", "pmspare": "e"}[role[1]]
            return first + ("w" if lv.writable() else "r") + \
                _POLICY.get(lv.section.get("allocation_policy", "inherit"), "i") + \
                ("m" if "FIXED_MINOR" in lv.status else "-") + \
                ("a" if self.active else "-") + ("o" if self.opened else "-") + \
                k + "-" + ("p" if lv.missing() else "-") + \
                ("k" if "ACTIVATION_SKIP" in lv.status else "-")
        pol = lv.section.get("allocation_policy", "inherit")
        return (c or "-") + ("w" if lv.writable() else "r") + \
            _POLICY.get(pol, "i") + \
            ("m" if "FIXED_MINOR" in lv.status else "-") + \
            ("a" if self.active else "-") + ("o" if self.opened else "-") + \
            ((c if c in "mrsCg" else "t" if c in "tV" else "-") if c else "-") + \
            zero + ("p" if lv.missing() else "-") + \
            ("k" if "ACTIVATION_SKIP" in lv.status else "-")
