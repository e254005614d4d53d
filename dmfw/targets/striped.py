# dm-stripe: chunks dealt round-robin over N devices, with the kernel's
# validation (dm-stripe.c stripe_ctr) and chunk mapping.

from dmfw.target import Target, TargetError, parse_u64
from dmfw.blockdev import SECTOR_SHIFT


class StripedTarget(Target):
    name = "striped"
    version = (1, 7, 0)

    def __init__(self, ctx, begin, length, argv):
        Target.__init__(self, ctx, begin, length, argv)
        if len(argv) < 2:
            raise TargetError("Not enough arguments")
        try:
            n = parse_u64(argv[0], "stripe count")
        except TargetError:
            n = 0
        if not n or n >= 1 << 32:
            raise TargetError("Invalid stripe count")
        try:
            chunk = parse_u64(argv[1], "chunk_size")
        except TargetError:
            chunk = 0
        if not chunk or chunk >= 1 << 32:
            raise TargetError("Invalid chunk_size")
        if length % n:
            raise TargetError("Target length not divisible by number of stripes")
        width = length // n
        if width % chunk:
            raise TargetError("Target length not divisible by chunk size")
        if len(argv) != 2 + 2 * n:
            raise TargetError("Not enough destinations specified")
        self.stripes = n
        self.chunk = chunk
        self.width = width
        self.devs = []
        self.starts = []
        for i in range(n):
            a = argv[2 + 2 * i:4 + 2 * i]
            s = a[1]
            if not s.isdigit() or int(s) >= 1 << 64:
                raise TargetError("Couldn't parse stripe destination")
            self.devs.append(ctx.get_device(a[0]))
            self.starts.append(int(s))
        self.errors = [0] * n

    def _io(self, sector, mv, write):
        chunk = self.chunk
        n = self.stripes
        total = len(mv) >> SECTOR_SHIFT
        done = 0
        while done < total:
            off = sector + done
            c = off // chunk
            in_chunk = off - c * chunk
            stripe = c % n
            cnt = chunk - in_chunk
            if cnt > total - done:
                cnt = total - done
            dsec = (c // n) * chunk + in_chunk + self.starts[stripe]
            part = mv[done << SECTOR_SHIFT:(done + cnt) << SECTOR_SHIFT]
            dev = self.devs[stripe]
            try:
                if write:
                    dev.writeblocks(dsec, part)
                else:
                    dev.readblocks(dsec, part)
            except Exception:
                self.errors[stripe] += 1
                raise
            done += cnt

    def read(self, sector, mv):
        self._io(sector, mv, False)

    def write(self, sector, mv):
        self._io(sector, mv, True)

    def params(self, showkeys=False):
        s = "%d %d" % (self.stripes, self.chunk)
        for i in range(self.stripes):
            s += " %s %d" % (self.devs[i].devno(), self.starts[i])
        return s

    def status(self):
        s = "%d " % self.stripes
        for d in self.devs:
            s += d.devno() + " "
        return s + "1 " + "".join(["D" if e else "A" for e in self.errors])

    def areas(self):
        return [(self.devs[i], self.starts[i], self.width)
                for i in range(self.stripes)]

    def io_opt(self):
        # stripe_io_hints(): optimal I/O is one full stripe row.
        return (self.chunk << SECTOR_SHIFT) * self.stripes


TARGETS = [StripedTarget]
