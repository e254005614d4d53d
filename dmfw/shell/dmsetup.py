# dmsetup, printing what lvm2's libdm/dm-tools/dmsetup.c prints for the
# same device-mapper state: messages, spacing and ordering included.

from dmfw.errors import DMError, EBUSY, ENXIO, strerror
from dmfw.target import TargetError
from dmfw.numbers import is_decimal
from dmfw.shell.options import getopt

LIBRARY_VERSION = "1.02.205 (2025-02-27)"
DRIVER_VERSION = "4.48.0"

# option -> takes a value
_OPTS = {
    "-u": 1, "--uuid": 1, "-r": 0, "--readonly": 0, "--notable": 0,
    "--table": 1, "-f": 0, "--force": 0, "--showkeys": 0, "-c": 0, "-C": 0,
    "--columns": 0, "--noheadings": 0, "-o": 1, "--options": 1,
    "--target": 1, "--concise": 0, "--inactive": 0, "-v": 0, "--verbose": 0,
    "--noflush": 0, "--nolockfs": 0, "--noudevsync": 0, "--noudevrules": 0,
    "--verifyudev": 0, "-y": 0, "--yes": 0, "--setuuid": 0, "--deferred": 0,
    "--retry": 0, "--readahead": 1, "-j": 1, "--major": 1, "-m": 1,
    "--minor": 1, "--noopencount": 0, "--addnodeoncreate": 0,
    "--addnodeonresume": 0, "--checks": 0, "--manglename": 1, "-S": 1,
    "--select": 1, "--separator": 1, "--sort": 1, "-O": 1, "--nameprefixes": 0,
    "--unbuffered": 0, "--rows": 0, "--tree": 0, "--unquoted": 0, "-h": 0, "--help": 0,
    "--version": 0,
}
_ALIAS = {"-u": "--uuid", "-r": "--readonly", "-f": "--force", "-c": "--columns",
          "-C": "--columns", "-o": "--options", "-v": "--verbose", "-y": "--yes",
          "-j": "--major", "-m": "--minor", "-S": "--select", "-O": "--sort",
          "-h": "--help"}


class Fail(Exception):
    """Command failed: lines already printed on stderr."""


def _parse(argv):
    return getopt(argv, _OPTS, _ALIAS, "dmsetup: unrecognized option '%s'",
                  "dmsetup: option '%s' requires an argument")


