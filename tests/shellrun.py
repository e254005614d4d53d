# Run dmfw shell scripts in-process (CPython) or under the real MicroPython
# unix port, with the same disks, so a scenario can be checked on both.

import io
import os
import subprocess
import sys

from harness.tools import micropython  # noqa: F401  (re-exported: one lookup for tests and bench)

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


def run_micropython(script, disks=(), timeout=300, heap=None):
    """Run `script` through `micropython -m dmfw shell` (the firmware path); `heap`
    ("64M", as the guest's firmware) sets the port's heap size."""
    exe = micropython()
    args = [exe] + (["-X", "heapsize=" + heap] if heap else []) + ["-m", "dmfw", "shell"]
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

