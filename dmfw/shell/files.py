# Files on mounted file systems, the Linux/busybox way, the same for every reader:
#   mount [-t TYPE] [-o OPTS] [-r] DEV DIR | mount      umount DIR|DEV
#   ls [-1laAdn] [PATH...]   cat PATH...   stat PATH...   readlink [-f] PATH
#   find [PATH...] [-type f|d|l] [-name GLOB]
# Paths under a mount point go to its file system; `ls /dev` lists the block devices;
# on the host, other paths are the host's own files (cat, sha256sum of images).

from dmfw.errors import DMError, UsageError, ENOENT
from dmfw.fs import base

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
          "Nov", "Dec")


def locate(sh, path):
    """(fs, path inside it) for a shell path on a mount, else (None, path)."""
    if not path.startswith("/"):
        path = "/" + path
    return sh.mounts.resolve(path)


# -- mount / umount
MOUNT_OPTS = ("ro", "rw", "defaults", "noatime", "relatime", "nodev", "nosuid",
              "noexec", "loop", "nodiratime", "strictatime")


def cmd_mount(sh, argv):
    from dmfw.shell.options import getopt
    from dmfw.fs import open_fs, TYPES
    opts, args = getopt(argv, {"-t": 1, "-o": 2, "-r": 0, "-w": 0, "--types": 1,
                               "--options": 2, "--read-only": 0, "--rw": 0},
                        {"--types": "-t", "--options": "-o", "--read-only": "-r",
                         "--rw": "-w"},
                        unknown="mount: unrecognized option '%s'",
                        needs_value="mount: option requires an argument -- '%s'")
    if not args:
        for d, fs, dev in sh.mounts.table:
            sh.write("/dev/%s on %s type %s (ro)\n" % (dev.name, d, fs.kind))
        return 0
    if len(args) != 2:
        raise UsageError("usage: mount [-t squashfs|erofs|ext4|ext3|ext2|vfat] [-o ro] DEV DIR")
    kind = opts.get("-t")
    if kind == "auto":
        kind = None
    if kind is not None and kind not in TYPES:
        raise UsageError("mount: unknown filesystem type '%s'" % kind)
    rw = "-w" in opts
    for group in opts.get("-o", []):
        for o in group.split(","):
            if o not in MOUNT_OPTS:
                raise UsageError("mount: %s: unsupported option '%s'" % (args[1], o))
            if o == "rw":
                rw = True
            elif o == "ro":
                rw = False
    dev = sh.resolve(args[0], image="loop")
    fs = open_fs(dev, kind)
    if fs.kind != "squashfs" and fs.block_size < dev.logical_block_size:
        # Linux's sb_set_blocksize() refuses blocks smaller than the device's logical
        # block (a 1 KiB ext2 on a 4 KiB verity device); squashfs sizes its own.
        sh.error("mount: mounting %s on %s failed: Invalid argument (%s block size %d "
                 "below the device's %d)" % (args[0], args[1], fs.kind, fs.block_size,
                                             dev.logical_block_size))
        return 255
    if rw:
        sh.error("mount: %s: WARNING: source write-protected, mounted read-only." % args[1])
    warning = getattr(fs, "warning", None)
    if warning:
        sh.error("mount: %s" % warning)
    sh.mounts.mount(fs, dev, args[1])
    return 0


def cmd_umount(sh, argv):
    if len(argv) != 2:
        raise UsageError("usage: umount DIR|DEV")
    sh.mounts.umount(argv[1])
    return 0


# -- ls
def mode_string(mode):
    t = mode & base.S_IFMT
    out = {base.S_IFDIR: "d", base.S_IFLNK: "l", base.S_IFCHR: "c", base.S_IFBLK: "b",
           base.S_IFIFO: "p", base.S_IFSOCK: "s"}.get(t, "-")
    bits = "rwxrwxrwx"
    for i in range(9):
        out += bits[i] if mode & (1 << (8 - i)) else "-"
    s = list(out)
    for idx, flag, on, off in ((3, 0o4000, "s", "S"), (6, 0o2000, "s", "S"),
                               (9, 0o1000, "t", "T")):
        if mode & flag:
            s[idx] = on if s[idx] == "x" else off
    return "".join(s)