class Dmsetup:
    def __init__(self, sh, opts):
        self.sh = sh
        self.dm = sh.dm
        self.opts = opts

    def ioctl_fail(self, op, name, e, uuid=""):
        if isinstance(e, TargetError):
            # What the kernel logs for the refusal (dmesg on Linux).
            self.sh.error("device-mapper: table: %s" % e.msg)
        elif e.msg != strerror(e.errno):
            self.sh.error("device-mapper: %s" % e.msg)
        self.sh.error("device-mapper: %s ioctl on %s %sfailed: %s"
                      % (op, name, uuid + " " if uuid else " ", strerror(e.errno)))
        raise Fail()

    def table_text(self, file):
        if "--notable" in self.opts:
            return None
        if "--table" in self.opts:
            return self.opts["--table"]
        data = self.sh.read_input(file or "-")
        if isinstance(data, bytes):
            data = data.decode()
        return data

    def lines(self, text, file):
        from dmfw.table import parse_lines
        src = "" if "--table" in self.opts else (file or "on stdin")
        try:
            return parse_lines(text, src)
        except DMError as e:
            self.sh.error(e.msg)
            raise Fail()

    # -- commands
    def create(self, args):
        if "--concise" in self.opts:
            return self.create_concise(args)
        if not args:
            self.sh.error("Please specify device.")
            raise Fail()
        if len(args) > 2:
            self.sh.error("Too many command line arguments.")
            raise Fail()
        name = args[0]
        uuid = self.opts.get("--uuid") or ""
        text = self.table_text(args[1] if len(args) > 1 else None)
        lines = self.lines(text, args[1] if len(args) > 1 else None) \
            if text is not None else None
        ro = "--readonly" in self.opts
        if name in self.dm.by_name or (uuid and self.dm.find_uuid(uuid)):
            self.ioctl_fail("create", name, DMError(EBUSY), uuid)
        try:
            self.dm.create(name, uuid or None, None)
        except DMError as e:
            self.ioctl_fail("create", name, e, uuid)
        if lines is None:
            return 0
        for op, fn in (("reload", lambda: self.dm.load(name, lines, ro)),
                       ("resume", lambda: self.dm.resume(name))):
            try:
                fn()
            except DMError as e:
                # libdm removes the device it could not set up.
                if self.dm.find(name) is not None:
                    self.dm.remove(name)
                self.ioctl_fail(op, name, e, uuid)
        return 0

    def create_concise(self, args):
        # name,uuid,minor,flags,table[,table]...[;name,...]  (dm-mod.create=)
        text = args[0] if args else self.sh.read_input("-").decode()
        from dmfw.concise import split_escaped
        for dev in split_escaped(text.strip(), ";"):
            f = split_escaped(dev, ",")
            if len(f) < 5:
                self.sh.error("Invalid format of concise device specification.")
                raise Fail()
            name, uuid, flags = f[0], f[1], f[3]
            if flags not in ("ro", "rw"):
                self.sh.error("Invalid flags parameter '%s' in concise device "
                              "specification." % flags)
                raise Fail()
            lines = self.lines("\n".join(f[4:]), "")
            try:
                self.dm.create(name, uuid or None, lines, flags == "ro")
            except DMError as e:
                self.ioctl_fail("create", name, e, uuid)
        return 0

    def reload(self, args):
        if not args:
            self.sh.error("Please specify device.")
            raise Fail()
        name = args[0]
        text = self.table_text(args[1] if len(args) > 1 else None)
        if text is None:
            return 0
        lines = self.lines(text, args[1] if len(args) > 1 else None)
        try:
            self.dm.load(name, lines, "--readonly" in self.opts)
        except DMError as e:
            self.ioctl_fail("reload", name, e)
        return 0

    def _simple(self, op, args, fn):
        if not args:
            self.sh.error("Please specify device.")
            raise Fail()
        for name in args:
            try:
                fn(name)
            except DMError as e:
                self.ioctl_fail(op, name, e)
        return 0

    def suspend(self, args):
        return self._simple("suspend", args, self.dm.suspend)

    def resume(self, args):
        return self._simple("resume", args, self.dm.resume)

    def clear(self, args):
        return self._simple("clear", args, self.dm.clear)

    def remove(self, args):
        force = "--force" in self.opts
        return self._simple("remove", args, lambda n: self.dm.remove(n, force))

    def wipe_table(self, args):
        def wipe(name):
            md = self.dm.get(name)
            self.dm.load(name, [(0, md.nr_sectors, "error", "")], md.readonly)
            self.dm.resume(name)
        return self._simple("reload", args, wipe)

    def remove_all(self, args):
        left = self.dm.remove_all("--force" in self.opts)
        if left:
            self.sh.error("Unable to remove %d device(s)." % len(left))
            raise Fail()
        return 0

    def rename(self, args):
        if "--setuuid" in self.opts:
            if len(args) != 2:
                self.sh.error("Please specify device and new uuid.")
                raise Fail()
            try:
                self.dm.set_uuid(args[0], args[1])
            except DMError as e:
                self.ioctl_fail("rename", args[0], e)
            return 0
        if len(args) != 2:
            self.sh.error("Please specify old and new names.")
            raise Fail()
        try:
            self.dm.rename(args[0], args[1])
        except DMError as e:
            self.ioctl_fail("rename", args[0], e)
        return 0

    def message(self, args):
        if len(args) < 3:
            self.sh.error("Please specify device.")
            raise Fail()
        name = args[0]
        if not is_decimal(args[1]):
            self.sh.error("Invalid sector.")
            raise Fail()
        try:
            out = self.dm.message(name, int(args[1]), args[2:])
        except DMError as e:
            self.ioctl_fail("message", name, e)
        if out:
            self.sh.write(out + "\n")
        return 0

    def _devices(self, args, op):
        """(md, multiple) pairs for commands that default to every device."""
        if args:
            out = []
            for name in args:
                md = self.dm.find(name)
                if md is None:
                    # libdm turns ENXIO from the INFO and STATUS ioctls into
                    # "does not exist"; TABLE reports the ioctl failure.
                    if op in ("info", "status"):
                        self.sh.error("Device does not exist.")
                    else:
                        self.ioctl_fail(op, name, DMError(ENXIO))
                    raise Fail()
                out.append(md)
            return out, False
        return self.dm.list(), True

    def table(self, args, status=False):
        mds, multiple = self._devices(args, "status" if status else "table")
        if not mds:
            self.sh.write("No devices found\n")
            return 0
        if "--concise" in self.opts and not status:
            return self.table_concise(mds)
        want = self.opts.get("--target")
        showkeys = "--showkeys" in self.opts
        out = []
        for md in mds:
            t = md.inactive if "--inactive" in self.opts else md.live
            if t is None or not t.targets:
                if not want:
                    out.append(("%s: " % md.dm_name if multiple else "") + "\n")
                continue
            for tg in t.targets:
                if want and tg.name != want:
                    continue
                p = tg.status() if status else tg.params(showkeys)
                out.append("%s%d %d %s %s\n" % ("%s: " % md.dm_name if multiple else "",
                                                 tg.begin, tg.length, tg.name, p))
        self.sh.write("".join(out))
        return 0

    def table_concise(self, mds):
        from dmfw.concise import devices
        self.sh.write(devices(mds, "--showkeys" in self.opts) + "\n")
        return 0

    def status(self, args):
        return self.table(args, status=True)

    def ls(self, args):
        mds = self.dm.list()
        want = self.opts.get("--target")
        if not mds:
            self.sh.write("No devices found\n")
            return 0
        if "--tree" in self.opts and not want:
            from dmfw.shell.dmsetup_tree import render
            self.sh.write(render(self.dm, self.opts.get("--options")))
            return 0
        out = []
        for md in mds:
            if want:
                if md.live and [t for t in md.live.targets if t.name == want]:
                    out.append("%s\t(%d, %d)\n" % (md.dm_name, md.major, md.minor))
            else:
                out.append("%s\t(%d:%d)\n" % (md.dm_name, md.major, md.minor))
        self.sh.write("".join(out))
        return 0

    def info(self, args):
        mds, multiple = self._devices(args, "info")
        if not mds:
            self.sh.write("No devices found\n")
            return 0
        if "--columns" in self.opts:
            return self.info_columns(mds)
        for md in mds:
            head, tail = info_long(md)
            self.sh.write(head)
            if md.live is None:
                # dmsetup fails to read the read-ahead here, between the
                # State and Tables lines, and says so on stderr.
                self.sh.flush()
                self.sh.error("/dev/mapper/%s: open failed: No such device or address"
                              % md.dm_name)
            self.sh.write(tail)
        return 0

    def info_columns(self, mds):
        fields = (self.opts.get("--options") or
                  "name,major,minor,attr,open,segments,events,uuid")
        if fields.startswith("+"):
            fields = "name,major,minor,attr,open,segments,events,uuid," + fields[1:]
        cols = []
        for f in fields.split(","):
            spec = _FIELDS.get(f.strip())
            if spec is None:
                self.sh.error("Unrecognised field: %s" % f)
                raise Fail()
            cols.append(spec)
        rows = [[fn(md) for (_h, _w, _num, fn) in cols] for md in mds]
        sep = self.opts.get("--separator")
        heads = "--noheadings" not in self.opts
        if not heads and sep is None:
            # dmsetup emulates its old output: ':'-separated, unaligned.
            sep = ":"
        out = []
        if sep is not None:
            if heads:
                out.append(sep.join([c[0] for c in cols]) + "\n")
            for r in rows:
                out.append(sep.join(r) + "\n")
        else:
            widths = []
            for i, (h, w, num, fn) in enumerate(cols):
                for v in [h] + [r[i] for r in rows]:
                    if len(v) > w:
                        w = len(v)
                widths.append(w)
            if heads:
                out.append(" ".join([_pad(c[0], widths[i], False)
                                     for i, c in enumerate(cols)]) + "\n")
            for r in rows:
                out.append(" ".join([_pad(v, widths[i], cols[i][2])
                                     for i, v in enumerate(r)]) + "\n")
        self.sh.write("".join(out))
        return 0

    def deps(self, args):
        mds, multiple = self._devices(args, "deps")
        if not mds:
            self.sh.write("No devices found\n")
            return 0
        out = []
        for md in mds:
            # The kernel keeps a table's devices newest first (list_add).
            used = list(reversed(md.live.used)) if md.live else []
            s = ("%s: " % md.dm_name if multiple else "") + \
                "%d dependencies\t:" % len(used)
            for d in used:
                s += " (%d, %d)" % (d.major, d.minor)
            out.append(s + "\n")
        self.sh.write("".join(out))
        return 0

    def targets(self, args):
        from dmfw.targets import available
        out = []
        for cls in available():
            v = cls.version
            out.append("%-16s v%d.%d.%d\n" % (cls.name, v[0], v[1], v[2]))
        self.sh.write("".join(out))
        return 0

    def version(self, args):
        self.sh.write("Library version:   %s\nDriver version:    %s\n"
                      % (LIBRARY_VERSION, DRIVER_VERSION))
        return 0

    def mknodes(self, args):
        # /dev/mapper names are always present in the firmware's registry.
        return 0

    def help(self, args):
        self.sh.write(USAGE)
        return 0


