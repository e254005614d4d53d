# dmfw's LVM2 against the real lvm2: PVs made by lvm2 (images/lvm.py), and
# lvm2's own reports of them. Expected tables are derived from lvm2's
# segment report (devices, PE numbers, stripes), not from dmfw's reading of
# the metadata.


import pytest

import lvmref
from shellrun import run, new_shell


@pytest.fixture(scope="module")
def ref():
    return lvmref.load("ref")


def _report(m, key, kind):
    return m["reports"][key]["report"][0][kind]


def expected_tables(m):
    """{dm name: [table line]} from lvm2's `lvs --segments` report."""
    pe_start = {}
    for p in _report(m, "pvs", "pv"):
        pe_start[p["pv_name"]] = int(p["pe_start"])
    es = {}
    for v in _report(m, "vgs", "vg"):
        es[v["vg_name"]] = int(v["vg_extent_size"])
    out = {}
    for s in _report(m, "segs", "seg"):
        e = es[s["vg_name"]]
        start = int(s["seg_start_pe"]) * e
        length = int(s["seg_size_pe"]) * e
        areas = []
        for d in s["devices"].split(","):
            dev, pe = d[:-1].split("(")
            ma, mi = lvmref.devno(dev[5:])
            areas.append("%d:%d %d" % (ma, mi, pe_start[dev] + int(pe) * e))
        if s["segtype"] == "linear":
            line = "%d %d linear %s" % (start, length, areas[0])
        else:
            assert s["segtype"] == "striped"
            line = "%d %d striped %s %s %s" % (start, length, s["stripes"],
                                                s["stripe_size"], " ".join(areas))
        name = s["vg_name"].replace("-", "--") + "-" + s["lv_name"].replace("-", "--")
        out.setdefault(name, []).append(line)
    for v in out.values():
        v.sort(key=lambda l: int(l.split()[0]))
    return out


def shell(m, skip=(), stamped=False):
    sh = new_shell()
    pe = {}
    for p in _report(m, "pvs", "pv"):
        pe[p["pv_name"][5:]] = (int(p["pe_start"]), int(p["pe_start"]) +
                                int(p["pv_pe_count"]) * 2048 * 4)
    devs = lvmref.file_devices(m, skip)
    for d in devs:
        if stamped:
            d = lvmref.StampDevice(d.path, d.name, pe[d.name][0], d.nr_sectors)
        sh.devices.add(d)
    return sh


def test_tables_match_lvm2_segment_report(ref):
    sh = shell(ref)
    r = run("vgchange -ay", sh=sh)
    assert r.status == 0, r.err
    assert r.err == ""
    assert r.out == ('  3 logical volume(s) in volume group "gvg" now active\n'
                     '  6 logical volume(s) in volume group "vg-one" now active\n')
    want = expected_tables(ref)
    got = {}
    for line in run("dmsetup table", sh=sh).out.splitlines():
        name, rest = line.split(": ", 1)
        got.setdefault(name, []).append(rest)
    assert got == want
    # lvm2's segment report shows the kinds the recipe asked for.
    kinds = set((s["segtype"], s["stripes"], s["stripe_size"])
                for s in _report(ref, "segs", "seg"))
    assert ("striped", "3", "8") in kinds and ("striped", "2", "1024") in kinds
    assert len(want["vg--one-grown--lv"]) > 5          # grown, spanning 3 PVs


def test_dm_uuids_and_aliases(ref):
    sh = shell(ref)
    run("vgchange -ay", sh=sh)
    lvs = _report(ref, "segs", "seg")
    for s in lvs:
        name = s["vg_name"].replace("-", "--") + "-" + s["lv_name"].replace("-", "--")
        md = sh.dm.get(name)
        assert md.uuid == "LVM-" + s["vg_uuid"].replace("-", "") + \
            s["lv_uuid"].replace("-", "")
        assert sh.devices.get("/dev/%s/%s" % (s["vg_name"], s["lv_name"])) is md
        assert sh.devices.get("/dev/mapper/" + name) is md
        assert md.nr_sectors == int(s["lv_size"])