def civil(t):
    """(year, month 1-12, day, hour, minute, second) of epoch seconds, UTC; no time
    module (bare metal has none)."""
    days, rem = divmod(t, 86400)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + (m <= 2), m, d, rem // 3600, (rem // 60) % 60, rem % 60)


def _now():
    try:
        import time
        return int(time.time())
    except (ImportError, AttributeError):
        return 0


def ls_time(t, now):
    y, m, d, hh, mm, _s = civil(t)
    age = now - t
    # busybox: "Mmm dd hh:mm" for the last six months (and 15 min ahead), else the year
    if age < 3600 * 24 * 365 // 2 and age > -15 * 60:
        return "%s %2d %02d:%02d" % (MONTHS[m - 1], d, hh, mm)
    return "%s %2d %5d" % (MONTHS[m - 1], d, y)


def shown(name):
    """A name as busybox ls prints it outside a UTF-8 locale: every byte that is not
    printable ASCII becomes '?' (the guest's busybox does this; so does a serial
    console's firmware)."""
    if all(" " <= c <= "~" for c in name):
        return name
    return "".join(chr(b) if 0x20 <= b < 0x7f else "?" for b in name.encode())


def ls_long(fs, ino, name, now):
    if ino.mode & base.S_IFMT in (base.S_IFCHR, base.S_IFBLK):
        size = "%4d, %3d" % (ino.rdev_major, ino.rdev_minor)
    else:
        size = "%9d" % ino.size
    line = "%s %4d %-8d %-8d %s %s %s" % (mode_string(ino.mode), ino.nlink, ino.uid,
                                           ino.gid, size, ls_time(ino.mtime, now),
                                           shown(name))
    if ino.is_lnk():
        line += " -> " + shown(base.decode_name(fs.read_link(ino)))
    return line


def cmd_ls(sh, argv):
    from dmfw.shell.options import getopt
    opts, args = getopt(argv, {"-l": 0, "-a": 0, "-A": 0, "-d": 0, "-n": 0, "-1": 0},
                        {}, unknown="ls: invalid option -- '%s'",
                        needs_value="ls: option requires an argument -- '%s'")
    if not args:
        args = ["/dev"] if not sh.mounts.table else ["/"]
    dev_paths = [a for a in args if _is_dev_path(a)]
    if dev_paths and len(args) == 1 and not opts:
        from dmfw.shell.builtins import list_devices
        return list_devices(sh, args[0])
    long = "-l" in opts or "-n" in opts
    now = _now()
    st = 0
    files = []
    dirs = []
    for a in args:
        fs, inner = locate(sh, a)
        try:
            if fs is None:
                raise DMError(ENOENT, "ls: %s: No such file or directory" % a)
            ino = fs.lstat(inner)
            if ino.is_lnk() and not long and "-d" not in opts:
                try:
                    ino = fs.stat(inner)
                except DMError:
                    pass
        except DMError as e:
            sh.error(_msg(e, "ls", a))
            st = 1
            continue
        if ino.is_dir() and "-d" not in opts:
            dirs.append((a, fs, inner, ino))
        else:
            files.append((a, fs, ino))
    out = []
    files.sort(key=lambda x: x[0])
    for a, fs, ino in files:
        out.append(ls_long(fs, ino, a, now) if long else shown(a))
    dirs.sort(key=lambda x: x[0])
    header = len(files) + len(dirs) > 1
    for a, fs, inner, ino in dirs:
        if out or (header and a != dirs[0][0]):
            out.append("")
        if header:
            out.append("%s:" % a)
        try:
            out.extend(ls_dir(fs, inner, long, "-a" in opts, "-A" in opts, now))
        except DMError as e:
            sh.error(_msg(e, "ls", a))
            st = 1
    if out:
        sh.write("\n".join(out) + "\n")
    return st


