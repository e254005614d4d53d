"""dm-mirror (dm-raid1.c, dm-log.c) as firmware needs it: reads come from
the default mirror; when it fails, a region the dirty log records as in
sync is read from another leg, and an out-of-sync region fails, as the
kernel does before its resync has run. Writes go to every leg. The log is
read (disk) or assumed (core), never rewritten: firmware does no resync.

  mirror core <#args> <region_size> [sync|nosync] <#mirrors> (<dev> <off>)+ [<#f> <features>]
  mirror disk <#args> <logdev> <region_size> [sync|nosync] ...

Status: <#legs> <dev>... <in sync regions>/<total regions> 1 <health>
        <#log args> <log type> [<log dev> <log health>]
    health per leg A (alive) / D (failed); core logs give "1 core", disk
    logs "3 disk <MAJ:MIN> A|D" (mirror_status, STATUSTYPE_INFO).
"""

import struct

from dmfw.target import Target, TargetError, parse_u64
from dmfw.errors import DMError, IOFailure, EIO
from dmfw.blockdev import SECTOR_SHIFT

MIRROR_MAGIC = 0x4D695272       # "MiRr"
LOG_OFFSET = 2                  # sectors from the log header to the clean bits


def _u(s, what):
    try:
        return parse_u64(s, what)
    except TargetError:
        raise TargetError("Invalid %s" % what)


class MirrorTarget(Target):
    name = "mirror"
    version = (1, 14, 0)

    def __init__(self, ctx, begin, length, argv):
        Target.__init__(self, ctx, begin, length, argv)
        if len(argv) < 3:
            raise TargetError("Invalid argument count")
        self.log_type = argv[0]
        if self.log_type not in ("core", "disk"):
            raise TargetError("Error creating mirror dirty log")
        nlog = _u(argv[1], "log argument count")
        largs = argv[2:2 + nlog]
        if len(largs) != nlog:
            raise TargetError("Insufficient mirror log arguments")
        self.log_dev = None
        if self.log_type == "disk":
            if not largs:
                raise TargetError("Error creating mirror dirty log")
            self.log_dev = ctx.get_device(largs[0])
            largs = largs[1:]
        if not largs:
            raise TargetError("Error creating mirror dirty log")
        self.region_size = _u(largs[0], "region size")
        if not self.region_size or self.region_size & (self.region_size - 1):
            raise TargetError("Error creating mirror dirty log")
        self.sync = None
        for a in largs[1:]:
            if a in ("sync", "nosync") and self.sync is None:
                self.sync = a
            else:
                raise TargetError("Error creating mirror dirty log")
        i = 2 + nlog
        if i >= len(argv):
            raise TargetError("Invalid number of mirrors")
        n = _u(argv[i], "number of mirrors")
        if n < 2 or n > 8:
            raise TargetError("Invalid number of mirrors")
        i += 1
        if len(argv) < i + 2 * n:
            raise TargetError("Too few mirror arguments")
        self.devs = []
        self.offsets = []
        for k in range(n):
            self.devs.append(ctx.get_device(argv[i]))
            self.offsets.append(_u(argv[i + 1], "offset"))
            i += 2
        self.features = []
        if i < len(argv):
            nf = _u(argv[i], "number of features")
            self.features = argv[i + 1:]
            if len(self.features) != nf:
                raise TargetError("Not enough arguments to support feature count")
            for f in self.features:
                if f not in ("handle_errors", "keep_log"):
                    raise TargetError("Unrecognised feature requested")
        self.failed = [False] * n
        self.health = ["A"] * n
        self.nr_regions = (length + self.region_size - 1) // self.region_size
        self.clean = self._read_log()

    def _read_log(self):
        """The in-sync regions at load: a bytes bitset (1 = in sync)."""
        nbytes = (self.nr_regions + 7) >> 3
        if self.sync == "nosync":
            return b"\xff" * nbytes
        if self.log_dev is None or self.sync == "sync":
            # A core log starts with everything to resync; "sync" forces it.
            return bytes(nbytes)
        try:
            hdr = self.log_dev.pread(0, 16)
            magic, _version, nr = struct.unpack("<IIQ", hdr)
            if magic != MIRROR_MAGIC or nr != self.nr_regions:
                # A fresh or foreign log: nothing is known to be in sync.
                return bytes(nbytes)
            return bytes(self.log_dev.pread(LOG_OFFSET << SECTOR_SHIFT, nbytes))
        except DMError:
            self.log_failed = True
            return bytes(nbytes)

    log_failed = False

    def in_sync(self, region):
        return bool(self.clean[region >> 3] & (1 << (region & 7)))

    def sync_count(self):
        n = 0
        for r in range(self.nr_regions):
            if self.in_sync(r):
                n += 1
        return n

    def read(self, sector, mv):
        # The first leg is the default mirror; once it has failed, the kernel
        # keeps it as default unless the whole mirror was in sync, so regions
        # not in sync can only fail from then on.
        if not self.failed[0]:
            try:
                self.devs[0].readblocks(self.offsets[0] + sector, mv)
                return
            except DMError:
                self.failed[0] = True
                self.health[0] = "R"
        # Retry region by region on the legs still working, where the log
        # says the legs agree.
        n = len(mv) >> SECTOR_SHIFT
        rs = self.region_size
        done = 0
        while done < n:
            s = sector + done
            cnt = rs - s % rs
            if cnt > n - done:
                cnt = n - done
            if not self.in_sync(s // rs):
                raise IOFailure("mirror: read error on the default mirror in a "
                                "region that is not in sync (sector %d)" % s)
            self._read_other(s, mv[done << SECTOR_SHIFT:(done + cnt) << SECTOR_SHIFT])
            done += cnt

    def _read_other(self, sector, mv):
        for k in range(len(self.devs)):
            if self.failed[k]:
                continue
            try:
                self.devs[k].readblocks(self.offsets[k] + sector, mv)
                return
            except DMError:
                self.failed[k] = True
                self.health[k] = "R"
        raise IOFailure("mirror: all mirrors have failed (sector %d)" % sector, EIO)

    def write(self, sector, mv):
        ok = 0
        for k in range(len(self.devs)):
            if self.failed[k]:
                continue
            try:
                self.devs[k].writeblocks(self.offsets[k] + sector, mv)
                ok += 1
            except DMError:
                self.failed[k] = True
                self.health[k] = "D"
        if not ok:
            raise IOFailure("mirror: write failed on every mirror (sector %d)" % sector)

    def _log_args(self):
        a = []
        if self.log_dev is not None:
            a.append(self.log_dev.devno())
        a.append(str(self.region_size))
        if self.sync:
            a.append(self.sync)
        return a

    def params(self, showkeys=False):
        la = self._log_args()
        s = "%s %d %s %d" % (self.log_type, len(la), " ".join(la), len(self.devs))
        for d, o in zip(self.devs, self.offsets):
            s += " %s %d" % (d.devno(), o)
        if self.features:
            s += " %d %s" % (len(self.features), " ".join(self.features))
        return s

    def status(self):
        s = "%d " % len(self.devs)
        for d in self.devs:
            s += d.devno() + " "
        s += "%d/%d 1 %s " % (self.sync_count(), self.nr_regions, "".join(self.health))
        if self.log_dev is None:
            return s + "1 core"
        return s + "3 disk %s %s" % (self.log_dev.devno(), "D" if self.log_failed else "A")

    def areas(self):
        out = [(d, o, self.length) for d, o in zip(self.devs, self.offsets)]
        if self.log_dev is not None:
            out.append((self.log_dev, 0, 1))
        return out


TARGETS = [MirrorTarget]
