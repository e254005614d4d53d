"""dm-raid, RAID1 only, read side (dm-raid.c superblocks, md raid1's read
balancing): a leg serves reads when it is present, not failed, as fresh as
the freshest superblock and not being rebuilt; past the array's resync
point only the first such leg may serve, as md reads during a resync.
On an I/O error the next usable leg is tried. Writes go to every usable
leg; the superblocks and bitmap are left alone (firmware does no resync).

  raid raid1 <#params> <chunk> [sync|nosync] [rebuild N]... [region_size N]
       [min_recovery_rate N] [max_recovery_rate N] [write_mostly N]...
       [max_write_behind N] [daemon_sleep N] <#devs> (<meta|-> <data|->)+

Status: <raid type> <#devices> <health> <in sync>/<array sectors> <sync action>
        <mismatch count> <data offset> <journal>
    health per leg A (alive, in sync), a (alive, recovering), D (failed);
    sync action "idle" (firmware does not resync): raid_status.
"""

import struct

from dmfw.target import Target, TargetError, parse_u64
from dmfw.errors import DMError, IOFailure
from dmfw.blockdev import SECTOR_SHIFT

DM_RAID_MAGIC = 0x64526D44      # "DmRd"
MAX_SECTOR = (1 << 64) - 1
_VALUED = ("rebuild", "region_size", "min_recovery_rate", "max_recovery_rate",
           "write_mostly", "max_write_behind", "daemon_sleep", "stripe_cache",
           "data_offset")


def _u(s, what):
    try:
        return parse_u64(s, what)
    except TargetError:
        raise TargetError("Invalid %s" % what)


class RaidTarget(Target):
    name = "raid"
    version = (1, 15, 1)

    def __init__(self, ctx, begin, length, argv):
        Target.__init__(self, ctx, begin, length, argv)
        if len(argv) < 2:
            raise TargetError("Too few arguments")
        self.level = argv[0]
        if self.level != "raid1":
            raise TargetError("Unrecognised raid_type (dmfw reads raid1 only): %s"
                              % self.level)
        np = _u(argv[1], "number of raid parameters")
        params = argv[2:2 + np]
        if len(params) != np or not params:
            raise TargetError("Not enough raid parameters given")
        self.params_argv = params
        self.chunk = _u(params[0], "chunk size")
        self.rebuild = []
        self.sync = None
        i = 1
        while i < len(params):
            k = params[i]
            if k in ("sync", "nosync"):
                self.sync = k
                i += 1
                continue
            if k not in _VALUED or i + 1 >= len(params):
                raise TargetError("Unable to parse RAID parameter: %s" % k)
            v = _u(params[i + 1], k)
            if k == "rebuild":
                self.rebuild.append(v)
            i += 2
        rest = argv[2 + np:]
        if not rest:
            raise TargetError("Too few arguments")
        n = _u(rest[0], "number of raid devices")
        if n < 2 or n > 253 or len(rest) != 1 + 2 * n:
            raise TargetError("Wrong number of raid devices specified")
        self.metas = []
        self.datas = []
        for k in range(n):
            m, d = rest[1 + 2 * k], rest[2 + 2 * k]
            self.metas.append(None if m == "-" else ctx.get_device(m))
            self.datas.append(None if d == "-" else ctx.get_device(d))
        for r in self.rebuild:
            if r >= n:
                raise TargetError("Invalid rebuild index given")
        if not [d for d in self.datas if d is not None]:
            raise TargetError("No usable raid1 leg")
        self.failed = [d is None for d in self.datas]
        self._superblocks()

    def _superblocks(self):
        """Usable legs and the resync point, from the dm-raid superblocks."""
        n = len(self.datas)
        sbs = [None] * n
        for k in range(n):
            m = self.metas[k]
            if m is None or self.failed[k]:
                continue
            try:
                b = m.pread(0, 48)
            except DMError:
                continue
            if struct.unpack_from("<I", b, 0)[0] == DM_RAID_MAGIC:
                sbs[k] = struct.unpack_from("<IIIIQQQQ", b, 0)
        events = max([s[4] for s in sbs if s] or [0])
        fresh = [s for s in sbs if s and s[4] == events]
        failed_bits = fresh[0][5] if fresh else 0
        self.resync = fresh[0][7] if fresh else 0
        if self.sync == "nosync":
            self.resync = MAX_SECTOR
        self.recovery = [MAX_SECTOR] * n
        for k in range(n):
            if self.failed[k]:
                continue
            s = sbs[k]
            if k in self.rebuild or (failed_bits >> k) & 1:
                self.failed[k] = True
            elif s is None:
                # No superblock: a new array (all legs to resync) unless a
                # fresh one elsewhere says otherwise.
                self.recovery[k] = MAX_SECTOR if not fresh else 0
            elif s[4] != events:
                self.recovery[k] = 0
            else:
                self.recovery[k] = s[6]
        usable = [k for k in range(n) if not self.failed[k] and self.recovery[k] == MAX_SECTOR]
        self.primary = usable[0] if usable else None

    def _legs(self, sector, n):
        """Legs that may serve [sector, sector+n), best first."""
        end = sector + n
        if self.resync != MAX_SECTOR and end > self.resync:
            # Not yet resynced: only the leg the resync copies from holds
            # the data, failed or not.
            k = self.primary
            return [] if k is None or self.failed[k] else [k]
        return [k for k in range(len(self.datas))
                if not self.failed[k] and self.recovery[k] >= end]

    def read(self, sector, mv):
        n = len(mv) >> SECTOR_SHIFT
        for k in self._legs(sector, n):
            try:
                self.datas[k].readblocks(sector, mv)
                return
            except DMError:
                self.failed[k] = True
        raise IOFailure("raid1: no in-sync leg could read sector %d+%d" % (sector, n))

    def write(self, sector, mv):
        ok = 0
        for k in range(len(self.datas)):
            if self.failed[k]:
                continue
            try:
                self.datas[k].writeblocks(sector, mv)
                ok += 1
            except DMError:
                self.failed[k] = True
        if not ok:
            raise IOFailure("raid1: write failed on every leg (sector %d)" % sector)

    def params(self, showkeys=False):
        s = "%s %d %s %d" % (self.level, len(self.params_argv),
                             " ".join(self.params_argv), len(self.datas))
        for m, d in zip(self.metas, self.datas):
            s += " %s %s" % (m.devno() if m else "-", d.devno() if d else "-")
        return s

    def status(self):
        health = ""
        for k in range(len(self.datas)):
            if self.failed[k]:
                health += "D"
            elif self.recovery[k] >= self.length:
                health += "A"
            else:
                health += "a"
        done = self.length if self.resync >= self.length else self.resync
        return "%s %d %s %d/%d idle 0 0 -" % (self.level, len(self.datas), health,
                                             done, self.length)

    def areas(self):
        out = []
        for m, d in zip(self.metas, self.datas):
            if m is not None:
                out.append((m, 0, 1))
            if d is not None:
                out.append((d, 0, self.length))
        return out


TARGETS = [RaidTarget]
