"""The bare-metal session's disks: the plugin's pattern disks (vda, vdb; vdc fails
reads at sector 2048), a dm-verity image made by the real veritysetup with its FEC in
the same file (vdd) and a copy with one data byte flipped (vde), and the three PVs of
the VG `vg-one` made by the real lvm2 (vdf, vdg, vdh).  The cached reference images are
attached read-only."""
import os
import shutil

import pytest

from harness.guest import Disk
from harness.pytest_plugin import bare_metal_pattern_disks

VERITY = "v0-sha256-4096-4096-sb-offset-r2"
CORRUPT_BLOCK = 5           # the data block whose byte CORRUPT_BYTE is flipped
CORRUPT_BYTE = 1000
LVM_VG = "vg-one"


@pytest.fixture(scope="session")
def bm_refs(tmp_path_factory):
    from images import verity as iv
    import lvmref
    why = iv.missing_tools()
    if why and not os.environ.get("CI"):
        pytest.skip("the reference verity images need %s" % ", ".join(why))
    folder = str(tmp_path_factory.mktemp("bm-refs"))
    d, infos = iv.load("matrix")
    info = [i for i in infos if i["name"] == VERITY][0]
    image = os.path.join(d, VERITY, info["data_file"])
    bad = os.path.join(folder, "verity-corrupt.img")
    shutil.copyfile(image, bad)
    with open(bad, "r+b") as f:
        f.seek(CORRUPT_BLOCK * info["dbs"] + CORRUPT_BYTE)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xff]))
    lvm = lvmref.load("ref")
    pvs = [i for i, p in enumerate(lvm["reports"]["pvs"]["report"][0]["pv"])
           if p["vg_name"] == LVM_VG]
    return {"verity": info, "verity_image": image, "verity_corrupt": bad,
            "lvm": lvm, "lvm_pvs": [lvm["paths"][i] for i in pvs],
            "lvm_loops": [lvm["loops"][i] for i in pvs]}


@pytest.fixture(scope="session")
def baremetal_disks(tmp_path_factory, bm_refs):
    disks = bare_metal_pattern_disks(str(tmp_path_factory.mktemp("bm-disks")))
    disks.append(("vdd", Disk(bm_refs["verity_image"], readonly=True)))
    disks.append(("vde", Disk(bm_refs["verity_corrupt"], readonly=True)))
    for name, path in zip(("vdf", "vdg", "vdh"), bm_refs["lvm_pvs"]):
        disks.append((name, Disk(path, readonly=True)))
    return disks
