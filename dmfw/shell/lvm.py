# `lvm` and its bare-name commands (pvs, vgs, lvs, pvscan, vgscan,
# vgchange, lvchange, lvrename) with lvm2's output. Every command scans the block
# devices afresh, as lvm2 does without its cache; messages go out with
# lvm2's two-space indent.

from dmfw.errors import DMError, ENOENT, UsageError
from dmfw.lvm import scan as lvmscan
from dmfw.lvm import report
from dmfw.lvm import activate as act

ECMD_FAILED = 5

USAGE = ("lvm pvs|vgs|lvs [-o [+]FIELDS] [--segments] [--units U] [--noheadings]"
         " [--nosuffix] [--separator S] [-a] [NAME...] | pvscan | vgscan |"
         " vgchange -ay|-an [-K] [VG...] | lvchange -ay|-an [-K] VG/LV... |"
         " lvrename VG LV NEW")


def _scan(sh):
    devs = [sh.devices.by_name[n] for n in sh.devices.names()]
    sc = lvmscan.scan(devs)
    for w in sc.warnings:
        sh.error("  " + w)
    return sc


def _opts(argv, flags, valued):
    """argv -> ({key: count or [values]}, positional) through the shell's
    getopt_long; `flags` and `valued` map lvm2's spellings to keys."""
    from dmfw.shell.options import getopt
    spec = {}
    alias = {}
    for k, v in flags.items():
        spec[k] = 0
        alias[k] = v
    for k, v in valued.items():
        spec[k] = 2
        alias[k] = v
    spec["-h"] = spec["--help"] = 0
    alias["-h"] = alias["--help"] = "help"
    return getopt(["lvm"] + list(argv), spec, alias, "Unrecognised option %s",
                  "Option %s requires an argument.", "Unrecognised option %s",
                  "Unrecognised option %s")


_REPORT_FLAGS = {"--segments": "segments", "--noheadings": "noheadings",
                 "--nosuffix": "nosuffix", "-a": "all", "--all": "all",
                 "--aligned": "aligned", "-v": "verbose"}
_REPORT_VALUED = {"-o": "o", "--options": "o", "--units": "units",
                  "--separator": "separator", "-O": "sort", "--sort": "sort"}


def _report(sh, cmd, argv):
    opts, names = _opts(argv, _REPORT_FLAGS, _REPORT_VALUED)
    if opts.get("help"):
        return _help(sh, cmd)
    sc = _scan(sh)
    units = (opts.get("units", ["r"])[-1], not opts.get("nosuffix"))
    report.size_str(1, units[0])            # reject bad units before output
    segs = opts.get("segments") and cmd == "lvs"
    key = "lvs_segments" if segs else cmd
    kind = {"pvs": "pv", "vgs": "vg", "lvs": "lv"}[cmd]
    cols = report.columns(report.DEFAULTS[key], opts.get("o", []), kind)
    if cmd == "pvs":
        rows = _pv_rows(sc, names)
    elif cmd == "vgs":
        rows = _vgs(sc, names)
    else:
        rows = _lv_rows(sh, sc, names, opts.get("all"),
                        segs or [c for c in cols if report.FIELDS[c][3] == "seg"])
    if cmd != "pvs" and [c for c in cols if report.FIELDS[c][3] == "pv"]:
        raise UsageError("PV fields are not available in %s" % cmd)
    if not rows:
        # lvm2 prints no heading for an empty report.
        return 0
    sep = opts.get("separator", [None])[-1]
    sh.write(report.render(cols, rows, units, not opts.get("noheadings"),
                           sep, sep is None or opts.get("aligned")))
    return 0


def _vgs(sc, names):
    if not names:
        return list(sc.vgs)
    return [sc.vg(n) for n in names]


def _pv_rows(sc, names):
    rows = []
    for vg in sc.vgs:
        for pv in vg.pvs:
            rows.append(report.PVRow(pv, vg))
    for lab in sc.orphans:
        rows.append(report.PVRow(None, None, lab))
    rows.sort(key=lambda r: r.name())
    if names:
        want = [n if n.startswith("/dev/") else "/dev/" + n for n in names]
        for n in want:
            if n not in [r.name() for r in rows]:
                raise DMError(ENOENT, "Failed to find physical volume \"%s\"." % n)
        rows = [r for r in rows if r.name() in want]
    return rows


