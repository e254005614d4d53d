"""The bare-metal firmware: MicroPython's ports/qemu for QEMU's RISC-V `virt` machine
with dmfw frozen in, no operating system underneath (issue #15).

Built from Debian trixie's `micropython` source package (the 1.25 the Linux guest
runs) and its `mbedtls` one (hashlib's SHA-1/MD5 and cryptolib's AES), with Debian's
cross toolchain (gcc-riscv64-unknown-elf, picolibc-riscv64-unknown-elf), for the
project's own board images/baremetal-board.  The sources come through `apt-get source
--download-only` from a private sources list whose deb-src line reuses the mirror the
host's apt is configured with; the host's apt setup is not touched.

Cached like the guest: the sources and mpy-cross under
${XDG_CACHE_HOME:-~/.cache}/dmfw/baremetal-<recipe hash>/, and one firmware per heap
size, frozen set (manifest.py's, as harness/frozen.py reads it), dmfw contents and
built-in certificates in fw-<key>/ below it.  A change to dmfw/ rebuilds only the
firmware (seconds: the C objects of that heap size are kept).

    python3 -m images.baremetal build [--heap N] [--minimal] [--trust CERT]...
                                        # build if missing, print the ELF's path
    python3 -m images.baremetal path [--heap N] ...   # print it (exit 1 if not built)
"""
import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

from images.guest import Progress, cache_root

SUITE = "trixie"
SOURCES = ("micropython", "mbedtls")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARD = os.path.join(REPO, "images", "baremetal-board")
BOARD_NAME = "DMFW_VIRT_RV32"
# 4 MiB: verity's FEC repair holds a whole RS round (253 blocks of 4 KiB with 2
# roots) at once; core + linear + verity without FEC needs far less (bench/).
DEFAULT_HEAP = 4 << 20
# The board's linker script gives RAM 32 MiB (QEMU virt has 128): heap + .bss + data.
MAX_HEAP = 30 << 20
MIN_HEAP = 32 << 10
TOOLS = ("riscv64-unknown-elf-gcc", "make", "apt-get")
HINT = "run scripts/setup-host.sh (gcc-riscv64-unknown-elf, picolibc-riscv64-unknown-elf)"

# Bump when the build steps below change in a way the board files do not show.
RECIPE_VERSION = 1


def _board_files():
    return sorted(f for f in os.listdir(BOARD) if not f.startswith("."))


def recipe():
    board = {}
    for name in _board_files():
        with open(os.path.join(BOARD, name), "rb") as f:
            board[name] = hashlib.sha256(f.read()).hexdigest()
    return {"suite": SUITE, "sources": list(SOURCES), "board": board,
            "version": RECIPE_VERSION}


def recipe_hash():
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:12]


def base_dir():
    return os.path.join(cache_root(), "baremetal-" + recipe_hash())


def frozen_files(minimal=False):
    """(dmfw files relative to dmfw/, opt) that the firmware freezes: manifest.py's
    set, read the way harness/frozen.py reads it."""
    from harness.frozen import manifest_modules
    return manifest_modules(minimal=minimal, root=REPO)


def trusted_bytes(trust):
    certs = []
    for path in trust:
        with open(path, "rb") as f:
            certs.append(f.read())
    return certs


# Bump when a firmware built from the same sources, heap and certificates would differ
# (2: dmfw_trusted.py always frozen).
FIRMWARE_VERSION = 2


def firmware_key(heap=DEFAULT_HEAP, minimal=False, certs=()):
    h = hashlib.sha256()
    h.update(("%s heap=%d minimal=%d v%d\n" % (recipe_hash(), heap, minimal,
                                                FIRMWARE_VERSION)).encode())
    files, opt = frozen_files(minimal)
    h.update(("opt=%s\n" % opt).encode())
    for rel in files:
        with open(os.path.join(REPO, "dmfw", rel), "rb") as f:
            h.update(rel.encode() + b"\0" + hashlib.sha256(f.read()).digest())
    for cert in certs:
        h.update(b"cert\0" + hashlib.sha256(cert).digest())
    return h.hexdigest()[:12]


class Firmware:
    """A built firmware: the ELF QEMU boots and what went into it."""

    def __init__(self, path):
        self.path = path
        self.elf = os.path.join(path, "firmware.elf")
        with open(os.path.join(path, "info.json")) as f:
            self.info = json.load(f)
        self.heap = self.info["heap"]


