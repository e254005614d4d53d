"""DDIs in the guest: for each systemd-repart-made image, the table dmfw's
`ddi open` loads equals the table the real veritysetup loads for the same
partitions and root hash, and the verified device reads the same on both
sides (the whole device and a file out of its FAT).

The image is hot-plugged (the kernel finds its partitions: /dev/vdX1...), and
so is a one-sector disk holding the trusted certificate, which is how the
firmware side gets it (`ddi open --certificate /dev/vdY`).
"""
import os
import tempfile

import pytest

from sides import checksum, plug

pytestmark = [pytest.mark.guest, pytest.mark.qemu_only]

images = pytest.importorskip("images.ddi")


def _cert_disk(meta, tmp):
    with open(os.path.join(meta["dir"], "good-cert.pem"), "rb") as f:
        pem = f.read()
    path = os.path.join(tmp, "cert.img")
    with open(path, "wb") as f:
        f.write(pem + bytes(-len(pem) % 4096))
    return path


@pytest.mark.parametrize("name,arch,devs", [
    ("root", None, ["root"]),
    ("root-riscv64", "riscv64", ["root", "usr"]),
    ("multiarch", "arm64", ["root"]),
])
def test_ddi_open_matches_veritysetup(qemu_guest, name, arch, devs):
    g = qemu_guest
    meta = images.load(name)
    plugged = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            _check(g, meta, tmp, arch, devs, plugged)
        finally:
            g.fw.run("dmsetup remove_all")
            for d in devs:
                g.linux.run("veritysetup close %s" % d)
            for node in plugged:
                g.qemu.unplug(node)


def _check(g, meta, tmp, arch, devs, plugged):
    disk = plug(g, meta["image"], plugged, partitions=True)
    cert = plug(g, _cert_disk(meta, tmp), plugged)
    args = " --arch %s" % arch if arch else ""
    out, st = g.fw.run("ddi open /dev/%s --certificate /dev/%s%s" % (disk, cert, args))
    assert st == 0, out
    # Partitions and root hashes as systemd-repart reported them (its JSON
    # lists partitions in table order).
    types = [p["type"] for p in meta["repart"]]
    for d in devs:
        t = "%s-%s" % (d, arch or "x86-64")
        data = "%s%d" % (disk, types.index(t) + 1)
        hsh = "%s%d" % (disk, types.index(t + "-verity") + 1)
        rh = meta["repart"][types.index(t + "-verity")]["roothash"]
        out, st = g.linux.run("veritysetup open /dev/%s %s /dev/%s %s" % (data, d, hsh, rh))
        assert st == 0, out
        kt, _ = g.linux.run("dmsetup table %s" % d)
        ft, st = g.fw.run("dmsetup table %s" % d)
        assert st == 0 and ft.strip() == kt.strip()
        a = checksum(g.fw, "/dev/mapper/%s" % d)
        b = checksum(g.linux, "/dev/mapper/%s" % d)
        assert a == b and a[0]
    # A file out of the verified root, against the kernel's vfat (the guest
    # ships only the cp437 and iso8859-1 NLS modules).
    fw, _ = g.fw.run("ddi sha256 /dev/mapper/%s /vmlinuz" % devs[0])
    g.linux.run("modprobe vfat; modprobe nls_cp437; modprobe nls_iso8859-1")
    out, st = g.linux.run("mkdir -p /mnt/ddi && mount -t vfat -o ro,iocharset=iso8859-1 "
                          "/dev/mapper/%s /mnt/ddi && sha256sum /mnt/ddi/vmlinuz; "
                          "umount /mnt/ddi" % devs[0])
    assert st == 0, out
    assert fw.split()[0] == out.split()[0]
