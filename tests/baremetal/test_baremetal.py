"""dmfw as real firmware: frozen into MicroPython on QEMU's RISC-V `virt` machine with
nothing underneath (images/baremetal.py), reaching its disks through its own polled
virtio-blk driver (dmfw/platform/virtio_blk.py).

The oracle is the host, over the very image files QEMU serves: their bytes hashed
here, the table lines the kernel prints (derived from the real tools' reports, as the
guest tests do), and dmfw's own shell on CPython over the same files.  The verity image
is the real veritysetup's, the PVs the real lvm2's (tests/baremetal/conftest.py).
"""
import hashlib
import re

import pytest

from conftest import CORRUPT_BLOCK, LVM_VG
from shellrun import new_shell, run

pytestmark = pytest.mark.baremetal

# What the firmware names its disks and numbers them (Linux's virtio-blk numbers).
NAMES = ("vda", "vdb", "vdc", "vdd", "vde", "vdf", "vdg", "vdh")


def devno(name):
    return "254:%d" % (16 * NAMES.index(name))


def host_bytes(bm, name, start=0, count=None):
    with open(bm.disks[name], "rb") as f:
        f.seek(start * 512)
        return f.read(-1 if count is None else count * 512)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def fw_sha(bm, dev, start=None, count=None):
    """(sha256 hex or None, status, output) of a device or a sector range of it."""
    cmd = "sha256sum %s" % dev if start is None else "sha256sum %s %d %d" % (dev, start, count)
    out, st = bm.fw.run(cmd, timeout=120)
    m = re.match(r"([0-9a-f]{64})  ", out)
    return (m.group(1) if m and st == 0 else None), st, out


def host_shell(bm):
    """dmfw's shell on CPython with the session's image files as the same disks."""
    sh = new_shell()
    for name in NAMES:
        if name in bm.disks:
            sh.attach("/dev/" + name, bm.disks[name], readonly=True)
    return sh


def test_boots_to_the_shell_with_every_disk_named_in_order(baremetal):
    bm = baremetal
    banner = bm.guest.banner
    assert banner.startswith("dmfw bare-metal firmware (virt with rv32imac)\n"), banner
    assert bm.guest.boot_seconds < 20
    got = re.findall(r"^(vd[a-z]): (\d+) sectors \((\d+:\d+)\)(, read-only)?, virtio-mmio v1",
                     banner, re.M)
    want = []
    for name in NAMES:
        path = bm.disks[name]
        with open(path, "rb") as f:
            size = f.seek(0, 2) // 512
        ro = [d for n, d in bm.named if n == name][0].readonly
        want.append((name, str(size), devno(name), ", read-only" if ro else ""))
    assert got == want
    out, st = bm.fw.run("ls /dev; blockdev --getsz /dev/vdb; blockdev --getro /dev/vdd")
    assert st == 0
    assert out.split() == list(NAMES) + [str(8 << 11), "1"]


def test_a_firmware_built_without_trust_trusts_nothing(baremetal):
    # Firmwares share one build tree: a certificate built into an earlier one must not
    # stay frozen in the next (test_baremetal_boot builds one with --trust).
    assert baremetal.fw.run("keyring list") == ("", 0)


def test_raw_disks_read_what_the_host_wrote(baremetal):
    bm = baremetal
    for name, start, count in (("vda", 0, None), ("vdb", 777, 4097), ("vdd", 3, 5)):
        data = host_bytes(bm, name, start, count)
        h, st, out = fw_sha(bm, "/dev/" + name, None if count is None else start, count)
        assert (h, st) == (sha(data), 0), out


TABLES = [
    ("lin", "0 2048 linear /dev/vda 1024", "0 2048 linear 254:0 1024"),
    ("cat", "0 1000 linear /dev/vdb 24\n1000 3000 linear 254:0 5000",
     "0 1000 linear 254:16 24\n1000 3000 linear 254:0 5000"),
    ("zer", "0 4096 zero", "0 4096 zero"),
    ("err", "0 64 error", "0 64 error"),
    ("str", "0 6144 striped 3 128 /dev/vda 100 /dev/vdb 0 /dev/vda 9000",
     "0 6144 striped 3 128 254:0 100 254:16 0 254:0 9000"),
    ("mix", "0 100 linear /dev/vdb 0\n100 50 zero\n150 10 error",
     "0 100 linear 254:16 0\n100 50 zero\n150 10 error"),
]