def firmware_dir(heap=DEFAULT_HEAP, minimal=False, certs=()):
    return os.path.join(base_dir(), "fw-" + firmware_key(heap, minimal, certs))


def cached(heap=DEFAULT_HEAP, minimal=False, trust=()):
    path = firmware_dir(heap, minimal, trusted_bytes(trust))
    if os.path.exists(os.path.join(path, "info.json")):
        return Firmware(path)
    return None


def missing_tools():
    """What the build needs and this host lacks (names), [] when all is there."""
    missing = [t for t in TOOLS if not shutil.which(t)]
    if "riscv64-unknown-elf-gcc" not in missing:
        specs = subprocess.run(["riscv64-unknown-elf-gcc", "--print-file-name=picolibc.specs"],
                               capture_output=True, text=True).stdout.strip()
        if not os.path.isabs(specs):
            missing.append("picolibc (picolibc-riscv64-unknown-elf)")
    return missing


def ensure(heap=DEFAULT_HEAP, minimal=False, trust=(), progress=None):
    """The firmware for this heap size, frozen set and certificates, built first when
    missing (one builder at a time)."""
    heap = check_heap(heap)
    certs = trusted_bytes(trust)
    fw = cached(heap, minimal, trust)
    if fw:
        return fw
    missing = missing_tools()
    if missing:
        raise RuntimeError("building the bare-metal firmware needs %s: %s"
                           % (", ".join(missing), HINT))
    progress = progress or Progress(label="baremetal")
    os.makedirs(cache_root(), exist_ok=True)
    with open(os.path.join(cache_root(), "baremetal.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fw = cached(heap, minimal, trust)
        if fw:
            return fw
        src = _sources(base_dir(), progress)
        _build(src, heap, minimal, certs, firmware_dir(heap, minimal, certs), progress)
    return cached(heap, minimal, trust)


def check_heap(heap):
    heap = int(heap)
    if not MIN_HEAP <= heap <= MAX_HEAP or heap % 1024:
        raise ValueError("heap size %d: a multiple of 1024 from %d to %d bytes"
                         % (heap, MIN_HEAP, MAX_HEAP))
    return heap


# --- sources ---------------------------------------------------------------

def host_mirror(paths=None):
    """(URI, Signed-By or None) of the host's configured Debian mirror: the first
    `deb` entry for a release suite (no -updates/-security) with component main, from
    /etc/apt/sources.list or sources.list.d (one-line or deb822 format)."""
    if paths is None:
        paths = ["/etc/apt/sources.list"] + sorted(
            glob.glob("/etc/apt/sources.list.d/*.list")
            + glob.glob("/etc/apt/sources.list.d/*.sources"))
    for path in paths:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        entries = _deb822(text) if path.endswith(".sources") else _one_line(text)
        for types, uris, suites, comps, signed in entries:
            if "deb" in types and "main" in comps and any("-" not in s for s in suites):
                return uris[0], signed
    raise RuntimeError("no Debian mirror in the host's apt sources (/etc/apt/sources.list"
                       "[.d]): fetching the micropython source package needs one")


def _one_line(text):
    import re
    for line in text.splitlines():
        m = re.match(r"(\S+)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)",
                     line.split("#", 1)[0].strip())
        if not m:
            continue
        signed = None
        for o in (m.group(2) or "").split():
            if o.startswith("signed-by="):
                signed = o[len("signed-by="):]
        yield [m.group(1)], [m.group(3)], [m.group(4)], m.group(5).split(), signed


def _deb822(text):
    for stanza in text.split("\n\n"):
        fields = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no" or "uris" not in fields:
            continue
        signed = fields.get("signed-by")
        if signed and not signed.startswith("/"):
            signed = None  # an inline key block: let apt use its trusted keyrings
        yield (fields.get("types", "").split(), fields["uris"].split(),
               fields.get("suites", "").split(), fields.get("components", "").split(), signed)


def _apt_options(work):
    # Our own sources list, lists and package cache: the host's apt state is only read.
    return ["-o", "Dir::Etc::sourcelist=" + os.path.join(work, "sources.list"),
            "-o", "Dir::Etc::sourceparts=-",
            "-o", "Dir::State::Lists=" + os.path.join(work, "lists"),
            "-o", "Dir::Cache=" + os.path.join(work, "cache"),
            "-o", "APT::Get::List-Cleanup=0", "-q"]


def _sources(base, progress):
    """The unpacked MicroPython tree (with mbed TLS in lib/mbedtls) and mpy-cross."""
    tree = os.path.join(base, "src", "micropython")
    if os.path.exists(os.path.join(tree, ".dmfw-ready")):
        return tree
    work = os.path.join(base, "apt")
    shutil.rmtree(os.path.join(base, "src"), ignore_errors=True)
    os.makedirs(os.path.join(work, "lists", "partial"), exist_ok=True)
    os.makedirs(os.path.join(work, "cache", "archives", "partial"), exist_ok=True)
    uri, signed = host_mirror()
    opts = "[signed-by=%s] " % signed if signed else ""
    with open(os.path.join(work, "sources.list"), "w") as f:
        f.write("deb-src %s%s %s main\n" % (opts, uri, SUITE))
    progress("fetching %s source packages (%s) from the host's mirror %s"
             % (SUITE, ", ".join(SOURCES), uri))
    apt = ["apt-get"] + _apt_options(work)
    _step(apt + ["update"], progress, "apt-get update", cwd=work)
    for old in glob.glob(os.path.join(work, "*.orig.tar.*")):
        os.unlink(old)
    _step(apt + ["source", "--download-only"] + list(SOURCES), progress,
          "apt-get source", cwd=work)
    src = os.path.join(base, "src")
    os.makedirs(src)
    versions = {}
    for name in SOURCES:
        tarball, = glob.glob(os.path.join(work, name + "_*.orig.tar.*"))
        versions[name] = os.path.basename(tarball).split("_")[1].split(".orig")[0]
        with tarfile.open(tarball) as tf:
            top = tf.getnames()[0].split("/")[0]
            if hasattr(tarfile, "data_filter"):
                tf.extractall(src, filter="data")
            else:
                tf.extractall(src)
        os.rename(os.path.join(src, top), os.path.join(src, name))
    # Debian's +ds tarball leaves lib/mbedtls empty (its unix build links the system
    # library); the board builds the few files it needs from Debian's mbedtls source.
    lib = os.path.join(tree, "lib", "mbedtls")
    shutil.rmtree(lib, ignore_errors=True)
    os.rename(os.path.join(src, "mbedtls"), lib)
    # No lib/micropython-lib in +ds either: py/mkrules.mk only wants its README.md.
    mpylib = os.path.join(base, "src", "micropython-lib")
    os.makedirs(mpylib)
    open(os.path.join(mpylib, "README.md"), "w").close()
    progress("building mpy-cross")
    _step(["make", "-C", os.path.join(tree, "mpy-cross"), "-j%d" % _jobs()], progress,
          "mpy-cross")
    with open(os.path.join(base, "sources.json"), "w") as f:
        json.dump(versions, f)
    open(os.path.join(tree, ".dmfw-ready"), "w").close()
    return tree


def _jobs():
    return max(1, len(os.sched_getaffinity(0)))


def _step(argv, progress, what, **kw):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, **kw)
    if proc.returncode:
        sys.stderr.write("\n".join(proc.stdout.splitlines()[-30:]) + "\n")
        raise RuntimeError("%s failed (exit %d): %s" % (what, proc.returncode,
                                                        " ".join(argv)))
    return proc.stdout


# --- the firmware ----------------------------------------------------------

def _manifest(path, minimal, trusted_dir):
    """The frozen manifest: the project's manifest.py (its set, as harness/frozen.py
    reads it), the boot module and dmfw_trusted.py."""
    lines = ["# Generated by images/baremetal.py.",
             "include(%r, minimal=%r)" % (os.path.join(REPO, "manifest.py"), bool(minimal)),
             "module('dmfw_boot.py', base_path=%r, opt=3)" % BOARD]
    lines.append("module('dmfw_trusted.py', base_path=%r, opt=3)" % trusted_dir)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _build(tree, heap, minimal, certs, dest, progress):
    base = os.path.dirname(os.path.dirname(tree))
    work = dest + ".work"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    # Always frozen, empty without certificates: the build tree is shared between
    # firmwares, and a module left out of the manifest stayed frozen from the last
    # build that had it (a firmware built without --trust trusted the last run's).
    from images.overlay import trusted_module
    trusted_dir = work
    with open(os.path.join(work, "dmfw_trusted.py"), "wb") as f:
        f.write(trusted_module(certs))
    manifest = os.path.join(work, "manifest.py")
    _manifest(manifest, minimal, trusted_dir)
    # One object tree for every heap size: MICROPY_HEAP_SIZE is used by main.c alone,
    # which the build does not recompile when the flag changes, so it goes when the
    # heap differs from the last build's. The frozen content is regenerated every time.
    build = os.path.join(base, "build")
    stamp = os.path.join(build, "dmfw-heap")
    last = None
    if os.path.exists(stamp):
        with open(stamp) as f:
            last = f.read().strip()
    if last != str(heap):
        for stale in (os.path.join(build, "main.o"), os.path.join(build, "firmware.elf")):
            if os.path.exists(stale):
                os.unlink(stale)
    progress("building the firmware (heap %d bytes, %s set) in %s"
             % (heap, "minimal" if minimal else "full", build))
    started = time.monotonic()
    out = _step(["make", "-C", os.path.join(tree, "ports", "qemu"), "-j%d" % _jobs(),
                 "BOARD=" + BOARD_NAME, "BOARD_DIR=" + BOARD, "BUILD=" + build,
                 "FROZEN_MANIFEST=" + manifest, "MICROPY_HEAP_SIZE=%d" % heap,
                 "MPY_LIB_DIR=" + os.path.join(base, "src", "micropython-lib"),
                 "MBEDTLS=1"], progress, "firmware build")
    with open(stamp, "w") as f:
        f.write(str(heap))
    shutil.copy(os.path.join(build, "firmware.elf"), os.path.join(work, "firmware.elf"))
    text = _size(out)
    files, opt = frozen_files(minimal)
    with open(os.path.join(base, "sources.json")) as f:
        versions = json.load(f)
    info = {"heap": heap, "minimal": bool(minimal), "modules": len(files), "opt": opt,
            "certificates": len(certs), "sources": versions, "recipe": recipe_hash(),
            "text_bytes": text, "frozen_bytes": _frozen_bytes(build),
            "build_seconds": round(time.monotonic() - started, 1),
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with open(os.path.join(work, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(work, dest)
    progress("done: %s (text %s bytes, heap %d)" % (dest, text, heap))


def _size(make_output):
    """.text bytes from the `size` line the port's Makefile prints after linking."""
    lines = make_output.splitlines()
    for i, line in enumerate(lines):
        if line.split()[:2] == ["text", "data"] and i + 1 < len(lines):
            return int(lines[i + 1].split()[0])
    return None


def _frozen_bytes(build):
    """Bytes the frozen modules take in the image (.mpy data in frozen_content.c's
    object: its .rodata and .text sizes)."""
    obj = os.path.join(build, "frozen_content.o")
    size = shutil.which("riscv64-unknown-elf-size")
    if not size or not os.path.exists(obj):
        return None
    out = subprocess.run([size, obj], capture_output=True, text=True).stdout.splitlines()
    return int(out[1].split()[0]) + int(out[1].split()[1]) if len(out) > 1 else None


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog="python3 -m images.baremetal",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["build", "path", "recipe"])
    parser.add_argument("--heap", type=int, default=DEFAULT_HEAP, metavar="BYTES",
                        help="MicroPython heap size (default %d)" % DEFAULT_HEAP)
    parser.add_argument("--minimal", action="store_true",
                        help="freeze manifest.py's minimal set only")
    parser.add_argument("--trust", action="append", default=[], metavar="CERT",
                        help="build this certificate into the firmware's trusted keys")
    args = parser.parse_args(argv)
    if args.action == "recipe":
        print(json.dumps(recipe(), indent=1))
        print("hash", recipe_hash())
        return 0
    try:
        if args.action == "path":
            fw = cached(args.heap, args.minimal, args.trust)
            print(fw.elf if fw else os.path.join(
                firmware_dir(args.heap, args.minimal, trusted_bytes(args.trust)),
                "firmware.elf"))
            return 0 if fw else 1
        fw = ensure(args.heap, args.minimal, args.trust)
    except (RuntimeError, ValueError, OSError) as e:
        sys.stderr.write("images.baremetal: %s\n" % e)
        return 1
    print(fw.elf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
