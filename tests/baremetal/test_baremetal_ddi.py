"""A Discoverable Disk Image on the bare-metal firmware: the DDI that the real
systemd-repart made (images/ddi.py: GPT, root + verity + signature partitions, a FAT
root) opens with its certificate read from a disk, as in the Linux guest; the verity
table carries repart's root hash, the mapped device is the root partition's bytes, and
a file out of it reads as dmfw on the host reads it from the same image."""
import hashlib
import os

import pytest

from harness.pytest_plugin import need_bare_metal

pytestmark = pytest.mark.baremetal


@pytest.fixture(scope="module")
def ddi_fw(tmp_path_factory, pytestconfig):
    from harness import baremetal
    from harness.guest import Disk
    need_bare_metal()
    from images import ddi
    why = ddi.missing_tools()
    if why and not os.environ.get("CI"):
        pytest.skip("the reference DDI needs %s" % ", ".join(why))
    meta = ddi.load("root")
    folder = str(tmp_path_factory.mktemp("bm-ddi"))
    with open(os.path.join(meta["dir"], "good-cert.pem"), "rb") as f:
        pem = f.read()
    cert = os.path.join(folder, "cert.img")
    with open(cert, "wb") as f:
        f.write(pem + bytes(-len(pem) % 4096))
    g = baremetal.boot([Disk(meta["image"], readonly=True), Disk(cert, readonly=True)],
                       heap=pytestconfig.getoption("bare_metal_heap"),
                       log=os.path.join(folder, "console.log"))
    try:
        yield g, meta, cert
    finally:
        g.close()


def test_ddi_open_maps_reparts_root_with_its_root_hash(ddi_fw):
    from shellrun import new_shell, run
    g, meta, cert = ddi_fw
    out, st = g.fw.run("ddi open /dev/vda --certificate /dev/vdb --arch x86-64", timeout=300)
    assert st == 0, out
    types = [p["type"] for p in meta["repart"]]
    root = meta["repart"][types.index("root-x86-64")]
    verity = meta["repart"][types.index("root-x86-64-verity")]
    table, st = g.fw.run("dmsetup table root")
    words = table.split()
    assert st == 0 and words[2] == "verity", table
    # data and hash devices: the image's partitions 1 and 2 (vda1 254:1, vda2 254:2)
    assert words[4:6] == ["254:%d" % (types.index("root-x86-64") + 1),
                          "254:%d" % (types.index("root-x86-64-verity") + 1)], table
    assert words[10:12] == ["sha256", verity["roothash"]], table
    # All of it: 10 MiB of 512-byte verity blocks within the default 4 MiB heap (the
    # hash-block cache's slots are made once, docs/baremetal.md).
    nbytes = int(words[1]) * 512
    h, st = g.fw.run("sha256sum /dev/mapper/root 0 %d" % (nbytes // 512), timeout=300)
    with open(meta["image"], "rb") as f:
        f.seek(root["offset"])
        assert h.split()[0] == hashlib.sha256(f.read(nbytes)).hexdigest(), h
    # dmfw on the host, same image and certificate disk: same table, same file bytes
    sh = new_shell()
    sh.attach("/dev/vda", meta["image"], readonly=True)
    sh.attach("/dev/vdb", cert, readonly=True)
    r = run("ddi open /dev/vda --certificate /dev/vdb --arch x86-64", sh=sh)
    assert r.status == 0, r.err
    assert run("dmsetup table", sh=sh).out == g.fw.run("dmsetup table")[0]
    for path in meta["files"]["root"]:
        fw, st = g.fw.run("ddi sha256 /dev/mapper/root /%s" % path, timeout=120)
        assert st == 0 and fw == run("ddi sha256 /dev/mapper/root /%s" % path, sh=sh).out, fw


def test_ddi_open_without_the_certificate_is_refused(ddi_fw):
    g, meta, cert = ddi_fw
    g.fw.run("dmsetup remove_all")
    out, st = g.fw.run("ddi open /dev/vda --arch x86-64", timeout=300)
    try:
        assert st != 0, out
        ls, _ = g.fw.run("dmsetup ls")
        assert ls == "No devices found\n", (out, ls)
    finally:
        g.fw.run("dmsetup remove_all")
