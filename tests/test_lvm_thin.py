# Thin pools and thin LVs: lvm2's dm layering (_tmeta, _tdata, -tpool, the
# pool's public device) and reads through real thin-pool metadata, made by
# thin_restore (thin-provisioning-tools) from a known mapping. The LVs are
# added to gvg's lvm2-made metadata in the layout lvm2 2.03 writes.

import os
import shutil
import struct
import subprocess

import pytest

import lvmref
from shellrun import run, new_shell

ES = 8192                       # gvg's extent size
PE0 = 2048
CHUNK = 128                     # sectors per data block
NR_DATA = 2 * ES // CHUNK       # pool_tdata: 2 extents
VIRT = 5 * ES // CHUNK          # th: 5 extents (over-provisioned)


def _mapping():
    # Enough entries for a two-level btree (a leaf holds at most 252).
    m = {}
    for v in range(VIRT):
        if v % 5 != 3:
            m[v] = (v * 7) % NR_DATA
    return m


LVS = """
pool {
id = "TTTTTT-0000-0000-0000-0000-0000-000001"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = 2
type = "thin-pool"
metadata = "pool_tmeta"
pool = "pool_tdata"
transaction_id = 2
chunk_size = 128
discards = "passdown"
zero_new_blocks = 1
}
}
th {
id = "TTTTTT-0000-0000-0000-0000-0000-000002"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = 5
type = "thin"
thin_pool = "pool"
transaction_id = 0
device_id = 1
}
}
th-snap {
id = "TTTTTT-0000-0000-0000-0000-0000-000003"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = 1
type = "thin"
thin_pool = "pool"
transaction_id = 1
device_id = 7
}
}
""" + "".join("""
%s {
id = "TTTTTT-0000-0000-0000-0000-0000-00001%d"
status = ["READ", "WRITE"]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = %d
type = "striped"
stripe_count = 1
stripes = [
"%s", %d
]
}
}
""" % (n, i, c, pv, pe) for i, (n, c, pv, pe) in enumerate([
    ("pool_tmeta", 1, "pv1", 3), ("pool_tdata", 2, "pv0", 7)]))


@pytest.fixture(scope="module")
def ref():
    return lvmref.load("ref")


@pytest.fixture(scope="module")
def thin_meta(tmp_path_factory):
    return make_meta(tmp_path_factory.mktemp("thin"))


def make_meta(d):
    """Pool metadata (one extent) for _mapping(), made by thin_restore."""
    exe = shutil.which("thin_restore") or "/usr/sbin/thin_restore"
    if not os.path.exists(exe):
        pytest.skip("thin_restore (thin-provisioning-tools) not installed")
    xml = ['<superblock uuid="" time="1" transaction="2" flags="0" version="2" '
           'data_block_size="%d" nr_data_blocks="%d">' % (CHUNK, NR_DATA),
           '<device dev_id="1" mapped_blocks="%d" transaction="0" creation_time="0" '
           'snap_time="1">' % len(_mapping())]
    for v, b in sorted(_mapping().items()):
        xml.append('<single_mapping origin_block="%d" data_block="%d" time="0"/>' % (v, b))
    xml.append('</device><device dev_id="7" mapped_blocks="1" transaction="1" '
               'creation_time="1" snap_time="1">'
               '<single_mapping origin_block="2" data_block="11" time="1"/></device>'
               '</superblock>')
    with open(str(d / "m.xml"), "w") as f:
        f.write("\n".join(xml))
    meta = str(d / "meta.bin")
    with open(meta, "wb") as f:
        f.truncate(ES * 512)
    subprocess.run([exe, "-i", str(d / "m.xml"), "-o", meta], check=True,
                   capture_output=True)
    with open(meta, "rb") as f:
        return f.read()


def block(b):
    return struct.pack("<I", b) * (CHUNK * 128)


def gvg(ref, meta, with_lvs=LVS):
    devs = lvmref.file_devices(ref)
    a = lvmref.Overlay(devs[3])
    b = lvmref.Overlay(devs[4])
    t = lvmref.committed_text(b).rstrip(b"\0").decode()
    i = t.index("logical_volumes {") + len("logical_volumes {")
    t = t[:i] + with_lvs + t[i:]
    t = t.replace("seqno = 5", "seqno = 6", 1)
    for d in (a, b):
        lvmref.rewrite_metadata(d, 4096, t)
    b.poke((PE0 + 3 * ES) * 512, meta)
    for n in range(NR_DATA):
        a.poke((PE0 + 7 * ES + n * CHUNK) * 512, block(n))
    sh = new_shell()
    sh.devices.add(a)
    sh.devices.add(b)
    return sh


