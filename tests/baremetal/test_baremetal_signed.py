"""Signed root hashes on the bare-metal firmware: certificates built into the firmware
(`--trust`, as a vendor builds them in: images/baremetal.py freezes dmfw_trusted.py),
signatures made by openssl (images/verity.py's `sigs` set) read from a squashfs made by
the real mksquashfs and mounted on the board, the verity image made by the real
veritysetup.  Which signatures open is openssl's own decision for the trusted set."""
import json
import os
import shutil
import subprocess

import pytest

from harness.pytest_plugin import need_bare_metal

pytestmark = pytest.mark.baremetal

TRUSTED = ("rsa2048-cms", "p256-smime")
TRIED = ("rsa2048-cms", "p256-smime", "rsa3072-pss", "p384-cms")


@pytest.fixture(scope="module")
def signed(tmp_path_factory, pytestconfig):
    from harness import baremetal
    from harness.guest import Disk
    from images import verity as iv
    need_bare_metal(None if shutil.which("mksquashfs") else "no mksquashfs (squashfs-tools)")
    d = iv.build("sigs")
    with open(os.path.join(d, "sigs.json")) as f:
        meta = json.load(f)
    info = meta["image"]
    base = os.path.join(d, "img", info["name"])
    folder = str(tmp_path_factory.mktemp("bm-signed"))
    tree = os.path.join(folder, "sigs")
    os.makedirs(tree)
    for s in TRIED:
        shutil.copyfile(os.path.join(d, s + ".p7s"), os.path.join(tree, s + ".p7s"))
    with open(os.path.join(d, "root-tampered.txt")) as f:
        tampered = f.read().strip()
    sq = os.path.join(folder, "sigs.squashfs")
    subprocess.run(["mksquashfs", tree, sq, "-noappend", "-quiet", "-all-root"],
                   check=True, capture_output=True)
    disks = [Disk(os.path.join(base, info["data_file"]), readonly=True),
             Disk(os.path.join(base, info["hash_file"]), readonly=True),
             Disk(sq, readonly=True)]
    g = baremetal.boot(disks, trust=[os.path.join(d, t + ".pem") for t in TRUSTED],
                       heap=pytestconfig.getoption("bare_metal_heap"),
                       log=os.path.join(folder, "console.log"))
    try:
        g.fw.check("mount /dev/vdc /mnt")
        yield g, info, meta, tampered
    finally:
        g.close()


def _accepted(meta, signer, content="root.txt"):
    return any(meta["openssl"]["%s|%s|%s" % (signer, t, content)] for t in TRUSTED)


@pytest.mark.parametrize("signer", TRIED)
def test_signed_root_hash_opens_only_when_openssl_trusts_it(signed, signer):
    g, info, meta, _tampered = signed
    cmd = ("veritysetup open /dev/vda v /dev/vdb %s --root-hash-signature=/mnt/%s.p7s"
           % (info["root"], signer))
    out, st = g.fw.run(cmd, timeout=300)
    try:
        if _accepted(meta, signer):
            assert st == 0, out
            table, _ = g.fw.run("dmsetup table v")
            assert " root_hash_sig_key_desc " in table, table
            h, _ = g.fw.run("sha256sum /dev/mapper/v")
            assert h.split()[0] == _host_sha(info), h
        else:
            assert st != 0 and "signer is not a trusted certificate" in out, out
            ls, _ = g.fw.run("dmsetup ls")
            assert ls == "No devices found\n", ls
    finally:
        g.fw.run("dmsetup remove_all")


def test_signature_over_another_root_hash_is_refused(signed):
    g, info, meta, tampered = signed
    assert not any(meta["openssl"]["%s|%s|root-tampered.txt" % (s, t)]
                   for s in TRIED for t in TRUSTED)
    out, st = g.fw.run("veritysetup open /dev/vda v /dev/vdb %s "
                       "--root-hash-signature=/mnt/rsa2048-cms.p7s" % tampered, timeout=300)
    assert st != 0 and "Root hash verification failed: RSA PKCS#1 v1.5 signature mismatch" \
        in out, out
    ls, _ = g.fw.run("dmsetup ls")
    assert ls == "No devices found\n", ls


def _host_sha(info):
    import hashlib
    from images import verity as iv
    d = iv.build("sigs")
    with open(os.path.join(d, "img", info["name"], info["data_file"]), "rb") as f:
        return hashlib.sha256(f.read()[:info["length"] * 512]).hexdigest()