def _lv_rows(sh, sc, names, show_all, per_segment):
    lvs = []
    if names:
        for n in names:
            if "/" in (n[5:] if n.startswith("/dev/") else n):
                lvs.append(sc.lv(n))
            else:
                lvs.extend(sc.vg(n).lvs)
    else:
        for vg in sc.vgs:
            lvs.extend(vg.lvs)
    if not show_all:
        lvs = [lv for lv in lvs if lv.visible]
    lvs.sort(key=lambda lv: (lv.vg.name, lv.name))
    rows = []
    for lv in lvs:
        md = act.active_device(sh.dm, lv)
        opened = None
        if md is not None and lv.is_type("thin-pool"):
            # A pool is open while thin LVs use its -tpool device.
            opened = bool([t for t in lv.vg.lvs if t.is_type("thin") and
                           t.segments[0].refs["pool"] is lv and
                           act.active_device(sh.dm, t) is not None])
        status = act.status_lines(sh.dm, lv) if md is not None else []
        if per_segment:
            for s in lv.segments:
                rows.append(report.LVRow(lv, md, s, opened, status))
        else:
            rows.append(report.LVRow(lv, md, None, opened, status))
    return rows


def _pvscan(sh, argv):
    if argv and argv[0] in ("-h", "--help"):
        return _help(sh, "pvscan")
    if argv:
        raise UsageError("pvscan: options are not supported")
    sc = _scan(sh)
    # process_each_pv order: VG by VG, then the PVs in no VG.
    rows = [report.PVRow(pv, vg) for vg in sc.vgs for pv in vg.pvs] + \
        [report.PVRow(None, None, lab) for lab in sc.orphans]
    if not rows:
        sh.write("  No matching physical volumes found\n")
        return 0
    # lvm2 sizes the columns from its cache (2.03.31 and later leave the
    # orphan VG's internal name out; 2.03.16 counted it).
    pvw = max([len(r.name()) for r in rows]) + 2
    vgw = max([0] + [len(v.name) for v in sc.vgs]) + 2
    total = used = new = 0
    for r in rows:
        if r.pv is None:
            sz = r.size()
            sh.write("  PV %s    %s lvm2 [%s]\n"
                     % (_ljust(r.name(), pvw), _ljust(" ", vgw),
                        report.size_str(sz, "r", True, True)))
            total += sz
            new += sz
        else:
            sh.write("  PV %s VG %s lvm2 [%s / %s free]\n"
                     % (_ljust(r.name(), pvw), _ljust(r.vg.name, vgw),
                        report.size_str(r.size(), "r", True, True),
                        report.size_str(r.free(), "r", True, True)))
            total += r.size()
            used += r.size()
    n_new = len([r for r in rows if r.pv is None])
    sh.write("  Total: %d [%s] / in use: %d [%s] / in no VG: %d [%s]\n"
             % (len(rows), report.size_str(total, "r", True, True),
                len(rows) - n_new, report.size_str(used, "r", True, True),
                n_new, report.size_str(new, "r", True, True)))
    return 0


def _ljust(s, w):
    return s + " " * (w - len(s)) if len(s) < w else s


def _vgscan(sh, argv):
    if argv and argv[0] in ("-h", "--help"):
        return _help(sh, "vgscan")
    if argv:
        raise UsageError("vgscan: options are not supported")
    sc = _scan(sh)
    for vg in sc.vgs:
        sh.write("  Found %svolume group \"%s\" using metadata type lvm2\n"
                 % ("exported " if "EXPORTED" in vg.status else "", vg.name))
    return 0


def _activation(argv):
    """-ay / -an / -a y / --activate y|n [-K] → (True/False, -K given, rest)."""
    opts, pos = _opts(argv, {"-K": "K", "--ignoreactivationskip": "K"},
                      {"-a": "a", "--activate": "a"})
    if opts.get("help"):
        return None, None, None
    a = opts.get("a")
    if not a:
        raise UsageError("one of -ay or -an is required")
    v = a[-1]
    if v in ("y", "ay"):
        return True, opts.get("K", False), pos
    if v == "n":
        return False, opts.get("K", False), pos
    raise UsageError("Invalid argument for --activate: %s" % v)


