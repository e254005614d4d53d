"""LUKS unlock time (issue 11), host: dmfw's `cryptsetup open
--test-passphrase` against the real cryptsetup's on the same volume, per
KDF setting, in the same run. Volumes are made here by the host's
cryptsetup (small files, forced KDF costs).

- CPython: dmfw in-process (best of n) vs `cryptsetup open --test-passphrase`
  (a process each, best of n);
- with --mpy: the same command under the MicroPython unix port (one process
  each, its start-up measured apart and subtracted).

- with --mpy: also the largest Argon2id memory cost (t=4, p=1) MicroPython
  unlocks in 30 s within a heap of --heap=N MiB (default 32, the bare-metal
  firmware's): costs double from 1 MiB, then the step between the last that
  passed and the first that did not is halved twice.

- with --guest: the same volumes in the QEMU guest, the guest's cryptsetup 2.7.5
  against dmfw on the firmware console (MicroPython), in one guest run.

    python3 -m bench.luks_bench [--quick] [--mpy [--heap=MIB]] [--guest]
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench.common import ROOT, best

SETTINGS = [
    ("luks1 pbkdf2-sha256 10k", ["--type", "luks1", "--hash", "sha256",
                                 "--pbkdf-force-iterations", "10000"]),
    ("luks2 pbkdf2-sha256 10k", ["--type", "luks2", "--pbkdf", "pbkdf2",
                                 "--pbkdf-force-iterations", "10000"]),
    ("luks2 pbkdf2-sha512 10k", ["--type", "luks2", "--pbkdf", "pbkdf2", "--hash", "sha512",
                                 "--pbkdf-force-iterations", "10000"]),
    ("luks2 argon2id m=1M t=4", ["--type", "luks2", "--pbkdf", "argon2id", "--pbkdf-memory",
                                 "1024", "--pbkdf-force-iterations", "4",
                                 "--pbkdf-parallel", "1"]),
    ("luks2 argon2i m=4M t=4", ["--type", "luks2", "--pbkdf", "argon2i", "--pbkdf-memory",
                                "4096", "--pbkdf-force-iterations", "4",
                                "--pbkdf-parallel", "1"]),
]


def _make(tmp, i, args):
    img = os.path.join(tmp, "v%d.img" % i)
    with open(img, "wb") as f:
        f.truncate(20 << 20)
    subprocess.run(["cryptsetup", "luksFormat", "-q", "--key-file", os.path.join(tmp, "pw")]
                   + args + [img], check=True, capture_output=True)
    return img


def main(flags=()):
    sys.path.insert(0, ROOT)
    if shutil.which("cryptsetup") is None and not os.path.exists("/usr/sbin/cryptsetup"):
        print("luks_bench: needs cryptsetup")
        return 0
    reps = 2 if "--quick" in flags else 3
    if "--guest" in flags:
        return _guest(reps)
    tmp = tempfile.mkdtemp()
    try:
        pw = os.path.join(tmp, "pw")
        with open(pw, "wb") as f:
            f.write(b"bench passphrase")
        from tests.shellrun import new_shell, micropython
        mpy = micropython() if "--mpy" in flags else None
        heap = 32
        for a in flags:
            if a.startswith("--heap="):
                heap = int(a[7:])
        if mpy:
            env = dict(os.environ, MICROPYPATH=ROOT)

            def mp(script, heap_mib=64):
                t0 = time.perf_counter()
                r = subprocess.run([mpy, "-X", "heapsize=%dM" % heap_mib, "-m", "dmfw",
                                    "shell"], input=script + "; echo rc=$?\n", text=True,
                                   capture_output=True, env=env, cwd=ROOT, check=True)
                dt = time.perf_counter() - t0
                if "rc=0" not in r.stdout:
                    return None, r.stdout + r.stderr
                return dt, r.stdout
            start = min(mp("true")[0] for _ in range(reps))
        print("%-26s %10s %10s %7s%s" % ("KDF", "cryptsetup", "dmfw", "ratio",
                                         "   dmfw-mpy  ratio" if mpy else ""))
        for i, (label, args) in enumerate(SETTINGS):
            img = _make(tmp, i, args)

            def real():
                subprocess.run(["cryptsetup", "open", "--test-passphrase", "--key-file", pw,
                                img], check=True)

            def ours():
                sh = new_shell()
                st = sh.run_line("cryptsetup open --test-passphrase --key-file %s %s"
                                 % (pw, img))
                if st:
                    raise RuntimeError("dmfw unlock failed: %d" % st)
            t_ref, _ = best(real, reps)
            t_us, _ = best(ours, reps)
            line = "%-26s %9.3fs %9.3fs %7.1f" % (label, t_ref, t_us, t_us / t_ref)
            if mpy:
                t_mp, out = mp("cryptsetup open --test-passphrase --key-file %s %s"
                               % (pw, img))
                if t_mp is None:
                    raise RuntimeError("dmfw (MicroPython) unlock failed: %s" % out)
                t_mp -= start
                line += "   %8.2fs %6.1f" % (t_mp, t_mp / t_ref)
            print(line, flush=True)
            os.unlink(img)
        if mpy:
            _largest_argon2(tmp, pw, lambda img: mp(
                "cryptsetup open --test-passphrase --key-file %s %s" % (pw, img), heap),
                start, heap)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


# The guest's own clock around one command (busybox's `time` counts centiseconds).
_TIMED = ("micropython -c \"import os,time; t=time.ticks_us(); r=os.system('%s'); "
          "print('took', time.ticks_diff(time.ticks_us(), t), r)\"")


def _guest(reps):
    import re
    from harness.guest import Disk, boot
    tmp = tempfile.mkdtemp()
    guest = None
    try:
        pw = os.path.join(tmp, "pw")
        with open(pw, "wb") as f:
            f.write(b"bench passphrase")
        imgs = [_make(tmp, i, args) for i, (_, args) in enumerate(SETTINGS)]
        guest = boot([Disk(img) for img in imgs])
        fw, linux = guest.fw, guest.linux
        linux.check("printf 'bench passphrase' > /tmp/pw")
        print("guest (TCG): cryptsetup 2.7.5 vs dmfw on the firmware console")
        print("%-26s %10s %10s %7s" % ("KDF", "cryptsetup", "dmfw-mpy", "ratio"))
        for i, (label, _) in enumerate(SETTINGS):
            cmd = "cryptsetup open --test-passphrase --key-file /tmp/pw /dev/vd%s" % "abcdefgh"[i]
            ks = []
            for _ in range(reps):
                out = linux.check(_TIMED % cmd, timeout=600)
                m = re.search(r"took (\d+) 0", out)
                if not m:
                    raise RuntimeError("guest cryptsetup failed:\n" + out)
                ks.append(int(m.group(1)) / 1e6)
            out, st = fw.run("time " + cmd, timeout=900)
            m = re.search(r"real\t(\d+\.\d+)s", out)
            if st or not m:
                raise RuntimeError("dmfw unlock failed:\n" + out)
            t_f = float(m.group(1))
            print("%-26s %9.3fs %9.2fs %7.1f" % (label, min(ks), t_f, t_f / min(ks)),
                  flush=True)
        return 0
    finally:
        if guest is not None:
            guest.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _largest_argon2(tmp, pw, unlock, start, heap, budget=30.0):
    """Print each Argon2id cost tried under MicroPython and the largest that
    unlocks within `budget` seconds (start-up subtracted) and the heap; a cost
    over the heap's limit is refused by dmfw with a message, never a crash."""
    def attempt(kib):
        img = _make(tmp, 99, ["--type", "luks2", "--pbkdf", "argon2id", "--pbkdf-memory",
                              str(kib), "--pbkdf-force-iterations", "4",
                              "--pbkdf-parallel", "1"])
        try:
            t, out = unlock(img)
        finally:
            os.unlink(img)
        if t is None:
            why = [w for w in out.splitlines() if "memory" in w.lower()] or ["unlock failed"]
            print("  argon2id m=%6d KiB t=4: refused (%s)" % (kib, why[0].strip()),
                  flush=True)
            return False
        t -= start
        print("  argon2id m=%6d KiB t=4: %6.2fs%s" % (kib, t, "" if t <= budget else
                                                       " (over %ds)" % budget), flush=True)
        return t <= budget
    print("largest Argon2id cost MicroPython unlocks in %ds with a %d MiB heap:"
          % (budget, heap))
    good, bad = 0, None
    kib = 1024
    while bad is None and kib <= (heap << 10):
        if attempt(kib):
            good, kib = kib, kib * 2
        else:
            bad = kib
    if bad is None:
        bad = kib
    for _ in range(2):
        mid = (good + bad) // 2 // 1024 * 1024
        if mid in (good, bad) or not good:
            break
        if attempt(mid):
            good = mid
        else:
            bad = mid
    print("  largest: %s" % ("%d KiB" % good if good else "none (1 MiB fails)"), flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
