# The dm devices lvm2 creates for an LV and the tables it loads into them
# (lib/activate/dev_manager.c, libdm-deptree.c, lib/*/ *.c add_target_line),
# as lvm2 2.03 does: one device per LV, plus layers for thin pools:
#
#   vg-lv                 the LV (dm UUID LVM-<vg id><lv id>)
#   vg-pool_tmeta/_tdata  a pool's metadata and data LVs (UUID -tmeta/-tdata)
#   vg-pool-tpool         the thin-pool target (UUID -tpool)
#   vg-pool               a used pool's public device: linear over -tpool
#                         (UUID -pool); an unused pool is the -tpool itself

_SUFFIX = {"tmeta": "-tmeta", "tdata": "-tdata"}


class Node:
    """One dm device to create: name, UUID, the nodes it is built on, and
    its table once those exist (resolve(node) -> "major:minor")."""

    def __init__(self, lv, name, uuid, deps, build, alias=None):
        self.lv = lv
        self.name = name
        self.uuid = uuid
        self.deps = deps
        self.build = build
        self.alias = alias

    def table(self, resolve):
        return self.build(resolve)


def _uuid(lv, suffix=""):
    return "LVM-" + lv.vg.uuid + lv.uuid + suffix


def _new_pool(lv):
    # lv_is_new_thin_pool(): no thin volume was ever created in it.
    return lv.segments[0].transaction_id == 0 and not [
        t for t in lv.vg.lvs if t.is_type("thin") and t.segments[0].refs["pool"] is lv]


def tpool_node(pool):
    seg = pool.segments[0]
    deps = [node(seg.refs["tmeta"]), node(seg.refs["tdata"])]
    name = pool.dm_name() if _new_pool(pool) else pool.dm_name() + "-tpool"

    def build(resolve):
        feats = []
        if not seg.zero_new_blocks:
            feats.append("skip_block_zeroing")
        if seg.discards == "ignore":
            feats.append("ignore_discard")
        elif seg.discards == "nopassdown":
            feats.append("no_discard_passdown")
        if "ERROR_WHEN_FULL" in pool.status:
            feats.append("error_if_no_space")
        args = "%s %s %d 0 %d" % (resolve(deps[0]), resolve(deps[1]), seg.chunk_size,
                                  len(feats))
        return [(0, pool.size(), "thin-pool", " ".join([args] + feats))]

    return Node(pool, name, _uuid(pool, "-tpool"), deps, build)


def node(lv):
    """The dm device of `lv` (with its dependencies)."""
    role = lv.vg.role(lv)
    suffix = _SUFFIX.get(role[1], "") if role else ""
    if lv.is_type("thin-pool"):
        tp = tpool_node(lv)
        if _new_pool(lv):
            return tp
        return Node(lv, lv.dm_name(), _uuid(lv, "-pool"), [tp],
                    lambda resolve: [(0, lv.size(), "linear", "%s 0" % resolve(tp))])
    deps = [node(sub) if not sub.is_type("thin-pool") else tpool_node(sub)
            for sub in lv.needed_lvs()]
    by_lv = dict((id(d.lv), d) for d in deps)

    def build(resolve):
        es = lv.vg.extent_size
        out = []
        for s in lv.segments:
            out.append((s.start_extent * es, s.extent_count * es) +
                       _LINES[s.type](s, es, lambda sub: resolve(by_lv[id(sub)])
                                      if id(sub) in by_lv else "-"))
        return out

    alias = "/dev/%s/%s" % (lv.vg.name, lv.name) if lv.visible else None
    return Node(lv, lv.dm_name(), _uuid(lv, suffix), deps, build, alias)


def _devspec(dev):
    if dev.major or dev.minor:
        return dev.devno()
    return "/dev/" + dev.name


def _striped(s, es, sub):
    # libdm emits a one-area striped segment as `linear`; an area on an LV
    # is that LV's dm device at the extent's offset.
    areas = ["%s %d" % (_devspec(pv.dev), pv.pe_start + pe * es) for pv, pe in s.areas] + \
        ["%s %d" % (sub(lv), le * es) for lv, le in s.lv_areas]
    if s.stripe_count == 1:
        return ("linear", areas[0])
    return ("striped", "%d %d %s" % (s.stripe_count, s.stripe_size, " ".join(areas)))


def _mirror(s, es, sub):
    # _mirror_emit_segment_line with lvm2's defaults (monitoring on:
    # "handle_errors"; no sync flag at plain activation).
    if s.log_lv is not None:
        log = "disk 2 %s %d" % (sub(s.log_lv), s.region_size)
    else:
        log = "core 1 %d" % s.region_size
    legs = " ".join(["%s %d" % (sub(lv), le * es) for lv, le in s.lv_areas])
    return ("mirror", "%s %d %s 1 handle_errors" % (log, len(s.lv_areas), legs))


def _raid1(s, es, sub):
    # lvm2's raid add_target_line + libdm's _raid_emit_segment_line (target
    # >= 1.11 parameter order); a leg left out of a degraded LV is "- -".
    p = ["0"]
    for i, (_, image) in enumerate(s.raid_legs):
        if "REBUILD" in image.status:
            p += ["rebuild", str(i)]
    opts = dict(s.raid_opts)
    for key in ("min_recovery_rate", "max_recovery_rate"):
        if key in opts:
            p += [key, str(opts[key])]
    for i, (_, image) in enumerate(s.raid_legs):
        if "WRITEMOSTLY" in image.status:
            p += ["write_mostly", str(i)]
    if "writebehind" in opts:
        p += ["max_write_behind", str(opts["writebehind"])]
    p += ["region_size", str(s.region_size)]
    ok = s.usable_legs()
    legs = []
    for leg in s.raid_legs:
        legs += [sub(leg[0]), sub(leg[1])] if leg in ok else ["-", "-"]
    return ("raid", "raid1 %d %s %d %s" % (len(p), " ".join(p), len(s.raid_legs),
                                           " ".join(legs)))


def _thin(s, es, sub):
    args = "%s %d" % (sub(s.refs["pool"]), s.device_id)
    if "external" in s.refs:
        args += " " + sub(s.refs["external"])
    return ("thin", args)


_LINES = {
    "striped": _striped,
    "mirror": _mirror,
    "raid1": _raid1,
    "thin": _thin,
    "error": lambda s, es, sub: ("error", ""),
    "zero": lambda s, es, sub: ("zero", ""),
}
