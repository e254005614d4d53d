"""The boot command on the host against the Infix-like test OS (images/testos.py: real
mksquashfs, veritysetup, openssl, sfdisk and lvm2): version order, trust, skip
reasons, the files and command line handed off, boot counting as lvm2 and sgdisk
read it, and the same lines under the real MicroPython."""
import hashlib
import os
import re
import shutil
import subprocess

import pytest

from shellrun import run, run_micropython, micropython

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mksquashfs") is None,
                                reason="needs root (loop devices, debootstrap) and mksquashfs")


@pytest.fixture(scope="module")
def testos():
    from images import testos
    return {"lvm": testos.load("lvm"), "dps": testos.load("dps")}


@pytest.fixture
def disks(testos, tmp_path):
    pv = str(tmp_path / "pv.img")
    dps = str(tmp_path / "dps.img")
    shutil.copyfile(testos["lvm"]["paths"][0], pv)
    shutil.copyfile(testos["dps"]["paths"][0], dps)
    cert = os.path.join(testos["lvm"]["dir"], "good-cert.pem")
    return {"pv": pv, "dps": dps, "cert": cert,
            "specs": [("/dev/vda", pv), ("/dev/vdb", dps)]}


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _lines(out):
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


def _lvm_names(pv, tmp_path):
    from images import lvm
    p = lvm.host_lvm(pv, "lvs --noheadings -o lv_name infix")
    # lvm2 says it will not activate anything (no dm here); anything else is a
    # complaint about the metadata dmfw wrote.
    err = [line for line in p.stderr.splitlines() if "Activation disabled" not in line]
    assert p.returncode == 0 and not err, p.stderr
    return p.stdout.split()


def test_list_order_and_trust(disks):
    r = run("boot -l --certificate %s" % disks["cert"], disks["specs"])
    assert r.status == 0, r
    rows = [line.split() for line in r.out.splitlines()]
    assert rows[0] == ["NAME", "OS", "VERSION", "SOURCE", "SIGNATURE", "STATE"]
    names = [row[0] for row in rows[1:]]
    # Newest first by systemd's version order; same version: by name, newest first.
    assert names == ["infix_25.03.0", "infix_25.02.0+3", "infix_25.01.0+1-2",
                     "infix_25.01.0", "infix_24.12.0"]
    sig = dict((row[0], [w for w in row if w in ("trusted", "untrusted", "unsigned",
                                                 "invalid")][0]) for row in rows[1:])
    assert sig["infix_25.03.0"] == "untrusted"
    assert sig["infix_25.02.0+3"] == "trusted"
    assert "lvm infix/infix_25.02.0+3" in r.out and "vdb (vdb4)" in r.out


def test_dry_run_lines_and_nothing_written(disks, testos):
    before = [_digest(disks["pv"]), _digest(disks["dps"])]
    r = run("boot -n --certificate %s" % disks["cert"], disks["specs"])
    assert r.status == 0, r
    out = r.out.splitlines()
    assert [line.split(":")[0] for line in out] == ["entry", "source", "kernel", "initrd",
                                                    "cmdline"]
    got = _lines(r.out)
    meta = testos["lvm"]
    assert got["entry"] == "infix_25.02.0+3"
    assert got["source"] == "lvm infix/infix_25.02.0+3"
    assert got["kernel"] == "/boot/bzImage %d sha256=%s" % (
        os.path.getsize(os.path.join(os.path.dirname(meta["dir"]), _guest_dir(), "vmlinuz")),
        meta["kernel_sha256"])
    assert got["initrd"] == "/boot/initrd.img %d sha256=%s" % (meta["initrd_size"],
                                                              meta["initrd_sha256"])
    assert "boot: infix_25.03.0: skipped: signature rejected" in r.err
    assert "boot: infix_25.02.0+3: chosen (newest good version after 1 skipped" in r.err
    cmd = got["cmdline"]
    assert cmd.startswith("console=ttyS0 loglevel=3 panic=-1 infix.slot=bls dm-mod.create=")
    rh = meta["versions"]["infix_25.02.0+3"]["root_hash"]
    assert re.search(r";root,CRYPT-VERITY-[0-9a-f]{32}-root,\d+,ro,0 \d+ verity 1 /dev/dm-\d+ "
                     r"/dev/dm-\d+ 4096 4096 \d+ 1 sha256 %s " % rh, cmd), cmd
    # The LV itself is mapped on the PV (vda, 254:0) at lvm2's own offset.
    off = meta["lv_offsets"]["infix_25.02.0+3"] // 512
    assert ",0 40960 linear 254:0 %d;" % off in cmd
    assert cmd.endswith(" root=/dev/dm-%s" % re.search(r";root,[^,]*,(\d+),", cmd).group(1))
    assert [_digest(disks["pv"]), _digest(disks["dps"])] == before
    r2 = run("dmsetup ls", disks["specs"])
    assert r2.out == "No devices found\n"


