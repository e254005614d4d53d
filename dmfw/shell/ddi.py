# `ddi`: Discoverable Disk Images in the firmware shell, in the spirit of
# systemd-dissect.
#
#   ddi DISK                      list the DPS partitions and their pairing
#   ddi open DISK [--arch A] [--root-hash H] [--name NAME] [--certificate F]
#                                 verify and open root/usr as verity devices
#                                 (signatures against the keyring's trusted
#                                 certificates, plus F if given)
#   ddi ls DEV [PATH]             list a directory of the FAT on DEV
#   ddi cat DEV PATH              print a file from it
#   ddi sha256 DEV PATH           checksum a file from it
#   ddi mount DEV DIR / ddi umount DIR
#                                 (MicroPython) mount it read-only in the VFS
#
# DISK is a block device (/dev/vda) or, on the host, an image file, which is
# attached as the next loop device, as systemd-dissect does.

from dmfw.errors import DMError, EINVAL, UsageError

USAGE = ("usage: ddi DISK | ddi open DISK [--arch A] [--root-hash H] "
         "[--name NAME] [--certificate FILE] | ddi ls|cat|sha256 DEV [PATH] | "
         "ddi mount DEV DIR | ddi umount DIR")


def main(sh, argv):
    args = argv[1:]
    if args and args[0] in ("-h", "--help"):
        sh.write(USAGE + "\n")
        return 0
    if not args:
        raise UsageError(USAGE)
    sub = args[0]
    if sub == "open":
        return cmd_open(sh, args[1:])
    if sub in ("ls", "cat", "sha256"):
        return cmd_files(sh, sub, args[1:])
    if sub == "mount" and len(args) == 3:
        from dmfw.fs import mount
        from dmfw.shell.builtins import open_dev
        dev = open_dev(sh, args[1])
        if dev is None:
            raise UsageError("%s: not a block device" % args[1])
        mount(dev, args[2])
        return 0
    if sub == "umount" and len(args) == 2:
        from dmfw.fs import umount
        umount(args[1])
        return 0
    if len(args) != 1 or sub in ("mount", "umount"):
        raise UsageError(USAGE)
    return cmd_list(sh, args[0])


def disk_device(sh, spec):
    """A whole disk: a device the shell knows, a disk the kernel shows, or
    an image file attached as loopN (systemd-dissect's loop device)."""
    from dmfw.disk.partitions import is_whole_disk
    dev = sh.resolve(spec, image="loop")
    if not is_whole_disk(dev):
        raise UsageError("%s: not a whole disk" % spec)
    return dev


def _size(n):
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            if unit == "B":
                return "%dB" % n
            return "%.1f%s" % (n, unit)
        n /= 1024.0


def cmd_list(sh, spec):
    from dmfw.disk.ddi import dissect
    disk = disk_device(sh, spec)
    img = dissect(sh.devices, disk)
    g = img.gpt
    out = ["      Name: %s\n" % disk.name,
           "      Size: %s\n" % _size(disk.size_bytes()),
           " Sec. Size: %d\n" % g.sector_size,
           "  Disk UUID: %s\n" % g.disk_uuid,
           "     Table: gpt (%s header)\n" % g.source]
    for w in g.warnings:
        out.append("   Warning: %s\n" % w)
    archs = img.architectures()
    out.append(" Architec.: %s\n\n" % (", ".join(archs) if archs else "-"))
    rows = [("DESIGNATOR", "ARCH", "DEVICE", "PARTUUID", "LABEL", "SIZE",
             "FLAGS", "PAIRED")]
    for f in img.found:
        rows.append((f.designator, f.arch or "-", f.dev.name, f.part.uuid,
                     f.part.name or "-", _size(f.dev.size_bytes()),
                     ",".join(f.flags) or "-",
                     ",".join(p.dev.name for p in
                              sorted(f.paired, key=lambda x: x.part.partno))
                     or "-"))
    for d in img.other:
        rows.append(("-", "-", d.name, d.part.uuid, d.part.name or "-",
                     _size(d.size_bytes()), "-", "-"))
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        out.append("  ".join([r[i] + " " * (w[i] - len(r[i]))
                              for i in range(len(w))]) +
                   "  " + r[-1] + "\n")
    sh.write("".join(out))
    return 0


_OPEN_OPTS = {"--arch": 1, "--root-hash": 1, "--name": 1, "--certificate": 1}


def _opts(args):
    from dmfw.shell.options import getopt
    opts, pos = getopt(["ddi"] + args, _OPEN_OPTS, {}, "unknown option %s",
                       "%s needs a value", "ambiguous option %s",
                       "%s takes no value")
    return pos, opts


def signature_verifier(sh, cert_files=()):
    """verify(content, der, fingerprint) against the shell's trusted
    certificates (dmfw.keyring) and any given with --certificate."""
    from dmfw.disk.verify import verifier
    from dmfw.crypto import x509
    extra = []
    for path in cert_files:
        extra.extend(x509.load(sh.read_input(path)))
    return verifier(sh.dm, extra)


def cmd_open(sh, args):
    from dmfw.disk.ddi import dissect, plan_open, open_plans
    pos, opts = _opts(args)
    if len(pos) != 1:
        raise UsageError(USAGE)
    disk = disk_device(sh, pos[0])
    img = dissect(sh.devices, disk)
    notes = []
    plans = plan_open(img, opts.get("--arch"), opts.get("--root-hash"),
                      opts.get("--name"),
                      signature_verifier(sh, [opts[k] for k in ("--certificate",)
                                              if k in opts]), notes)
    for n in notes:
        sh.error("ddi: " + n)
    open_plans(sh.dm, plans)
    for p in plans:
        sh.write("%s: %s + %s, root hash %s%s -> /dev/mapper/%s\n" % (
            p.designator, p.data.dev.name, p.verity.dev.name, p.root_hash,
            " (signed)" if p.sig else " (given)", p.name))
    return 0


def cmd_files(sh, sub, args):
    from dmfw.fs import open_fs
    from dmfw.shell.builtins import open_dev
    if len(args) < 1 or (sub != "ls" and len(args) != 2) or len(args) > 2:
        raise UsageError(USAGE)
    dev = open_dev(sh, args[0])
    if dev is None:
        raise UsageError("%s: not a block device" % args[0])
    fs = open_fs(dev)
    path = args[1] if len(args) > 1 else "/"
    if sub == "ls":
        out = []
        for name, is_dir, size in sorted(fs.listdir(path)):
            out.append("%s %10d %s\n" % ("d" if is_dir else "-", size, name))
        sh.write("".join(out))
        return 0
    f = fs.open(path)
    try:
        if sub == "cat":
            data = f.read()
            try:
                sh.write(data.decode())
            except UnicodeError:
                raise DMError(EINVAL, "%s: not text; use ddi sha256" % path)
            return 0
        import hashlib
        h = hashlib.sha256()
        buf = bytearray(1 << 16)
        mv = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])
        sh.write("%s  %s\n" % ("".join("%02x" % b for b in h.digest()), path))
    finally:
        f.close()
    return 0
