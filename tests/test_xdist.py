"""`pytest -n N` (pytest-xdist): what the workers share must not race, and a worker
that fails or dies must not leave its QEMU behind.

Each test runs an inner `pytest -n 2 --dist each` (the same test on both workers, at
once) on a small generated test file, so both properties are checked under xdist
itself rather than claimed.  Per-worker sockets, work directories and disk images need
no test of their own: QemuGuest takes a fresh mkdtemp() and the session's disks live
under tmp_path_factory, which xdist already splits per worker.
"""
import os
import subprocess
import sys

import pytest

pytest.importorskip("xdist")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Both workers call images.guest.ensure() on one empty cache at the same moment;
# the build itself is replaced by one that takes a second and writes random bytes,
# so two builds would show as two log lines and two different images.
BUILD_RACE = '''
import hashlib, os, time
from images import guest

OUT = %(out)r

def fake_build(dest, progress):
    with open(os.path.join(OUT, "builds.log"), "a") as f:
        f.write("%%d\\n" %% os.getpid())
    time.sleep(1)
    os.makedirs(dest)
    with open(os.path.join(dest, "base.cpio"), "wb") as f:
        f.write(os.urandom(4096))
    with open(os.path.join(dest, "manifest.json"), "w") as f:
        f.write("{}")

def test_ensure(monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", os.path.join(OUT, "cache"))
    monkeypatch.setattr(guest, "_build", fake_build)
    worker = os.environ["PYTEST_XDIST_WORKER"]
    open(os.path.join(OUT, "ready-" + worker), "w").close()
    deadline = time.monotonic() + 30
    while len([n for n in os.listdir(OUT) if n.startswith("ready-")]) < 2:
        assert time.monotonic() < deadline, "the other worker never came"
        time.sleep(0.01)
    img = guest.ensure()
    with open(img.initrd, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(OUT, "got-" + worker), "w") as f:
        f.write(digest)
'''

# Each worker starts a (paused) QEMU as harness.guest starts it, from a session
# fixture that closes it in a finally; gw0 then fails a test, gw1 dies outright.
CRASH = '''
import os, subprocess
import pytest
from harness.guest import QEMU, _die_with_parent

OUT = %(out)r

@pytest.fixture(scope="session")
def qemu():
    proc = subprocess.Popen([QEMU, "-S", "-machine", "q35", "-accel", "tcg", "-nodefaults",
                             "-no-user-config", "-display", "none"],
                            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()

def test_worker(qemu):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    with open(os.path.join(OUT, "qemu-" + worker), "w") as f:
        f.write(str(qemu.pid))
    if worker == "gw1":
        os._exit(3)
    assert False, "a failing test on gw0"
'''


def run_xdist(tmp_path, source):
    out = tmp_path / "out"
    out.mkdir()
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(source % {"out": str(out)})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
         "--dist", "each", "--max-worker-restart", "0", "--rootdir", str(tmp_path),
         "--basetemp", str(tmp_path / "basetemp"), str(test_file)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return done, out


def test_image_build_lock_holds_under_xdist(tmp_path):
    done, out = run_xdist(tmp_path, BUILD_RACE)
    assert done.returncode == 0, done.stdout + done.stderr
    builds = (out / "builds.log").read_text().split()
    assert len(builds) == 1, "%d builds of one image" % len(builds)
    got = {(out / ("got-" + w)).read_text() for w in ("gw0", "gw1")}
    assert len(got) == 1, "the workers got different images"


def _running(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_failing_and_crashing_workers_leave_no_qemu(tmp_path):
    import shutil
    from harness.guest import QEMU
    if not shutil.which(QEMU):
        pytest.skip("needs " + QEMU)
    done, out = run_xdist(tmp_path, CRASH)
    text = done.stdout + done.stderr
    assert done.returncode != 0, text
    assert "a failing test on gw0" in text, text
    assert "crashed" in text, text  # xdist's report of gw1
    pids = {w: int((out / ("qemu-" + w)).read_text()) for w in ("gw0", "gw1")}
    left = {w: pid for w, pid in pids.items() if _running(pid)}
    assert not left, "QEMU still running for %s" % left
