# Fuzzing the parsers that read untrusted disks: GPT headers and entries,
# the verity-sig JSON, FAT metadata and the whole dissect/plan path. Only
# dmfw.errors.DMError subclasses may escape; anything else is a bug.

import binascii
import json
import os
import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from dmfw.blockdev import MemoryDevice
from dmfw.devices import DeviceRegistry
from dmfw.disk import ddi as D
from dmfw.disk import dps
from dmfw.disk.gpt import read_gpt
from dmfw.disk.partitions import scan
from dmfw.errors import DMError
from dmfw.fs.fat import FatFS

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _small_gpt():
    """A 2 MiB disk with a GPT made by sfdisk: DPS root, verity, sig types."""
    if shutil.which("sfdisk") is None:
        pytest.skip("no sfdisk")
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "g.img")
        with open(p, "wb") as f:
            f.truncate(2 << 20)
        script = "label: gpt\n" + "".join(
            "size=%d, type=%s, uuid=%s, name=p%d\n" % (
                s, dps.type_uuid(t, "x86-64"), u, i)
            for i, (s, t, u) in enumerate([
                (1024, "root", D.uuid_from_hex("ab" * 16)),
                (512, "root-verity", D.uuid_from_hex("cd" * 16)),
                (64, "root-verity-sig", "11111111-2222-3333-4444-555555555555")]))
        subprocess.run(["sfdisk", "-q", p], input=script.encode(), check=True,
                       capture_output=True)
        with open(p, "rb") as f:
            return bytearray(f.read())


BASE = None


def base():
    global BASE
    if BASE is None:
        BASE = _small_gpt()
    return BASE


def fix_crcs(img, lba=1, ss=512):
    """Recompute entry-array and header CRCs so mutations reach the checks
    behind them."""
    h = lba * ss
    hsize, = struct.unpack_from("<I", img, h + 12)
    ent_lba, n, esz = struct.unpack_from("<QII", img, h + 72)
    o = ent_lba * ss
    if 0 < n * esz <= 1 << 20 and o + n * esz <= len(img):
        struct.pack_into("<I", img, h + 88, binascii.crc32(bytes(img[o:o + n * esz])))
    if 92 <= hsize <= ss:
        hdr = bytearray(img[h:h + hsize])
        hdr[16:20] = b"\0\0\0\0"
        struct.pack_into("<I", img, h + 16, binascii.crc32(bytes(hdr)))


def dissect_all(img):
    reg = DeviceRegistry()
    disk = MemoryDevice(img, name="vda", major=254)
    reg.add(disk)
    try:
        g = read_gpt(disk)
    except DMError:
        return None
    for p in g.partitions:
        assert 0 <= p.start and p.start + p.nr_sectors <= disk.nr_sectors
        assert p.partno >= 1
    scan(reg, disk, warn=lambda w: None)
    try:
        im = D.dissect(reg, disk)
        D.plan_open(im, arch="x86-64", verify=lambda c, d, f: None)
    except DMError:
        pass
    return g


# Mutations: (offset, bytes) patches in the header, the entry array and the
# backup, optionally followed by a CRC repair.
patch = st.tuples(st.sampled_from([0, 446, 510, 512, 520, 536, 552, 584, 592, 596,
                                   600, 1024, 1056, 1080, 1088, 1152, 1184, 1280]),
                  st.integers(0, 63), st.binary(min_size=1, max_size=16))


@SETTINGS
@given(st.lists(patch, max_size=6), st.booleans(), st.booleans())
def test_gpt_mutations(patches, fix, kill_backup):
    img = bytearray(base())
    for where, delta, data in patches:
        o = where + delta
        img[o:o + len(data)] = data
    if fix:
        fix_crcs(img)
    if kill_backup:
        img[-512:] = bytes(512)
    dissect_all(img)


@SETTINGS
@given(st.integers(1, 1 << 20), st.integers(0, 1 << 64 - 1), st.integers(0, 300),
       st.integers(0, 1 << 12))
def test_gpt_header_fields(n_ent, ent_lba, hsize, esz):
    img = bytearray(base())
    struct.pack_into("<QII", img, 512 + 72, ent_lba, n_ent, esz)
    struct.pack_into("<I", img, 512 + 12, hsize)
    fix_crcs(img)
    img[-512:] = bytes(512)
    dissect_all(img)


@SETTINGS
@given(st.binary(max_size=600))
def test_sig_bytes(raw):
    try:
        D.parse_signature(raw)
    except DMError:
        pass


json_val = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) |
    st.text(max_size=20),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8)


@SETTINGS
@given(st.one_of(json_val, st.text(alphabet="0123456789abcdefABCDEF", max_size=140)),
       json_val, json_val, st.booleans())
def test_sig_json(rh, fpr, sig, pad):
    obj = {"rootHash": rh, "certificateFingerprint": fpr, "signature": sig}
    raw = json.dumps(obj).encode()
    if pad:
        raw += bytes(4096 - len(raw) % 4096)
    try:
        out = D.parse_signature(raw)
        assert len(out[0]) >= 64 and out[2]
    except DMError:
        pass


def _fat_image():
    if shutil.which("mkfs.vfat") is None or shutil.which("mcopy") is None:
        pytest.skip("no dosfstools/mtools")
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "f.img")
        subprocess.run(["mkfs.vfat", "-C", "--invariant", "-F", "16", "-s", "1", p, "8192"],
                       check=True, capture_output=True)
        env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
        src = os.path.join(d, "s")
        with open(src, "wb") as f:
            f.write(os.urandom(9000))
        subprocess.run(["mmd", "-i", p, "::/A Long Directory"], check=True, env=env)
        for n in ("::/x.bin", "::/A Long Directory/Long File Name.bin"):
            subprocess.run(["mcopy", "-i", p, src, n], check=True, env=env)
        with open(p, "rb") as f:
            return bytearray(f.read())


FAT = None


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 100000), st.binary(min_size=1, max_size=8)),
                max_size=8))
def test_fat_mutations(patches):
    global FAT
    if FAT is None:
        FAT = _fat_image()
    img = bytearray(FAT)
    # Most metadata lives in the first sectors: boot, FATs, root directory.
    for o, data in patches:
        img[o:o + len(data)] = data
    try:
        fs = FatFS(MemoryDevice(img))
        for d in ("/", "/A Long Directory"):
            for name, e in fs.scandir(d):
                if not e.is_dir():
                    f = fs.open(d + "/" + name)
                    f.read()
    except DMError:
        pass
