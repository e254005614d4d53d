# Damaged and inconsistent PVs (copy-on-write over lvm2-made ones): each
# case gives lvm2's message (or a clear one of dmfw's) and activates only
# what is intact.

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import lvmref
from shellrun import run, new_shell
from dmfw.errors import DMError


@pytest.fixture(scope="module")
def ref():
    return lvmref.load("ref")


def gvg_devs(ref):
    """gvg's two PVs (recipe pv3, pv4) as writable overlays."""
    devs = lvmref.file_devices(ref)
    return [lvmref.Overlay(devs[3]), lvmref.Overlay(devs[4])]


def shell_with(devs):
    sh = new_shell()
    for d in devs:
        sh.devices.add(d)
    return sh


def active(sh):
    return [m.dm_name for m in sh.dm.list()]


def test_intact_gvg(ref):
    sh = shell_with(gvg_devs(ref))
    r = run("vgchange -ay", sh=sh)
    assert r.status == 0 and r.err == ""
    assert active(sh) == ["gvg-lin", "gvg-span", "gvg-str"]


def test_corrupt_label(ref):
    a, b = gvg_devs(ref)
    b.poke(512 + 200, b"\xff")
    sh = shell_with([a, b])
    r = run("vgchange -ay", sh=sh)
    assert "/dev/%s: Label checksum incorrect - ignoring." % b.name in r.err
    assert "WARNING: VG gvg is missing PV" in r.err
    assert "Refusing activation of partial LV gvg/str." in r.err
    assert "Refusing activation of partial LV gvg/span." in r.err
    assert r.status == 5
    assert active(sh) == ["gvg-lin"]


def test_label_in_wrong_sector_is_ignored(ref):
    a, b = gvg_devs(ref)
    lab = bytes(b.pread(512, 512))
    b.poke(512, bytes(512))
    b.poke(1024, lab)          # a copy claiming sector 1, found at sector 2
    sh = shell_with([a, b])
    r = run("pvs", sh=sh)
    assert "Label for sector 1 found at sector 2 - ignoring." in r.err
    assert "[unknown]" in r.out


@pytest.mark.parametrize("which", ["header", "text"])
def test_corrupt_metadata_one_copy(ref, which):
    a, b = gvg_devs(ref)
    a.poke(4096 + 100 if which == "header" else lvmref.text_offset(a) + 100, b"\x01")
    sh = shell_with([a, b])
    r = run("vgchange -ay", sh=sh)
    if which == "header":
        assert "WARNING: Wrong checksum" in r.err and "in mda header on /dev/%s at 4096." \
            % a.name in r.err
    else:
        assert "WARNING: Checksum error on /dev/%s at offset" % a.name in r.err
    # The other PV's copy is enough.
    assert r.status == 0
    assert active(sh) == ["gvg-lin", "gvg-span", "gvg-str"]


@pytest.mark.parametrize("where", ["header", "text", "magic"])
def test_corrupt_metadata_all_copies(ref, where):
    devs = gvg_devs(ref)
    for d in devs:
        off = {"header": 4096 + 100, "magic": 4096 + 6,
               "text": lvmref.text_offset(d) + 100}[where]
        d.poke(off, b"\x01")
    sh = shell_with(devs)
    r = run("vgchange -ay gvg", sh=sh)
    assert r.status == 5 and 'Volume group "gvg" not found' in r.err
    assert active(sh) == []
    # The labels are intact: the PVs still show, in no VG.
    out = run("pvs", sh=sh).out
    assert "  /dev/%s    lvm2 ---" % devs[0].name in out


def test_truncated_pv(ref):
    a, b = gvg_devs(ref)
    a = lvmref.Overlay(a, nr_sectors=20000)
    sh = shell_with([a, b])
    r = run("vgchange -ay", sh=sh)
    assert r.status == 5
    assert ("LV gvg/str: /dev/%s has 20000 sectors, fewer than the 26624 its extents "
            "need (truncated PV?); not activating." % a.name) in r.err
    assert "LV gvg/span: /dev/%s has 20000 sectors" % a.name in r.err
    assert active(sh) == ["gvg-lin"]


def test_pv_too_short_for_its_metadata(ref):
    a, b = gvg_devs(ref)
    a = lvmref.Overlay(a, nr_sectors=12)
    sh = shell_with([a, b])
    r = run("vgchange -ay", sh=sh)
    assert "Failed to read metadata text" in r.err
    assert r.status == 5
    # Every LV of gvg has extents on the stub.
    assert "LV gvg/lin: /dev/%s has 12 sectors" % a.name in r.err
    assert active(sh) == []


