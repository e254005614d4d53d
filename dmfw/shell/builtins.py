# Coreutils-like builtins of the firmware shell, working on block devices
# (or, on the host, plain files): checksums, dd, hexdump, blockdev, ls, cmp.

from dmfw.errors import DMError, UsageError, EINVAL, ENOSPC
from dmfw.blockdev import SECTOR_SHIFT
from dmfw.numbers import is_decimal

def _chunk():
    # Bytes moved per request: 1 MiB on the host; 64 KiB under MicroPython,
    # whose heap is a few MiB and fragments on larger buffers.
    from dmfw.compat import is_micropython
    return (64 << 10) if is_micropython() else (1 << 20)


CHUNK = _chunk()
_scratch = []


def scratch():
    """One transfer buffer for the whole shell, allocated once."""
    if not _scratch:
        _scratch.append(bytearray(CHUNK))
    return _scratch[0]


def open_dev(sh, spec, write=False):
    """A block device by name, or on the host a plain file as one; None
    for /dev/zero and /dev/null, which dd handles as streams."""
    if spec in ("/dev/zero", "/dev/null") and sh.devices.find(spec) is None:
        return None
    try:
        return sh.resolve(spec, image="file", write=write)
    except DMError:
        if spec.startswith("/dev/") or spec.startswith("/sys/"):
            raise UsageError("%s: No such device" % spec)
        raise UsageError("%s: No such file or directory" % spec)


def cmd_help(sh, argv):
    from dmfw.shell.commands import COMMANDS, HELP
    out = []
    for name in sorted(COMMANDS):
        out.append("%-12s %s\n" % (name, HELP.get(name, "")))
    out.append("%-12s %s\n" % ("exit", "leave the shell"))
    sh.write("".join(out))
    return 0


def cmd_echo(sh, argv):
    sh.write(" ".join(argv[1:]) + "\n")
    return 0


def cmd_true(sh, argv):
    return 0


def cmd_false(sh, argv):
    return 1


def _range(dev, argv, name):
    if len(argv) == 0:
        return 0, dev.nr_sectors
    if len(argv) != 2 or not is_decimal(argv[0]) or not is_decimal(argv[1]):
        raise UsageError("usage: %s DEV [SECTOR COUNT]" % name)
    start, count = int(argv[0]), int(argv[1])
    if start + count > dev.nr_sectors:
        raise DMError(EINVAL, "%s: range %d+%d beyond end of device (%d sectors)"
                      % (argv[0], start, count, dev.nr_sectors))
    return start, count


def _digest(sh, argv, algo):
    """coreutils' sha256sum: one line per device or file, `-` (or none)
    for standard input; a name that cannot be read is reported and the
    rest still summed (exit 1). `CMD DEV SECTOR COUNT` sums a range."""
    import hashlib
    names = argv[1:] or ["-"]
    ranged = len(names) == 3 and is_decimal(names[1]) and is_decimal(names[2])
    if ranged:
        names = names[:1]
    st = 0
    for spec in names:
        h = getattr(hashlib, algo)()
        fs, inner = sh.mounts.resolve(spec) if spec.startswith("/") and \
            not spec.startswith("/dev/") else (None, spec)
        if fs is not None and not ranged:
            try:
                _hash_file(h, inner, fs.open)
            except DMError as e:
                from dmfw.errors import strerror
                sh.error("%s: %s: %s" % (argv[0], spec, strerror(e.errno)))
                st = 1
                continue
        elif spec == "-" and sh.devices.find(spec) is None:
            h.update(sh.read_input("-"))
        elif not ranged and _plain_file(sh, spec):
            # A file is summed byte for byte, not in whole sectors.
            try:
                _hash_file(h, spec)
            except OSError:
                sh.error("%s: %s: No such file or directory" % (argv[0], spec))
                st = 1
                continue
        else:
            try:
                dev = open_dev(sh, spec)
                if dev is None:
                    raise UsageError("%s: not a block device" % spec)
                start, count = _range(dev, argv[2:] if ranged else [], argv[0])
                for chunk in iter_chunks(dev, start, count):
                    h.update(chunk)
            except DMError as e:
                if ranged:
                    raise
                sh.error("%s: %s" % (argv[0], e))
                st = 1
                continue
        sh.write("%s  %s\n" % (_hex(h.digest()), spec))
    return st