def _guest_dir():
    from images import guest
    return os.path.basename(guest.cached().path)


def test_save_counts_the_attempt_as_lvm2_reads_it(disks, tmp_path, testos):
    out = tmp_path / "handoff"
    r = run("boot --save %s --certificate %s" % (out, disks["cert"]), disks["specs"])
    assert r.status == 0, r
    assert "boot: infix_25.02.0+3: boot counting: renamed to infix_25.02.0+2-1" in r.err
    assert _digest(str(out / "kernel")) == testos["lvm"]["kernel_sha256"]
    assert _digest(str(out / "initrd")) == testos["lvm"]["initrd_sha256"]
    cmd = (out / "cmdline").read_text()
    assert cmd == _lines(r.out)["cmdline"] + "\n"
    # lvm2's dm name doubles the LV name's dashes.
    assert "infix-infix_25.02.0+2--1p1," in cmd
    names = _lvm_names(disks["pv"], tmp_path)
    assert sorted(names) == ["infix_25.01.0", "infix_25.02.0+2-1", "infix_25.03.0"]
    # Two more attempts use it up: +0 is bad and goes last.
    for _ in range(2):
        r = run("boot --save %s --certificate %s infix_25.02.0" % (out, disks["cert"]),
                disks["specs"])
        assert r.status == 0, r
    assert "infix_25.02.0+0-3" in _lvm_names(disks["pv"], tmp_path)
    r = run("boot -l --certificate %s" % disks["cert"], disks["specs"])
    assert r.out.splitlines()[-1].startswith("infix_25.02.0+0-3 ")
    assert "bad" in r.out.splitlines()[-1]
    r = run("boot --bless infix_25.02.0", disks["specs"])
    assert r.status == 0, r
    assert "infix_25.02.0" in _lvm_names(disks["pv"], tmp_path)


def test_dps_label_counting_as_sgdisk_reads_it(disks, tmp_path):
    out = tmp_path / "h"
    r = run("boot --save %s --certificate %s infix_25.01.0+1-2" % (out, disks["cert"]),
            disks["specs"])
    assert r.status == 0, r
    assert "renamed to infix_25.01.0+0-3" in r.err
    p = subprocess.run(["sgdisk", "-v", "-p", disks["dps"]], capture_output=True, text=True)
    assert "No problems found" in p.stdout, p.stdout
    assert "infix_25.01.0+0-3" in p.stdout
    # The syslinux entry (this layout has no BLS entry) was the one loaded.
    assert "infix.slot=syslinux" in (out / "cmdline").read_text()


