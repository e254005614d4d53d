"""LVM2 (issue 5), host CPython, against references measured in the same run:

- scan 8 lvm2-made PVs and activate their VG (dmfw) vs dissect.volume
  opening the same PVs;
- read the 8-way striped LV and a linear LV spanning all 8 PVs through dmfw
  vs through dissect.volume vs a raw read of the same amount from the PV
  files, in 1 MiB and 64 KiB reads (page cache warm for all three; the
  contents are checked against lvm2's own segment report first).

    python3 -m bench.lvm_bench [--quick]
"""

import hashlib
import sys

from bench.common import ROOT, CHUNK, best




def main(flags=()):
    sys.path.insert(0, ROOT)
    from images import lvm as recipe
    why = recipe.missing_tools()
    m = None
    try:
        m = recipe.load("bench")
    except RuntimeError as e:
        print("lvm_bench: cannot build the reference PVs: %s" % (why or e))
        return 0
    quick = "--quick" in flags
    reps = 2 if quick else 5
    paths = m["paths"]
    loops = m["loops"]

    from dmfw.shell import Shell
    from dmfw.blockdev import FileDevice

    def dmfw_activate():
        sh = Shell()
        for l, p in zip(loops, paths):
            sh.devices.add(FileDevice(p, readonly=True, name=l, major=7, minor=int(l[4:])))
        from dmfw.lvm import scan as V, activate as act
        sc = V.scan([sh.devices.by_name[n] for n in sh.devices.names()])
        for lv in sc.vg("bvg").visible_lvs():
            act.activate(sh.dm, lv)
        return sh

    t_scan, sh = best(dmfw_activate, reps * 3)

    try:
        from dissect.volume.lvm import LVM2
    except ImportError:
        LVM2 = None
        print("lvm_bench: dissect.volume not installed (pip install '.[bench]'); "
              "its columns are skipped")

    files = []

    def dissect_open():
        for f in files:
            f.close()
        del files[:]
        for p in paths:
            files.append(open(p, "rb"))
        return dict((lv.name, lv) for lv in LVM2(list(files)).vg.lv)

    # Timed reads do not hash (sha256 would dominate every figure); the
    # content is hashed in a separate, untimed pass.
    def dmfw_reader(md, hashing=False, chunk=CHUNK):
        def read():
            h = hashlib.sha256() if hashing else _NoHash()
            buf = bytearray(chunk)
            mv = memoryview(buf)
            per = chunk >> 9
            s = 0
            n = md.nr_sectors
            while s < n:
                k = per if n - s >= per else n - s
                md.readblocks(s, mv[:k << 9])
                h.update(mv[:k << 9])
                s += k
            return h.hexdigest(), n << 9
        return read

    def dissect_reader(lv, hashing=False, chunk=CHUNK):
        def read():
            h = hashlib.sha256() if hashing else _NoHash()
            fh = lv.open()
            fh.seek(0)
            n = 0
            while True:
                b = fh.read(chunk)
                if not b:
                    break
                h.update(b)
                n += len(b)
            return h.hexdigest(), n
        return read

    def raw_reader(size, chunk=CHUNK):
        # The same number of bytes, straight from the PV files.
        def read():
            h = _NoHash()
            buf = bytearray(chunk)
            mv = memoryview(buf)
            per_file = size // len(paths)
            for p in paths:
                with open(p, "rb", buffering=0) as f:
                    f.seek(1 << 20)
                    want = per_file
                    while want:
                        k = f.readinto(mv[:min(chunk, want)])
                        h.update(mv[:k])
                        want -= k
            return h.hexdigest(), size
        return read

    print("scan+activate 8 PVs (dmfw):  %8.2f ms" % (t_scan * 1e3))
    dlvs = None
    if LVM2 is not None:
        t_dopen, dlvs = best(dissect_open, reps * 3)
        print("open 8 PVs (dissect.volume): %8.2f ms   dissect/dmfw time %.2f"
              % (t_dopen * 1e3, t_dopen / t_scan))
    status = 0
    for name in ("str", "lin"):
        md = sh.devices.get("/dev/bvg/" + name)
        size = md.nr_sectors << 9
        print("-- bvg/%s: %d MiB, %s" % (name, size >> 20, _table_of(sh, name)))
        h_dm, _ = dmfw_reader(md, True)()
        if h_dm != lvm2_mapping_hash(m, name):
            print("lvm_bench: MISMATCH: dmfw's %s differs from lvm2's mapping" % name)
            return 1
        d_ok = False
        if dlvs is not None:
            h_ds, n_ds = dissect_reader(dlvs[name], True)()
            d_ok = h_ds == h_dm and n_ds == size
            print("dissect.volume returns %d MiB, %s" % (
                n_ds >> 20, "the same data as dmfw" if d_ok else
                "WRONG DATA (its stripes are laid end to end, not interleaved)"))
            if not d_ok and name == "lin":
                status = 1
        for chunk in (1 << 20, 64 << 10):
            raw = raw_reader(size, chunk)
            raw()
            t_raw, _ = best(raw, reps)
            dm_read = dmfw_reader(md, False, chunk)
            dm_read()
            t_dm, _ = best(dm_read, reps)
            line = ("  %4d KiB reads: raw %7.0f MB/s, dmfw %7.0f MB/s (%.2f of raw)"
                    % (chunk >> 10, size / 1e6 / t_raw, size / 1e6 / t_dm, t_raw / t_dm))
            if dlvs is not None:
                d_read = dissect_reader(dlvs[name], False, chunk)
                d_read()
                t_ds, _ = best(d_read, reps)
                line += ", dissect.volume %7.0f MB/s" % (n_ds / 1e6 / t_ds)
                if d_ok:
                    line += "; dmfw/dissect %.2fx" % ((size / t_dm) / (n_ds / t_ds))
                else:
                    line += " (wrong data, not compared)"
            print(line)
    return status


class _NoHash:
    def update(self, b):
        pass

    def hexdigest(self):
        return None


def _table_of(sh, name):
    md = sh.dm.get("bvg-" + name)
    t = md.live.targets[0]
    return "%d target(s), first: %s %s" % (len(md.live.targets), t.name,
                                          t.params()[:32] + "...")


def lvm2_mapping_hash(m, name):
    """sha256 of bvg/NAME assembled by hand from lvm2's segment report."""
    segs = [s for s in m["reports"]["segs"]["report"][0]["seg"] if s["lv_name"] == name]
    segs.sort(key=lambda s: int(s["seg_start_pe"]))
    pe_start = dict((p["pv_name"], int(p["pe_start"]))
                    for p in m["reports"]["pvs"]["report"][0]["pv"])
    es = int(m["reports"]["vgs"]["report"][0]["vg"][0]["vg_extent_size"])
    h = hashlib.sha256()
    for seg in segs:
        n = int(seg["stripes"])
        total = int(seg["seg_size_pe"]) * es
        chunk = int(seg["stripe_size"]) or total
        files = []
        for d in seg["devices"].split(","):
            dev, pe = d[:-1].split("(")
            i = m["loops"].index(dev[5:])
            files.append((open(m["paths"][i], "rb"), pe_start[dev] + int(pe) * es))
        for c in range(total // chunk):
            f, base = files[c % n]
            f.seek(((c // n) * chunk + base) << 9)
            h.update(f.read(chunk << 9))
        for f, _ in files:
            f.close()
    return h.hexdigest()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
