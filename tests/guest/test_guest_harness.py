"""The harness itself: no orphaned QEMU after a killed parent, reboot of a dead guest."""
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.guest, pytest.mark.qemu_only]

_PARENT = r"""
import sys, time
sys.path.insert(0, %r)
from harness.guest import boot
g = boot()
print(g.proc.pid, flush=True)
time.sleep(600)
"""


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split()[2] != "Z"


def test_qemu_dies_with_a_killed_parent():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parent = subprocess.Popen([sys.executable, "-c", _PARENT % root], stdout=subprocess.PIPE, text=True)
    try:
        qemu_pid = int(parent.stdout.readline())
        assert _alive(qemu_pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while _alive(qemu_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(qemu_pid), "QEMU %d outlived its killed parent" % qemu_pid


def test_a_dead_guest_is_rebooted(guest_session):
    boots = guest_session.boots
    guest_session.qemu.command("quit")
    guest_session.reset()
    assert guest_session.boots == boots + 1
    out, status = guest_session.fw.run("echo back")
    assert (out, status) == ("back\n", 0)
    assert guest_session.linux.check("cat /sys/block/vda/size").strip() == "32768"