def _striped_bytes(bm, length, chunk, legs):
    out = bytearray()
    for s in range(0, length, chunk):
        n = s // chunk
        dev, off = legs[n % len(legs)]
        out += host_bytes(bm, dev, off + (n // len(legs)) * chunk, min(chunk, length - s))
    return bytes(out)


def _expected_bytes(bm, name):
    if name == "lin":
        return host_bytes(bm, "vda", 1024, 2048)
    if name == "cat":
        return host_bytes(bm, "vdb", 24, 1000) + host_bytes(bm, "vda", 5000, 3000)
    if name == "zer":
        return bytes(4096 * 512)
    if name == "str":
        return _striped_bytes(bm, 6144, 128, [("vda", 100), ("vdb", 0), ("vda", 9000)])
    return None


def test_dmsetup_tables_and_mapped_bytes_as_on_the_host(baremetal):
    bm = baremetal
    sh = host_shell(bm)
    for name, table, want in TABLES:
        out, st = bm.fw.run("dmsetup create %s --table $'%s'" % (name, table.replace("\n", "\\n")))
        assert st == 0, out
        r = run("dmsetup create %s --table $'%s'" % (name, table.replace("\n", "\\n")), sh=sh)
        assert r.status == 0, r.err
    out, st = bm.fw.run("dmsetup table")
    assert st == 0
    # dmsetup prints a target's parameters after a space, also when there are none.
    want = "".join("%s: %s%s\n" % (n, l, " " if l.split()[2] in ("zero", "error") else "")
                   for n, _t, w in sorted(TABLES) for l in w.split("\n"))
    assert out == want
    assert out == run("dmsetup table", sh=sh).out
    for cmd in ("dmsetup ls", "dmsetup status", "dmsetup info -c", "dmsetup deps"):
        out, st = bm.fw.run(cmd)
        assert st == 0 and out == run(cmd, sh=sh).out, cmd
    for name, _t, _w in TABLES:
        data = _expected_bytes(bm, name)
        if data is None:
            continue
        h, st, out = fw_sha(bm, "/dev/mapper/" + name)
        assert (h, st) == (sha(data), 0), (name, out)
    # error: every read fails, as the kernel's dm-error does (EIO)
    h, st, out = fw_sha(bm, "/dev/mapper/err", 0, 8)
    assert h is None and st != 0 and out.startswith("sha256sum: "), out
    h, st, out = fw_sha(bm, "/dev/mapper/mix", 0, 150)
    assert h == sha(host_bytes(bm, "vdb", 0, 100) + bytes(50 * 512)), out
    h, st, out = fw_sha(bm, "/dev/mapper/mix", 140, 20)
    assert h is None and st != 0, out
    # refusals as on the host
    for cmd in ("dmsetup create lin --table '0 8 zero'",
                "dmsetup create big --table '0 99999 linear /dev/vdb 0'",
                "dmsetup create nodev --table '0 8 linear /dev/vdz 0'",
                "dmsetup create odd --table '0 100 striped 2 128 /dev/vda 0 /dev/vdb 0'",
                "dmsetup remove vda"):
        out, st = bm.fw.run(cmd)
        r = run(cmd, sh=sh)
        assert st == r.status != 0 and out == r.out + r.err, (cmd, out, r)


def test_write_through_a_linear_mapping_reaches_the_image_file(baremetal):
    bm = baremetal
    before = host_bytes(bm, "vdb", 100, 16)
    out, st = bm.fw.run("dmsetup create w --table '0 64 linear /dev/vda 12000'; "
                        "dd if=/dev/vdb of=/dev/mapper/w bs=512 skip=100 seek=8 count=16 "
                        "status=none; blockdev --flushbufs /dev/mapper/w")
    assert st == 0, out
    assert host_bytes(bm, "vda", 12008, 16) == before
    h, st, out = fw_sha(bm, "/dev/vda", 12008, 16)
    assert h == sha(before)


def test_virtio_io_error_is_eio_and_only_where_the_disk_fails(baremetal):
    bm = baremetal
    h, st, out = fw_sha(bm, "/dev/vdc", 0, 2048)
    assert h == sha(host_bytes(bm, "vdc", 0, 2048)), out
    h, st, out = fw_sha(bm, "/dev/vdc", 2040, 16)
    assert h is None and st != 0, out
    assert "vdc: I/O error reading sector 2040" in out, out
    out, st = bm.fw.run("dmsetup create f --table '0 4096 linear /dev/vdc 0'; "
                        "sha256sum /dev/mapper/f 0 8; echo $?; sha256sum /dev/mapper/f 2048 1")
    assert st == 1 and out.endswith("\n0\nsha256sum: vdc: I/O error reading sector 2048\n"), out


def _verity_args(info):
    from images import verity as iv
    return [a if a != "FEC" else "/dev/vdd" for a in iv._open_args(info)]


def test_verity_opens_with_the_right_root_hash_only(baremetal, bm_refs):
    from images import verity as iv
    bm = baremetal
    info = bm_refs["verity"]
    args = " ".join(a for a in _verity_args(info) if not a.startswith("--fec")
                    and a not in ("/dev/vdd", str(info["roots"]), str(info["fec_offset"])))
    out, st = bm.fw.run("veritysetup open /dev/vdd v /dev/vdd %s %s" % (info["root"], args))
    assert st == 0, out
    out, st = bm.fw.run("dmsetup table v")
    assert out.strip() == iv.expected_table(info, "254:48", "254:48")
    data = host_bytes(bm, "vdd", 0, info["length"])
    h, st, out = fw_sha(bm, "/dev/mapper/v")
    assert (h, st) == (sha(data), 0), out
    out, st = bm.fw.run("dmsetup status v")
    assert out.strip() == "0 %d verity V" % info["length"], out
    bm.fw.run("dmsetup remove v")
    # A wrong root hash: whatever the open says (the host's dmfw is the oracle for
    # that), no byte of the device is readable.
    wrong = ("0" if info["root"][0] != "0" else "1") + info["root"][1:]
    cmd = "veritysetup open /dev/vdd v /dev/vdd %s %s" % (wrong, args)
    out, st = bm.fw.run(cmd)
    r = run(cmd, sh=host_shell(bm))
    assert (out, st) == (r.out + r.err, r.status)
    if st == 0:
        for start in (0, 8 * CORRUPT_BLOCK, info["length"] - 8):
            h, st, out = fw_sha(bm, "/dev/mapper/v", start, 8)
            assert h is None and st == 1 and "is corrupted" in out, out
        out, st = bm.fw.run("dmsetup status v")
        assert out.strip() == "0 %d verity C" % info["length"], out


def test_verity_corrupt_block_is_eio_and_fec_repairs_it(baremetal, bm_refs):
    from images import verity as iv
    bm = baremetal
    info = bm_refs["verity"]
    dbs = info["dbs"] // 512
    full = _verity_args(info)
    plain = [a for a in full if not a.startswith("--fec")
             and a not in ("/dev/vdd", str(info["roots"]), str(info["fec_offset"]))]
    out, st = bm.fw.run("veritysetup open /dev/vde v /dev/vde %s %s"
                        % (info["root"], " ".join(plain)))
    assert st == 0, out
    good = host_bytes(bm, "vdd", 0, info["length"])
    for block in range(info["blocks"]):
        if block in (CORRUPT_BLOCK - 1, CORRUPT_BLOCK, CORRUPT_BLOCK + 1, 0,
                     info["blocks"] - 1):
            h, st, out = fw_sha(bm, "/dev/mapper/v", block * dbs, dbs)
            if block == CORRUPT_BLOCK:
                assert h is None and st == 1 and out == (
                    "sha256sum: vde: data block %d is corrupted\n" % CORRUPT_BLOCK), out
            else:
                assert h == sha(good[block * info["dbs"]:(block + 1) * info["dbs"]]), out
    out, st = bm.fw.run("dmsetup status v")
    assert out.strip() == "0 %d verity C" % info["length"], out
    bm.fw.run("dmsetup remove v")
    # With its FEC (in the same file, as the real veritysetup wrote it) the same
    # corrupt copy reads back whole.
    fec = " ".join(a if a != "/dev/vdd" else "/dev/vde" for a in full)
    out, st = bm.fw.run("veritysetup open /dev/vde v /dev/vde %s %s" % (info["root"], fec))
    assert st == 0, out
    out, st = bm.fw.run("dmsetup table v")
    assert out.strip() == iv.expected_table(info, "254:64", "254:64", "254:64")
    h, st, out = fw_sha(bm, "/dev/mapper/v")
    assert (h, st) == (sha(good), 0), out


def test_lvm_activation_of_lvm2s_pvs(baremetal, bm_refs):
    from test_lvm import expected_tables
    bm = baremetal
    lvm = bm_refs["lvm"]
    ours = dict(("7:%d " % int(l[4:]), devno(n) + " ")
                for l, n in zip(bm_refs["lvm_loops"], ("vdf", "vdg", "vdh")))
    want = {}
    for name, lines in expected_tables(lvm).items():
        if not name.startswith(LVM_VG.replace("-", "--") + "-"):
            continue
        for line in lines:
            for loop, vd in ours.items():
                line = line.replace(" " + loop, " " + vd)
            want.setdefault(name, []).append(line)
    out, st = bm.fw.run("vgchange -ay " + LVM_VG, timeout=120)
    assert st == 0, out
    assert out == '  %d logical volume(s) in volume group "%s" now active\n' % (
        len(want), LVM_VG), out
    out, st = bm.fw.run("dmsetup table")
    got = {}
    for line in out.splitlines():
        name, rest = line.split(": ", 1)
        got.setdefault(name, []).append(rest)
    assert got == want
    out, st = bm.fw.run("lvs " + LVM_VG)
    ref = lvm["text"]["lvs"].replace("-XX-", "----")
    rows = [l.split()[:2] for l in out.splitlines()]
    assert rows == [l.split()[:2] for l in ref.splitlines()
                    if l.split()[1:2] in (["VG"], [LVM_VG])]


def test_line_editing_on_the_uart(baremetal):
    bm = baremetal
    c = bm.fw.child
    # backspace (DEL and ^H) and ^U edit the line before Enter
    c.send("echo abX\x7fc\x08d\r")
    c.expect("\nabd\r?\n")
    c.send("echo wrong\x15echo right\r")
    c.expect("\nright\r?\n")
    # ^C abandons the line being typed: nothing of it runs
    c.send("echo never\x03")
    c.send("echo after\r")
    c.expect("\nafter\r?\n")
    assert "never\r\n" not in c.before.replace("echo never", "")
    bm.fw.sync()
