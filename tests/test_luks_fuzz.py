# Fuzzing the LUKS header readers (the first thing dmfw reads from an
# untrusted disk): raw byte damage to LUKS1 and LUKS2 headers, and JSON
# with good checksums whose values are replaced by arbitrary JSON. Whatever
# the input, load + luksDump either work or raise dmfw's DMError family;
# `open` refuses without a traceback. No KDF runs (an attacker's iteration
# count is not a fuzz target).

import hashlib
import io
import json
import os

import pytest

hyp = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st, HealthCheck  # noqa: E402

from dmfw.errors import DMError  # noqa: E402

il = pytest.importorskip("images.luks")
SETTINGS = settings(max_examples=int(os.environ.get("DMFW_FUZZ_EXAMPLES", "200")),
                    deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _image(name, nbytes):
    if il.missing_tools():
        return None
    m = il.load()
    v = [x for x in m["volumes"] if x["name"] == name][0]
    with open(v["path"], "rb") as f:
        return f.read(nbytes)


L1 = _image("l1-sha256", 1 << 20)
L2 = _image("l2-pbkdf2-512", 1 << 20)
needs = pytest.mark.skipif(L1 is None, reason="needs cryptsetup and openssl")


def _load_and_dump(data):
    from dmfw.blockdev import MemoryDevice
    from dmfw import luks
    from dmfw.luks import dump
    n = len(data) - len(data) % 512
    dev = MemoryDevice(bytearray(data[:n]))
    try:
        h = luks.load(dev)
    except DMError:
        return None
    out = io.StringIO()
    if h.version == 1:
        dump.luks1(out.write, h, "x")
    else:
        dump.luks2(out.write, h)
    return h


def mutated(base, lo, hi):
    def apply(ops):
        b = bytearray(base)
        for pos, val in ops:
            b[lo + pos % (hi - lo)] = val
        return bytes(b)
    return st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)),
                    min_size=1, max_size=8).map(apply)


@needs
@SETTINGS
@given(mutated(L1 or b"", 0, 592))
def test_luks1_header_bytes(data):
    _load_and_dump(data)


@needs
@SETTINGS
@given(mutated(L2 or b"", 0, 4096 * 2 + 16384))
def test_luks2_header_bytes(data):
    _load_and_dump(data)


JSONV = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.text(max_size=12)
    | st.sampled_from(["0", "1", "dynamic", "512", "2097152", "crypt", "luks2",
                       "pbkdf2", "argon2id", "18446744073709551616", "32768"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(
        st.sampled_from(["0", "1", "type", "offset", "size", "keyslots", "segments"]),
        c, max_size=3), max_leaves=8)


def _paths(j, pre=()):
    out = [pre]
    if isinstance(j, dict):
        for k, v in j.items():
            out += _paths(v, pre + (k,))
    elif isinstance(j, list):
        for i, v in enumerate(j):
            out += _paths(v, pre + (i,))
    return out


def _with_json(base, j):
    # Both copies rewritten with good checksums so the JSON rules decide.
    b = bytearray(base)
    text = json.dumps(j).encode()
    for off in (0, 16384):
        hdr = bytearray(b[off:off + 4096])
        area = (text + bytes(12288))[:12288]
        hdr[448:512] = bytes(64)
        hdr[448:480] = hashlib.sha256(bytes(hdr) + area).digest()
        b[off:off + 16384] = hdr + area
    return bytes(b)


@needs
@SETTINGS
@given(st.data())
def test_luks2_json_values(data):
    base = L2
    j = json.loads(base[4096:16384].split(b"\0")[0])
    for _ in range(data.draw(st.integers(1, 4))):
        paths = [p for p in _paths(j) if p]
        p = data.draw(st.sampled_from(paths))
        o = j
        for k in p[:-1]:
            o = o[k]
        if data.draw(st.booleans()) and isinstance(o, dict):
            del o[p[-1]]
        else:
            o[p[-1]] = data.draw(JSONV)
    _load_and_dump(_with_json(base, j))


@needs
def test_fuzz_can_tell_a_good_header():
    # The fuzz targets above must be able to succeed: unchanged input loads.
    assert _load_and_dump(L1).version == 1
    j = json.loads(L2[4096:16384].split(b"\0")[0])
    assert _load_and_dump(_with_json(L2, j)).version == 2
