# Activation is dm creates with lvm2's names, UUIDs and tables
# (dmfw.lvm.tables), the devices an LV is built on first, as lvm2's
# dependency tree does; a visible LV is then reachable as /dev/VG/LV beside
# the mapper's /dev/mapper/vg-lv.

from dmfw.errors import DMError, EBUSY
from dmfw.lvm.vg import LVMError
from dmfw.lvm import tables


def _active(dm, n):
    md = dm.find(n.name)
    if md is not None and md.uuid == n.uuid:
        return md
    return None


def active_device(dm, lv):
    """The dm device of `lv` if it is active (name and UUID both match)."""
    return _active(dm, tables.node(lv))


def rename_active(dm, md, vgname, new):
    """An LV's active dm device `md` (found with active_device before the metadata
    commit) takes lvm2's name for the LV's new name, as lvrename does."""
    from dmfw.lvm.vg import dm_name
    dm.rename(md.dm_name, dm_name(vgname, new))


def status_lines(dm, lv):
    """[(target type, status line)] of the device lvm2 queries for `lv`'s
    percentages: a thin pool's -tpool layer (dev_manager's "tpool"), the
    LV's own device otherwise. Empty when it is not active."""
    n = tables.tpool_node(lv) if lv.is_type("thin-pool") else tables.node(lv)
    md = _active(dm, n)
    if md is None or md.live is None:
        return []
    return [(t.name, t.status()) for t in md.live.targets]


def activate(dm, lv):
    lv.require_activation()
    return _up(dm, tables.node(lv))


def _up(dm, n):
    md = _active(dm, n)
    if md is not None:
        return md
    if dm.find(n.name) is not None:
        raise LVMError("dm device %s exists but does not belong to LV %s."
                       % (n.name, n.lv.full_name()), EBUSY)
    made = []
    try:
        for d in n.deps:
            if _active(dm, d) is None:
                _up(dm, d)
                made.append(d)
        md = dm.create(n.name, n.uuid, n.table(lambda d: _active(dm, d).devno()),
                       readonly=not n.lv.writable())
    except DMError:
        for d in reversed(made):
            _down(dm, d)
        raise
    if n.alias:
        dm.devices.alias(n.alias, md)
    return md


def deactivate(dm, lv):
    return _down(dm, tables.node(lv))


def _down(dm, n):
    md = _active(dm, n)
    if md is None:
        return False
    try:
        dm.remove(n.name)
    except DMError as e:
        if e.errno == EBUSY:
            raise LVMError("Logical volume %s in use." % n.lv.full_name(), EBUSY)
        raise
    if n.alias:
        dm.devices.unalias(n.alias)
    for d in n.deps:
        sub = _active(dm, d)
        if sub is not None and not sub.open_count():
            _down(dm, d)
    return True