@pytest.mark.parametrize("key,cmd", [
    ("pvs", "pvs"), ("vgs", "vgs"), ("lvs", "lvs"), ("lvs_segments", "lvs --segments"),
    ("lvs_o", "lvs -o lv_name,lv_size,seg_count,lv_uuid --units k"),
    ("pvs_o", "pvs -o pv_name,pv_uuid,pe_start,pv_pe_count,pv_pe_alloc_count"),
    ("vgs_o", "vgs -o vg_name,vg_uuid,vg_seqno,vg_extent_size,vg_free --units m"),
    ("pvscan", "pvscan"), ("vgscan", "lvm vgscan"),
])
def test_reports_match_lvm2(ref, key, cmd):
    # On the host lvm2 cannot ask dm about state and prints X for it; with
    # dm present and the LVs inactive it prints '-'.
    want = ref["text"][key].replace("-XX-", "----")
    r = run(cmd, sh=shell(ref))
    assert r.status == 0 and r.err == ""
    if key == "pvscan":
        # The host's lvm2 (2.03.16) pads the VG column for its internal
        # orphan VG name too; dmfw follows 2.03.31 (the guest test compares
        # that byte for byte).
        r.out = "\n".join([" ".join(l.split()) for l in r.out.split("\n")])
        want = "\n".join([" ".join(l.split()) for l in want.split("\n")])
    assert r.out == want


def test_report_after_activation(ref):
    sh = shell(ref)
    run("lvchange -ay vg-one/str-3 /dev/gvg/span", sh=sh)
    out = run("lvs -o lv_name,vg_name,lv_attr,lv_active,lv_dm_path,lv_path", sh=sh).out
    rows = [l.split() for l in out.splitlines()]
    assert rows[0] == ["LV", "VG", "Attr", "Active", "DMPath", "Path"]
    assert ["str-3", "vg-one", "-wi-a-----", "active", "/dev/mapper/vg--one-str--3",
            "/dev/vg-one/str-3"] in rows
    assert ["span", "gvg", "-wi-a-----", "active", "/dev/mapper/gvg-span",
            "/dev/gvg/span"] in rows
    assert ["lin", "gvg", "-wi-------", "/dev/mapper/gvg-lin", "/dev/gvg/lin"] in rows


def test_ring_buffer_wrapped_and_newest_copy(ref):
    from dmfw.lvm import disk, scan as V
    devs = lvmref.file_devices(ref)
    lab = disk.read_label(devs[0], lambda w: None)
    # pvcreate --pvmetadatacopies 2: one area at the start, one at the end.
    assert len(lab.mdas) == 2
    assert lab.mdas[0].offset == 4096 and lab.mdas[1].offset > lab.dev_size // 2
    assert all(m.wrapped for m in lab.mdas), "recipe must leave a wrapped copy"
    sc = V.scan(devs)
    assert sc.warnings == []
    seq = dict((v["vg_name"], int(v["vg_seqno"])) for v in _report(ref, "vgs", "vg"))
    assert dict((v.name, v.seqno) for v in sc.vgs) == seq
    assert seq["vg-one"] > 40                      # many revisions went round
    # Every copy of vg-one (4 areas on 3 PVs) agrees.
    assert len(sc.vg("vg-one").copies) == 4
    assert ref["wrap_renames"] >= 1


