"""dm-stripe: chunks dealt round-robin over N devices, with the kernel's
validation (dm-stripe.c stripe_ctr) and chunk mapping.

Table:  striped <#stripes> <chunk size> (<dev> <offset>){#stripes}
    <chunk size> in sectors; the target length must divide into whole
    chunks per stripe (stripe_ctr's checks and messages).
Status: <#stripes> <dev>... 1 <health>
    one MAJ:MIN per stripe, then "1" and per stripe "A" (alive) or "D"
    (an I/O error was seen on it), as dm-stripe's stripe_status.
"""

from dmfw.target import Target, TargetError, parse_u64
from dmfw.numbers import parse_uint
from dmfw.blockdev import SECTOR_SHIFT


class StripedTarget(Target):
    name = "striped"
    version = (1, 6, 0)
    MAX_PLANS = 32
    PLAN_SECTORS = 16384        # 8 MiB

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
            if parse_uint(s) is None:
                raise TargetError("Couldn't parse stripe destination")
            self.devs.append(ctx.get_device(a[0]))
            self.starts.append(int(s))
        self.errors = [0] * n
        self._plans = {}

    def _io(self, sector, mv, write):
        chunk = self.chunk
        total = len(mv) >> SECTOR_SHIFT
        c = sector // chunk
        in_chunk = sector - c * chunk
        if chunk - in_chunk >= total:
            # Inside one chunk: a single request to a single device.
            n = self.stripes
            stripe = c % n
            return self._one(stripe, (c // n) * chunk + in_chunk + self.starts[stripe],
                             mv, write)
        # Pieces of one request that land on the same stripe are contiguous
        # on that device (chunk c and c+n sit side by side), so each stripe
        # gets one vectored request instead of one per chunk. Where the
        # pieces go depends only on the request's place in its row and its
        # length, so that split is worked out once and reused: a stream
        # of 1 MiB reads spent a tenth of its time recomputing it.
        row_len = chunk * self.stripes
        row = sector // row_len
        key = (sector - row * row_len, total)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(key[0], total)
        base = row * chunk
        starts = self.starts
        devs = self.devs
        i = -1
        try:
            if write:
                for i, rel, cuts in plan:
                    devs[i].writev(starts[i] + base + rel, [mv[a:b] for a, b in cuts])
            else:
                for i, rel, cuts in plan:
                    devs[i].readv(starts[i] + base + rel, [mv[a:b] for a, b in cuts])
        except Exception:
            # As in _one: the failing stripe's status letter turns to D.
            if i >= 0:
                self.errors[i] += 1
            raise

    def _plan(self, off, total):
        """[(stripe, first sector on it relative to the row's, [(start,
        end) byte ranges of the request]), ...] for a request of `total`
        sectors at sector `off` of a row."""
        chunk = self.chunk
        n = self.stripes
        c = off // chunk
        in_chunk = off - c * chunk
        stripe = c % n
        row = c // n
        first = [0] * n
        parts = [None] * n
        done = 0
        while done < total:
            cnt = chunk - in_chunk
            if cnt > total - done:
                cnt = total - done
            part = (done << SECTOR_SHIFT, (done + cnt) << SECTOR_SHIFT)
            if parts[stripe] is None:
                first[stripe] = row * chunk + in_chunk
                parts[stripe] = [part]
            else:
                parts[stripe].append(part)
            done += cnt
            in_chunk = 0
            stripe += 1
            if stripe == n:
                stripe = 0
                row += 1
        plan = [(i, first[i], parts[i]) for i in range(n) if parts[i] is not None]
        # Bounded: odd request patterns must not grow it without end, and
        # a one-off huge request (a whole-device read) is not kept.
        if total <= self.PLAN_SECTORS:
            if len(self._plans) >= self.MAX_PLANS:
                self._plans.clear()
            self._plans[(off, total)] = plan
        return plan

    def _one(self, i, dsec, what, write):
        dev = self.devs[i]
        try:
            if write:
                dev.writeblocks(dsec, what)
            else:
                dev.readblocks(dsec, what)
        except Exception:
            # The stripe's status letter turns to D, as the kernel's end_io does.
            self.errors[i] += 1
            raise

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
