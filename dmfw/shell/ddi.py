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

from dmfw.errors import UsageError

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
    # The file commands are thin aliases over mount/umount/ls/cat/sha256sum.
    if sub == "mount" and len(args) == 3:
        from dmfw.shell.files import cmd_mount
        return cmd_mount(sh, ["mount", "-o", "ro", args[1], args[2]])
    if sub == "umount" and len(args) == 2:
        from dmfw.shell.files import cmd_umount
        return cmd_umount(sh, ["umount", args[1]])
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
    """ddi ls|cat|sha256 DEV [PATH]: `ls -l`, `cat`, `sha256sum` of a path on the file
    system of DEV, without mounting it."""
    from dmfw.fs import open_fs
    from dmfw.shell import files
    if len(args) < 1 or (sub != "ls" and len(args) != 2) or len(args) > 2:
        raise UsageError(USAGE)
    fs = open_fs(sh.resolve(args[0], image="loop"))
    path = args[1] if len(args) > 1 else "/"
    if sub == "ls":
        sh.write("".join(line + "\n" for line in files.ls_dir(fs, path, long=True)))
        return 0
    if sub == "cat":
        files.cat_file(sh, fs, path)
        return 0
    import hashlib
    from dmfw.shell.builtins import _hash_file, _hex
    h = hashlib.sha256()
    _hash_file(h, path, fs.open)
    sh.write("%s  %s\n" % (_hex(h.digest()), path))
    return 0