def _plain_file(sh, spec):
    return sh.devices.find(spec) is None and not spec.startswith("/dev/") and \
        not spec.startswith("/sys/")


def _hash_file(h, path, opener=open):
    buf = scratch()
    mv = memoryview(buf)
    with opener(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])


def iter_chunks(dev, start, count, buf=None):
    """Yield memoryviews over a reused buffer covering `count` sectors."""
    if buf is None:
        buf = scratch()
    chunk = len(buf)
    mv = memoryview(buf)
    per = chunk >> SECTOR_SHIFT
    sec = start
    end = start + count
    while sec < end:
        n = end - sec if end - sec < per else per
        part = mv[:n << SECTOR_SHIFT]
        dev.readblocks(sec, part)
        yield part
        sec += n


def _hex(b):
    import binascii
    return binascii.hexlify(b).decode()


def cmd_sha256sum(sh, argv):
    return _digest(sh, argv, "sha256")


def cmd_sha1sum(sh, argv):
    return _digest(sh, argv, "sha1")


def cmd_md5sum(sh, argv):
    return _digest(sh, argv, "md5")


_SUFFIX = {"c": 1, "w": 2, "b": 512, "k": 1024, "K": 1024, "kB": 1000,
           "KB": 1000, "M": 1 << 20, "MB": 1000000, "G": 1 << 30,
           "GB": 1000000000, "KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30}


def _size(v):
    i = 0
    while i < len(v) and "0" <= v[i] <= "9":
        i += 1
    if i == 0:
        raise UsageError("dd: invalid number: '%s'" % v)
    mult = _SUFFIX.get(v[i:], None) if v[i:] else 1
    if mult is None:
        raise UsageError("dd: invalid number: '%s'" % v)
    return int(v[:i]) * mult


def cmd_dd(sh, argv):
    from dmfw.compat import ticks_us, elapsed_us
    o = {"bs": "512"}
    for a in argv[1:]:
        if "=" not in a:
            raise UsageError("dd: unrecognized operand '%s'" % a)
        k, v = a.split("=", 1)
        if k not in ("if", "of", "bs", "count", "skip", "seek", "status", "conv", "iflag", "oflag"):
            raise UsageError("dd: unrecognized operand '%s'" % a)
        o[k] = v
    bs = _size(o["bs"])
    if bs <= 0 or bs & 511:
        raise UsageError("dd: bs must be a multiple of 512 for block devices")
    src = o.get("if")
    dst = o.get("of")
    if src is None or dst is None:
        raise UsageError("dd: if= and of= are required")
    idev = open_dev(sh, src)
    odev = open_dev(sh, dst, write=True)
    skip = _size(o.get("skip", "0")) * bs
    seek = _size(o.get("seek", "0")) * bs
    if idev is None:
        total = _size(o["count"]) * bs if "count" in o else (
            odev.size_bytes() - seek if odev is not None else 0)
    else:
        total = idev.size_bytes() - skip
        if total < 0:
            total = 0
        if "count" in o:
            c = _size(o["count"]) * bs
            total = c if c < total else total
    if odev is not None and seek + total > odev.size_bytes():
        # Refuse up front rather than write a partial copy: firmware must
        # leave a device as it was when a request cannot be completed.
        raise DMError(ENOSPC, "dd: error writing '%s': No space left on device "
                      "(%d bytes at offset %d, device has %d)"
                      % (dst, total, seek, odev.size_bytes()))
    step = bs if bs >= CHUNK else (CHUNK // bs) * bs
    buf = scratch() if step == CHUNK else bytearray(step)
    mv = memoryview(buf)
    t0 = ticks_us()
    done = 0
    err = None
    try:
        while done < total:
            n = total - done if total - done < step else step
            part = mv[:n]
            if idev is None:
                if src == "/dev/zero":
                    for i in range(n):
                        part[i] = 0
            else:
                idev.readblocks((skip + done) >> SECTOR_SHIFT, part)
            if odev is not None:
                odev.writeblocks((seek + done) >> SECTOR_SHIFT, part)
            done += n
        if odev is not None:
            odev.sync()
    except DMError as e:
        err = e
    us = elapsed_us(t0)
    if o.get("status") != "none":
        full, part_rec = done // bs, (1 if done % bs else 0)
        sh.error("%d+%d records in" % (full, part_rec))
        sh.error("%d+%d records out" % (full, part_rec))
        secs = us / 1000000.0
        rate = done / secs if secs > 0 else 0
        sh.error("%d bytes (%s, %s) copied, %s s, %s" % (
            done, _human(done, 1000, ["B", "kB", "MB", "GB", "TB"]),
            _human(done, 1024, ["B", "KiB", "MiB", "GiB", "TiB"]),
            _secs(secs), _human(rate, 1000, ["B/s", "kB/s", "MB/s", "GB/s", "TB/s"])))
    if err is not None:
        raise err
    return 0


def _human(v, base, units):
    i = 0
    v = float(v)
    while v >= base and i < len(units) - 1:
        v /= base
        i += 1
    if i == 0:
        return "%d %s" % (v, units[0])
    return ("%.1f %s" if v < 10 else "%.0f %s") % (v, units[i])


def _secs(s):
    return "%.3g" % s if s < 1 else "%.5g" % s


def _hexnum(v):
    # util-linux takes 0x-prefixed hex, or a number with a size suffix.
    if v.startswith("0x"):
        try:
            return int(v[2:], 16)
        except ValueError:
            raise UsageError("hexdump: invalid number: '%s'" % v)
    return _size(v)


def cmd_hexdump(sh, argv):
    from dmfw.shell.options import getopt
    opts, args = getopt(argv, {"-C": 0, "--canonical": 0, "-s": 1, "--skip": 1,
                               "-n": 1, "--length": 1},
                        {"--canonical": "-C", "--skip": "-s", "--length": "-n"},
                        "hexdump: invalid option -- '%s'",
                        "hexdump: option requires an argument -- '%s'")
    offset = _hexnum(opts["-s"]) if "-s" in opts else 0
    length = _hexnum(opts["-n"]) if "-n" in opts else None
    if len(args) != 1:
        raise UsageError("usage: hexdump -C [-s OFFSET] [-n LENGTH] DEV")
    spec = args[0]
    dev = open_dev(sh, spec)
    size = dev.size_bytes()
    if offset > size:
        offset = size
    end = size if length is None or offset + length > size else offset + length
    out = []
    prev = None
    starred = False
    pos = offset
    while pos < end:
        n = end - pos if end - pos < 4096 else 4096
        data = dev.pread(pos, n)
        for j in range(0, n, 16):
            line = bytes(data[j:j + 16])
            if line == prev and len(line) == 16:
                if not starred:
                    out.append("*\n")
                    starred = True
                continue
            prev = line
            starred = False
            out.append(_hexline(pos + j, line))
        pos += n
        if len(out) > 256:
            sh.write("".join(out))
            out = []
    out.append("%08x\n" % end)
    sh.write("".join(out))
    return 0


def _hexline(off, b):
    h = ""
    for k in range(16):
        h += ("%02x " % b[k]) if k < len(b) else "   "
        if k == 7:
            h += " "
    text = "".join([chr(c) if 32 <= c < 127 else "." for c in b])
    return "%08x  %s |%s|\n" % (off, h, text)


def cmd_blockdev(sh, argv):
    if len(argv) < 3:
        raise UsageError("usage: blockdev --getsz|--getss|--getsize64|--getro|--getbsz|--getra DEV")
    dev = open_dev(sh, argv[-1])
    out = []
    for op in argv[1:-1]:
        if op == "--getsz":
            out.append(str(dev.nr_sectors))
        elif op == "--getss" or op == "--getpbsz":
            out.append(str(dev.logical_block_size))
        elif op == "--getsize64":
            out.append(str(dev.size_bytes()))
        elif op == "--getro":
            out.append("1" if dev.readonly else "0")
        elif op == "--getbsz":
            out.append("4096" if dev.logical_block_size <= 4096 else str(dev.logical_block_size))
        elif op == "--getra":
            ra = getattr(dev, "read_ahead", None)
            out.append(str(ra() if ra else 256))
        elif op == "--flushbufs":
            dev.sync()
        else:
            raise UsageError("blockdev: unknown option %s" % op)
    if out:
        sh.write("\n".join(out) + "\n")
    return 0


def list_devices(sh, path):
    """`ls /dev`, `ls /dev/mapper`, `ls /dev/VG`: the block devices the shell has."""
    if path in ("/dev", "/dev/"):
        names = sh.devices.names()
        if sh.dm.by_name:
            names.append("mapper")
        for a in sh.devices.aliases:
            if a.startswith("/dev/") and a.count("/") == 3 and \
                    not a.startswith("/dev/mapper/"):
                vg = a.split("/")[2]
                if vg not in names:
                    names.append(vg)
        names.sort()
    elif path.rstrip("/") == "/dev/mapper":
        names = ["control"] + sorted([md.dm_name for md in sh.dm.list()])
    else:
        prefix = path.rstrip("/") + "/"
        names = sorted([a[len(prefix):] for a in sh.devices.aliases
                        if a.startswith(prefix) and "/" not in a[len(prefix):]])
        if not names:
            if sh.devices.find(path) is not None:
                names = [path]
            else:
                raise UsageError("ls: cannot access '%s': No such file or directory" % path)
    if names:
        sh.write("\n".join(names) + "\n")
    return 0


def cmd_cmp(sh, argv):
    if len(argv) != 3:
        raise UsageError("usage: cmp DEV1 DEV2")
    a = open_dev(sh, argv[1])
    b = open_dev(sh, argv[2])
    na, nb = a.nr_sectors, b.nr_sectors
    common = na if na < nb else nb
    pos = 0
    lines = 1
    ia = iter_chunks(a, 0, common)
    ib = iter_chunks(b, 0, common, bytearray(CHUNK))
    for ca in ia:
        cb = next(ib)
        if ca != cb:
            for k in range(len(ca)):
                if ca[k] != cb[k]:
                    lines += bytes(ca[:k]).count(b"\n")
                    sh.write("%s %s differ: byte %d, line %d\n"
                             % (argv[1], argv[2], pos + k + 1, lines))
                    return 1
        lines += bytes(ca).count(b"\n")
        pos += len(ca)
    if na != nb:
        short = argv[1] if na < nb else argv[2]
        sh.error("cmp: EOF on %s after byte %d, line %d" % (short, pos, lines))
        return 1
    return 0


def cmd_rescan(sh, argv):
    """Pick up hot-plugged disks (and drop unplugged ones), as at start."""
    if not sh.scanning:
        raise UsageError("rescan: the shell was not started with --scan "
                         "(its disks are the --disk files)")
    added, removed = sh.scan_sys()
    out = ["attached %s\n" % n for n in added] + ["detached %s\n" % n for n in removed]
    sh.write("".join(out))
    return 0


def cmd_time(sh, argv):
    from dmfw.compat import ticks_us, elapsed_us
    if len(argv) < 2:
        raise UsageError("usage: time CMD [ARGS...]")
    t0 = ticks_us()
    st = sh.run(argv[1:])
    us = elapsed_us(t0)
    sh.error("real\t%d.%06ds" % (us // 1000000, us % 1000000))
    return st