def _change(sh, lv, on, ignore_skip=False):
    """Activate or deactivate one LV; print and count a failure. LVs flagged
    to skip activation (thin snapshots by default) stay down without -K."""
    if on and "ACTIVATION_SKIP" in lv.status and not ignore_skip:
        return True
    try:
        if on:
            act.activate(sh.dm, lv)
        else:
            act.deactivate(sh.dm, lv)
        return True
    except DMError as e:
        sh.error("  %s" % e)
        return False


def _vgchange(sh, argv):
    on, k, names = _activation(argv)
    if on is None:
        return _help(sh, "vgchange")
    sc = _scan(sh)
    st = 0
    try:
        vgs = _vgs(sc, names)
    except DMError as e:
        sh.error("  %s" % e)
        return ECMD_FAILED
    for vg in vgs:
        if on and vg.refusal:
            # One reason for the whole VG, as lvm2 gives it.
            sh.error("  %s" % vg.refusal)
            st = ECMD_FAILED
        for lv in vg.visible_lvs():
            if on and vg.refusal:
                continue
            if not _change(sh, lv, on, k):
                st = ECMD_FAILED
        n = len([lv for lv in vg.visible_lvs()
                 if act.active_device(sh.dm, lv) is not None])
        sh.write("  %d logical volume(s) in volume group \"%s\" now active\n"
                 % (n, vg.name))
    return st


def _lvchange(sh, argv):
    on, k, names = _activation(argv)
    if on is None:
        return _help(sh, "lvchange")
    if not names:
        raise UsageError("lvchange: please give VG/LV")
    sc = _scan(sh)
    st = 0
    for n in names:
        try:
            lv = sc.lv(n)
        except DMError as e:
            sh.error("  %s" % e)
            st = ECMD_FAILED
            continue
        if not _change(sh, lv, on, k):
            st = ECMD_FAILED
    return st


EINVALID_CMD_LINE = 3


def _vgname(sh, spec):
    # lvm2's skip_dev_dir() + extract_vgname(): "VG/LV" or "/dev/VG/LV" -> VG.
    s = spec[5:] if spec.startswith("/dev/") else spec
    i = s.find("/")
    return s[:i] if i > 0 else None


def _rename_args(sh, pos):
    """lvrename's positional forms (VG OLD NEW | VG/OLD [VG/]NEW) -> (vg, old,
    new), checked in lvm2's order; LVMError for a refusal (exit 3)."""
    from dmfw.lvm.commit import check_lv_name, valid_name
    from dmfw.lvm.vg import LVMError
    if len(pos) == 3:
        vg = pos[0][5:] if pos[0].startswith("/dev/") else pos[0]
        old, new = pos[1], pos[2]
        other = _vgname(sh, old) if "/" in old else None
        if other is not None and other != vg:
            raise LVMError("Please use a single volume group name (\"%s\" or \"%s\")"
                           % (vg, other))
    else:
        old, new = pos
        vg = _vgname(sh, old)
        if vg is None:
            raise LVMError("Path required for Logical Volume \"%s\".\n  "
                           "Please provide a valid volume group name" % old)
    if not valid_name(vg):
        raise LVMError("Please provide a valid volume group name")
    other = _vgname(sh, new) if "/" in new else None
    if other is not None and other != vg:
        raise LVMError("Logical volume names must have the same volume group "
                       "(\"%s\" or \"%s\")" % (vg, other))
    old = old[old.rfind("/") + 1:]
    new = new[new.rfind("/") + 1:]
    check_lv_name(vg, new)
    if old == new:
        raise LVMError("Old and new logical volume names must differ")
    return vg, old, new


