"""Differential proof: dmfw's mapped data equals the kernel's for the same tables.

Disks (harness/pytest_plugin.py): vda, vdb 16 MiB, vdc 8 MiB, all pattern data.
For every generated case both sides run the same dmsetup commands; the dmfw side
goes first, so its shell cannot stumble on a kernel /dev/mapper node of the same name.
"""
import os
import random

import pytest

from sides import checksum, create

pytestmark = [pytest.mark.guest, pytest.mark.qemu_only]

SECTORS = {"vda": 32768, "vdb": 32768, "vdc": 16384}
CHUNKS = (8, 16, 24, 64, 128, 1024)  # 24: not a power of two, which Linux allows


def _linear(rng, length):
    disk = rng.choice(sorted(SECTORS))
    return "linear /dev/%s %d" % (disk, rng.randrange(0, SECTORS[disk] - length + 1))


def _striped(rng, length, stripes, chunk):
    per = length // stripes
    devs = []
    for _ in range(stripes):
        disk = rng.choice(sorted(SECTORS))
        devs.append("/dev/%s %d" % (disk, rng.randrange(0, SECTORS[disk] - per + 1)))
    return "striped %d %d %s" % (stripes, chunk, " ".join(devs))


def _lines(segments):
    start, out = 0, []
    for length, target in segments:
        out.append("%d %d %s" % (start, length, target))
        start += length
    return "\n".join(out)


def _length(table):
    start, length = table.splitlines()[-1].split()[:2]
    return int(start) + int(length)