def test_thin_layers_and_tables(ref, thin_meta):
    sh = gvg(ref, thin_meta)
    r = run("vgchange -ay gvg", sh=sh)
    assert r.status == 0, r.err
    assert r.out == '  6 logical volume(s) in volume group "gvg" now active\n'
    dev = dict((m.dm_name, m) for m in sh.dm.list())
    assert sorted(dev) == ["gvg-lin", "gvg-pool", "gvg-pool-tpool", "gvg-pool_tdata",
                           "gvg-pool_tmeta", "gvg-span", "gvg-str", "gvg-th",
                           "gvg-th--snap"]
    no = dict((n, m.devno()) for n, m in dev.items())
    tab = lambda n: run("dmsetup table " + n, sh=sh).out
    assert tab("gvg-pool-tpool") == "0 16384 thin-pool %s %s 128 0 0 \n" % (
        no["gvg-pool_tmeta"], no["gvg-pool_tdata"])
    assert tab("gvg-pool") == "0 16384 linear %s 0\n" % no["gvg-pool-tpool"]
    assert tab("gvg-th") == "0 40960 thin %s 1\n" % no["gvg-pool-tpool"]
    assert tab("gvg-th--snap") == "0 8192 thin %s 7\n" % no["gvg-pool-tpool"]
    assert tab("gvg-pool_tmeta") == "0 8192 linear 7:%s %d\n" % (
        ref["loops"][4][4:], PE0 + 3 * ES)
    vgid = dev["gvg-lin"].uuid[4:36]
    lvid = lambda n: "TTTTTT" + "0" * 20 + "%06d" % n
    assert dev["gvg-pool-tpool"].uuid == "LVM-%s%s-tpool" % (vgid, lvid(1))
    assert dev["gvg-pool"].uuid == "LVM-%s%s-pool" % (vgid, lvid(1))
    assert dev["gvg-pool_tmeta"].uuid.endswith("10-tmeta")
    assert dev["gvg-pool_tdata"].uuid.endswith("11-tdata")
    assert dev["gvg-th"].uuid == "LVM-%s%s" % (vgid, lvid(2))
    # A used pool has no /dev/VG link (lvm2 makes none); thin LVs have.
    assert sh.devices.find("/dev/gvg/pool") is None
    assert sh.devices.find("/dev/gvg/th") is dev["gvg-th"]
    status = run("dmsetup status gvg-th", sh=sh).out
    mapped = len(_mapping())
    assert status == "0 40960 thin %d %d\n" % (mapped * CHUNK, VIRT * CHUNK - 1)
    out = run("lvs gvg", sh=sh).out
    rows = dict((l.split()[0], l) for l in out.splitlines()[1:])
    assert rows["pool"].split()[2] == "twi-aotz--"
    assert rows["th"].split()[2:5] == ["Vwi-a-tz--", "20.00m", "pool"]
    assert rows["th"].split()[5] == "%.2f" % (100.0 * mapped / VIRT)
    assert run("vgchange -an gvg", sh=sh).status == 0
    assert sh.dm.list() == []


def test_thin_reads_through_the_btree(ref, thin_meta):
    sh = gvg(ref, thin_meta)
    assert run("lvchange -ay gvg/th gvg/th-snap", sh=sh).status == 0
    data = sh.devices.get("/dev/gvg/th").read(0, VIRT * CHUNK)
    m = _mapping()
    for v in range(VIRT):
        got = bytes(data[v * CHUNK * 512:(v + 1) * CHUNK * 512])
        assert got == (block(m[v]) if v in m else bytes(CHUNK * 512)), v
    snap = sh.devices.get("/dev/gvg/th-snap").read(0, 4 * CHUNK)
    assert bytes(snap[2 * CHUNK * 512:3 * CHUNK * 512]) == block(11)
    assert bytes(snap[:2 * CHUNK * 512]) == bytes(2 * CHUNK * 512)
    # Partial-block reads across block boundaries.
    part = sh.devices.get("/dev/gvg/th").read(CHUNK - 3, 7)
    assert bytes(part) == bytes(data[(CHUNK - 3) * 512:(CHUNK + 4) * 512])
    r = run("dd if=/dev/vda of=/dev/gvg/th bs=512 count=1", sh=sh)
    assert r.status != 0


def test_thin_snapshot_skipped_and_type_flags(ref, thin_meta):
    # lvm2 writes ACTIVATION_SKIP into "flags" and segment flags after a "+".
    lvs = LVS.replace('extent_count = 1\ntype = "thin"',
                      'extent_count = 1\ntype = "thin+CROP_METADATA"')
    lvs = lvs.replace('"READ", "WRITE", "VISIBLE"]\nflags = []\nsegment_count = 1\n'
                      'segment1 {\nstart_extent = 0\nextent_count = 1\n',
                      '"READ", "WRITE", "VISIBLE"]\nflags = ["ACTIVATION_SKIP"]\n'
                      'segment_count = 1\nsegment1 {\nstart_extent = 0\nextent_count = 1\n')
    assert "ACTIVATION_SKIP" in lvs and "thin+CROP" in lvs
    sh = gvg(ref, thin_meta, lvs)
    r = run("vgchange -ay gvg", sh=sh)
    assert r.out == '  5 logical volume(s) in volume group "gvg" now active\n'
    assert sh.dm.find("gvg-th--snap") is None
    assert run("lvchange -ay -K gvg/th-snap", sh=sh).status == 0
    assert sh.dm.find("gvg-th--snap") is not None
    assert "Vwi-a-tz-k" in run("lvs gvg/th-snap", sh=sh).out


def test_thin_with_damaged_metadata_is_refused(ref, thin_meta):
    bad = bytearray(thin_meta)
    bad[100] ^= 1
    sh = gvg(ref, bytes(bad))
    r = run("lvchange -ay gvg/th", sh=sh)
    assert r.status == 5 and "superblock checksum failed" in r.err
    assert sh.dm.list() == []


def test_thin_device_missing_from_pool_metadata(ref, thin_meta):
    sh = gvg(ref, thin_meta, LVS.replace("device_id = 7", "device_id = 9"))
    r = run("lvchange -ay gvg/th-snap", sh=sh)
    assert r.status == 5 and "Couldn't open thin internal device" in r.err
    assert sh.dm.list() == []
