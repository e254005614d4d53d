# lvm2 `mirror` LVs: activation as lvm2 does it (hidden image and log LVs
# first, then the mirror table) and dm-mirror's read rules: the default
# leg, then another leg only for regions the disk log has in sync. The VG
# is gvg from the lvm2-made set with mirror LVs added to its metadata in
# the layout lvm2 2.03 writes (the guest test checks the same against the
# kernel with mirrors made by lvm2 itself).

import struct

import pytest

import lvmref
from shellrun import run, new_shell

MIRRORS = """
m {
id = "MMMMMM-0000-0000-0000-0000-0000-000001"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = 1
type = "mirror"
mirror_count = 2
mirror_log = "m_mlog"
region_size = 1024
mirrors = [
"m_mimage_0", 0,
"m_mimage_1", 0
]
}
}
mc {
id = "MMMMMM-0000-0000-0000-0000-0000-000002"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = 1
type = "mirror"
mirror_count = 2
region_size = 4096
mirrors = [
"mc_mimage_0", 0,
"mc_mimage_1", 0
]
}
}
""" + "".join("""
%s {
id = "MMMMMM-0000-0000-0000-0000-0000-00001%d"
status = ["READ", "WRITE"]
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
""" % (n, i, pv, pe) for i, (n, pv, pe) in enumerate([
    ("m_mimage_0", "pv0", 7), ("m_mimage_1", "pv1", 3), ("m_mlog", "pv1", 4),
    ("mc_mimage_0", "pv0", 8), ("mc_mimage_1", "pv1", 5)]))

ES = 8192           # gvg's extent size (4 MiB)
PE0 = 2048          # pe_start of both PVs


@pytest.fixture(scope="module")
def ref():
    return lvmref.load("ref")


def gvg(ref, faulty_leg0=None, clean=0x0F):
    devs = lvmref.file_devices(ref)
    a = lvmref.Overlay(devs[3])
    b = lvmref.Overlay(devs[4])
    t = lvmref.committed_text(b).rstrip(b"\0").decode()
    i = t.index("logical_volumes {") + len("logical_volumes {")
    t = t[:i] + MIRRORS + t[i:]
    t = t.replace("seqno = 5", "seqno = 6", 1)
    for d in (a, b):
        lvmref.rewrite_metadata(d, 4096, t)
    # Leg data: every sector says which leg it is on.
    for n in range(ES // 64):
        a.poke((PE0 + 7 * ES + n * 64) * 512, b"LEG0" * (64 * 128))
        b.poke((PE0 + 3 * ES + n * 64) * 512, b"LEG1" * (64 * 128))
    # m's disk log (dm-log.c): header, then the in-sync bitset 2 sectors in.
    log = (PE0 + 4 * ES) * 512
    b.poke(log, struct.pack("<IIQ", 0x4D695272, 2, ES // 1024))
    b.poke(log + 1024, bytes([clean]))
    if faulty_leg0 is not None:
        lo, hi = faulty_leg0
        a = lvmref.Faulty(a, PE0 + 7 * ES + lo, PE0 + 7 * ES + hi)
    sh = new_shell()
    sh.devices.add(a)
    sh.devices.add(b)
    return sh


def test_mirror_activation_matches_lvm2(ref):
    sh = gvg(ref)
    r = run("vgchange -ay gvg", sh=sh)
    assert r.status == 0, r.err
    assert r.out == '  5 logical volume(s) in volume group "gvg" now active\n'
    devno = dict((m.dm_name, m.devno()) for m in sh.dm.list())
    t = run("dmsetup table gvg-m", sh=sh).out
    assert t == "0 8192 mirror disk 2 %s 1024 2 %s 0 %s 0 1 handle_errors\n" % (
        devno["gvg-m_mlog"], devno["gvg-m_mimage_0"], devno["gvg-m_mimage_1"])
    t = run("dmsetup table gvg-mc", sh=sh).out
    assert t == "0 8192 mirror core 1 4096 2 %s 0 %s 0 1 handle_errors\n" % (
        devno["gvg-mc_mimage_0"], devno["gvg-mc_mimage_1"])
    assert run("dmsetup table gvg-m_mimage_1", sh=sh).out == \
        "0 8192 linear 7:%s %d\n" % (ref["loops"][4][4:], PE0 + 3 * ES)
    # Hidden LVs have no /dev/VG/LV link; the mirror has.
    assert sh.devices.find("/dev/gvg/m_mimage_0") is None
    assert sh.devices.find("/dev/gvg/m") is sh.dm.get("gvg-m")
    assert sh.dm.get("gvg-m_mlog").uuid == "LVM-" + sh.dm.get("gvg-m").uuid[4:36] + \
        "MMMMMM0000000000000000000000001" + "2"
    assert run("dmsetup status gvg-m", sh=sh).out.endswith(
        "4/8 1 AA 3 disk %s A\n" % devno["gvg-m_mlog"])
    r = run("vgchange -an gvg", sh=sh)
    assert r.status == 0 and sh.dm.list() == []


def test_mirror_reads_default_leg(ref):
    sh = gvg(ref)
    run("lvchange -ay gvg/m", sh=sh)
    md = sh.devices.get("/dev/gvg/m")
    assert bytes(md.read(0, ES)) == b"LEG0" * (ES * 128)


def test_mirror_falls_back_for_in_sync_regions_only(ref):
    # Leg 0 fails in region 1 (in sync) and region 5 (not in sync).
    sh = gvg(ref, faulty_leg0=(1024 + 10, 1024 + 20))
    run("lvchange -ay gvg/m", sh=sh)
    md = sh.devices.get("/dev/gvg/m")
    data = md.read(1024, 1024)
    assert bytes(data) == b"LEG1" * (1024 * 128)
    # From now on the failed default leg is not used; region 0 is in sync.
    assert bytes(md.read(0, 8)) == b"LEG1" * (8 * 128)
    assert "1 RA 3 disk" in run("dmsetup status gvg-m", sh=sh).out
    with pytest.raises(Exception) as e:
        md.read(5 * 1024, 8)
    assert "not in sync" in str(e.value)


def test_mirror_without_sync_info_uses_default_leg_only(ref):
    sh = gvg(ref, faulty_leg0=(0, 8), clean=0)
    run("lvchange -ay gvg/m", sh=sh)
    r = run("sha256sum /dev/gvg/m 0 8", sh=sh)
    assert r.status != 0 and "not in sync" in r.err


def test_mirror_with_missing_leg_is_refused(ref):
    sh = gvg(ref)
    b = sh.devices.get(ref["loops"][4])
    sh.devices.remove(b)
    r = run("lvchange -ay gvg/m", sh=sh)
    assert r.status == 5
    assert "Refusing activation of partial LV gvg/m." in r.err
    assert sh.dm.list() == []