def info_long(md):
    """dmsetup info's block, split where the read-ahead is read."""
    head = "Name:              %s\n" % md.dm_name
    head += "State:             %s%s\n" % ("SUSPENDED" if md.suspended else "ACTIVE",
                                           " (READ-ONLY)" if md.readonly else "")
    s = ""
    if md.live is not None:
        # dmsetup reads this with BLKRAGET on the node, which a device
        # without a table refuses (ENXIO): then the line is left out.
        s += "Read Ahead:        %d\n" % md.read_ahead()
    if md.live is None and md.inactive is None:
        s += "Tables present:    None\n"
    else:
        s += "Tables present:    %s%s%s\n" % (
            "LIVE" if md.live else "", " & " if md.live and md.inactive else "",
            "INACTIVE" if md.inactive else "")
    s += "Open count:        %d\n" % md.open_count()
    s += "Event number:      %d\n" % md.event_nr
    s += "Major, minor:      %d, %d\n" % (md.major, md.minor)
    s += "Number of targets: %d\n" % (len(md.live.targets) if md.live else 0)
    if md.uuid:
        s += "UUID: %s\n" % md.uuid
    return head, s + "\n"


def _attr(md):
    return (("L" if md.live else "-") + ("I" if md.inactive else "-") +
            ("s" if md.suspended else "-") + ("r" if md.readonly else "w"))


