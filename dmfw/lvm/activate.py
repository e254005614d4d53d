# Activation is a dm create with lvm2's name, UUID and table; a visible LV
# is then reachable as /dev/VG/LV beside the mapper's /dev/mapper/vg-lv.
# LVs built on other LVs (mirror images and logs) get those activated
# first, as hidden dm devices of their own, as lvm2's dependency tree does.

from dmfw.errors import DMError, EBUSY
from dmfw.lvm.vg import LVMError


def active_device(dm, lv):
    """The dm device of `lv` if it is active (name and UUID both match)."""
    md = dm.find(lv.dm_name())
    if md is not None and md.uuid == lv.dm_uuid():
        return md
    return None


def activate(dm, lv):
    md = active_device(dm, lv)
    if md is not None:
        return md
    lv.require_activation()
    if dm.find(lv.dm_name()) is not None:
        raise LVMError("dm device %s exists but does not belong to LV %s."
                       % (lv.dm_name(), lv.full_name()), EBUSY)
    made = []
    try:
        for sub in lv.sub_lvs():
            if active_device(dm, sub) is None:
                activate(dm, sub)
                made.append(sub)
        md = dm.create(lv.dm_name(), lv.dm_uuid(),
                       lv.table(lambda sub: _devspec(active_device(dm, sub))),
                       readonly=not lv.writable())
    except DMError:
        for sub in reversed(made):
            deactivate(dm, sub)
        raise
    if lv.visible:
        dm.devices.alias("/dev/%s/%s" % (lv.vg.name, lv.name), md)
    return md


def _devspec(md):
    return md.devno()


def deactivate(dm, lv):
    md = active_device(dm, lv)
    if md is None:
        return False
    try:
        dm.remove(lv.dm_name())
    except DMError as e:
        if e.errno == EBUSY:
            raise LVMError("Logical volume %s in use." % lv.full_name(), EBUSY)
        raise
    dm.devices.unalias("/dev/%s/%s" % (lv.vg.name, lv.name))
    for sub in lv.sub_lvs():
        sub_md = active_device(dm, sub)
        if sub_md is not None and not sub_md.open_count():
            deactivate(dm, sub)
    return True
