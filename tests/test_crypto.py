# Root-hash signatures: dmfw's pure-Python CMS/X.509/RSA/ECDSA against
# openssl's own decisions on signatures openssl made, and the way
# veritysetup --root-hash-signature / root_hash_sig_key_desc use them.

import hashlib
import os

import pytest

from shellrun import run, new_shell

iv = pytest.importorskip("images.verity")
pytestmark = pytest.mark.skipif(iv.missing_tools() != [],
                                reason="needs veritysetup and openssl on the host")


@pytest.fixture(scope="module")
def sigs():
    d, j = iv.load("sigs")
    return d, j


def _read(d, name):
    with open(os.path.join(d, name), "rb") as f:
        return f.read()


def test_decisions_match_openssl(sigs):
    """Every signature against every single trusted certificate, over the
    real root string and a tampered one: accept exactly when openssl does."""
    from dmfw.keyring import Keyring
    from dmfw.errors import DMError
    d, j = sigs
    contents = {"root.txt": _read(d, "root.txt"),
                "root-tampered.txt": _read(d, "root-tampered.txt")}
    n = 0
    for s in j["signers"]:
        sig = _read(d, s["sig"])
        for t in j["signers"]:
            kr = Keyring()
            kr.trust(_read(d, t["cert"]))
            for cname, content in contents.items():
                want = j["openssl"]["%s|%s|%s" % (s["name"], t["name"], cname)]
                try:
                    kr.verify_detached(content, sig)
                    got = True
                except DMError:
                    got = False
                assert got == want, (s["name"], t["name"], cname)
                n += 1
    assert n == 2 * len(j["signers"]) ** 2
    assert sum(j["openssl"].values()) == len(j["signers"])


def test_all_key_types_and_variants_verify(sigs):
    from dmfw.keyring import Keyring
    d, j = sigs
    kinds = set()
    kr = Keyring()
    for s in j["signers"]:
        kr.trust(_read(d, s["der"]))
    for s in j["signers"]:
        cert = kr.verify_detached(_read(d, "root.txt"), _read(d, s["sig"]))
        kinds.add(cert.key.describe())
    assert kinds == {"RSA 2048", "RSA 3072", "RSA 4096", "EC P-256", "EC P-384"}


def test_refusals_are_clear_and_typed(sigs):
    from dmfw.keyring import Keyring
    from dmfw.errors import DMError, ENOKEY, EKEYREJECTED, EBADMSG
    d, j = sigs
    root = _read(d, "root.txt")
    s0 = j["signers"][0]
    sig = _read(d, s0["sig"])
    kr = Keyring()
    kr.trust(_read(d, j["signers"][1]["cert"]))
    with pytest.raises(DMError) as e:
        kr.verify_detached(root, sig)
    assert e.value.errno == ENOKEY and "not a trusted certificate" in e.value.msg
    kr.trust(_read(d, s0["cert"]))
    kr.verify_detached(root, sig)
    with pytest.raises(DMError) as e:
        kr.verify_detached(root[:-1] + b"0", sig)
    assert e.value.errno == EKEYREJECTED
    for cut in range(0, len(sig), 7):
        with pytest.raises(DMError) as e:
            kr.verify_detached(root, sig[:cut])
        assert e.value.errno == EBADMSG, cut

    # A flipped bit is a refusal (never another kind of exception) unless
    # it lies inside an embedded certificate that plays no part: signers'
    # keys come from the trusted set only.
    from dmfw.crypto import der
    for s in j["signers"]:
        sig = _read(d, s["sig"])
        kr = Keyring()
        kr.trust(_read(d, s["cert"]))
        top = der.parse(sig).children()[1].children()[0].children()
        spans = [(n.start, n.end) for n in top if n.tag == 0xa0]
        inside = [i for i in range(len(sig)) if any(a < i < b for a, b in spans)]
        for i in [i for i in range(len(sig)) if i not in inside] + inside[::40]:
            bad = bytearray(sig)
            bad[i] ^= 0x10
            try:
                kr.verify_detached(root, bytes(bad))
                accepted = True
            except DMError:
                accepted = False
            assert not accepted or any(a < i < b for a, b in spans), (s["name"], i)


def _signed_open(d, j, signer, trust, root_file="root.txt", sigfile=None):
    """Returns (image info, result of the open alone, result of table +
    status + keyring list afterwards)."""
    info = j["image"]
    base = os.path.join(d, "img", info["name"])
    sh = new_shell([("/dev/vda", os.path.join(base, "data.img")),
                    ("/dev/vdb", os.path.join(base, "hash.img"))])
    root = _read(d, root_file).decode()
    for t in trust:
        assert run("keyring trust %s" % os.path.join(d, t["cert"]), sh=sh).status == 0
    r = run("veritysetup open /dev/vda sv /dev/vdb %s --root-hash-signature %s"
            % (root, sigfile or os.path.join(d, signer["sig"])), sh=sh)
    after = run("dmsetup table sv\nveritysetup status sv\nkeyring list\ndmsetup ls",
                sh=sh)
    return info, r, after


