"""Smoke test of the labgrid path: labgrid's QEMUDriver boots the guest, DmfwStrategy
brings up the shell, DmfwShellDriver runs dmsetup (what a board run does over UART)."""
import hashlib

import pytest

from harness.disks import pattern_bytes, pattern_disk

pytestmark = [pytest.mark.guest, pytest.mark.qemu_only]


@pytest.fixture
def lg_target(tmp_path):
    from labgrid import Environment
    from harness.labgrid.qemu_env import environment, write_initrd
    disk = pattern_disk(str(tmp_path / "lg.img"), 1 << 20, tag="lg")
    initrd = str(tmp_path / "initrd.cpio")
    kernel = write_initrd(initrd)
    env_file = tmp_path / "qemu.yaml"
    env_file.write_text(environment(kernel, initrd, [disk]))
    target = Environment(str(env_file)).get_target("main")
    try:
        yield target
    finally:
        target.cleanup()


def test_labgrid_qemu_smoke(lg_target):
    from labgrid.driver.exception import ExecutionError
    lg_target.get_driver("DmfwStrategy").transition("shell")
    shell = lg_target.get_driver("DmfwShellDriver")
    assert shell.run("echo hello") == (["hello"], [], 0)
    with pytest.raises(ExecutionError):
        shell.run_check("dmsetup table nosuchdevice")
    shell.run_check("dmsetup create lg --table '0 100 linear /dev/vda 8'")
    out = shell.run_check("sha256sum /dev/mapper/lg")
    want = hashlib.sha256(bytes(pattern_bytes(1 << 20, "lg")[8 * 512:108 * 512])).hexdigest()
    assert out == ["%s  /dev/mapper/lg" % want]
    assert shell.run_check("dmsetup table") == ["lg: 0 100 linear 254:0 8"]
