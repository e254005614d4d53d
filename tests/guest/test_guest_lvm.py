"""LVM2 in the guest: the real lvm2 makes a VG on three hot-plugged disks
(several PVs, linear/spanning/striped LVs, grown, shrunk and renamed until
the small metadata ring wraps, two metadata areas, names with dashes) and
writes data through the kernel; then `vgchange -ay` by lvm2 and by dmfw must
load the same tables and read the same bytes.
"""
import time

import pytest

from sides import checksum, flush_linux

pytestmark = [pytest.mark.guest, pytest.mark.qemu_only]

# Distinct sizes: the guest's names for hot-plugged disks follow PCI order,
# so each is recognised by its size.
SIZES = (40 << 20, 32 << 20, 24 << 20)
VG = "t-vg"
LVS = ("lin", "str2", "my-str3", "grown-lv", "s8k", "mir-d", "mir-c", "big")


def _lvm(disks):
    conf = ('devices { filter = [ %s"r|.*|" ] obtain_device_list_from_udev = 0 '
            'use_devicesfile = 0 hints = "none" } activation { udev_sync = 0 '
            'udev_rules = 0 monitoring = 0 } backup { backup = 0 archive = 0 }'
            % "".join('"a|^/dev/%s$|", ' % d for d in disks))
    return "lvm %%s --config '%s'" % conf


