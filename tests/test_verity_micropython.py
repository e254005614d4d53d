# The verity target, FEC, and the signature code under the real
# MicroPython unix port: same shell scenario, same output as CPython.

import os
import shutil

import pytest

from shellrun import micropython, run_micropython, run_cpython

iv = pytest.importorskip("images.verity")
pytestmark = [
    pytest.mark.micropython,
    pytest.mark.skipif(micropython() is None, reason="no micropython binary"),
    pytest.mark.skipif(iv.missing_tools() != [], reason="needs veritysetup, openssl"),
]


def _same(script, disks):
    a = run_cpython(script, disks)
    b = run_micropython(script, disks)
    assert (b.status, b.out, b.err) == (a.status, a.out, a.err)
    return a


def test_open_read_verify_dump_with_fec(tmp_path):
    d, infos = iv.load("matrix")
    info = [i for i in infos if i["roots"] and i["layout"] == "file"
            and i["format"] == 1 and i["dbs"] == 1024 and i["blocks"] >= 37][0]
    base = os.path.join(d, info["name"])
    for f in ("data.img", "hash.img", "fec.img"):
        shutil.copy(os.path.join(base, f), tmp_path / f)
    # One data block destroyed: FEC must give it back on both interpreters.
    with open(tmp_path / "data.img", "r+b") as f:
        f.seek(3 * info["dbs"])
        f.write(b"\xee" * info["dbs"])
    disks = [("/dev/vda", str(tmp_path / "data.img")),
             ("/dev/vdb", str(tmp_path / "hash.img")),
             ("/dev/vdc", str(tmp_path / "fec.img"))]
    args = " ".join("/dev/vdc" if a == "FEC" else a for a in iv._open_args(info))
    script = ("veritysetup open /dev/vda v /dev/vdb %s %s\ndmsetup table v\n"
              "sha256sum /dev/mapper/v\ndmsetup status v\nveritysetup status v\n"
              "veritysetup verify /dev/vda /dev/vdb %s %s\necho $?\n"
              "veritysetup close v" % (info["root"], args, info["root"], args))
    r = _same(script, disks)
    import hashlib
    with open(os.path.join(base, "data.img"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() in r.out
    assert "repairable errors" in r.err


def test_signed_open_rsa_and_ec(tmp_path):
    d, j = iv.load("sigs")
    info = j["image"]
    base = os.path.join(d, "img", info["name"])
    disks = [("/dev/vda", os.path.join(base, "data.img")),
             ("/dev/vdb", os.path.join(base, "hash.img"))]
    root = open(os.path.join(d, "root.txt")).read()
    lines = []
    for s in j["signers"]:
        if s["name"] in ("rsa2048-smime", "rsa3072-pss", "p256-cms-keyid", "p384-attrs"):
            lines += ["keyring trust %s" % os.path.join(d, s["cert"]),
                      "veritysetup open /dev/vda %s /dev/vdb %s --root-hash-signature %s"
                      % (s["name"], root, os.path.join(d, s["sig"])),
                      "dmsetup table %s" % s["name"]]
    bad = [s for s in j["signers"] if s["name"] == "rsa2048-cms"][0]
    lines += ["veritysetup open /dev/vda bad /dev/vdb %s --root-hash-signature %s"
              % (root, os.path.join(d, bad["sig"])), "keyring list", "dmsetup ls"]
    r = _same("\n".join(lines), disks)
    assert r.out.count("root_hash_sig_key_desc") == 4
    # No device "bad" in `dmsetup ls` (the word may occur inside a hex hash).
    assert "Root hash verification failed" in r.err
    assert not [l for l in r.out.splitlines() if l.split()[:1] == ["bad"]]


def test_format_and_sha512_fallback(tmp_path):
    # MicroPython has no hashlib.sha512: the pure fallback must give the
    # same tree, and the same FEC parity without bytes.translate.
    d, infos = iv.load("matrix")
    info = [i for i in infos if i["hash"] == "sha512" and i["layout"] == "file"
            and i["sb"] and i["roots"] and i["blocks"] == 37][0]
    base = os.path.join(d, info["name"])
    outs = []
    for side in ("cpy", "mpy"):
        h = tmp_path / ("%s.hash" % side)
        f = tmp_path / ("%s.fec" % side)
        script = ("veritysetup format %s %s --format %d --hash sha512 --data-block-size %d "
                  "--hash-block-size %d --salt %s --uuid %s --fec-device %s --fec-roots %d"
                  % (os.path.join(base, "data.img"), h, info["format"], info["dbs"],
                     info["hbs"], info["salt"], info["uuid"], f, info["roots"]))
        r = (run_cpython if side == "cpy" else run_micropython)(script, [])
        assert r.status == 0, r
        outs.append(r.out)
        assert h.read_bytes() == open(os.path.join(base, "hash.img"), "rb").read()
        assert f.read_bytes() == open(os.path.join(base, "fec.img"), "rb").read()
    assert outs[0].split("\n", 1)[1] == outs[1].split("\n", 1)[1]


def test_threads_option_single_worker_on_micropython(tmp_path):
    # --threads: CPython splits level 0 over workers (38 hash blocks here),
    # MicroPython keeps its one loop; same tree, same output, same refusals.
    d, infos = iv.load("matrix")
    info = [i for i in infos if i["format"] == 0 and i["hash"] == "sha512" and i["dbs"] == 512
            and i["hbs"] == 512 and i["sb"] and i["layout"] == "file" and i["blocks"] == 300][0]
    base = os.path.join(d, info["name"])
    outs = []
    for side in ("cpy", "mpy"):
        h = tmp_path / ("%s.hash" % side)
        script = ("veritysetup format %s %s --format 0 --hash sha512 --data-block-size 512 "
                  "--hash-block-size 512 --salt %s --uuid %s --threads 2\n"
                  "veritysetup verify %s %s %s --threads 3\necho $?\n"
                  "veritysetup verify %s %s %s --threads 0\necho $?\n"
                  "veritysetup verify %s %s %s --threads x\necho $?"
                  % ((os.path.join(base, "data.img"), h, info["salt"], info["uuid"])
                     + (os.path.join(base, "data.img"), h, info["root"]) * 3))
        r = (run_cpython if side == "cpy" else run_micropython)(script, [])
        outs.append((r.out.split("\n", 1)[1], r.err))
        assert h.read_bytes() == open(os.path.join(base, "hash.img"), "rb").read()
    assert outs[0] == outs[1]
    assert outs[0][0].endswith("0\n1\n1\n")
