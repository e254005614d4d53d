# GPT reading checked against the real tools: images made by systemd-repart
# (and sfdisk on a 4K loop device), compared with what sfdisk --json and
# sgdisk -p report for the same files.

import json
import os
import re
import shutil
import subprocess

import pytest

from dmfw.blockdev import FileDevice, MemoryDevice
from dmfw.devices import DeviceRegistry
from dmfw.disk import scan_partitions
from dmfw.disk import gpt as G
from dmfw.crc32 import crc32, crc32_table
from dmfw.disk.partitions import partition_name
from dmfw.errors import FormatError

ddi = pytest.importorskip("images.ddi")
if ddi.missing_tools():
    pytest.skip("missing %s" % ddi.missing_tools(), allow_module_level=True)

ALL = ["root", "root-arm64", "root-riscv64", "usr", "multiarch", "unsigned",
       "wrongkey", "two-roots", "full", "damaged", "root-4k", "multiarch-4k",
       "damaged-4k", "native-4k"]


def _attrs(a):
    # sfdisk prints bits 0-2 by name, the others as GUID:n.
    names = {0: "RequiredPartition", 1: "NoBlockIOProtocol", 2: "LegacyBIOSBootable"}
    out = [names[b] for b in (0, 1, 2) if a >> b & 1]
    guid = [str(b) for b in range(48, 64) if a >> b & 1]
    if guid:
        out.append("GUID:" + ",".join(guid))
    return " ".join(out) or None


@pytest.mark.parametrize("name", ALL)
def test_matches_sfdisk(name):
    m = ddi.load(name)
    with open(os.path.join(m["dir"], "sfdisk.json")) as f:
        ref = json.load(f)["partitiontable"]
    g = G.read_gpt(FileDevice(m["image"], readonly=True))
    assert g.sector_size == ref["sectorsize"] == m["sector_size"]
    assert g.disk_uuid == ref["id"].lower()
    assert (g.first_usable, g.last_usable) == (ref["firstlba"], ref["lastlba"])
    got = [(p.first_lba, p.last_lba - p.first_lba + 1, p.type_uuid, p.uuid,
            p.name, _attrs(p.attrs)) for p in g.partitions]
    want = [(p["start"], p["size"], p["type"].lower(), p["uuid"].lower(),
             p.get("name", ""), p.get("attrs")) for p in ref["partitions"]]
    assert got == want
    f = g.sector_size // 512
    for p in g.partitions:
        assert p.start == p.first_lba * f and p.nr_sectors % f == 0
    assert (g.source == "backup") == bool(m["damaged"])


@pytest.mark.parametrize("name", ["full", "damaged", "root-4k"])
def test_matches_sgdisk(name):
    m = ddi.load(name)
    with open(os.path.join(m["dir"], "sgdisk.txt")) as f:
        text = f.read()
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+ \S+\s+\S+\s+(.*)$", text, re.M)
    g = G.read_gpt(FileDevice(m["image"], readonly=True))
    assert [(p.partno, p.first_lba, p.last_lba, p.name) for p in g.partitions] == \
        [(int(a), int(b), int(c), d) for a, b, c, d in rows]
    guid = re.search(r"Disk identifier \(GUID\): (\S+)", text).group(1)
    assert g.disk_uuid == guid.lower()


def test_damaged_warns_and_uses_backup():
    m = ddi.load("damaged")
    g = G.read_gpt(FileDevice(m["image"], readonly=True))
    assert g.source == "backup"
    assert any("primary GPT is invalid (header CRC mismatch)" in w for w in g.warnings)
    good = G.read_gpt(FileDevice(ddi.load("root")["image"], readonly=True))
    assert good.warnings == [] and good.source == "primary"


def _copy(name, tmp_path):
    dst = str(tmp_path / "disk.img")
    shutil.copyfile(ddi.load(name)["image"], dst)
    return dst


def test_both_headers_damaged(tmp_path):
    img = _copy("damaged", tmp_path)
    with open(img, "r+b") as f:
        f.seek(-512 + 16, 2)
        f.write(b"\0\0\0\0")
    with pytest.raises(FormatError, match="no valid GPT"):
        G.read_gpt(FileDevice(img, readonly=True))


def test_backup_damaged_warns(tmp_path):
    img = _copy("root", tmp_path)
    with open(img, "r+b") as f:
        f.seek(-512 + 16, 2)
        f.write(b"\0\0\0\0")
    g = G.read_gpt(FileDevice(img, readonly=True))
    assert g.source == "primary"
    assert any("alternate GPT is invalid" in w for w in g.warnings)


def test_entry_crc_checked(tmp_path):
    # A changed entry without a fixed CRC is damage, not data: the backup wins.
    img = _copy("root", tmp_path)
    with open(img, "r+b") as f:
        f.seek(2 * 512 + 56)
        f.write(b"E\0v\0i\0l\0")
    g = G.read_gpt(FileDevice(img, readonly=True))
    assert g.source == "backup" and "entry array CRC" in g.warnings[0]
    assert g.partitions[0].name.endswith("root")


def test_no_protective_mbr(tmp_path):
    img = _copy("root", tmp_path)
    with open(img, "r+b") as f:
        f.seek(446 + 4)
        f.write(b"\x83")
    with pytest.raises(FormatError, match="protective MBR"):
        G.read_gpt(FileDevice(img, readonly=True))
    reg = DeviceRegistry()
    reg.add(FileDevice(img, readonly=True, name="vda", major=254))
    assert scan_partitions(reg) == [] and reg.names() == ["vda"]


