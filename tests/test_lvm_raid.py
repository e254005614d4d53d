# lvm2 `raid1` LVs: rmeta/rimage sub-LVs, the raid table lvm2 loads
# (lib/raid/raid.c, libdm's raid line) and dm-raid's RAID1 read rules from
# the dm-raid superblocks. Neither the host's lvm2 (no dm) nor the guest
# kernel (its dm-raid does not load) can make these, so the LVs are added
# to gvg's lvm2-made metadata in lvm2 2.03's layout.

import struct

import pytest

import lvmref
from shellrun import run, new_shell

ES = 8192
PE0 = 2048
MAX = (1 << 64) - 1
LEGS = [("r1_rmeta_0", "pv0", 7), ("r1_rimage_0", "pv0", 8),
        ("r1_rmeta_1", "pv1", 3), ("r1_rimage_1", "pv1", 4)]


def lvs(rebuild=False):
    out = """
r1 {
id = "RRRRRR-0000-0000-0000-0000-0000-000001"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = 1
type = "raid1"
device_count = 2
region_size = 1024
raids = [
"r1_rmeta_0", "r1_rimage_0",
"r1_rmeta_1", "r1_rimage_1"
]
}
}
"""
    for i, (n, pv, pe) in enumerate(LEGS):
        st = '"READ", "WRITE"' + (', "REBUILD"' if rebuild and n == "r1_rimage_1" else "")
        out += """
%s {
id = "RRRRRR-0000-0000-0000-0000-0000-00001%d"
status = [%s]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = 1
type = "striped"
stripe_count = 1
stripes = [
"%s", %d
]
}
}
""" % (n, i, st, pv, pe)
    return out


@pytest.fixture(scope="module")
def ref():
    return lvmref.load("ref")


def sb(events, failed=0, recovery=MAX, resync=MAX, pos=0):
    return struct.pack("<IIIIQQQQ", 0x64526D44, 0, 2, pos, events, failed, recovery, resync)