def test_duplicate_pv_uuids(ref):
    a, b = gvg_devs(ref)
    c = lvmref.Overlay(a, name="loop9", minor=9)
    sh = shell_with([a, b, c])
    r = run("vgchange -ay", sh=sh)
    assert "is found on more than one device: /dev/%s, /dev/loop9." % a.name in r.err
    assert r.err.count("Cannot activate LVs in VG gvg while PVs appear on duplicate "
                       "devices.") == 1
    assert r.status == 5 and active(sh) == []
    r = run("lvchange -ay gvg/lin", sh=sh)
    assert "while PVs appear on duplicate devices" in r.err and active(sh) == []


def test_newer_seqno_wins(ref):
    a, b = gvg_devs(ref)
    t = lvmref.committed_text(b).rstrip(b"\0").decode()
    t = t.replace("seqno = 5", "seqno = 6", 1).replace("\nlin {", "\nlin2 {", 1)
    lvmref.rewrite_metadata(b, 4096, t)
    sh = shell_with([a, b])
    r = run("vgchange -ay", sh=sh)
    assert ("WARNING: Ignoring metadata seqno 5 on /dev/%s for seqno 6 on /dev/%s "
            "for VG gvg." % (a.name, b.name)) in r.err
    assert r.status == 0
    assert active(sh) == ["gvg-lin2", "gvg-span", "gvg-str"]
    assert "Seq" in run("vgs -o+vg_seqno", sh=sh).out


def test_same_seqno_different_text(ref):
    a, b = gvg_devs(ref)
    t = lvmref.committed_text(b).rstrip(b"\0").decode()
    lvmref.rewrite_metadata(b, 4096, t.replace("\nlin {", "\nlin2 {", 1))
    sh = shell_with([a, b])
    r = run("vgchange -ay", sh=sh)
    assert "WARNING: Inconsistent metadata found for VG gvg." in r.err
    assert "metadata copies with seqno 5 differ" in r.err
    assert r.status == 5 and active(sh) == []


@pytest.mark.parametrize("garbage", [
    "gvg { id = ",
    "\x00\x01\x02 garbage",
    "gvg {\nid = \"x\"\n}\ncontents = \"Text Format Volume Group\"\nversion = 1\n",
    "}}}}",
    "a = [1, 2",
    "gvg { seqno = 0x5 }",
])
def test_garbage_metadata_text(ref, garbage):
    devs = gvg_devs(ref)
    for d in devs:
        lvmref.rewrite_metadata(d, 4096, garbage)
    sh = shell_with(devs)
    r = run("vgchange -ay", sh=sh)
    assert "Failed to read metadata text" in r.err
    assert active(sh) == []
    r = run("vgchange -ay gvg", sh=sh)
    assert r.status == 5 and 'Volume group "gvg" not found' in r.err


@pytest.mark.parametrize("segtype,extra", [
    ("raid6", ""), ("raid5", ""), ("cache", ""), ("vdo", ""),
    ("snapshot", ""), ("frobnicate", ""),
])
def test_unsupported_segment_type_is_refused(ref, segtype, extra):
    devs = gvg_devs(ref)
    t = lvmref.committed_text(devs[1]).rstrip(b"\0").decode()
    i = t.index("\nlin {")
    j = t.index('type = "striped"', i)
    t = t[:j] + 'type = "%s"\n%s' % (segtype, extra) + t[j + len('type = "striped"'):]
    for d in devs:
        lvmref.rewrite_metadata(d, 4096, t)
    sh = shell_with(devs)
    r = run("lvchange -ay gvg/lin", sh=sh)
    assert r.status == 5
    assert ('LV gvg/lin uses segment type "%s", which dmfw cannot map' % segtype) in r.err
    assert active(sh) == []
    r = run("vgchange -ay gvg", sh=sh)
    assert active(sh) == ["gvg-span", "gvg-str"]
    assert run("lvs --segments gvg/lin", sh=sh).status == 0


def test_segment_pointing_past_pv_is_refused(ref):
    devs = gvg_devs(ref)
    t = lvmref.committed_text(devs[1]).rstrip(b"\0").decode()
    i = t.index("\nlin {")
    j = t.index('"pv0", 0', i)
    t = t[:j] + '"pv0", 8' + t[j + len('"pv0", 0'):]
    for d in devs:
        lvmref.rewrite_metadata(d, 4096, t)
    sh = shell_with(devs)
    r = run("vgchange -ay", sh=sh)
    assert "LV gvg/lin segment1: extents 8-9 beyond the 9 of pv0" in r.err
    assert active(sh) == []


