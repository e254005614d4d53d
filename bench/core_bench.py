"""Read throughput through dm linear and 4-way striped mappings against a
plain read of the same file, measured in the same run (issue 2).

    python3 -m bench.core_bench [--size-mib 1024] [--micropython]
"""

import os
import subprocess
import sys
import tempfile
import time

from bench.common import CHUNK, ROOT
from harness.tools import micropython


def make_file(path, size):
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    block = os.urandom(CHUNK)
    with open(path, "wb") as f:
        for _ in range(size // CHUNK):
            f.write(block)


def raw_read(path, chunk=CHUNK):
    buf = bytearray(chunk)
    mv = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        t0 = time.perf_counter()
        while f.readinto(mv):
            pass
        return time.perf_counter() - t0


def dm_read(dev, chunk=CHUNK):
    buf = bytearray(chunk)
    mv = memoryview(buf)
    per = chunk >> 9
    n = dev.nr_sectors
    t0 = time.perf_counter()
    s = 0
    while s < n:
        k = per if n - s >= per else n - s
        dev.readblocks(s, mv[:k << 9])
        s += k
    return time.perf_counter() - t0


def setup(path, size):
    sys.path.insert(0, ROOT)
    from dmfw.shell import Shell
    sh = Shell()
    sh.attach("/dev/vda", path, readonly=True)
    sectors = size >> 9
    sh.dm.create("lin", table="0 %d linear /dev/vda 0" % sectors, readonly=True)
    # 4 stripes over four quarters of the same file, 64 KiB chunks (lvm2's default).
    q = sectors // 4
    q -= q % 128
    args = " ".join("/dev/vda %d" % (i * q) for i in range(4))
    sh.dm.create("str", table="0 %d striped 4 128 %s" % (4 * q, args), readonly=True)
    return sh


MP_PROG = r"""
import sys, time
sys.path.insert(0, %(root)r)
from dmfw.shell import Shell
sh = Shell()
sh.attach("/dev/vda", %(path)r, readonly=True)
n = %(sectors)d
sh.dm.create("lin", table="0 %%d linear /dev/vda 0" %% n, readonly=True)
q = n // 4
q -= q %% 128
stripes = " ".join(["/dev/vda %%d" %% (i * q) for i in range(4)])
sh.dm.create("str", table="0 %%d striped 4 128 %%s" %% (4 * q, stripes), readonly=True)
buf = bytearray(%(chunk)d)
mv = memoryview(buf)
def rd(dev):
    per = len(buf) >> 9
    s = 0
    total = dev.nr_sectors
    t0 = time.ticks_us()
    while s < total:
        k = per if total - s >= per else total - s
        dev.readblocks(s, mv[:k << 9])
        s += k
    return time.ticks_diff(time.ticks_us(), t0) / 1e6
f = open(%(path)r, "rb")
t0 = time.ticks_us()
while f.readinto(buf):
    pass
raw = time.ticks_diff(time.ticks_us(), t0) / 1e6
lin = rd(sh.devices.get("/dev/mapper/lin"))
st = rd(sh.devices.get("/dev/mapper/str"))
print(raw, lin, st)
"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    size = 1024 << 20
    if "--size-mib" in argv:
        size = int(argv[argv.index("--size-mib") + 1]) << 20
    path = os.path.join(tempfile.gettempdir(), "dmfw-bench-%d.img" % size)
    make_file(path, size)
    sh = setup(path, size)
    lin = sh.devices.get("/dev/mapper/lin")
    st = sh.devices.get("/dev/mapper/str")
    mb = size / 1e6
    # Warm the page cache, then take the best of three of each, interleaved,
    # so the three figures see the same machine state.
    raw_read(path)
    best = {"raw": 1e9, "linear": 1e9, "striped": 1e9}
    for _ in range(3):
        best["raw"] = min(best["raw"], raw_read(path))
        best["linear"] = min(best["linear"], dm_read(lin))
        best["striped"] = min(best["striped"], dm_read(st) * size / (st.nr_sectors << 9))
    print("core read throughput, CPython %s, %d MiB, %d KiB requests"
          % (sys.version.split()[0], size >> 20, CHUNK >> 10))
    for k in ("raw", "linear", "striped"):
        print("  %-8s %8.0f MB/s  ratio %.2f" % (k, mb / best[k], best["raw"] / best[k]))
    if "--micropython" in argv or "--all" in argv:
        mp = micropython()
        if mp:
            prog = MP_PROG % {"root": ROOT, "path": path, "sectors": size >> 9,
                              "chunk": 64 << 10}
            with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
                f.write(prog)
            out = subprocess.run([mp, f.name], capture_output=True, text=True)
            os.unlink(f.name)
            try:
                raw, l, s = [float(x) for x in out.stdout.split()]
            except ValueError:
                print("  micropython run failed: %s" % (out.stderr or out.stdout)[-300:])
                return 1
            s = s * size / (st.nr_sectors << 9)
            print("MicroPython, 64 KiB requests:")
            for k, v in (("raw", raw), ("linear", l), ("striped", s)):
                print("  %-8s %8.0f MB/s  ratio %.2f" % (k, mb / v, raw / v))
        else:
            print("  (no micropython binary)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
