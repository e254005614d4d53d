# LUKS under the real MicroPython unix port (the firmware's interpreter):
# the same cryptsetup scenario prints the same on both interpreters, and the
# dumps are the host cryptsetup's.

import os

import pytest

from shellrun import micropython, run_micropython, run_cpython

il = pytest.importorskip("images.luks")
pytestmark = [
    pytest.mark.micropython,
    pytest.mark.skipif(micropython() is None, reason="no micropython binary"),
    pytest.mark.skipif(il.missing_tools() is not None, reason="needs cryptsetup, openssl"),
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _same(script, disks):
    a = run_cpython(script, disks)
    b = run_micropython(script, disks, heap="64M")
    assert (b.status, b.out, b.err) == (a.status, a.out, a.err)
    return a


def _vols():
    m = il.load()
    return dict((v["name"], v) for v in m["volumes"])


def _has(module):
    return os.path.exists(os.path.join(ROOT, "dmfw", "crypto", module + ".py"))


def test_dump_uuid_isluks():
    vs = _vols()
    names = ["l1-sha256", "l1-whirlpool", "l2-pbkdf2-4096", "l2-multi"]
    disks = [("/dev/vd" + "abcd"[i], vs[n]["path"]) for i, n in enumerate(names)]
    script = "\n".join(["cryptsetup luksDump /dev/vd%s\ncryptsetup luksUUID /dev/vd%s\n"
                        "cryptsetup isLuks -v /dev/vd%s" % ((c,) * 3) for c in "abcd"])
    r = _same(script, disks)
    for i, n in enumerate(names):
        dump = vs[n]["dump"].replace("information for %s\n" % vs[n]["image"],
                                     "information for /dev/vd%s\n" % "abcd"[i])
        assert dump in r.out


@pytest.mark.skipif(not _has("aes"), reason="needs wip-crypt's AES")
def test_unlock_pbkdf2_luks1_luks2_and_tiny_argon2id():
    vs = _vols()
    names = ["l1-sha256", "l2-pbkdf2-512"] + (["l2-argon2id"] if _has("argon2") else [])
    disks = [("/dev/vd" + "abc"[i], vs[n]["path"]) for i, n in enumerate(names)]
    script = "\n".join(["cryptsetup open -v --test-passphrase /dev/vd%s --key-file %s"
                        % ("abc"[i], vs[n]["path"][:-4] + ".pw")
                        for i, n in enumerate(names)])
    r = _same(script, disks)
    assert r.status == 0 and r.out.count("Key slot 0 unlocked.") == len(names)
