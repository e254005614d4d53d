"""lvrename (dmfw.lvm.commit) against the real lvm2 (host, metadata only) on copies of
the reference PVs (images/lvm.py): the same refusals, messages and exit codes as lvm2's
lvrename; after a dmfw rename lvm2's own reports equal those after lvm2's rename; many
renames wrap every metadata ring; a power cut at each write leaves a VG lvm2 and dmfw
read alike, with the old or the new name; the same commit from the real MicroPython."""
import hashlib
import os

import pytest

import lvmref
from dmfw.blockdev import FileDevice
from dmfw.errors import DMError, IOFailure
from shellrun import run, run_micropython

VG = "vg-one"


@pytest.fixture(scope="module")
def ref():
    return lvmref.load("ref")


def _copy(src, dst):
    # Sparse copy: the reference PVs are mostly holes, and power-cut runs make many.
    with open(src, "rb") as f, open(dst, "wb") as g:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            if b.count(0) == len(b):
                g.seek(len(b), 1)
            else:
                g.write(b)
        g.truncate(f.tell())


def _copies(ref, d, tag=""):
    os.makedirs(str(d), exist_ok=True)
    out = []
    for p in ref["paths"]:
        q = os.path.join(str(d), tag + os.path.basename(p))
        _copy(p, q)
        out.append(q)
    return out


def _disks(ref, paths):
    # Named after the loops lvm2 made them on, as the other LVM tests do.
    return [("/dev/" + loop, p) for loop, p in zip(ref["loops"], paths)]


