"""Bare-metal benchmark: dmfw frozen into MicroPython on QEMU's RISC-V virt machine, no
Linux (images/baremetal.py), in runs of the firmware itself.

    python3 -m bench.baremetal_bench [--quick] [--no-heap]   (or: python3 -m bench baremetal)

Prints
- boot to the shell prompt and the firmware's sizes (text, frozen modules);
- read throughput within one run: dmfw linear over a disk / the raw disk through the
  same virtio driver (`dd ... of=/dev/null`, the firmware's 64 KiB chunks and 256 KiB),
  and dm-verity (veritysetup-made image, no FEC) / a raw read + one sha256 of the same
  data (`sha256sum`): the ratios are what counts, best of several runs each;
- the smallest heap each scenario runs in (core + linear + verity; a signed root hash;
  LVM activation): firmwares of other heap sizes (a rebuild takes a second), each
  booted and given the scenario, checked against the host; a binary search.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from bench.common import dd_seconds

MIB = 1 << 20
KIB = 1 << 10


def _time_seconds(out):
    m = re.search(r"real\t([0-9.]+)s", out)
    if not m:
        raise RuntimeError("no timing in time output:\n" + out)
    return float(m.group(1))


def _best(fw, cmds, parse, repeat):
    """The best time of each command over `repeat` rounds, the commands taking turns
    in every round (so a busy host slows them alike)."""
    times = [[] for _ in cmds]
    for _ in range(repeat):
        for i, cmd in enumerate(cmds):
            out, st = fw.run(cmd, timeout=600)
            if st:
                raise RuntimeError("%s failed:\n%s" % (cmd, out))
            times[i].append(parse(out))
    return [min(t) for t in times]


def _verity_image(folder, mib):
    """A dm-verity data + hash file pair made by the real veritysetup; returns
    (data, hash, root hash, data sectors)."""
    from images import verity as iv
    data = os.path.join(folder, "vdata.img")
    hashf = os.path.join(folder, "vhash.img")
    out = iv.bench_files(data, hashf, mib, b"bmbench")
    return data, hashf, iv.dump_fields(out)["Root hash"], mib * MIB // 512


def throughput(folder, quick):
    from harness import baremetal
    from harness.disks import pattern_disk
    from harness.guest import Disk
    size = (32 if quick else 128) * MIB
    repeat = 3 if quick else 9
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
            t_raw, t_lin = _best(fw, ["dd if=/dev/vda of=/dev/null bs=%s" % bs,
                                      "dd if=/dev/mapper/lin of=/dev/null bs=%s" % bs],
                                 dd_seconds, repeat)
            print("  bs=%-3s raw virtio %8.1f  dmfw linear %8.1f  linear/raw %.2f"
                  % (bs, size / t_raw / 1e6, size / t_lin / 1e6, t_raw / t_lin))
        fw.check("veritysetup open /dev/vdb v /dev/vdc %s" % root)
        want = hashlib.sha256(open(data, "rb").read()).hexdigest()
        out = fw.check("sha256sum /dev/mapper/v", timeout=600)
        if not out.startswith(want):
            raise RuntimeError("verity read gave the wrong bytes: " + out)
        vbytes = vsec * 512
        t_sha, t_versha = _best(fw, ["time sha256sum /dev/vdb",
                                     "time sha256sum /dev/mapper/v"], _time_seconds, repeat)
        t_ver, = _best(fw, ["dd if=/dev/mapper/v of=/dev/null bs=64K"], dd_seconds, repeat)
        print("verity, %d MiB (4 KiB blocks, sha256), best of %d (MB/s):" % (vmib, repeat))
        print("  raw read+sha256 %.1f  verity read %.1f  verity/raw+sha256 %.2f"
              % (vbytes / t_sha / 1e6, vbytes / t_ver / 1e6, t_sha / t_ver))
        print("  (verity read+sha256 %.1f: /raw+sha256 %.2f)"
              % (vbytes / t_versha / 1e6, t_sha / t_versha))
    finally:
        g.close()


# The scenarios of the smallest-heap figures: each a list of commands whose every
# status must be 0, and a check of their outputs against the host.
def _core_scenario(folder):
    """core + linear + striped + verity (no FEC, no signature), every byte hashed."""
    from harness.disks import pattern_disk
    from harness.guest import Disk
    raw = pattern_disk(os.path.join(folder, "h.img"), 4 * MIB, "h")
    data, hashf, root, vsec = _verity_image(folder, 4)
    with open(raw, "rb") as f:
        want_lin = hashlib.sha256(f.read(8192 * 512)).hexdigest()
    with open(data, "rb") as f:
        want_v = hashlib.sha256(f.read()).hexdigest()
    cmds = ["dmsetup create lin --table '0 8192 linear /dev/vda 0'",
            "dmsetup create str --table '0 8192 striped 2 64 /dev/vda 0 /dev/vda 4096'",
            "sha256sum /dev/mapper/str",
            "sha256sum /dev/mapper/lin",
            "veritysetup open /dev/vdb v /dev/vdc %s" % root,
            "sha256sum /dev/mapper/v",
            "dmsetup table",
            "dmsetup remove_all"]
    disks = [Disk(raw, readonly=True), Disk(data, readonly=True), Disk(hashf, readonly=True)]
    return disks, (), cmds, lambda outs: outs[3].startswith(want_lin) and \
        outs[5].startswith(want_v)


def _signature_scenario(folder):
    """verity with a signed root hash (RSA-2048 CMS, then ECDSA P-256 S/MIME),
    the signatures on a squashfs mounted on the board, the certificates built in."""
    from harness.guest import Disk
    from images import verity as iv
    d = iv.build("sigs")
    with open(os.path.join(d, "sigs.json")) as f:
        info = json.load(f)["image"]
    base = os.path.join(d, "img", info["name"])
    tree = os.path.join(folder, "sigs")
    os.makedirs(tree)
    signers = ("rsa2048-cms", "p256-smime")
    for s in signers:
        shutil.copyfile(os.path.join(d, s + ".p7s"), os.path.join(tree, s + ".p7s"))
    sq = os.path.join(folder, "sigs.squashfs")
    subprocess.run(["mksquashfs", tree, sq, "-noappend", "-quiet", "-all-root"], check=True,
                   capture_output=True)
    with open(os.path.join(base, info["data_file"]), "rb") as f:
        want = hashlib.sha256(f.read()[:info["length"] * 512]).hexdigest()
    cmds = ["mount /dev/vdc /mnt"]
    for s in signers:
        cmds += ["veritysetup open /dev/vda v /dev/vdb %s --root-hash-signature=/mnt/%s.p7s"
                 % (info["root"], s), "sha256sum /dev/mapper/v", "dmsetup remove v"]
    disks = [Disk(os.path.join(base, info["data_file"]), readonly=True),
             Disk(os.path.join(base, info["hash_file"]), readonly=True), Disk(sq, readonly=True)]
    trust = [os.path.join(d, s + ".pem") for s in signers]
    return disks, trust, cmds, lambda outs: outs[2].startswith(want) and \
        outs[5].startswith(want)


def _lvm_scenario(folder):
    """LVM activation of the VG vg-one that the real lvm2 made (3 PVs, 6 LVs: linear,
    striped, spanning), then every LV read."""
    from harness.guest import Disk
    from images import lvm
    m = lvm.load("ref")
    pvs = [m["paths"][i] for i, p in enumerate(m["reports"]["pvs"]["report"][0]["pv"])
           if p["vg_name"] == "vg-one"]
    cmds = ["vgchange -ay vg-one", "dmsetup table"]
    lvs = ("lin", "str2", "str--3", "str512", "grown--lv", "s3x")
    cmds += ["sha256sum /dev/mapper/vg--one-%s" % lv for lv in lvs]
    return [Disk(p, readonly=True) for p in pvs], (), cmds, \
        lambda outs: "6 logical volume(s)" in outs[0]


def _ddi_scenario(folder):
    """DDI open of systemd-repart's image (signed root hash, certificate read from a
    disk), then every file of its FAT root read and hashed."""
    from harness.guest import Disk
    from images import ddi
    meta = ddi.load("root")
    with open(os.path.join(meta["dir"], "good-cert.pem"), "rb") as f:
        pem = f.read()
    cert = os.path.join(folder, "cert.img")
    with open(cert, "wb") as f:
        f.write(pem + bytes(-len(pem) % 4096))
    cmds = ["ddi open /dev/vda --certificate /dev/vdb --arch x86-64"]
    cmds += ["ddi sha256 /dev/mapper/root /%s" % p for p in meta["files"]["root"]]
    return [Disk(meta["image"], readonly=True), Disk(cert, readonly=True)], (), cmds, \
        lambda outs: "(signed)" in outs[0]


def _scenario_ok(elf, disks, cmds, check):
    from harness.baremetal import BareMetalGuest
    try:
        g = BareMetalGuest(elf, disks).start(timeout=10)
    except Exception:
        return False
    try:
        outs = []
        for cmd in cmds:
            out, st = g.fw.run(cmd, timeout=60)
            if st:
                return False
            outs.append(out)
        return check(outs)
    except Exception:
        return False
    finally:
        g.close()


SCENARIOS = (
    ("core + linear + striped + verity (no FEC, no signature)", _core_scenario, 256),
    ("verity with a signed root hash (RSA-2048, P-256)", _signature_scenario, 1024),
    ("LVM activation (lvm2's vg-one: 3 PVs, 6 LVs) and reads", _lvm_scenario, 1024),
    ("DDI open (repart's, signed) and every file of its root read", _ddi_scenario, 1024),
)


def smallest_heap(folder, quick):
    from images import baremetal
    step = 16 * KIB if quick else 8 * KIB
    for label, make, goal in SCENARIOS:
        sub = tempfile.mkdtemp(dir=folder)
        try:
            disks, trust, cmds, check = make(sub)
        except Exception as e:
            print("smallest heap, %s: cannot set up (%s)" % (label, e))
            continue
        results = {}

        def ok(heap):
            fw = baremetal.ensure(heap, trust=trust, progress=lambda *a, **k: None)
            results[heap] = _scenario_ok(fw.elf, disks, cmds, check)
            return results[heap]

        lo, hi = 32 * KIB, 2048 * KIB       # lo fails (assumed), hi must work
        if not ok(hi):
            print("smallest heap, %s: fails even with %d KiB" % (label, hi // KIB))
            continue
        while hi - lo > step:
            mid = (lo + hi) // 2 // KIB * KIB
            if ok(mid):
                hi = mid
            else:
                lo = mid
        print("smallest heap, %s: %d KiB (%d KiB fails; goal <= %d KiB)"
              % (label, hi // KIB, lo // KIB, goal))
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
