# Boot Loader Specification type #2 entries: unified kernel images (a PE file with
# the kernel, initrd, command line, device tree and os-release as sections), read as
# systemd-boot does (src/boot/pe.c: pe_section_table_from_file, pe_locate_sections;
# src/boot/boot.c: boot_entry_add_type2, config_load_type2_entries,
# bootspec_pick_name_version_sort_key). Only the headers, .osrel and .cmdline are
# read here; the kernel, initrd and dtb are Blobs over their file ranges.

import struct

from dmfw.boot import version as vmod
from dmfw.boot.entries import Entry, Blob, names
from dmfw.errors import FormatError

DIRS = ("/boot/EFI/Linux", "/EFI/Linux")
# pe.c's MAX_SECTIONS: a PE with more sections is refused.
MAX_SECTIONS = 96
# .osrel and .cmdline are read whole: bounded.
MAX_TEXT = 16 * 1024
SECTIONS = (".linux", ".initrd", ".cmdline", ".dtb", ".osrel", ".uname")

# IMAGE_FILE_MACHINE_* -> BLS architecture names.
MACHINES = {0x8664: "x64", 0x014C: "ia32", 0xAA64: "aa64", 0x01C2: "arm",
            0x01C4: "arm", 0x5064: "riscv64", 0x5032: "riscv32",
            0x6264: "loongarch64", 0x0200: "ia64"}


def _read(f, off, n):
    f.seek(off)
    b = f.read(n)
    if len(b) != n:
        raise FormatError("truncated PE file: %d bytes at %d" % (n, off))
    return b


def sections(f, size):
    """(machine, {name: (offset, size)}) of the PE file open as f (size bytes long)
    for the UKI's sections, each offset + min(VirtualSize, SizeOfRawData) as
    systemd-stub uses them; FormatError for anything that is not a sane PE."""
    f.seek(0)
    dos = f.read(64)
    if dos[:2] != b"MZ":
        raise FormatError("not a PE file (no MZ)")
    if len(dos) < 64:
        raise FormatError("truncated PE file: %d bytes" % len(dos))
    lfanew = struct.unpack_from("<I", dos, 0x3C)[0]
    if lfanew < 64 or lfanew > size - 24:
        raise FormatError("PE header offset %d outside the file" % lfanew)
    pe = _read(f, lfanew, 24 + 2)
    if pe[:4] != b"PE\0\0":
        raise FormatError("no PE signature at %d" % lfanew)
    machine, nsect = struct.unpack_from("<HH", pe, 4)
    optsize = struct.unpack_from("<H", pe, 20)[0]
    opt_magic = struct.unpack_from("<H", pe, 24)[0]
    if opt_magic not in (0x10B, 0x20B):
        raise FormatError("PE optional header magic %04x" % opt_magic)
    if nsect == 0 or nsect > MAX_SECTIONS:
        raise FormatError("PE file with %d sections (at most %d)" % (nsect, MAX_SECTIONS))
    table = lfanew + 24 + optsize
    if table + 40 * nsect > size:
        raise FormatError("PE section table past the end of the file")
    raw = _read(f, table, 40 * nsect)
    found = {}
    for i in range(nsect):
        name = bytes(raw[40 * i:40 * i + 8]).rstrip(b"\0")
        vsize, _vaddr, rsize, roff = struct.unpack_from("<IIII", raw, 40 * i + 8)
        try:
            name = name.decode()
        except UnicodeError:
            continue
        if name not in SECTIONS or name in found:
            continue                    # the first section of a name counts
        n = min(vsize, rsize)
        if roff + n > size:
            raise FormatError("PE section %s (%d bytes at %d) past the end of the "
                              "%d-byte file" % (name, n, roff, size))
        found[name] = (roff, n)
    # Sections the entry is made of must not overlap (a lying header).
    spans = sorted(v for v in found.values() if v[1])
    for a, b in zip(spans, spans[1:]):
        if a[0] + a[1] > b[0]:
            raise FormatError("PE sections overlap (%d+%d > %d)" % (a[0], a[1], b[0]))
    return machine, found


def _text(f, span):
    off, n = span
    if n > MAX_TEXT:
        raise FormatError("PE text section of %d bytes (at most %d)" % (n, MAX_TEXT))
    try:
        return _read(f, off, n).decode()
    except UnicodeError:
        raise FormatError("PE text section is not UTF-8")


def osrel(text):
    """{KEY: value} of an os-release text (line_get_key_value with '=')."""
    out = {}
    for line in text.split("\n"):
        line = line.strip(" \t\r")
        if not line or line[0] == "#" or "=" not in line:
            continue
        k, v = line.split("=", 1)
        v = v.strip(" \t")
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        if v:
            out[k.strip(" \t")] = v
    return out


def _pick(o, *keys):
    for k in keys:
        if k in o:
            return o[k]
    return None


def parse(fs, path, arch=None):
    """The Entry of the UKI at path, None when it is for another architecture or
    has no .osrel (systemd-boot skips those too); FormatError for a broken file."""
    f = fs.open(path)
    try:
        size = f.inode.size
        machine, found = sections(f, size)
        a = MACHINES.get(machine)
        if arch is not None and a != arch:
            return None
        if ".linux" not in found or not found[".linux"][1]:
            raise FormatError("no .linux section: not a unified kernel image")
        if ".osrel" not in found:
            return None
        o = osrel(_text(f, found[".osrel"]))
        cmdline = _text(f, found[".cmdline"]) if ".cmdline" in found else ""
    finally:
        f.close()
    title = _pick(o, "PRETTY_NAME", "IMAGE_ID", "NAME", "ID")
    if title is None:
        return None
    fname = path[path.rfind("/") + 1:]
    base, left, done = vmod.parse_counter(fname[:-4])
    e = Entry("uki", base + fname[-4:] if left is not None else fname, path)
    e.left, e.done = left, done
    e.title = title
    e.version = _pick(o, "IMAGE_VERSION", "VERSION", "VERSION_ID", "BUILD_ID")
    e.sort_key = _pick(o, "IMAGE_ID", "ID")
    e.architecture = a
    e.options = cmdline.rstrip(" \t\r\n\0")

    def blob(name):
        off, n = found[name]
        return Blob(path, name, off, n)
    e.kernel = blob(".linux")
    if ".initrd" in found:
        e.initrds = [blob(".initrd")]
    if ".dtb" in found:
        e.devicetree = blob(".dtb")
    return e


def _key(e):
    return (e.left, e.done, e.sort_key, e.machine_id, e.version, e.id)


def find(fs, arch, warn):
    out = []
    for d in DIRS:
        for n in names(fs, d):
            low = n.lower()
            if n[:1] == "." or not low.endswith(".efi") or low.startswith("auto-"):
                continue
            p = d + "/" + n
            try:
                if not fs.stat(p).is_reg():
                    continue
                e = parse(fs, p, arch)
            except FormatError as err:
                warn("%s: %s" % (p, err.msg))
                continue
            if e is not None:
                out.append(e)
    return vmod.sort_versions(out, _key)
