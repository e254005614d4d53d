"""dm-linear: one contiguous range of a lower device.

Table:  linear <dev> <offset>
    <dev>     lower device (path or MAJ:MIN); <offset> its first sector.
Status: (empty), as the kernel's linear_status.
"""

from dmfw.target import Target, TargetError, parse_u64


class LinearTarget(Target):
    name = "linear"
    version = (1, 4, 0)

    def __init__(self, ctx, begin, length, argv):
        Target.__init__(self, ctx, begin, length, argv)
        if len(argv) != 2:
            raise TargetError("Invalid argument count")
        try:
            self.start = parse_u64(argv[1], "device sector")
        except TargetError:
            raise TargetError("Invalid device sector")
        self.dev = ctx.get_device(argv[0])

    def read(self, sector, mv):
        self.dev.readblocks(self.start + sector, mv)

    def write(self, sector, mv):
        self.dev.writeblocks(self.start + sector, mv)

    def params(self, showkeys=False):
        return "%s %d" % (self.dev.devno(), self.start)

    def areas(self):
        return [(self.dev, self.start, self.length)]


TARGETS = [LinearTarget]
