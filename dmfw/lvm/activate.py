# Activation is a dm create with lvm2's name, UUID and table; the LV is
# then reachable as /dev/VG/LV beside the mapper's /dev/mapper/vg-lv.

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
    if dm.find(lv.dm_name()) is not None:
        raise LVMError("dm device %s exists but does not belong to LV %s."
                       % (lv.dm_name(), lv.full_name()), EBUSY)
    md = dm.create(lv.dm_name(), lv.dm_uuid(), lv.table(),
                   readonly=not lv.writable())
    dm.devices.alias("/dev/%s/%s" % (lv.vg.name, lv.name), md)
    return md


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
    return True
