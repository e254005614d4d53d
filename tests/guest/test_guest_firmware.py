"""The firmware console on its own: what also runs on a board (no qemu_only).

Where no kernel is at hand, the reference is dmfw itself on the host's CPython: the
same commands must print the same on the firmware (MicroPython) as on the host.
"""
import io

import pytest

from harness.console import ConsoleError
from sides import normalise, q

pytestmark = [pytest.mark.guest]

SCENARIOS = [
    ["dmsetup create z --table %s" % q("0 4096 zero")],
    ["dmsetup create e -u DMFW-E --table %s" % q("0 8 zero\n8 8 error\n16 100 zero")],
    ["dmsetup create r -r --table %s" % q("0 1 error"),
     "dmsetup create z --table %s" % q("0 64 zero"), "dmsetup suspend z"],
]
QUERIES = ["dmsetup ls", "dmsetup table", "dmsetup status", "dmsetup info",
           "dmsetup info -c", "sha256sum /dev/mapper/z", "blockdev --getsz /dev/mapper/z"]


def host_shell():
    from dmfw.shell import Shell
    buf = io.StringIO()
    sh = Shell(out=buf, err=buf)

    def run(cmd):
        buf.seek(0)
        buf.truncate()
        status = sh.run_line(cmd)
        return buf.getvalue(), status
    return run


@pytest.mark.parametrize("commands", SCENARIOS, ids=["zero", "zero-error-uuid", "ro-suspended"])
def test_firmware_prints_what_host_dmfw_prints(guest, commands):
    host = host_shell()
    for cmd in commands:
        assert guest.fw.run(cmd)[1] == 0, cmd
        assert host(cmd)[1] == 0, cmd
    for cmd in QUERIES:
        fw_out, fw_status = guest.fw.run(cmd)
        host_out, host_status = host(cmd)
        assert (normalise(cmd, fw_out), fw_status) == (normalise(cmd, host_out), host_status), cmd


def test_exit_status_and_errors(guest):
    assert guest.fw.run("true")[1] == 0
    assert guest.fw.run("false")[1] != 0
    out, status = guest.fw.run("nosuchcommand")
    assert status == 127 and "not found" in out
    out, status = guest.fw.run("dmsetup create x --table %s" % q("0 10 linear /dev/nosuchdisk 0"))
    assert status != 0 and "Traceback" not in out
    assert guest.fw.run("dmsetup ls")[0].strip() == "No devices found"


def test_selftest(guest):
    out, status = guest.fw.run("selftest", timeout=300)
    assert status == 0, out
    assert " 0 failed" in out


def test_interrupt_recovers_a_busy_shell(guest):
    # Zero-filling through the Python loop of dd takes far longer than the timeout.
    with pytest.raises(ConsoleError):
        guest.fw.run("dd if=/dev/zero of=/dev/null bs=1048576 count=100000", timeout=3)
    out, status = guest.fw.run("echo still here")
    assert (out, status) == ("still here\n", 0)
