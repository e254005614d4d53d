# The hand-off is the platform's: what "start this kernel" means where dmfw runs.
#   kexec   the Linux guest (dmfw under MicroPython on a running kernel): the files
#           go to a RAM file system, kexec-tools loads them, `kexec -e` jumps;
#   save    the host (`boot --save DIR`): the files and cmdline are written out, so
#           image builders and tests see exactly what a board would get.
# A firmware build provides its own as a module `dmfw_platform` with
# handoff(plan, sh), and optionally COMPATIBLE (the board's device-tree
# compatible strings, most specific first) and ARCH (a DPS architecture name).

from dmfw.errors import DMError, EOPNOTSUPP, EIO

RUN_DIR = "/run/dmfw-boot"
KEXEC = ("/usr/sbin/kexec", "/sbin/kexec", "/usr/bin/kexec")


def board():
    try:
        return __import__("dmfw_platform")
    except ImportError:
        return None


def compatible():
    b = board()
    c = getattr(b, "COMPATIBLE", None) if b is not None else None
    return list(c) if c else None


def write_files(plan, folder):
    """kernel, initrd (the entry's initrds concatenated, as a loader hands them to
    Linux), devicetree and cmdline in `folder`; returns {what: path}."""
    from dmfw.compat import makedirs
    makedirs(folder)
    out = {}

    def put(name, chunks):
        path = folder.rstrip("/") + "/" + name
        with open(path, "wb") as f:
            for c in chunks:
                f.write(c)
        out[name] = path
    put("kernel", [plan.kernel.data])
    if plan.initrds:
        put("initrd", [i.data for i in plan.initrds])
    if plan.devicetree is not None:
        put("devicetree", [plan.devicetree.data])
    put("cmdline", [plan.cmdline.encode() + b"\n"])
    return out


def _kexec_binary():
    import os
    for p in KEXEC:
        try:
            os.stat(p)
            return p
        except OSError:
            pass
    return None


def _quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def check():
    """Raise unless this platform can hand off: asked before boot counting writes
    anything. CPython is the host's runtime: a `boot` there must not replace the
    build machine's kernel."""
    from dmfw.compat import is_micropython
    b = board()
    if b is not None and hasattr(b, "handoff"):
        return
    if _kexec_binary() is None or not is_micropython():
        raise DMError(EOPNOTSUPP, "no hand-off on this platform: use --save DIR")


def kexec(plan, sh):
    """Load the plan into the running kernel and jump to it. The files are written
    to RAM (the guest's root is its initramfs), never read back from a disk."""
    import os
    check()
    k = _kexec_binary()
    files = write_files(plan, RUN_DIR)
    argv = [k, "-l", files["kernel"]]
    if "initrd" in files:
        argv.append("--initrd=" + files["initrd"])
    if "devicetree" in files:
        argv.append("--dtb=" + files["devicetree"])
    argv.append("--command-line=" + plan.cmdline)
    sh.flush()
    st = os.system(" ".join([_quote(a) for a in argv]))
    if st:
        raise DMError(EIO, "kexec -l failed (status %d)" % st)
    sh.flush()
    os.system(_quote(k) + " -e")
    raise DMError(EIO, "kexec -e returned")


def handoff(plan, sh):
    b = board()
    if b is not None and hasattr(b, "handoff"):
        return b.handoff(plan, sh)
    return kexec(plan, sh)
