"""The QEMU guest: a Debian trixie kernel and a trimmed initramfs, cached by recipe.

The base image (kernel + initramfs with busybox, MicroPython and the real dm tools as
the oracle) is built with debootstrap into a plain folder - no loop devices, no mounts -
and kept under ${XDG_CACHE_HOME:-~/.cache}/dmfw/guest-<recipe hash>/.  An unchanged
recipe is found there at once; a changed recipe gets a new folder.

The working tree's dmfw/ package and the guest's /init travel in a second, small
archive (images/overlay.py) made on every boot, so neither is part of the recipe.

    python3 -m images.guest build     # build if missing, print the folder
    python3 -m images.guest path      # print the folder (exit 1 if not built)
"""
import fcntl
import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
import time

from images.cpio import CpioWriter

SUITE = "trixie"

# Packages whose binaries the guest needs; debootstrap resolves their dependencies.
PACKAGES = [
    "busybox-static", "micropython", "dmsetup", "lvm2", "cryptsetup-bin",
    "keyutils", "kmod", "util-linux",
    # Not copied into the initramfs: the host runs trixie's mkfs.erofs in the rootfs
    # (chroot) for the compressors the host's erofs-utils lacks.
    "erofs-utils",
    # The boot command's hand-off in the guest (kexec -l / kexec -e).
    "kexec-tools",
]

# Binaries copied into the initramfs with the shared libraries they link to.
BINARIES = [
    "usr/bin/busybox", "usr/bin/micropython", "usr/sbin/dmsetup", "usr/sbin/lvm",
    "usr/sbin/cryptsetup", "usr/sbin/veritysetup", "usr/sbin/integritysetup",
    "usr/bin/keyctl", "usr/sbin/blockdev", "usr/sbin/losetup", "usr/bin/sha256sum",
    "usr/bin/dd", "usr/bin/cmp", "usr/bin/stat", "usr/sbin/blkid", "usr/sbin/kexec",
    # OpenSSL 3's legacy provider, which libcryptsetup loads for LUKS1's whirlpool
    # hash: without it the oracle cannot open a volume dmfw opens.
    "usr/lib/x86_64-linux-gnu/ossl-modules/legacy.so",
]

# Modules the guest loads; each must exist as a module or be built in.  virtio-pci and
# virtio-console are built into Debian's kernel, dm-linear and dm-striped into dm-mod.
MODULES = [
    "virtio_pci", "virtio_blk", "virtio_console", "dm_mod", "dm_zero", "dm_verity",
    "dm_crypt", "dm_mirror", "dm_raid", "dm_thin_pool", "dm_snapshot", "dm_flakey",
    # Not in modules.dep but needed: libcrc32c's soft dependency (dm-thin's
    # metadata checksums) and md's RAID1 personality, which dm-raid requests
    # when a raid1 table is loaded.
    "crc32c_generic", "raid1",
    "dm_delay", "dm_integrity", "loop", "vfat", "nls_cp437", "nls_iso8859_1",
    "xts", "algif_skcipher", "algif_hash",
    # dm-crypt's other modes: aes-cbc-essiv:<hash> needs the essiv template, and
    # cbc/ecb when the kernel has them as modules (busybox modprobe has no aliases,
    # so the kernel's crypto-<name> requests would not find them).
    "essiv", "cbc", "ecb",
    # The kernel's own readers of the filesystems dmfw reads (the oracle for dmfw/fs).
    "squashfs", "erofs", "ext4",
]

# Bump when the build steps below change in a way the lists above do not show.
RECIPE_VERSION = 1


def recipe():
    return {"suite": SUITE, "packages": PACKAGES, "binaries": BINARIES,
            "modules": MODULES, "version": RECIPE_VERSION}


def recipe_hash():
    text = json.dumps(recipe(), sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()[:12]


def cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "dmfw")


def guest_dir():
    return os.path.join(cache_root(), "guest-" + recipe_hash())


class Guest:
    """The built base image: paths and what went into it."""

    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, "manifest.json")) as f:
            self.manifest = json.load(f)
        self.kernel = os.path.join(path, "vmlinuz")
        self.initrd = os.path.join(path, "base.cpio")
        self.rootfs = os.path.join(path, "rootfs")


def cached():
    """The built image, or None when this recipe has not been built."""
    path = guest_dir()
    if os.path.exists(os.path.join(path, "manifest.json")):
        return Guest(path)
    return None


