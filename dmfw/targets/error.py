"""dm-error: every I/O fails; also what `dmsetup remove --force` swaps in.

Table:  error           (no arguments; any trailing words are ignored)
Status: (empty)
"""

from dmfw.target import Target
from dmfw.errors import IOFailure


class ErrorTarget(Target):
    name = "error"
    version = (1, 7, 0)
    wildcard = True

    def __init__(self, ctx, begin, length, argv):
        # The kernel's io_err_ctr ignores any arguments it is given.
        Target.__init__(self, ctx, begin, length, argv)

    def read(self, sector, mv):
        raise IOFailure("%s: I/O error (error target) at sector %d"
                        % (self.ctx.md.dm_name, self.begin + sector))

    write = read


TARGETS = [ErrorTarget]
