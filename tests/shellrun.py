# Run dmfw shell scripts in-process (CPython) or under the real MicroPython
# unix port, with the same disks, so a scenario can be checked on both.

import io
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Result:
    def __init__(self, out, err, status):
        self.out = out
        self.err = err
        self.status = status

    def __repr__(self):
        return "Result(status=%r, out=%r, err=%r)" % (self.status, self.out, self.err)


def new_shell(disks=()):
    from dmfw.shell import Shell
    out, err = io.StringIO(), io.StringIO()
    sh = Shell(out=out, err=err)
    for spec, path in disks:
        sh.attach(spec, path)
    return sh


def run(script, disks=(), sh=None):
    """Run `script` in a (new) in-process shell; returns Result."""
    if sh is None:
        sh = new_shell(disks)
    sh.out.seek(0)
    sh.out.truncate()
    sh.errout.seek(0)
    sh.errout.truncate()
    for line in script.split("\n"):
        sh.run_line(line)
    return Result(sh.out.getvalue(), sh.errout.getvalue(), sh.status)


def micropython():
    exe = shutil.which("micropython")
    if exe:
        return exe
    cand = os.path.join(os.path.dirname(sys.executable), "micropython")
    return cand if os.path.exists(cand) else None


def run_micropython(script, disks=(), timeout=300):
    """Run `script` through `micropython -m dmfw shell` (the firmware path)."""
    exe = micropython()
    args = [exe, "-m", "dmfw", "shell"]
    for spec, path in disks:
        args += ["--disk", "%s=%s" % (spec, path)]
    # The script goes in on stdin (as on a serial console): the PyPI
    # MicroPython wrapper crashes on a single argument over 256 bytes.
    env = dict(os.environ, MICROPYPATH=ROOT)
    p = subprocess.run(args, input=script + "\n", capture_output=True, text=True,
                       timeout=timeout, env=env, cwd=ROOT)
    return Result(p.stdout, p.stderr, p.returncode)


def run_cpython(script, disks=(), timeout=300):
    args = [sys.executable, "-m", "dmfw", "shell"]
    for spec, path in disks:
        args += ["--disk", "%s=%s" % (spec, path)]
    p = subprocess.run(args, input=script + "\n", capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT)
    return Result(p.stdout, p.stderr, p.returncode)


def pattern_disk(path, nbytes, seed=0):
    """A disk whose every 512-byte sector is distinct and recognisable."""
    import hashlib
    out = bytearray()
    sec = 0
    while len(out) < nbytes:
        block = hashlib.sha256(b"%d:%d" % (seed, sec)).digest() * 16
        out += block
        sec += 1
    with open(path, "wb") as f:
        f.write(out[:nbytes])
    return bytes(out[:nbytes])