def ensure(progress=None):
    """The built image, building it first when missing (one builder at a time)."""
    guest = cached()
    if guest:
        return guest
    os.makedirs(cache_root(), exist_ok=True)
    with open(os.path.join(cache_root(), "build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        guest = cached()
        if guest:
            return guest
        _build(guest_dir(), progress or Progress())
    return cached()


class Progress:
    """One status line per step on stderr, redrawn in place on a terminal."""

    def __init__(self, stream=sys.stderr, label="guest"):
        self.stream = stream
        self.label = label
        self.start = time.monotonic()
        self.tty = stream.isatty()
        self._last = 0.0

    def __call__(self, text, transient=False):
        now = time.monotonic()
        if transient and not self.tty and now - self._last < 5:
            return
        self._last = now
        line = "[%s %5.1fs] %s" % (self.label, now - self.start, text)
        if self.tty:
            self.stream.write("\r\033[K" + line + ("" if transient else "\n"))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _run(argv, progress, what, **kw):
    """Run a build step, streaming its output into the progress line."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kw)
    tail = []
    counts = {}
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-30:]
        word = line.split(" ", 2)[1] if line.startswith("I: ") and " " in line[3:] else ""
        if word in ("Retrieving", "Unpacking", "Configuring"):
            counts[word] = counts.get(word, 0) + 1
            progress("%s: %s" % (what, ", ".join(
                "%s %d" % (k.lower(), v) for k, v in counts.items())), transient=True)
    if proc.wait():
        sys.stderr.write("\n".join(tail) + "\n")
        raise RuntimeError("%s failed (exit %d): %s" % (what, proc.returncode, argv))


def _chroot(root, *argv):
    return subprocess.run(["chroot", root] + list(argv), check=True, text=True,
                          stdout=subprocess.PIPE).stdout


def _build(dest, progress):
    missing = [t for t in ("debootstrap", "chroot", "dpkg-deb") if not shutil.which(t)]
    if missing:
        raise RuntimeError("building the guest needs %s: run scripts/setup-host.sh"
                           % ", ".join(missing))
    if os.geteuid() != 0:
        raise RuntimeError("building the guest needs root (debootstrap and chroot)")
    work = dest + ".work"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    root = os.path.join(work, "rootfs")
    progress("building %s (recipe %s) in %s" % (SUITE, recipe_hash(), work))
    # debootstrap's own default mirror: the project names no package host.
    _run(["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
          SUITE, root], progress, "debootstrap")
    progress("debootstrap done")

    kernel_pkg = _kernel_package(root)
    _chroot(root, "sh", "-c", "cd /tmp && apt-get -q download " + kernel_pkg)
    deb = [f for f in os.listdir(os.path.join(root, "tmp")) if f.endswith(".deb")][0]
    subprocess.run(["dpkg-deb", "-x", os.path.join(root, "tmp", deb), root], check=True)
    os.unlink(os.path.join(root, "tmp", deb))
    kver = kernel_pkg[len("linux-image-"):]
    _chroot(root, "depmod", kver)
    progress("kernel %s unpacked" % kver)

    with open(os.path.join(work, "base.cpio"), "wb") as f:
        writer = CpioWriter(f)
        _add_layout(writer)
        libs = _add_binaries(writer, root)
        nmods = _add_modules(writer, root, kver)
        writer.close()
    shutil.copy(os.path.join(root, "boot", "vmlinuz-" + kver), os.path.join(work, "vmlinuz"))
    versions = _chroot(root, "dpkg-query", "-W", "-f", "${Package} ${Version}\n",
                       *[p for p in PACKAGES])
    manifest = {
        "recipe": recipe(), "hash": recipe_hash(), "kernel": kver,
        "packages": dict(line.split(" ", 1) for line in versions.splitlines()),
        "libraries": len(libs), "modules": nmods,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with open(os.path.join(work, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    size = os.path.getsize(os.path.join(work, "base.cpio")) >> 20
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(work, dest)
    progress("done: %s (initramfs %d MiB, %d libraries, %d modules)"
             % (dest, size, len(libs), nmods))


def _kernel_package(root):
    out = _chroot(root, "apt-cache", "depends", "linux-image-amd64")
    for line in out.splitlines():
        dep = line.strip().split(": ", 1)
        if dep[0] == "Depends" and dep[1].startswith("linux-image-") and dep[1][12:13].isdigit():
            return dep[1]
    raise RuntimeError("no versioned kernel behind linux-image-amd64:\n" + out)


def _add_layout(writer):
    # trixie is merged-/usr: keep the same shape so library paths from ldd resolve.
    for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "proc", "sys", "dev",
              "run", "tmp", "etc", "root", "mnt"):
        writer.directory(d)
    for link in ("bin", "sbin", "lib", "lib64"):
        writer.symlink(link, "usr/" + link)
    writer.chardev("dev/console", 5, 1)
    writer.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    writer.file("etc/group", b"root:x:0:\n")


def _usr_path(path):
    """The merged-/usr spelling of an absolute path inside the guest."""
    path = path.lstrip("/")
    if path.split("/")[0] in ("bin", "sbin", "lib", "lib64"):
        path = "usr/" + path
    return path


def _read_in_root(root, path):
    """Contents of path as seen inside root, following symlinks without leaving it."""
    for _ in range(40):
        host = os.path.join(root, _usr_path(path))
        if not os.path.islink(host):
            with open(host, "rb") as f:
                return f.read()
        target = os.readlink(host)
        if not target.startswith("/"):
            target = os.path.join(os.path.dirname("/" + _usr_path(path)), target)
        path = os.path.normpath(target)
    raise RuntimeError("symlink loop at " + path)


def _add_binaries(writer, root, binaries=BINARIES):
    libs = set()
    for binary in binaries:
        writer.file(binary, _read_in_root(root, binary), 0o755)
        if binary.endswith("busybox"):
            continue  # static
        for line in _chroot(root, "ldd", "/" + binary).splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) > 2 and parts[2].startswith("/"):
                libs.add(parts[2])
            elif parts and parts[0].startswith("/"):
                libs.add(parts[0])
    for lib in sorted(libs):
        writer.file(_usr_path(lib), _read_in_root(root, lib), 0o755)
    # lvm's command names are symlinks to lvm; keep the ones Debian ships.
    sbin = os.path.join(root, "usr/sbin")
    for name in sorted(os.listdir(sbin)):
        link = os.path.join(sbin, name)
        if os.path.islink(link) and os.readlink(link) == "lvm":
            writer.symlink("usr/sbin/" + name, "lvm")
    writer.symlink("usr/bin/sh", "busybox")
    return libs


def _add_modules(writer, root, kver, modules=MODULES):
    """Copy the wanted modules and their dependencies, decompressed for busybox modprobe."""
    base = os.path.join(root, "usr/lib/modules", kver)
    deps = {}
    with open(os.path.join(base, "modules.dep")) as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[path] = rest.split()
    by_name = {os.path.basename(p).split(".ko")[0].replace("-", "_"): p for p in deps}
    with open(os.path.join(base, "modules.builtin")) as f:
        builtin = {os.path.basename(l.strip())[:-3].replace("-", "_") for l in f}
    wanted = set()
    for name in modules:
        if name in builtin:
            continue
        if name not in by_name:
            raise RuntimeError("module %s is neither built in nor a module of %s" % (name, kver))
        wanted.add(by_name[name])
        wanted.update(deps[by_name[name]])

    def plain(p):
        return p[:-3] if p.endswith(".xz") else p

    lines = []
    for path in sorted(wanted):
        data = _read_in_root(root, "usr/lib/modules/%s/%s" % (kver, path))
        if path.endswith(".xz"):
            data = lzma.decompress(data)
        writer.file("usr/lib/modules/%s/%s" % (kver, plain(path)), data)
        lines.append("%s: %s\n" % (plain(path), " ".join(plain(d) for d in deps[path])))
    writer.file("usr/lib/modules/%s/modules.dep" % kver,
                "".join(lines).replace(" \n", "\n").encode())
    for name in ("modules.builtin", "modules.order"):
        with open(os.path.join(base, name), "rb") as f:
            writer.file("usr/lib/modules/%s/%s" % (kver, name), f.read())
    return len(wanted)


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog="python3 -m images.guest",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["build", "path", "rebuild", "recipe"])
    args = parser.parse_args(argv)
    if args.action == "recipe":
        print(json.dumps(recipe(), indent=1))
        print("hash", recipe_hash())
        return 0
    if args.action == "path":
        guest = cached()
        print(guest.path if guest else guest_dir())
        return 0 if guest else 1
    if args.action == "rebuild":
        shutil.rmtree(guest_dir(), ignore_errors=True)
    guest = ensure()
    print(guest.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
