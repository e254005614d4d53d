# A dm table: parsing of the text form (as dmsetup reads it) and the
# kernel's load-time rules (dm-table.c): targets contiguous from sector 0,
# no zero lengths, a known target type, constructor arguments accepted.
# Device-size checks happen at resume, as in the kernel.

from dmfw.errors import DMError, EINVAL, ENODEV
from dmfw.target import TargetError, lcm_not_zero
from dmfw.numbers import parse_uint
from dmfw.targets import target_class


def split_args(s):
    # dm_split_args(): whitespace separated, backslash escapes the next char.
    out = []
    cur = None
    esc = False
    for ch in s:
        if esc:
            cur = (cur or "") + ch
            esc = False
        elif ch == "\\":
            esc = True
            if cur is None:
                cur = ""
        elif ch in " \t\n\r\f\v":
            if cur is not None:
                out.append(cur)
                cur = None
        else:
            cur = (cur or "") + ch
    if cur is not None:
        out.append(cur)
    return out


def parse_lines(text, source=""):
    """Table text → [(start, length, type, argstring)] the way dmsetup's
    _parse_line reads it (blank lines and # comments skipped)."""
    out = []
    lineno = 0
    for raw in text.split("\n"):
        lineno += 1
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        f = line.split(None, 3)
        start = parse_uint(f[0]) if f else None
        size = parse_uint(f[1]) if len(f) > 1 else None
        if start is None or size is None or len(f) < 3:
            raise DMError(EINVAL, "Invalid format on line %d of table%s."
                          % (lineno, " " + source if source else ""))
        rest = f[3] if len(f) > 3 else ""
        i = rest.find("#")
        if i >= 0:
            rest = rest[:i]
        out.append((start, size, f[2], rest.strip()))
    return out


class Table:
    """A table being built for dm device `md` (mode from `readonly`).
    Targets receive this object as their ctx."""

    def __init__(self, mapper, md, readonly=False):
        self.mapper = mapper
        self.md = md
        self.readonly = readonly
        self.targets = []
        self.begins = []
        self.used = []          # lower devices, once each

    def get_device(self, spec):
        """dm_get_device(): resolve a device argument and hold it."""
        dev = self.mapper.devices.find(spec)
        if dev is None:
            raise TargetError("Device lookup failed", ENODEV)
        if dev is self.md or self.mapper.depends_on(dev, self.md):
            raise TargetError("Device lookup failed: table would stack %s on itself"
                              % self.md.name)
        if dev not in self.used:
            self.used.append(dev)
        return dev

    def add_target(self, start, length, ttype, args):
        where = self.md.devno()
        if length == 0:
            raise TargetError("%s: zero-length target" % where)
        try:
            cls = target_class(ttype)
        except DMError as e:
            raise TargetError("%s: %s: %s" % (where, ttype, e.msg), e.errno)
        if cls is None:
            raise TargetError("%s: %s: unknown target type" % (where, ttype))
        end = self.end()
        if start != end:
            # The kernel says this for overlaps too (adjoin() in dm-table.c).
            raise TargetError("%s: %s: Gap in table" % (where, ttype))
        if self.targets and self.targets[0].singleton:
            raise TargetError("%s: target type %s must appear alone in table"
                              % (where, self.targets[0].name))
        if cls.singleton and self.targets:
            raise TargetError("%s: %s: singleton target type must appear alone in table"
                              % (where, ttype))
        if cls.needs_readonly and not self.readonly:
            raise TargetError("%s: %s: Device must be readonly" % (where, ttype))
        argv = split_args(args) if isinstance(args, str) else list(args)
        try:
            t = cls(self, start, length, argv)
        except TargetError as e:
            raise TargetError("%s: %s: %s" % (self.md.devno(), ttype, e.msg), e.errno)
        self.targets.append(t)
        self.begins.append(start)
        return t

    def end(self):
        if not self.targets:
            return 0
        t = self.targets[-1]
        return t.begin + t.length

    def check_areas(self):
        """device_area_is_invalid(): every lower range inside its device."""
        for t in self.targets:
            for dev, start, length in t.areas():
                if start + length > dev.nr_sectors:
                    raise TargetError(
                        "%s: %s too small for target: start=%d, len=%d, dev_size=%d"
                        % (self.md.devno(), dev.name, start, length, dev.nr_sectors))

    def find(self, sector):
        """Index of the target holding `sector` (binary search)."""
        lo = 0
        hi = len(self.begins) - 1
        b = self.begins
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if b[mid] <= sector:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def io_opt(self):
        v = 0
        for t in self.targets:
            v = lcm_not_zero(v, t.io_opt())
        return v

    def logical_block_size(self):
        v = 512
        for t in self.targets:
            v = max(v, t.logical_block_size())
        return v

    def destroy(self):
        for t in self.targets:
            t.dtr()
        self.targets = []
        self.begins = []
        self.used = []


def build(mapper, md, lines, readonly=False):
    """Lines of (start, length, type, args) → a complete Table, or a
    DMError with nothing held."""
    t = Table(mapper, md, readonly)
    try:
        if not lines:
            raise TargetError("%s: no targets in table" % md.devno())
        for start, length, ttype, args in lines:
            t.add_target(start, length, ttype, args)
    except DMError:
        t.destroy()
        raise
    return t
