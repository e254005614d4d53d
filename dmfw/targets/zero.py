"""dm-zero: reads return zeros, writes are discarded (as the kernel does).

Table:  zero            (no arguments)
Status: (empty)
"""

from dmfw.target import Target, TargetError

_ZEROS = bytearray(65536)


class ZeroTarget(Target):
    name = "zero"
    version = (1, 2, 0)

    def __init__(self, ctx, begin, length, argv):
        Target.__init__(self, ctx, begin, length, argv)
        if argv:
            raise TargetError("No arguments required")

    def read(self, sector, mv):
        n = len(mv)
        z = _ZEROS
        step = len(z)
        o = 0
        while o < n:
            k = n - o if n - o < step else step
            mv[o:o + k] = z[:k] if k < step else z
            o += k

    def write(self, sector, mv):
        pass


TARGETS = [ZeroTarget]