def test_not_gpt():
    with pytest.raises(FormatError, match="no GPT"):
        G.read_gpt(MemoryDevice(1 << 20))


def test_labels_from_real_tools(tmp_path):
    # Non-ASCII labels written by sfdisk and (outside the BMP, a surrogate
    # pair, which sfdisk refuses) by sgdisk, read back as sfdisk reads them.
    img = _copy("root", tmp_path)
    env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8")
    for cmd in (["sfdisk", "-q", "--part-label", img, "2", "wurzel-\u00e4\u00df"],
                ["sgdisk", "-c", "3:sig-\U0001f600-x", img]):
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    ref = json.loads(subprocess.run(["sfdisk", "--json", img], env=env, check=True,
                                    stdout=subprocess.PIPE).stdout)
    g = G.read_gpt(FileDevice(img, readonly=True))
    assert [p.name for p in g.partitions] == \
        [p["name"] for p in ref["partitiontable"]["partitions"]]
    assert g.partitions[2].name == "sig-\U0001f600-x" and g.warnings == []


def test_utf16_unpaired_surrogate():
    assert G.utf16le_name(b"a\0\x00\xd8b\0\0\0") == "a\ufffdb"
    assert G.utf16le_name(b"\x00\xdcz\0") == "\ufffdz"


def test_crc32_table_matches_native():
    import binascii
    for data in (b"", b"a", b"EFI PART" * 37, bytes(range(256))):
        assert crc32_table(data) == binascii.crc32(data) == crc32(data)
    assert crc32_table(b"world", crc32_table(b"hello ")) == binascii.crc32(b"hello world")


@pytest.mark.parametrize("disk,part,name", [
    ("vda", 1, "vda1"), ("sdb", 12, "sdb12"), ("nvme0n1", 1, "nvme0n1p1"),
    ("loop0", 3, "loop0p3"), ("mmcblk0", 2, "mmcblk0p2"), ("disk.img", 1, "disk.img1")])
def test_linux_names(disk, part, name):
    assert partition_name(disk, part) == name


def test_scan_registers_linux_devnos():
    reg = DeviceRegistry()
    full = ddi.load("full")
    vda = FileDevice(full["image"], readonly=True, name="vda", major=254, minor=0)
    vdb = FileDevice(ddi.load("root")["image"], readonly=True, name="vdb",
                     major=254, minor=16)
    nv = FileDevice(ddi.load("root-4k")["image"], readonly=True, name="nvme0n1",
                    major=259, minor=0)
    for d in (vda, vdb, nv):
        reg.add(d)
    warned = []
    scan_partitions(reg, warn=warned.append)
    assert warned == []
    assert reg.get("vda1").devno() == "254:1"
    assert reg.get("/dev/vda10").devno() == "254:10"
    assert reg.get("vdb3").devno() == "254:19"
    assert reg.get("254:18").name == "vdb2"
    # nvme has no minors beyond the disk's: extended devts, as Linux.
    assert [reg.get("nvme0n1p%d" % i).major for i in (1, 2, 3)] == [259] * 3
    assert len(set(reg.get("nvme0n1p%d" % i).minor for i in (1, 2, 3))) == 3
    # A second scan adds nothing; partitions are not scanned as disks.
    assert scan_partitions(reg) == []
    p = reg.get("vda1")
    g = vda.gpt.partitions[0]
    assert (p.start, p.nr_sectors) == (g.start, g.nr_sectors)
    assert p.read(0, 8) == vda.read(g.start, 8)
    # A 4K-sector disk's partitions are addressed in 512-byte sectors.
    n1 = reg.get("nvme0n1p1")
    assert n1.start == 256 * 8 and n1.read(0, 1) == vdb.read(2048, 1)


def test_shell_attach_scans(capsys):
    from dmfw.shell import Shell
    sh = Shell()
    sh.attach("/dev/vdc", ddi.load("damaged")["image"], readonly=True)
    assert sh.devices.get("vdc3").devno() == "254:35"
    assert "primary GPT is invalid" in capsys.readouterr().err


def test_dps_table_matches_systemd():
    # The host's systemd carries the same table (`systemd-id128 show`); every
    # architecture and designator must agree, in both directions.
    from dmfw.disk import dps
    if shutil.which("systemd-id128") is None:
        pytest.skip("no systemd-id128")
    out = subprocess.run(["systemd-id128", "show", "--uuid"], check=True,
                         capture_output=True, text=True).stdout
    theirs = dict(l.split() for l in out.splitlines()[1:])
    # systemd spells var-tmp "tmp" and also lists native aliases
    # (root, root-secondary, ...) that name no new type.
    mine = {}
    for a in dps.architectures():
        for d in dps.ARCH_DESIGNATORS:
            base, _, rest = d.partition("-")
            mine["%s-%s%s" % (base, a, "-" + rest if rest else "")] = dps.type_uuid(d, a)
    for name, u in dps.OTHER_TYPES:
        mine["tmp" if name == "var-tmp" else name] = u
    aliases = set("%s%s%s" % (b, s, v) for b in ("root", "usr") for s in ("", "-secondary")
                  for v in ("", "-verity", "-verity-sig"))
    assert set(theirs) - set(mine) <= aliases
    assert {k: theirs[k] for k in theirs if k in mine} == mine
    for k, u in mine.items():
        d = dps.lookup(u)
        assert d is not None and (d[1] is None or d[1] in k)