def _tables(md):
    if md.live and md.inactive:
        return "Both"
    return "Live" if md.live else ("Inactive" if md.inactive else "None")


# field -> (heading, minimum width, right-aligned, value)
_FIELDS = {
    "name": ("Name", 16, False, lambda md: md.dm_name),
    "uuid": ("UUID", 32, False, lambda md: md.uuid),
    "major": ("Maj", 3, True, lambda md: str(md.major)),
    "minor": ("Min", 3, True, lambda md: str(md.minor)),
    "attr": ("Stat", 4, False, _attr),
    "open": ("Open", 4, True, lambda md: str(md.open_count())),
    "segments": ("Targ", 4, True,
                 lambda md: str(len(md.live.targets) if md.live else 0)),
    "events": ("Event", 6, True, lambda md: str(md.event_nr)),
    "read_ahead": ("RAhead", 6, True, lambda md: str(md.read_ahead())),
    "blkdevname": ("BlkDevName", 16, False, lambda md: md.name),
    "tables_loaded": ("Tables", 6, False, _tables),
    "suspended": ("Suspended", 9, False,
                  lambda md: "Suspended" if md.suspended else "Active"),
    "readonly": ("Read-only", 9, False,
                 lambda md: "Read-only" if md.readonly else "Writeable"),
    "devno": ("DevNo", 5, False, lambda md: "%d:%d" % (md.major, md.minor)),
}


