# extlinux.conf / syslinux.conf as U-Boot's sysboot reads them (boot/pxe_utils.c:
# get_token, parse_pxefile_top, parse_label, label_boot):
#   - a keyword is the first blank-delimited word, matched case-insensitively; its
#     argument is the rest of the line (U-Boot keeps trailing blanks; dmfw drops them
#     and a CR, which U-Boot would make part of the file name);
#   - '#' starts a comment only where a keyword could start;
#   - a label ends at the first keyword it does not know (that line is then read at
#     the top level, where an unknown keyword is ignored);
#   - INITRD, FDT, FDTDIR, FDTOVERLAYS: the first one in a label counts; KERNEL and
#     APPEND: the last; APPEND's `initrd=` names the initrd when no INITRD came first;
#   - DEFAULT (top level, the last one wins) or the first MENU DEFAULT of a label
#     names the label tried first; the others follow in file order
#     (boot_unattempted_labels);
#   - a keyword without its argument, a missing INCLUDE file or more than
#     MAX_NEST_LEVEL (16) nested INCLUDEs make the whole file unusable;
#   - paths: absolute ones as given (sysboot allows them), relative ones joined to
#     the directory of the top-level config file (pxe_setup_ctx's bootdir), for
#     INCLUDEs too;
#   - `KERNEL file#config` boots a FIT configuration: not done here (refused).
# INITRD takes a comma-separated list, as syslinux documents it.

from dmfw.boot.entries import Entry, Blob, read_text, is_file, absent
from dmfw.errors import DMError

CONFIGS = ("/boot/extlinux/extlinux.conf", "/boot/syslinux/syslinux.conf",
           "/extlinux/extlinux.conf")
MAX_NEST_LEVEL = 16
# INCLUDEs of one config file in all (a file including itself twice per level would
# otherwise take 2**16 reads before the nesting limit stops it).
MAX_INCLUDES = 64

_KEYWORDS = ("menu", "title", "timeout", "default", "prompt", "label", "kernel",
             "linux", "localboot", "append", "initrd", "include", "devicetree", "fdt",
             "devicetreedir", "fdtdir", "fdtoverlays", "ontimeout", "ipappend",
             "background", "kaslrseed")
_ALIAS = {"linux": "kernel", "devicetree": "fdt", "devicetreedir": "fdtdir",
          "ontimeout": "default"}
_SPACE = " \t\r\n\v\f"


class ConfigError(Exception):
    pass


class _Label:
    def __init__(self, name, line):
        self.name = name
        self.line = line
        self.menu = None
        self.kernel = None
        self.append = None
        self.initrd = None
        self.fdt = None
        self.fdtdir = None
        self.fdtoverlays = None
        self.localboot = False


class _Menu:
    def __init__(self):
        self.labels = []
        self.default = None
        self.includes = 0


def _split(line):
    """(keyword or None, rest) of one line as get_token(L_KEYWORD) cuts it."""
    s = line.lstrip(" \t")
    if not s or s[0] == "#":
        return None, ""
    i = 0
    while i < len(s) and s[i] not in _SPACE:
        i += 1
    word = s[:i].lower()
    if word not in _KEYWORDS:
        word = "?" + word
    return _ALIAS.get(word, word), s[i:]


def _literal(rest, where, what):
    v = rest.strip(_SPACE)
    if not v:
        raise ConfigError("%s: expected %s" % (where, what))
    return v


class _Parser:
    def __init__(self, fs, bootdir, menu):
        self.fs = fs
        self.bootdir = bootdir
        self.menu = menu

    def path(self, p):
        return p if p.startswith("/") else self.bootdir + p

    def file(self, path, nest):
        if nest > MAX_NEST_LEVEL:
            raise ConfigError("%s: maximum nesting (%d) of INCLUDE exceeded"
                              % (path, MAX_NEST_LEVEL))
        try:
            text = read_text(self.fs, path)
        except ValueError as e:
            raise ConfigError(str(e))
        if text is None:
            raise ConfigError("%s: no such file" % path)
        self.top(path, text.split("\n"), nest)

    def include(self, rest, where, nest):
        m = self.menu
        m.includes += 1
        if m.includes > MAX_INCLUDES:
            raise ConfigError("%s: more than %d INCLUDEs" % (where, MAX_INCLUDES))
        self.file(self.path(_literal(rest, where, "an include path")), nest + 1)

    def top(self, path, lines, nest):
        i = 0
        m = self.menu
        while i < len(lines):
            where = "%s:%d" % (path, i + 1)
            kw, rest = _split(lines[i])
            i += 1
            if kw == "label":
                lab = _Label(_literal(rest, where, "a label name"), where)
                m.labels.append(lab)
                i = self.label(path, lines, i, lab)
            elif kw == "default":
                m.default = _literal(rest, where, "a label name")
            elif kw == "timeout":
                _literal(rest, where, "a number")
            elif kw == "include":
                self.include(rest, where, nest)
            elif kw == "menu":
                sub, arg = _split(rest)
                if sub == "include":
                    self.include(arg, where, nest)
                elif sub in ("title", "background"):
                    _literal(arg, where, "a string")
            # prompt, unknown keywords, blank lines and comments: ignored

    def label(self, path, lines, i, lab):
        m = self.menu
        while i < len(lines):
            where = "%s:%d" % (path, i + 1)
            kw, rest = _split(lines[i])
            if kw is None:
                i += 1
                continue
            if kw == "menu":
                sub, arg = _split(rest)
                if sub == "default":
                    if m.default is None:
                        m.default = lab.name
                elif sub == "label":
                    lab.menu = arg.strip(_SPACE) or None
            elif kw == "kernel":
                lab.kernel = _literal(rest, where, "a kernel path")
            elif kw == "append":
                lab.append = _literal(rest, where, "kernel arguments")
                k = lab.append.find("initrd=")
                if lab.initrd is None and k >= 0:
                    lab.initrd = lab.append[k + 7:].split(" ")[0]
            elif kw in ("initrd", "fdt", "fdtdir", "fdtoverlays"):
                v = _literal(rest, where, "a path")
                if getattr(lab, kw) is None:
                    setattr(lab, kw, v)
            elif kw in ("localboot", "ipappend"):
                _literal(rest, where, "a number")
                if kw == "localboot":
                    lab.localboot = True
            elif kw != "kaslrseed":
                return i        # the end of this label: the top level reads the line
            i += 1
        return i