def generate():
    """(id, [(name, table), ...], fails) cases; the last device is the one read."""
    rng = random.Random(20261126)
    cases = []
    for i in range(6):
        length = rng.randrange(1, 8192)
        cases.append(("linear%d" % i, [("t", _lines([(length, _linear(rng, length))]))], False))
    for chunk in CHUNKS:
        for stripes in (2, 3):
            length = chunk * stripes * rng.randrange(1, max(2, 12000 // (chunk * stripes)))
            cases.append(("striped%dx%d" % (stripes, chunk),
                          [("t", _lines([(length, _striped(rng, length, stripes, chunk))]))], False))
    for i in range(10):
        segs = []
        for _ in range(rng.randrange(2, 6)):
            kind = rng.choice(("linear", "linear", "striped", "zero"))
            if kind == "striped":
                chunk = rng.choice(CHUNKS[:4])
                length = chunk * 2 * rng.randrange(1, 40)
                segs.append((length, _striped(rng, length, 2, chunk)))
            else:
                length = rng.randrange(1, 3000)
                segs.append((length, _linear(rng, length) if kind == "linear" else "zero"))
        cases.append(("multi%d" % i, [("t", _lines(segs))], False))
    for i in range(4):
        # random dm over dm: a striped or multi-line base, a top that maps part of it
        chunk = rng.choice(CHUNKS[:5])
        blen = chunk * 2 * rng.randrange(4, 60)
        base = _lines([(blen, _striped(rng, blen, 2, chunk)), (512, "zero")])
        off = rng.randrange(0, blen // 2)
        top = _lines([(blen // 2, "linear /dev/mapper/base %d" % off),
                      (300, _linear(rng, 300))])
        cases.append(("stacked-random%d" % i, [("base", base), ("t", top)], False))
    cases.append(("zero", [("t", "0 20000 zero")], False))
    cases.append(("error", [("t", "0 2048 error")], True))
    cases.append(("linear-then-error", [("t", _lines([(1024, "linear /dev/vda 0"), (8, "error")]))], True))
    # dm over dm, by /dev/mapper path and by the lower device's major:minor
    base = _lines([(4096, "striped 2 16 /dev/vda 100 /dev/vdb 200"), (2048, "linear /dev/vdc 0")])
    cases.append(("stacked", [("base", base), ("t", "0 6000 linear /dev/mapper/base 96")], False))
    cases.append(("stacked-devno", [("base", base), ("t", "0 3008 striped 2 8 253:0 0 /dev/vda 0")], False))
    cases.append(("stacked3", [("b0", "0 8192 linear /dev/vdb 4096"),
                               ("b1", "0 8192 striped 2 64 /dev/mapper/b0 0 /dev/vdc 0"),
                               ("t", "0 4000 linear /dev/mapper/b1 1000\n4000 96 zero")], False))
    return cases


CASES = generate()


def _read_side(console, devices):
    for name, table in devices:
        out, status = create(console, name, table)
        assert status == 0, "%s: dmsetup create %s failed:\n%s" % (console.name, name, out)
    return checksum(console, "/dev/mapper/" + devices[-1][0])


@pytest.mark.parametrize("devices,fails", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_mapped_data_equals_kernel(guest, devices, fails):
    fw = _read_side(guest.fw, devices)
    guest.fw.check("dmsetup remove_all")
    linux = _read_side(guest.linux, devices)
    if fails:
        assert linux[1] != 0, "the kernel read an error target"
        assert fw[1] != 0 and fw[0] is None, "dmfw read an error target without failing"
    else:
        assert linux[1] == 0 and linux[0]
        assert fw == linux, "sha256 of %s differs from the kernel's" % devices[-1][0]


def test_leading_range_before_error_target(guest):
    """A table with an error segment: the good part reads the same, the bad part fails."""
    table = _lines([(1000, "linear /dev/vdb 17"), (24, "error"), (500, "linear /dev/vda 3")])
    results = {}
    for console in (guest.fw, guest.linux):
        assert create(console, "t", table)[1] == 0
        results[console.name] = [checksum(console, "/dev/mapper/t", 0, 1000),
                                  checksum(console, "/dev/mapper/t", 1024, 500),
                                  checksum(console, "/dev/mapper/t", 990, 16)[1] != 0]
        console.check("dmsetup remove_all")
    assert results["linux"][2], "kernel read through the error segment"
    assert results["fw"] == results["linux"]


def test_blk_disks_map_like_the_kernel(guest):
    """Disks given with --blk: a whole-disk linear and a 2-way striped mapping of
    each read the same through dmfw as through the kernel."""
    extra = [name for name in sorted(guest.disks) if guest.disks[name] in
             [os.path.abspath(p) for p in guest.extra]]
    if not extra:
        pytest.skip("no --blk disks given")
    for name in extra:
        size = int(guest.linux.check("blockdev --getsz /dev/%s" % name))
        half = size // 2 - (size // 2) % 8
        tables = ["0 %d linear /dev/%s 0" % (size, name),
                  "0 %d striped 2 8 /dev/%s 0 /dev/%s %d" % (half * 2 - (half * 2) % 16, name, name, half)]
        for table in tables:
            fw = _read_side(guest.fw, [("t", table)])
            guest.fw.check("dmsetup remove_all")
            linux = _read_side(guest.linux, [("t", table)])
            guest.linux.check("dmsetup remove_all")
            assert fw == linux and fw[1] == 0, table


WRITE_CASES = {
    "linear": [("w", "0 4096 linear /dev/vdd 777")],
    "striped": [("w", "0 8160 striped 2 24 /dev/vdd 8192 /dev/vdd 20000")],
    "multi-line": [("w", _lines([(1000, "linear /dev/vdd 5000"),
                                 (2000, "striped 2 8 /dev/vdd 9000 /dev/vdd 12000"),
                                 (1096, "linear /dev/vdd 100")]))],
    "stacked": [("wb", "0 16384 linear /dev/vdd 16000"),
                ("w", "0 4096 striped 2 64 /dev/mapper/wb 0 /dev/mapper/wb 8192")],
}


@pytest.mark.parametrize("devices", list(WRITE_CASES.values()), ids=list(WRITE_CASES))
def test_kernel_reads_back_dmfw_writes(guest, devices):
    """dd through a dmfw mapping onto the scratch disk vdd; the kernel's mapping of
    the same table finds the bytes where dmfw put them."""
    from sides import flush_linux
    size = _length(devices[-1][1])
    for name, table in devices:
        assert create(guest.fw, name, table)[1] == 0
    # vda's sectors 2048.. (4 KiB blocks from 256) go through the mapping
    out = guest.fw.check("dd if=/dev/vda of=/dev/mapper/w bs=4096 skip=256 count=%d"
                         % (size // 8), timeout=300)
    assert "error" not in out.lower()
    fw_back = checksum(guest.fw, "/dev/mapper/w")
    guest.fw.check("dmsetup remove_all")
    flush_linux(guest.linux, "/dev/vdd")
    kernel = _read_side(guest.linux, devices)
    source = checksum(guest.linux, "/dev/vda", 2048, size)
    assert source[1] == 0
    assert kernel == source == fw_back


def test_dmfw_reads_kernel_writes(guest):
    table = "0 6144 striped 3 16 /dev/vdd 30000 /dev/vdd 1000 /dev/vdd 12000"
    from sides import flush_linux
    assert create(guest.linux, "w", table)[1] == 0
    guest.linux.check("dd if=/dev/vdb of=/dev/mapper/w bs=4096 skip=100 count=768 oflag=direct 2>/dev/null")
    source = checksum(guest.linux, "/dev/vdb", 800, 6144)
    guest.linux.check("dmsetup remove w")
    flush_linux(guest.linux, "/dev/vdd")
    assert create(guest.fw, "w", table)[1] == 0
    assert checksum(guest.fw, "/dev/mapper/w") == source


def test_checksums_of_several_devices_as_coreutils(guest):
    # sha256sum over several devices, one missing in the middle: the same
    # sum lines and exit status as the guest's sha256sum. Its error line is
    # busybox's wording ("can't open"); dmfw's is coreutils' (host tests).
    for cmd in ("sha256sum /dev/vdc /dev/vdb", "sha256sum /dev/vdc /nonexistent /dev/vda"):
        fw_out, fw_status = guest.fw.run(cmd)
        linux_out, linux_status = guest.linux.run(cmd + " 2>&1")

        def sums(out):
            return [ln for ln in out.splitlines() if not ln.startswith("sha256sum: ")]
        assert (sums(fw_out), fw_status) == (sums(linux_out), linux_status), cmd
        assert len(sums(fw_out)) == 2
        assert ("/nonexistent" in fw_out) == ("/nonexistent" in linux_out)
