"""The boot layer on the bare-metal firmware: the Infix-like test OS (images/testos.py:
versions on LVs, signed verity roots, BLS entries, boot counting) is listed and chosen
as dmfw on the host chooses it from the same disk, and its 12 MB kernel and initrd are
loaded into the board's load region, outside a heap of a few MiB, with the hashes of
the files the real tools put there.  The test OS is x86-64, the board RISC-V: `--arch`
names the OS's architecture, and no jump follows (`boot -n`)."""
import os

import pytest

from harness.pytest_plugin import need_bare_metal

pytestmark = pytest.mark.baremetal


@pytest.fixture(scope="module")
def boot_fw(tmp_path_factory, pytestconfig):
    from harness import baremetal
    from harness.guest import Disk
    need_bare_metal()
    from images import testos
    meta = testos.load("lvm")
    cert = os.path.join(meta["dir"], "good-cert.pem")
    folder = str(tmp_path_factory.mktemp("bm-boot"))
    g = baremetal.boot([Disk(meta["paths"][0], readonly=True)], trust=[cert],
                       heap=pytestconfig.getoption("bare_metal_heap"),
                       log=os.path.join(folder, "console.log"))
    try:
        yield g, meta, cert
    finally:
        g.close()


def test_boot_chooses_and_loads_as_dmfw_on_the_host(boot_fw):
    from shellrun import new_shell, run
    g, meta, cert = boot_fw
    sh = new_shell()
    sh.attach("/dev/vda", meta["paths"][0], readonly=True)
    assert run("keyring trust %s" % cert, sh=sh).status == 0
    for cmd in ("boot -l --arch x86-64", "boot -n --arch x86-64"):
        fw, st = g.fw.run(cmd, timeout=600)
        host = run(cmd, sh=sh)
        # The firmware's console has both streams in the order written: the skips
        # (stderr) come before the plan (stdout).
        assert (fw, st) == (host.err + host.out, host.status), cmd
    # Chosen as the Linux guest's demo chooses (the newest version whose signature
    # is trusted); the loaded files hash as the test OS recipe recorded them.
    assert "boot: infix_25.02.0+3: chosen" in fw and st == 0, fw
    lines = dict(ln.split(": ", 1) for ln in fw.splitlines() if ln[:8] in ("kernel: ",
                                                                          "initrd: "))
    kernel, initrd = lines["kernel"].split(), lines["initrd"].split()
    assert kernel[2] == "sha256=" + meta["kernel_sha256"], kernel
    assert initrd[1:] == [str(meta["initrd_size"]), "sha256=" + meta["initrd_sha256"]]
    assert int(kernel[1]) > 8 << 20      # more than the firmware's whole heap
    assert g.fw.run("dmsetup ls")[0] == "No devices found\n"


def test_a_missing_entry_is_refused_and_leaves_nothing_mapped(boot_fw):
    g, meta, cert = boot_fw
    out, st = g.fw.run("boot -n --arch x86-64 --entry nosuchentry", timeout=600)
    assert st != 0 and "chosen" not in out, out
    assert "no boot entry nosuchentry" in out, out
    assert g.fw.run("dmsetup ls")[0] == "No devices found\n"


def test_demo_on_the_bare_metal_firmware(capsys):
    """`dmfw-harness demo --bare-metal`: the README's demo without Linux on the board."""
    from harness import cli
    assert cli.main(["demo", "--bare-metal"]) == 0
    out = capsys.readouterr().out
    assert "$ boot -n --arch x86-64\n" in out
    assert "boot: infix_25.02.0+3: chosen" in out and "\nkernel: /boot/bzImage " in out, out
