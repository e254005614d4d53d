# What veritysetup and cryptsetup share as libcryptsetup's callers: a failure that
# carries cryptsetup's lines, and activation with the lines the kernel logs and
# libdevmapper prints when the table is refused.

from dmfw.errors import DMError, EINVAL


class Fail(DMError):
    """A cryptsetup/veritysetup failure: errno plus the lines the tool prints;
    `usage` adds popt's usage hint (cryptsetup's bad parameters)."""

    def __init__(self, errno, lines=(), usage=False):
        DMError.__init__(self, errno, "; ".join(lines) or None)
        self.lines = list(lines)
        self.usage = usage


def dm_create(sh, name, uuid, line, readonly):
    """Create dm device `name` with table `line` -> the device; a refused table is
    Fail with "device-mapper: table: ..." and the reload ioctl line, numbered with
    the minor the device would have had."""
    from dmfw.devices import DM_MAJOR
    minor = sh.devices.free_minor(DM_MAJOR)
    try:
        return sh.dm.create(name, uuid=uuid, table=line, readonly=readonly)
    except DMError as e:
        from dmfw.errors import strerror
        raise Fail(EINVAL, ["device-mapper: table: %s" % e.msg,
                            "device-mapper: reload ioctl on %s (%d:%d) failed: %s"
                            % (name, DM_MAJOR, minor, strerror(e.errno))])
