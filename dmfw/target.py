# The target interface, in the shape of Linux's struct target_type: a target
# is constructed from its table arguments (ctr), maps I/O on a sector range
# of the dm device, and reports its table line and status. Everything a
# format (LVM, verity, LUKS, DDI) activates is one of these, built from a
# table line, never a special I/O path.

from dmfw.errors import DMError, EINVAL, EIO
from dmfw.numbers import parse_uint


class TargetError(DMError):
    """A constructor refusal: Linux's ti->error string plus errno."""

    def __init__(self, msg, errno=EINVAL):
        DMError.__init__(self, errno, msg)


def parse_u64(s, what):
    # The kernel parses table numbers with kstrtoull/sscanf("%llu%c"):
    # plain decimal only, nothing trailing.
    v = parse_uint(s)
    if v is None:
        raise TargetError("Invalid %s" % what)
    return v


def lcm_not_zero(a, b):
    if not a:
        return b
    if not b:
        return a
    x, y = a, b
    while y:
        x, y = y, x % y
    return a // x * b


class Target:
    name = None
    version = (1, 0, 0)
    # A target whose device must be loaded read-only (verity).
    needs_readonly = False
    # DM_TARGET_SINGLETON: must be the only target of its table.
    singleton = False
    # DM_TARGET_IMMUTABLE: a reload cannot change the device to another type.
    immutable = False
    # DM_TARGET_WILDCARD: may replace any table (the error target).
    wildcard = False

    def __init__(self, ctx, begin, length, args):
        """ctx is the table being loaded (dmfw.table.Table): ctx.get_device
        resolves a device argument, ctx.readonly is the table mode,
        ctx.mapper reaches keyring/platform hooks."""
        self.ctx = ctx
        self.begin = begin
        self.length = length

    # -- I/O. sector is relative to the target start; mv is a memoryview
    # whose length is a multiple of 512 and lies inside the target.
    def read(self, sector, mv):
        raise DMError(EIO, "%s: read not supported" % self.name)

    def write(self, sector, mv):
        raise DMError(EIO, "%s: write not supported" % self.name)

    # -- reporting
    def params(self, showkeys=False):
        """The argument part of `dmsetup table` for this target."""
        return ""

    def status(self):
        """The argument part of `dmsetup status` for this target."""
        return ""

    def message(self, argv):
        raise TargetError("Unrecognised message received.")

    # -- the devices this target uses: [(device, start, nr_sectors)],
    # checked against the device size when the table is resumed.
    def areas(self):
        return []

    def io_opt(self):
        """Stacked optimal I/O size: lcm of the lower devices' (0 = none)."""
        v = 0
        for dev, start, n in self.areas():
            v = lcm_not_zero(v, dev.io_opt())
        return v

    def logical_block_size(self):
        """Stacked logical block size (blk_stack_limits): the largest of the lower
        devices'; a target whose io_hints raise it (verity) overrides this."""
        v = 512
        for dev, _start, _n in self.areas():
            v = max(v, dev.logical_block_size)
        return v

    def shrink(self):
        """Memory pressure (a firmware heap that does not compact): drop what the
        target can rebuild, as the kernel's shrinkers do. Nothing by default."""

    def dtr(self):
        pass