def _dtb(fs, p, lab, compatible, fdtfile, src, warn):
    """The device tree chosen under FDTDIR, or None."""
    if lab.fdtdir is None:
        return None
    d = p.path(lab.fdtdir).rstrip("/") or "/"
    if compatible:
        from dmfw.boot import fdt
        hit = fdt.choose(fs, d, compatible, warn)
        if hit is not None:
            return Blob(hit)
    if fdtfile:
        f = d.rstrip("/") + "/" + fdtfile
        if is_file(fs, f):
            return Blob(f)
        warn("%s: label %s: FDTDIR %s has no %s" % (src, lab.name, d, fdtfile))
        return None
    warn("%s: label %s: no device tree under FDTDIR %s for %s"
         % (src, lab.name, d, ",".join(compatible or []) or "this board"))
    return None


def _entry(fs, p, src, lab, compatible, fdtfile, warn):
    if lab.localboot:
        return None             # label_boot hands these to $localcmd, never a kernel
    if lab.kernel is None:
        warn("%s: label %s: no kernel given" % (lab.line, lab.name))
        return None
    if "#" in lab.kernel:
        warn("%s: label %s: %s is a FIT configuration: not booted by dmfw"
             % (lab.line, lab.name, lab.kernel))
        return None
    e = Entry("extlinux", lab.name, src)
    e.title = lab.menu or lab.name
    e.kernel = Blob(p.path(lab.kernel))
    if lab.initrd:
        e.initrds = [Blob(p.path(x)) for x in lab.initrd.split(",") if x]
    if lab.fdt is not None:
        e.devicetree = Blob(p.path(lab.fdt))
    # label_boot skips a label whose kernel, initrd or FDT does not load and goes on
    # with the next one: so does this list.
    for b in [e.kernel] + e.initrds + ([e.devicetree] if e.devicetree else []):
        if not is_file(fs, b.path):
            warn("%s: label %s: %s: no such file" % (lab.line, lab.name, b.path))
            return None
    e.options = lab.append or ""
    if e.devicetree is None:
        e.devicetree = _dtb(fs, p, lab, compatible, fdtfile, src, warn)
    if lab.fdtoverlays:
        e.overlays = [Blob(p.path(x)) for x in lab.fdtoverlays.split()]
    return e


def parse(fs, src, compatible=None, fdtfile=None, warn=None):
    """[Entry] of one config file, DEFAULT first; ConfigError when U-Boot would
    refuse the whole file."""
    menu = _Menu()
    p = _Parser(fs, src[:src.rfind("/") + 1], menu)
    p.file(src, 1)
    labs = [lab for lab in menu.labels if lab.name == menu.default][:1]
    labs += [lab for lab in menu.labels if lab not in labs]
    out = []
    for lab in labs:
        e = _entry(fs, p, src, lab, compatible, fdtfile, warn)
        if e is not None:
            out.append(e)
    return out


def _real(fs, path):
    try:
        return fs.realpath(path)
    except DMError as e:
        if absent(e):
            return path
        raise


def find(fs, compatible, fdtfile, warn):
    out = []
    seen = []
    for src in CONFIGS:
        if not is_file(fs, src):
            continue
        r = _real(fs, src)
        if r in seen:           # syslinux.conf -> extlinux.conf: one set of labels
            continue
        seen.append(r)
        try:
            out += parse(fs, src, compatible, fdtfile, warn)
        except ConfigError as e:
            warn("%s: not used: %s" % (src, e))
    return out

