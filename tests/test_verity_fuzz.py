# Fuzzing the parsers that read untrusted media: the verity superblock,
# DER / X.509 / PKCS#7, and the verity table line. Whatever the input, the
# only exceptions allowed out are dmfw's own DMError family.

import os

import pytest

hyp = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st, HealthCheck  # noqa: E402

from dmfw.errors import DMError  # noqa: E402

iv = pytest.importorskip("images.verity")
SETTINGS = settings(max_examples=int(os.environ.get("DMFW_FUZZ_EXAMPLES", "300")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _valid_sb():
    from dmfw.verity.superblock import Superblock
    return Superblock(1, bytes(range(16)), "sha256", 4096, 4096, 300,
                      b"\x01\x02\x03").pack()


def mutated(base):
    """Strategy: base with a few bytes replaced, cut short or extended."""
    def apply(ops):
        b = bytearray(base)
        for kind, pos, val in ops:
            if not b:
                break
            pos %= len(b)
            if kind == 0:
                b[pos] = val
            elif kind == 1:
                del b[pos:]
            elif kind == 2:
                b[pos:pos] = bytes([val])
            else:
                del b[pos]
        return bytes(b)
    op = st.tuples(st.integers(0, 3), st.integers(0, 1 << 20), st.integers(0, 255))
    return st.lists(op, min_size=1, max_size=6).map(apply)


@SETTINGS
@given(st.one_of(st.binary(max_size=600), mutated(_valid_sb())))
def test_superblock_parser(data):
    from dmfw.verity import superblock
    try:
        sb = superblock.parse(data)
    except DMError:
        return
    assert sb.data_block_size >= 512 and len(sb.salt) <= 256


def _sig_material():
    if iv.missing_tools():
        return None
    d, j = iv.load("sigs")
    out = []
    for s in j["signers"]:
        with open(os.path.join(d, s["sig"]), "rb") as f:
            sig = f.read()
        with open(os.path.join(d, s["der"]), "rb") as f:
            cert = f.read()
        out.append((sig, cert))
    with open(os.path.join(d, "root.txt"), "rb") as f:
        root = f.read()
    return root, out


_MAT = _sig_material()
needs_sigs = pytest.mark.skipif(_MAT is None, reason="needs openssl/veritysetup")


@needs_sigs
@SETTINGS
@given(st.data())
def test_pkcs7_parser(data):
    from dmfw.crypto import x509
    from dmfw.crypto.pkcs7 import verify_detached
    root, mats = _MAT
    i = data.draw(st.integers(0, len(mats) - 1))
    sig, cert = mats[i]
    bad = data.draw(mutated(sig))
    trusted = [x509.Certificate(c) for _, c in mats]
    try:
        verify_detached(root, bad, trusted)
    except DMError:
        pass


@needs_sigs
@SETTINGS
@given(st.data())
def test_x509_and_der_parsers(data):
    from dmfw.crypto import x509, der
    root, mats = _MAT
    i = data.draw(st.integers(0, len(mats) - 1))
    blob = data.draw(st.one_of(mutated(mats[i][1]), st.binary(max_size=300)))
    for fn in (x509.load, der.parse):
        try:
            fn(blob)
        except DMError:
            pass
    pem = b"-----BEGIN CERTIFICATE-----\n" + blob + b"\n-----END CERTIFICATE-----\n"
    try:
        x509.load(pem)
    except DMError:
        pass


TOKENS = ["0", "1", "2", "-", "254:0", "254:16", "9:9", "512", "4096", "65536",
          "300", "18446744073709551615", "99999999999999999999", "sha256", "sha1",
          "sha512", "md5", "ignore_corruption", "restart_on_corruption",
          "panic_on_corruption", "restart_on_error", "panic_on_error",
          "ignore_zero_blocks", "check_at_most_once", "try_verify_in_tasklet",
          "use_fec_from_device", "fec_roots", "fec_blocks", "fec_start",
          "root_hash_sig_key_desc", "k", "aa", "zz", "a" * 64, "00" * 32]


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS) | st.text(max_size=8), max_size=24),
       st.booleans())
def test_verity_table_parser(args, head):
    from dmfw.blockdev import MemoryDevice
    from dmfw.devices import DeviceRegistry
    from dmfw.mapper import DeviceMapper
    devs = DeviceRegistry()
    devs.add(MemoryDevice(300 * 4096, name="vda", major=254, minor=0))
    devs.add(MemoryDevice(64 * 4096, name="vdb", major=254, minor=16))
    dm = DeviceMapper(devs)
    if head:
        args = ["1", "254:0", "254:16", "4096", "4096", "300", "1", "sha256",
                "00" * 32, "-"] + args
    try:
        md = dm.create("v", table=[(0, 2400, "verity", args)], readonly=True)
    except DMError:
        assert dm.list() == []
        return
    t = md.live.targets[0]
    # A table that loads prints back to a table that loads the same way.
    again = t.params()
    dm.remove("v")
    md = dm.create("v", table="0 2400 verity " + again, readonly=True)
    assert md.live.targets[0].params() == again
    try:
        md.read(0, 8)
    except DMError:
        pass
