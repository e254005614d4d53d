# Mapping of linear/striped/zero/error, single, multi-line and stacked,
# against the per-sector reference model (tests/dmmodel.py).

import os
import hashlib

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from dmfw.blockdev import MemoryDevice
from dmfw.devices import DeviceRegistry
from dmfw.errors import DMError, IOFailure, EIO
from dmfw.mapper import DeviceMapper
from dmmodel import Model


def make(disk_sizes, seed=0):
    reg = DeviceRegistry()
    data = {}
    for i, size in enumerate(disk_sizes):
        name = "vd" + chr(97 + i)
        raw = bytearray(os.urandom(size)) if seed is None else bytearray(
            b"".join(hashlib.sha256(b"%d-%d-%d" % (seed, i, k)).digest() * 16
                     for k in range(size // 512)))
        dev = MemoryDevice(raw, name=name, major=254, minor=16 * i)
        reg.add(dev)
        data["/dev/" + name] = bytes(raw)
    return DeviceMapper(reg), reg, data


def mdread(reg, name, sector, count):
    return bytes(reg.get("/dev/mapper/" + name).read(sector, count))


def test_linear_maps_offset():
    dm, reg, data = make([1 << 20])
    dm.create("l", table="0 100 linear /dev/vda 300")
    assert mdread(reg, "l", 0, 100) == data["/dev/vda"][300 * 512:400 * 512]
    assert reg.get("/dev/mapper/l").nr_sectors == 100


def test_linear_by_major_minor_and_write():
    dm, reg, data = make([1 << 20, 1 << 20])
    dm.create("l", table="0 64 linear 254:16 8")
    md = reg.get("/dev/mapper/l")
    md.writeblocks(3, b"\xab" * 1024)
    vdb = reg.get("vdb")
    assert bytes(vdb.read(11, 2)) == b"\xab" * 1024
    assert bytes(vdb.read(10, 1)) == data["/dev/vdb"][10 * 512:11 * 512]


@pytest.mark.parametrize("stripes,chunk", [(2, 8), (3, 16), (4, 128), (2, 24), (5, 7)])
def test_striped_matches_model(stripes, chunk):
    dm, reg, data = make([2 << 20] * stripes)
    per = chunk * 6
    args = " ".join("/dev/vd%s %d" % (chr(97 + i), 16 * i) for i in range(stripes))
    table = "0 %d striped %d %d %s" % (per * stripes, stripes, chunk, args)
    dm.create("s", table=table)
    m = Model(data)
    m.tables["s"] = [(0, per * stripes, "striped", table.split(None, 3)[3])]
    total = per * stripes
    assert mdread(reg, "s", 0, total) == m.read("/dev/mapper/s", 0, total)
    # Unaligned sub-ranges crossing chunk boundaries.
    for s, n in ((1, chunk + 3), (chunk - 1, 2), (total - 5, 5)):
        assert mdread(reg, "s", s, n) == m.read("/dev/mapper/s", s, n)


def test_striped_write_lands_on_model_sectors():
    dm, reg, data = make([1 << 20] * 3)
    table = "0 288 striped 3 16 /dev/vda 0 /dev/vdb 32 /dev/vdc 64"
    dm.create("s", table=table)
    m = Model(data)
    m.tables["s"] = [(0, 288, "striped", table.split(None, 3)[3])]
    payload = bytes(range(256)) * 2 * 40
    reg.get("/dev/mapper/s").writeblocks(10, payload)
    m.write("/dev/mapper/s", 10, payload)
    for name in ("vda", "vdb", "vdc"):
        assert bytes(reg.get(name).mv) == bytes(m.data["/dev/" + name])


def test_zero_and_error():
    dm, reg, data = make([1 << 20])
    dm.create("z", table="0 16 zero\n16 16 error\n32 16 linear /dev/vda 0")
    md = reg.get("/dev/mapper/z")
    assert bytes(md.read(0, 16)) == bytes(16 * 512)
    md.writeblocks(0, b"\x01" * 512)          # discarded, as the kernel does
    assert bytes(md.read(0, 1)) == bytes(512)
    with pytest.raises(IOFailure) as e:
        md.read(15, 2)
    assert e.value.errno == EIO
    assert bytes(md.read(32, 16)) == data["/dev/vda"][:16 * 512]


def test_stacked_dm_over_dm():
    dm, reg, data = make([1 << 20, 1 << 20])
    dm.create("lo", table="0 512 striped 2 8 /dev/vda 0 /dev/vdb 0")
    dm.create("hi", table="0 100 linear /dev/mapper/lo 37\n100 50 linear 253:0 0")
    m = Model(data)
    m.tables["lo"] = [(0, 512, "striped", "2 8 /dev/vda 0 /dev/vdb 0")]
    m.tables["hi"] = [(0, 100, "linear", "/dev/mapper/lo 37"),
                      (100, 50, "linear", "/dev/mapper/lo 0")]
    assert mdread(reg, "hi", 0, 150) == m.read("/dev/mapper/hi", 0, 150)
    assert dm.get("lo").open_count() == 1
    with pytest.raises(DMError):
        dm.remove("lo")


def test_byte_granular_block_protocol():
    dm, reg, data = make([1 << 20])
    dm.create("l", table="0 64 linear /dev/vda 2")
    md = reg.get("/dev/mapper/l")
    buf = bytearray(100)
    md.readblocks(1, buf, 37)
    assert bytes(buf) == data["/dev/vda"][3 * 512 + 37:3 * 512 + 137]
    assert md.ioctl(4, 0) == 64 and md.ioctl(5, 0) == 512


# --- property test: random multi-line, stacked tables vs the model --------

DISK = 256  # sectors per disk


@st.composite
def tables(draw):
    """A lower table over the disks, then an upper table over the lower."""
    def table(devs, devsize, maxlen):
        lines = []
        pos = 0
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["linear", "striped", "zero", "linear"]))
            if kind == "linear":
                dev = draw(st.sampled_from(devs))
                ln = draw(st.integers(1, devsize))
                off = draw(st.integers(0, devsize - ln))
                lines.append((pos, ln, "linear", "%s %d" % (dev, off)))
            elif kind == "striped" and devsize >= 8:
                n = draw(st.integers(1, min(3, len(devs))))
                chunk = draw(st.sampled_from([1, 2, 3, 8]))
                rows = draw(st.integers(1, max(1, (devsize // 2) // chunk)))
                ln = rows * chunk * n
                picks = draw(st.permutations(devs))[:n]
                parts = []
                for d in picks:
                    off = draw(st.integers(0, devsize - rows * chunk))
                    parts.append("%s %d" % (d, off))
                lines.append((pos, ln, "striped", "%d %d %s" % (n, chunk, " ".join(parts))))
            else:
                ln = draw(st.integers(1, 64))
                lines.append((pos, ln, "zero", ""))
            pos += ln
        return lines, pos
    lower, lsize = table(["/dev/vda", "/dev/vdb", "/dev/vdc"], DISK, DISK)
    upper, usize = table(["/dev/mapper/lower"], lsize, lsize)
    return lower, upper


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.data())
def test_random_stacked_tables_match_model(tbls, data):
    lower, upper = tbls
    dm, reg, disks = make([DISK * 512] * 3, seed=7)
    dm.create("lower", table=lower)
    dm.create("upper", table=upper)
    m = Model(disks)
    m.tables["lower"] = lower
    m.tables["upper"] = upper
    for name in ("lower", "upper"):
        size = reg.get("/dev/mapper/" + name).nr_sectors
        assert mdread(reg, name, 0, size) == m.read("/dev/mapper/" + name, 0, size)
    usize = reg.get("/dev/mapper/upper").nr_sectors
    for _ in range(3):
        s = data.draw(st.integers(0, usize - 1))
        n = data.draw(st.integers(1, usize - s))
        seed = data.draw(st.integers(0, 1 << 30))
        payload = b"".join(hashlib.sha256(b"%d:%d" % (seed, k)).digest() * 16
                           for k in range(n))
        reg.get("/dev/mapper/upper").writeblocks(s, payload)
        m.write("/dev/mapper/upper", s, payload)
        for d in ("vda", "vdb", "vdc"):
            assert bytes(reg.get(d).mv) == bytes(m.data["/dev/" + d])
        assert mdread(reg, "upper", 0, usize) == m.read("/dev/mapper/upper", 0, usize)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 5), st.sampled_from([1, 3, 8, 16, 128]),
       st.lists(st.tuples(st.booleans(), st.integers(0, 10 ** 6), st.integers(1, 700)),
                min_size=1, max_size=12))
def test_striped_reused_plans_match_model(stripes, chunk, ops):
    # The split of a request is planned once per (place in its row,
    # length) and reused: requests of one shape in other rows, reads and
    # writes mixed, must still land where the per-sector model puts them.
    rows = 8
    dm, reg, data = make([(rows * chunk + 40) * 512] * stripes)
    args = " ".join("/dev/vd%s %d" % (chr(97 + i), 3 * i) for i in range(stripes))
    total = rows * chunk * stripes
    table = "0 %d striped %d %d %s" % (total, stripes, chunk, args)
    dm.create("s", table=table)
    m = Model(data)
    m.tables["s"] = [(0, total, "striped", table.split(None, 3)[3])]
    md = reg.get("/dev/mapper/s")
    t = md.live.targets[0]
    for write, where, n in ops:
        n = min(n, total)
        for s in (where % (total - n + 1), (where + chunk * stripes) % (total - n + 1)):
            if write:
                payload = hashlib.sha256(b"%d %d" % (s, n)).digest() * (16 * n)
                md.writeblocks(s, payload)
                m.write("/dev/mapper/s", s, payload)
            else:
                assert bytes(md.read(s, n)) == m.read("/dev/mapper/s", s, n)
    for i in range(stripes):
        name = "vd" + chr(97 + i)
        assert bytes(reg.get(name).mv) == bytes(m.data["/dev/" + name])
    assert len(t._plans) <= t.MAX_PLANS


def test_striped_preadv_path_and_failing_stripe(tmp_path):
    # Host files (one preadv per stripe) against the model, then a stripe
    # that fails: its status letter alone turns to D.
    from dmfw.blockdev import FileDevice
    reg = DeviceRegistry()
    data = {}
    for i in range(3):
        raw = hashlib.sha256(b"f%d" % i).digest() * (16 * 1200)
        p = tmp_path / ("d%d.img" % i)
        p.write_bytes(raw)
        reg.add(FileDevice(str(p), name="vd" + "abc"[i], major=254, minor=16 * i))
        data["/dev/vd" + "abc"[i]] = raw
    dm = DeviceMapper(reg)
    table = "0 3072 striped 3 16 /dev/vda 0 /dev/vdb 8 /dev/vdc 16"
    dm.create("s", table=table)
    m = Model(data)
    m.tables["s"] = [(0, 3072, "striped", table.split(None, 3)[3])]
    md = reg.get("/dev/mapper/s")
    for s, n in ((0, 3072), (5, 2048), (47, 100), (3000, 72), (0, 2048), (48, 2048)):
        assert bytes(md.read(s, n)) == m.read("/dev/mapper/s", s, n)
    vdb = reg.get("vdb")

    def broken(sector, parts):
        raise IOFailure("vdb: I/O error reading sector %d" % sector)
    vdb.readv = broken
    with pytest.raises(IOFailure):
        md.read(0, 2048)
    assert md.live.targets[0].status().endswith("1 ADA")
