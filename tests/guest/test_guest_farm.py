"""The board-farm path, run locally: labgrid's coordinator and exporter on 127.0.0.1,
the session guest's firmware console exported as a board's UART (ser2net, started by
the exporter), a place acquired with labgrid-client, and the board-level tests run
through `pytest --lg-env` with a RemotePlace - what a lab does with a rack of boards.

One farm per module on the session's guest (its serial socket lent, then taken back);
every test also checks that what it started is gone.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.guest import _die_with_parent

pytestmark = [pytest.mark.guest, pytest.mark.farm, pytest.mark.qemu_only]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def farm(guest_session, tmp_path_factory):
    from harness.labgrid.farm import LocalFarm
    if guest_session.qemu is None:
        pytest.skip("needs the QEMU guest")
    # Under pytest-xdist every worker has its own guest, farm and place.
    name = "dmfw-" + os.environ.get("PYTEST_XDIST_WORKER", "farm")
    with guest_session.lend_serial() as serial:
        farm = LocalFarm(serial, str(tmp_path_factory.mktemp("farm")), name=name)
        farm.start()
        try:
            yield farm
        finally:
            pids = farm.pids()
            farm.stop()
            assert not [p for p in pids if _group_alive(p)], "farm programs left running"


def _group_alive(pgid):
    from harness.labgrid.farm import live_members
    deadline = time.monotonic() + 3
    while live_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(live_members(pgid))


class Run:
    """`pytest --lg-env` against the farm, in its own process group."""

    def __init__(self, farm, args, coordinator=None, rootless=False):
        self.basetemp = os.path.join(farm.workdir, "inner-%d" % time.monotonic_ns())
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "-p", "no:xdist", "--basetemp", self.basetemp,
                "--lg-env", farm.env_file, "--lg-coordinator", coordinator or farm.address]
        if rootless:
            # A test file outside the tree: the plugin by name, no pyproject addopts.
            argv += ["-p", "harness.pytest_plugin", "--rootdir", farm.workdir]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LG_"))}
        env["PYTHONPATH"] = ROOT
        self.proc = subprocess.Popen(argv + list(args), cwd=ROOT, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)

    def wait(self, timeout=120):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            out, _ = self.proc.communicate()
            raise AssertionError("pytest --lg-env hung for %ss:\n%s" % (timeout, out))
        assert not _group_alive(self.proc.pid), "pytest --lg-env left processes behind"
        return self.proc.returncode, out


def test_board_tests_through_a_remote_place(farm):
    assert farm.acquired_by()
    code, out = Run(farm, ["tests/guest/test_guest_firmware.py", "-m", "not qemu_only"]).wait()
    assert code == 0, out
    assert " passed" in out and "skipped" not in out and "failed" not in out, out
    # Released at the end (the fixture does it), acquired again for the next test.
    farm.release()
    assert farm.acquired_by() == ""
    farm.acquire()


def test_coordinator_unreachable(farm):
    from harness.labgrid.farm import free_port
    nowhere = "127.0.0.1:%d" % free_port()
    started = time.monotonic()
    code, out = Run(farm, ["tests/guest/test_guest_firmware.py", "-k", "exit_status"],
                    coordinator=nowhere).wait(60)
    assert code != 0, out
    assert "labgrid coordinator %s unreachable" % nowhere in out, out
    assert "Traceback" not in out, out
    assert time.monotonic() - started < 30


def test_place_acquired_by_someone_else(farm):
    from harness.labgrid.farm import FarmError
    other = dict(os.environ, LG_USERNAME="someone-else")
    farm.release()
    farm.acquire(env=other)
    try:
        assert farm.acquired_by().endswith("/someone-else")
        with pytest.raises(FarmError, match="already acquired by .*/someone-else"):
            farm.acquire()
        code, out = Run(farm, ["tests/guest/test_guest_firmware.py", "-k", "exit_status"]).wait(60)
        assert code != 0, out
        assert "not acquired by your user, acquired by someone-else" in out, out
    finally:
        farm.release(kick=True)
        farm.acquire()


BUSY_TEST = '''
def test_console_while_the_exporter_vanishes(guest):
    open(%r, "w").close()
    # Busy for far longer than the test waits: only a lost console ends it early.
    guest.fw.run("dd if=/dev/zero of=/dev/null bs=1048576 count=100000", timeout=90)
'''


def test_exporter_vanishing_mid_test(farm):
    mark = os.path.join(farm.workdir, "busy")
    test_file = os.path.join(farm.workdir, "test_busy.py")
    with open(test_file, "w") as f:
        f.write(BUSY_TEST % mark)
    run = Run(farm, [test_file], rootless=True)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(mark):
            assert run.proc.poll() is None, run.proc.communicate()[0]
            assert time.monotonic() < deadline, "the inner test never started"
            time.sleep(0.1)
        time.sleep(1)  # the dd is under way
        exporter = farm.programs["labgrid-exporter"].proc.pid
        farm.kill("labgrid-exporter")
        killed = time.monotonic()
        code, out = run.wait(60)
        assert time.monotonic() - killed < 20, "the lost console took too long to notice"
        assert code != 0, out
        assert "console rfc2217://127.0.0.1:" in out and "lost" in out, out
        assert "exporter or its ser2net gone" in out, out
        assert not _group_alive(exporter), "ser2net outlived its exporter"
    finally:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
            run.proc.wait()
        if "labgrid-exporter" not in farm.programs:
            farm.start_exporter()
        farm.release(kick=True)
        farm.acquire()
