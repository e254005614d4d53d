"""LUKS unlock time (issue 11), host: dmfw's `cryptsetup open
--test-passphrase` against the real cryptsetup's on the same volume, per
KDF setting, in the same run. Volumes are made here by the host's
cryptsetup (small files, forced KDF costs).

- CPython: dmfw in-process (best of n) vs `cryptsetup open --test-passphrase`
  (a process each, best of n);
- with --mpy: the same command under the MicroPython unix port (one process
  each, its start-up measured apart and subtracted).

    python3 -m bench.luks_bench [--quick] [--mpy]
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
    tmp = tempfile.mkdtemp()
    try:
        pw = os.path.join(tmp, "pw")
        with open(pw, "wb") as f:
            f.write(b"bench passphrase")
        from tests.shellrun import new_shell, micropython
        mpy = micropython() if "--mpy" in flags else None
        if mpy:
            env = dict(os.environ, MICROPYPATH=ROOT)

            def mp(script):
                t0 = time.perf_counter()
                subprocess.run([mpy, "-X", "heapsize=64M", "-m", "dmfw", "shell"],
                               input=script + "\n", text=True, capture_output=True,
                               env=env, cwd=ROOT, check=True)
                return time.perf_counter() - t0
            start = min(mp("true") for _ in range(reps))
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
                t_mp = min(mp("cryptsetup open --test-passphrase --key-file %s %s"
                              % (pw, img)) for _ in range(1)) - start
                line += "   %8.2fs %6.1f" % (t_mp, t_mp / t_ref)
            print(line, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