def test_read_through_lvs_maps_every_sector_as_lvm2_says(ref):
    sh = shell(ref, stamped=True)
    assert run("vgchange -ay", sh=sh).status == 0
    want = expected_tables(ref)
    for name, lines in sorted(want.items()):
        md = sh.dm.get(name)
        data = md.read(0, md.nr_sectors)
        for line in lines:
            f = line.split()
            start, length = int(f[0]), int(f[1])
            if f[2] == "linear":
                n, chunk, areas = 1, length, [(f[3], int(f[4]))]
            else:
                n, chunk = int(f[3]), int(f[4])
                areas = [(f[5 + 2 * i], int(f[6 + 2 * i])) for i in range(n)]
            for off in range(0, length, 61):       # a spread of sectors
                c = off // chunk
                dev, base = areas[c % n]
                s = (c // n) * chunk + off % chunk + base
                loop = "loop%s" % dev.split(":")[1]
                got = bytes(data[(start + off) * 512:(start + off + 1) * 512])
                assert got == lvmref.stamp(loop, s), (name, off)


def test_deactivate(ref):
    sh = shell(ref)
    run("vgchange -ay", sh=sh)
    r = run("lvchange -an vg-one/lin", sh=sh)
    assert r.status == 0 and r.out == "" and r.err == ""
    assert sh.devices.find("/dev/vg-one/lin") is None
    assert sh.devices.find("/dev/mapper/vg--one-lin") is None
    r = run("vgchange -an gvg", sh=sh)
    assert r.out == '  0 logical volume(s) in volume group "gvg" now active\n'
    assert [m.dm_name for m in sh.dm.list()] == [
        "vg--one-grown--lv", "vg--one-s3x", "vg--one-str--3", "vg--one-str2",
        "vg--one-str512"]
    # Activating twice is not an error (lvm2 leaves an active LV alone).
    assert run("vgchange -ay vg-one", sh=sh).status == 0
    # An LV in use stays.
    sh.dm.create("user", None, "0 8 linear /dev/vg-one/lin 0")
    r = run("lvchange -an vg-one/lin", sh=sh)
    assert r.status == 5 and "Logical volume vg-one/lin in use." in r.err
    assert sh.devices.find("/dev/vg-one/lin") is not None


def test_missing_pv_blocks_only_lvs_that_need_it(ref):
    # loop index 2 of the set is vg-one's third PV (pv2 in the recipe).
    missing = ref["loops"][2]
    sh = shell(ref, skip=(missing,))
    r = run("vgchange -ay vg-one", sh=sh)
    assert r.status == 5
    assert "WARNING: Couldn't find device with uuid" in r.err
    assert "WARNING: VG vg-one is missing PV" in r.err
    for lv in ("str-3", "str512", "grown-lv", "s3x"):
        assert ("Refusing activation of partial LV vg-one/%s.  Use '--activationmode "
                "partial' to override." % lv) in r.err
        assert sh.devices.find("/dev/vg-one/" + lv) is None
    assert '  2 logical volume(s) in volume group "vg-one" now active\n' == r.out
    assert sh.devices.find("/dev/vg-one/lin") is not None
    assert sh.devices.find("/dev/vg-one/str2") is not None
    out = run("vgs vg-one", sh=sh).out
    assert "wz-pn-" in out
    out = run("pvs", sh=sh).out
    assert "  [unknown]  vg-one lvm2 a-m" in out
    out = run("lvs vg-one/str-3", sh=sh).out
    assert "-wi-----p-" in out


def test_lvm_prefix_and_errors(ref):
    sh = shell(ref)
    assert run("lvm vgs gvg", sh=sh).out == run("vgs gvg", sh=sh).out
    r = run("vgchange -ay nosuch", sh=sh)
    assert r.status == 5 and 'Volume group "nosuch" not found' in r.err
    r = run("lvchange -ay gvg/nosuch", sh=sh)
    assert r.status == 5 and 'Failed to find logical volume "gvg/nosuch"' in r.err
    r = run("lvs -o frob", sh=sh)
    assert r.status == 1 and "Unrecognised field: frob" in r.err
    r = run("vgchange", sh=sh)
    assert r.status == 1 and "-ay or -an" in r.err
    assert sh.dm.list() == []


def test_pv_on_a_gpt_partition(ref, tmp_path):
    # gvg's first PV copied into partition 1 of a GPT disk: the scan finds it
    # on vda1, not on the whole disk.
    import os
    import shutil
    import subprocess
    sgdisk = shutil.which("sgdisk") or "/usr/sbin/sgdisk"
    if not os.path.exists(sgdisk):
        pytest.skip("sgdisk (gdisk) not installed")
    disk = str(tmp_path / "disk.img")
    with open(disk, "wb") as f:
        f.truncate(48 << 20)
    subprocess.run([sgdisk, "-n", "1:2048:+42M", disk], check=True, capture_output=True)
    with open(ref["paths"][3], "rb") as src, open(disk, "r+b") as dst:
        off = 0
        while True:
            b = src.read(1 << 20)
            if not b:
                break
            if b.count(0) != len(b):
                dst.seek((1 << 20) + off)
                dst.write(b)
            off += len(b)
    sh = new_shell([("/dev/vda", disk)])
    sh.devices.add(lvmref.file_devices(ref)[4])
    r = run("pvs -o pv_name,vg_name", sh=sh)
    assert r.out.split()[2:] == ["/dev/%s" % ref["loops"][4], "gvg", "/dev/vda1", "gvg"]
    assert run("vgchange -ay gvg", sh=sh).status == 0
    vda1 = sh.devices.get("vda1")
    assert run("dmsetup table gvg-lin", sh=sh).out == "0 16384 linear %s 2048\n" % vda1.devno()
