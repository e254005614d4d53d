# The root node of a flattened device tree (devicetree-specification, "Flattened
# Devicetree (DTB) Format"; libfdt's fdt.h): enough to pick a board's .dtb by its
# `compatible`, as a loader with FDTDIR must. Only the header, the start of the
# structure block and the strings block are read, each bounded.

import struct

from dmfw.errors import FormatError, DMError

FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE = 1
FDT_END_NODE = 2
FDT_PROP = 3
FDT_NOP = 4
FDT_END = 9
HEADER = 40
# The root's properties come first in the structure block; a root with more than
# this many bytes of them is not a device tree dmfw reads.
MAX_ROOT = 64 * 1024
MAX_STRINGS = 64 * 1024
MAX_DTBS = 4096


def _u32(b, off):
    return struct.unpack_from(">I", b, off)[0]


def header(b):
    """(totalsize, off_dt_struct, off_dt_strings, size_dt_strings, size_dt_struct)
    of a 40-byte header; FormatError when it is not one."""
    if len(b) < HEADER:
        raise FormatError("device tree: truncated header")
    magic, total, ostruct, ostr, _rsv, ver, _last, _cpu, sstr, sstruct = \
        struct.unpack_from(">10I", b, 0)
    if magic != FDT_MAGIC:
        raise FormatError("device tree: bad magic %08x" % magic)
    if ver < 17:
        # Version 17 (dtc's since 2007) is the first with size_dt_struct.
        raise FormatError("device tree: version %d, need 17" % ver)
    if ostruct < HEADER or ostr < HEADER or ostruct + sstruct > total \
            or ostr + sstr > total:
        raise FormatError("device tree: blocks outside the %d-byte tree" % total)
    return total, ostruct, ostr, sstr, sstruct


def _strings(lst):
    # A stringlist property: NUL-terminated strings back to back.
    out = []
    for s in bytes(lst).split(b"\0")[:-1] if lst[-1:] == b"\0" else []:
        try:
            out.append(s.decode())
        except UnicodeError:
            raise FormatError("device tree: compatible is not text")
    if not out:
        raise FormatError("device tree: malformed string list")
    return out


def _name(strs, off):
    if off >= len(strs):
        raise FormatError("device tree: property name past the strings block")
    end = strs.find(b"\0", off)
    if end < 0:
        raise FormatError("device tree: unterminated property name")
    return bytes(strs[off:end])


def root_props(st, strs, want=(b"compatible", b"model")):
    """{name: value bytes} of the root node's properties in `want`, from the
    structure block st (its first bytes suffice) and the strings block."""
    pos = 0
    n = len(st)
    while pos + 4 <= n and _u32(st, pos) == FDT_NOP:
        pos += 4
    if pos + 4 > n or _u32(st, pos) != FDT_BEGIN_NODE:
        raise FormatError("device tree: structure block does not start with a node")
    pos += 4
    end = st.find(b"\0", pos)
    if end < 0:
        raise FormatError("device tree: unterminated root node name")
    pos = (end + 4) & ~3
    out = {}
    while True:
        if pos + 4 > n:
            raise FormatError("device tree: root node truncated")
        tok = _u32(st, pos)
        pos += 4
        if tok == FDT_NOP:
            continue
        if tok != FDT_PROP:
            if tok in (FDT_BEGIN_NODE, FDT_END_NODE, FDT_END):
                return out
            raise FormatError("device tree: bad token %d" % tok)
        if pos + 8 > n:
            raise FormatError("device tree: property truncated")
        ln = _u32(st, pos)
        nameoff = _u32(st, pos + 4)
        pos += 8
        if ln > n - pos:
            raise FormatError("device tree: property of %d bytes past the end" % ln)
        name = _name(strs, nameoff)
        if name in want:
            out[name] = bytes(st[pos:pos + ln])
        pos = (pos + ln + 3) & ~3


def parse(b):
    """(compatible [str], model str or None) of a whole .dtb in memory."""
    total, ostruct, ostr, sstr, sstruct = header(b)
    if total > len(b):
        raise FormatError("device tree: %d bytes, header says %d" % (len(b), total))
    return _result(root_props(b[ostruct:ostruct + min(sstruct, MAX_ROOT)],
                              b[ostr:ostr + min(sstr, MAX_STRINGS)]))


def _result(props):
    c = props.get(b"compatible")
    if c is None:
        raise FormatError("device tree: the root node has no compatible")
    m = props.get(b"model")
    model = None
    if m:
        try:
            model = m.rstrip(b"\0").decode()
        except UnicodeError:
            model = None
    return _strings(c), model


def read_root(fs, path):
    """(compatible, model) of the .dtb at path in fs, reading at most ~128 KiB."""
    f = fs.open(path)
    try:
        size = f.inode.size
        hdr = f.read(HEADER)
        total, ostruct, ostr, sstr, sstruct = header(hdr)
        if total > size:
            raise FormatError("device tree: %d bytes, header says %d" % (size, total))
        f.seek(ostruct)
        st = f.read(min(sstruct, MAX_ROOT))
        f.seek(ostr)
        strs = f.read(min(sstr, MAX_STRINGS))
    finally:
        f.close()
    return _result(root_props(st, strs))


def _dtbs(fs, d):
    # <d>/*.dtb, then <d>/<vendor>/*.dtb (as `make dtbs_install` lays them out).
    from dmfw.boot.entries import absent
    out = []
    try:
        top = sorted(fs.scandir(d), key=lambda x: x[0])
    except DMError as e:
        if absent(e):
            return out
        raise
    subdirs = []
    for name, ino in top:
        if name.endswith(".dtb") and ino.is_reg():
            out.append(d + "/" + name)
        elif ino.is_dir():
            subdirs.append(name)
    for s in subdirs:
        for name, ino in sorted(fs.scandir(d + "/" + s), key=lambda x: x[0]):
            if name.endswith(".dtb") and ino.is_reg():
                out.append(d + "/" + s + "/" + name)
            if len(out) >= MAX_DTBS:
                return out
    return out[:MAX_DTBS]


def choose(fs, d, compatible, warn=None):
    """The path of the first .dtb under directory d whose root compatible holds
    the board's first compatible string, else its second, ...; None if none does.
    A broken .dtb is reported through warn and passed over."""
    d = d.rstrip("/")
    found = []
    for p in _dtbs(fs, d):
        try:
            found.append((p, read_root(fs, p)[0]))
        except FormatError as e:
            if warn is not None:
                warn("%s: %s" % (p, e.msg))
    for c in compatible:
        for p, comp in found:
            if c in comp:
                return p
    return None