# -- fuzzing: only DMError may come out of the parser and the assembly.

def _real_text():
    m = lvmref.load("ref")
    from dmfw.blockdev import FileDevice
    d = FileDevice(m["paths"][3], readonly=True)
    return lvmref.committed_text(d).rstrip(b"\0")


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list('ab01-+. ="\'\\#[]{},\n\t\0x')),
               max_size=200))
def test_fuzz_parser_grammar(s):
    from dmfw.lvm import text
    try:
        sec = text.parse(s)
    except DMError:
        return
    # What parses also survives a write-back.
    assert text.parse(text.dump(sec)) == sec


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 3),
                          st.binary(min_size=0, max_size=4)), max_size=6))
def test_fuzz_mutated_metadata(muts):
    from dmfw.lvm import vg as V
    data = bytearray(_TEXT[0] if _TEXT else _load_text())
    for pos, op, b in muts:
        p = pos % (len(data) + 1)
        if op == 0:
            data[p:p + len(b)] = b
        elif op == 1:
            data[p:p] = b
        elif op == 2:
            del data[p:p + len(b) + 1]
        else:
            data[p:p] = data[:len(b) * 7]
    try:
        root, vg = V.vg_from_text(bytes(data))
    except DMError:
        return
    for lv in vg.lvs:
        try:
            lv.check_activation()
        except DMError:
            pass


_TEXT = []


def _load_text():
    _TEXT.append(_real_text())
    return _TEXT[0]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 16 * 1024), st.binary(min_size=1, max_size=8)),
                min_size=1, max_size=6))
def test_fuzz_label_and_mda_bytes(pokes):
    from dmfw.lvm import scan as V, tables
    m = lvmref.load("ref")
    devs = lvmref.file_devices(m)
    a = lvmref.Overlay(devs[3])
    for off, b in pokes:
        a.poke(off, b)
    sc = V.scan([a, lvmref.Overlay(devs[4])])
    for vg in sc.vgs:
        for lv in vg.lvs:
            if lv.check_activation() is None:
                tables.node(lv).table(lambda n: "253:0")


def _with_lvs(ref, extra, edit=None):
    devs = gvg_devs(ref)
    t = lvmref.committed_text(devs[1]).rstrip(b"\0").decode()
    if edit:
        t = edit(t)
    i = t.index("logical_volumes {") + len("logical_volumes {")
    t = t[:i] + extra + t[i:]
    for d in devs:
        lvmref.rewrite_metadata(d, 4096, t)
    return shell_with(devs)


def _lv(name, n, seg, status='"READ", "WRITE", "VISIBLE"'):
    return ('\n%s {\nid = "XXXXXX-0000-0000-0000-0000-0000-00000%d"\nstatus = [%s]\n'
            'flags = []\nsegment_count = 1\nsegment1 {\nstart_extent = 0\n'
            'extent_count = 1\n%s\n}\n}\n' % (name, n, status, seg))


def test_lv_striped_over_another_lv(ref):
    sh = _with_lvs(ref, _lv("top", 1, 'type = "striped"\nstripe_count = 1\n'
                                      'stripes = ["base", 1]') +
                   _lv("base", 2, 'type = "striped"\nstripe_count = 1\nstripes = ["pv0", 7]',
                       '"READ", "WRITE"').replace("extent_count = 1", "extent_count = 2"))
    r = run("lvchange -ay gvg/top", sh=sh)
    assert r.status == 0, r.err
    assert run("dmsetup table gvg-top", sh=sh).out == "0 8192 linear %s 8192\n" % \
        sh.dm.get("gvg-base").devno()


def test_pvmove_locked_lv_is_refused(ref):
    # The first LV in gvg's metadata is lin.
    sh = _with_lvs(ref, "", lambda t: t.replace(
        '"READ", "WRITE", "VISIBLE"]', '"READ", "WRITE", "VISIBLE", "LOCKED"]', 1))
    r = run("vgchange -ay gvg", sh=sh)
    assert "is locked by a pvmove in progress" in r.err
    assert "gvg-lin" not in active(sh)


def test_snapshot_origin_and_snapshot_are_refused(ref):
    sh = _with_lvs(ref, _lv("snap", 3, 'type = "snapshot"\nchunk_size = 8\n'
                                       'origin = "lin"\ncow_store = "span"'))
    r = run("vgchange -ay gvg", sh=sh)
    assert "LV gvg/lin has a snapshot (snap), whose snapshot-origin mapping" in r.err
    assert 'LV gvg/snap uses segment type "snapshot"' in r.err
    assert active(sh) == ["gvg-span", "gvg-str"]
