"""dm-verity in the guest: for reference images made by the real
veritysetup (images/verity.py), dmfw's `veritysetup open` loads the same
table the real veritysetup loads into the kernel (`dmsetup table`), both
map the same content, and with corrupted copies both fail exactly the same
4 KiB reads (or, with FEC, both return the repaired data).

Images are hot-plugged read-only; corrupted copies are made on the host
before plugging, so no cache on either side can hide the damage.
"""
import os
import shutil
import tempfile

import pytest

from sides import checksum, plug, probe_pages

pytestmark = [pytest.mark.guest, pytest.mark.qemu_only]

iv = pytest.importorskip("images.verity")

PICK = [
    "v1-sha256-4096-4096-sb-file-r5",
    "v0-sha1-4096-4096-sb-file-r5",
    "v1-sha512-1024-4096-nosb-file-r0",
    "v1-sha1-512-512-sb-file-r24",
    "v1-sha256-4096-1024-sb-offset-r0",
    "v0-sha256-4096-4096-sb-offset-r2",
    "v1-sha1-1024-1024-nosb-offset-r24",
]


def _attach(g, info, base, plugged):
    names = {}
    for key in ("data_file", "hash_file", "fec_file"):
        f = info.get(key)
        if f and f not in names:
            names[f] = plug(g, os.path.join(base, f), plugged)
    data = "/dev/" + names[info["data_file"]]
    hsh = "/dev/" + names[info["hash_file"]]
    args = [("/dev/" + names[info["fec_file"]]) if a == "FEC" else a
            for a in iv._open_args(info)]
    return data, hsh, " ".join(args)


def _both(g, info, data, hsh, args):
    cmd = "veritysetup open %s v %s %s %s" % (data, hsh, info["root"], args)
    out, st = g.linux.run(cmd)
    assert st == 0, out
    out, st = g.fw.run(cmd)
    assert st == 0, out


def _close(g, plugged):
    g.fw.run("dmsetup remove_all")
    g.linux.run("veritysetup close v")
    for node in plugged:
        g.qemu.unplug(node)
    del plugged[:]


@pytest.mark.parametrize("name", PICK)
def test_verity_open_matches_kernel(qemu_guest, name):
    g = qemu_guest
    d, infos = iv.load("matrix")
    info = [i for i in infos if i["name"] == name][0]
    base = os.path.join(d, name)
    plugged = []
    try:
        data, hsh, args = _attach(g, info, base, plugged)
        _both(g, info, data, hsh, args)
        kt, _ = g.linux.run("dmsetup table v")
        ft, st = g.fw.run("dmsetup table v")
        assert st == 0 and ft.strip() == kt.strip()
        ks, _ = g.linux.run("dmsetup status v")
        fs, _ = g.fw.run("dmsetup status v")
        assert fs.strip() == ks.strip()
        a = checksum(g.fw, "/dev/mapper/v")
        b = checksum(g.linux, "/dev/mapper/v")
        assert a == b and a[0]
    finally:
        _close(g, plugged)


@pytest.mark.parametrize("name", PICK)
def test_verity_corruption_matches_kernel(qemu_guest, name):
    g = qemu_guest
    d, infos = iv.load("matrix")
    info = [i for i in infos if i["name"] == name][0]
    src = os.path.join(d, name)
    plugged = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in os.listdir(src):
            shutil.copy(os.path.join(src, f), os.path.join(tmp, f))
        dbs, hbs = info["dbs"], info["hbs"]
        n = info["blocks"]
        bad_blocks = sorted(set([n // 3, n - 1]))
        with open(os.path.join(tmp, info["data_file"]), "r+b") as f:
            for b in bad_blocks:
                f.seek(b * dbs + 17)
                c = f.read(1)
                f.seek(b * dbs + 17)
                f.write(bytes([c[0] ^ 0x40]))
            if info["roots"]:
                # A whole block destroyed: FEC's job.
                f.seek((n // 2) * dbs)
                f.write(b"\x5a" * dbs)
        if not info["roots"] and info["hash_blocks"] > 1:
            # The last level-0 hash block (stored last in the hash area).
            pos = (info["hash_start"] + info["hash_blocks"] - 1) * hbs + \
                info["hash_offset"] * 0
            with open(os.path.join(tmp, info["hash_file"]), "r+b") as f:
                f.seek(pos + 3)
                c = f.read(1)
                f.seek(pos + 3)
                f.write(bytes([c[0] ^ 1]))
        try:
            data, hsh, args = _attach(g, info, tmp, plugged)
            _both(g, info, data, hsh, args)
            pages = list(range(0, info["length"] - 7, 8))
            fw = probe_pages(g.fw, "/dev/mapper/v", pages)
            lx = probe_pages(g.linux, "/dev/mapper/v", pages)
            assert fw == lx
            if info["roots"]:
                a = checksum(g.fw, "/dev/mapper/v")
                b = checksum(g.linux, "/dev/mapper/v")
                assert a == b
            ks, _ = g.linux.run("dmsetup status v")
            fs, _ = g.fw.run("dmsetup status v")
            assert fs.strip() == ks.strip()
        finally:
            _close(g, plugged)


def test_veritysetup_output_matches_real_veritysetup(qemu_guest):
    """dump / open / status / close / verify (with and without FEC) print
    exactly what the guest's veritysetup (2.7) prints, exit codes included."""
    g = qemu_guest
    d, infos = iv.load("matrix")
    name = "v1-sha256-4096-4096-sb-file-r5"
    info = [i for i in infos if i["name"] == name][0]
    plugged = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in os.listdir(os.path.join(d, name)):
            shutil.copy(os.path.join(d, name, f), os.path.join(tmp, f))
        with open(os.path.join(tmp, "data.img"), "r+b") as f:
            f.seek(100000)
            f.write(b"X")
        try:
            data, hsh, args = _attach(g, info, tmp, plugged)
            fec = args.split()[args.split().index("--fec-device") + 1]
            root = info["root"]
            cmds = [
                "veritysetup dump %s" % hsh,
                "veritysetup dump %s --fec-device %s --fec-roots 5" % (hsh, fec),
                "veritysetup open %s v %s %s --fec-device %s --fec-roots 5 "
                "--ignore-zero-blocks --check-at-most-once" % (data, hsh, root, fec),
                "veritysetup status v",
                "dmsetup info -c -o name,uuid,attr v",
                "veritysetup close v",
                "veritysetup close v",
                "veritysetup status v",
                "veritysetup verify %s %s %s" % (data, hsh, root),
                "veritysetup verify %s %s %s --fec-device %s --fec-roots 5"
                % (data, hsh, root, fec),
            ]
            for c in cmds:
                assert g.fw.run(c) == g.linux.run(c), c
        finally:
            _close(g, plugged)
