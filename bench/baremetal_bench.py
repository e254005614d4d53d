"""Bare-metal benchmark: dmfw frozen into MicroPython on QEMU's RISC-V virt machine, no
Linux (images/baremetal.py), in runs of the firmware itself.

    python3 -m bench.baremetal_bench [--quick] [--no-heap]   (or: python3 -m bench baremetal)

Prints
- boot to the shell prompt and the firmware's sizes (text, frozen modules);
- read throughput within one run: dmfw linear over a disk / the raw disk through the
  same virtio driver (`dd ... of=/dev/null`, the firmware's 64 KiB chunks and 256 KiB),
  and dm-verity (veritysetup-made image, no FEC) / a raw read + one sha256 of the same
  data (`sha256sum`): the ratios are what counts, best of several runs each;
- the smallest heap the core + linear + verity scenario runs in: firmwares of
  decreasing heap size (a rebuild takes a second), each booted and given the scenario
  (tables created, every mapped byte hashed and compared with the host's hash).
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

MIB = 1 << 20
KIB = 1 << 10


def _dd_seconds(out):
    m = re.search(r"copied, ([0-9.]+) s", out)
    if not m:
        raise RuntimeError("no timing in dd output:\n" + out)
    return float(m.group(1))


def _time_seconds(out):
    m = re.search(r"real\t([0-9.]+)s", out)
    if not m:
        raise RuntimeError("no timing in time output:\n" + out)
    return float(m.group(1))


def _best(fw, cmd, parse, repeat):
    times = []
    for _ in range(repeat):
        out, st = fw.run(cmd, timeout=600)
        if st:
            raise RuntimeError("%s failed:\n%s" % (cmd, out))
        times.append(parse(out))
    return min(times)


def _verity_image(folder, mib):
    """A dm-verity data + hash file pair made by the real veritysetup; returns
    (data, hash, root hash, data sectors)."""
    data = os.path.join(folder, "vdata.img")
    hashf = os.path.join(folder, "vhash.img")
    seed = b"".join(hashlib.sha256(b"bmbench%d" % i).digest() for i in range(32768))
    with open(data, "wb") as f:
        for i in range(mib):
            r = (i * 4099) % len(seed)
            f.write(seed[r:] + seed[:r])
    out = subprocess.run(["veritysetup", "format", data, hashf, "--salt",
                          hashlib.sha256(b"bmbench").hexdigest()],
                         capture_output=True, text=True, check=True).stdout
    root = re.search(r"Root hash:\s+([0-9a-f]+)", out).group(1)
    return data, hashf, root, mib * MIB // 512


def throughput(folder, quick):
    from harness import baremetal
    from harness.disks import pattern_disk
    from harness.guest import Disk
    size = (32 if quick else 64) * MIB
    repeat = 3 if quick else 5
    raw = pattern_disk(os.path.join(folder, "raw.img"), size, "a")
    vmib = 8 if quick else 16
    data, hashf, root, vsec = _verity_image(folder, vmib)
    g = baremetal.boot([Disk(raw), Disk(data, readonly=True), Disk(hashf, readonly=True)])
    try:
        print("boot to the dmfw prompt: %.2f s" % g.boot_seconds)
        fw = g.fw
        sec = size // 512
        fw.check("dmsetup create lin --table '0 %d linear /dev/vda 0'" % sec)
        print("read %d MiB, best of %d (MB/s):" % (size // MIB, repeat))
        # 64 KiB: the firmware's own transfer size (sha256sum, dd's default chunk).
        for bs in ("64K", "256K"):
            t_raw = _best(fw, "dd if=/dev/vda of=/dev/null bs=%s" % bs, _dd_seconds, repeat)
            t_lin = _best(fw, "dd if=/dev/mapper/lin of=/dev/null bs=%s" % bs, _dd_seconds,
                          repeat)
            print("  bs=%-3s raw virtio %8.1f  dmfw linear %8.1f  linear/raw %.2f"
                  % (bs, size / t_raw / 1e6, size / t_lin / 1e6, t_raw / t_lin))
        fw.check("veritysetup open /dev/vdb v /dev/vdc %s" % root)
        want = hashlib.sha256(open(data, "rb").read()).hexdigest()
        out = fw.check("sha256sum /dev/mapper/v", timeout=600)
        if not out.startswith(want):
            raise RuntimeError("verity read gave the wrong bytes: " + out)
        vbytes = vsec * 512
        t_sha = _best(fw, "time sha256sum /dev/vdb", _time_seconds, repeat)
        t_ver = _best(fw, "dd if=/dev/mapper/v of=/dev/null bs=64K", _dd_seconds, repeat)
        t_versha = _best(fw, "time sha256sum /dev/mapper/v", _time_seconds, repeat)
        print("verity, %d MiB (4 KiB blocks, sha256), best of %d (MB/s):" % (vmib, repeat))
        print("  raw read+sha256 %.1f  verity read %.1f  verity/raw+sha256 %.2f"
              % (vbytes / t_sha / 1e6, vbytes / t_ver / 1e6, t_sha / t_ver))
        print("  (verity read+sha256 %.1f: /raw+sha256 %.2f)"
              % (vbytes / t_versha / 1e6, t_sha / t_versha))
    finally:
        g.close()


# The core + linear + verity scenario of the smallest-heap figure: tables of the
# targets built into dm-mod and a verity device over the real veritysetup's image,
# every mapped byte hashed.
def _scenario(root, vsec):
    return ["dmsetup create lin --table '0 8192 linear /dev/vda 0'",
            "dmsetup create str --table '0 8192 striped 2 64 /dev/vda 0 /dev/vda 4096'",
            "sha256sum /dev/mapper/str",
            "sha256sum /dev/mapper/lin",
            "veritysetup open /dev/vdb v /dev/vdc %s" % root,
            "sha256sum /dev/mapper/v",
            "dmsetup table",
            "dmsetup remove_all"]


def _scenario_ok(elf, disks, cmds, want):
    from harness.baremetal import BareMetalGuest
    try:
        g = BareMetalGuest(elf, disks).start(timeout=10)
    except Exception:
        return False
    try:
        outs = []
        for cmd in cmds:
            out, st = g.fw.run(cmd, timeout=30)
            if st:
                return False
            outs.append(out)
        return outs[2 + 1].startswith(want[0]) and outs[5].startswith(want[1])
    except Exception:
        return False
    finally:
        g.close()


def smallest_heap(folder, quick):
    from harness.disks import pattern_disk
    from harness.guest import Disk
    from images import baremetal
    raw = pattern_disk(os.path.join(folder, "h.img"), 4 * MIB, "h")
    data, hashf, root, vsec = _verity_image(folder, 4)
    disks = [Disk(raw, readonly=True), Disk(data, readonly=True), Disk(hashf, readonly=True)]
    with open(raw, "rb") as f:
        want_lin = hashlib.sha256(f.read(8192 * 512)).hexdigest()
    with open(data, "rb") as f:
        want_v = hashlib.sha256(f.read()).hexdigest()
    cmds = _scenario(root, vsec)
    step = 16 * KIB if quick else 8 * KIB
    lo, hi = 32 * KIB, 1024 * KIB       # lo fails (assumed), hi must work
    results = {}

    def ok(heap):
        fw = baremetal.ensure(heap, progress=lambda *a, **k: None)
        r = _scenario_ok(fw.elf, disks, cmds, (want_lin, want_v))
        results[heap] = r
        return r

    if not ok(hi):
        print("smallest heap: the scenario fails even with %d KiB" % (hi // KIB))
        return
    while hi - lo > step:
        mid = (lo + hi) // 2 // KIB * KIB
        if ok(mid):
            hi = mid
        else:
            lo = mid
    print("smallest heap for core + linear + striped + verity (no FEC, no signature), "
          "every byte hashed: %d KiB (%d KiB fails; goal <= 256 KiB)" % (hi // KIB, lo // KIB))
    print("  tried: " + ", ".join("%dK %s" % (h // KIB, "ok" if r else "fail")
                                   for h, r in sorted(results.items())))


def sizes():
    from images import baremetal
    from harness.frozen import report
    import io
    fw = baremetal.ensure()
    info = fw.info
    print("firmware: text %d bytes (frozen modules %d bytes of it), heap %d KiB, "
          "MicroPython %s, mbed TLS %s" % (info["text_bytes"], info["frozen_bytes"],
                                            info["heap"] // KIB,
                                            info["sources"]["micropython"],
                                            info["sources"]["mbedtls"]))
    buf = io.StringIO()
    try:
        report(out=buf)
        print("  " + buf.getvalue().strip().replace("\n", "\n  "))
    except RuntimeError:
        pass


def main(flags=()):
    from harness import baremetal
    why = baremetal.missing()
    if why or not shutil.which("veritysetup"):
        print("bare-metal bench skipped: %s" % (why or "no veritysetup (cryptsetup-bin)"))
        return 0
    quick = "--quick" in flags
    folder = tempfile.mkdtemp(prefix="dmfw-bmbench-")
    try:
        sizes()
        throughput(folder, quick)
        if "--no-heap" not in flags:
            smallest_heap(folder, quick)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