def _lvrename(sh, argv):
    """lvrename VG OLD NEW | lvrename VG/OLD [VG/]NEW: one metadata commit on
    every PV of the VG (dmfw.lvm.commit), the active dm device renamed with it."""
    opts, pos = _opts(argv, {}, {})
    if "help" in opts:
        return _help(sh, "lvrename")
    if len(pos) not in (2, 3):
        sh.error("  No command with matching syntax recognised.  Run 'lvrename --help' "
                 "for more information.")
        return EINVALID_CMD_LINE
    try:
        vg, old, new = _rename_args(sh, pos)
    except DMError as e:
        sh.error("  %s" % e.msg)
        sh.error("  Run `lvrename --help' for more information.")
        return EINVALID_CMD_LINE
    from dmfw.lvm.commit import rename_lv
    sc = _scan(sh)
    try:
        vgo = sc.vg(vg)
    except DMError as e:
        sh.error("  %s" % e.msg)
        sh.error("  Cannot process volume group %s" % vg)
        return ECMD_FAILED
    try:
        lv = vgo.lv(old)
        md = act.active_device(sh.dm, lv) if lv is not None else None
        rename_lv(sc, vgo, old, new)
        if md is not None:
            act.rename_active(sh.dm, md, vg, new)
    except DMError as e:
        sh.error("  %s" % e.msg)
        return ECMD_FAILED
    sh.write("  Renamed \"%s\" to \"%s\" in volume group \"%s\"\n" % (old, new, vg))
    return 0


# `CMD --help` in lvm2's layout (tools/command.c print_usage): the summary,
# then the options dmfw takes.
_HELP = {
    "pvs": ("Display information about physical volumes",
            ["-a|--all", "-o|--options String", "-O|--sort String", "--aligned",
             "--noheadings", "--nosuffix", "--separator String",
             "--units r|R|h|H|b|B|s|S|k|K|m|M|g|G|t|T|p|P|e|E"], "PV"),
    "vgs": ("Display information about volume groups",
            ["-o|--options String", "-O|--sort String", "--aligned", "--noheadings",
             "--nosuffix", "--separator String",
             "--units r|R|h|H|b|B|s|S|k|K|m|M|g|G|t|T|p|P|e|E"], "VG"),
    "lvs": ("Display information about logical volumes",
            ["-a|--all", "-o|--options String", "-O|--sort String", "--segments",
             "--aligned", "--noheadings", "--nosuffix", "--separator String",
             "--units r|R|h|H|b|B|s|S|k|K|m|M|g|G|t|T|p|P|e|E"], "VG|LV"),
    "pvscan": ("List all physical volumes", [], None),
    "vgscan": ("Search for all volume groups", [], None),
    "vgchange": ("Change volume group attributes",
                 ["-a|--activate y|n|ay", "-K|--ignoreactivationskip"], "VG"),
    "lvrename": ("Rename a logical volume", [], "VG LV LV_new | LV LV_new"),
    "lvchange": ("Change the attributes of logical volume(s)",
                 ["-a|--activate y|n|ay", "-K|--ignoreactivationskip"], "VG/LV"),
}


def _help(sh, cmd):
    what, options, pos = _HELP[cmd]
    out = "  %s - %s\n\n  Usage: %s\n" % (cmd, what, cmd)
    for o in options:
        out += "\t[ %s%s ]\n" % ("   " if o.startswith("--") else "", o)
    out += "\t[ COMMON_OPTIONS ]\n"
    if pos:
        out += "\t[ %s ... ]\n" % pos
    out += "\n  Common options for lvm:\n\t[ -h|--help ]\n\t[ -v|--verbose ]\n"
    sh.write(out)
    return 0


_SUB = {
    "pvs": lambda sh, a: _report(sh, "pvs", a),
    "vgs": lambda sh, a: _report(sh, "vgs", a),
    "lvs": lambda sh, a: _report(sh, "lvs", a),
    "pvscan": _pvscan,
    "vgscan": _vgscan,
    "vgchange": _vgchange,
    "lvchange": _lvchange,
    "lvrename": _lvrename,
}


def main(sh, argv):
    name = argv[0]
    args = argv[1:]
    if name == "lvm":
        if not args or args[0] in ("help", "-h", "--help"):
            if len(args) > 1 and args[1] in _HELP:
                return _help(sh, args[1])
            sh.write("Usage: " + USAGE + "\n")
            return 0 if args else 1
        name = args[0]
        args = args[1:]
    fn = _SUB.get(name)
    if fn is None:
        sh.error("  No such command '%s'.  Try 'help'." % name)
        return 3
    return fn(sh, args)
