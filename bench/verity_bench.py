"""dm-verity (issue 4), host, against references measured in the same run
on the same 1 GiB image made by the real veritysetup (images/verity.py):

- full-device verification and format: dmfw's `veritysetup verify` and
  `format` (CPython, level 0 on one worker per CPU, and with --threads 1)
  vs the real `veritysetup verify` / `format` (same salt and uuid);
- reading the whole mapped device through dmfw's verity target (1 MiB
  requests, one thread) vs a raw read of the data file;
- memory the target holds for the 1 GiB device (tracemalloc peak while
  opening it and reading it end to end, read buffer excluded).
- with --mpy: the same mapped read under MicroPython (dd to /dev/null);
- with --guest: in the QEMU guest, a 64 MiB image read through the
  firmware's verity (MicroPython) vs the kernel's dm-verity vs raw reads
  of the same disk on both sides.

All with the page cache warm (each reference run once before timing).

    python3 -m bench.verity_bench [--quick] [--mpy] [--guest]
"""

import os
import shutil
import subprocess
import sys
import time

from bench.common import ROOT, CHUNK, best




def main(flags=()):
    sys.path.insert(0, ROOT)
    if "--quick" in flags:
        os.environ.setdefault("DMFW_VERITY_BENCH_MIB", "256")
    from images import verity as recipe
    if recipe.missing_tools():
        print("verity_bench: needs %s" % ", ".join(recipe.missing_tools()))
        return 0
    d, meta = recipe.load("bench")
    data = os.path.join(d, "data.img")
    hashf = os.path.join(d, "hash.img")
    root = meta["root"]
    mib = meta["mib"]
    reps = 2 if "--quick" in flags else 3

    def real_verify():
        subprocess.run(["veritysetup", "verify", data, hashf, root], check=True)

    from dmfw.shell import Shell
    from dmfw.shell import veritysetup as vs

    def dmfw_verify(threads=()):
        sh = Shell()
        if vs.main(sh, ["veritysetup", "verify", data, hashf, root] + list(threads)) != 0:
            raise RuntimeError("dmfw verify failed")

    fmt = ["--salt", "ab" * 32, "--uuid", "12345678-1234-4234-8234-123456789abc"]
    out_h = os.path.join(d, "bench-format.img")

    def real_format():
        subprocess.run(["veritysetup", "format", data, out_h] + fmt, check=True,
                       capture_output=True)

    def dmfw_format(threads=()):
        import io
        sh = Shell(out=io.StringIO(), err=io.StringIO())
        if vs.main(sh, ["veritysetup", "format", data, out_h] + fmt + list(threads)):
            raise RuntimeError("dmfw format failed")

    real_verify()
    t_real, _ = best(real_verify, reps)
    t_dmfw, _ = best(dmfw_verify, reps)
    t_dmfw1, _ = best(lambda: dmfw_verify(["--threads", "1"]), reps)
    t_rf, _ = best(real_format, reps)
    t_df, _ = best(dmfw_format, reps)
    t_df1, _ = best(lambda: dmfw_format(["--threads", "1"]), reps)
    os.unlink(out_h)

    buf = bytearray(CHUNK)

    def raw_read():
        with open(data, "rb") as f:
            while f.readinto(buf):
                pass

    import tracemalloc

    def mapped_read(trace=False):
        sh = Shell()
        sh.attach("/dev/vda", data, readonly=True)
        sh.attach("/dev/vdb", hashf, readonly=True)
        if trace:
            tracemalloc.start()
        if vs.main(sh, ["veritysetup", "open", "/dev/vda", "v", "/dev/vdb", root]):
            raise RuntimeError("open failed")
        md = sh.dm.get("v")
        n = md.nr_sectors
        s = 0
        step = CHUNK >> 9
        while s < n:
            c = min(step, n - s)
            md.readblocks(s, memoryview(buf)[:c << 9])
            s += c
        peak = None
        if trace:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        t = md.live.targets[0]
        return peak, t

    raw_read()
    t_raw, _ = best(raw_read, reps)
    t_map, _ = best(mapped_read, reps)
    peak, t = mapped_read(True)

    print("image: %d MiB, 4096-byte blocks, sha256, salt 32 bytes" % mib)
    print("full verify:  veritysetup %.3f s (%.0f MiB/s)   dmfw %.3f s (%.0f MiB/s)"
          "   dmfw speed / veritysetup speed = %.2f"
          % (t_real, mib / t_real, t_dmfw, mib / t_dmfw, t_real / t_dmfw))
    print("verify --threads 1: dmfw %.3f s   dmfw speed / veritysetup speed = %.2f"
          % (t_dmfw1, t_real / t_dmfw1))
    print("format:       veritysetup %.3f s   dmfw %.3f s (ratio %.2f)   --threads 1 %.3f s "
          "(ratio %.2f)" % (t_rf, t_df, t_rf / t_df, t_df1, t_rf / t_df1))
    print("mapped read:  raw file %.3f s (%.0f MiB/s)   dmfw verity %.3f s (%.0f MiB/s)"
          "   verity / raw = %.2f"
          % (t_raw, mib / t_raw, t_map, mib / t_map, t_raw / t_map))
    print("memory (1 GiB scale): tracemalloc peak %d KiB while opening and reading "
          "the %d MiB device; hash-block cache bound %d KiB (%d blocks); "
          "check_at_most_once bitmap would add %d KiB"
          % (peak >> 10, mib, t.CACHE_BYTES >> 10, len(t.slot_hb),
             ((t.data_blocks + 7) >> 3) >> 10))

    if "--mpy" in flags:
        from harness.tools import micropython
        exe = micropython()
        if exe:
            env = dict(os.environ, MICROPYPATH=ROOT)
            cmd = [exe, "-m", "dmfw", "shell", "--ro-disk", "/dev/vda=" + data,
                   "--ro-disk", "/dev/vdb=" + hashf, "-c",
                   "veritysetup open /dev/vda v /dev/vdb %s\n"
                   "dd if=/dev/mapper/v of=/dev/null bs=64k status=none" % root]
            t0 = time.perf_counter()
            p = subprocess.run(cmd, env=env, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            print("MicroPython mapped read: %.1f s (%.1f MiB/s) rc=%d %s"
                  % (dt, mib / dt, p.returncode, p.stderr.strip()[:200]))
    if "--guest" in flags:
        for row in guest_rows(reps):
            print(row)
    return 0


def guest_rows(reps, mib=64):
    import tempfile
    try:
        from harness.guest import boot, Disk
        from bench.ddi_bench import _fw_secs, _linux_secs
    except ImportError as e:
        return ["verity_bench: no guest harness (%s)" % e]
    from images import verity as recipe
    tmp = tempfile.mkdtemp(prefix="verity-bench-")
    data = os.path.join(tmp, "data.img")
    hashf = os.path.join(tmp, "hash.img")
    recipe.fill(data, mib << 20, "guest", zero_every=0, bs=1 << 20)
    out = subprocess.run(["veritysetup", "format", data, hashf], check=True,
                         capture_output=True, text=True).stdout
    root = recipe.dump_fields(out)["Root hash"]
    try:
        g = boot([Disk(data, readonly=True), Disk(hashf, readonly=True)])
    except Exception as e:
        shutil.rmtree(tmp, ignore_errors=True)
        return ["verity_bench: guest did not boot (%s)" % e]
    rows = []
    try:
        fw, lx = g.fw, g.linux
        drop = "sync; echo 3 > /proc/sys/vm/drop_caches"
        fw.run("veritysetup open /dev/vda v /dev/vdb %s" % root)
        lx.run("veritysetup open /dev/vda v /dev/vdb %s" % root)
        res = {}
        for key, side, cmd in (
                ("fw_verity", fw, "dd if=/dev/mapper/v of=/dev/null bs=64k status=none"),
                ("fw_raw", fw, "dd if=/dev/vda of=/dev/null bs=64k status=none"),
                ("k_verity", lx, "dd if=/dev/mapper/v of=/dev/null bs=1M iflag=direct 2>/dev/null"),
                ("k_raw", lx, "dd if=/dev/vda of=/dev/null bs=1M iflag=direct 2>/dev/null")):
            best_t = None
            for _ in range(reps):
                lx.run(drop)
                if side is fw:
                    # A fresh target each time: its hash-block cache starts empty.
                    fw.run("veritysetup close v; veritysetup open /dev/vda v /dev/vdb %s"
                           % root)
                    t, _ = _fw_secs(fw, cmd)
                else:
                    t, _ = _linux_secs(lx, cmd)
                best_t = t if best_t is None else min(best_t, t)
            res[key] = best_t
        rows.append("guest (TCG) %d MiB: firmware verity %.2f s (%.1f MiB/s), firmware raw "
                    "%.2f s (%.1f MiB/s), kernel dm-verity %.2f s (%.1f MiB/s), kernel raw "
                    "%.2f s (%.1f MiB/s)" % (mib, res["fw_verity"], mib / res["fw_verity"],
                                             res["fw_raw"], mib / res["fw_raw"],
                                             res["k_verity"], mib / res["k_verity"],
                                             res["k_raw"], mib / res["k_raw"]))
        rows.append("guest ratios: firmware verity / kernel verity = %.2f; firmware verity / "
                    "firmware raw = %.2f; kernel verity / kernel raw = %.2f"
                    % (res["k_verity"] / res["fw_verity"], res["fw_raw"] / res["fw_verity"],
                       res["k_raw"] / res["k_verity"]))
    finally:
        g.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