def _digest(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def _noise(line):
    # lvm2 without dm (host) and without backups (its private lvm.conf).
    return "Activation disabled" in line or "NOT backed up" in line


def _lvm2(paths, cmd, readonly=True):
    from images import lvm
    p = lvm.host_lvm(paths, cmd, readonly)
    err = [line for line in p.stderr.splitlines() if not _noise(line)]
    return p.returncode, p.stdout, err


def _report(paths):
    """lvm2's view of the VG: every LV with its segments, and the seqno; vgck must
    find nothing to say."""
    st, out, err = _lvm2(paths, "lvs --noheadings -a --segments -o lv_name,lv_uuid,"
                         "seg_start_pe,seg_size_pe,segtype,devices,lv_size %s" % VG)
    assert st == 0 and not err, err
    st2, seq, err2 = _lvm2(paths, "vgs --noheadings -o vg_seqno %s" % VG)
    assert st2 == 0 and not err2, err2
    st3, _, err3 = _lvm2(paths, "vgck %s" % VG)
    assert st3 == 0 and not err3, err3
    return sorted(line.split() for line in out.splitlines()), int(seq)


CASES = [
    "vg-one str2 renamed", "vg-one/str2 renamed", "vg-one/str2 vg-one/renamed",
    "/dev/vg-one/str2 renamed", "vg-one str2 /dev/vg-one/renamed",
    "vg-one str2 ''", "vg-one str2 a/b", "vg-one str2 snapshotx", "vg-one str2 x_mimage_1",
    "vg-one str2 x_tdata", "vg-one str2 " + "x" * 120, "vg-one str2 " + "y" * 119,
    "vg-one str2 .", "vg-one str2 ..", "vg-one str2 str512", "vg-one nope x",
    "vg-two str2 x", "vg-one/str2 gvg/x", "vg-one str2", "vg-one", "vg-one str2 str2",
    "vg-one str2 'a b'", "vg-one str2 'y@'", "gvg vg-one/str2 x", "vg@ str2 x",
    "vg-one str2 snapshot@", "vg-one grown-lv lin", "gvg span gvg-span",
]


@pytest.mark.parametrize("args", CASES)
def test_lvrename_as_lvm2(ref, tmp_path, args):
    mine = _copies(ref, tmp_path / "dmfw")
    theirs = _copies(ref, tmp_path / "lvm2")
    before = _digest(mine)
    r = run("lvrename " + args, _disks(ref, mine))
    st, out, err = _lvm2(theirs, "lvrename --driverloaded n " + args, readonly=False)
    assert (r.status, r.out, r.err.splitlines()) == (st, out, err)
    if st:
        assert _digest(mine) == before, "a refused rename wrote"
    else:
        # lvm2 reads dmfw's commit exactly as its own.
        assert _report(mine) == _report(theirs)


def test_many_renames_wrap_every_ring(ref, tmp_path):
    from images.lvm import _wraps
    paths = _copies(ref, tmp_path)
    lvs0, seq0 = _report(paths)
    name = "str2"
    wrapped = False
    for i in range(40):
        new = "r%d-%s" % (i, "z" * (i % 17))
        r = run("lvrename %s %s %s" % (VG, name, new), _disks(ref, paths))
        assert r.status == 0 and not r.err, r
        name = new
        wrapped = wrapped or _wraps(paths[0])
        if i % 10 == 9:
            lvs, seq = _report(paths)
            assert seq == seq0 + i + 1
            assert name in [row[0] for row in lvs]
    assert wrapped, "the ring on pv0 never wrapped: the test lost its point"
    r = run("lvs -o lv_name --noheadings " + VG, _disks(ref, paths))
    assert name in r.out.split()


class CutAfter(FileDevice):
    """A PV whose writes stop (EIO) once a shared budget of writes is spent: the
    power going in the middle of a commit."""

    def __init__(self, path, name, budget):
        ma, mi = lvmref.devno(name)
        FileDevice.__init__(self, path, name=name, major=ma, minor=mi)
        self.budget = budget

    def _write(self, sector, mv):
        if self.budget[0] is not None:
            if self.budget[0] <= 0:
                raise IOFailure("%s: power cut" % self.name)
            self.budget[0] -= 1
        FileDevice._write(self, sector, mv)


def _cut_rename(ref, paths, budget, old="str2", new="cut", order=1):
    from dmfw.lvm import scan as lvmscan
    from dmfw.lvm.commit import rename_lv
    devs = [CutAfter(p, loop, budget) for p, loop in zip(paths, ref["loops"])]
    try:
        sc = lvmscan.scan(devs[::order])
        rename_lv(sc, sc.vg(VG), old, new)
    finally:
        for d in devs:
            d.close()


def _names_both(ref, paths):
    st, out, err = _lvm2(paths, "lvs --noheadings -o lv_name %s" % VG)
    assert st == 0, err
    r = run("lvs --noheadings -o lv_name " + VG, _disks(ref, paths))
    assert r.status == 0, r
    assert sorted(out.split()) == sorted(r.out.split())
    return out.split()


def test_power_cut_at_every_write(ref, tmp_path):
    paths = _copies(ref, tmp_path / "count")
    spent = [None]
    _cut_rename(ref, paths, spent)
    budget = [1000]
    paths = _copies(ref, tmp_path / "count2")
    _cut_rename(ref, paths, budget)
    writes = 1000 - budget[0]
    assert writes >= 8      # four metadata areas: texts, then headers
    seen = set()
    for k in range(writes):
        paths = _copies(ref, tmp_path / ("cut%d" % k))
        with pytest.raises(DMError):
            _cut_rename(ref, paths, [k])
        names = _names_both(ref, paths)
        got = [n for n in ("str2", "cut") if n in names]
        assert len(got) == 1, (k, names)
        seen.add(got[0])
        # The next commit starts from the newest copy, wherever it is (scanned in
        # the other order: the last PV written comes first), and leaves a clean VG.
        _cut_rename(ref, paths, [None], got[0], "again", order=-1)
        lvs, _ = _report(paths)
        assert "again" in [row[0] for row in lvs]
        for p in paths:
            os.unlink(p)
    assert seen == {"str2", "cut"}


@pytest.mark.micropython
def test_rename_under_micropython(ref, tmp_path):
    paths = _copies(ref, tmp_path / "mp")
    theirs = _copies(ref, tmp_path / "lvm2")
    r = run_micropython("lvrename vg-one str-3 s3-mp\nlvrename vg-one nope x",
                        _disks(ref, paths))
    assert r.out == '  Renamed "str-3" to "s3-mp" in volume group "vg-one"\n', r
    assert 'Existing logical volume "nope" not found in volume group "vg-one"' in r.err
    st, _, err = _lvm2(theirs, "lvrename --driverloaded n vg-one str-3 s3-mp",
                       readonly=False)
    assert st == 0, err
    assert _report(paths) == _report(theirs)