def gvg(ref, sbs=(sb(5), sb(5, pos=1)), fault=None, rebuild=False, drop_b=False):
    devs = lvmref.file_devices(ref)
    a = lvmref.Overlay(devs[3])
    b = lvmref.Overlay(devs[4])
    t = lvmref.committed_text(b).rstrip(b"\0").decode()
    i = t.index("logical_volumes {") + len("logical_volumes {")
    t = t[:i] + lvs(rebuild) + t[i:]
    t = t.replace("seqno = 5", "seqno = 6", 1)
    for d in (a, b):
        lvmref.rewrite_metadata(d, 4096, t)
    for n in range(ES // 64):
        a.poke((PE0 + 8 * ES + n * 64) * 512, b"LEG0" * (64 * 128))
        b.poke((PE0 + 4 * ES + n * 64) * 512, b"LEG1" * (64 * 128))
    if sbs[0] is not None:
        a.poke((PE0 + 7 * ES) * 512, sbs[0])
    if sbs[1] is not None:
        b.poke((PE0 + 3 * ES) * 512, sbs[1])
    if fault is not None:
        a = lvmref.Faulty(a, PE0 + 8 * ES + fault[0], PE0 + 8 * ES + fault[1])
    sh = new_shell()
    sh.devices.add(a)
    if not drop_b:
        sh.devices.add(b)
    return sh


def leg(data, n):
    return bytes(data) == (b"LEG%d" % n) * (len(data) // 4)


def test_raid1_table_and_layers(ref):
    sh = gvg(ref)
    r = run("lvchange -ay gvg/r1", sh=sh)
    assert r.status == 0, r.err
    no = dict((m.dm_name, m.devno()) for m in sh.dm.list())
    assert sorted(no) == ["gvg-r1", "gvg-r1_rimage_0", "gvg-r1_rimage_1",
                          "gvg-r1_rmeta_0", "gvg-r1_rmeta_1"]
    assert run("dmsetup table gvg-r1", sh=sh).out == \
        "0 8192 raid raid1 3 0 region_size 1024 2 %s %s %s %s\n" % (
            no["gvg-r1_rmeta_0"], no["gvg-r1_rimage_0"],
            no["gvg-r1_rmeta_1"], no["gvg-r1_rimage_1"])
    assert run("dmsetup status gvg-r1", sh=sh).out == \
        "0 8192 raid raid1 2 AA 8192/8192 idle 0 0 -\n"
    out = run("lvs -a -o lv_name,lv_attr,segtype,stripes,devices gvg", sh=sh).out
    rows = [l.split() for l in out.splitlines()]
    assert ["r1", "rwi-a-r---", "raid1", "2", "r1_rimage_0(0),r1_rimage_1(0)"] in rows
    assert ["[r1_rimage_1]", "iwi-aor---", "linear", "1", "/dev/%s(4)" % ref["loops"][4]] in rows
    assert ["[r1_rmeta_0]", "ewi-aor---", "linear", "1", "/dev/%s(7)" % ref["loops"][3]] in rows
    assert leg(sh.devices.get("/dev/gvg/r1").read(0, ES), 0)
    assert run("lvs -o lv_name,copy_percent gvg/r1", sh=sh).out.split()[-1] == "100.00"
    assert run("lvchange -an gvg/r1", sh=sh).status == 0 and sh.dm.list() == []


def test_raid1_falls_back_to_the_other_leg(ref):
    sh = gvg(ref, fault=(100, 200))
    run("lvchange -ay gvg/r1", sh=sh)
    md = sh.devices.get("/dev/gvg/r1")
    assert leg(md.read(64, 256), 1)
    assert leg(md.read(0, 8), 1)            # the failed leg is not used again
    assert "raid1 2 DA" in run("dmsetup status gvg-r1", sh=sh).out


@pytest.mark.parametrize("sbs,why", [
    ((sb(5), sb(4, pos=1)), "stale superblock"),
    ((sb(5, failed=2), sb(5, failed=2, pos=1)), "failed bit"),
    ((sb(5), sb(5, recovery=0, pos=1)), "being recovered"),
])
def test_raid1_reads_only_in_sync_legs(ref, sbs, why):
    sh = gvg(ref, sbs=sbs, fault=(0, 16))
    run("lvchange -ay gvg/r1", sh=sh)
    assert leg(sh.devices.get("/dev/gvg/r1").read(16, 8), 0)
    r = run("sha256sum /dev/gvg/r1 0 8", sh=sh)
    assert r.status != 0 and "no in-sync leg" in r.err, why


def test_raid1_during_resync_only_first_leg_beyond_resync_point(ref):
    sh = gvg(ref, sbs=(sb(5, resync=4096), sb(5, resync=4096, pos=1)), fault=(0, 8192))
    run("lvchange -ay gvg/r1", sh=sh)
    md = sh.devices.get("/dev/gvg/r1")
    assert leg(md.read(0, 8), 1)            # below the resync point: any leg
    r = run("sha256sum /dev/gvg/r1 5000 8", sh=sh)
    assert r.status != 0 and "no in-sync leg" in r.err


def test_raid1_rebuild_flag(ref):
    sh = gvg(ref, rebuild=True, fault=(0, 8))
    run("lvchange -ay gvg/r1", sh=sh)
    assert "raid raid1 5 0 rebuild 1 region_size 1024 2 " in run("dmsetup table gvg-r1", sh=sh).out
    assert run("sha256sum /dev/gvg/r1 0 8", sh=sh).status != 0


def test_raid1_degraded_activation(ref):
    # Leg 1's PV is gone: lvm2's default activation_mode=degraded still
    # brings the LV up, the missing leg as "- -".
    sh = gvg(ref, drop_b=True)
    r = run("lvchange -ay gvg/r1", sh=sh)
    assert r.status == 0, r.err
    no = dict((m.dm_name, m.devno()) for m in sh.dm.list())
    assert run("dmsetup table gvg-r1", sh=sh).out == \
        "0 8192 raid raid1 3 0 region_size 1024 2 %s %s - -\n" % (
            no["gvg-r1_rmeta_0"], no["gvg-r1_rimage_0"])
    assert leg(sh.devices.get("/dev/gvg/r1").read(0, 64), 0)
