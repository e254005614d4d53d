# systemd's Automatic Boot Assessment on the names dmfw boots by: before an entry
# with a counter is handed off, `NAME+LEFT-DONE` becomes `NAME+(LEFT-1)-(DONE+1)`;
# `boot --bless` (systemd-bless-boot's job, from the booted system) drops it. The
# name is the LV's (an lvm2 metadata commit on every PV holding metadata) or the
# root partition's GPT label (backup copy first, then the primary). Either write
# leaves the old or the new name if the power goes in the middle.

from dmfw.boot import version as vmod


def next_name(v):
    """The name after one more attempt, or None when v has no counter."""
    if v.left is None:
        return None
    left, done = vmod.next_try(v.left, v.done)
    return vmod.format_counter(v.base, left, done)


def rename(sh, scan, v, new):
    """Give version v the name `new` on disk (and to the LV's active dm devices,
    as lvrename does)."""
    if new == v.name:
        return
    if v.kind == "lv":
        from dmfw.lvm.commit import rename_lv
        from dmfw.lvm.activate import active_device, rename_active
        md = active_device(sh.dm, v.lv)
        kids = _windows(sh.dm, md) if md is not None else []
        rename_lv(scan.lvm, v.lv.vg, v.name, new)
        if md is not None:
            rename_active(sh.dm, md, v.lv.vg.name, new)
            _rename_windows(sh.dm, md, kids)
    else:
        from dmfw.disk.gptlabel import set_partition_name
        set_partition_name(v.image.disk, v.data.part.partno, new)
        v.data.part.name = new
    v.name = new
    v.base, v.left, v.done = vmod.parse_counter(new)


def _windows(dm, md):
    # The partition windows on the LV's device (kpartx names and UUIDs:
    # partN-<LV's UUID>).
    return [m for m in dm.list() if m is not md and m.live is not None and
            md in m.live.used and m.uuid.startswith("part") and
            m.uuid.endswith("-" + md.uuid)]


def _rename_windows(dm, md, kids):
    # The windows follow the LV device's new name, as kpartx names them.
    from dmfw.boot.plan import kpartx_name
    for k in kids:
        dm.rename(k.dm_name, kpartx_name(md.dm_name, int(k.uuid[4:k.uuid.index("-")])))