def test_corrupted_kernel_is_skipped(disks, testos, tmp_path):
    from images import guest
    with open(guest.cached().kernel, "rb") as f:
        f.seek(1 << 20)
        probe = f.read(4096)
    with open(disks["pv"], "r+b") as f:
        data = f.read()
        lo = testos["lvm"]["lv_offsets"]["infix_25.02.0+3"]
        at = data.index(probe, lo)
        f.seek(at + 100)
        f.write(bytes([data[at + 100] ^ 1]))
    before = _digest(disks["pv"])
    out = tmp_path / "h"
    r = run("boot --save %s --certificate %s" % (out, disks["cert"]), disks["specs"])
    assert r.status == 0, r
    assert re.search(r"boot: infix_25.02.0\+3: skipped: reading the entry's files: .*"
                     r"data block \d+ is corrupted", r.err), r.err
    # Next in order: the same version on the DPS disk (its name sorts first).
    assert _lines(r.out)["entry"] == "infix_25.01.0+1-2"
    # The skipped version's counter did not move.
    assert _lvm_names(disks["pv"], tmp_path) == ["infix_25.01.0", "infix_25.02.0+3",
                                                "infix_25.03.0"]
    assert _digest(disks["pv"]) == before


def test_no_handoff_on_the_host_writes_nothing(disks):
    before = _digest(disks["pv"])
    r = run("boot --certificate %s" % disks["cert"], disks["specs"])
    assert r.status != 0 and "no hand-off on this platform: use --save DIR" in r.err
    assert _digest(disks["pv"]) == before


def test_unsigned_needs_insecure_or_a_root_hash(disks, testos):
    d = testos["lvm"]
    r = run("boot -n infix_25.03.0", disks["specs"])
    assert r.status == 1 and "skipped: signature rejected" in r.err
    r = run("boot -n --insecure infix_25.03.0", disks["specs"])
    assert r.status == 0 and "NOT trusted" in r.err
    rh = d["versions"]["infix_25.03.0"]["root_hash"]
    r = run("boot -n --root-hash %s infix_25.03.0" % ("0" * 64), disks["specs"])
    assert r.status == 1 and "does not match the signed" in r.err
    r = run("boot -n --root-hash %s --certificate %s infix_25.03.0"
            % (rh, os.path.join(d["dir"], "wrong-cert.pem")), disks["specs"])
    assert r.status == 0, r
    r = run("boot -n --certificate %s nosuch" % disks["cert"], disks["specs"])
    assert r.status != 0 and "no version nosuch" in r.err


@pytest.mark.micropython
@pytest.mark.skipif(micropython() is None, reason="no micropython binary")
def test_micropython_dry_run_matches(disks):
    script = "boot -n --certificate %s" % disks["cert"]
    mp = run_micropython(script, disks["specs"], heap="64M")
    cp = run(script, disks["specs"])
    assert mp.out == cp.out, mp
    assert "chosen" in mp.err


def test_damaged_versions_are_reasons_not_tracebacks(disks, testos, tmp_path):
    """Bytes flipped in each LV's GPT, signature partition and verity superblock: every
    command ends with the project's own messages, and the LVs it cannot use are
    passed over with a reason."""
    import random
    meta = testos["lvm"]
    rng = random.Random(14)
    with open(disks["pv"], "rb") as f:
        pristine = f.read()
    for trial in range(8):
        data = bytearray(pristine)
        for name, lo in meta["lv_offsets"].items():
            lay = meta["versions"][name]["layout"]
            # the GPT header/array, the signature JSON, the verity superblock
            spots = [lo + 512 + rng.randrange(17 * 1024), lo + lay[2]["offset"] +
                     rng.randrange(2048), lo + lay[1]["offset"] + rng.randrange(512)]
            for at in rng.sample(spots, rng.randrange(1, 4)):
                data[at] ^= 1 << rng.randrange(8)
        with open(disks["pv"], "wb") as f:
            f.write(data)
        for cmd in ("boot -l", "boot -n", "boot --insecure -n"):
            r = run("%s --certificate %s" % (cmd, disks["cert"]), disks["specs"])
            assert "Traceback" not in r.err and "Error:" not in r.err, (trial, cmd, r)
            assert r.status in (0, 1), (trial, cmd, r)