def ls_dir(fs, inner, long=False, all_=False, almost=False, now=None):
    """The lines `ls [-l] [-a|-A]` prints for one directory (sorted by name)."""
    ino = fs.stat(inner)
    items = fs.scandir(inner)
    if all_:
        items = [(".", ino), ("..", fs.stat(inner.rstrip("/") + "/.."))] + items
    elif not almost:
        items = [x for x in items if not x[0].startswith(".")]
    items.sort(key=lambda x: x[0])
    if not long:
        return [shown(n) for n, _i in items]
    if now is None:
        now = _now()
    # busybox rounds the 512-byte block count up to KiB: (sum + 1) / 2.
    out = ["total %d" % ((sum(i.st_blocks() for _n, i in items) + 1) // 2)]
    out.extend(ls_long(fs, i, n, now) for n, i in items)
    return out


def _is_dev_path(a):
    return a == "/dev" or a.startswith("/dev/")


def _msg(e, cmd, path):
    return "%s: %s: %s" % (cmd, path, _strerr(e))


# -- cat / stat / readlink
def cmd_cat(sh, argv):
    st = 0
    for a in argv[1:] or ["-"]:
        fs, inner = locate(sh, a)
        if fs is None:
            if a == "-" or _host_file(a):
                sh.write_bytes(sh.read_input(a))
                continue
            sh.error("cat: %s: No such file or directory" % a)
            st = 1
            continue
        try:
            cat_file(sh, fs, inner)
        except DMError as e:
            sh.error(_msg(e, "cat", a))
            st = 1
    return st


def cat_file(sh, fs, inner):
    with fs.open(inner) as f:
        buf = bytearray(64 << 10)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            sh.write_bytes(bytes(buf[:n]) if n < len(buf) else bytes(buf))


def _host_file(path):
    from dmfw.compat import is_micropython
    return not is_micropython() and not path.startswith("/dev/")


FILE_TYPES = {base.S_IFDIR: "directory", base.S_IFLNK: "symbolic link",
              base.S_IFCHR: "character special file", base.S_IFBLK: "block special file",
              base.S_IFIFO: "fifo", base.S_IFSOCK: "socket"}


def stat_time(t):
    y, m, d, hh, mm, ss = civil(t)
    return "%04d-%02d-%02d %02d:%02d:%02d.000000000 +0000" % (y, m, d, hh, mm, ss)


def cmd_stat(sh, argv):
    """coreutils stat's default format (the guest's /usr/bin/stat), UTC times."""
    st = 0
    if len(argv) < 2:
        raise UsageError("stat: missing operand")
    for a in argv[1:]:
        fs, inner = locate(sh, a)
        try:
            if fs is None:
                raise DMError(ENOENT)
            i = fs.lstat(inner)
        except DMError as e:
            sh.error("stat: cannot statx '%s': %s" % (a, _strerr(e)))
            st = 1
            continue
        t = i.mode & base.S_IFMT
        kind = FILE_TYPES.get(t, "regular empty file" if not i.size else "regular file")
        name = a
        if i.is_lnk():
            # coreutils 9.7 (the guest's) quotes both names of a symlink's %N.
            name = "'%s' -> '%s'" % (a, base.decode_name(fs.read_link(i)))
        dev = sh.mounts.device_of(fs)
        lines = ["  File: %s" % name,
                 "  Size: %-10d\tBlocks: %-10d IO Block: %-6d %s" % (
                     i.size, i.st_blocks(), fs.io_block(), kind)]
        devtxt = "%d,%d" % (dev.major, dev.minor) if dev is not None else "0,0"
        if t in (base.S_IFCHR, base.S_IFBLK):
            lines.append("Device: %s\tInode: %-11d Links: %-5d Device type: %d,%d" % (
                devtxt, i.ino, i.nlink, i.rdev_major, i.rdev_minor))
        else:
            lines.append("Device: %s\tInode: %-11d Links: %d" % (devtxt, i.ino, i.nlink))
        lines.append("Access: (%04o/%s)  Uid: (%5d/%8s)   Gid: (%5d/%8s)" % (
            i.mode & 0o7777, mode_string(i.mode), i.uid, _user(i.uid), i.gid,
            _group(i.gid)))
        for label, v in (("Access", i.atime), ("Modify", i.mtime), ("Change", i.ctime)):
            lines.append("%s: %s" % (label, stat_time(v if v is not None else i.mtime)))
        lines.append(" Birth: -")
        sh.write("\n".join(lines) + "\n")
    return st


def _user(uid):
    return "root" if uid == 0 else "UNKNOWN"


def _group(gid):
    return "root" if gid == 0 else "UNKNOWN"


def _strerr(e):
    from dmfw.errors import strerror
    return strerror(e.errno)


def cmd_readlink(sh, argv):
    args = argv[1:]
    canon = False
    if args and args[0] == "-f":
        canon = True
        args = args[1:]
    if len(args) != 1:
        raise UsageError("usage: readlink [-f] PATH")
    fs, inner = locate(sh, args[0])
    try:
        if fs is None:
            raise DMError(ENOENT)
        if canon:
            real = fs.realpath(inner)
            top = sh.mounts.mount_point(fs).rstrip("/")
            sh.write((top + real if real != "/" else top or "/") + "\n")
        else:
            sh.write(fs.readlink(inner) + "\n")
    except DMError:
        return 1        # readlink prints nothing for a non-link, exit 1
    return 0


# -- find
def _glob(pat, name):
    """fnmatch's * ? [...] without the fnmatch module (MicroPython has none)."""
    if not pat:
        return not name
    c = pat[0]
    if c == "*":
        for i in range(len(name) + 1):
            if _glob(pat[1:], name[i:]):
                return True
        return False
    if not name:
        return False
    if c == "?":
        return _glob(pat[1:], name[1:])
    if c == "[":
        end = pat.find("]", 2)
        if end > 0:
            body = pat[1:end]
            neg = body[:1] in ("!", "^")
            if neg:
                body = body[1:]
            hit = False
            i = 0
            while i < len(body):
                if i + 2 < len(body) and body[i + 1] == "-":
                    hit = hit or body[i] <= name[0] <= body[i + 2]
                    i += 3
                else:
                    hit = hit or body[i] == name[0]
                    i += 1
            return hit != neg and _glob(pat[end + 1:], name[1:])
    return c == name[0] and _glob(pat[1:], name[1:])


FIND_TYPES = {"f": base.S_IFREG, "d": base.S_IFDIR, "l": base.S_IFLNK,
              "c": base.S_IFCHR, "b": base.S_IFBLK, "p": base.S_IFIFO, "s": base.S_IFSOCK}


def cmd_find(sh, argv):
    paths = []
    i = 1
    while i < len(argv) and not argv[i].startswith("-"):
        paths.append(argv[i])
        i += 1
    ftype = None
    name = None
    while i < len(argv):
        if argv[i] == "-type" and i + 1 < len(argv) and argv[i + 1] in FIND_TYPES:
            ftype = FIND_TYPES[argv[i + 1]]
        elif argv[i] == "-name" and i + 1 < len(argv):
            name = argv[i + 1]
        else:
            raise UsageError("find: unrecognized: %s" % argv[i])
        i += 2
    st = 0
    out = []
    for p in paths or ["."]:
        fs, inner = locate(sh, p)
        try:
            if fs is None:
                raise DMError(ENOENT)
            top = fs.lstat(inner)
        except DMError as e:
            sh.error("find: %s: %s" % (p, _strerr(e)))
            st = 1
            continue
        # Depth first, parents before children, as find prints; a directory that is
        # its own ancestor (a corrupt image) is reported once, not walked again.
        stack = [(p, inner, top, ())]
        while stack:
            shown, path, ino, seen = stack.pop()
            leaf = shown.rstrip("/").split("/")[-1] or shown
            if (ftype is None or ino.mode & base.S_IFMT == ftype) and \
                    (name is None or _glob(name, leaf)):
                out.append(shown)
                if len(out) >= 256:
                    sh.write("\n".join(out) + "\n")
                    out = []
            if not ino.is_dir():
                continue
            if ino.ino in seen:
                sh.error("find: %s: directory loop (inode %d)" % (shown, ino.ino))
                st = 1
                continue
            try:
                items = fs.scandir(path)
            except DMError as e:
                sh.error("find: %s: %s" % (shown, e))
                st = 1
                continue
            for n, child in reversed(items):
                stack.append((shown.rstrip("/") + "/" + n, path.rstrip("/") + "/" + n,
                              child, seen + (ino.ino,)))
    if out:
        sh.write("\n".join(out) + "\n")
    return st