def test_veritysetup_open_with_signature(sigs):
    d, j = sigs
    for s in j["signers"]:
        info, r, after = _signed_open(d, j, s, [s])
        assert r.status == 0, (s["name"], r)
        lines = after.out.splitlines()
        t = [l for l in lines if " verity " in l][0]
        desc = "cryptsetup:%s-sv" % info["uuid"]
        assert t == ("0 %d verity 1 254:0 254:16 4096 4096 %d 1 sha256 %s %s 2 "
                     "root_hash_sig_key_desc %s" % (info["length"], info["blocks"],
                                                   info["root"], info["salt"], desc))
        assert "  status:      verified (with signature)" in lines
        # The signature key is gone again after activation, as libcryptsetup
        # unlinks it.
        assert not [l for l in lines if " user " in l]


def test_signature_refusals_create_nothing(sigs, tmp_path):
    d, j = sigs
    a, b = j["signers"][0], j["signers"][5]
    trunc = tmp_path / "trunc.p7s"
    trunc.write_bytes(_read(d, a["sig"])[:100])
    # The errno is the kernel's (the guest says -ENOKEY for an unknown
    # signer), shown as libdevmapper shows a failed reload.
    cases = [
        ("wrong cert", a, [b], None, "root.txt", "Required key not available"),
        ("no trusted cert", a, [], None, "root.txt", "Required key not available"),
        ("tampered root", a, [a], None, "root-tampered.txt", "Key was rejected by service"),
        ("truncated DER", a, [a], str(trunc), "root.txt", "Bad message"),
    ]
    for what, signer, trust, sigfile, root, why in cases:
        info, r, after = _signed_open(d, j, signer, trust, root, sigfile)
        assert r.status == 1 and r.out == "", what
        lines = r.err.splitlines()
        assert lines[0].startswith("device-mapper: table: 253:0: verity: "
                                   "Root hash verification failed: "), (what, r.err)
        assert lines[1] == "device-mapper: reload ioctl on sv (253:0) failed: " + why
        assert after.out.endswith("No devices found\n"), what
        # libcryptsetup drops the signature key again, success or not.
        assert " user " not in after.out


def test_root_hash_sig_key_desc_via_keyctl(sigs):
    d, j = sigs
    info = j["image"]
    base = os.path.join(d, "img", info["name"])
    disks = [("/dev/vda", os.path.join(base, "data.img")),
             ("/dev/vdb", os.path.join(base, "hash.img"))]
    s = j["signers"][2]
    table = "0 %d verity 1 254:0 254:16 4096 4096 %d 1 sha256 %s %s 2 " \
            "root_hash_sig_key_desc mysig" % (info["length"], info["blocks"],
                                              info["root"], info["salt"])
    r = run("keyring trust %s\nkeyctl padd user mysig @u < %s\nkeyring list\n"
            "dmsetup create -r sv --table '%s'\ndmsetup table sv\n"
            "sha256sum /dev/mapper/sv" % (os.path.join(d, s["der"]),
                                          os.path.join(d, s["sig"]), table), disks)
    assert r.status == 0, r
    lines = r.out.splitlines()
    assert lines[0].split()[2] == "RSA-3072" and lines[0].split()[1] == \
        hashlib.sha256(_read(d, s["der"])).hexdigest()
    assert lines[1].isdigit()
    assert lines[3] == "1001 user mysig %d" % len(_read(d, s["sig"]))
    assert lines[4] == table
    with open(os.path.join(base, "data.img"), "rb") as f:
        assert lines[5].split()[0] == hashlib.sha256(f.read()).hexdigest()


def test_sha512_fallback_matches_hashlib():
    from dmfw.crypto.sha512 import sha512, sha384
    for n in (0, 1, 111, 112, 127, 128, 129, 239, 240, 1000):
        m = os.urandom(n)
        assert sha512(m).digest() == hashlib.sha512(m).digest()
        assert sha384(m).digest() == hashlib.sha384(m).digest()
        h = sha512(m[:n // 3])
        h.update(m[n // 3:])
        assert h.copy().digest() == hashlib.sha512(m).digest()


def test_builtin_certificates_are_trusted(sigs, tmp_path, monkeypatch):
    import sys
    d, j = sigs
    s = j["signers"][7]
    mod = tmp_path / "dmfw_trusted.py"
    mod.write_text("CERTS = [%r]\n" % _read(d, s["cert"]))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("dmfw_trusted", None)
    try:
        sh = new_shell()
        r = run("keyring list", sh=sh)
        assert r.out.startswith("0 %s EC-P-384 " % hashlib.sha256(_read(d, s["der"])).hexdigest())
    finally:
        sys.modules.pop("dmfw_trusted", None)