def _pad(v, w, right):
    if right:
        return " " * (w - len(v)) + v
    return v + " " * (w - len(v))


USAGE = """Usage:

dmsetup
        [--version] [-h|--help [-c|-C|--columns]]
        [-v|--verbose [-v|--verbose ...]] [-f|--force]
        [--checks] [--manglename {none|hex|auto}]
        [-r|--readonly] [--noopencount] [--noflush] [--nolockfs] [--inactive]
        [--udevcookie <cookie>] [--noudevrules] [--noudevsync] [--verifyudev]
        [-y|--yes] [--readahead {[+]<sectors>|auto|none}] [--retry]
        [-c|-C|--columns] [-o <fields>] [-O|--sort <sort_fields>]
        [-S|--select <selection>] [--nameprefixes] [--noheadings]
        [--separator <separator>]

    clear <device>
    create <dev_name>
        [-j|--major <major> -m|--minor <minor>]
        [-U|--uid <uid>] [-G|--gid <gid>] [-M|--mode <octal_mode>]
        [-u|--uuid <uuid>] [--addnodeonresume|--addnodeoncreate]
        [--readahead {[+]<sectors>|auto|none}]
        [-n|--notable|--table {<table>|<table_file>}]
    create --concise [<concise_device_spec_list>]
    deps [-o <options>] [<device>...]
    help [-c|-C|--columns]
    info [<device>...]
    load <device> [<table>|<table_file>]
    ls [--target <target_type>] [--exec <command>] [-o <options>] [--tree]
    message <device> <sector> <message>
    mknodes [<device>...]
    reload <device> [<table>|<table_file>]
    remove [--deferred] [-f|--force] [--retry] <device>...
    remove_all [-f|--force]
    rename <device> [--setuuid] <new_name_or_uuid>
    resume <device>... [--noudevsync] [--addnodeonresume]
    status [<device>...] [--noflush] [--target <target_type>]
    suspend [--noflush] [--nolockfs] <device>...
    table [<device>...] [--concise] [--target <target_type>] [--showkeys]
    targets
    version
    wipe_table [-f|--force] [--noudevsync] [--noflush] [--nolockfs] <device>...

<device> may be device name or (if only one) -u <uuid> or -j <major> -m <minor>
<mangling_mode> is one of 'none', 'auto' and 'hex'.
<fields> are comma-separated.  Use 'help -c' for list.
Table_file contents may be supplied on stdin.
Options are: devname, devno, blkdevname.
Tree specific options are: ascii, utf, vt100; compact, inverted, notrunc;
                           blkdevname, [no]device, active, open, rw and uuid.
"""

_CMDS = {
    "create": "create", "remove": "remove", "remove_all": "remove_all",
    "ls": "ls", "table": "table", "status": "status", "info": "info",
    "reload": "reload", "load": "reload", "suspend": "suspend",
    "resume": "resume", "rename": "rename", "message": "message",
    "targets": "targets", "version": "version", "mknodes": "mknodes",
    "clear": "clear", "deps": "deps", "wipe_table": "wipe_table",
    "help": "help",
}


def main(sh, argv):
    try:
        opts, args = _parse(argv)
    except DMError as e:
        sh.error(e.msg)
        sh.error("Couldn't process command line.")
        return 1
    if "--version" in opts:
        args = ["version"]
    if not args:
        if "--help" in opts:
            sh.write(USAGE)
            return 0
        sh.error("Missing command.")
        sh.write(USAGE)
        return 1
    cmd = _CMDS.get(args[0])
    if cmd is None:
        sh.error("Unknown command")
        sh.write(USAGE)
        return 1
    d = Dmsetup(sh, opts)
    try:
        return getattr(d, cmd)(args[1:])
    except Fail:
        sh.error("Command failed.")
        return 1
    except DMError as e:
        sh.error(e.msg)
        sh.error("Command failed.")
        return 1
