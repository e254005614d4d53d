"""The whole chain in QEMU: the firmware finds the test OS versions on LVs, skips the
untrusted newest one, counts the boot attempt in the LV name, reads kernel + initrd
through verity and kexecs; the booted kernel re-creates the mapping from
dm-mod.create= and reports. Its tables, /proc/cmdline and version are the firmware's,
and host lvm2 reads the counted name afterwards."""
import os
import re
import shutil

import pytest

pytestmark = [pytest.mark.guest, pytest.mark.qemu_only]


def _lvs(pv, tmp_path):
    from images import lvm
    p = lvm.host_lvm(pv, "lvs --noheadings -o lv_name infix")
    return p.stdout + p.stderr


def _concise_tables(cmdline):
    """{dm name: table line} from dm-mod.create=, with /dev/dm-N as the kernel prints
    it (253:N, the guest's device-mapper major)."""
    from dmfw.concise import split_escaped
    spec = re.search(r'dm-mod\.create="([^"]*)"', cmdline).group(1)
    out = {}
    for dev in split_escaped(spec, ";"):
        f = split_escaped(dev, ",")
        out[f[0]] = "\n".join(re.sub(r"/dev/dm-(\d+)", r"253:\1", t) for t in f[4:])
    return out


def test_boot_lvm_versions_kexec(tmp_path):
    from harness.guest import Disk, boot
    from images import testos
    meta = testos.load("lvm")
    pv = str(tmp_path / "pv.img")
    shutil.copyfile(meta["paths"][0], pv)
    g = boot([Disk(pv)], trust=[os.path.join(meta["dir"], "good-cert.pem")])
    try:
        listing = g.fw.check("boot -l", timeout=120)
        table = [line for line in listing.splitlines() if not line.startswith("boot: ")]
        rows = [line.split()[0] for line in table[1:]]
        assert rows == ["infix_25.03.0", "infix_25.02.0+3", "infix_25.01.0"], listing
        assert "untrusted" in table[1]
        dry = g.fw.check("boot -n", timeout=300)
        lines = dict(line.split(": ", 1) for line in dry.splitlines() if ": " in line
                     and line.split(":")[0] in ("entry", "source", "kernel", "initrd",
                                                "cmdline"))
        assert lines["entry"] == "infix_25.02.0+3"
        assert "skipped: signature rejected" in dry
        assert lines["kernel"].endswith("sha256=" + meta["kernel_sha256"])
        assert lines["initrd"].endswith("sha256=" + meta["initrd_sha256"])
        # Boot counting renames the LV (and its dm devices: lvm2 doubles the dash)
        # before the hand-off; everything else is the dry run's.
        want_cmd = lines["cmdline"].replace("infix-infix_25.02.0+3", "infix-infix_25.02.0+2--1")
        want_tables = _concise_tables(want_cmd)
        # The hand-off: the firmware console shows the new kernel coming up, read
        # as `dmfw-harness run --expect` reads it.
        import io
        from harness.cli import expect_console
        buf = io.StringIO()
        assert expect_console(g.fw, ["boot"], "TESTOS-END", 300, out=buf), buf.getvalue()
        out = buf.getvalue()
    finally:
        g.close()
    assert "TESTOS-BOOTED version=25.02.0 root=" in out, out[-3000:]
    booted = out[out.index("TESTOS-TABLE-BEGIN"):out.index("TESTOS-TABLE-END")]
    got = {}
    for line in booted.splitlines()[1:]:
        name, _, table = line.partition(": ")
        got[name] = table
    assert got == want_tables
    cmd = re.search(r"TESTOS-CMDLINE (.*)", out).group(1).strip()
    assert cmd == want_cmd
    assert "infix_25.02.0+2-1" in _lvs(pv, tmp_path).split()
