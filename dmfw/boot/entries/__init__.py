# Boot entries of an OS image, in the order a loader would try them:
#   1. Boot Loader Specification type #1: /loader/entries/*.conf, /boot/loader/entries/
#      (bls.py), sorted as systemd-boot sorts them;
#   2. type #2 unified kernel images: /boot/EFI/Linux/*.efi, /EFI/Linux/ (uki.py);
#   3. extlinux/syslinux as U-Boot's sysboot reads them (extlinux.py);
#   4. the plain /boot/vmlinuz (+ initrd.img) convention (plain.py).
# An entry names its files as Blobs; nothing but the small config files (and a UKI's
# headers, .cmdline and .osrel) is read here. A broken entry is reported through
# warn(msg) and skipped; only the device's own I/O errors propagate.

from dmfw.errors import DMError, ENOENT, EIO

ENOTDIR = 20
ELOOP = 40
ENAMETOOLONG = 36
EFBIG = 27

# A config file larger than this is not a boot config (bounds the heap it takes).
MAX_CONFIG = 64 * 1024
# At most this many files of one directory are looked at (a hostile image).
MAX_FILES = 256

# dmfw.disk.dps architecture names -> the Boot Loader Specification's (EFI's) names.
BLS_ARCH = {"x86-64": "x64", "x86": "ia32", "arm64": "aa64", "arm": "arm",
            "riscv64": "riscv64", "riscv32": "riscv32", "loongarch64": "loongarch64",
            "ia64": "ia64"}


class Blob:
    """A file of the image, or the byte range [offset, offset + size) of it (a UKI
    section); size None means to the end of the file."""

    def __init__(self, path, section=None, offset=0, size=None):
        self.path = path
        self.section = section
        self.offset = offset
        self.size = size

    def name(self):
        return self.path if self.section is None else self.path + ":" + self.section

    def size_in(self, fs):
        if self.size is not None:
            return self.size
        return fs.stat(self.path).size - self.offset

    def read(self, fs, max_bytes):
        """The blob's bytes; DMError(EFBIG) when it has more than max_bytes."""
        n = self.size_in(fs)
        if n > max_bytes:
            raise DMError(EFBIG, "%s: %d bytes, more than %d" % (self.name(), n, max_bytes))
        f = fs.open(self.path)
        try:
            f.seek(self.offset)
            data = f.read(n)
        finally:
            f.close()
        if len(data) != n:
            raise DMError(EIO, "%s: file ended after %d of %d bytes"
                          % (self.name(), len(data), n))
        return data

    def __repr__(self):
        return "Blob(%s)" % self.name()


class Entry:
    """One bootable entry; see find_entries for the attributes."""

    def __init__(self, kind, id, source):
        self.kind = kind
        self.id = id
        self.source = source
        self.title = None
        self.version = None
        self.sort_key = None
        self.machine_id = None
        self.architecture = None
        self.kernel = None
        self.initrds = []
        self.devicetree = None
        self.overlays = []
        self.options = ""
        self.left = None
        self.done = None

    def __repr__(self):
        return "Entry(%s %s)" % (self.kind, self.id)


def absent(e):
    """True for the errors that mean "no such file" (as opposed to a failing disk)."""
    return isinstance(e, DMError) and e.errno in (ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG)


def is_file(fs, path):
    try:
        return fs.stat(path).is_reg()
    except DMError as e:
        if absent(e):
            return False
        raise


def names(fs, path):
    """The names in directory `path` (sorted, at most MAX_FILES), [] if absent."""
    try:
        out = fs.listdir(path)
    except DMError as e:
        if absent(e):
            return []
        raise
    out = sorted(out)
    return out[:MAX_FILES]


def read_text(fs, path, limit=MAX_CONFIG):
    """A small config file as str; None if absent. Raises ValueError (with the
    reason) for one that is too big or not UTF-8, for the caller to warn about."""
    try:
        ino = fs.stat(path)
        if not ino.is_reg():
            return None
    except DMError as e:
        if absent(e):
            return None
        raise
    if ino.size > limit:
        raise ValueError("%s: %d bytes, more than %d for a boot config"
                         % (path, ino.size, limit))
    f = fs.open(path)
    try:
        data = f.read(limit + 1)
    finally:
        f.close()
    try:
        return data.decode()
    except UnicodeError:
        raise ValueError("%s: not UTF-8 text" % path)


def find_entries(fs, arch=None, compatible=None, warn=None, fdtfile=None):
    """[Entry] of the OS in file system fs, in preference order. arch: the DPS name
    of this machine (entries for another one are left out); compatible: the
    board's device-tree compatible strings, most specific first (FDTDIR choice);
    fdtfile: U-Boot's $fdtfile, the fallback name under FDTDIR; warn(msg): one
    line for each entry file that is broken and skipped.

    Entry attributes: kind ("bls", "uki", "extlinux", "plain"), id, title,
    version, sort_key, machine_id, architecture, source (the config file or UKI),
    kernel (Blob), initrds ([Blob]), devicetree (Blob or None), overlays ([Blob]),
    options (str), left, done (a BLS file's boot counter, None without one)."""
    from dmfw.boot.entries import bls, uki, extlinux, plain
    if warn is None:
        def warn(msg):
            pass
    barch = BLS_ARCH.get(arch) if arch else None
    out = bls.find(fs, barch, warn)
    out += uki.find(fs, barch, warn)
    out += extlinux.find(fs, compatible, fdtfile, warn)
    out += plain.find(fs)
    return out