def _new_disks(guest, before, timeout=30):
    """Guest names of the hot-plugged disks, in SIZES order."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = guest.linux.check("ls /sys/block").split()
        new = sorted(d for d in now if d not in before and d.startswith("vd"))
        if len(new) >= len(SIZES):
            by_size = {}
            for d in new:
                by_size[int(guest.linux.check("cat /sys/block/%s/size" % d)) * 512] = d
            return [by_size[s] for s in SIZES]
        time.sleep(0.5)
    raise AssertionError("hot-plugged disks did not appear")


def _restart_fw(g):
    # The guest respawns the firmware shell, which scans the disks afresh.
    g.fw.send_line("exit")
    time.sleep(1)
    g.fw.sync(timeout=60)


class _Disks:
    def __init__(self, names, paths, nodes):
        self.names = names
        self.paths = paths
        self.nodes = nodes


def _wrapped(path):
    """The committed copy in the first metadata area runs past its end
    (read from the host's image file, as lvm2 left it)."""
    from dmfw.blockdev import FileDevice
    from dmfw.lvm import disk
    lab = disk.read_label(FileDevice(path, readonly=True), lambda w: None)
    return lab is not None and bool(lab.mdas) and lab.mdas[0].wrapped


def _tables(text, ls):
    """{name: [lines]} with dm devices' own numbers replaced by their names
    (the kernel and dmfw need not number dm devices alike)."""
    names = {}
    for line in ls.strip().splitlines():
        name, devno = line.split("\t")
        names[devno.strip("()").replace(", ", ":")] = "<%s>" % name
    out = {}
    for line in text.strip().splitlines():
        name, rest = line.split(": ", 1)
        rest = " ".join([names.get(w, w) for w in rest.split()])
        out.setdefault(name, []).append(rest)
    return out


@pytest.fixture
def lvm_disks(qemu_guest, tmp_path):
    g = qemu_guest
    before = g.linux.check("ls /sys/block").split()
    nodes = []
    paths = []
    for i, size in enumerate(SIZES):
        p = str(tmp_path / ("pv%d.img" % i))
        paths.append(p)
        with open(p, "wb") as f:
            f.truncate(size)
        nodes.append(g.qemu.hotplug(p))
    try:
        yield _Disks(_new_disks(g, before), paths, nodes)
    finally:
        g.linux.run("dmsetup remove_all")
        g.fw.run("dmsetup remove_all")
        for node in nodes:
            try:
                g.qemu.unplug(node)
            except Exception:
                pass
        _restart_fw(g)


def test_lvm2_activation_equals_dmfw(qemu_guest, lvm_disks):
    g = qemu_guest
    a, b, c = ["/dev/" + d for d in lvm_disks.names]
    lvm = _lvm(lvm_disks.names)
    steps = [
        "pvcreate --metadatasize 32k --dataalignment 4k --pvmetadatacopies 2 %s" % a,
        "pvcreate %s %s" % (b, c),
        "vgcreate -s 1m %s %s %s %s" % (VG, a, b, c),
        "lvcreate -Zn -Wn -y -L 4m -n lin %s %s" % (VG, a),
        "lvcreate -Zn -Wn -y -L 6m -i 2 -I 64k -n str2 %s" % VG,
        "lvcreate -Zn -Wn -y -L 6m -i 3 -I 4k -n my-str3 %s" % VG,
        "lvcreate -Zn -Wn -y -L 2m -n grow %s %s" % (VG, a),
    ]
    for i in range(6):
        steps.append("lvextend -L +1m %s/grow %s" % (VG, (a, b, c)[i % 3]))
    steps.append("lvreduce -f --fs ignore -L -1m %s/grow" % VG)
    steps.append("lvrename %s grow grown-lv" % VG)
    steps.append("lvcreate -Zn -Wn -y -L 3m -i 3 -I 8k -n s8k %s" % VG)
    # Mirrors: a disk log on the third PV, and a core log.
    steps.append("lvcreate -Zn -Wn -y --type mirror -m1 --mirrorlog disk -R 512k -L 6m "
                 "-n mir-d %s" % VG)
    steps.append("lvcreate -Zn -Wn -y --type mirror -m1 --mirrorlog core -L 5m -n mir-c %s" % VG)
    # The read-speed figure below needs an LV of some size.
    steps.append("lvcreate -Zn -Wn -y -L 36m -i 3 -I 64k -n big %s" % VG)
    for s in steps:
        out, st = g.linux.run(lvm % s + " 2>&1", timeout=120)
        assert st == 0, "%s:\n%s" % (s, out)
    # Rename with growing names (the text changes length, so its 512-aligned
    # starts drift) until the committed copy wraps round the 32 KiB ring.
    for i in range(1, 80):
        for s in ("lvrename %s lin lin-%s" % (VG, "x" * i), "lvrename %s lin-%s lin" % (VG, "x" * i)):
            g.linux.check(lvm % s + " >/dev/null 2>&1", timeout=60)
        g.linux.check("sync")
        if _wrapped(lvm_disks.paths[0]):
            break
    assert _wrapped(lvm_disks.paths[0]), "metadata never wrapped"
    # Data written through the kernel's mappings.
    for lv in LVS:
        g.linux.run("dd if=/dev/urandom of=/dev/mapper/%s bs=64k 2>/dev/null; true"
                    % (VG.replace("-", "--") + "-" + lv.replace("-", "--")), timeout=120)
    g.linux.check("sync")
    kernel_tables = _tables(g.linux.check("dmsetup table"), g.linux.check("dmsetup ls"))
    kernel_sums = {}
    for lv in LVS:
        kernel_sums[lv] = checksum(g.linux, "/dev/mapper/%s-%s" % (
            VG.replace("-", "--"), lv.replace("-", "--")))
    lvs_kernel = g.linux.check(lvm % ("lvs --segments -o+seg_pe_ranges,devices " + VG))
    reports = ("pvs", "vgs", "lvs -a -o lv_name,vg_name,lv_attr,lv_size,seg_count,devices "
               + VG, "pvscan", "vgscan")
    kernel_reports = [g.linux.check(lvm % r) for r in reports]
    g.linux.check(lvm % ("vgchange -an " + VG) + " >/dev/null 2>&1")
    flush_linux(g.linux, a, b, c)

    _restart_fw(g)
    out, st = g.fw.run("vgchange -ay " + VG, timeout=120)
    assert st == 0, out
    assert '%d logical volume(s) in volume group "%s" now active' % (len(LVS), VG) in out
    fw_tables = _tables(g.fw.check("dmsetup table"), g.fw.check("dmsetup ls"))
    assert fw_tables == kernel_tables, lvs_kernel
    for lv in LVS:
        assert kernel_sums[lv][0], lv
        t0 = time.monotonic()
        assert checksum(g.fw, "/dev/%s/%s" % (VG, lv)) == kernel_sums[lv], lv
        fw_time = time.monotonic() - t0
    # Read speed of the striped 36 MiB LV (read + sha256 over the console):
    # dmfw under MicroPython against the kernel (page cache dropped first).
    g.linux.check(lvm % ("vgchange -ay " + VG) + " >/dev/null 2>&1")
    g.linux.check("echo 3 > /proc/sys/vm/drop_caches")
    t0 = time.monotonic()
    assert checksum(g.linux, "/dev/mapper/t--vg-big") == kernel_sums["big"]
    k_time = time.monotonic() - t0
    g.linux.check(lvm % ("vgchange -an " + VG) + " >/dev/null 2>&1")
    print("\nguest read of t-vg/big (36 MiB, striped 3x64k, with sha256): "
          "dmfw %.2f s (%.1f MB/s), kernel %.2f s (%.1f MB/s), dmfw/kernel time %.1f"
          % (fw_time, 37.75 / fw_time, k_time, 37.75 / k_time, fw_time / k_time))
    fw_lvs = g.fw.check("lvs --segments -o+seg_pe_ranges,devices " + VG)
    assert fw_lvs == lvs_kernel
    for r, want in zip(reports, kernel_reports):
        assert g.fw.check(r) == want, r


def test_missing_pv_same_choice_as_lvm2(qemu_guest, lvm_disks):
    """With one PV gone, dmfw activates exactly the LVs lvm2 activates, with
    the same tables, and refuses the partial ones as lvm2 does."""
    g = qemu_guest
    a, b, c = ["/dev/" + d for d in lvm_disks.names]
    lvm = _lvm(lvm_disks.names)
    for s in ["pvcreate %s %s %s" % (a, b, c), "vgcreate -s 1m m-vg %s %s %s" % (a, b, c),
              "lvcreate -Zn -Wn -y -L 4m -n on-a m-vg %s" % a,
              "lvcreate -Zn -Wn -y -L 4m -i 2 -I 64k -n ab m-vg %s %s" % (a, b),
              "lvcreate -Zn -Wn -y -L 4m -n on-c m-vg %s" % c,
              "lvcreate -Zn -Wn -y -L 45m -n a-then-c m-vg %s %s" % (a, c),
              "lvcreate -Zn -Wn -y --type mirror -m1 --mirrorlog core -L 4m -n mir-bc "
              "m-vg %s %s" % (b, c),
              "vgchange -an m-vg"]:
        out, st = g.linux.run(lvm % s + " 2>&1", timeout=120)
        assert st == 0, "%s:\n%s" % (s, out)
    g.qemu.unplug(lvm_disks.nodes[2])
    out, st = g.linux.run(lvm % "vgchange -ay m-vg" + " 2>&1", timeout=120)
    assert "Refusing activation of partial LV m-vg/on-c" in out, out
    kernel = _tables(g.linux.check("dmsetup table"), g.linux.check("dmsetup ls"))
    g.linux.check(lvm % "vgchange -an m-vg" + " >/dev/null 2>&1; dmsetup remove_all")
    _restart_fw(g)
    fw_out, fw_st = g.fw.run("vgchange -ay m-vg", timeout=120)
    assert fw_st != 0
    for lv in ("on-c", "a-then-c", "mir-bc"):
        assert ("Refusing activation of partial LV m-vg/%s." % lv in fw_out) == \
            ("Refusing activation of partial LV m-vg/%s." % lv in out), (lv, out, fw_out)
    fw = _tables(g.fw.check("dmsetup table"), g.fw.check("dmsetup ls"))
    assert fw == kernel, (out, fw_out)
    assert sorted(kernel) == ["m--vg-ab", "m--vg-on--a"]


def _load_modules(g, tmp_path):
    # The image carries crc32c_generic (libcrc32c's soft dependency) and md's
    # raid1 personality; load them first, as modprobe's soft deps would.
    g.linux.run("modprobe crc32c_generic; modprobe raid1; modprobe dm_thin_pool; "
                "modprobe dm_raid")
    targets = g.linux.check("dmsetup targets")
    assert "thin-pool" in targets and "raid" in targets, targets


def _wait_synced(g, name, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        f = g.linux.check("dmsetup status " + name).split()
        done, total = f[6].split("/")
        if f[5] == "AA" and done == total and f[7] == "idle":
            return
        time.sleep(1)
    raise AssertionError("RAID1 %s never finished its resync" % name)


def test_raid1_and_thin_equal_kernel(qemu_guest, lvm_disks, tmp_path):
    g = qemu_guest
    _load_modules(g, tmp_path)
    a, b, c = ["/dev/" + d for d in lvm_disks.names]
    lvm = _lvm(lvm_disks.names)
    for s in ["pvcreate %s %s %s" % (a, b, c), "vgcreate rt %s %s %s" % (a, b, c),
              "lvcreate -Zn -Wn -y --type raid1 -m1 -L 8m -n r1 rt %s %s" % (a, b),
              "lvcreate -y --type thin-pool -L 12m -n pool rt %s" % c,
              "lvcreate -Wn -y -V 20m --thinpool pool -n th rt",
              "lvcreate -Wn -y -V 8m --thinpool pool -n th2 rt",
              "lvcreate -y -s rt/th -n th-snap"]:
        out, st = g.linux.run(lvm % s + " 2>&1", timeout=120)
        assert st == 0, "%s:\n%s" % (s, out)
    _wait_synced(g, "rt-r1")
    for lv, args in (("r1", "bs=64k"), ("th", "bs=64k seek=5 count=40"),
                     ("th2", "bs=64k count=3")):
        g.linux.run("dd if=/dev/urandom of=/dev/mapper/rt-%s %s 2>/dev/null; true" % (lv, args),
                    timeout=120)
    g.linux.check("sync")
    kernel_tables = _tables(g.linux.check("dmsetup table"), g.linux.check("dmsetup ls"))
    sums = dict((lv, checksum(g.linux, "/dev/mapper/rt-" + lv)) for lv in ("r1", "th", "th2"))
    report = "lvs -a -o lv_name,lv_attr,lv_size,pool_lv,seg_count,devices,copy_percent rt"
    kernel_lvs = g.linux.check(lvm % report)
    defaults = ("lvs rt", "vgs rt", "pvs")
    g.linux.check(lvm % "vgchange -an rt" + " >/dev/null 2>&1")
    # vgchange -ay as lvm2 does it from cold, for the tables to compare.
    out, st = g.linux.run(lvm % "vgchange -ay rt" + " 2>&1", timeout=120)
    assert st == 0, out
    cold_tables = _tables(g.linux.check("dmsetup table"), g.linux.check("dmsetup ls"))
    # The reports too: a pool that has just been written counts metadata
    # blocks of its open transaction (Meta% moves when it commits); from
    # cold, the kernel reports the committed metadata dmfw reads.
    kernel_defaults = [g.linux.check(lvm % r) for r in defaults]
    g.linux.check(lvm % "vgchange -an rt" + " >/dev/null 2>&1")
    flush_linux(g.linux, a, b, c)

    _restart_fw(g)
    out, st = g.fw.run("vgchange -ay rt", timeout=120)
    assert st == 0, out
    fw_tables = _tables(g.fw.check("dmsetup table"), g.fw.check("dmsetup ls"))
    assert fw_tables == cold_tables, (out, kernel_tables)
    assert "rt-th--snap" not in fw_tables            # ACTIVATION_SKIP, as lvm2
    for lv in ("r1", "th", "th2"):
        assert sums[lv][0]
        assert checksum(g.fw, "/dev/rt/" + lv) == sums[lv], lv
    assert g.fw.check(report) == kernel_lvs
    for r, want in zip(defaults, kernel_defaults):
        assert g.fw.check(r) == want, r
